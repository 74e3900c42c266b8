"""The served app, driven with gradio_client: the `ask` endpoint, upload and delete, login; and rag/corpus.py directly."""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from rag.corpus import MAX_UPLOAD_BYTES, RejectedUpload, add_upload, delete_source, safe_file_name
from tests.app_server import prepare, running_app

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
AUTH = ("reader", "correct horse battery")
NINGXIA = "宁夏科协党组扩大会议由谁主持？"
RAINBOW_FACT = "测试科协于2099年1月2日召开了彩虹会议，会议由张三丰主持。"


@pytest.fixture(scope="module")
def served(tmp_path_factory, seed_settings, pipeline):
    """app.py over a copy of the seeds (index copied from the session's seed index), with a login from the environment."""
    base = tmp_path_factory.mktemp("app")
    corpus, index = prepare(base, SEEDS, seed_settings.index_dir)
    env = {"RAG_AUTH_USER": AUTH[0], "RAG_AUTH_PASSWORD": AUTH[1]}
    with running_app(corpus, index, base / "server.log", env) as url:
        yield {"url": url, "corpus": corpus, "base": base}


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served["url"], auth=AUTH, verbose=False)


def ask(client, question: str) -> dict:
    return client.predict(question, api_name="/ask")


def cited_sources(result: dict) -> set[str]:
    return {a["citation"]["source"] for a in result["answers"]} | {p["source"] for p in result["passages"]}


