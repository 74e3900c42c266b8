"""The trained reader against the rule path, side by side in one run: `python -m benchmarks.reader_bench`.

Three answer paths over the same retrieval: `short` (the default: the rule path quotes, the reader picks the
short answer inside the quote and vetoes), `full` (the reader picks passage, quote and span) and `off` (the
hand-set rules alone). Quality on the seed set and the CMRC 2018 trial set (open setting: retrieve from all 256 paragraphs,
then answer), the reader given the gold paragraph, the wrong-fact questions, `ask` latency on the
seeds as a ratio to the query embedding, `ask` cold over a 1,000-paragraph corpus (DRCD test, 300
traditional questions, each asked once), and the start to the first answer. Writes
benchmarks/reader.json and the section "Reader against the rule path" of benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.evaluate import evaluate, load_qa
from rag.pipeline import Pipeline

from .cache import CACHE_DIR
from .corpora import CMRC, cmrc_available
from .report import replace_section
from .machine import ROOT
from .reader_calibrate import WRONG_FACTS, set_pipeline

DRCD = ROOT.parent / "shared" / "data" / "DRCD_test.json"
RESULTS = ROOT / "benchmarks" / "results.md"
OUT = ROOT / "benchmarks" / "reader.json"
BEGIN, END = "<!-- reader-bench:begin -->", "<!-- reader-bench:end -->"
KEYS = ("paragraph_r1", "sentence_hit1", "sentence_hit3", "short_f1", "short_em", "abstention_rate_answerable",
        "false_abstention", "abstained_unanswerable", "unanswerable", "latency_p50_ms", "latency_p95_ms")


PATHS = ("short", "full", "off")


def twins(pipeline: Pipeline) -> dict[str, Pipeline]:
    """The same index and embedder, answering by each path."""
    return {path: Pipeline(replace(pipeline.settings, reader=path), pipeline.embedder, pipeline.index) for path in PATHS}


def quality(pipeline: Pipeline, questions: list[dict]) -> dict:
    found = evaluate(pipeline, questions)
    return {k: found[k] for k in KEYS if k in found}


def abstained(pipeline: Pipeline, path: Path) -> str:
    questions = load_qa(path)
    return f"{sum(not pipeline.ask(q['question']).answered for q in questions)}/{len(questions)}"


def latency(pipeline: Pipeline, questions: list[str], repeats: int = 3) -> dict:
    asks, embeds = [], []
    for _ in range(repeats):
        for q in questions:
            started = time.perf_counter()
            pipeline.ask(q)
            asks.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            pipeline.embedder.inner.encode_queries([q]) if hasattr(pipeline.embedder, "inner") else pipeline.embedder.encode_queries([q])
            embeds.append((time.perf_counter() - started) * 1000)
    p50, p95, e50 = np.percentile(asks, 50), np.percentile(asks, 95), np.percentile(embeds, 50)
    return {"ask_p50_ms": round(float(p50), 1), "ask_p95_ms": round(float(p95), 1), "embed_p50_ms": round(float(e50), 1),
            "ask_over_embedding": round(float(p50 / e50), 2)}


def cold(sample: int, corpus: str = "drcd") -> dict | None:
    """A fresh process over a built index: each of `sample` questions asked once (drcd: 1,000 paragraphs, traditional
    questions; cmrc: the 256 trial paragraphs, when the DRCD index is not built: it takes ~15 minutes of embedding)."""
    index = CACHE_DIR / f"index-{corpus}"
    source = DRCD if corpus == "drcd" else CMRC
    if not (index / "manifest.json").exists() or not source.is_file():
        return None
    code = f"""
