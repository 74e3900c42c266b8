"""FAISS + bm25s against Milvus Lite, side by side in one run: build time, ask p50/p95, R@1 (seeds, CMRC trial),
and build time, ask p50/p95 and memory at 100k recombined passages.

    python -m benchmarks.milvus [--sets seeds,cmrc,recombined100k] [--no-write]

Both stores are built from the same vectors (benchmarks/.cache: a cold cache embeds once, before either build is
timed), so the build times compare what each store costs beyond embedding. Questions are answered by
`Pipeline.ask` (the reader included, the same on both stores: compare the differences, not the totals); query vectors
come from the cache, so add ≈ 20 ms of live query embedding to both.
Milvus's own one-call fusion (`hybrid_search` with RRFRanker, k=60) is measured beside the product's fusion.
`recombinedN` (`recombined100k`, `recombined10k`): N recombined passages (benchmarks.scale: a few real sentences
of one real document, the passage vector the normalised mean of their cached e5 sentence vectors; nothing is
embedded). The FAISS + bm25s index folder is written as benchmarks.endtoend writes it (the product's settings:
IVF-SQ8 + exact re-scoring above 50k); the Milvus one shares its store and sentence vectors and puts the same
vectors and the passages' normalised text into a Milvus Lite collection (FLAT, BM25 over jieba), as
`rag index` would. Each store is then opened by a fresh process that asks 100 seed and CMRC questions. These
passages are shuffled sentences with no questions of their own, so there is no R@1 here: quality is measured
on the seeds and CMRC; what is reported is build time, latency, memory (the app process and, for Milvus Lite,
its server process) and how often the two stores put the same passage first.
Writes the "FAISS + bm25s against Milvus Lite" section of benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .machine import ROOT, git_commit, log, percentiles, print_json

RESULTS = ROOT / "benchmarks" / "results.md"
SECTION = "## FAISS + bm25s against Milvus Lite (`python -m benchmarks.milvus`)"


RECOMBINED = re.compile(r"recombined(\d+)(k?)$")
COLLECTION = "recombined"  # the alias of the recombined sets' Milvus collections
QUESTIONS = 100  # asked of each recombined index (seed and CMRC questions, as benchmarks.endtoend asks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.milvus")
    sub = parser.add_subparsers(dest="step")
    build = sub.add_parser("build-milvus", help="(child) write the Milvus index of n recombined passages beside a FAISS one")
    build.add_argument("--n", type=int, required=True)
    build.add_argument("--material", type=Path, required=True)
    build.add_argument("--beside", type=Path, required=True, help="the FAISS index folder of the same passages")
    build.add_argument("--index", type=Path, required=True)
    build.add_argument("--db", type=Path, required=True)
    ask = sub.add_parser("ask", help="(child) open a recombined index and time ask and search")
    ask.add_argument("--index", type=Path, required=True)
    ask.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--sets", default="seeds,cmrc")
    parser.add_argument("--no-write", action="store_true", help="print the JSON only; leave results.md alone")
    args = parser.parse_args(argv)
    if args.step == "build-milvus":
        print_json(build_milvus(args.n, args.material, args.beside, args.index, args.db))
        return
    if args.step == "ask":
        print_json(ask_recombined(args.index, json.loads(args.questions.read_text(encoding="utf-8"))))
        return
    from .corpora import cmrc_available

    names = [n for n in args.sets.split(",") if n and (n != "cmrc" or cmrc_available())]
    result = {"commit": git_commit(), "date": time.strftime("%Y-%m-%d"), "versions": versions(), "sets": {}}
    recombined = [n for n in names if RECOMBINED.match(n)]
    for name in names:
        if not RECOMBINED.match(name):
            result["sets"][name] = compare(name)
    if recombined:
        result["sets"].update(compare_recombined(recombined))
    if not args.no_write:
        write_section(result)
    print_json(result)


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("pymilvus", "milvus-lite", "faiss-cpu", "bm25s")}


def compare(set_name: str) -> dict:
    """Build both stores from the same vectors; R@1 and ask latency over the set's questions on each."""
    from embeddings import load_embedder

    from .cache import CachingEmbedder
    from .corpora import build_set_index, load_set, open_set_pipeline

    eval_set = load_set(set_name)
    embedder = CachingEmbedder(load_embedder("e5-small", threads=1))
    out: dict = {"questions": len(eval_set.questions)}
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp:
        tmp = Path(tmp)
        log(f"{set_name}: warming the vector cache")
        build_set_index(eval_set, tmp / "warm", embedder)  # a cold cache embeds here, outside both timings
        warm_queries(embedder, eval_set.questions)  # and the questions: neither store's ask times a live embedding
        out["embedding_s_cold"] = round(embedder.live_seconds + embedder.recorded_seconds, 1)
        for store in ("faiss", "milvus"):
            index_dir = tmp / store
            patched = _PatchedSet(eval_set, store, tmp / "bench.db", f"bench_{set_name}")
            log(f"{set_name}: building the {store} store")
            started = time.perf_counter()
            report = build_set_index(patched, index_dir, embedder)
            build_s = time.perf_counter() - started
            pipeline = open_set_pipeline(patched, index_dir, embedder)
            log(f"{set_name}: asking {len(eval_set.questions)} questions on {store}")
            row = ask_all(pipeline, eval_set.questions)
            row.update(build_s=round(build_s, 2), passages=report.passages, side_r1=side_r1(pipeline, eval_set.questions))
            if store == "milvus":
                row["milvus_rrf_r1"] = milvus_rrf_r1(pipeline, eval_set.questions)
                row["index_type"] = pipeline.index.manifest["dense_index"]
            out[store] = row
            pipeline.index.close()
    return out


