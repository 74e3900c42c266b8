"""Files → documents → paragraphs → passages: chrome removed, metadata found, offsets exact, any encoding read."""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from rag.documents import UnreadableFile, parse_documents, read_file, split_passages
from rag.text import sentence_spans

from .conftest import SEED_DOC_IDS

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = sorted(p.name for p in SEEDS.iterdir() if p.suffix == ".txt")

CHROME = [
    "当前位置", "首页>>", "【字号", "扫一扫在手机打开当前页", "来源:", "作者:", "发布于", "日期:", "版权所有",
    "ICP备", "公网安备", "地址:", "神舟十五号", "官方微博", "中国网是国务院新闻办公室", "alltech@china.org.cn",
    "供稿", "科学共同体要闻",
]

# The first and last sentence of the body of each document, copied from the seed files.
FIRST_AND_LAST = {
    "000_8167ffdbf6281ae2.txt": (
        "10月24日，科技部党组书记、部长王志刚主持召开党组会议，传达学习党的二十大精神，研究学习贯彻工作。",
        "中央纪委国家监委驻科技部纪检监察组同志、审计署科技审计局负责同志，部系统各单位党政主要负责同志列席会议。",
    ),
    "001_7d7c59e9712777a1.txt": (
        "2021年11月29日,科技部召开2021年全国科技管理系统党建工作交流座谈会,深入学习贯彻党的十九届六中全会精神、"
        "习近平总书记“七一”重要讲话精神及党史学习教育期间系列重要讲话精神,交流全国科技管理系统党的建设、"
        "党风廉政建设和反腐败工作,推动科技管理系统全面从严治党,推进党史学习教育、党建和业务深度融合。",
        "全国各省、自治区、直辖市、计划单列市、副省级城市科技厅(委、局)、新疆生产建设兵团科技局党组(党委)书记、"
        "班子成员以及机关党委、机关纪委委员,国家自创区和国家高新区发言代表在分会场以视频形式参会。",
    ),
    "002_0676de67ad7a5ad1.txt": (
        "10月25日,自治区科协召开党组扩大会议,传达学习党的二十大精神,对学习宣传贯彻工作进行安排部署。",
        "自治区科协党组成员、巡视员、各部门(单位)主要负责人参加了会议。",
    ),
    "003_97efbe3f29f870fa.txt": (
        "7月16日,中国科协召开党组理论学习中心组第六次集体学习扩大会议,深入学习领会习近平总书记在庆祝中国共产党成立100周年"
        "大会上的重要讲话精神,结合学习贯彻总书记在两院院士大会、中国科协十大上的重要讲话精神,研究贯彻落实的思路和举措。",
        "着力推动“一体两翼”科协组织党的建设,党组领导同志要深入学会调研,团结动员科学家共同谋划推动学会党建工作。",
    ),
    "003_97efbe3f29f870fa.txt#2": (
        "7月12日下午,中国科协党组书记、常务副主席、书记处第一书记怀进鹏带队在青海省西宁市调研“科创中国”试点城市建设情况。",
        "中国科协将积极发挥“科创中国”平台作用,与西宁市共同打造科技创新产业链,促进科技经济深度融合,服务青海经济社会高质量发展。",
    ),
    "004_bc3fe6a42bc7c538.txt": (
        "为深入学习宣传贯彻党的二十大精神，切实把思想统一到党的二十大精神上来，把力量凝聚到党的二十大确定的各项任务上来，"
        "按照中央部署和市委要求，结合科协实际，现就学习宣传贯彻工作提出如下实施意见。",
        "各级科协党组织学习宣传贯彻党的二十大精神和相关活动情况要及时报告市科协办公室。",
    ),
}

