"""The answer path, measured in one run: `python -m benchmarks.reader_bench`.

One path answers every question: retrieval, the trained reader over the top passages, the quote around its span
(rag/answer.py). Measured: quality on the seed set and on the CMRC 2018 trial set (open setting: retrieve from all
256 paragraphs, then answer); CMRC trial questions whose answer the index no longer holds (every passage holding a
gold answer taken out of what retrieval returns) and how many of those abstain; the abstention curve (threshold →
answerable questions refused, answer-removed questions answered) and the threshold in use; the wrong-fact
questions; the reader given the gold paragraph; `ask` latency on the seeds beside the query embedding; `ask` cold
over a 1,000-paragraph corpus; the start to the first answer. Writes benchmarks/reader.json and the section
"The answer path" of benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rag import answer as A
from rag.evaluate import evaluate, load_qa
from rag.pipeline import Pipeline

from .cache import CACHE_DIR
from .corpora import CMRC, WRONG_FACTS, cmrc_available, set_pipeline
from .report import replace_section
from .machine import ROOT

DRCD = ROOT.parent / "shared" / "data" / "DRCD_test.json"
RESULTS = ROOT / "benchmarks" / "results.md"
OUT = ROOT / "benchmarks" / "reader.json"
BEGIN, END = "<!-- reader-bench:begin -->", "<!-- reader-bench:end -->"
KEYS = ("paragraph_r1", "sentence_hit1", "sentence_hit3", "short_f1", "short_em", "abstention_rate_answerable",
        "false_abstention", "abstained_unanswerable", "unanswerable", "latency_p50_ms", "latency_p95_ms")
CURVE = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
REMOVED = 300  # CMRC trial questions asked with their answers' passages removed


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


class _Confidences:
    """The pipeline answering at threshold 0, each question's confidence kept (what the curve is drawn from)."""

    def __init__(self) -> None:
        self.last: float | None = None

    def __enter__(self):
        self.saved = A.ABSTAIN_BELOW, A.extract_answers
        original = A.extract_answers

        def kept(*args, **kwargs):
            answers, evidence = original(*args, **kwargs)
            self.last = evidence.confidence if answers else None
            return answers, evidence

        A.ABSTAIN_BELOW, A.extract_answers = 0.0, kept
        return self

    def __exit__(self, *exc) -> None:
        A.ABSTAIN_BELOW, A.extract_answers = self.saved


def without_answers(pipeline: Pipeline, gold: dict) -> None:
    """Retrieval that never returns a passage whose document holds one of gold["answers"] (the answer removed)."""
    retrieve = pipeline._retrieve

    def removed(index, vector, question, top_k):
        hits = retrieve(index, vector, question, top_k + 10)
        return [h for h in hits if not any(g in index.store.documents[h.passage.doc_id].text for g in gold["answers"])][:top_k]

    pipeline._retrieve = removed