def warm_queries(embedder, questions: list[dict]) -> None:
    """Put every question's query vector (as Pipeline.ask and search embed it) into the cache."""
    from rag.pipeline import clean_question
    from rag.question import analyse
    from rag.text import normalize

    texts = []
    for q in questions:
        text, _ = clean_question(q["question"], 2000)
        if text:
            texts += [analyse(text).normal, normalize(text)]  # the pipeline's, and one_side_response's
    embedder.encode_queries(texts)


class _PatchedSet:
    """The evaluation set with the store chosen (settings() as EvalSet's, plus RAG_STORE and the Lite file)."""

    def __init__(self, eval_set, store: str, db: Path, collection: str) -> None:
        self._set, self.store, self.db, self.collection = eval_set, store, db, collection
        self.name, self.questions, self.documents = eval_set.name, eval_set.questions, eval_set.documents

    def settings(self, index_dir: Path):
        settings = replace(self._set.settings(index_dir), store=self.store)
        if self.store == "milvus":
            settings = replace(settings, milvus_uri=str(self.db), milvus_collection=self.collection)
        return settings


def ask_all(pipeline, questions: list[dict]) -> dict:
    """paragraph R@1 / R@5 and ask p50/p95 (rag.evaluate's measures), plus retrieval-only (search) p50/p95."""
    from rag.evaluate import evaluate

    summary = evaluate(pipeline, questions)
    searched = []
    for q in questions:
        started = time.perf_counter()
        pipeline.search(q["question"])
        searched.append((time.perf_counter() - started) * 1000)
    search = percentiles(searched, 50, 95)
    return {"r1": summary["paragraph_r1"], "r5": summary["paragraph_r5"], "sentence_hit1": summary["sentence_hit1"],
            "ask_p50_ms": summary["latency_p50_ms"], "ask_p95_ms": summary["latency_p95_ms"],
            "search_p50_ms": round(search["p50"], 1), "search_p95_ms": round(search["p95"], 1)}


def side_r1(pipeline, questions: list[dict]) -> dict:
    """R@1 of each side alone (dense, keywords), through the store's own search."""
    from rag.evaluate import summarize

    from .quality import one_side_response

    return {side: summarize([(q, one_side_response(pipeline, q["question"], side, answers=False)) for q in questions])["paragraph_r1"]
            for side in ("dense", "keywords")}


def milvus_rrf_r1(pipeline, questions: list[dict]) -> float:
    """R@1 of Milvus's own fusion: one hybrid_search call, RRFRanker(60), over the same two fields."""
    from rag.pipeline import clean_question, keyword_tokens
    from rag.question import analyse

    answerable = [q for q in questions if q["answers"]]
    right = 0
    for q in answerable:
        text, _ = clean_question(q["question"], pipeline.settings.max_question_chars)
        question = analyse(text)
        vector = pipeline.embedder.encode_queries([question.normal])[0]
        ids, _ = pipeline.index.vectors.hybrid_search(vector, " ".join(keyword_tokens(pipeline.index, question)), 5)
        top = pipeline.index.store.passages(ids[:1].tolist())
        right += bool(top) and top[0].doc_id == q["source"]
    return round(right / max(1, len(answerable)), 4)


