"""Single-question embedding under three OpenMP settings, each in a fresh child (OpenMP reads them at start-up).

The e5 engine parallelises one text over all cores with OpenMP, whose threads spin while they wait.
When another process also wants the cores (a second worker, a test run, an index build) a spinning
barrier can stall a query for seconds. This measures all cores with OpenMP's defaults against
OMP_WAIT_POLICY=PASSIVE and one thread (the product's choice for answering since RAG_THREADS),
alternating the children so they see the same machine.
"""
from __future__ import annotations

import argparse

from .machine import median, percentiles, print_json, ratio, run_child

DEFAULT = "all cores (OpenMP defaults)"
SETTINGS = {
    DEFAULT: {},
    "all cores, OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one thread (OMP_NUM_THREADS=1: what `ask` uses unless RAG_THREADS says otherwise)": {"OMP_NUM_THREADS": "1"},
}


def compare_openmp(questions: int, rounds: int) -> dict:
    """p50/p95 of embedding one seed question at a time under each setting; medians over rounds, ratios to default."""
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(rounds):
        for name, env in SETTINGS.items():
            runs[name].append(run_child("benchmarks.threads", ["--questions", str(questions)], env=env))
    out = {}
    for name, results in runs.items():
        out[name] = {key: round(median(r[key] for r in results), 2) for key in ("p50", "p95", "max")}
    for name in SETTINGS:
        out[name]["p95_vs_default"] = ratio(out[name]["p95"], out[DEFAULT]["p95"])
    return {"questions": questions, "rounds": rounds, "settings": out}


def main(argv: list[str] | None = None) -> None:
    """Embed the first seed questions one at a time; print p50/p95/max milliseconds."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads")
    parser.add_argument("--questions", type=int, default=40)
    args = parser.parse_args(argv)
    from embeddings import load_embedder
    from rag.text import normalize

    from .corpora import load_set
    from .machine import time_ms

    embedder = load_embedder("e5-small")
    texts = [normalize(q["question"]) for q in load_set("seeds").questions[: args.questions]]
    embedder.encode_queries(texts[:2])
    samples = [time_ms(embedder.encode_queries, [t])[0] for t in texts]
    print_json({**percentiles(samples, 50, 95), "max": round(max(samples), 2)})


if __name__ == "__main__":
    main()
