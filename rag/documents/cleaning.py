"""Text to documents: page chrome removed, header lines kept as metadata, paragraphs found, passages split.

Every rule here is general (no per-file cases): breadcrumbs, font-size widgets, header lines that become
metadata, footers, glued-on headline runs, bylines, hard-wrapped lines joined, several articles in one file
under `## ` headings. The cleaned text of a document is what is shown and cited; each passage is an exact
slice of it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..schema import Document, Passage
from ..text import sentence_spans

_BREADCRUMB = re.compile(r"^\s*(当前位置|您的位置|你的位置|您现在的位置|所在位置)\s*[:：]|^\s*首页\s*(>|》|/|»)|.+\s*>>\s*.+")
_WIDGETS = re.compile(r"【\s*字号|扫一扫在手机打开|打印本页|关闭窗口|分享到|【\s*打印|【\s*关闭")
_FOOTER = re.compile(r"版权所有|ICP\s*备|公网安备|Copyright|©|技术支持\s*[:：]", re.I)
_CONTACT = re.compile(r"^\s*(地址|电话|传真|邮编|邮箱|E-?mail)\s*[:：]", re.I)  # chrome after the last sentence, content before it
_COLUMN_LABEL = re.compile(r"^\s*[·•]\s*\S.{0,20}\s*[·•]\s*$")
_BYLINE = re.compile(r"^\s*[（(]\s*[^（()）]{1,20}?\s*(供稿|供图|撰稿|编辑|责任编辑)[^（()）]{0,10}[）)]\s*$|^\s*(责任编辑|编辑|审核)\s*[:：]")
_HEADER_FIELD = re.compile(r"(来源|作者|发布于|发布时间|发布日期|日期|时间|标题|(?i:date|published(?: on)?|posted(?: on)?|source|author|title))\s*[:：]\s*")
_ENGLISH_FIELDS = {"source": "来源", "author": "作者", "title": "标题", "date": "日期", "published": "发布于",
                   "published on": "发布于", "posted": "发布于", "posted on": "发布于"}
_PAGE_FIELDS = ("来源", "作者", "发布于", "发布时间", "发布日期")  # never body text; 日期/时间/标题 alone are, below the first sentence
# a date header glued to the title before it, as PDF text extraction leaves it: "Annual ReportDate: 2020-11-05"
_GLUED_HEADER = re.compile(r"(?<=[a-z\u4e00-\u9fff）)》])(?=(?:Date|Published|Posted|发布日期|发布时间)\s*[:：]\s*\S)")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december")
_MONTHS = {**{name: i for i, name in enumerate(_MONTH_NAMES, 1)}, **{name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)},
           "sept": 9}
_ENGLISH_DATE = re.compile(r"\b(?:(?P<d1>\d{1,2})\s+(?P<m1>[A-Za-z]{3,9})\.?,?\s+(?P<y1>\d{4})"
                           r"|(?P<m2>[A-Za-z]{3,9})\.?\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{4}))\b")
_DATE = re.compile(r"(\d{4})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})\s*日?")
_TRAILER = re.compile(r"^\s*(?P<org>[^\[\]【】]{0,40}?)\s*[\[【(（]\s*(?P<date>\d{4}-\d{1,2}-\d{1,2})\s*[\]】)）]\s*$")
_DOC_NUMBER = re.compile(r"^\s*(?P<num>[\u4e00-\u9fff]{1,12}[〔\[［(（]\d{4}[〕\]］)）]\s*\d+\s*号)\s*$")
_ARTICLE_HEADING = re.compile(r"^\s*#{1,2}\s+(?P<title>\S.*?)\s*#*\s*$")
_ENDS_SENTENCE = re.compile(r"[。！？；!?;…：:”’」』）)]\s*$")
_HAS_SENTENCE_END = re.compile(r"[。！？；!?;]")
_LIST_START = re.compile(r"^\s*([一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|\d+[.、]|第[一二三四五六七八九十\d]+[章节条部分])")
_FOOTER_SENTENCE = re.compile(r"本网|本站|版权|转载|电话\s*[:：]|传真\s*[:：]|邮箱\s*[:：]|官方微信|官方微博|ICP")
_INDENT = re.compile(r"[\u3000]{2,}|\u3000(?=\S)")


@dataclass
class _Article:
    title: str | None
    lines: list[tuple[str, int | None]]  # (line, page)


def parse_documents(text: str, source: str, pages: list[int | None] | None = None, title_hint: str | None = None) -> list[Document]:
    """The documents in one file's text: chrome removed, metadata extracted, paragraphs found."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = text.split("\n")
    line_pages = list(pages) if pages and len(pages) == len(lines) else [None] * len(lines)
    documents = []
    for number, article in enumerate(_articles(lines, line_pages), start=1):
        doc_id = source if number == 1 else f"{source}#{number}"
        document = _document(article, doc_id, source, title_hint)
        if document is not None:
            documents.append(document)
    return documents


