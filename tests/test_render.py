"""What a reply, a source list and the document viewer show: pure functions of a Response and the documents."""
from __future__ import annotations

import html
from dataclasses import replace
import re

import pytest

from rag.render import (
    NOT_FOUND,
    citation_key,
    document_rows,
    parse_citation_key,
    progress_text,
    render_document,
    render_question,
    render_reply,
    render_status,
)
from rag.schema import Answer, Citation, Document, Hit, Passage, Response

TITLE = "自治区科协召开党组扩大会议传达学习党的二十大精神"
SOURCE = "002_0676de67ad7a5ad1.txt"
PARAGRAPHS = [
    TITLE,
    "10月25日,自治区科协召开党组扩大会议,传达学习党的二十大精神。自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。",
    "会议要求,全区科协系统要把学习宣传贯彻党的二十大精神作为首要政治任务。",
    "自治区科协党组成员、巡视员、各部门(单位)主要负责人参加了会议。",
]


def make_document(paragraphs: list[str], doc_id: str = SOURCE, title: str = TITLE, date: str | None = "2022-10-27") -> Document:
    text = "\n\n".join(paragraphs)
    spans, cursor = [], 0
    for p in paragraphs:
        spans.append((cursor, cursor + len(p)))
        cursor += len(p) + 2
    return Document(doc_id, doc_id, title, date, "宁夏科协", None, text, tuple(spans))


def answer_for(document: Document, sentence: str, short: str | None = None, score: float = 0.9) -> Answer:
    start = document.text.index(sentence)
    end = start + len(sentence)
    paragraph = next(i for i, (s, e) in enumerate(document.paragraphs, start=1) if s <= start < e)
    citation = Citation(document.doc_id, document.title, document.source, document.date, paragraph, start, end)
    assert document.text[start:end] == sentence
    return Answer(sentence, short, score, citation)


def hit_for(document: Document, paragraph: int, score: float = 0.03) -> Hit:
    s, e = document.paragraphs[paragraph - 1]
    return Hit(Passage(paragraph, document.doc_id, paragraph, s, e, document.text[s:e]), score)


@pytest.fixture()
def document():
    return make_document(PARAGRAPHS)


@pytest.fixture()
def answered(document):
    answers = [
        answer_for(document, "自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。", short="陈红缨", score=1.53),
        answer_for(document, "会议要求,全区科协系统要把学习宣传贯彻党的二十大精神作为首要政治任务。", score=1.25),
        answer_for(document, "自治区科协党组成员、巡视员、各部门(单位)主要负责人参加了会议。", score=1.1),
    ]
    question = "宁夏科协党组扩大会议由谁主持？"
    return Response(question, True, answers, [hit_for(document, 2)], 12.0, {document.doc_id: (document.title, document.source)})


