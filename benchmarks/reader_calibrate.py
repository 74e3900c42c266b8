"""Choose the reader path's settings: `python -m benchmarks.reader_calibrate [--weights FILE] [--refresh]`.

For every question of the seed set and the CMRC 2018 trial set this records, once, what retrieval
found and what the reader read in each of the top passages (benchmarks/.cache/readings-*.json). It
also records negatives the product must abstain on:
- CMRC trial questions whose own paragraph is taken out of the hits (the documents don't hold it);
- CMRC trial questions with a number changed to one their paragraph never mentions (a wrong fact).
Then it scores a small grid of the settings in rag/answer.py (passages read, rank share, threshold)
and prints the best rows. It changes nothing: the chosen values are written into rag/answer.py by hand.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag import answer as A
from rag import rules
from rag.crosslingual import glossary_for, is_latin
from rag.evaluate import _em, _f1, load_qa
from rag.question import analyse
from rag.reader.runtime import WEIGHTS, Reader

from .cache import CACHE_DIR, CachingEmbedder
from .corpora import build_set_index, cmrc_available, load_set, open_set_pipeline
from .machine import ROOT

DEPTH = 4
WRONG_FACTS = {"seeds": ROOT / "tests" / "data" / "wrong_facts.jsonl", "cmrc": ROOT / "tests" / "data" / "wrong_facts_cmrc.jsonl"}


def set_pipeline(name: str):
    """The set's pipeline over an index kept in benchmarks/.cache (built once)."""
    from embeddings import load_embedder

    eval_set = load_set(name)
    folder = CACHE_DIR / f"index-{name}"
    embedder = CachingEmbedder(load_embedder("e5-small"))
    if not (folder / "manifest.json").exists():
        build_set_index(eval_set, folder, embedder)
    return eval_set, open_set_pipeline(eval_set, folder, embedder)


def record(pipeline, reader: Reader, question: str, gold: list[str], source: str | None, kind: str,
           exclude: str | None = None, depth: int = DEPTH) -> dict:
    """What retrieval and the reader found for one question (exclude: a document taken out of the hits)."""
    q = analyse(question)
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    hits = pipeline._retrieve(pipeline.index, vector, q, depth + (4 if exclude else 0))
    if exclude:
        hits = [h for h in hits if h.passage.doc_id != exclude]
    unknown = glossary_for(pipeline.index).unknown_share(q.text) if q.latin else 0.0
    ruled, _ = rules.extract_answers(pipeline.index, q.text, vector, hits, 3, typed=q.typed, unknown_concepts=unknown,
                                     extra_tokens=glossary_for(pipeline.index).expand(q.text) if q.latin else None)
    if q.kind == "docnum":
        hits = rules.document_number_hits(pipeline.index, hits) + hits
    readings = A.read_passages(reader, pipeline.index, q, hits[:depth], read_first=depth, read_top=depth)
    rows = []
    for r in readings:
        answer = A.answer_of(pipeline.index, r, q.kind)
        rows.append({"rank": r.rank, "doc": r.hit.passage.doc_id, "span_score": r.span_score, "answerable": r.answerable,
                     "name_missing": r.name_missing, "quote": answer.text, "short": answer.short or "",
                     "span": pipeline.index.store.documents[r.hit.passage.doc_id].text[r.start : r.end],
                     "count_missing": A.evidence_of(q, r, pipeline.index).count_missing})

    rule = {"answered": bool(ruled), "quote": ruled[0].text if ruled else "", "short": (ruled[0].short or "") if ruled else ""}
    return {"question": question, "answers": gold, "source": source, "kind": kind, "qkind": q.kind, "unknown": unknown,
            "retrieved": [h.passage.doc_id for h in hits[:depth]], "readings": rows, "rule": rule}


@dataclass(frozen=True)
class Case:
    """One question the calibration asks: answerable or not, and for a negative, what makes it one."""

    question: str
    answers: list[str]
    source: str | None
    kind: str  # answerable | unanswerable | wrong-fact | not-in-corpus | changed-fact
    exclude: str | None = None  # not-in-corpus: the document taken out of the hits