def _articles(lines: list[str], pages: list[int | None]) -> list[_Article]:
    headings = [i for i, line in enumerate(lines) if _ARTICLE_HEADING.match(line)]
    if len(headings) < 2:
        title = _ARTICLE_HEADING.match(lines[headings[0]]).group("title") if headings else None
        body = [(line, page) for i, (line, page) in enumerate(zip(lines, pages)) if not headings or i != headings[0]]
        return [_Article(title, body)]
    articles = []
    bounds = headings + [len(lines)]
    for a, b in zip(bounds, bounds[1:]):
        title = _ARTICLE_HEADING.match(lines[a]).group("title")
        articles.append(_Article(title, list(zip(lines[a + 1 : b], pages[a + 1 : b]))))
    return articles


def _document(article: _Article, doc_id: str, source: str, title_hint: str | None) -> Document | None:
    meta: dict[str, str] = {}
    kept: list[tuple[str, int | None, bool]] = []  # (line, page, blank line before it)
    lines = _unglued_head([(raw.strip().strip("\u3000\xa0").strip(), page) for raw, page in article.lines])
    prose = [i for i, (line, _) in enumerate(lines) if _HAS_SENTENCE_END.search(line) and not _is_chrome(line) and not _CONTACT.match(line)]
    first_prose, last_prose = (prose[0], prose[-1]) if prose else (len(lines), -1)
    blank = False
    for i, (line, page) in enumerate(lines):
        if not line:
            blank = True
            continue
        in_tail = i > last_prose
        if _is_chrome(line, in_tail) or _take_header(line, meta, in_head=i < first_prose) or _take_trailer(line, meta):
            blank = True
            continue
        number = _DOC_NUMBER.match(line)
        if number and "doc_number" not in meta:
            meta["doc_number"] = number.group("num")
        kept.append((line, page, blank))
        blank = False
    title = article.title or title_hint or meta.get("title")
    if title is None:
        title, kept = _title_from_lines(kept)
    paragraphs = _paragraphs(kept)
    paragraphs = _cut_trailing_chrome(paragraphs)
    if not paragraphs:
        return None
    if article.title and (not paragraphs or paragraphs[0][0] != article.title):
        paragraphs.insert(0, (article.title, paragraphs[0][1] if paragraphs else None))
    if not title:
        title = _title_from_first_sentence(paragraphs[0][0])
    body = "\n\n".join(p for p, _ in paragraphs)
    spans, cursor = [], 0
    for p, _ in paragraphs:
        spans.append((cursor, cursor + len(p)))
        cursor += len(p) + 2
    return Document(
        doc_id=doc_id,
        source=source,
        title=title,
        date=meta.get("date"),
        org=meta.get("org"),
        doc_number=meta.get("doc_number"),
        text=body,
        paragraphs=tuple(spans),
        headings=tuple(_headings([p for p, _ in paragraphs], title)),
        pages=tuple(page for _, page in paragraphs) if any(page for _, page in paragraphs) else (),
    )


