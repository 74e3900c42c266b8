"""What the chat shows, as HTML: replies with quotes, markers and sources; the document viewer; tables and status.

Pure functions of a Response and the documents. Every piece of text that comes from a
document, a file name or a question goes through `escape`, so a document that holds
`<script>`, an `onerror` attribute or a markdown image is shown as text and never runs
or loads anything. Labels are bilingual; the not-found sentence is in the question's language.
"""
from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .schema import Answer, Citation, Document, Hit, Response
from .text import has_han

__all__ = [
    "NOT_FOUND",
    "CitationTarget",
    "escape",
    "question_language",
    "render_question",
    "render_reply",
    "render_document",
    "viewer_placeholder",
    "citation_key",
    "text_digest",
    "progress_text",
    "parse_citation_key",
    "document_rows",
    "DOCUMENT_HEADERS",
    "render_status",
    "render_message",
    "conversation_markdown",
    "READ_AS_LABEL",
]

NOT_FOUND = {"zh": "文档中没有找到答案。", "en": "The documents do not answer this."}
SOURCES_LABEL = "来源 / Sources"
READ_AS_LABEL = "理解为 / Read as"
RELATED_LABEL = "可能相关 / Possibly related"
CHANGED_NOTICE = ("这个文档在回答之后已修改，引用的句子已不在原处；请重新提问。"
                  " / This document has changed since the answer was given: the quoted sentence is no longer there. Ask again.")
DOCUMENT_HEADERS = ["标题 / Title", "日期 / Date", "源文件 / Source file", "段落 / Passages"]
PASSAGE_WINDOW = 360  # characters of a long paragraph shown around the quoted sentence
RELATED_SHOWN = 3
RELATED_CHARS = 220

# Characters that markdown, LaTeX or a template would treat as syntax, written as entities:
# the text reads the same, and no renderer downstream can turn it into a link, an image or maths.
_SYNTAX = {"[": "&#91;", "]": "&#93;", "!": "&#33;", "`": "&#96;", "$": "&#36;", "*": "&#42;", "_": "&#95;",
           "\\": "&#92;", "~": "&#126;", "{": "&#123;", "}": "&#125;", "|": "&#124;"}
_SYNTAX_RE = re.compile("[" + re.escape("".join(_SYNTAX)) + "]")


def escape(text: object) -> str:
    """Text made safe to place inside HTML: tags, quotes and markdown/LaTeX syntax become entities."""
    escaped = html.escape("" if text is None else str(text), quote=True)
    return _SYNTAX_RE.sub(lambda m: _SYNTAX[m.group()], escaped)


def question_language(question: str) -> str:
    """'zh' when the question has Chinese characters (simplified or traditional), else 'en'."""
    return "zh" if has_han(question) else "en"


def render_question(question: str) -> str:
    """The person's question as it appears in the chat: escaped text."""
    return escape(question)


# ---------------------------------------------------------------- replies


def render_reply(response: Response, documents: Mapping[str, Document], show_scores: bool = False) -> str:
    """The chat reply: bold short answer, quoted sentences with [n] markers, and a collapsible source list."""
    language = question_language(response.question)
    parts = [f'<div class="rag-reply" lang="{"zh-CN" if language == "zh" else "en"}">']
    if response.notice:
        parts.append(f'<p class="rag-notice">{escape(response.notice)}</p>')
    if response.read_as and response.read_as != response.question:  # a follow-up completed: show how it was read
        parts.append(f'<p class="rag-read-as">{READ_AS_LABEL}: {escape(response.read_as)}</p>')
    if response.answered and response.answers:
        parts.append(_answers(response.answers, documents, show_scores))
    elif response.question.strip():
        parts.append(f'<p class="rag-none">{escape(NOT_FOUND[language])}</p>')
        parts.append(_related(response.passages, response.titles, documents, show_scores))
    parts.append("</div>")
    return "".join(parts)


def _answers(answers: list[Answer], documents: Mapping[str, Document], show_scores: bool) -> str:
    parts = []
    short = next((a.short for a in answers[:1] if a.short), None)
    if short:
        parts.append(f'<p class="rag-short"><strong>{escape(short)}</strong></p>')
    for number, answer in enumerate(answers, start=1):
        quote = _quote(answer.text, short if number == 1 else None)
        parts.append(f'<blockquote class="rag-quote">{quote}{_marker(number, answer.citation, answer.text)}</blockquote>')
    sources = "".join(_source(number, a, documents, show_scores) for number, a in enumerate(answers, start=1))
    parts.append(
        f'<details class="rag-sources"><summary>{SOURCES_LABEL} ({len(answers)})</summary>'
        f'<ol class="rag-source-list">{sources}</ol></details>'
    )
    return "".join(parts)


