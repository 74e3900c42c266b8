"""A file's text by its format: plain text and markdown, html (main text only), pdf (with pages), docx."""
from __future__ import annotations

import re
from pathlib import Path

from .decoding import decode_bytes
from .files import MAX_FILE_BYTES, UnreadableFile

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