def _unglued_head(lines: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """Above the first sentence, a title with a date header glued to it (PDF text) is cut into title and header."""
    out = []
    in_head = True
    for line, page in lines:
        in_head = in_head and not _HAS_SENTENCE_END.search(line)
        pieces = _GLUED_HEADER.split(line) if in_head else [line]
        if len(pieces) == 2 and _is_title_like(pieces[0]) and _normal_date(pieces[1]):
            out += [(pieces[0].strip(), page), (pieces[1].strip(), page)]
        else:
            out.append((line, page))
    return out


def _is_chrome(line: str, in_tail: bool = False) -> bool:
    """Breadcrumbs, column labels, bylines, widgets and footers; contact lines only in the tail below the last sentence."""
    if len(line) <= 80 and (_BREADCRUMB.search(line) or _COLUMN_LABEL.match(line) or _BYLINE.match(line)):
        return True
    if len(line) <= 120 and in_tail and _CONTACT.match(line):
        return True
    return len(line) <= 120 and bool(_WIDGETS.search(line) or _FOOTER.search(line))


def _take_header(line: str, meta: dict[str, str], in_head: bool = True) -> bool:
    """A line of `来源: … 作者: … 发布于: …` or `日期: …`: its fields become metadata.

    Below the first sentence, a lone `时间：` / `日期：` / `标题：` line is content (a notice's meeting time), not a header.
    """
    fields = list(_HEADER_FIELD.finditer(line))
    if not fields or fields[0].start() > 0 or len(line) > 100:
        return False
    if not in_head and len(fields) == 1 and _ENGLISH_FIELDS.get(fields[0].group(1).lower(), fields[0].group(1)) not in _PAGE_FIELDS:
        return False
    for field, nxt in zip(fields, fields[1:] + [None]):
        value = line[field.end() : nxt.start() if nxt else len(line)].strip(" \u3000\xa0|｜")
        key = _ENGLISH_FIELDS.get(field.group(1).lower(), field.group(1))
        if key == "来源" and value:
            meta.setdefault("org", value)
        elif key == "标题" and value:
            meta.setdefault("title", value)
        elif key == "作者" and value:
            meta.setdefault("author", value)
        else:
            date = _normal_date(value)
            if date:
                meta.setdefault("date", date)
    return True


def _take_trailer(line: str, meta: dict[str, str]) -> bool:
    """A closing `机构[2021-07-17]` line: source organisation and date."""
    match = _TRAILER.match(line)
    if not match:
        return False
    date = _normal_date(match.group("date"))
    if date:
        meta.setdefault("date", date)
    if match.group("org").strip():
        meta.setdefault("org", match.group("org").strip())
    return True


def _normal_date(value: str) -> str | None:
    """YYYY-MM-DD of 2020-11-05, 2020年11月5日, 2020/11/5, 5 November 2020 or Nov. 5, 2020; None otherwise."""
    match = _DATE.search(value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        english = _ENGLISH_DATE.search(value)
        if not english:
            return None
        g = english.groupdict()
        month = _MONTHS.get((g["m1"] or g["m2"]).lower())
        if month is None:
            return None
        year, day = int(g["y1"] or g["y2"]), int(g["d1"] or g["d2"])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def _is_title_like(line: str) -> bool:
    return len(line) <= 60 and not _HAS_SENTENCE_END.search(line) and not _DOC_NUMBER.match(line) and not _LIST_START.match(line)


def _title_from_lines(kept: list[tuple[str, int | None, bool]]) -> tuple[str | None, list]:
    """The title line(s) before the body: consecutive short lines without a sentence end, joined."""
    start = 0
    while start < len(kept) and _DOC_NUMBER.match(kept[start][0]):
        start += 1
    end = start
    while end < len(kept) and _is_title_like(kept[end][0]) and (end == start or not kept[end][2]) and end - start < 4:
        end += 1
    if end == start or end >= len(kept):
        return None, kept
    title = "".join(line for line, _, _ in kept[start:end])
    if len(title) > 80:
        return None, kept
    merged = (title, kept[start][1], kept[start][2])
    return title, kept[:start] + [merged] + kept[end:]


def _paragraphs(kept: list[tuple[str, int | None, bool]]) -> list[tuple[str, int | None]]:
    """Lines → paragraphs: split at full-width indents, join a line that stops mid-sentence with the next."""
    pieces: list[tuple[str, int | None]] = []
    for line, page, _ in kept:
        for part in _INDENT.split(line):
            part = part.strip()
            if part:
                pieces.append((part, page))
    paragraphs: list[tuple[str, int | None]] = []
    for part, page in pieces:
        if paragraphs and _continues(paragraphs[-1][0], part):
            glue = " " if _WRAPPED_ENGLISH.search(paragraphs[-1][0]) and part[:1].isascii() else ""
            paragraphs[-1] = (paragraphs[-1][0] + glue + part, paragraphs[-1][1])
        else:
            paragraphs.append((part, page))
    return paragraphs


_MID_SENTENCE_END = re.compile(r"[，、,（(《“‘—]\s*$")  # a line ending here was cut by a fixed-width wrap
_WRAPPED_ENGLISH = re.compile(r"[A-Za-z][a-z]*,?$")


def _continues(previous: str, line: str) -> bool:
    """A paragraph that stops mid-sentence (hard-wrapped text, a PDF line) goes on in the next line."""
    if _LIST_START.match(line) or _DOC_NUMBER.match(line):
        return False
    if _MID_SENTENCE_END.search(previous):
        return True
    if _WRAPPED_ENGLISH.search(previous) and len(previous) >= 40 and line[:1].islower():
        return True  # English wrapped mid-sentence: "... the meeting was chaired" / "by Zhang Xiaoming."
    return (
        len(previous) >= 30
        and bool(_HAS_SENTENCE_END.search(previous))
        and not _ENDS_SENTENCE.search(previous)
    )


def _cut_trailing_chrome(paragraphs: list[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """Cut a run of glued-on headlines or a site blurb off the end of the last paragraph."""
    if not paragraphs:
        return paragraphs
    text, page = paragraphs[-1]
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        if _is_headline_run(sentence) or (_FOOTER_SENTENCE.search(sentence) and s > 0):
            kept = text[:s].rstrip()
            return paragraphs[:-1] + ([(kept, page)] if kept else [])
    return paragraphs


def _is_headline_run(sentence: str) -> bool:
    """A long stretch with almost no punctuation: headlines glued together, not prose."""
    if len(sentence) < 80:
        return False
    head = sentence[:120]
    commas = len(re.findall(r"[，,、：:；;]", head))
    return commas <= 1


def _title_from_first_sentence(paragraph: str) -> str:
    s, e = (sentence_spans(paragraph) or [(0, len(paragraph))])[0]
    sentence = paragraph[s:e]
    sentence = re.sub(r"^\s*(\d{4}年)?\d{1,2}月\d{1,2}日(上午|下午|晚)?\s*[，,]\s*", "", sentence)
    clauses = re.split(r"[，,。；;！？]", sentence)
    title = ""
    for clause in clauses:
        if title and len(title) + len(clause) > 40:
            break
        title = f"{title}，{clause}" if title else clause
    return title.strip() or paragraph[:40]


def _headings(paragraphs: list[str], title: str) -> list[str | None]:
    """For each paragraph, the lone short heading it sits under (the heading's own paragraph has none)."""
    out: list[str | None] = []
    current: str | None = None
    for p in paragraphs:
        if p != title and len(p) <= 50 and not _HAS_SENTENCE_END.search(p) and not _DOC_NUMBER.match(p) and _LIST_START.match(p):
            out.append(None)
            current = p
        else:
            out.append(current)
    return out


# ---------------------------------------------------------------- passages


def split_passages(document: Document, max_chars: int = 300, first_id: int = 0) -> list[Passage]:
    """A passage is a paragraph; one over max_chars is split at sentence ends. Context is title + heading."""
    passages: list[Passage] = []
    for index, (start, end) in enumerate(document.paragraphs):
        heading = document.headings[index] if index < len(document.headings) else None
        context = document.title if not heading else f"{document.title} {heading}"
        for extra in (document.org, document.doc_number):
            if extra and extra not in context:
                context = f"{context} {extra}"
        for s, e in _chunks(document.text, start, end, max_chars):
            passages.append(Passage(first_id + len(passages), document.doc_id, index + 1, s, e, document.text[s:e], context))
    return passages


def _chunks(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    if end - start <= max_chars:
        return [(start, end)]
    chunks: list[tuple[int, int]] = []
    chunk_start = chunk_end = None
    for s, e in sentence_spans(text, start, end):
        if chunk_start is None:
            chunk_start, chunk_end = s, e
        elif e - chunk_start <= max_chars:
            chunk_end = e
        else:
            chunks.append((chunk_start, chunk_end))
            chunk_start, chunk_end = s, e
    if chunk_start is not None:
        chunks.append((chunk_start, chunk_end))
    return chunks