def table_rows(table) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def text_of(fragment: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", fragment or ""))


# ---------------------------------------------------------------- the served app


def test_ask_endpoint_returns_the_cli_json_with_the_quoted_answer(client):
    result = ask(client, NINGXIA)
    assert set(result) >= {"question", "answered", "latency_ms", "answers", "passages"}
    assert result["question"] == NINGXIA and result["answered"] is True
    first = result["answers"][0]
    assert first["short"] == "陈红缨"
    assert "陈红缨" in first["text"]
    assert first["citation"]["doc_id"].startswith("002_")
    assert set(first["citation"]) >= {"doc_id", "title", "source", "date", "paragraph", "start", "end"}
    assert first["citation"]["end"] - first["citation"]["start"] == len(first["text"])


def test_a_question_the_documents_do_not_answer_is_not_answered(client):
    result = ask(client, "火星上有几个足球场？")
    assert result["answered"] is False and result["answers"] == []
    assert result["passages"], "the nearest passages are still returned as possibly related"


def test_an_uploaded_docx_is_indexed_and_cited_until_it_is_deleted(client, served, tmp_path):
    import docx
    from gradio_client import handle_file

    path = tmp_path / "彩虹会议纪要.docx"
    document = docx.Document()
    document.add_paragraph("测试科协召开彩虹会议")
    document.add_paragraph(RAINBOW_FACT)
    document.add_paragraph("会议讨论了彩虹桥的建设计划，并部署了下一阶段的工作。")
    document.save(path)

    before = ask(client, "彩虹会议由谁主持？")
    assert "彩虹会议纪要.docx" not in cited_sources(before)

    message, table, _, status = client.predict([handle_file(str(path))], api_name="/upload")
    assert "已加入并索引 彩虹会议纪要.docx" in text_of(message), message
    assert (served["corpus"] / "彩虹会议纪要.docx").is_file()
    rows = table_rows(table)
    assert ["测试科协召开彩虹会议", "", "彩虹会议纪要.docx"] in [row[:3] for row in rows]
    assert f"文档 / Documents{len(rows)}段落" in text_of(status)

    after = ask(client, "彩虹会议由谁主持？")
    assert after["answered"] is True
    first = after["answers"][0]
    assert first["citation"]["source"] == "彩虹会议纪要.docx"
    assert first["text"] == RAINBOW_FACT
    assert first["short"] == "张三丰"

    message, table, _, _ = client.predict("彩虹会议纪要.docx", api_name="/delete")
    assert "已删除 彩虹会议纪要.docx" in text_of(message), message
    assert not (served["corpus"] / "彩虹会议纪要.docx").exists()
    assert "彩虹会议纪要.docx" not in [row[2] for row in table_rows(table)]
    gone = ask(client, "彩虹会议由谁主持？")
    assert "彩虹会议纪要.docx" not in cited_sources(gone)
    assert all("张三丰" not in a["text"] for a in gone["answers"])


def test_a_file_that_fails_to_read_is_refused_and_nothing_changes(client, served, tmp_path):
    from gradio_client import handle_file

    files_before = sorted(p.name for p in served["corpus"].iterdir())
    fake = tmp_path / "notice.pdf"
    fake.write_text("这其实是一段文字，不是 PDF。", encoding="utf-8")
    message, table, _, _ = client.predict([handle_file(str(fake))], api_name="/upload")
    assert "not a PDF" in text_of(message) and "rag-error" in message
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n% a header and nothing a reader can use\n")
    message, table, _, status = client.predict([handle_file(str(broken))], api_name="/upload")
    assert "broken.pdf" in text_of(message) and "not added" in text_of(message) and "rag-error" in message
    assert sorted(p.name for p in served["corpus"].iterdir()) == files_before  # the saved copy was removed again
    assert "002_0676de67ad7a5ad1.txt" in [row[2] for row in table_rows(table)]
    assert "broken.pdf" not in str(table) and "notice.pdf" not in str(table)
    assert ask(client, NINGXIA)["answers"][0]["short"] == "陈红缨"


def test_several_files_uploaded_at_once_are_indexed_together_and_a_bad_one_is_named_without_losing_the_others(client, served, tmp_path):
    from gradio_client import handle_file

    first, second, bad = tmp_path / "蓝天会议.txt", tmp_path / "绿地会议.txt", tmp_path / "坏文件.pdf"
    first.write_text("测试科协召开蓝天会议\n\n2023年3月1日，测试科协召开蓝天会议，会议由赵一鸣主持。", encoding="utf-8")
    second.write_text("测试科协召开绿地会议\n\n2023年3月2日，测试科协召开绿地会议，会议由钱二多主持。", encoding="utf-8")
    bad.write_text("不是 PDF", encoding="utf-8")
    message, table, _, _ = client.predict([handle_file(str(first)), handle_file(str(bad)), handle_file(str(second))], api_name="/upload")
    shown = text_of(message)
    assert "已加入并索引 蓝天会议.txt" in shown and "已加入并索引 绿地会议.txt" in shown and "not a PDF" in shown
    sources = [row[2] for row in table_rows(table)]
    assert "蓝天会议.txt" in sources and "绿地会议.txt" in sources and "坏文件.pdf" not in sources
    assert best_short(ask(client, "绿地会议由谁主持？")) == "钱二多"
    for name in ("蓝天会议.txt", "绿地会议.txt"):
        client.predict(name, api_name="/delete")
    assert not (served["corpus"] / "蓝天会议.txt").exists()


def best_short(result: dict) -> str | None:
    return result["answers"][0]["short"] if result["answers"] else None


def test_a_client_without_the_login_is_refused(served):
    import urllib.error
    import urllib.request

    from gradio_client import Client

    with pytest.raises(Exception):
        Client(served["url"], verbose=False)
    with pytest.raises(Exception):
        Client(served["url"], auth=(AUTH[0], "wrong password"), verbose=False)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served["url"] + "/gradio_api/info", timeout=10)
    assert refused.value.code == 401


# ---------------------------------------------------------------- serving options