# A realistic paragraph (title line, blank line, body) from seed 002.
SIMPLIFIED = (
    "自治区科协召开党组扩大会议传达学习党的二十大精神\n\n"
    "10月25日，自治区科协召开党组扩大会议，传达学习党的二十大精神，对学习宣传贯彻工作进行安排部署。"
    "自治区科协党组书记、主席陈红缨主持会议，各党组成员作交流发言。\n\n"
    "会议传达学习了党的十九届七中全会精神，党的二十大报告精神，习近平总书记有关重要讲话精神，党章（修正案）、"
    "中央纪委工作报告精神，以及自治区党委传达贯彻党的二十大精神会议精神。\n\n"
    "会议强调，要紧密联系党的百年奋斗历程特别是党的十八大以来新时代十年的伟大变革，深刻领悟“两个确立”的决定性意义，"
    "加深对习近平新时代中国特色社会主义思想、马克思主义中国化时代化、中国式现代化等重大问题的认识，"
    "深刻理解党的二十大对全面建设社会主义现代化国家作出的战略部署，切实把思想和行动统一到党中央精神上来。\n"
)
# The same paragraph in traditional characters, for Big5.
TRADITIONAL = (
    "自治區科協召開黨組擴大會議傳達學習黨的二十大精神\n\n"
    "10月25日，自治區科協召開黨組擴大會議，傳達學習黨的二十大精神，對學習宣傳貫徹工作進行安排部署。"
    "自治區科協黨組書記、主席陳紅纓主持會議，各黨組成員作交流發言。\n\n"
    "會議傳達學習了黨的十九屆七中全會精神，黨的二十大報告精神，習近平總書記有關重要講話精神，黨章（修正案）、"
    "中央紀委工作報告精神，以及自治區黨委傳達貫徹黨的二十大精神會議精神。\n\n"
    "會議強調，要緊密聯繫黨的百年奮鬥歷程特別是黨的十八大以來新時代十年的偉大變革，深刻領悟「兩個確立」的決定性意義，"
    "加深對習近平新時代中國特色社會主義思想、馬克思主義中國化時代化、中國式現代化等重大問題的認識，"
    "深刻理解黨的二十大對全面建設社會主義現代化國家作出的戰略部署，切實把思想和行動統一到黨中央精神上來。\n"
)


def _parse_file(path: Path):
    text, pages = read_file(path)
    return parse_documents(text, path.name, pages)


@pytest.fixture(scope="module")
def seed_documents():
    """doc_id → Document for every seed file."""
    documents = {}
    for name in SEED_FILES:
        for document in _parse_file(SEEDS / name):
            documents[document.doc_id] = document
    return documents


@pytest.fixture(scope="module")
def seed_passages(seed_documents):
    """doc_id → passages (300 chars at most, as the index makes them)."""
    return {doc_id: split_passages(d, 300) for doc_id, d in seed_documents.items()}


# ---------------------------------------------------------------- chrome


@pytest.mark.parametrize("chrome", CHROME)
def test_page_chrome_never_reaches_a_document_or_passage(seed_documents, seed_passages, chrome):
    for doc_id, document in seed_documents.items():
        assert chrome not in document.text, f"{chrome!r} left in the text of {doc_id}"
        assert chrome not in document.title, f"{chrome!r} in the title of {doc_id}"
        for passage in seed_passages[doc_id]:
            assert chrome not in passage.text
            assert chrome not in passage.context


def test_closing_source_and_date_line_is_metadata_not_text(seed_documents):
    for doc_id in ("003_97efbe3f29f870fa.txt", "003_97efbe3f29f870fa.txt#2"):
        text = seed_documents[doc_id].text
        assert "[2021-07-" not in text
        assert "调研宣传部[" not in text and "青海省科协 [" not in text


# ---------------------------------------------------------------- content kept whole


@pytest.mark.parametrize("doc_id", sorted(FIRST_AND_LAST))
def test_first_and_last_content_sentence_are_kept_whole(seed_documents, doc_id):
    first, last = FIRST_AND_LAST[doc_id]
    text = seed_documents[doc_id].text
    assert first in text
    assert last in text
    assert text.rstrip().endswith(last), f"{doc_id} ends with {text[-60:]!r}"


# ---------------------------------------------------------------- documents and metadata


def test_five_seed_files_make_six_documents(seed_documents):
    assert set(seed_documents) == SEED_DOC_IDS and len(seed_documents) == 6


