"""`ask` latency: end to end and stage by stage on the seed questions, start-up to the first answer, a huge question."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager

from .machine import ROOT, median, percentiles, ratio, time_ms

def ask_latency(pipeline, questions: list[dict], repeats: int) -> dict:
    """p50/p95 of Pipeline.ask and of embedding the question alone, interleaved question by question; medians over repeats."""
    from rag.text import normalize

    for q in questions[:5]:
        pipeline.ask(q["question"])  # warm caches (jieba, OpenCC, SQLite pages)
    asks, embeds = [], []
    for _ in range(repeats):
        ask_ms, embed_ms = [], []
        for q in questions:
            embed_ms.append(time_ms(pipeline.embedder.encode_queries, [normalize(q["question"])])[0])
            ask_ms.append(time_ms(pipeline.ask, q["question"])[0])
        asks.append(percentiles(ask_ms, 50, 95, 99))
        embeds.append(percentiles(embed_ms, 50, 95))
    out = {"questions": len(questions), "repeats": repeats}
    out.update({f"{p}_ms": round(median(r[p] for r in asks), 2) for p in ("p50", "p95", "p99")})
    out.update({f"query_embed_{p}_ms": round(median(r[p] for r in embeds), 2) for p in ("p50", "p95")})
    out["ask_p50_over_embed_p50"] = ratio(out["p50_ms"], out["query_embed_p50_ms"])
    out["per_repeat"] = [{"ask": a, "embed": e} for a, e in zip(asks, embeds)]
    return out


# The calls Pipeline.ask makes, timed where they happen: (module, attribute, stage).
PROBES = (
    ("rag.pipeline", "normalize", "normalise (NFKC, OpenCC)"),
    ("rag.pipeline", "tokens", "query tokens (jieba)"),
    ("rag.pipeline", "retrieve", "retrieve"),
    ("rag.retrieve", "dense_search", "dense search (FAISS)"),
    ("rag.retrieve", "keyword_search", "keyword search (bm25s)"),
    ("rag.retrieve", "fuse", "fusion"),
    ("rag.retrieve", "fuse_scores", "fusion"),
    ("rag.pipeline", "extract_answers", "answer step"),
    ("rag.answer", "candidate_spans", "short span (candidate_spans)"),
)
STAGES = (
    "query embedding", "normalise (NFKC, OpenCC)", "query tokens (jieba)", "dense search (FAISS)", "keyword search (bm25s)",
    "fusion", "passage lookup (rest of retrieve)", "sentence scoring (rest of extract_answers)", "short span (candidate_spans)",
    "other (question cleaning, follow-up, titles)",
)


def stage_latency(pipeline, questions: list[dict], repeats: int) -> dict:
    """Pipeline.ask with its inner calls timed in place: p50/p95 of each stage's exclusive time, per question."""
    import importlib

    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    spent: dict[str, float] = {}
    probes = [(pipeline.embedder, "encode_queries", "query embedding")]
    probes += [(importlib.import_module(module), name, stage) for module, name, stage in PROBES]
    with timing_calls(probes, spent):
        for _ in range(repeats):
            for q in questions:
                spent.clear()
                total, _ = time_ms(pipeline.ask, q["question"])
                for name, ms in exclusive_stages(spent, total).items():
                    stages[name].append(ms)
    rows = {name: {**percentiles(samples, 50, 95), "mean": round(sum(samples) / max(1, len(samples)), 2)} for name, samples in stages.items()}
    total_p50 = sum(r["p50"] for r in rows.values())
    for r in rows.values():
        r["share_of_sum_p50"] = ratio(r["p50"], total_p50, 3)
    total_mean = sum(r["mean"] for r in rows.values())
    for r in rows.values():
        r["share_of_mean"] = ratio(r["mean"], total_mean, 3)
    return {"stages": rows, "sum_of_stage_p50_ms": round(total_p50, 2), "sum_of_stage_means_ms": round(total_mean, 2),
            "questions": len(questions), "repeats": repeats}