def test_serving_address_port_and_login_come_from_the_environment():
    from app import launch_options

    assert launch_options({}) == {"server_name": "127.0.0.1", "server_port": 7860}
    options = launch_options({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080", "RAG_AUTH_USER": "a"})
    assert options == {"server_name": "0.0.0.0", "server_port": 8080}  # a user without a password asks for no login
    assert launch_options({"RAG_AUTH_USER": "a", "RAG_AUTH_PASSWORD": "b"})["auth"] == ("a", "b")


# ---------------------------------------------------------------- rag/corpus.py


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


NOTICE = "测试通知\n\n测试科协于2099年1月2日召开了会议，会议由张三丰主持。\n"


@pytest.mark.parametrize(
    "name, saved",
    [
        ("../../etc/evil.txt", "evil.txt"),
        ("/etc/cron.d/evil.md", "evil.md"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("evil\x00.txt", "evil.txt"),
        ("evil\x00/../../x.txt", "x.txt"),
        (".hidden.txt", "hidden.txt"),
        ('a<b>:"c|d?*.TXT', "a_b___c_d__.txt"),
        ("通知 \u202e.txt", "通知 _.txt"),
    ],
)
def test_upload_names_are_cleaned_and_stay_in_the_corpus_folder(tmp_path, name, saved):
    corpus = tmp_path / "corpus"
    added = add_upload(write(tmp_path / "upload.bin", NOTICE), name, corpus)
    assert added.path == corpus / saved
    assert added.path.parent.resolve() == corpus.resolve()
    assert [p.name for p in corpus.iterdir()] == [saved]
    assert added.documents and "张三丰" in added.documents[0].text
    assert not (tmp_path / "etc").exists()


def test_a_very_long_name_is_shortened_and_a_name_that_escapes_without_a_type_is_refused(tmp_path):
    corpus = tmp_path / "corpus"
    long_name = "通" * 400 + ".txt"
    added = add_upload(write(tmp_path / "upload.bin", NOTICE), long_name, corpus)
    assert added.path.parent == corpus and added.path.suffix == ".txt"
    assert len(added.path.name.encode("utf-8")) <= 180
    for name in ("../../etc/passwd", "/etc/shadow", "..", "", "evil.exe"):
        with pytest.raises(RejectedUpload, match="not supported"):
            safe_file_name(name)


def test_a_second_file_with_the_same_name_does_not_overwrite_the_first(tmp_path):
    corpus = tmp_path / "corpus"
    first = add_upload(write(tmp_path / "a.txt", NOTICE), "notice.txt", corpus)
    again = add_upload(write(tmp_path / "b.txt", NOTICE), "notice.txt", corpus)
    other = add_upload(write(tmp_path / "c.txt", NOTICE.replace("张三丰", "李四")), "notice.txt", corpus)
    assert again.path == first.path and again.already_there
    assert other.path == corpus / "notice-2.txt"
    assert "张三丰" in first.path.read_text(encoding="utf-8") and "李四" in other.path.read_text(encoding="utf-8")
    assert sorted(p.name for p in corpus.iterdir()) == ["notice-2.txt", "notice.txt"]


def test_an_upload_over_20_mb_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: nothing to read, only a size
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    with pytest.raises(RejectedUpload, match="20 MB limit"):
        add_upload(big, "big.txt", tmp_path / "corpus")
    assert str(big) not in [str(p) for p in opened]
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("report.pdf", "只是文字", "not a PDF"),
        ("report.docx", "只是文字", "not a Word"),
        ("report.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "binary"),
        ("report.txt", b"", "empty"),
        ("report.pdf", b"%PDF-1.4\nbroken", "not added"),
    ],
)
def test_a_file_whose_content_does_not_match_its_type_is_refused_and_not_kept(tmp_path, name, content, reason):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(RejectedUpload, match=reason):
        add_upload(write(tmp_path / "upload.bin", content), name, corpus)
    assert list(corpus.iterdir()) == []


def test_a_zip_that_is_not_a_word_document_is_refused(tmp_path):
    fake = tmp_path / "upload.bin"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(RejectedUpload, match="not a Word"):
        add_upload(fake, "report.docx", tmp_path / "corpus")


def test_delete_removes_the_file_and_never_leaves_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    outside = write(tmp_path / "outside.txt", NOTICE)
    added = add_upload(write(tmp_path / "upload.bin", NOTICE), "notice.txt", corpus)
    indexed = {"notice.txt"}
    for source in ("../outside.txt", str(outside), "notice.txt\x00", "", "missing.txt"):
        with pytest.raises(RejectedUpload):
            delete_source(source, [corpus], indexed | {source})
    assert outside.exists() and added.path.exists()
    assert delete_source("notice.txt", [corpus], indexed) == added.path
    assert not added.path.exists()
    assert os.listdir(corpus) == []


def test_ask_endpoint_takes_the_conversation_and_says_how_it_read_the_follow_up(client):
    history = [{"question": NINGXIA, "answer": "陈红缨"}]
    result = client.predict("他是什么职务？", history, api_name="/ask")
    assert result["question"] == "他是什么职务？" and result["read_as"] == "陈红缨是什么职务？"
    assert result["answers"][0]["short"] == "自治区科协党组书记、主席"
    assert result["answers"][0]["citation"]["doc_id"].startswith("002_") and result["answers"][0]["citation"]["paragraph"] == 2
    alone = ask(client, NINGXIA)
    assert alone["read_as"] == NINGXIA