def _quote(text: str, short: str | None) -> str:
    """The quoted sentence, with the short answer inside it in bold."""
    at = text.find(short) if short else -1
    if at < 0:
        return f'<span class="rag-quote-text">{escape(text)}</span>'
    return (
        f'<span class="rag-quote-text">{escape(text[:at])}<strong>{escape(short)}</strong>'
        f"{escape(text[at + len(short):])}</span>"
    )


def _marker(number: int, citation: Citation, quoted: str) -> str:
    key = citation_key(citation.doc_id, citation.paragraph, citation.start, citation.end, text_digest(quoted))
    label = f"{citation.title} ¶{citation.paragraph}"
    return f'<a class="rag-cite" href="#cite={quote(key, safe="")}" title="{escape(label)}">[{number}]</a>'


def _source(number: int, answer: Answer, documents: Mapping[str, Document], show_scores: bool) -> str:
    c = answer.citation
    head = _source_head(c.title, c.date, c.source, c.paragraph, c.page, answer.score if show_scores else None)
    passage = _passage_with_mark(documents.get(c.doc_id), c)
    return (
        f'<li class="rag-source">{_marker(number, c, answer.text)}<span class="rag-source-head">{head}</span>'
        f'<p class="rag-passage">{passage}</p></li>'
    )


def _source_head(title: str, date: str | None, source: str, paragraph: int, page: int | None, score: float | None) -> str:
    """title · date · source file · ¶ paragraph (· page · score)."""
    fields = [f'<span class="rag-title">{escape(title)}</span>', escape(date or "日期不详 / no date"),
              f'<span class="rag-file">{escape(source)}</span>', f"¶{paragraph}"]
    if page:
        fields.append(f"第 {page} 页 / p. {page}")
    if score is not None:
        fields.append(f"得分 / score {score:.3f}")
    return " · ".join(fields)