def exclusive_stages(spent: dict[str, float], total_ms: float) -> dict[str, float]:
    """Each stage's own milliseconds: a call's time less the timed calls inside it."""
    get = lambda name: spent.get(name, 0.0)  # noqa: E731
    inside_retrieve = get("dense search (FAISS)") + get("keyword search (bm25s)") + get("fusion")
    out = {name: get(name) for name in STAGES if name in spent}
    out["passage lookup (rest of retrieve)"] = max(0.0, get("retrieve") - inside_retrieve)
    out["sentence scoring (rest of extract_answers)"] = max(0.0, get("answer step") - get("short span (candidate_spans)"))
    out["other (question cleaning, follow-up, titles)"] = max(0.0, total_ms - get("query embedding") - get("normalise (NFKC, OpenCC)")
                                                               - get("query tokens (jieba)") - get("retrieve") - get("answer step"))
    return {name: out.get(name, 0.0) for name in STAGES}


@contextmanager
def timing_calls(probes, spent: dict[str, float]):
    """For the block, wrap each (owner, attribute, stage) so its calls add their milliseconds to spent[stage]."""
    restore = []
    for owner, name, stage in probes:
        original = getattr(owner, name, None)
        if original is None:
            continue  # a function this version of rag does not have
        restore.append((owner, name, original, name in vars(owner)))
        setattr(owner, name, _timed(original, stage, spent))
    try:
        yield
    finally:
        for owner, name, original, own in reversed(restore):
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


def _timed(function, stage: str, spent: dict[str, float]):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[stage] = spent.get(stage, 0.0) + (time.perf_counter() - started) * 1000

    return timed


def long_question_latency(pipeline, length: int = 100_000, repeats: int = 3) -> dict:
    """ask time for a question of `length` characters (a real question padded with document text)."""
    document = next(iter(pipeline.index.store.documents.values())).text
    question = "科技部党组会议是哪天召开的？" + (document * (length // max(1, len(document)) + 1))
    question = question[:length]
    from rag.pipeline import clean_question
    from rag.text import normalize

    cut, _ = clean_question(question, pipeline.settings.max_question_chars)
    samples, embed_samples, response = [], [], None
    for _ in range(repeats):
        embed_samples.append(time_ms(pipeline.embedder.encode_queries, [normalize(cut)])[0])
        ms, response = time_ms(pipeline.ask, question)
        samples.append(ms)
    return {
        "chars": len(question),
        "median_ms": round(median(samples), 2),
        "embed_cut_question_ms": round(median(embed_samples), 2),
        "max_question_chars": pipeline.settings.max_question_chars,
        "was_cut": bool(response and response.notice),
    }


_STARTUP = r"""
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from dataclasses import replace
from rag.config import Settings
from rag.pipeline import Pipeline
imported = time.perf_counter()
settings = replace(Settings.from_env(), corpus=(Path(sys.argv[1]),), index_dir=Path(sys.argv[2]))
pipeline = Pipeline.open(settings)
opened = time.perf_counter()
response = pipeline.ask(sys.argv[3])
answered = time.perf_counter()
print(json.dumps({"import_s": imported - started, "open_s": opened - imported, "first_ask_s": answered - opened,
                  "answered": response.answered}))
"""


def startup_latency(corpus, index_dir, question: str, repeats: int) -> dict:
    """Seconds from `python -c` starting to the first answer over a built index (import, open, ask), median of repeats."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", _STARTUP, str(corpus), str(index_dir), question],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"the start-up probe failed: {completed.stderr.strip()[-400:]}")
        run = json.loads(completed.stdout.strip().splitlines()[-1])
        run["total_s"] = wall
        runs.append(run)
    out = {key: round(median(r[key] for r in runs), 3) for key in ("total_s", "import_s", "open_s", "first_ask_s")}
    out["interpreter_s"] = round(out["total_s"] - out["import_s"] - out["open_s"] - out["first_ask_s"], 3)
    out["repeats"] = repeats
    out["answered"] = all(r["answered"] for r in runs)
    return out