def test_second_article_in_a_file_is_its_own_document(seed_documents):
    first = seed_documents["003_97efbe3f29f870fa.txt"]
    second = seed_documents["003_97efbe3f29f870fa.txt#2"]
    assert first.source == second.source == "003_97efbe3f29f870fa.txt"
    assert "怀进鹏带队在青海省西宁市调研" not in first.text
    assert "怀进鹏带队在青海省西宁市调研" in second.text
    assert "中国科协召开党组理论学习中心组第六次集体学习扩大会议" not in second.text


def test_a_document_without_a_title_line_takes_its_title_from_the_first_sentence(seed_documents):
    document = seed_documents["000_8167ffdbf6281ae2.txt"]
    first_sentence = FIRST_AND_LAST["000_8167ffdbf6281ae2.txt"][0]
    assert document.title
    assert "王志刚主持召开党组会议" in document.title
    assert document.title.replace("，", "") in first_sentence.replace("，", "")
    assert not document.title.startswith("10月24日")
    assert len(document.title) <= 60
    assert document.date is None


@pytest.mark.parametrize(
    "doc_id, title, date, org",
    [
        ("001_7d7c59e9712777a1.txt", "科技部召开2021年全国科技管理系统党建工作交流座谈会", "2021-12-06", None),
        ("002_0676de67ad7a5ad1.txt", "自治区科协召开党组扩大会议传达学习党的二十大精神", "2022-10-27", "宁夏科协"),
        ("003_97efbe3f29f870fa.txt", "中国科协党组理论学习中心组专题学习 习近平总书记“七一”重要讲话精神", "2021-07-17", "中国科协机关党委、调研宣传部"),
        ("003_97efbe3f29f870fa.txt#2", "怀进鹏在西宁市调研“科创中国”试点城市建设情况", "2021-07-19", "青海省科协"),
    ],
)
def test_title_date_and_source_organisation_are_read_from_the_page(seed_documents, doc_id, title, date, org):
    document = seed_documents[doc_id]
    assert document.title == title
    assert document.date == date
    if org is not None:
        assert document.org == org


def test_official_notice_title_is_joined_from_its_lines_and_keeps_its_document_number(seed_documents):
    document = seed_documents["004_bc3fe6a42bc7c538.txt"]
    assert document.title == "中共重庆市科学技术协会党组关于认真学习宣传贯彻党的二十大精神的实施意见"
    assert document.doc_number == "渝科协党组发〔2022〕35号"
    assert document.date is None  # no date is stated: none is guessed


# ---------------------------------------------------------------- paragraphs


def _paragraph_texts(document):
    return [document.text[s:e] for s, e in document.paragraphs]


def test_full_width_indents_split_a_one_line_file_into_paragraphs(seed_documents):
    paragraphs = _paragraph_texts(seed_documents["000_8167ffdbf6281ae2.txt"])
    assert len(paragraphs) == 6
    assert paragraphs[0].startswith("10月24日")
    assert paragraphs[1].startswith("会议指出")
    assert paragraphs[2].startswith("会议强调")
    assert paragraphs[3].startswith("王志刚指出")
    assert paragraphs[4].startswith("王志刚强调")
    assert paragraphs[5].startswith("中央纪委国家监委")
    assert not any("\u3000" in p for p in paragraphs)


@pytest.mark.parametrize(
    "doc_id, before, after",
    [
        ("003_97efbe3f29f870fa.txt", "作为做好科技界政治引领的", "鲜活教科书，"),
        ("003_97efbe3f29f870fa.txt#2", "集中优势形成产业集群。充分", "发挥产业集聚的功能效应"),
    ],
)
def test_a_line_broken_mid_sentence_is_joined_into_one_paragraph(seed_documents, doc_id, before, after):
    before, after = before.replace("，", ","), after.replace("，", ",")  # 003 uses ASCII commas
    paragraphs = _paragraph_texts(seed_documents[doc_id])
    joined = [p for p in paragraphs if before + after in p]
    assert len(joined) == 1, f"{before}|{after} not found joined in one paragraph"


def test_paragraphs_are_exact_slices_separated_by_blank_lines(seed_documents):
    for document in seed_documents.values():
        previous_end = None
        for start, end in document.paragraphs:
            paragraph = document.text[start:end]
            assert paragraph == paragraph.strip() and paragraph
            assert "\n" not in paragraph
            if previous_end is not None:
                assert document.text[previous_end:start].strip() == ""
            previous_end = end