def cases(name: str, eval_set, pipeline, limit: int = 0):
    """The set's questions with their negatives: the wrong-fact file; for CMRC each question again with its own
    paragraph taken out of the hits, and with a number changed to one its paragraph never mentions."""
    from rag.reader.train import changed_fact

    wrong = WRONG_FACTS[name]
    for q in load_qa(wrong) if wrong.exists() else []:
        yield Case(q["question"], [], None, "wrong-fact")
    questions = eval_set.questions[:limit] if limit and name == "cmrc" else eval_set.questions
    rng = random.Random(7)
    for n, q in enumerate(questions):
        yield Case(q["question"], q["answers"], q["source"], "answerable" if q["answers"] else "unanswerable")
        if name == "cmrc":
            yield Case(q["question"], [], None, "not-in-corpus", exclude=q["source"])
            changed = changed_fact(q["question"], pipeline.index.store.documents[q["source"]].text, rng)
            if changed:
                yield Case(changed, [], None, "changed-fact")
        if n % 100 == 0:
            print(f"{name}: {n}/{len(questions)}", file=sys.stderr, flush=True)


def collect(weights: Path, refresh: bool, limit: int, int8: bool) -> dict[str, list[dict]]:
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    path = CACHE_DIR / f"readings-{digest}-{limit}{'-int8' if int8 else ''}{'' if A.READ_CONTEXT else '-nocontext'}.json"
    if path.exists() and not refresh:
        return json.loads(path.read_text())
    reader = Reader.load(weights, int8=int8, threads=2)
    out: dict[str, list[dict]] = {}
    for name in ("seeds", "cmrc") if cmrc_available() else ("seeds",):
        eval_set, pipeline = set_pipeline(name)
        out[name] = [record(pipeline, reader, c.question, c.answers, c.source, c.kind, exclude=c.exclude,
                            depth=DEPTH if c.kind in ("answerable", "unanswerable") else 3)
                     for c in cases(name, eval_set, pipeline, limit)]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False))
    return out


@dataclass(frozen=True)
class Setting:
    read_first: int = A.READ_FIRST
    read_top: int = A.READ_TOP
    enough: float = A.ENOUGH
    w_rank: float = A.W_RANK
    name_penalty: float = A.NAME_MISSING_PENALTY
    count_penalty: float = A.COUNT_MISSING_PENALTY
    threshold: float = A.ABSTAIN_BELOW
    threshold_latin: float = A.ABSTAIN_BELOW_LATIN


def annotate(rows: list[dict]) -> list[dict]:
    """Score every reading against the gold answers once (hit: a gold answer in the quote; f1/em of the short)."""
    for row in rows:
        for r in row["readings"] + [row["rule"]]:
            said = r["short"] or r["quote"]
            r["hit"] = any(g in r["quote"] for g in row["answers"])
            r["f1"] = max((_f1(said, g) for g in row["answers"]), default=0.0)
            r["em"] = max((_em(said, g) for g in row["answers"]), default=0.0)
    return rows


def choose(row: dict, s: Setting) -> tuple[dict | None, int]:
    """The reading the product would answer with under setting s, and how many passages it read."""
    read = s.read_first
    pool = [r for r in row["readings"] if r["rank"] < read]
    if not any(r["answerable"] >= s.enough and not r["name_missing"] for r in pool):
        read = s.read_top
        pool = [r for r in row["readings"] if r["rank"] < read]
    if not pool:
        return None, read
    return max(pool, key=lambda r: A.rank_score(r["span_score"], r["rank"], r["name_missing"], s.w_rank, s.name_penalty)), read


def confidence(r: dict | None, s: Setting) -> float:
    if r is None:
        return -9.0
    return A.confidence(r["answerable"], r["name_missing"], r["count_missing"], s.name_penalty, s.count_penalty)


def answers(row: dict, s: Setting) -> tuple[dict | None, bool]:
    """The chosen reading and whether the product answers with it (its confidence clears the threshold)."""
    best, _ = choose(row, s)
    limit = s.threshold_latin if is_latin(row["question"]) else s.threshold
    if row.get("unknown", 0.0) > A.UNKNOWN_CONCEPTS_ABOVE:
        return best, False
    return best, best is not None and confidence(best, s) >= limit


