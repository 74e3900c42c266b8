"""Properties over arbitrary input: the reader never fails but with UnreadableFile, offsets are exact, ask never raises."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings, strategies as st

from rag.documents import UnreadableFile, decode_bytes, parse_documents, split_passages
from .contract import assert_contract

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# Pieces of real documents and of their chrome, so that generated text exercises the rules, not only noise.
FRAGMENTS = [
    "科技部党组会议", "10月24日，", "王志刚主持召开党组会议。", "传达学习党的二十大精神", "宁夏科协", "陈红缨", "？", "。", "，",
    "## 第二篇文章", "# ", "来源: 宁夏科协  作者:科协办公室 发布于:2022-10-27", "日期: 2021年12月06日", "当前位置: 首页 > 新闻",
    "【字号:", "版权所有", "渝科协党组发〔2022〕35号", "一、总体要求", "（一）", "\u3000\u3000", "\xa0", "“三个务必”", "……",
    "中国科协[2021-07-17]", "\r\n", "\r", "\n", "\n\n", " ", "\t", "\ufeff", "\x00", "\ud800", "😀", "<script>alert(1)</script>",
]
_pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12), st.characters(codec=None))
document_like = st.lists(_pieces, max_size=60).map("".join)
questions = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS[:8] + ["由谁", "哪天", "多少", "哪些", "吗", "what", "who"]), max_size=8).map("".join),
    st.text(st.characters(codec=None, categories=["Cc", "Cs", "Co", "So", "Zs"]), max_size=40),  # control, surrogates, emoji
)

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SOME
@given(st.binary(max_size=3000))
@example(b"\xff\xfe")
@example(b"\xef\xbb\xbf")
@example(b"\xfe\xff\x00")
@example("科技部".encode("utf-16-le")[:-1])
def test_decoding_arbitrary_bytes_gives_text_or_unreadable_file(data):
    try:
        text = decode_bytes(data)
    except UnreadableFile as reason:
        assert str(reason)
        return
    assert isinstance(text, str)


@SOME
@given(st.text(max_size=400), st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "utf-16-le", "big5"]))
def test_decoding_text_in_any_supported_encoding_never_fails_but_with_unreadable_file(text, codec):
    data = text.encode(codec, errors="ignore")
    try:
        decoded = decode_bytes(data)
    except UnreadableFile:
        return
    assert isinstance(decoded, str)


@SOME
@given(document_like, st.integers(min_value=20, max_value=400))
@example("标题\n\n" + "很长的句子没有标点" * 80, 50)
def test_parsed_documents_and_their_passages_have_exact_offsets(text, max_chars):
    documents = parse_documents(text, "doc.txt")
    doc_ids = [d.doc_id for d in documents]
    assert len(doc_ids) == len(set(doc_ids))
    for document in documents:
        assert document.paragraphs
        previous_end = 0
        for start, end in document.paragraphs:
            assert previous_end <= start < end <= len(document.text)
            assert document.text[start:end].strip()
            previous_end = end
        passages = split_passages(document, max_chars, first_id=7)
        assert [p.id for p in passages] == list(range(7, 7 + len(passages)))
        for passage in passages:
            assert document.text[passage.start:passage.end] == passage.text
            p_start, p_end = document.paragraphs[passage.paragraph - 1]
            assert p_start <= passage.start < passage.end <= p_end


@SOME
@given(st.lists(st.text(max_size=30), max_size=30), st.lists(st.one_of(st.none(), st.integers(1, 9)), max_size=30))
def test_parsing_with_any_page_numbers_never_raises(lines, pages):
    text = "\n".join(lines)
    for document in parse_documents(text, "scan.pdf", pages):
        assert not document.pages or len(document.pages) == len(document.paragraphs)


@FEW
@given(questions)
@example("")
@example("\ud800\udfff?")
@example("谁" * 5000)
def test_ask_on_any_text_never_raises_and_every_citation_is_exact(pipeline, question):
    assert_contract(pipeline, pipeline.ask(question))
