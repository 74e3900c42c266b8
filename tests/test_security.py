"""Security: no markup from a document, a file name or a question reaches the page; uploads stay in the corpus
folder, are size- and type-checked; the app listens on 127.0.0.1 unless told otherwise and enforces its login."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rag.corpus import RejectedUpload, add_upload, delete_source
from rag.render import render_document, render_message, render_question, render_reply, render_status
from rag.schema import Answer, Citation, Document, Hit, Passage, Response

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

XSS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(2)>",
    '"><iframe src="javascript:alert(3)"></iframe>',
    "[点我](javascript:alert(4))",
    "![x](http://127.0.0.1:9/track.png)",
    "<a href=\"javascript:alert(5)\">链接</a>",
    "{{7*7}} $x^2$ `code`",
]
ALLOWED_TAGS = {"div", "p", "strong", "blockquote", "span", "a", "details", "summary", "ol", "ul", "li", "mark", "h3", "article", "table", "tr", "th", "td", "br", "em"}


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(fragment: str) -> None:
    """The HTML has only the renderer's own tags: no script, no event handler, no link that leaves the page."""
    lowered = fragment.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<svg" not in lowered and "<iframe" not in lowered
    assert "](" not in fragment  # no markdown link or image survives as syntax
    parser = _Markup()
    parser.feed(fragment)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower()
            if name in ("href", "src"):
                assert tag == "a" and (value or "").startswith("#"), (tag, name, value)


HOSTILE_TEXT = "".join(f"第{i}句：会议由张三主持{x}。" for i, x in enumerate(XSS))
HOSTILE_NAME = '<img src=x onerror=alert(1)>"\'.txt'


def _hostile_document() -> Document:
    text = f"{XSS[0]}标题\n\n{HOSTILE_TEXT}"
    title_end = text.index("\n")
    return Document(
        doc_id=HOSTILE_NAME, source=HOSTILE_NAME, title=XSS[0] + "标题", date="2023-01-01", org=XSS[1], doc_number=XSS[2],
        text=text, paragraphs=((0, title_end), (title_end + 2, len(text))), headings=(None, XSS[3]),
    )


def _hostile_response(answered: bool) -> tuple[Response, dict[str, Document]]:
    document = _hostile_document()
    start = document.paragraphs[1][0]
    end = document.text.index("。", start) + 1
    citation = Citation(document.doc_id, document.title, document.source, document.date, 2, start, end)
    answer = Answer(document.text[start:end], "张三", 1.0, citation)
    passage = Passage(0, document.doc_id, 2, start, len(document.text), document.text[start:], document.title)
    response = Response(
        question="会议由谁主持？" + XSS[1] + XSS[4], answered=answered, answers=[answer] if answered else [],
        passages=[Hit(passage, 0.5)], titles={document.doc_id: (document.title, document.source)},
        notice=XSS[0] + "notice",
    )
    return response, {document.doc_id: document}


@pytest.mark.parametrize("answered", [True, False], ids=["answer", "possibly-related"])
def test_a_reply_quoting_a_hostile_document_shows_its_markup_as_text(answered):
    response, documents = _hostile_response(answered)
    reply = render_reply(response, documents, show_scores=True)
    assert_inert(reply)
    assert "&lt;script&gt;" in reply and "&lt;img src=x onerror=alert(1)&gt;" in reply  # shown, as text


def test_the_document_viewer_shows_a_hostile_document_and_file_name_as_text():
    document = _hostile_document()
    viewer = render_document(document, 2, document.paragraphs[1][0], document.paragraphs[1][0] + 20)
    assert_inert(viewer)
    assert "&lt;script&gt;" in viewer and "onerror=alert(1)&gt;&quot;&#x27;.txt" in viewer


def test_a_hostile_question_status_line_and_message_are_shown_as_text():
    for fragment in XSS:
        assert_inert(render_question(fragment))
        assert_inert(render_message(fragment, ok=False))
    status = render_status({"documents": 1, "embedder": XSS[2], "built_at": XSS[0],
                            "skipped": [{"path": HOSTILE_NAME, "reason": XSS[1]}, {"path": XSS[3], "reason": XSS[6]}]})
    assert_inert(status)


