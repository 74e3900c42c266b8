"""👍 / 👎 and corrections: stored beside the index (never inside it), exported in the seed-set format, scored by eval."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.feedback import FeedbackProblem, FeedbackStore, answer_record, feedback_path

ROOT = Path(__file__).resolve().parent.parent


def test_feedback_lives_beside_the_index_folder_not_inside_it(tmp_path):
    index = tmp_path / ".rag_index"
    assert feedback_path(index) == tmp_path / ".rag_index.feedback.sqlite"
    assert index not in feedback_path(index).parents


def test_a_thumbs_down_with_a_correction_and_a_thumbs_up_are_exported_as_seed_questions(pipeline, seed_settings, tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    version = pipeline.index.manifest.get("built_at")
    liked = answer_record(pipeline.ask("宁夏科协党组扩大会议由谁主持？"), version)
    follow = pipeline.ask("他是什么职务？", history=[{"question": "宁夏科协党组扩大会议由谁主持？", "answer": "陈红缨"}])
    disliked = answer_record(follow, version)
    nothing = answer_record(pipeline.ask("科技部党组会议在哪里召开？"), version)
    store.record(liked, True, user="reader")
    row = store.record(disliked, False)
    store.correct(row, "自治区科协党组书记、主席")
    unsaid = store.record(nothing, False)
    store.correct(unsaid, None, documents_dont_say=True)
    store.record(liked, False)  # a 👎 without a correction is counted, not exported
    counts = store.counts()
    assert (counts.up, counts.down, counts.corrected) == (1, 3, 2)

    target = tmp_path / "feedback.jsonl"
    assert store.export(target) == 3
    items = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert items[0] == {**items[0], "question": "宁夏科协党组扩大会议由谁主持？", "answers": ["陈红缨"],
                        "source": "002_0676de67ad7a5ad1.txt", "feedback": "up", "user": "reader", "index_version": version}
    assert items[1]["question"] == "陈红缨是什么职务？" and items[1]["asked"] == "他是什么职务？"  # as read: it stands alone
    assert items[1]["answers"] == ["自治区科协党组书记、主席"]
    assert items[2]["answers"] == [] and items[2]["kind"] == "unanswerable"

    done = subprocess.run([sys.executable, "-m", "rag", "eval", "--qa", str(target), "--index", str(seed_settings.index_dir), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    scored = json.loads(done.stdout)
    assert scored["questions"] == 3 and scored["answerable"] == 2 and scored["unanswerable"] == 1
    assert scored["short_em"] == 1.0 and scored["paragraph_r1"] == 1.0


def test_a_correction_needs_a_text_or_the_documents_dont_say(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite")
    row = store.record({"question": "q", "answered": False, "citations": []}, False)
    with pytest.raises(FeedbackProblem, match="the right answer"):
        store.correct(row, "   ")


def test_feedback_export_from_the_command_line_names_the_counts_and_a_bad_target_is_one_line(seed_settings, tmp_path):
    store = FeedbackStore(feedback_path(seed_settings.index_dir))
    store.record({"question": "科技部党组会议是哪天召开的？", "answered": True, "short": "10月24日", "answer": "10月24日，…",
                  "citations": [{"doc_id": "000_8167ffdbf6281ae2.txt"}]}, True)
    target = tmp_path / "out.jsonl"
    base = [sys.executable, "-m", "rag", "feedback", "export"]
    done = subprocess.run([*base, str(target), "--index", str(seed_settings.index_dir)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "wrote 1 item" in done.stdout and "👍 1" in done.stdout
    assert json.loads(target.read_text(encoding="utf-8"))["answers"] == ["10月24日"]
    bad = subprocess.run([*base, str(tmp_path / "missing" / "out.jsonl"), "--index", str(seed_settings.index_dir)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: cannot write") and "Traceback" not in bad.stderr


def test_an_unwritable_feedback_file_is_one_clear_problem(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(FeedbackProblem, match="cannot be opened"):
        FeedbackStore(blocked / "f.sqlite").record({"question": "q", "citations": []}, True)
