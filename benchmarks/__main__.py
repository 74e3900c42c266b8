"""python -m benchmarks [--quick]: measure, then write benchmarks/results.md and benchmarks/results.json.

--quick skips 100k and 1M passages, repeats less and serves passage vectors from the cache
(benchmarks/.cache/); it prints one JSON summary as its last line of stdout.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    mode: str
    ask_repeats: int  # passes over the seed questions for ask latency
    stage_repeats: int  # passes for the stage split
    startup_repeats: int
    latency_sample: int  # questions per method for live latency in the quality comparison
    answers_on_cmrc: bool  # run the answer step on all 1,002 CMRC questions (else R@k from retrieval alone)
    live_builds: bool  # embed the builds now (timings live) rather than from the cache
    live_sample: int  # passages embedded live to measure throughput when builds come from the cache
    vector_runs: tuple[tuple[str, int], ...]  # (vectors, passages) beyond the real sets
    pq_m: tuple[int, ...]  # IVF-PQ sub-quantizer counts tried
    keyword_sizes: tuple[int, ...]
    scale_queries: int
    jieba_passages: int
    openmp_questions: int
    openmp_rounds: int

    @classmethod
    def quick(cls) -> "Plan":
        return cls(mode="quick", ask_repeats=2, stage_repeats=1, startup_repeats=2, latency_sample=20, answers_on_cmrc=False,
                   live_builds=False, live_sample=24, vector_runs=(("recombined", 10_000),), pq_m=(), keyword_sizes=(10_000,),
                   scale_queries=100, jieba_passages=2_000, openmp_questions=30, openmp_rounds=1)

    @classmethod
    def full(cls) -> "Plan":
        return cls(mode="full", ask_repeats=5, stage_repeats=3, startup_repeats=3, latency_sample=150, answers_on_cmrc=True,
                   live_builds=True, live_sample=0,
                   vector_runs=(("recombined", 10_000), ("recombined", 100_000), ("random", 100_000), ("recombined", 1_000_000)),
                   pq_m=(48, 96), keyword_sizes=(10_000, 100_000, 1_000_000), scale_queries=200, jieba_passages=20_000,
                   openmp_questions=60, openmp_rounds=3)


def main(argv: list[str] | None = None) -> int:
    """Run the plan and write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under 2 minutes with a warm cache; skips 100k and 1M")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="folder for results.md and results.json")
    args = parser.parse_args(argv)
    from .cache import CACHE_DIR
    from .machine import log
    from .report import summary_line, write_results
    from .suite import run_suite

    plan = Plan.quick() if args.quick else Plan.full()
    started = time.perf_counter()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE_DIR))
    try:
        results = run_suite(plan, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["run"]["plan"] = asdict(plan)
    results["run"]["wall_s"] = round(time.perf_counter() - started, 1)
    paths = write_results(results, args.out)
    log(f"wrote {', '.join(str(p) for p in paths)} in {results['run']['wall_s']} s")
    if args.quick:
        print(summary_line(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
