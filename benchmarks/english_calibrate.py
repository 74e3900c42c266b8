"""Choose the English answer path's threshold: `python -m benchmarks.english_calibrate [--weights FILE]`.

English questions over Chinese documents are read by the trained reader alone (rag/answer.py's extract_answers):
the hand-set English rules abstained on 54 % of the answerable English CMRC trial questions. This records, once per
question of the English dev set (tests/data/english_cmrc.jsonl, english_seeds.jsonl and the English questions of
seed_qa.jsonl), the reader's best answer and its confidence, then prints, per threshold, answer-sentence hit@1
(gold inside the first quote), false abstentions and the unanswerable questions abstained on. It changes nothing:
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
from .reader_calibrate import set_pipeline

SETS = {"cmrc": [ROOT / "tests" / "data" / "english_cmrc.jsonl"],
        "seeds": [ROOT / "tests" / "data" / "english_seeds.jsonl", ROOT / "tests" / "data" / "seed_qa.jsonl"]}
OUT = ROOT / "benchmarks" / "english_calibration.json"
THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def record(pipeline, reader, question: dict) -> dict:
    q = analyse(question["question"])
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    hits = pipeline._retrieve(pipeline.index, vector, q, 8)
    unknown = glossary_for(pipeline.index).unknown_share(q.text)
    answers, evidence = A.extract_answers(reader, pipeline.index, q, hits, 1, threshold=-1.0, unknown_concepts=unknown)
    quote = answers[0].text if answers else ""
    return {"question": question["question"], "answers": question["answers"], "confidence": evidence.confidence,
            "unknown": unknown, "hit": bool(answers) and any(g in quote for g in question["answers"]),
            "quote": quote[:80], "short": answers[0].short if answers else None}


def grid(rows: list[dict]) -> list[dict]:
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    out = []
    for t in THRESHOLDS:
        answered = [r for r in answerable if r["confidence"] >= t and r["unknown"] <= A.UNKNOWN_CONCEPTS_ABOVE]
        out.append({"threshold": t, "hit1": round(sum(r["hit"] for r in answered) / max(1, len(answerable)), 3),
                    "false_abstention": round(1 - len(answered) / max(1, len(answerable)), 3),
                    "unanswerable_abstained": f"{sum(r['confidence'] < t or r['unknown'] > A.UNKNOWN_CONCEPTS_ABOVE for r in unanswerable)}/{len(unanswerable)}"})
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
        print("  confidence of answerable, median", float(np.median([r["confidence"] for r in rows if r["answers"]])))
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
