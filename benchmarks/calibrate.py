"""Calibrate abstention: `python -m benchmarks.calibrate [--cmrc]`.

The rule in rag/answer.py (`confidence`, `ABSTAIN_BELOW`) must let every unanswerable question of
tests/data/seed_qa.jsonl abstain; among the rules that do, the best one has the fewest false
abstentions on the seed set plus, with --cmrc, 20 × the abstention rate on the CMRC trial set (all of
whose questions are answerable). This prints the current rule's margins and the best few rules of a
small grid over its weights; it changes nothing.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from rag import rules as A
from rag.config import Settings
from rag.evaluate import load_qa, load_squad
from rag.pipeline import Pipeline

from .cache import CachingEmbedder
from .machine import ROOT

SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"


def evidence_rows(pipeline: Pipeline, questions: list[dict]) -> list[dict]:
    """For each question: whether it is answerable, whether the best quote holds a gold answer, and its Evidence."""
    rows = []
    for q in questions:
        vector = pipeline.embedder.encode_queries([A.normalize(q["question"])])[0]
        hits = pipeline._retrieve(pipeline.index, vector, q["question"], 8)
        answers, evidence = A.extract_answers(pipeline.index, q["question"], vector, hits, 3, threshold=-99.0, typed=q["question"])
        correct = bool(answers) and any(g in answers[0].text for g in q["answers"])
        rows.append({"answerable": bool(q["answers"]), "correct": correct, "question": q["question"], "evidence": evidence})
    return rows


def grid(seed: list[dict], cmrc: list[dict]) -> list[tuple]:
    """The rules (coverage weight, cosine weight, entity penalty) whose threshold lets every seed unanswerable abstain."""
    results = []
    for a, c, entity in itertools.product((0.4, 0.6, 0.8, 1.0), (0, 0.5, 1, 2), (0, 0.1, 0.3, 0.5)):
        def value(e):
            return (a * e.coverage + c * (e.cosine - 0.9) - entity * e.entity_missing
                    - A.SPAN_MISSING_PENALTY * e.span_missing - A.UNIT_MISSING_PENALTY * e.unit_missing)

        cjk = [r for r in seed if not (r["evidence"].latin and r["evidence"].known_share < 0.3)]
        threshold = max(value(r["evidence"]) for r in cjk if not r["answerable"]) + 1e-4
        false_seed = sum(value(r["evidence"]) < threshold for r in cjk if r["answerable"])
        false_cmrc = sum(value(r["evidence"]) < threshold for r in cmrc) / len(cmrc) if cmrc else 0.0
        results.append((false_seed + 20 * false_cmrc, false_seed, round(false_cmrc, 4), a, c, entity, round(threshold, 4)))
    return sorted(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate")
    parser.add_argument("--cmrc", action="store_true", help="also count false abstentions on the CMRC trial set (a cold run embeds it: minutes)")
    args = parser.parse_args(argv)
    from embeddings import load_embedder

    embedder = CachingEmbedder(load_embedder("e5-small", threads=1))
    with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
        settings = Settings.from_env(env={}, corpus=(ROOT / "seeds",), index_dir=Path(tmp) / "seeds")
        seed = evidence_rows(Pipeline.open(settings, embedder), load_qa(SEED_QA))
        cmrc = []
        if args.cmrc and CMRC.exists():
            from rag.index import build_index_from_documents

            documents, questions = load_squad(CMRC)
            cmrc_settings = replace(settings, corpus=(), index_dir=Path(tmp) / "cmrc")
            build_index_from_documents(cmrc_settings, embedder, documents, progress=False)
            cmrc = evidence_rows(Pipeline.open(cmrc_settings, embedder, build="never"), questions)
    current = {
        "abstain_below": A.ABSTAIN_BELOW,
        "highest_unanswerable_confidence": max(r["evidence"].confidence for r in seed if not r["answerable"]),
        "lowest_answerable_confidence": min(r["evidence"].confidence for r in seed if r["answerable"]),
        "false_abstentions_seed": sum(r["evidence"].confidence < A.ABSTAIN_BELOW for r in seed if r["answerable"]),
        "answered_unanswerable_seed": sum(r["evidence"].confidence >= A.ABSTAIN_BELOW for r in seed if not r["answerable"]),
        "abstention_rate_cmrc": round(sum(r["evidence"].confidence < A.ABSTAIN_BELOW for r in cmrc) / len(cmrc), 4) if cmrc else None,
    }
    print("rule: cost, false abstentions (seed), abstention rate (CMRC), coverage weight, cosine weight, entity penalty, threshold")
    for row in grid(seed, cmrc)[:5]:
        print("  ", row)
    print(json.dumps(current, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