# ---------------------------------------------------------------- passages


def test_every_passage_is_an_exact_slice_of_its_document(seed_documents, seed_passages):
    count = 0
    for doc_id, document in seed_documents.items():
        for passage in seed_passages[doc_id]:
            assert passage.doc_id == doc_id
            assert document.text[passage.start : passage.end] == passage.text
            s, e = document.paragraphs[passage.paragraph - 1]
            assert s <= passage.start < passage.end <= e
            count += 1
    assert count > 50


def test_long_paragraphs_are_split_at_sentence_ends_into_short_passages(seed_documents, seed_passages):
    split_any = False
    for doc_id, document in seed_documents.items():
        by_paragraph: dict[int, list] = {}
        for passage in seed_passages[doc_id]:
            by_paragraph.setdefault(passage.paragraph, []).append(passage)
        for number, passages in by_paragraph.items():
            start, end = document.paragraphs[number - 1]
            # the passages cover the paragraph, in order, without overlap and without losing a character
            assert passages[0].start == start and passages[-1].end == end
            for a, b in zip(passages, passages[1:]):
                assert a.end <= b.start and document.text[a.end : b.start].strip() == ""
            if end - start > 300:
                assert len(passages) > 1
                split_any = True
            for passage in passages:
                sentences = sentence_spans(passage.text)
                assert len(passage.text) <= 300 or len(sentences) == 1, f"{doc_id} ¶{number}: {len(passage.text)} chars"
                if len(passages) > 1:
                    assert passage.text[-1] in "。！？；!?;…”’」』）)", f"{doc_id} ¶{number} cut mid-sentence: {passage.text[-20:]!r}"
    assert split_any


def test_paragraph_of_1225_chars_becomes_several_passages(seed_documents, seed_passages):
    document = seed_documents["002_0676de67ad7a5ad1.txt"]
    long = [i for i, (s, e) in enumerate(document.paragraphs, start=1) if e - s > 1000]
    assert len(long) == 1
    passages = [p for p in seed_passages[document.doc_id] if p.paragraph == long[0]]
    assert len(passages) >= 5
    assert all(len(p.text) <= 300 for p in passages)
    assert passages[0].text.startswith("会议要求,全区科协系统要把学习宣传贯彻党的二十大精神")


def test_one_sentence_longer_than_the_limit_stays_whole():
    sentence = "会议要求" + "、".join(f"第{i}项重点工作扎实推进" for i in range(60)) + "。"
    assert len(sentence) > 300
    text = f"标题一行\n\n{sentence}短句在后。\n"
    (document,) = parse_documents(text, "long.txt")
    passages = split_passages(document, 300)
    assert document.title == "标题一行"
    assert [p.text for p in passages if p.paragraph == 2] == [sentence, "短句在后。"]


def test_a_lone_heading_is_context_of_the_passages_under_it_not_their_text(seed_documents, seed_passages):
    heading = "一、充分认识学习宣传贯彻党的二十大精神的重大意义"
    passages = seed_passages["004_bc3fe6a42bc7c538.txt"]
    under = [p for p in passages if p.text.startswith("中国共产党第二十次全国代表大会于10月16日至22日在北京举行")]
    assert under
    for passage in under:
        assert heading in passage.context
        assert heading not in passage.text
    # the next section's passages sit under the next heading, not this one
    later = [p for p in passages if p.text.startswith("学习领会党的二十大精神，必须坚持全面准确")]
    assert later and all(heading not in p.context and "二、全面准确学习领会党的二十大精神" in p.context for p in later)


def test_passage_context_names_the_document(seed_passages, seed_documents):
    for doc_id, passages in seed_passages.items():
        for passage in passages:
            assert seed_documents[doc_id].title in passage.context


# ---------------------------------------------------------------- encodings and line endings


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