# ---------------------------------------------------------------- the recombined sets (build and ask in children)


def passages_of(name: str) -> int:
    number, thousands = RECOMBINED.match(name).groups()
    return int(number) * (1000 if thousands else 1)


def compare_recombined(names: list[str]) -> dict:
    """For each recombinedN: a FAISS + bm25s folder, a Milvus Lite one beside it, then a fresh process asks each."""
    import shutil

    from .cache import CACHE_DIR
    from .endtoend import _material
    from .machine import run_child

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="milvus-recombined-", dir=CACHE_DIR))
    out = {}
    try:
        log("recombined: material from the seed and CMRC indexes (cached vectors)")
        material, questions = _material(workdir, QUESTIONS)
        questions_file = workdir / "questions.json"
        questions_file.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
        for name in names:
            n = passages_of(name)
            load_at_start = round(os.getloadavg()[0], 1)  # the 2 cores are shared: what else ran shows in the timings
            faiss_dir, milvus_dir, db = workdir / f"faiss-{n}", workdir / f"milvus-{n}", workdir / f"recombined-{n}.db"
            log(f"{name}: writing the FAISS + bm25s index")
            faiss_built = run_child("benchmarks.endtoend", ["build", "--n", str(n), "--material", str(material), "--index", str(faiss_dir)], timeout=3 * 3600)
            log(f"{name}: writing the Milvus Lite collection ({faiss_built})")
            milvus_built = run_child("benchmarks.milvus", ["build-milvus", "--n", str(n), "--material", str(material), "--beside", str(faiss_dir),
                                                            "--index", str(milvus_dir), "--db", str(db)], timeout=3 * 3600)
            log(f"{name}: asking {len(questions)} questions of each ({milvus_built})")
            asked = {store: run_child("benchmarks.milvus", ["ask", "--index", str(folder), "--questions", str(questions_file)], timeout=3600)
                     for store, folder in (("faiss", faiss_dir), ("milvus", milvus_dir))}
            shared_s = faiss_built["store_s"] + faiss_built["sentences_s"]
            row = {"questions": len(questions), "passages": n, "shared_build_s": round(shared_s, 1), "load_average": load_at_start}
            for store, built in (("faiss", {"build_s": round(faiss_built["dense_s"] + faiss_built["keywords_s"], 1), "dense_s": faiss_built["dense_s"],
                                            "keywords_s": faiss_built["keywords_s"], "build_peak_rss_mb": faiss_built["peak_rss_mb"]}),
                                 ("milvus", milvus_built)):
                row[store] = {**{k: v for k, v in built.items() if k != "child_wall_s"},
                              **{k: v for k, v in asked[store].items() if k not in ("top1", "dense10", "child_wall_s")}}
            row["same_first_passage"] = _share_equal(asked["faiss"]["top1"], asked["milvus"]["top1"])
            row["dense_top10_overlap"] = round(sum(len(set(f) & set(m)) / 10 for f, m in zip(asked["faiss"]["dense10"], asked["milvus"]["dense10"]))
                                               / max(1, len(questions)), 3)
            out[name] = row
            log(f"{name}: {json.dumps(row)}")
            shutil.rmtree(faiss_dir, ignore_errors=True)
            shutil.rmtree(milvus_dir, ignore_errors=True)
            db.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def _share_equal(a: list, b: list) -> float:
    return round(sum(x == y for x, y in zip(a, b)) / max(1, len(a)), 3)


