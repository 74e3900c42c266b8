"""Bad questions, through Pipeline.ask and through `python -m rag ask`: each gets a contract-shaped reply, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


from .contract import assert_contract

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

KNOWN = "科技部党组会议是哪天召开的？"
SQL = "'; DROP TABLE passages; --"


def cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=ROOT, input=stdin, capture_output=True, env=full_env, timeout=300
    )


def index_args(pipeline) -> list[str]:
    return ["--index", str(pipeline.settings.index_dir), "--corpus", str(pipeline.settings.corpus[0])]


# ---------------------------------------------------------------- Pipeline.ask


def test_empty_question_is_not_answered_and_asks_for_a_question(pipeline):
    response = pipeline.ask("")
    assert_contract(pipeline, response)
    assert response.answered is False and response.passages == []
    assert response.notice and "question" in response.notice


def test_whitespace_only_question_is_not_answered_and_asks_for_a_question(pipeline):
    response = pipeline.ask(" \t\n\u3000\r\n  ")
    assert_contract(pipeline, response)
    assert response.answered is False
    assert response.notice and "question" in response.notice


def test_question_that_is_not_a_string_is_treated_as_empty(pipeline):
    response = pipeline.ask(None)  # type: ignore[arg-type]
    assert_contract(pipeline, response)
    assert response.answered is False and response.notice


def test_hundred_thousand_character_question_is_cut_to_the_limit_with_a_notice(pipeline):
    limit = pipeline.settings.max_question_chars
    response = pipeline.ask("科技部党组会议" * 15_000 + "是哪天召开的？")
    assert len(response.question) > 100_000 - 10
    assert_contract(pipeline, response)
    assert response.notice and str(limit) in response.notice


def test_control_characters_and_lone_surrogates_are_removed_before_answering(pipeline):
    response = pipeline.ask("\x00\x07科技部党组会议\ud800是哪天召开的？\x1b[31m\udcff")
    body = assert_contract(pipeline, response)
    assert "\ud800" not in body["question"] and "\udcff" not in body["question"]
    assert response.answered
    assert any("10月24日" in (a.short or a.text) for a in response.answers)


def test_emoji_only_question_is_not_answered(pipeline):
    response = pipeline.ask("😀🎉🔥👍")
    assert_contract(pipeline, response)
    assert response.answered is False


def test_html_and_javascript_question_is_kept_as_plain_text(pipeline):
    question = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = pipeline.ask(question)
    assert_contract(pipeline, response)
    assert response.question == question  # echoed as text; the page escapes it (tests/test_security.py)


@pytest.mark.parametrize("question", ["abc", SQL, '<script>alert("x")</script><img src=x onerror=alert(1)>'], ids=["abc", "sql", "html"])
def test_latin_script_nonsense_is_not_answered(pipeline, question):
    response = pipeline.ask(question)
    assert_contract(pipeline, response)
    assert response.answered is False


def test_sql_looking_question_leaves_the_store_intact(pipeline):
    import sqlite3

    passages_before = pipeline.index.store.passage_count
    response = pipeline.ask(SQL)
    assert_contract(pipeline, response)
    with sqlite3.connect(f"file:{pipeline.index.folder / 'store.sqlite'}?mode=ro", uri=True) as connection:
        assert connection.execute("SELECT COUNT(*) FROM passages").fetchone()[0] == passages_before
    after = pipeline.ask(KNOWN)
    assert any(a.short == "10月24日" for a in after.answers)


@pytest.mark.parametrize(
    "question",
    ["ما هو موضوع اجتماع الحزب في وزارة العلوم؟", "Кто председательствовал на заседании партийной группы?"],
    ids=["arabic", "russian"],
)
def test_question_in_another_script_gets_a_contract_shaped_reply(pipeline, question):
    response = pipeline.ask(question)
    assert_contract(pipeline, response)
    assert response.question == question
    if not response.answered:
        assert response.passages  # the nearest passages are still offered


@pytest.mark.parametrize("name", ["000_8167ffdbf6281ae2.txt", "002_0676de67ad7a5ad1.txt"])
def test_a_document_pasted_whole_as_the_question_is_cut_and_finds_that_document(pipeline, name):
    pasted = (SEEDS / name).read_text(encoding="utf-8")
    response = pipeline.ask(pasted)
    assert_contract(pipeline, response)
    assert response.notice  # longer than max_question_chars: cut, and told so
    assert response.passages and all(h.passage.doc_id == name for h in response.passages)
    assert all(a.citation.doc_id == name for a in response.answers)


# ---------------------------------------------------------------- python -m rag ask


def test_cli_empty_question_argument_exits_2_with_a_message_and_no_traceback(pipeline):
    result = cli("ask", "   ", "--json", *index_args(pipeline))
    assert result.returncode == 2
    stderr = result.stderr.decode("utf-8")
    assert "empty" in stderr and "Traceback" not in stderr
    assert result.stdout == b""


def test_cli_stdin_mode_answers_every_line_in_order_through_bad_lines(pipeline):
    lines = [
        b"",
        b"   \t",
        "\x01\x02科技部党组会议是哪天召开的？".encode("utf-8"),
        b"\xff\xfe not utf-8 \xc3",  # invalid UTF-8 bytes, read with a strict stdin
        ("长" * 100_000).encode("utf-8"),
        SQL.encode("utf-8"),
        b"<script>alert(1)</script>",
        "宁夏科协党组扩大会议由谁主持？".encode("utf-8"),
    ]
    result = cli("ask", "--json", *index_args(pipeline), stdin=b"\n".join(lines) + b"\n", env={"PYTHONIOENCODING": "utf-8:strict"})
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    replies = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]  # strict UTF-8 JSON
    assert len(replies) == len(lines)
    for reply in replies:
        assert set(reply) >= {"question", "answered", "latency_ms", "answers", "passages"}
        assert reply["answered"] == bool(reply["answers"])
    assert replies[0]["answered"] is False and replies[0]["notice"]
    assert replies[1]["answered"] is False and replies[1]["notice"]
    assert replies[2]["answers"][0]["short"] == "10月24日"
    assert str(pipeline.settings.max_question_chars) in replies[4]["notice"]
    assert replies[5]["question"] == SQL
    assert replies[7]["answers"][0]["short"] == "陈红缨"


def test_cli_question_argument_with_invalid_utf8_prints_valid_utf8_json(pipeline):
    question = b"\xff\xfe\x80" + "科技部党组会议是哪天召开的？".encode("utf-8")  # argv arrives surrogate-escaped
    result = subprocess.run(
        [sys.executable, "-m", "rag", "ask", question, "--json", *index_args(pipeline)],
        cwd=ROOT, capture_output=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    reply = json.loads(result.stdout.decode("utf-8"))  # strict: no raw invalid bytes echoed back
    assert reply["answers"][0]["short"] == "10月24日"