ENCODINGS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-bom": lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"),
    "utf-16-bom": lambda t: t.encode("utf-16"),
    "utf-16-be-bom": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "utf-16-le-no-bom": lambda t: t.encode("utf-16-le"),
    "gb18030": lambda t: t.encode("gb18030"),
    "gbk": lambda t: t.encode("gbk"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_the_same_simplified_text_reads_the_same_in_every_encoding(tmp_path, encoding):
    path = _write(tmp_path, f"notice-{encoding}.txt", ENCODINGS[encoding](SIMPLIFIED))
    text, pages = read_file(path)
    assert text == SIMPLIFIED
    assert pages is None


def test_traditional_text_in_big5_reads_the_same(tmp_path):
    path = _write(tmp_path, "notice-big5.txt", TRADITIONAL.encode("big5"))
    text, _ = read_file(path)
    assert text == TRADITIONAL


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_documents_parsed_from_any_encoding_are_identical(tmp_path, encoding):
    reference = parse_documents(SIMPLIFIED, "notice.txt")
    path = _write(tmp_path, "notice.txt", ENCODINGS[encoding](SIMPLIFIED))
    text, pages = read_file(path)
    assert parse_documents(text, "notice.txt", pages) == reference
    assert reference[0].title == "自治区科协召开党组扩大会议传达学习党的二十大精神"


def test_a_short_gbk_file_is_not_mistaken_for_another_encoding(tmp_path):
    short = "会议由陈红缨主持。"
    path = _write(tmp_path, "short.txt", short.encode("gbk"))
    text, _ = read_file(path)
    assert text == short


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("会议由陈红缨主持。", "gbk"),
        ("會議由陳紅纓主持。", "big5"),
        ("发展格局中发挥了关键作用", "gb18030"),
        ("國之大者，聚焦四個面向", "big5"),
    ],
)
def test_a_short_chinese_file_is_read_in_its_own_encoding(tmp_path, text, encoding):
    path = _write(tmp_path, "short.txt", text.encode(encoding))
    assert read_file(path)[0] == text


def test_a_japanese_shift_jis_file_is_not_read_as_chinese(tmp_path):
    text = "日本語のテキストです。東京都渋谷区で会議が開かれました。" * 5
    path = _write(tmp_path, "japanese.txt", text.encode("shift_jis"))
    assert read_file(path)[0] == text


def test_a_utf8_file_cut_mid_character_keeps_its_text(tmp_path):
    data = (SEEDS / "002_0676de67ad7a5ad1.txt").read_bytes()
    cut = next(n for n in range(1000, 1010) if (data[n] & 0xC0) == 0x80)  # inside a multi-byte character
    text, _ = read_file(_write(tmp_path, "cut.txt", data[:cut]))
    assert text == data[:cut].decode("utf-8", errors="ignore")
    (document,) = parse_documents(text, "cut.txt")
    assert document.title == "自治区科协召开党组扩大会议传达学习党的二十大精神"


def test_one_stray_byte_in_a_utf8_file_does_not_lose_the_file(tmp_path):
    data = (SEEDS / "002_0676de67ad7a5ad1.txt").read_bytes()
    at = data.index("陈红缨".encode("utf-8"))
    text, _ = read_file(_write(tmp_path, "stray.txt", data[:at] + b"\xff" + data[at:]))
    assert "\ufffd陈红缨主持会议" in text
    assert "自治区科协党组成员、巡视员、各部门(单位)主要负责人参加了会议。" in text


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(3000)


BINARIES = {
    "random": lambda: random.Random(7).randbytes(4096),
    "png": _png,
    "gzip": lambda: gzip.compress(SIMPLIFIED.encode("utf-8") * 20, mtime=0),
    "zeros": lambda: b"\x00" * 2048,
    "elf": lambda: b"\x7fELF\x02\x01\x01" + random.Random(3).randbytes(3000),
}


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_a_binary_file_named_txt_is_refused_with_a_reason(tmp_path, kind):
    path = _write(tmp_path, f"{kind}.txt", BINARIES[kind]())
    with pytest.raises(UnreadableFile) as caught:
        read_file(path)
    assert str(caught.value)


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(UnreadableFile, match="empty"):
        read_file(_write(tmp_path, "empty.txt", b""))