import json, sys, time
from pathlib import Path
from rag.config import Settings
from rag.evaluate import load_squad
from rag.pipeline import Pipeline
_, questions = load_squad(Path({str(source)!r}))
pipeline = Pipeline.open(Settings.from_env(env={{}}, index_dir=Path({str(index)!r})), build="never")
pipeline.reader  # the reader and the glossary load in the background at start: a start is timed on its own
from rag.crosslingual import glossary_for
glossary_for(pipeline.index)
times = []
for q in questions[::max(1, len(questions) // {sample})][:{sample}]:
    started = time.perf_counter(); pipeline.ask(q["question"]); times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=1800, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    times = json.loads(result.stdout.strip().splitlines()[-1])
    return {"corpus": corpus, "questions": len(times), "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1), "max_ms": round(float(max(times)), 1)}


def start_to_first_answer() -> dict:
    """A fresh process as the app starts one (built index, the reader loading in the background): seconds to the
    first answer, and to the first answer whose short answer the reader gave."""
    code = """
import time
started = time.perf_counter()
from rag.config import Settings
from rag.pipeline import Pipeline
from pathlib import Path
p = Pipeline.open(Settings.from_env(env={}, index_dir=Path(%r)), build="never")
p.wait_for_reader = False
p.ask("宁夏科协党组扩大会议由谁主持？")
first = time.perf_counter() - started
p.reader
p.ask("宁夏科协党组扩大会议由谁主持？")
print(first, time.perf_counter() - started)
""" % str(CACHE_DIR / "index-seeds")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=300, text=True)
        runs.append([float(x) for x in out.stdout.strip().splitlines()[-1].split()])
    first, read = np.median(np.array(runs), axis=0)
    return {"first_answer_s": round(float(first), 2), "first_reader_answer_s": round(float(read), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reader_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--cold-sample", type=int, default=300)
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--build-drcd", action="store_true", help="build the 1,000-paragraph DRCD index the cold run uses (~15 min)")
    ap.add_argument("--timings-only", action="store_true",
                    help="measure latency, cold and start again into the last benchmarks/reader.json (a quiet machine)")
    args = ap.parse_args(argv)
    if args.build_drcd:
        build_drcd_index()
    if args.timings_only:
        return timings_again(args)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    seeds_set, seeds = set_pipeline("seeds")
    paths = twins(seeds)
    for p in paths.values():
        p.reader  # noqa: B018 - wait for the reader before timing
    out["seeds"] = {name: quality(p, seeds_set.questions) for name, p in paths.items()}
    out["wrong_facts_seeds"] = {name: abstained(p, WRONG_FACTS["seeds"]) for name, p in paths.items()}
    asked = [q["question"] for q in seeds_set.questions]
    out["latency_seeds"] = {name: latency(p, asked) for name, p in paths.items()}
    if cmrc_available():
        from rag.reader.evaluate import evaluate_gold

        cmrc_set, cmrc = set_pipeline("cmrc")
        paths = twins(cmrc)
        out["cmrc"] = {name: quality(p, cmrc_set.questions) for name, p in paths.items()}
        out["wrong_facts_cmrc"] = {name: abstained(p, WRONG_FACTS["cmrc"]) for name, p in paths.items()}
        reader = paths["short"].reader
        out["cmrc_gold_paragraph"] = evaluate_gold(reader.model, reader.tokenizer, CMRC)
    if not args.skip_cold:
        out["cold_drcd"] = cold(args.cold_sample) or cold(args.cold_sample, "cmrc")
    out["start_to_first_answer_s"] = start_to_first_answer()
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    write_section(out)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def build_drcd_index() -> None:
    """The DRCD test set's 1,000 paragraphs as an index in benchmarks/.cache/index-drcd (for the cold run)."""
    from embeddings import load_embedder
    from rag.config import Settings
    from rag.evaluate import load_squad
    from rag.index import build_index_from_documents

    folder = CACHE_DIR / "index-drcd"
    if (folder / "manifest.json").exists():
        return
    documents, _ = load_squad(DRCD)
    settings = Settings.from_env(env={}, corpus=(), index_dir=folder)
    report = build_index_from_documents(settings, load_embedder("e5-small", 2), documents, progress=False)
    print(f"index-drcd: {len(documents)} documents in {report.seconds:.0f} s", file=sys.stderr)


def timings_again(args) -> int:
    """Latency, cold and start-to-first-answer measured again into the last run's results."""
    out = json.loads(OUT.read_text(encoding="utf-8"))
    seeds_set, seeds = set_pipeline("seeds")
    paths = twins(seeds)
    for p in paths.values():
        p.reader  # noqa: B018
    asked = [q["question"] for q in seeds_set.questions]
    out["latency_seeds"] = {name: latency(p, asked) for name, p in paths.items()}
    if not args.skip_cold:
        out["cold_drcd"] = cold(args.cold_sample) or cold(args.cold_sample, "cmrc")
    out["start_to_first_answer_s"] = start_to_first_answer()
    out["timings_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    write_section(out)
    print(json.dumps({k: out[k] for k in ("latency_seeds", "cold_drcd", "start_to_first_answer_s") if k in out}, ensure_ascii=False))
    return 0


def write_section(out: dict) -> None:
    """Replace the reader section of results.md with this run's tables."""
    rows = []
    for name in ("seeds", "cmrc"):
        if name not in out:
            continue
        for path in PATHS:
            m = out[name][path]
            rows.append(f"| {name} | {path} | {m['paragraph_r1']} | {m['sentence_hit1']} | {m['sentence_hit3']} | {m['short_f1']} | "
                        f"{m['short_em']} | {m['false_abstention']} ({m['abstention_rate_answerable']:.1%}) | "
                        f"{m['abstained_unanswerable']}/{m['unanswerable']} | {m['latency_p50_ms']} / {m['latency_p95_ms']} |")
    lat = out["latency_seeds"]
    text = "\n".join([
        BEGIN,
        "## Reader against the rule path",
        "",
        f"`python -m benchmarks.reader_bench`, {out['date']}. One run, one index per set, the same retrieval. `short` (the default) is",
        "the rule path's quote with the trained reader's span inside it as the short answer (and rag/facts.py's check); `full`",
        "is the reader alone choosing passage, quote and span (rag/answer.py); `off` the hand-set rules alone (rag/rules.py).",
        "CMRC is the open setting: every question is asked against all 256 trial paragraphs.",
        "",
        "| set | path | paragraph R@1 | sentence hit@1 | hit@3 | short F1 | short EM | false abstentions | unanswerable abstained | ask p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- Wrong-fact questions (year, ordinal, place, organisation, person changed) that abstain: seeds "
        + ", ".join(f"{p} {out['wrong_facts_seeds'][p]}" for p in PATHS)
        + ("; CMRC paragraphs " + ", ".join(f"{p} {out['wrong_facts_cmrc'][p]}" for p in PATHS) if "wrong_facts_cmrc" in out else "") + ".",
        (f"- The reader given the gold paragraph (CMRC trial, {out['cmrc_gold_paragraph']['n']} q): F1 {out['cmrc_gold_paragraph']['f1']}, "
         f"EM {out['cmrc_gold_paragraph']['em']} (published BERT-base on CMRC dev: F1 84)." if "cmrc_gold_paragraph" in out else ""),
        "- `ask` on the seeds, 3 passes, without the query embedding (the benchmark caches query vectors; add it for a first "
        "question), p50 (p95) and the ratio to the query embedding ("
        f"{lat['short']['embed_p50_ms']} ms): " + "; ".join(f"{p} {lat[p]['ask_p50_ms']} ms ({lat[p]['ask_p95_ms']}), "
                                                           f"{lat[p]['ask_over_embedding']}×" for p in PATHS) + ".",
        (f"- `ask` cold over the {out['cold_drcd']['corpus']} index, {out['cold_drcd']['questions']} questions each asked once in a fresh "
         f"process: p50 {out['cold_drcd']['p50_ms']} ms, p95 {out['cold_drcd']['p95_ms']} ms, max {out['cold_drcd']['max_ms']} ms."
         if out.get("cold_drcd") else "- `ask` cold over DRCD: not run."),
        (f"- Start to first answer (a fresh process as the app starts, built index): {out['start_to_first_answer_s']['first_answer_s']} s; "
         f"the reader loads in the background meanwhile (the first seconds' short answers come from the rule path), and the "
         f"first answer with the reader's short answer comes at {out['start_to_first_answer_s']['first_reader_answer_s']} s."
         if isinstance(out.get("start_to_first_answer_s"), dict) else ""),
        END,
    ])
    replace_section(RESULTS, BEGIN, END, text)


if __name__ == "__main__":
    sys.exit(main())
