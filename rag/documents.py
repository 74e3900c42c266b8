"""Files → documents → paragraphs → passages, with page chrome removed and metadata kept.

Every rule here is general (no per-file cases): breadcrumbs, font-size widgets, header
lines that become metadata, footers, glued-on headline runs, bylines, several articles
in one file under `## ` headings. The cleaned text of a document is what is shown and
cited; each passage is an exact slice of it.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .schema import Document, Passage
from .text import sentence_spans

__all__ = [
    "SUPPORTED_SUFFIXES",
    "UnreadableFile",
    "CorpusFile",
    "find_corpus_files",
    "resolve_source",
    "read_file",
    "parse_documents",
    "split_passages",
    "sha256_file",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
MAX_FILE_BYTES = 20 * 1024 * 1024  # larger files are refused with a message, never read whole


class UnreadableFile(Exception):
    """A file that cannot become text: binary, undecodable, corrupt, too large or empty."""


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    source: str  # path relative to its corpus folder, with forward slashes


# ---------------------------------------------------------------- finding files


def find_corpus_files(folders: list[Path]) -> list[CorpusFile]:
    """Every supported file under the corpus folders, sorted, each once; symlink loops and hidden files skipped.

    A file's source is its path relative to its folder; when an earlier folder already has a
    file of that name, the folder's own name (and its parents', if needed) is put in front.
    """
    found: dict[str, CorpusFile] = {}
    seen_files: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        seen_dirs: set[Path] = set()
        for path in _walk(folder, seen_dirs):
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if real in seen_files:  # the same folder named twice, or a link to a file already found
                continue
            seen_files.add(real)
            source = _unique_source(path.relative_to(folder).as_posix(), folder, found)
            found[source] = CorpusFile(path, source)
    return [found[k] for k in sorted(found)]


def resolve_source(source: str, folders: list[Path]) -> Path | None:
    """The file behind a document's source, by the same rules as find_corpus_files; None when it is gone."""
    for corpus_file in find_corpus_files(folders):
        if corpus_file.source == source:
            return corpus_file.path
    return None


def _unique_source(relative: str, folder: Path, taken: dict[str, CorpusFile]) -> str:
    if relative not in taken:
        return relative
    parts = folder.resolve().parts
    for depth in range(1, len(parts)):
        candidate = "/".join(parts[-depth:] + (relative,))
        if candidate not in taken:
            return candidate
    return (folder.resolve() / relative).as_posix()


def _walk(folder: Path, seen_dirs: set[Path]):
    try:
        real = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        return
    if real in seen_dirs:
        return
    seen_dirs.add(real)
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                yield from _walk(entry, seen_dirs)
            elif entry.is_file() and entry.suffix.lower() in SUPPORTED_SUFFIXES:
                yield entry
        except OSError:
            continue


def sha256_file(path: Path) -> str:
    """The file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- reading


def read_file(path: Path) -> tuple[str, list[int | None] | None]:
    """The file's text and, for a pdf, the page each line comes from; UnreadableFile says why not."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFile(f"cannot be opened ({exc.strerror or exc})") from None
    if size == 0:
        raise UnreadableFile("is empty")
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(f"is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit")
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix == ".pdf":
        return _read_pdf(data)
    if suffix == ".docx":
        return _read_docx(data), None
    text = decode_bytes(data)
    if suffix in (".html", ".htm"):
        return _html_text(text), None
    return text, None


def decode_bytes(data: bytes) -> str:
    """Text from bytes in UTF-8 (with or without BOM), UTF-16, GB18030/GBK or Big5; UnreadableFile for binary."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")  # an odd last byte or a lone surrogate must not stop a build
        if _looks_binary(text):
            raise UnreadableFile("is binary or in an unknown encoding")
        return text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        text = _mostly_utf8(data) or _utf16_without_bom(data) or _chinese(data) or _detect(data)
    if text is None or _looks_binary(text):
        raise UnreadableFile("is binary or in an unknown encoding")
    return text


_WIDE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few broken bytes (a file cut mid-character, a stray byte): kept, the broken bytes replaced.

    Only when the valid CJK characters far outnumber the errors: GBK or UTF-16 read as UTF-8 gives almost none.
    """
    text = data.decode("utf-8", errors="replace")
    errors = text.count("\ufffd")
    if errors and len(_WIDE.findall(text)) >= 20 * errors:
        return text.rstrip("\ufffd")
    return None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e\u2010-\u2027\u2030-\u203b\u00b7\u00d7\u2460-\u24ff\u25a0-\u25ff\u2160-\u217f]")


