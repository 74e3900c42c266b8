"""Choose the English answer path's threshold: `python -m benchmarks.english_calibrate [--weights FILE]`.

English questions over Chinese documents are read by the trained reader alone (rag/answer.py's extract_answers):
the hand-set English rules abstained on 54 % of the answerable English CMRC trial questions. This records, once per
question of the English dev set (tests/data/english_cmrc.jsonl, english_seeds.jsonl and the English questions of
seed_qa.jsonl), the readings in the order the answer selector ranks them (rag/selector.py; the reader's first alone
when there is none) with their confidences, then prints, per threshold, answer-sentence hit@1 (gold inside the
quote of the first reading that clears it), false abstentions and the unanswerable questions abstained on. It changes nothing:
the chosen value goes into rag/answer.py (ABSTAIN_BELOW_LATIN) by hand. Writes benchmarks/english_calibration.json.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from rag import answer as A
from rag.crosslingual import glossary_for
from rag.evaluate import load_qa
from rag.question import analyse
from rag.reader.runtime import WEIGHTS, Reader

from .machine import ROOT, log
from .corpora import set_pipeline

SETS = {"cmrc": [ROOT / "tests" / "data" / "english_cmrc.jsonl"],
        "seeds": [ROOT / "tests" / "data" / "english_seeds.jsonl", ROOT / "tests" / "data" / "seed_qa.jsonl"]}
OUT = ROOT / "benchmarks" / "english_calibration.json"
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def record(pipeline, reader, question: dict) -> dict:
    """The question's readings in the order the product weighs them, each with its confidence and whether its quote
    holds the gold: with the answer selector, the product quotes the first reading whose confidence clears the
    threshold; without it, only the first reading counts."""
    from rag.query_adapter import retrieval_vector
    from rag.selector import selector, sentence_similarity

    q = analyse(question["question"])
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    hits = pipeline._retrieve(pipeline.index, vector, q, 8)
    unknown = glossary_for(pipeline.index).unknown_share(q.text)
    chooser = selector() if pipeline.settings.answer_selector else None
    readings = [] if unknown > A.UNKNOWN_CONCEPTS_ABOVE else (
        A.selected_readings(reader, pipeline.index, q, hits, chooser, similarity=sentence_similarity(
            pipeline.embedder, retrieval_vector(vector, q, pipeline.settings.query_adapter))) if chooser is not None
        else A.read_passages(reader, pipeline.index, q, hits)[:1])
    rows = []
    for r in readings:
        quote = A.answer_of(pipeline.index, r, q.kind).text
        evidence = A.evidence_of(q, r, pipeline.index)
        rows.append({"confidence": evidence.confidence, "vetoed": evidence.name_missing or evidence.count_missing,
                     "hit": any(g in quote for g in question["answers"]), "quote": quote[:80]})
    return {"question": question["question"], "answers": question["answers"], "unknown": unknown, "readings": rows,
            "selector": chooser is not None}


def chosen(row: dict, threshold: float) -> dict | None:
    """The reading the product quotes at this threshold (None: it abstains; see rag/answer.py, _sure)."""
    first = row["readings"] if row["selector"] else row["readings"][:1]  # without the selector only the first counts
    return next((r for r in first if r["confidence"] >= threshold and not r["vetoed"]), None)


def grid(rows: list[dict]) -> list[dict]:
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    out = []
    for t in THRESHOLDS:
        picked = [chosen(r, t) for r in answerable]
        out.append({"threshold": t, "hit1": round(sum(bool(p and p["hit"]) for p in picked) / max(1, len(answerable)), 3),
                    "false_abstention": round(sum(p is None for p in picked) / max(1, len(answerable)), 3),
                    "unanswerable_abstained": f"{sum(chosen(r, t) is None for r in unanswerable)}/{len(unanswerable)}"})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.english_calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=str(WEIGHTS))
    args = ap.parse_args(argv)
    reader = Reader.load(args.weights)
    out = {"weights": args.weights}
    for name, files in SETS.items():
        _, pipeline = set_pipeline(name)
        questions = [q for f in files for q in load_qa(f) if q.get("lang", "en") == "en"]
        log(f"{name}: {len(questions)} English questions")
        rows = [record(pipeline, reader, q) for q in questions]
        out[name] = {"grid": grid(rows), "rows": rows}
        print(name, json.dumps(out[name]["grid"], ensure_ascii=False))
        print("  confidence of the first reading of answerable questions, median",
              float(np.median([r["readings"][0]["confidence"] for r in rows if r["answers"] and r["readings"]] or [0.0])))
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
