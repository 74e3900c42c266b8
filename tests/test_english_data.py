"""The English dev set of issue 13 is well-formed: every gold span is in its paragraph or file, and the counts hold."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
FIELDS = {"question", "answers", "source", "kind", "lang"}


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def is_english(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isascii() for ch in letters) / len(letters) > 0.8


def test_english_cmrc_counts_and_fields():
    items = rows("english_cmrc.jsonl")
    assert len(items) >= 160
    assert len({q["source"] for q in items}) >= 100
    assert len({q["qid"] for q in items}) == len(items)
    assert len({q["question"] for q in items}) == len(items)
    assert len({q["kind"] for q in items}) >= 7
    for q in items:
        assert FIELDS | {"qid", "zh_question"} <= set(q), q
        assert q["lang"] == "en" and is_english(q["question"]), q["question"]
        assert q["answers"] and all(isinstance(a, str) and a for a in q["answers"]), q
        assert q["qid"].startswith(q["source"] + "_QUERY_"), q


@pytest.mark.skipif(not CMRC.is_file(), reason=f"the CMRC 2018 trial set is not at {CMRC}")
def test_english_cmrc_answers_are_the_gold_spans_of_their_paragraph():
    from rag.evaluate import load_squad

    documents, _ = load_squad(CMRC)  # the paragraph ids the benchmarks' CMRC index uses
    paragraphs = {d.doc_id: d.text for d in documents}
    data = json.loads(CMRC.read_text(encoding="utf-8"))
    questions = {qa["id"]: qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]}
    for q in rows("english_cmrc.jsonl"):
        assert q["source"] in paragraphs, q["source"]
        original = questions[q["qid"]]
        assert q["zh_question"] == original["question"]
        gold = {a["text"] for a in original["answers"]}
        for answer in q["answers"]:
            assert answer in gold, (q["qid"], answer)
            assert answer in paragraphs[q["source"]], (q["qid"], answer)


def test_english_seed_answers_are_in_their_files():
    items = rows("english_seeds.jsonl")
    answerable = [q for q in items if q["answers"]]
    unanswerable = [q for q in items if not q["answers"]]
    assert len(items) >= 30 and len(answerable) >= 20 and len(unanswerable) >= 10
    existing = {q["question"] for q in rows("seed_qa.jsonl")}
    assert not existing & {q["question"] for q in items}
    assert any(q["question"] == "Who is the minister of science and technology?" and q["answers"] == ["王志刚"]
               and q["source"] == "000_8167ffdbf6281ae2.txt" for q in items)
    for q in items:
        assert FIELDS <= set(q) and q["lang"] == "en" and is_english(q["question"]), q
    for q in answerable:
        text = (ROOT / "seeds" / q["source"].split("#")[0]).read_text(encoding="utf-8")
        for answer in q["answers"]:
            assert answer in text, (q["question"], answer)
    for q in unanswerable:
        assert q["source"] is None and q["kind"] == "unanswerable"


def test_the_hand_written_english_training_questions_come_from_the_training_sets_only():
    """data/english_train.jsonl trains the reader and the query adapter: never a trial (validation) question."""
    items = [json.loads(line) for line in (ROOT / "data" / "english_train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 3000 and len({q["id"] for q in items}) == len(items)
    assert {q["set"] for q in items} == {"cmrc2018_train", "drcd_test"}
    for q in items:
        assert not q["id"].startswith("TRIAL"), q
        assert q["id"].startswith("TRAIN_") == (q["set"] == "cmrc2018_train"), q
        assert not re.search(r"[\u3400-\u9fff]", q["question"]) and q["zh_question"], q  # Dương Đình Nghệ is English too