def curve(pipeline: Pipeline, questions: list[dict], removed: int = REMOVED) -> dict:
    """Threshold → share of answerable questions refused, share of answer-removed questions answered (both at once)."""
    answerable, gone = [], []
    with _Confidences() as seen:
        for q in questions:
            seen.last = None
            r = pipeline.ask(q["question"])
            answerable.append(seen.last if r.answered else None)
        twin = Pipeline(pipeline.settings, pipeline.embedder, pipeline.index)
        twin._reader, twin._reader_ready = pipeline.reader, pipeline._reader_ready
        gold = {"answers": []}
        without_answers(twin, gold)
        for q in questions[:removed]:
            gold["answers"] = q["answers"]
            seen.last = None
            r = twin.ask(q["question"])
            gone.append(seen.last if r.answered else None)
    rows = [{"threshold": t,
             "false_abstention": round(sum(c is None or c < t for c in answerable) / len(answerable), 4),
             "removed_answered": round(sum(c is not None and c >= t for c in gone) / len(gone), 4)} for t in CURVE]
    return {"answerable": len(answerable), "removed": len(gone), "rows": rows, "chosen": A.ABSTAIN_BELOW}


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
    """A fresh process as the app starts one (built index; the reader loads in the background and the first question
    waits for it): seconds from the interpreter's start to the first answer."""
    code = """
import time
started = time.perf_counter()
from rag.config import Settings
from rag.pipeline import Pipeline
from pathlib import Path
p = Pipeline.open(Settings.from_env(env={}, index_dir=Path(%r)), build="never")
opened = time.perf_counter() - started
r = p.ask("宁夏科协党组扩大会议由谁主持？")
print(opened, time.perf_counter() - started, r.answers[0].short if r.answers else None)
""" % str(CACHE_DIR / "index-seeds")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=300, text=True)
        opened, first, short = out.stdout.strip().splitlines()[-1].split()
        runs.append((float(opened), float(first)))
    opened, first = np.median(np.array(runs), axis=0)
    return {"open_s": round(float(opened), 2), "first_answer_s": round(float(first), 2), "first_short": short}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reader_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--cold-sample", type=int, default=300)
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--build-drcd", action="store_true", help="build the 1,000-paragraph DRCD index the cold run uses (~15 min)")
    ap.add_argument("--timings-only", action="store_true",
                    help="measure latency, cold and start again into the last benchmarks/reader.json (a quiet machine)")
    ap.add_argument("--limit", type=int, default=0, help="CMRC trial questions asked (0: all 1,002)")
    args = ap.parse_args(argv)
    if args.build_drcd:
        build_drcd_index()
    if args.timings_only:
        return timings_again(args)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    seeds_set, seeds = set_pipeline("seeds")
    seeds.reader  # noqa: B018 - wait for the reader before timing
    out["seeds"] = quality(seeds, seeds_set.questions)
    out["wrong_facts_seeds"] = abstained(seeds, WRONG_FACTS["seeds"])
    out["latency_seeds"] = latency(seeds, [q["question"] for q in seeds_set.questions])
    if cmrc_available():
        from rag.reader.evaluate import evaluate_gold

        cmrc_set, cmrc = set_pipeline("cmrc")
        questions = cmrc_set.questions[: args.limit or None]
        out["cmrc"] = quality(cmrc, questions)
        out["wrong_facts_cmrc"] = abstained(cmrc, WRONG_FACTS["cmrc"])
        out["abstention"] = curve(cmrc, questions)
        reader = cmrc.reader
        out["cmrc_gold_paragraph"] = evaluate_gold(reader.model, reader.tokenizer, CMRC, limit=args.limit)
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
    seeds.reader  # noqa: B018
    out["latency_seeds"] = latency(seeds, [q["question"] for q in seeds_set.questions])
    if not args.skip_cold:
        out["cold_drcd"] = cold(args.cold_sample) or cold(args.cold_sample, "cmrc")
    out["start_to_first_answer_s"] = start_to_first_answer()
    out["timings_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    write_section(out)
    print(json.dumps({k: out[k] for k in ("latency_seeds", "cold_drcd", "start_to_first_answer_s") if k in out}, ensure_ascii=False))
    return 0


def write_section(out: dict) -> None:
    """Replace the answer path's section of results.md with this run's tables."""
    rows = []
    for name in ("seeds", "cmrc"):
        if name in out:
            m = out[name]
            rows.append(f"| {name} | {m['paragraph_r1']} | {m['sentence_hit1']} | {m['sentence_hit3']} | {m['short_f1']} | "
                        f"{m['short_em']} | {m['false_abstention']} ({m['abstention_rate_answerable']:.1%}) | "
                        f"{m['abstained_unanswerable']}/{m['unanswerable']} | {m['latency_p50_ms']} / {m['latency_p95_ms']} |")
    lat, start = out["latency_seeds"], out.get("start_to_first_answer_s")
    lines = [
        BEGIN,
        "## The answer path",
        "",
        f"`python -m benchmarks.reader_bench`, {out['date']}. The reader (models/reader.safetensors) reads the top passages of",
        "each question and the quote is the sentence around its best span (rag/answer.py). CMRC is the open setting: every",
        "question is asked against all 256 trial paragraphs.",
        "",
        "| set | paragraph R@1 | sentence hit@1 | hit@3 | short F1 | short EM | false abstentions | unanswerable abstained | ask p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if "abstention" in out:
        c = out["abstention"]
        chosen = next((r for r in c["rows"] if abs(r["threshold"] - c["chosen"]) < 1e-9), None)
        lines += [f"Abstention: {c['answerable']} answerable CMRC trial questions, and the first {c['removed']} asked again with every "
                  "passage holding their answer removed from what retrieval returns (the documents no longer say). "
                  f"Threshold in use: {c['chosen']}"
                  + (f" ({chosen['false_abstention']:.1%} of answerable refused, {1 - chosen['removed_answered']:.1%} of answer-removed "
                     "abstain)." if chosen else "."), "",
                  "| threshold | answerable refused | answer-removed answered |", "|---|---|---|",
                  *[f"| {r['threshold']} | {r['false_abstention']:.1%} | {r['removed_answered']:.1%} |" for r in c["rows"]], ""]
    lines += [
        "- Wrong-fact questions (year, ordinal, place, organisation, person changed) that abstain: seeds "
        f"{out['wrong_facts_seeds']}" + (f"; CMRC paragraphs {out['wrong_facts_cmrc']}" if "wrong_facts_cmrc" in out else "") + ".",
        (f"- The reader given the gold paragraph (CMRC trial, {out['cmrc_gold_paragraph']['n']} q): F1 {out['cmrc_gold_paragraph']['f1']}, "
         f"EM {out['cmrc_gold_paragraph']['em']} (published BERT-base on CMRC dev: F1 84)." if "cmrc_gold_paragraph" in out else ""),
        "- `ask` on the seeds, 3 passes, one thread, without the query embedding (the benchmark caches query vectors; add it "
        f"for a new question): p50 {lat['ask_p50_ms']} ms, p95 {lat['ask_p95_ms']} ms; the query embedding alone "
        f"{lat['embed_p50_ms']} ms ({lat['ask_over_embedding']}× it).",
        (f"- `ask` cold over the {out['cold_drcd']['corpus']} index, {out['cold_drcd']['questions']} questions each asked once in a fresh "
         f"process: p50 {out['cold_drcd']['p50_ms']} ms, p95 {out['cold_drcd']['p95_ms']} ms, max {out['cold_drcd']['max_ms']} ms."
         if out.get("cold_drcd") else "- `ask` cold over DRCD: not run."),
        (f"- Start to first answer (a fresh process as the app starts, built index; the first question waits for the reader): "
         f"{start['first_answer_s']} s ({start['open_s']} s to open the index, the reader loading in the background)."
         if isinstance(start, dict) and "open_s" in start else ""),
        END,
    ]
    replace_section(RESULTS, BEGIN, END, "\n".join(line for line in lines))


if __name__ == "__main__":
    sys.exit(main())