def visible_text(fragment: str) -> str:
    """Roughly what a reader sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_short_answer_is_bold_above_the_quoted_sentence(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    assert '<p class="rag-short"><strong>陈红缨</strong></p>' in reply
    quote = re.search(r'<blockquote class="rag-quote">(.*?)</blockquote>', reply).group(1)
    assert visible_text(quote).startswith("自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。")
    assert "<strong>陈红缨</strong>" in quote  # the short answer is bold inside its sentence too
    assert reply.index("rag-short") < reply.index("rag-quote") < reply.index("rag-sources")


def test_each_answer_has_a_numbered_marker_and_a_numbered_source(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    quotes = re.findall(r'<blockquote class="rag-quote">(.*?)</blockquote>', reply)
    assert [re.findall(r">\[(\d)\]</a>", q) for q in quotes] == [["1"], ["2"], ["3"]]
    sources = re.findall(r'<li class="rag-source">(.*?)</li>', reply)
    assert [re.search(r">\[(\d)\]</a>", s).group(1) for s in sources] == ["1", "2", "3"]


def test_sources_are_collapsible_and_name_title_date_file_and_paragraph(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    details = re.search(r"<details class=\"rag-sources\"><summary>(.*?)</summary>(.*?)</details>", reply)
    assert details, reply
    assert visible_text(details.group(1)) == "来源 / Sources (3)"
    first = visible_text(re.findall(r'<span class="rag-source-head">(.*?)</span><p', details.group(2))[0])
    assert first == f"{TITLE} · 2022-10-27 · {SOURCE} · ¶2"


def test_the_source_passage_marks_the_quoted_sentence_inside_its_paragraph(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    passage = re.findall(r'<p class="rag-passage">(.*?)</p>', reply)[0]
    assert passage == (
        "10月25日,自治区科协召开党组扩大会议,传达学习党的二十大精神。"
        "<mark>自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。</mark>"
    )


def test_a_missing_date_says_so_and_scores_show_only_when_asked(document):
    undated = make_document(PARAGRAPHS, date=None)
    response = Response("谁主持会议？", True, [answer_for(undated, "会议要求,全区科协系统要把学习宣传贯彻党的二十大精神作为首要政治任务。", score=0.8312)], [])
    plain = visible_text(render_reply(response, {undated.doc_id: undated}))
    assert "日期不详 / no date" in plain and "score" not in plain
    assert "得分 / score 0.831" in visible_text(render_reply(response, {undated.doc_id: undated}, show_scores=True))


def test_not_found_in_chinese_says_so_and_lists_possibly_related_passages(document):
    response = Response("火星上有几个足球场？", False, [], [hit_for(document, 2), hit_for(document, 4)], 5.0,
                        {document.doc_id: (document.title, document.source)})
    reply = render_reply(response, {document.doc_id: document})
    text = visible_text(reply)
    assert "文档中没有找到答案。" in text and "The documents do not answer this" not in text
    assert "可能相关 / Possibly related" in text
    assert "[1]" in text and "[2]" in text and f"{TITLE} · 2022-10-27 · {SOURCE} · ¶4" in text
    assert "各部门(单位)主要负责人参加了会议" in text
    assert "rag-short" not in reply and "<mark>" not in reply


def test_not_found_in_english_answers_in_english(document):
    response = Response("What is the capital of France?", False, [], [hit_for(document, 3)], 5.0,
                        {document.doc_id: (document.title, document.source)})
    text = visible_text(render_reply(response, {document.doc_id: document}))
    assert "The documents do not answer this." in text
    assert NOT_FOUND["zh"] not in text
    assert "可能相关 / Possibly related" in text and "首要政治任务" in text


def test_a_traditional_chinese_question_is_answered_not_found_in_chinese():
    text = visible_text(render_reply(Response("火星上有幾個足球場？", False, [], []), {}))
    assert NOT_FOUND["zh"] in text and "可能相关" not in text  # no passages, no empty "related" heading


def test_a_notice_is_shown_and_an_empty_question_gets_no_not_found_sentence():
    reply = render_reply(Response("", False, [], [], notice="请输入问题。/ Please type a question."), {})
    text = visible_text(reply)
    assert "请输入问题。/ Please type a question." in text
    assert NOT_FOUND["zh"] not in text and NOT_FOUND["en"] not in text


EVIL_TITLE = "<script>window.__xss=1</script>测试安全文档"
EVIL_SENTENCE = '会议由李四光主持<img src=x onerror="window.__xss=2">![x](http://127.0.0.2/evil.png)。'


def test_script_image_and_markdown_in_documents_and_questions_are_shown_as_text():
    evil = make_document([EVIL_TITLE, "蓝鲸会议于2024年1月1日召开。" + EVIL_SENTENCE], doc_id="evil <b>.txt", title=EVIL_TITLE)
    question = '<img src=x onerror="window.__xss=3">蓝鲸会议由谁主持？<script>alert(1)</script>'
    response = Response(question, True, [answer_for(evil, EVIL_SENTENCE, short="李四光")], [hit_for(evil, 2)], 1.0,
                        {evil.doc_id: (evil.title, evil.source)})
    pieces = [render_reply(response, {evil.doc_id: evil}), render_question(question), render_document(evil, 2, *_span(evil, EVIL_SENTENCE))]
    for fragment in pieces:
        assert "<script" not in fragment.lower()
        assert "<img" not in fragment.lower()
        assert "<b>" not in fragment
        assert "](" not in fragment and "![" not in fragment  # no markdown image or link syntax survives
    reply_text = visible_text(pieces[0])
    assert EVIL_TITLE in reply_text and EVIL_SENTENCE in reply_text  # still readable, as text
    assert visible_text(pieces[1]) == question
    assert EVIL_TITLE in visible_text(re.search(r'<h3 class="rag-doc-title">(.*?)</h3>', pieces[2]).group(1))


def _span(document: Document, sentence: str) -> tuple[int, int]:
    start = document.text.index(sentence)
    return start, start + len(sentence)


def test_a_citation_link_names_the_exact_span_the_viewer_opens(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    href = re.search(r'<a class="rag-cite" href="([^"]+)"', reply).group(1)
    target = parse_citation_key(html.unescape(href) + "|1700000000000")  # the page adds a nonce
    c = answered.answers[0].citation
    assert (target.doc_id, target.paragraph, target.start, target.end) == (c.doc_id, c.paragraph, c.start, c.end)
    assert parse_citation_key(citation_key("a:b#2.txt", 3, 10, 20)).doc_id == "a:b#2.txt"
    for bad in ("", "x", "1:2:3:", "a:1:2:doc", "0:1:2:doc", "1:5:2:doc", None):
        assert parse_citation_key(bad) is None


def test_a_citation_to_a_document_edited_since_says_so_instead_of_marking_other_words(answered, document):
    reply = render_reply(answered, {document.doc_id: document})
    target = parse_citation_key(html.unescape(re.search(r'<a class="rag-cite" href="([^"]+)"', reply).group(1)))
    quote = answered.answers[0].text
    unchanged = render_document(document, target.paragraph, target.start, target.end, target.digest)
    assert f"<mark>{quote}</mark>" in unchanged and "has changed" not in unchanged
    added = "此前补充一句说明。"  # an edit above the quote moves it: the old offsets now hold other words
    edited = replace(document, text=added + document.text,
                     paragraphs=tuple((a + len(added), b + len(added)) for a, b in document.paragraphs))
    page = render_document(edited, target.paragraph, target.start, target.end, target.digest)
    assert "has changed since the answer was given" in page and "<mark>" not in page
    old_link = parse_citation_key(citation_key(target.doc_id, target.paragraph, target.start, target.end))
    assert old_link.digest is None and old_link.doc_id == document.doc_id  # links made before digests still open


def test_the_viewer_numbers_paragraphs_and_highlights_the_cited_sentence(document):
    sentence = "自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。"
    page = render_document(document, 2, *_span(document, sentence))
    assert visible_text(re.search(r'<h3 class="rag-doc-title">(.*?)</h3>', page).group(1)) == TITLE
    numbers = re.findall(r'<span class="rag-pnum">¶(\d+)</span>', page)
    assert numbers == ["1", "2", "3", "4"]
    current = re.findall(r'<div class="rag-para rag-current" id="rag-p-(\d+)">(.*?)</div>', page)
    assert [n for n, _ in current] == ["2"]
    assert f"<mark>{sentence}</mark>" in current[0][1]
    assert page.count("<mark>") == 1
    assert "rag-current" not in render_document(document) and "<mark>" not in render_document(document)
    assert "no longer in the index" in render_document(None)


def test_the_upload_bar_counts_passages_embedded_and_says_the_time_left():
    assert progress_text(0, 900, 0.0) == "嵌入段落 0/900 / Embedding passages 0/900"
    assert progress_text(300, 900, 60.0).endswith("300/900 · about 2 min left")  # a minute for a third: two more
    assert "约剩 2 分钟" in progress_text(300, 900, 60.0)
    assert progress_text(850, 900, 85.0).endswith("about 5 s left")
    assert progress_text(900, 900, 90.0).endswith("finishing")


def test_document_table_rows_and_index_status(document):
    second = make_document(["第二篇", "第二篇的正文。"], doc_id=f"{SOURCE}#2", title="第二篇", date=None)
    rows = document_rows({second.doc_id: second, document.doc_id: document}, {document.doc_id: 4, second.doc_id: 1})
    assert rows == [[TITLE, "2022-10-27", SOURCE, 4], ["第二篇", "", f"{SOURCE}#2", 1]]
    status = visible_text(render_status({"documents": 5, "passages": 120, "embedder": "e5-small", "built_at": "2025-01-01T00:00:00+00:00",
                                         "skipped": [{"path": "<bad>.pdf", "reason": "is empty"}]}))
    for expected in ("文档 / Documents5", "段落 / Passages120", "向量模型 / Embeddere5-small", "建立于 / Built2025-01-01 00:00:00 UTC",
                     "<bad>.pdf: is empty"):
        assert expected in status


def test_the_real_answer_for_the_ningxia_question_renders_chen_hongying(pipeline):
    response = pipeline.ask("宁夏科协党组扩大会议由谁主持？")
    reply = render_reply(response, pipeline.index.store.documents)
    assert '<p class="rag-short"><strong>陈红缨</strong></p>' in reply
    head = visible_text(re.findall(r'<span class="rag-source-head">(.*?)</span><p', reply)[0])
    assert head.startswith("自治区科协召开党组扩大会议传达学习党的二十大精神 · 2022-10-27 · 002_0676de67ad7a5ad1.txt · ¶")
    marked = re.findall(r"<mark>(.*?)</mark>", reply)[0]
    assert "陈红缨" in html.unescape(marked)