def test_markup_in_a_real_indexed_file_and_its_name_never_reaches_the_page(tmp_path):
    from rag.config import Settings
    from rag.pipeline import Pipeline
    from tests.test_faults import FakeEmbedder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / HOSTILE_NAME).write_text(f"关于张三的通知{XSS[0]}\n\n{HOSTILE_TEXT}\n", encoding="utf-8")
    (corpus / "<svg onload=alert(9)>.txt").write_bytes(b"")  # skipped: its name is shown in the status
    settings = Settings.from_env(env={}, corpus=(corpus,), index_dir=tmp_path / "index", embedder="fake")
    pipeline = Pipeline.open(settings, FakeEmbedder(), warn=lambda m: None)
    documents = pipeline.index.store.documents
    assert HOSTILE_NAME in documents
    response = pipeline.ask("会议由谁主持？" + XSS[0])
    reply = render_reply(response, documents)
    assert_inert(reply)
    assert "&lt;" in reply  # the document's markup was there, and was escaped
    viewer = render_document(documents[HOSTILE_NAME], 2, 0, 5)
    assert_inert(viewer)
    assert_inert(render_status(pipeline.status()))
    assert "&lt;svg onload=alert(9)&gt;" in render_status(pipeline.status())


# ---------------------------------------------------------------- uploads


NOTICE = "关于召开工作会议的通知\n\n2023年3月8日，市科协召开工作会议，会议由张建国主持。\n".encode("utf-8")


def _upload(tmp_path: Path, content: bytes = NOTICE, name: str = "upload.bin") -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _everything_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd.txt", "/etc/cron.d/evil.txt", "..\\..\\Windows\\evil.txt", "a\x00b.txt", "\u202etxt.exe.txt",
     "x" * 5000 + ".txt", "...hidden.txt", "con:evil.md"],
    ids=["dotdot", "absolute", "backslashes", "nul", "rtl-override", "5000-chars", "leading-dots", "colon"],
)
def test_an_upload_name_can_never_place_a_file_outside_the_corpus_folder(tmp_path, name):
    upload = _upload(tmp_path)
    folder = tmp_path / "deep" / "corpus"
    folder.mkdir(parents=True)
    outside_before = _everything_under(tmp_path) - _everything_under(folder)
    added = add_upload(upload, name, folder)
    assert added.path.resolve().parent == folder.resolve()
    assert not added.path.name.startswith(".")  # a hidden file would never be indexed
    assert "\x00" not in added.path.name and "/" not in added.source and "\\" not in added.source
    assert len(added.path.name.encode("utf-8")) <= 255
    assert _everything_under(tmp_path) - _everything_under(folder) == outside_before


@pytest.mark.parametrize("name", ["../../etc/passwd", "", "\x00", "....", "/"])
def test_an_upload_name_without_a_supported_type_is_refused_and_nothing_is_written(tmp_path, name):
    upload = _upload(tmp_path)
    folder = tmp_path / "corpus"
    folder.mkdir()
    with pytest.raises(RejectedUpload):
        add_upload(upload, name, folder)  # an empty name falls back to the upload's own: upload.bin
    assert list(folder.iterdir()) == []