def build_milvus(n: int, material_path: Path, beside: Path, folder: Path, db: Path) -> dict:
    """The Milvus index of the n recombined passages of the FAISS folder `beside`: its store and sentence vectors
    (shared, copied, not timed), a new collection of the same vectors and the passages' normalised text, and the
    keyword statistics, as rag.index._write_milvus writes them. Seconds, and peak memory of this process and of
    the Milvus Lite server."""
    import shutil

    from rag.index import KEYWORD_STATS, MANIFEST, MILVUS, STORE, KeywordStats
    from rag.milvus import write_collection
    from rag.text import normalize

    from .endtoend import PASSAGES_PER_DOCUMENT
    from .machine import peak_rss_mb
    from .scale import Material, Recombined, vector_chunks

    folder.mkdir(parents=True, exist_ok=True)
    for name in (STORE,):
        shutil.copy2(beside / name, folder / name)
    material = Material.load(material_path)
    recombined = Recombined.draw(n, material.arrays["per_passage"], material.arrays["sentence_doc"])  # the draw vector_chunks makes
    vectors = np.vstack([chunk for _, chunk in vector_chunks(n, "recombined", material)])
    started = time.perf_counter()
    sentences, tokens, vocab = material.sentences, material.sentence_tokens(), material.vocab
    texts, token_lists = [], []
    for j in range(n):
        ids = recombined.sentence_ids(j).tolist()
        texts.append(normalize("".join(sentences[i] for i in ids)))
        token_lists.append([vocab[t] for i in ids for t in tokens[i]])
    KeywordStats.count(token_lists).save(folder / KEYWORD_STATS)
    del token_lists
    prepared_s = time.perf_counter() - started
    saved = write_collection(str(db), "", COLLECTION, vectors.shape[1], np.arange(n, dtype=np.int64), vectors, texts,
                             [f"synthetic-{j // PASSAGES_PER_DOCUMENT:07d}.txt" for j in range(n)])
    collection_s = time.perf_counter() - started - prepared_s
    (folder / MILVUS).write_text(json.dumps(saved, ensure_ascii=False, indent=2), encoding="utf-8")
    manifest = json.loads((beside / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(vector_store="milvus", dense_index=saved["index_type"].lower(), keyword_index="milvus-bm25-jieba",
                    milvus={k: saved[k] for k in ("uri", "alias", "collection", "index_type")})
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    server = lite_server_memory(db)
    return {"build_s": round(time.perf_counter() - started, 1), "prepare_s": round(prepared_s, 1), "collection_s": round(collection_s, 1),
            "index_type": saved["index_type"], "build_peak_rss_mb": peak_rss_mb(), "build_server_peak_rss_mb": server["peak_mb"],
            "db_bytes": sum(f.stat().st_size for f in Path(db).rglob("*") if f.is_file()) if Path(db).is_dir() else Path(db).stat().st_size}


def lite_server_memory(db: Path) -> dict:
    """Resident memory now and at peak (VmRSS, VmHWM, MB) of the Milvus Lite process this process started for db."""
    from milvus_lite.server_manager import server_manager_instance

    server = server_manager_instance._servers.get(str(Path(db).resolve()))
    found = {"rss_mb": 0.0, "peak_mb": 0.0}
    if server is None or server._p is None:
        return found
    for line in Path(f"/proc/{server._p.pid}/status").read_text().splitlines():
        for field, key in (("VmRSS:", "rss_mb"), ("VmHWM:", "peak_mb")):
            if line.startswith(field):
                found[key] = round(int(line.split()[1]) / 1024, 1)
    return found


def ask_recombined(folder: Path, questions: list[str]) -> dict:
    """Open the index (either store) as the app does and time ask and search; memory before and after opening."""
    from embeddings import load_embedder
    from rag.config import Settings
    from rag.index import load_index, read_manifest
    from rag.pipeline import Pipeline, clean_question
    from rag.question import analyse
    from rag.retrieve import dense_search

    from .cache import CachingEmbedder
    from .machine import peak_rss_mb, rss_mb

    manifest = read_manifest(folder)
    store = manifest.get("vector_store", "faiss")
    overrides = {"store": store}
    if store == "milvus":
        overrides.update(milvus_uri=manifest["milvus"]["uri"], milvus_collection=manifest["milvus"]["alias"])
    settings = Settings.from_env(index_dir=folder, **overrides)
    embedder = CachingEmbedder(load_embedder("e5-small", threads=1))
    pipeline = Pipeline(settings, embedder)
    warm_queries(embedder, [{"question": q} for q in questions])  # query vectors from the cache, as in compare()
    rss_before = rss_mb()
    started = time.perf_counter()
    pipeline.index = load_index(folder, embedder.name)
    open_s = time.perf_counter() - started
    rss_open = rss_mb()
    server_open = lite_server_memory(Path(manifest["milvus"]["uri"])) if store == "milvus" else None
    pipeline.warm_up()
    asked, searched, top1, dense10 = [], [], [], []
    for question in questions:
        began = time.perf_counter()
        pipeline.ask(question)
        asked.append((time.perf_counter() - began) * 1000)
    for question in questions:
        began = time.perf_counter()
        hits = pipeline.search(question)
        searched.append((time.perf_counter() - began) * 1000)
        top1.append(hits[0].passage.id if hits else None)
        vector = embedder.encode_queries([analyse(clean_question(question, settings.max_question_chars)[0]).normal])[0]
        dense10.append(dense_search(pipeline.index, vector, 10).ids.tolist())
    out = {"open_s": round(open_s, 2), "rss_before_open_mb": rss_before, "rss_after_open_mb": rss_open,
           "app_peak_rss_mb": peak_rss_mb(), "dense_index": manifest.get("dense_index"),
           **{f"ask_{k}_ms": round(v, 1) for k, v in percentiles(asked, 50, 95).items()},
           **{f"search_{k}_ms": round(v, 1) for k, v in percentiles(searched, 50, 95).items()},
           "top1": top1, "dense10": dense10}
    if store == "milvus":
        server_end = lite_server_memory(Path(manifest["milvus"]["uri"]))
        out.update(server_rss_after_open_mb=server_open["rss_mb"], server_rss_end_mb=server_end["rss_mb"], server_peak_rss_mb=server_end["peak_mb"])
    pipeline.index.close()
    return out


def write_section(result: dict) -> None:
    """Replace (or append) this benchmark's section of results.md; sets not run this time keep their recorded rows."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\n<!-- |\Z)", re.S)
    result = merge_previous(result, pattern.search(text))
    sets = result["sets"]
    runs = sorted({(row["date"], row["commit"]) for row in sets.values()})
    lines = [SECTION, "",
             "; ".join(f"{date}, commit {commit} ({', '.join(n for n, r in sets.items() if (r['date'], r['commit']) == (date, commit))})"
                       for date, commit in runs)
             + ". " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
             + ". Both stores built from the same cached vectors; `ask` with the reader, query vectors from the cache "
             "(add ≈ 20 ms of live query embedding to both); R@1 = the question's own paragraph first. 2 shared cores.", ""]
    labelled = [(n, r) for n, r in sets.items() if not RECOMBINED.match(n)]
    if labelled:
        lines += ["| set | store | build (s, beyond embedding) | ask p50 / p95 (ms) | search p50 / p95 (ms) | R@1 | R@5 | dense alone R@1 | keywords alone R@1 | Milvus RRF (one call) R@1 |",
                  "|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for name, row in labelled:
        for store, label in (("faiss", "FAISS flat + bm25s"), ("milvus", f"Milvus Lite ({row['milvus'].get('index_type', '')}, BM25 jieba)")):
            r = row[store]
            lines.append(
                f"| {name} ({row['questions']} q, {r['passages']} passages) | {label} | {r['build_s']} | {r['ask_p50_ms']} / {r['ask_p95_ms']} "
                f"| {r['search_p50_ms']} / {r['search_p95_ms']} | {r['r1']} | {r['r5']} | {r['side_r1']['dense']} | {r['side_r1']['keywords']} "
                f"| {r.get('milvus_rrf_r1', '—')} |")
    recombined = [(n, r) for n, r in sets.items() if RECOMBINED.match(n)]
    if recombined:
        lines += ["", "Recombined passages (no R@1: they have no questions of their own; see below). Build = what each store adds to the "
                  "shared SQLite store and sentence vectors; memory in MB, the app process after opening the index (its growth from "
                  "opening in brackets) and, for Milvus Lite, its server process after loading the collection / at its peak.", "",
                  "| set | store | build (s) | ask p50 / p95 (ms) | search p50 / p95 (ms) | app RSS after open (+ opening) | app peak | Milvus Lite process RSS / peak | same first passage as FAISS | dense top-10 overlap |",
                  "|---|---|---:|---|---|---|---:|---|---:|---:|"]
    for name, row in recombined:
        for store in ("faiss", "milvus"):
            r = row[store]
            label = (f"FAISS ({r['dense_index']}) + bm25s" if store == "faiss" else f"Milvus Lite ({r['dense_index']}, BM25 jieba)")
            server = f"{r['server_rss_after_open_mb']:,.0f} / {r['server_peak_rss_mb']:,.0f}" if store == "milvus" else "—"
            same = f"{row['same_first_passage']}" if store == "milvus" else "—"
            overlap = f"{row['dense_top10_overlap']}" if store == "milvus" else "—"
            load = f", load {row['load_average']}" if "load_average" in row else ""
            lines.append(
                f"| {name} ({row['questions']} q, {row['passages']:,} passages{load}) | {label} | {r['build_s']} | {r['ask_p50_ms']} / {r['ask_p95_ms']} "
                f"| {r['search_p50_ms']} / {r['search_p95_ms']} | {r['rss_after_open_mb']:,.0f} (+{r['rss_after_open_mb'] - r['rss_before_open_mb']:,.0f}) "
                f"| {r['app_peak_rss_mb']:,.0f} | {server} | {same} | {overlap} |")
    lines += ["",
              "- **Quality.** R@1 is the product's fusion over each store's two rankings. Milvus's BM25 alone (jieba-rs over the "
              "normalised text) and bm25s alone (the product's jieba search-mode tokens) differ a little; the fusion on top is "
              "what the product answers with. Milvus's own one-call fusion (`hybrid_search`, RRFRanker k=60) is measured for "
              "comparison; the product keeps its own fusion.",
              "- **Speed.** Each question makes two calls to the Milvus Lite process (dense, then BM25) over a Unix socket: that "
              "is the search time above FAISS's in-process search. A Milvus build creates, fills, flushes, indexes and loads a "
              "collection: a few seconds fixed at these sizes. p95 moves with the neighbours' load on the 2 shared cores."]
    if recombined:
        lines += [
            "- **Recombined sets** (`--sets recombined100k`): passages are a few real sentences of one real document with the "
            "normalised mean of their cached e5 sentence vectors (benchmarks.scale), so nothing is embedded; the FAISS folder is "
            "written as benchmarks.endtoend writes it, with the product's settings (IVF-SQ8 + exact re-scoring above 50k "
            "passages), and Milvus Lite gets the same vectors and the passages' normalised text (FLAT: Lite refuses HNSW). "
            "The shuffled passages answer no question of their own, so there is no R@1 to report: R@1 is measured on the "
            "seeds and CMRC above. Instead, how often the two stores put the same passage first for the 100 seed and CMRC "
            "questions, and how much of FAISS's dense top 10 Milvus's dense top 10 holds (IVF-SQ8 with re-scoring against "
            "FLAT: the recombined set repeats sentences, so ties at the 10th place count against it). The fused first passage "
            "differs more often because the two BM25s tokenise differently and the set is full of near-duplicate passages "
            "that either store may put first.",
            "- **Where Milvus Lite is slower at 100k.** Its dense search is FLAT (exact) in its own process, against FAISS's "
            "IVF-SQ8 with exact re-scoring in the app's; its build inserts, flushes and indexes the collection through the "
            "server; and opening the index loads the collection into the Lite process (`open_s` in the JSON). Its memory "
            "is the collection (float32 vectors, the text, the BM25 sparse index) in the Lite process; the app keeps the "
            "SQLite store, as with FAISS."]
    lines += ["", "Raw numbers: `python -m benchmarks.milvus --no-write` prints them as JSON.", "",
              "```json", json.dumps(result, ensure_ascii=False), "```", ""]
    section = "\n".join(lines)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def merge_previous(result: dict, found) -> dict:
    """Each set carries its own date and commit; sets recorded in the section before and not run now are kept."""
    for row in result["sets"].values():
        row.setdefault("date", result["date"])
        row.setdefault("commit", result["commit"])
    if not found:
        return result
    block = re.search(r"```json\n(.*?)\n```", found.group(0), re.S)
    try:
        previous = json.loads(block.group(1)) if block else {}
    except ValueError:
        previous = {}
    kept = {}
    for name, row in previous.get("sets", {}).items():
        if name not in result["sets"]:
            kept[name] = {"date": previous.get("date"), "commit": previous.get("commit"), **row}
    return {**result, "sets": {**kept, **result["sets"]}}


if __name__ == "__main__":
    main()