def score(rows: list[dict], s: Setting) -> dict:
    answerable = [r for r in rows if r["kind"] == "answerable"]
    negatives = [r for r in rows if r["kind"] != "answerable"]
    hit = f1 = em = refused = reads = 0.0
    for row in answerable:
        best, read = choose(row, s)
        reads += min(read, len(row["retrieved"]))
        _, ok = answers(row, s)
        refused += not ok
        if ok:
            hit += best["hit"]
            f1 += best["f1"]
            em += best["em"]
    n = max(1, len(answerable))
    out = {"hit1": round(hit / n, 4), "f1": round(100 * f1 / n, 2), "em": round(100 * em / n, 2),
           "false_abstention": round(refused / n, 4), "passages_read": round(reads / n, 2)}
    for kind in sorted({r["kind"] for r in negatives}):
        group = [r for r in negatives if r["kind"] == kind]
        answered = sum(answers(r, s)[1] for r in group)
        out[f"answered_{kind}"] = f"{answered}/{len(group)}"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reader_calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--refresh", action="store_true", help="read every question again (the weights changed in place)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N CMRC questions")
    ap.add_argument("--int8", action="store_true", help="the reader with torch dynamic int8 linears")
    ap.add_argument("--no-context", action="store_true", help="read passages without their title / heading")
    args = ap.parse_args(argv)
    if args.no_context:
        A.READ_CONTEXT = False
    data = collect(args.weights, args.refresh, args.limit, args.int8)
    seeds, cmrc = annotate(data["seeds"]), annotate(data.get("cmrc", []))
    current = Setting()
    print(json.dumps({"current": asdict(current), "seeds": score(seeds, current), "cmrc": score(cmrc, current) if cmrc else None},
                     ensure_ascii=False))
    results = []
    for read_first, read_top, enough, w_rank, name_penalty, count_penalty in itertools.product(
            (1, 2, 3), (1, 2, 3, 4), (0.8, 0.9, 0.95, 1.01), (0.0, 1.0, 2.0, 4.0), (0.3, 0.5), (0.0, 0.3, 0.5)):
        if read_top < read_first:
            continue
        chinese = [r for r in seeds if not is_latin(r["question"])]
        latin = [r for r in seeds if is_latin(r["question"])]
        thresholds = [round(float(t), 3) for t in np.arange(0.05, 0.95, 0.025)]
        # the lowest thresholds that keep every unanswerable seed question out (Chinese and Latin script apart)
        zh = next((t for t in thresholds if score(chinese, Setting(read_first, read_top, enough, w_rank, name_penalty, count_penalty, t, t))
                   .get("answered_unanswerable", "0/0").startswith("0/")), None)
        en = next((t for t in thresholds if score(latin, Setting(read_first, read_top, enough, w_rank, name_penalty, count_penalty, t, t))
                   .get("answered_unanswerable", "0/0").startswith("0/")), None)
        if zh is None or en is None:
            continue
        s = Setting(read_first, read_top, enough, w_rank, name_penalty, count_penalty, zh, en)
        results.append((s, score(seeds, s), score(cmrc, s) if cmrc else {}))

    def key(item):
        _, seed, c = item
        return c.get("f1", 0) + 30 * seed["hit1"] - 100 * max(0.0, c.get("false_abstention", 0) - 0.05) - 2 * c.get("passages_read", 0)

    for s, seed, c in sorted(results, key=key, reverse=True)[:15]:
        print(json.dumps({"setting": asdict(s), "seeds": seed, "cmrc": c}, ensure_ascii=False))
    print(json.dumps({"by_kind": {"seeds": by_kind(seeds, current), "cmrc": by_kind(cmrc, current)}}, ensure_ascii=False))
    return 0


def by_kind(rows: list[dict], s: Setting) -> dict:
    """Answer-sentence hit@1 and short F1 of the reader path and the rule path, per question kind (answerable only)."""
    table: dict[str, dict] = {}
    for row in rows:
        if row["kind"] != "answerable":
            continue
        kind = row["qkind"] or "none"
        t = table.setdefault(kind, {"n": 0, "reader_hit1": 0.0, "rule_hit1": 0.0, "reader_f1": 0.0, "rule_f1": 0.0})
        t["n"] += 1
        best, ok = answers(row, s)
        if ok:
            t["reader_hit1"] += best["hit"]
            t["reader_f1"] += best["f1"]
        rule = row["rule"]
        if rule["answered"]:
            t["rule_hit1"] += rule["hit"]
            t["rule_f1"] += rule["f1"]
    for t in table.values():
        for key in ("reader_hit1", "rule_hit1", "reader_f1", "rule_f1"):
            t[key] = round(t[key] / t["n"] * (100 if key.endswith("f1") else 1), 3)
    return table


if __name__ == "__main__":
    sys.exit(main())