def test_an_oversize_upload_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    import rag.corpus

    big = tmp_path / "incoming" / "big.txt"
    big.parent.mkdir()
    with open(big, "wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: no disk used

    def never(*_args, **_kwargs):
        raise AssertionError("the oversize upload was opened")

    monkeypatch.setattr(rag.corpus, "open", never, raising=False)
    monkeypatch.setattr(rag.corpus.shutil, "copyfileobj", never)
    folder = tmp_path / "corpus"
    with pytest.raises(RejectedUpload, match="MB"):
        add_upload(big, "big.txt", folder)
    assert not folder.exists() or list(folder.iterdir()) == []


def _blank_pdf() -> bytes:
    from tests.test_faults import _blank_pdf as blank

    return blank()


@pytest.mark.parametrize(
    "name,content",
    [
        ("report.pdf", "这是一段文字，不是 PDF。".encode("utf-8") * 20),
        ("report.pdf", b"\x7fELF\x02\x01\x01" + bytes(200)),
        ("scan.pdf", None),  # a real PDF, but without text
        ("letter.docx", NOTICE),
        ("letter.docx", b"PK\x03\x04" + bytes(100)),
        ("notes.txt", b"\x89PNG\r\n\x1a\n" + bytes(300)),
        ("notes.md", b"MZ\x90\x00" + bytes(300)),
        ("page.html", b"\x1f\x8b\x08\x00" + bytes(300)),
    ],
    ids=["text-as-pdf", "elf-as-pdf", "pdf-without-text", "text-as-docx", "bad-zip-as-docx", "png-as-txt", "exe-as-md", "gzip-as-html"],
)
def test_an_upload_whose_content_is_not_its_type_is_refused_and_not_kept(tmp_path, name, content):
    upload = _upload(tmp_path, _blank_pdf() if content is None else content, "upload-file")
    folder = tmp_path / "corpus"
    folder.mkdir()
    with pytest.raises(RejectedUpload):
        add_upload(upload, name, folder)
    assert list(folder.iterdir()) == []


def test_deleting_by_a_path_that_leaves_the_corpus_is_refused(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(NOTICE)
    for source in ["../secret.txt", str(secret), "sub/../../secret.txt", "\x00", ""]:
        with pytest.raises(RejectedUpload):
            delete_source(source, [folder], {source})
    assert secret.exists()


# ---------------------------------------------------------------- the served app: address and login


AUTH = ("reader", "s3cret passphrase")


def _listening_addresses(port: int) -> set[str]:
    """The local addresses on which some socket LISTENs on port, from /proc/net/tcp and tcp6 (hex, as the kernel writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":
                found.add(address)
    return found


@pytest.fixture(scope="module")
def served_with_login(tmp_path_factory, seed_settings, pipeline):
    """app.py as a person starts it (no GRADIO_SERVER_NAME), with a login from RAG_AUTH_USER / RAG_AUTH_PASSWORD."""
    from tests.app_server import prepare, running_app

    base = tmp_path_factory.mktemp("secure-app")
    corpus, index = prepare(base, SEEDS, seed_settings.index_dir)
    env = {"GRADIO_SERVER_NAME": "", "RAG_AUTH_USER": AUTH[0], "RAG_AUTH_PASSWORD": AUTH[1]}
    with running_app(corpus, index, base / "server.log", env) as url:
        yield url


def test_the_app_listens_on_127_0_0_1_only_unless_told_otherwise(served_with_login):
    from app import launch_options

    port = int(served_with_login.rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no wildcard or other interface
    assert launch_options({})["server_name"] == "127.0.0.1"
    assert launch_options({"GRADIO_SERVER_NAME": "0.0.0.0"})["server_name"] == "0.0.0.0"


def test_the_ask_api_refuses_a_caller_without_the_login(served_with_login):
    from gradio_client import Client

    request = urllib.request.Request(
        served_with_login + "/gradio_api/call/ask", data=json.dumps({"data": ["宁夏科协党组扩大会议由谁主持？"]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    with pytest.raises(Exception):
        Client(served_with_login, auth=(AUTH[0], "wrong"), verbose=False)
    client = Client(served_with_login, auth=AUTH, verbose=False)
    assert client.predict("宁夏科协党组扩大会议由谁主持？", api_name="/ask")["answers"][0]["short"] == "陈红缨"


def test_a_login_is_required_only_when_both_user_and_password_are_set():
    from app import launch_options

    assert "auth" not in launch_options({"RAG_AUTH_USER": "reader"})
    assert "auth" not in launch_options({"RAG_AUTH_PASSWORD": "x"})
    assert launch_options({"RAG_AUTH_USER": "reader", "RAG_AUTH_PASSWORD": "x"})["auth"] == ("reader", "x")
