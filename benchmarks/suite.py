"""The benchmark suite, in order: machine, builds, embedding ceiling, latency and start-up, OpenMP, quality, scale, GPU."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .machine import log, machine_facts, matmul_gflops, ratio, run_child


def run_suite(plan, workdir: Path) -> dict:
    """Every measurement of the plan; workdir holds this run's indexes and material."""
    from .corpora import CMRC_MISSING, cmrc_available

    os.environ["RAG_BENCH_TMP"] = str(workdir)
    results: dict = {"run": {"mode": plan.mode}, "machine": machine_facts()}
    log(f"{plan.mode} run on {results['machine']['cpu_count']} cores, load {results['machine']['load_average']}")
    results["machine"]["matmul_gflops_fp32"] = matmul_gflops()
    sets = ["seeds"] + (["cmrc"] if cmrc_available() else [])
    if "cmrc" not in sets:
        log(CMRC_MISSING)
        results["run"]["skipped"] = [CMRC_MISSING]

    index_dirs = {name: workdir / f"index-{name}" for name in sets}
    results["build"] = {}
    for name in sets:
        log(f"building the {name} index in a child process ({'live' if plan.live_builds else 'vectors from the cache'})")
        args = ["--set", name, "--index", str(index_dirs[name])]
        if plan.live_builds:
            args.append("--live")
        elif name == sets[-1]:  # the throughput sample: CMRC passages when the set is here
            args += ["--live-sample", str(plan.live_sample)]
        results["build"][name] = run_child("benchmarks.build", args)

    from embeddings import load_embedder
    from rag.config import embed_threads

    from .cache import CachingEmbedder
    from .corpora import load_set, open_set_pipeline

    eval_sets = {name: load_set(name) for name in sets}
    answering = eval_sets["seeds"].settings(index_dirs["seeds"])
    live = load_embedder(answering.embedder, embed_threads(answering, building=False))  # as Pipeline.open loads it
    cached = CachingEmbedder(live)
    pipelines = {name: open_set_pipeline(eval_sets[name], index_dirs[name], cached) for name in sets}
    results["settings"] = {key: str(value) if isinstance(value, (Path, tuple)) else value
                           for key, value in vars(pipelines["seeds"].settings).items() if key not in ("corpus", "index_dir")}

    results["embedding"] = embedding_section(plan, results)
    results.update(latency_section(plan, live, eval_sets["seeds"], pipelines["seeds"], index_dirs["seeds"]))
    results["openmp"] = openmp_section(plan)
    results["quality"] = quality_section(plan, live, eval_sets, pipelines, index_dirs)
    results["scale"] = scale_section(plan, workdir, pipelines, eval_sets, cached)
    log("GPU check in a child process")
    results["gpu"] = run_child("benchmarks.gpu", [])
    results["run"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def embedding_section(plan, results) -> dict:
    """e5 throughput with the build's threads (the live build, or a live sample) against the float32 matmul ceiling."""
    from .build import E5_NON_EMBEDDING_PARAMS, e5_flops_per_token

    build = results["build"].get("cmrc") or results["build"]["seeds"]
    sample = build.get("live_sample")
    if sample:
        out = {"source": f"live sample: {sample['texts']} {build['set']} passages, embedded after a cached build",
               **{key: sample[key] for key in ("tokens_per_s", "texts_per_s", "mean_tokens_per_text")}}
    else:
        out = {"source": f"{build['set']} build ({build['embed_s_source']})", "tokens_per_s": build["tokens_per_s_embedding"],
               "texts_per_s": build["texts_per_s_embedding"], "mean_tokens_per_text": build["mean_tokens_per_text"]}
    flops = e5_flops_per_token(out["mean_tokens_per_text"] or 128)
    gflops = results["machine"]["matmul_gflops_fp32"]
    ceiling = gflops * 1e9 / flops
    out.update({
        "non_embedding_params": E5_NON_EMBEDDING_PARAMS,
        "mflop_per_token": round(flops / 1e6, 1),
        "matmul_gflops_fp32": gflops,
        "ceiling_tokens_per_s": round(ceiling),
        "share_of_ceiling": ratio(out["tokens_per_s"], ceiling, 3),
    })
    return out


def latency_section(plan, live, seeds, pipeline, index_dir) -> dict:
    """Query-embedding floor, ask p50/p95 and stages on the seeds (live embedder), a 100k-character question, start-up."""
    from rag.pipeline import Pipeline

    from .corpora import SEEDS
    from .latency import ask_latency, long_question_latency, stage_latency, startup_latency

    live_pipeline = Pipeline(pipeline.settings, live, index=pipeline.index)
    questions = seeds.questions
    log(f"ask latency: {len(questions)} seed questions × {plan.ask_repeats}")
    ask = ask_latency(live_pipeline, questions, plan.ask_repeats)
    stages = stage_latency(live_pipeline, questions, plan.stage_repeats)
    log("a 100,000-character question; start-up in a fresh interpreter")
    long_question = long_question_latency(live_pipeline)
    startup = startup_latency(SEEDS, index_dir, questions[0]["question"], plan.startup_repeats)
    return {"latency": {"ask": ask, "stages": stages}, "long_question": long_question, "startup": startup}


def quality_section(plan, live, eval_sets, pipelines, index_dirs) -> dict:
    """R@1/R@5 and sentence hit@1 of hybrid, keywords, dense (here) and the baseline (one child), with live latency, per set."""
    from rag.pipeline import Pipeline

    from .quality import compare_methods, method_latency, method_quality

    log("the sentence-transformers baseline, in a child process")
    args = ["baseline", "--sample", str(plan.latency_sample)] + [a for name in eval_sets for a in ("--index", f"{name}={index_dirs[name]}")]
    baseline = run_child("benchmarks.quality", args)
    out = {"baseline_model": baseline["model"], "sets": {}}
    for name, eval_set in eval_sets.items():
        pipeline = pipelines[name]
        live_pipeline = Pipeline(pipeline.settings, live, index=pipeline.index)
        sample = eval_set.questions[: plan.latency_sample]
        answers = plan.answers_on_cmrc or name != "cmrc"
        quality, latency = {}, {}
        for method in ("hybrid", "keywords", "dense"):
            log(f"quality on {name}: {method} ({len(eval_set.questions)} questions{'' if answers else ', retrieval only'})")
            quality[method] = method_quality(method, pipeline, eval_set.questions, answers=answers)
            latency[method] = method_latency(method, live_pipeline, sample)
        if name in baseline["sets"]:
            quality["baseline"], latency["baseline"] = baseline["sets"][name]["quality"], baseline["sets"][name]["latency"]
        out["sets"][name] = {"questions": len(eval_set.questions), "latency_sample": len(sample), "answers": answers,
                             "methods": compare_methods(quality, latency, hybrid_label(pipeline.settings))}
    return out


def hybrid_label(settings) -> str:
    """How the Pipeline fuses, in words, for the tables."""
    fusion = getattr(settings, "fusion", "rrf")
    if fusion == "rrf":
        return f"hybrid (Pipeline as configured: e5 + bm25s/jieba, RRF k={settings.rrf_k})"
    return f"hybrid (Pipeline as configured: e5 + bm25s/jieba, {fusion} fusion, dense share {getattr(settings, 'dense_share', '?')})"


def scale_section(plan, workdir: Path, pipelines, eval_sets, cached) -> dict:
    """FAISS exact / HNSW / IVF-PQ and bm25s at each size, each in a child process; jieba's rate."""
    from rag.text import normalize

    from .scale import Material, jieba_rate, write_material

    query_set = eval_sets.get("cmrc") or eval_sets["seeds"]
    questions = [q["question"] for q in query_set.questions][: plan.scale_queries]
    query_vectors = cached.encode_queries([normalize(q) for q in questions])
    material_path = workdir / "material.npz"
    out = {"material": write_material(material_path, [(n, p.index) for n, p in pipelines.items()], query_vectors, questions, cached)}
    out["jieba"] = jieba_rate(Material.load(material_path), plan.jieba_passages)
    out["vectors"], out["keywords"] = [], []
    runs = [(f"real_{name}", None) for name in pipelines] + list(plan.vector_runs)
    for source, n in runs:
        log(f"vector search: {source} {n or ''}")
        args = ["vectors", "--n", str(n or 0), "--source", source, "--material", str(material_path), "--queries", str(plan.scale_queries),
                "--pq-m", ",".join(map(str, plan.pq_m))]
        out["vectors"].append(run_child("benchmarks.scale", args, timeout=4 * 3600))
        log(f"vector search result: {json.dumps(out['vectors'][-1])}")
    for n in plan.keyword_sizes:
        log(f"keyword search: {n}")
        args = ["keywords", "--n", str(n), "--material", str(material_path), "--queries", str(plan.scale_queries)]
        out["keywords"].append(run_child("benchmarks.scale", args, timeout=4 * 3600))
        log(f"keyword search result: {json.dumps(out['keywords'][-1])}")
    return out


def openmp_section(plan) -> dict:
    """Single-question embedding under OpenMP's default, PASSIVE waiting and one thread (fresh children)."""
    from .threads import compare_openmp

    log("single-question embedding under three OpenMP settings")
    return compare_openmp(plan.openmp_questions, plan.openmp_rounds)
