"""`ask` end to end at 100k and 1M passages: `python -m benchmarks.endtoend [--sizes 100000,1000000]`.

benchmarks.scale times FAISS and bm25s alone. Here a whole index folder is written for n recombined passages,
laid out exactly as `rag index` lays it out (the SQLite store, FAISS, bm25s, the sentence vectors), and a fresh
process opens it with `load_index` and answers with `Pipeline.ask` (live query embedding, the product's
settings). Its latency and peak memory are those of a server of that corpus.

The passages are recombined real text (benchmarks.scale): a few real sentences of one real document (seeds and
CMRC), the passage vector the normalised mean of their e5 sentence vectors, each sentence keeping its own
vector and jieba tokens; ten passages make a document. Such vectors have neighbourhood structure, so the ANN
recall reported here (against exact search over the same vectors) means something; the answers do not (the
text is shuffled): quality is measured on the real sets.

Writes benchmarks/endtoend.md and benchmarks/endtoend.json.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .machine import ROOT, log, machine_facts, peak_rss_mb, percentiles, print_json, rss_mb, run_child

PASSAGES_PER_DOCUMENT = 10
OUT = ROOT / "benchmarks"


# ---------------------------------------------------------------- parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endtoend", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step")
    build = sub.add_parser("build", help="(child) write the index of n recombined passages")
    build.add_argument("--n", type=int, required=True)
    build.add_argument("--material", type=Path, required=True)
    build.add_argument("--index", type=Path, required=True)
    build.add_argument("--ann-above", type=int, default=None, help="the product's RAG_ANN_ABOVE unless given")
    ask = sub.add_parser("ask", help="(child) open the index and time Pipeline.ask")
    ask.add_argument("--index", type=Path, required=True)
    ask.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--ann-above", type=int, default=None, help="exact search up to this size (default: the product's setting)")
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args(argv)
    if args.step == "build":
        print_json(build_index(args.n, args.material, args.index, args.ann_above))
    elif args.step == "ask":
        print_json(ask_index(args.index, json.loads(args.questions.read_text(encoding="utf-8"))))
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        results = run(sizes, args.questions, args.ann_above)
        write(results)
    return 0


def run(sizes: list[int], question_count: int, ann_above: int | None) -> dict:
    """Material from the seed and CMRC indexes, then a build child and an ask child for each size."""
    from .cache import CACHE_DIR

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="endtoend-", dir=CACHE_DIR))
    try:
        material, questions = _material(workdir, question_count)
        questions_file = workdir / "questions.json"
        questions_file.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
        rows = []
        for n in sizes:
            folder = workdir / f"index-{n}"
            log(f"end to end: building {n:,} passages")
            build_args = ["build", "--n", str(n), "--material", str(material), "--index", str(folder)]
            if ann_above is not None:
                build_args += ["--ann-above", str(ann_above)]
            built = run_child("benchmarks.endtoend", build_args, timeout=4 * 3600)
            log(f"end to end: asking {len(questions)} questions over {n:,} passages")
            asked = run_child("benchmarks.endtoend", ["ask", "--index", str(folder), "--questions", str(questions_file)], timeout=3600)
            rows.append({"n": n, "build": built, "ask": asked})
            log(f"end to end {n:,}: {json.dumps(rows[-1])}")
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"machine": machine_facts(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows}


def _material(workdir: Path, question_count: int) -> tuple[Path, list[str]]:
    """The sentences of the seed and CMRC indexes (vectors from the benchmark cache) and the questions to ask."""
    from embeddings import load_embedder
    from rag.text import normalize

    from .cache import CachingEmbedder
    from .corpora import build_set_index, cmrc_available, load_set, open_set_pipeline
    from .scale import write_material

    embedder = CachingEmbedder(load_embedder("e5-small", threads=1))
    pipelines, questions = {}, []
    for name in ["seeds"] + (["cmrc"] if cmrc_available() else []):
        eval_set = load_set(name)
        build_set_index(eval_set, workdir / f"set-{name}", embedder)
        pipelines[name] = open_set_pipeline(eval_set, workdir / f"set-{name}", embedder)
        questions += [q["question"] for q in eval_set.questions if q["answers"]]
    questions = questions[::max(1, len(questions) // question_count)][:question_count]
    path = workdir / "material.npz"
    write_material(path, [(name, p.index) for name, p in pipelines.items()], embedder.encode_queries([normalize(q) for q in questions]), questions, embedder)
    return path, questions


# ---------------------------------------------------------------- children


def build_index(n: int, material_path: Path, folder: Path, ann_above: int | None) -> dict:
    """Write an index folder of n recombined passages, as rag.index writes one; seconds and peak RSS."""
    import logging

    import bm25s

    from rag.config import Settings
    from rag.index import BM25_DIR, FORMAT_VERSION, MANIFEST, VECTORS, dense_index_name
    from rag.schema import Document, Passage
    from rag.store import write_store
    from rag.vectorstore import IVF_TRAIN_PER_LIST, FaissVectorStore, ivf_lists

    from .scale import CHUNK, Material, Recombined, TokenIdCorpus, _training_sample, vector_chunks

    started = time.perf_counter()
    material = Material.load(material_path)
    sentence_vectors = material.arrays["sentence_vectors"]
    dim = sentence_vectors.shape[1]
    recombined = Recombined.draw(n, material.arrays["per_passage"], material.arrays["sentence_doc"])  # the draw vector_chunks makes
    folder.mkdir(parents=True, exist_ok=True)

    documents, passages, sentences = [], [], []
    ids, offsets = recombined.ids.tolist(), recombined.offsets.tolist()
    for first in range(0, n, PASSAGES_PER_DOCUMENT):
        doc_id = f"synthetic-{first // PASSAGES_PER_DOCUMENT:07d}.txt"
        parts, paragraphs, position = [], [], 0
        for j in range(first, min(n, first + PASSAGES_PER_DOCUMENT)):
            start = position
            for i in ids[offsets[j] : offsets[j + 1]]:
                text = material.sentences[i]
                sentences.append((j, position, position + len(text)))
                parts.append(text)
                position += len(text)
            passages.append(Passage(j, doc_id, j - first + 1, start, position, "".join(parts[-(offsets[j + 1] - offsets[j]):])))
            paragraphs.append((start, position))
            parts.append("\n")
            position += 1
        documents.append((Document(doc_id, doc_id, doc_id, None, None, None, "".join(parts), tuple(paragraphs)), ""))
    write_store(folder / "store.sqlite", documents, passages, sentences)
    stored_s = time.perf_counter() - started
    del documents, passages

    settings = Settings.from_env()
    limit = settings.ann_above if ann_above is None else ann_above
    vectors = FaissVectorStore.create(dim, n, limit)
    if vectors.approximate:  # train the lists on a sample of the whole corpus, as one `add` of every vector does
        vectors.train(_training_sample(n, "recombined", material, IVF_TRAIN_PER_LIST * ivf_lists(n)))
    for _, chunk in vector_chunks(n, "recombined", material):
        vectors.add(chunk)
    vectors.save(folder / VECTORS)
    vectors_approximate = vectors.approximate
    del vectors
    dense_s = time.perf_counter() - started - stored_s

    sentences_s = 0.0  # the index holds no sentence vectors since the rule path scores sentences by their passage

    logging.getLogger("bm25s").setLevel(logging.ERROR)
    keywords = bm25s.BM25()
    keywords.index(TokenIdCorpus(recombined, material.sentence_tokens(), {t: i for i, t in enumerate(material.vocab)}), show_progress=False)
    keywords.save(str(folder / BM25_DIR))
    keywords_s = time.perf_counter() - started - stored_s - dense_s - sentences_s
    manifest = {
        "format_version": FORMAT_VERSION, "embedder": "e5-small", "dim": dim, "vector_store": FaissVectorStore.kind,
        "dense_index": dense_index_name(vectors_approximate), "max_passage_chars": settings.max_passage_chars, "corpus_folders": [],
        "corpus": [], "skipped": [], "documents": math.ceil(n / PASSAGES_PER_DOCUMENT), "passages": n, "sentences": len(sentences),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return {
        "n": n, "sentences": len(sentences), "dense_index": manifest["dense_index"],
        "build_s": round(time.perf_counter() - started, 1), "store_s": round(stored_s, 1), "dense_s": round(dense_s, 1),
        "sentences_s": round(sentences_s, 1), "keywords_s": round(keywords_s, 1),
        "bytes_on_disk": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()), "peak_rss_mb": peak_rss_mb(),
    }


def ask_index(folder: Path, questions: list[str]) -> dict:
    """Open the index as the app does and time Pipeline.ask on each question; memory after opening and at the end."""
    from rag.config import Settings
    from rag.index import load_index
    from rag.pipeline import Pipeline
    from rag.retrieve import dense_search

    started = time.perf_counter()
    settings = Settings.from_env(index_dir=folder)
    pipeline = Pipeline(settings)  # loads the e5 engine as the app does (one thread when answering)
    pipeline.index = load_index(folder, pipeline.embedder.name)
    open_s = time.perf_counter() - started
    rss_open = rss_mb()
    pipeline.warm_up()
    samples = []
    for question in questions:
        began = time.perf_counter()
        pipeline.ask(question)
        samples.append((time.perf_counter() - began) * 1000)
    embed = []
    for question in questions[:30]:
        began = time.perf_counter()
        pipeline.embedder.encode_queries([question])
        embed.append((time.perf_counter() - began) * 1000)
    serving_peak = peak_rss_mb()
    out = {
        "questions": len(questions), "open_s": round(open_s, 2), "rss_after_open_mb": round(rss_open, 1),
        **{f"ask_{k}_ms": v for k, v in percentiles(samples, 50, 95).items()},
        "query_embedding_p50_ms": percentiles(embed, 50)["p50"], "peak_rss_mb": serving_peak,
        "dense_index": pipeline.index.manifest.get("dense_index"),
    }
    if pipeline.index.vectors.approximate:  # recall of the search the product ran, against exact search over the same vectors
        import faiss

        store = pipeline.index.vectors
        exact = faiss.IndexFlatIP(store.dim)
        for start in range(0, len(store), 100_000):
            exact.add(store.vectors(np.arange(start, min(len(store), start + 100_000))))
        depth = pipeline.settings.candidates
        hits, tied, ties = {10: 0, depth: 0}, 0, 0
        for question in questions:
            vector = pipeline.embedder.encode_queries([question])[0]
            query = vector.reshape(1, -1).astype(np.float32)
            for k in hits:  # each depth searched on its own: among equal scores, which ids a top k keeps is part of the answer
                found = dense_search(pipeline.index, vector, k).ids
                hits[k] += len(set(found.tolist()) & set(exact.search(query, k)[1][0].tolist())) / k
            # the recombined corpus repeats passages (the same sentence drawn twice): identical vectors. Counted by
            # score, a found passage is right when it is as near as the exact 10th.
            best, _ = exact.search(query, 11)
            found = dense_search(pipeline.index, vector, 10).ids
            tied += min(10, int(np.sum(store.vectors(found) @ vector >= best[0][9] - 1e-6))) / 10
            ties += bool(best[0][9] - best[0][10] < 1e-6)
        out["ann_recall_at_10"] = round(hits[10] / len(questions), 3)
        out[f"ann_recall_at_{depth}"] = round(hits[depth] / len(questions), 3)
        out["ann_recall_at_10_by_score"] = round(tied / len(questions), 3)
        out["questions_with_a_tie_at_10"] = ties
        out["ann_depth"] = depth
        out["ivf_nprobe"] = int(store.index.nprobe)
    return out


# ---------------------------------------------------------------- report


def write(results: dict) -> None:
    """benchmarks/endtoend.md (a table) and benchmarks/endtoend.json."""
    (OUT / "endtoend.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    m = results["machine"]
    lines = [
        "# `ask` end to end at 100k and 1M passages",
        "",
        f"Generated by `python -m benchmarks.endtoend` on {results['date']}: {m.get('cpu_count')} cores, "
        f"load average at start {m.get('load_average')}. Each size is written as a real index folder (recombined real "
        "sentences: see the module's docstring), then a fresh process opens it with `load_index` and times "
        "`Pipeline.ask` with live query embedding. Peak RSS is the asking process's own (the build ran in another).",
        "",
        "| passages | sentences | dense index | build s | on disk | open s | RSS after open | ask p50 | ask p95 | query embedding p50 | peak RSS (serving) | ANN recall against exact: @10 / @30 / @10 by score |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        b, a = row["build"], row["ask"]
        recall = (f"{a['ann_recall_at_10']} / {a['ann_recall_at_' + str(a['ann_depth'])]} / {a['ann_recall_at_10_by_score']} "
                  f"(nprobe {a['ivf_nprobe']}; {a['questions_with_a_tie_at_10']} of {a['questions']} questions tie at 10th)"
                  if "ann_recall_at_10" in a else "exact")
        lines.append(
            f"| {row['n']:,} | {b['sentences']:,} | {b['dense_index']} | {b['build_s']} | {b['bytes_on_disk'] / 1e9:.2f} GB | {a['open_s']} | "
            f"{a['rss_after_open_mb']:,.0f} MB | {a['ask_p50_ms']} ms | {a['ask_p95_ms']} ms | {a['query_embedding_p50_ms']} ms | "
            f"{a['peak_rss_mb']:,.0f} MB | {recall} |"
        )
    (OUT / "endtoend.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
