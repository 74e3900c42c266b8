"""Measure the reader inside the rule path: `python -m benchmarks.reader_shorts [--limit N] [--refresh]`.

The rule path chooses the quote (and whether to answer); the reader then reads the text around the
quote, picks its span inside the quote (the short answer) and says whether that text answers at all
(its answerability, a veto on the rule's answer). For every seed and CMRC trial question, and for
negatives (wrong-fact questions, CMRC questions with their paragraph taken out or a number changed),
this records the rule's answer and the reader's reading once (benchmarks/.cache), then prints:
- short EM/F1 by question kind: the rule's short, the reader's, and the two merged (see answer.merged_short);
- for a range of vetoes, sentence hit@1, false abstentions and negatives answered.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict

from rag import answer as A
from rag import rules
from rag.crosslingual import glossary_for
from rag.evaluate import _em, _f1
from rag.question import analyse
from rag.reader.runtime import WEIGHTS, Reader

from .cache import CACHE_DIR
from .corpora import cmrc_available
from .reader_calibrate import cases, set_pipeline


def record(pipeline, reader, item: dict, kind: str, exclude: str | None = None) -> dict:
    q = analyse(item["question"])
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    hits = pipeline._retrieve(pipeline.index, vector, q, 8 + (4 if exclude else 0))
    if exclude:
        hits = [h for h in hits if h.passage.doc_id != exclude]
    glossary = glossary_for(pipeline.index) if q.latin else None
    ruled, _ = rules.extract_answers(pipeline.index, q.text, vector, hits, 3, typed=q.typed,
                                     unknown_concepts=glossary.unknown_share(q.text) if glossary else 0.0,
                                     extra_tokens=glossary.expand(q.text) if glossary else None)
    row = {"question": item["question"], "answers": item.get("answers") or [], "kind": kind, "qkind": q.kind,
           "answered": bool(ruled), "quote": ruled[0].text if ruled else "", "rule_short": (ruled[0].short or "") if ruled else ""}
    if ruled:
        span = (A.spans_in_quotes(reader, pipeline.index, q, ruled[:1], hits) or [None])[0]
        row |= {"reader_short": (A.short_of(pipeline.index, ruled[0], span, q.kind, q.normal) or "") if span else "",
                "span_score": span.span_score if span else -99.0, "answerable": span.answerable if span else 0.0}
    return row


def collect(limit: int, refresh: bool) -> dict:
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:12]
    path = CACHE_DIR / f"shorts-{digest}-{limit}.json"
    if path.exists() and not refresh:
        return json.loads(path.read_text())
    reader = Reader.load(threads=2)
    out = {}
    for name in ("seeds", "cmrc") if cmrc_available() else ("seeds",):
        eval_set, pipeline = set_pipeline(name)
        out[name] = [record(pipeline, reader, {"question": c.question, "answers": c.answers}, c.kind, exclude=c.exclude)
                     for c in cases(name, eval_set, pipeline, limit)]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False))
    return out


def table(rows: list[dict]) -> dict:
    """Short EM/F1 of the rule, the reader and the merge, by question kind, over the answerable questions."""
    by = defaultdict(lambda: defaultdict(float))
    for row in rows:
        if row["kind"] != "answerable":
            continue
        said = {"rule": row["rule_short"] if row["answered"] else "", "reader": row.get("reader_short", ""),
                "merged": (A.merged_short(row["rule_short"], row.get("reader_short", ""), row["qkind"]) or "") if row["answered"] else ""}
        for kind in (row["qkind"] or "none", "all"):
            b = by[kind]
            b["n"] += 1
            for who, text in said.items():
                b[f"{who}_f1"] += max(_f1(text, g) for g in row["answers"]) if text else 0.0
                b[f"{who}_em"] += max(_em(text, g) for g in row["answers"]) if text else 0.0
    metrics = [f"{who}_{m}" for m in ("f1", "em") for who in ("rule", "reader", "merged")]
    return {k: {"n": int(v["n"]), **{m: round(100 * v[m] / v["n"], 1) for m in metrics}}
            for k, v in sorted(by.items(), key=lambda kv: -kv[1]["n"])}


def vetoes(rows: list[dict]) -> list[dict]:
    """For each answerability veto: hit@1, false abstentions and negatives answered (the rule's answer kept only above it)."""
    out = []
    for veto in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        kept = lambda r: r["answered"] and r.get("answerable", 0.0) >= veto
        answerable = [r for r in rows if r["kind"] == "answerable"]
        n = max(1, len(answerable))
        line = {"veto": veto, "hit1": round(sum(kept(r) and any(g in r["quote"] for g in r["answers"]) for r in answerable) / n, 4),
                "false_abstention": round(sum(not kept(r) for r in answerable) / n, 4)}
        for kind in sorted({r["kind"] for r in rows} - {"answerable"}):
            group = [r for r in rows if r["kind"] == kind]
            line[f"answered_{kind}"] = f"{sum(kept(r) for r in group)}/{len(group)}"
        out.append(line)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reader_shorts", description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--refresh", action="store_true")
    args = ap.parse_args(argv)
    data = collect(args.limit, args.refresh)
    for name, rows in data.items():
        print(json.dumps({name: table(rows)}, ensure_ascii=False))
        for line in vetoes(rows):
            print(json.dumps({name: line}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