def _passage_with_mark(document: Document | None, citation: Citation) -> str:
    """The cited paragraph (a window of it when long) with the quoted sentence in <mark>."""
    if document is None or not 1 <= citation.paragraph <= len(document.paragraphs):
        return f"<mark>{escape(_cited_text(document, citation))}</mark>" if document else ""
    p_start, p_end = document.paragraphs[citation.paragraph - 1]
    start, end = max(citation.start, p_start), min(citation.end, p_end)
    if start >= end:  # the sentence is not inside that paragraph: show the sentence alone
        return f"<mark>{escape(document.text[citation.start:citation.end])}</mark>"
    before_from = max(p_start, start - PASSAGE_WINDOW // 2)
    after_to = min(p_end, end + PASSAGE_WINDOW // 2)
    before = ("…" if before_from > p_start else "") + document.text[before_from:start]
    after = document.text[end:after_to] + ("…" if after_to < p_end else "")
    return f"{escape(before)}<mark>{escape(document.text[start:end])}</mark>{escape(after)}"


def _cited_text(document: Document | None, citation: Citation) -> str:
    return document.text[citation.start:citation.end] if document else ""


def _related(hits: list[Hit], titles: Mapping[str, tuple[str, str]], documents: Mapping[str, Document], show_scores: bool) -> str:
    if not hits:
        return ""
    items = []
    for number, hit in enumerate(hits[:RELATED_SHOWN], start=1):
        p = hit.passage
        document = documents.get(p.doc_id)
        title, source = titles.get(p.doc_id) or ((document.title, document.source) if document else ("", p.doc_id))
        date = document.date if document else None
        key = citation_key(p.doc_id, p.paragraph, p.start, p.start)  # an empty span: open the paragraph, mark nothing
        link = f'<a class="rag-cite" href="#cite={quote(key, safe="")}" title="{escape(f"{title} ¶{p.paragraph}")}">[{number}]</a>'
        text = p.text if len(p.text) <= RELATED_CHARS else p.text[:RELATED_CHARS] + "…"
        head = _source_head(title, date, source, p.paragraph, None, hit.score if show_scores else None)
        items.append(f'<li class="rag-source">{link}<span class="rag-source-head">{head}</span><p class="rag-passage">{escape(text)}</p></li>')
    return f'<div class="rag-related"><p class="rag-related-head">{RELATED_LABEL}</p><ol class="rag-source-list">{"".join(items)}</ol></div>'


# ---------------------------------------------------------------- citations → viewer


@dataclass(frozen=True)
class CitationTarget:
    doc_id: str
    paragraph: int
    start: int
    end: int
    digest: str | None = None  # of the quoted text when the answer was given (None: an old link, or a whole paragraph)


def citation_key(doc_id: str, paragraph: int, start: int, end: int, digest: str | None = None) -> str:
    """The text a citation link carries to the viewer: paragraph:start:end:doc_id, or with the quote's
    digest paragraph:start:end:=digest:doc_id (so that the viewer can tell when the document changed)."""
    return f"{paragraph}:{start}:{end}:{'=' + digest + ':' if digest else ''}{doc_id}"


def text_digest(text: str) -> str:
    """A short fingerprint of a quoted text: the viewer compares it with what now stands at the offsets."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def parse_citation_key(raw: str | None) -> CitationTarget | None:
    """The citation a clicked link names (`#cite=…`, a bare key, a `|nonce` suffix allowed); None when malformed."""
    if not raw or not isinstance(raw, str):
        return None
    raw = raw.strip()
    if "#cite=" in raw:
        raw = raw.split("#cite=", 1)[1]
    raw = raw.rsplit("|", 1)[0] if "|" in raw else raw
    raw = unquote(raw)
    pieces = raw.split(":", 3)
    if len(pieces) != 4 or not pieces[3]:
        return None
    try:
        paragraph, start, end = (int(x) for x in pieces[:3])
    except ValueError:
        return None
    if paragraph < 1 or start < 0 or end < start:
        return None
    doc_id, digest = pieces[3], None
    if doc_id.startswith("=") and ":" in doc_id:
        digest, doc_id = doc_id[1:].split(":", 1)
        if not doc_id:
            return None
    return CitationTarget(doc_id, paragraph, start, end, digest)


def viewer_placeholder() -> str:
    """The viewer before any citation is opened."""
    return ('<div class="rag-doc rag-doc-empty"><p>点击回答中的引用编号 [1] [2] [3]，在这里查看原文。</p>'
            "<p>Click a citation number [1] [2] [3] in an answer to open the source here.</p></div>")


def render_document(document: Document | None, paragraph: int | None = None, start: int | None = None, end: int | None = None,
                    digest: str | None = None) -> str:
    """A document's cleaned text with numbered paragraphs; the cited paragraph set off and its sentence in <mark>.

    digest: the quote's fingerprint when it was cited; when the text at start:end no longer matches it (the
    document was edited and indexed again), the viewer says so and marks nothing rather than the wrong words."""
    if document is None:
        return ('<div class="rag-doc rag-doc-empty"><p>这个文档已不在索引中。</p>'
                "<p>This document is no longer in the index.</p></div>")
    changed = ""
    if digest is not None and start is not None and end is not None and text_digest(document.text[start:end]) != digest:
        changed = f'<p class="rag-doc-changed">{CHANGED_NOTICE}</p>'
        paragraph = start = end = None
    meta = [escape(document.date or "日期不详 / no date"), f'<span class="rag-file">{escape(document.source)}</span>']
    if document.org:
        meta.append(escape(document.org))
    if document.doc_number:
        meta.append(escape(document.doc_number))
    meta.append(f"{len(document.paragraphs)} 段 / paragraphs")
    rows = []
    for number, (p_start, p_end) in enumerate(document.paragraphs, start=1):
        current = number == paragraph
        body = _paragraph_text(document.text, p_start, p_end, start, end) if current else escape(document.text[p_start:p_end])
        page = document.pages[number - 1] if number - 1 < len(document.pages) and document.pages[number - 1] else None
        page_note = f'<span class="rag-page">第 {page} 页 / p. {page}</span>' if page else ""
        rows.append(
            f'<div class="rag-para{" rag-current" if current else ""}" id="rag-p-{number}">'
            f'<span class="rag-pnum">¶{number}</span><p>{body}{page_note}</p></div>'
        )
    return (
        f'<article class="rag-doc" lang="zh-CN"><h3 class="rag-doc-title">{escape(document.title)}</h3>'
        f'<p class="rag-doc-meta">{" · ".join(meta)}</p>{changed}{"".join(rows)}</article>'
    )


def _paragraph_text(text: str, p_start: int, p_end: int, start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return escape(text[p_start:p_end])
    s, e = max(start, p_start), min(end, p_end)
    if s >= e:
        return escape(text[p_start:p_end])
    return f"{escape(text[p_start:s])}<mark>{escape(text[s:e])}</mark>{escape(text[e:p_end])}"


# ---------------------------------------------------------------- chat history, tables, status


def document_rows(documents: Mapping[str, Document], passage_counts: Mapping[str, int]) -> list[list]:
    """One table row per indexed document: title, date, doc id (the source file, #n for a later article), passages."""
    ordered = sorted(documents.values(), key=lambda d: (d.source, d.doc_id))
    return [[d.title, d.date or "", d.doc_id, int(passage_counts.get(d.doc_id, 0))] for d in ordered]


def render_status(status: Mapping) -> str:
    """The index status: documents, passages, embedder, when built, skipped files."""
    rows = [
        ("文档 / Documents", status.get("documents", 0)),
        ("段落 / Passages", status.get("passages", 0)),
        ("句子 / Sentences", status.get("sentences", 0)),
        ("向量模型 / Embedder", status.get("embedder") or "—"),
        ("建立于 / Built", _when(status.get("built_at"))),
    ]
    if status.get("feedback") is not None:
        up, down, corrected = status["feedback"]
        rows.append(("反馈 / Feedback", f"👍 {up} · 👎 {down}（其中 {corrected} 条附更正 / {corrected} with a correction）"))
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows)
    skipped = status.get("skipped") or []
    note = ""
    if skipped:
        items = "".join(
            f'<li><span class="rag-file">{escape(s.get("path", ""))}</span>: {escape(s.get("reason", ""))}</li>' for s in skipped if isinstance(s, dict)
        )
        note = f'<p class="rag-skipped-head">未能读取的文件 / Files that could not be read</p><ul class="rag-skipped">{items}</ul>'
    return f'<div class="rag-status"><table>{cells}</table>{note}</div>'


def _when(built_at: str | None) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM:SS UTC` (as given when it is not ISO)."""
    from datetime import datetime, timezone

    if not built_at:
        return "—"
    try:
        moment = datetime.fromisoformat(str(built_at))
    except ValueError:
        return str(built_at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo is not None else "")


def progress_text(done: int, total: int, seconds: float) -> str:
    """What the upload bar says while passages are embedded: count, share and, once measurable, the time left."""
    share = f"{done}/{total}"
    if done <= 0 or seconds < 1:
        return f"嵌入段落 {share} / Embedding passages {share}"
    left = seconds / done * (total - done)
    if left < 60:
        zh, en = f"约剩 {max(1, round(left))} 秒", f"about {max(1, round(left))} s left"
    else:
        minutes = round(left / 60)
        zh, en = f"约剩 {minutes} 分钟", f"about {minutes} min left"
    if done >= total:
        zh, en = "即将完成", "finishing"
    return f"嵌入段落 {share} · {zh} / Embedding passages {share} · {en}"


def render_message(text: str, ok: bool = True) -> str:
    """A one-line result of an upload or a deletion."""
    return f'<p class="rag-msg {"rag-ok" if ok else "rag-error"}">{escape(text)}</p>'


# ---------------------------------------------------------------- the chat as a Markdown file


def conversation_markdown(records: Iterable[Mapping], when: str) -> str:
    """The chat as Markdown: each question (and how it was read), its answer, and every citation in full
    (document, date, file, paragraph, quoted sentence). records: rag.feedback.answer_record of each reply."""
    lines = [f"# 对话 / Conversation · {when}", ""]
    for number, record in enumerate(records, start=1):
        question = record.get("question", "")
        lines += [f"## {number}. {_md_line(question)}", ""]
        read_as = record.get("read_as")
        if read_as and read_as != question:
            lines += [f"*{READ_AS_LABEL}: {_md_line(read_as)}*", ""]
        citations = record.get("citations") or []
        if not record.get("answered") or not citations:
            lines += [NOT_FOUND[question_language(question)], ""]
            continue
        if record.get("short"):
            lines += [f"**{_md_line(record['short'])}**", ""]
        for n, c in enumerate(citations, start=1):
            lines.append(f"> {_md_line(c.get('text', ''))} [{n}]")
            lines.append(">")
        lines[-1:] = [""]
        for n, c in enumerate(citations, start=1):
            lines.append(f"[{n}] {_md_line(c.get('title', ''))} · {c.get('date') or '日期不详 / no date'} · "
                         f"{_md_line(c.get('source', ''))} · ¶{c.get('paragraph')} — “{_md_line(c.get('text', ''))}”")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_line(text: str) -> str:
    """One line of Markdown from document or user text: no line breaks, no link, image, emphasis or HTML syntax."""
    flat = re.sub(r"\s+", " ", str(text or "")).strip()
    return re.sub(r"([\\`*\[\]<>])", r"\\\1", flat)  # no link, image, code or HTML; _ inside names stays plain
