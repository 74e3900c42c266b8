"""The benchmarks' smallest runs: a change that breaks a benchmark fails here, not on the next full run."""
from __future__ import annotations

import numpy as np


def _material():
    from benchmarks.scale import Material

    sentences = ["科技部召开党组会议", "王志刚主持会议", "宁夏科协召开扩大会议", "陈红缨主持会议", "重庆市科协印发实施意见"]
    vocab = ["科技部", "召开", "党组", "会议", "王志刚", "主持", "宁夏", "科协", "扩大", "陈红缨", "重庆市", "印发", "实施", "意见"]
    ids = {w: i for i, w in enumerate(vocab)}
    tokens = [["科技部", "召开", "党组", "会议"], ["王志刚", "主持", "会议"], ["宁夏", "科协", "召开", "扩大", "会议"],
              ["陈红缨", "主持", "会议"], ["重庆市", "科协", "印发", "实施", "意见"]]
    queries = [["王志刚", "主持"], ["宁夏", "科协", "会议"], ["实施", "意见"]]
    flat = [ids[t] for sentence in tokens for t in sentence]
    qflat = [ids[t] for q in queries for t in q]
    arrays = {
        "per_passage": np.array([1, 2], dtype=np.int32),
        "sentence_doc": np.array([0, 0, 1, 1, 2], dtype=np.int32),
        "sentence_token_flat": np.array(flat, dtype=np.int32),
        "sentence_token_offsets": np.cumsum([0] + [len(t) for t in tokens]).astype(np.int64),
        "query_token_flat": np.array(qflat, dtype=np.int32),
        "query_token_offsets": np.cumsum([0] + [len(q) for q in queries]).astype(np.int64),
    }
    return Material(arrays, vocab, sentences)


def test_the_keyword_scale_benchmark_measures_a_small_corpus():
    # `python -m benchmarks --quick` crashed here: the product's keyword_search asks the index for its vector store
    from benchmarks.scale import measure_keywords

    result = measure_keywords(200, _material(), queries=3)
    assert result["n"] == 200 and result["queries"] == 3 and result["postings"] > 0
    assert result["p50_ms"] >= 0 and result["bytes_per_passage"] > 0


def test_the_answer_benchmark_draws_the_abstention_curve_and_writes_its_section(pipeline, seed_questions, tmp_path, monkeypatch):
    # python -m benchmarks.reader_bench on three seed questions: the curve (threshold → answerable refused, answer-removed
    # answered) and the results section it writes
    from benchmarks import reader_bench

    answerable = [q for q in seed_questions if q["answers"] and not q["question"].isascii()][:3]
    result = reader_bench.curve(pipeline, answerable, removed=3)
    rows = result["rows"]
    assert [r["threshold"] for r in rows] == list(reader_bench.CURVE) and result["answerable"] == result["removed"] == 3
    refused = [r["false_abstention"] for r in rows]
    answered = [r["removed_answered"] for r in rows]
    assert refused == sorted(refused) and answered == sorted(answered, reverse=True)  # a higher bar refuses more
    assert refused[0] == 0.0  # these three are answered
    results = tmp_path / "results.md"
    results.write_text(f"# Results\n\n{reader_bench.BEGIN}\nstale figures\n{reader_bench.END}\n", encoding="utf-8")
    monkeypatch.setattr(reader_bench, "RESULTS", results)
    seeds = {"paragraph_r1": 1.0, "sentence_hit1": 1.0, "sentence_hit3": 1.0, "short_f1": 90.0, "short_em": 0.8,
             "false_abstention": 0, "abstention_rate_answerable": 0.0, "abstained_unanswerable": 0, "unanswerable": 0,
             "latency_p50_ms": 1.0, "latency_p95_ms": 2.0}
    reader_bench.write_section({"date": "today", "seeds": seeds, "abstention": result, "wrong_facts_seeds": "1/1",
                                "latency_seeds": {"ask_p50_ms": 1.0, "ask_p95_ms": 2.0, "embed_p50_ms": 0.5, "ask_over_embedding": 2.0}})
    text = results.read_text(encoding="utf-8")
    assert "stale figures" not in text and "| threshold | answerable refused | answer-removed answered |" in text
    assert f"Threshold in use: {result['chosen']}" in text