@pytest.mark.parametrize("newline", ["\r\n", "\r", "mixed"])
def test_windows_mac_and_mixed_line_endings_give_the_same_paragraphs(tmp_path, newline):
    reference = parse_documents(SIMPLIFIED, "notice.txt")
    if newline == "mixed":
        lines = SIMPLIFIED.split("\n")
        endings = ["\r\n", "\r", "\n"]
        text = "".join(line + endings[i % 3] for i, line in enumerate(lines[:-1])) + lines[-1]
    else:
        text = SIMPLIFIED.replace("\n", newline)
    path = _write(tmp_path, "notice.txt", text.encode("utf-8"))
    read, pages = read_file(path)
    documents = parse_documents(read, "notice.txt", pages)
    assert [d.text for d in documents] == [d.text for d in reference]
    assert [d.paragraphs for d in documents] == [d.paragraphs for d in reference]
    assert len(reference[0].paragraphs) == 4


def test_seed_files_read_with_crlf_line_endings_give_the_same_documents(tmp_path):
    for name in SEED_FILES:
        data = (SEEDS / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        path = _write(tmp_path, name, data)
        assert _parse_file(path) == _parse_file(SEEDS / name)


# ---------------------------------------------------------------- notices, labels, other formats


NOTICE = (
    "关于召开2023年学术年会的通知\n"
    "发布时间：2023-04-20\n\n"
    "各学会：\n"
    "经研究，定于5月召开2023年学术年会，现将有关事项通知如下。\n"
    "时间：2023年5月10日上午9时\n"
    "地址：银川市金凤区科技馆三楼报告厅\n"
    "请各学会准时参加。\n\n"
    "版权所有：某市科学技术协会\n"
    "地址：某市某路1号\n"
    "电话：0951-1234567\n"
)


def test_a_notices_meeting_time_and_place_are_content_while_the_footer_contacts_are_chrome():
    (document,) = parse_documents(NOTICE, "notice.txt")
    assert document.title == "关于召开2023年学术年会的通知"
    assert document.date == "2023-04-20"
    assert "时间：2023年5月10日上午9时" in document.text
    assert "地址：银川市金凤区科技馆三楼报告厅" in document.text
    assert document.text.rstrip().endswith("请各学会准时参加。")
    assert "某市某路1号" not in document.text and "0951-1234567" not in document.text
    assert "发布时间" not in document.text


def test_a_labelled_title_line_gives_the_title_without_its_label():
    text = "当前位置：首页 > 新闻\n标题：某市科协召开年会\n发布日期：2022-03-04  浏览次数：123\n3月3日，某市科协召开年会。\n打印本页 关闭窗口\n"
    (document,) = parse_documents(text, "page.txt")
    assert document.title == "某市科协召开年会"
    assert document.date == "2022-03-04"
    assert document.text == "3月3日，某市科协召开年会。"


HTML = (
    "<html><head><meta charset='utf-8'><title>某市科协召开年会</title><script>var x = '首页';</script></head><body>"
    "<nav>首页 &gt; 新闻 &gt; 要闻</nav>"
    "<article><h1>某市科协召开年会</h1>"
    "<p>3月3日，某市科协召开年会，会议由主席张三主持。会议强调要加强科普工作，推动科技创新&amp;成果转化。</p>"
    "<p>会议还部署了下一阶段的重点任务，要求各学会抓好落实。</p></article>"
    "<footer>版权所有 某市科协 ICP备12345678号</footer></body></html>"
)


def _check_html_document(documents):
    (document,) = documents
    assert document.title == "某市科协召开年会"
    assert "会议由主席张三主持。" in document.text
    assert "推动科技创新&成果转化。" in document.text
    assert "会议还部署了下一阶段的重点任务，要求各学会抓好落实。" in document.text
    for chrome in ("版权所有", "ICP备", "var x", "要闻"):
        assert chrome not in document.text


def test_an_html_page_gives_its_article_text(tmp_path):
    path = _write(tmp_path, "page.html", HTML.encode("utf-8"))
    _check_html_document(_parse_file(path))


def test_an_html_page_is_read_even_without_trafilatura(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "trafilatura", None)  # import fails, as with a broken lxml install
    path = _write(tmp_path, "page.html", HTML.encode("utf-8"))
    _check_html_document(_parse_file(path))


def test_a_docx_file_gives_its_paragraphs(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("某市科协年会纪要")
    document.add_paragraph("5月5日，某市科协召开年会。会议由主席张三主持。")
    document.add_paragraph("会议指出，要加强科普工作。")
    document.save(tmp_path / "minutes.docx")
    (parsed,) = _parse_file(tmp_path / "minutes.docx")
    assert parsed.title == "某市科协年会纪要"
    assert [parsed.text[s:e] for s, e in parsed.paragraphs][1:] == ["5月5日，某市科协召开年会。会议由主席张三主持。", "会议指出，要加强科普工作。"]


def test_a_corrupt_docx_or_pdf_is_refused_with_a_reason(tmp_path):
    for name in ("broken.docx", "broken.pdf"):
        with pytest.raises(UnreadableFile):
            read_file(_write(tmp_path, name, b"PK\x03\x04 not really a zip" * 10))


# ---------------------------------------------------------------- hard-wrapped text

def test_a_chinese_line_wrapped_mid_sentence_is_joined_with_the_next_so_the_name_stays_in_the_sentence():
    text = ("甘肃省科协召开党组会议\n来源:甘肃科协  发布于:2023-05-11\n"
            "2023年5月10日，甘肃省科协召开党组会议，会议由党组书记、\n主席张晓明主持，传达学习全会精神。\n会议强调，要深入学习。\n")
    document = parse_documents(text, "wrapped.txt")[0]
    paragraphs = [document.text[a:b] for a, b in document.paragraphs]
    assert "2023年5月10日，甘肃省科协召开党组会议，会议由党组书记、主席张晓明主持，传达学习全会精神。" in paragraphs
    assert paragraphs[0] == "甘肃省科协召开党组会议", "a title line is not glued to the body"


def test_an_english_line_wrapped_mid_sentence_is_joined_with_a_space():
    text = ("Annual report\nOn 10 May 2023 the provincial science association held a Party group meeting, which was chaired\n"
            "by Zhang Xiaoming, its chairman.\n")
    document = parse_documents(text, "wrapped-en.txt")[0]
    assert "which was chaired by Zhang Xiaoming, its chairman." in document.text


def test_a_pdf_title_with_its_date_header_glued_on_is_read_as_title_and_date():
    # pypdf leaves a title and the date line under it on one line when they share a baseline
    text = "Annual Report on Science PopularisationDate: 5 November 2020\n\nThe report was published by the association. It covers 2019."
    document = parse_documents(text, "report.pdf", pages=[1, 1, 1])[0]
    assert document.title == "Annual Report on Science Popularisation"
    assert document.date == "2020-11-05"
    assert "Date:" not in document.text
    chinese = parse_documents("科普工作年度报告发布日期：2020年11月5日\n本报告由协会发布。内容涵盖2019年。", "报告.pdf", pages=[1, 1])[0]
    assert (chinese.title, chinese.date) == ("科普工作年度报告", "2020-11-05")


def test_english_date_published_and_source_headers_give_the_documents_date_and_organisation():
    for header, date in (("Date: 2020-11-05", "2020-11-05"), ("Published: November 5, 2020", "2020-11-05"),
                         ("Published on: 12 March 2023", "2023-03-12"), ("Posted: Sept. 3, 2021", "2021-09-03")):
        document = parse_documents(f"Acme Annual Report\n{header}\nSource: Acme Corporation\n\nThe company employs 1,234 people.", "acme.txt")[0]
        assert (document.title, document.date, document.org) == ("Acme Annual Report", date, "Acme Corporation"), header
        assert "Published" not in document.text and "Source:" not in document.text


def test_a_date_line_inside_a_notice_stays_content_and_is_not_cut_from_its_sentence():
    document = parse_documents("会议通知\n各单位：\n会议日期：2022年10月24日，地点在北京。\n请准时参加。", "通知.txt")[0]
    assert "会议日期：2022年10月24日，地点在北京。" in document.text
    english = parse_documents("Notice\n\nThe board met in March. Date: the meeting is on 5 May 2022.", "n.txt")[0]
    assert "Date: the meeting is on 5 May 2022." in english.text