def _chinese(data: bytes) -> str | None:
    """The text as GB18030 or Big5 (cp950), when one of them reads as ordinary Chinese; None to leave it to detection.

    Bytes in one East Asian encoding read as another give kana, Greek or box drawing, or else
    rare characters; ordinary text is mostly the common ones. This tells GBK from Big5 (and from
    Shift-JIS or EUC-KR) even in a short file, where statistical detection guesses.
    """
    best, best_share = None, 0.6
    for codec in ("gb18030", "cp950"):
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        sample = text[:20000]
        wide = len(_NON_ASCII.findall(sample))
        if not wide or len(_CHINESE.findall(sample)) < 0.95 * wide or _looks_binary(sample):
            continue
        hanzi = [ch for ch in _simplified(sample) if "\u3400" <= ch <= "\u9fff"]
        share = sum(ch in _common_hanzi() for ch in hanzi) / len(hanzi) if hanzi else 0.0
        if share > best_share:
            best, best_share = text, share
    return best


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    """The 1,000 most used Chinese characters, weighted by the word frequencies of jieba's dictionary."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    weight: Counter[str] = Counter()
    for word, frequency in jieba.dt.FREQ.items():
        if frequency:
            for ch in word:
                weight[ch] += frequency
    return frozenset(ch for ch, _ in weight.most_common(1000) if "\u3400" <= ch <= "\u9fff")


def _simplified(text: str) -> str:
    from .text import _t2s

    return _t2s().convert(text)


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    for zeros, codec in ((odd, "utf-16-le"), (even, "utf-16-be")):
        # ASCII-heavy UTF-16 has a zero in every other byte; CJK-heavy UTF-16 has none, so also try decoding
        if zeros.count(0) > len(zeros) * 0.3 or codec == "utf-16-le":
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text) and _cjk_or_ascii_share(text) > 0.9:
                return text
    return None


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=None).best()
    if best is None:
        return None
    encoding = best.encoding
    if encoding in ("gb2312", "gbk", "hz"):
        encoding = "gb18030"  # the superset decodes everything the subsets do
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return str(best)


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\n\r\t\f") or ch == "\ufffd")
    return bad / len(sample) > 0.02


def _cjk_or_ascii_share(text: str) -> float:
    sample = text[:5000]
    good = sum(1 for ch in sample if ord(ch) < 128 or "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return good / max(1, len(sample))


def _html_text(html: str) -> str:
    try:
        import trafilatura
    except ImportError:  # a broken install (lxml without lxml_html_clean): plain text is better than no file
        text = _plain_html_text(html)
    else:
        try:
            text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
        except Exception as exc:  # lxml and trafilatura raise many kinds for malformed pages
            raise UnreadableFile(f"is not readable html ({exc.__class__.__name__})") from None
    if not text or not text.strip():
        raise UnreadableFile("has no readable text (an html page without a main text)")
    return text


def _plain_html_text(html: str) -> str:
    """The text of an html page without scripts, styles and navigation: one line a block."""
    from html.parser import HTMLParser

    skip = {"script", "style", "noscript", "nav", "header", "footer", "aside", "template", "head", "form", "button", "select"}
    blocks = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table", "ul", "ol", "blockquote", "pre", "title", "dd", "dt"}

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skipping: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag in skip:
                self.skipping.append(tag)
            if tag in blocks:
                self.parts.append("\n")

        def handle_endtag(self, tag):
            if tag in self.skipping:  # close it, and anything left open inside it
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag) :]
            if tag in blocks:
                self.parts.append("\n")

        def handle_data(self, data):
            if not self.skipping:
                self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))

    parser = Parser()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return "\n".join(line for line in lines if line)


def _read_pdf(data: bytes) -> tuple[str, list[int | None]]:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        lines: list[str] = []
        pages: list[int | None] = []
        for number, page in enumerate(reader.pages, start=1):
            for line in (page.extract_text() or "").splitlines():
                lines.append(line)
                pages.append(number)
            lines.append("")
            pages.append(number)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableFile(f"is not a readable pdf ({exc.__class__.__name__})") from None
    if not any(line.strip() for line in lines):
        raise UnreadableFile("has no text layer (a scanned pdf?)")
    return "\n".join(lines), pages


def _read_docx(data: bytes) -> str:
    import io
    import zipfile

    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile(f"is not a readable docx ({exc.__class__.__name__})") from None
    except Exception as exc:  # python-docx raises its own family for malformed parts
        raise UnreadableFile(f"is not a readable docx ({exc.__class__.__name__})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" ".join(cell.text for cell in row.cells))
    text = "\n".join(lines)
    if not text.strip():
        raise UnreadableFile("has no text")
    return text


# ---------------------------------------------------------------- chrome and metadata rules

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
