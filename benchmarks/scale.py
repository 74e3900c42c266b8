"""Search at corpus sizes one machine may meet: FAISS exact vs HNSW vs IVF-PQ, and bm25s keyword search.

Large corpora are made from real material: each synthetic passage is a handful of real sentences of one
real document (seeds and CMRC), drawn at random with the real number of sentences per passage. Their keyword tokens
are the concatenated jieba tokens of those sentences (no re-tokenising), their vectors the normalised
mean of the sentences' e5 vectors. At 100k and 1M the vectors are random unit vectors instead: they
measure search time and memory; recall on them is a worst case (no cluster structure for the index to use).

The parent writes the material once (`write_material`); each size runs in its own child process,
`python -m benchmarks.scale vectors|keywords --n N --material FILE`, so its peak memory is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from rag.vectorstore import IVF_NPROBE as IVF_NPROBE_PRODUCT
from rag.vectorstore import IVF_TRAIN_PER_LIST, REFINE_FACTOR, FaissVectorStore, ivf_lists

from .machine import peak_rss_mb, percentiles, print_json, rss_mb

K = 10  # recall@10 against exact search
RECALL_TARGET = 0.95  # the tuned setting is the cheapest that reaches this recall@10
HNSW_EF_SEARCH = (16, 32, 64, 128, 256, 512)
IVF_NPROBE = (1, 2, 4, 8, 16, 32, 64, 128)
IVF_PQ_M = (48, 96)  # 384 dims in 48 or 96 sub-quantizers of 8 bits: 48 or 96 bytes a vector
CHUNK = 50_000
PQ_MIN_TRAIN = 256 * 39  # 8-bit PQ: 256 centroids per sub-quantizer, faiss wants 39 points each


# ---------------------------------------------------------------- material (written by the parent)


def write_material(path: Path, stores_and_vectors, query_vectors: np.ndarray, questions: list[str], embedder) -> dict:
    """Sentences (text, document, jieba token ids, e5 vector), sentences-per-passage counts and queries, into one .npz.

    The index no longer holds sentence vectors: the sentences are embedded here (benchmarks/.cache keeps them)."""
    from rag.text import tokens

    texts, vectors, per_passage, sentence_doc, real = [], [], [], [], {}
    documents: dict[tuple[str, str], int] = {}
    for name, index in stores_and_vectors:
        rows = index.store.all_sentences()
        passages = {p.id: p for p in index.store.all_passages()}
        first = len(texts)
        for sid, pid, start, end in rows:
            doc_id = passages[pid].doc_id
            texts.append(index.store.documents[doc_id].text[start:end])
            sentence_doc.append(documents.setdefault((name, doc_id), len(documents)))
        vectors.append(np.asarray(embedder.encode_passages(texts[first:]), dtype=np.float32))
        per_passage += np.bincount([pid for _, pid, _, _ in rows], minlength=len(passages)).tolist()
        real[name] = index.dense.reconstruct_n(0, index.dense.ntotal)
    vocab: dict[str, int] = {}
    sentence_tokens = [[vocab.setdefault(t, len(vocab)) for t in tokens(text)] for text in texts]
    query_tokens = [[vocab[t] for t in tokens(q) if t in vocab] for q in questions]
    np.savez(
        path,
        sentence_vectors=np.vstack(vectors),
        sentence_doc=np.array(sentence_doc, dtype=np.int32),
        sentence_token_flat=np.fromiter(chain.from_iterable(sentence_tokens), dtype=np.int32),
        sentence_token_offsets=np.cumsum([0] + [len(t) for t in sentence_tokens]).astype(np.int64),
        per_passage=np.array([c for c in per_passage if c > 0], dtype=np.int32),
        query_vectors=np.asarray(query_vectors, dtype=np.float32),
        query_token_flat=np.fromiter(chain.from_iterable(query_tokens), dtype=np.int32),
        query_token_offsets=np.cumsum([0] + [len(t) for t in query_tokens]).astype(np.int64),
        **{f"real_{name}": vectors for name, vectors in real.items()},
    )
    Path(path).with_suffix(".json").write_text(json.dumps({"vocab": list(vocab), "sentences": texts}, ensure_ascii=False))
    return {"sentences": len(texts), "documents": len(documents), "vocab": len(vocab), "mean_sentences_per_passage": round(float(np.mean([c for c in per_passage if c > 0])), 2)}


@dataclass
class Material:
    """What write_material saved, loaded."""

    arrays: dict
    vocab: list[str]
    sentences: list[str]

    @classmethod
    def load(cls, path: Path) -> "Material":
        """Load the .npz and its .json companion."""
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
        extra = json.loads(Path(path).with_suffix(".json").read_text())
        return cls(arrays, extra["vocab"], extra["sentences"])

    def sentence_tokens(self) -> list[list[int]]:
        """Each sentence's token ids, as Python lists (shared by every passage that reuses the sentence)."""
        flat, offsets = self.arrays["sentence_token_flat"].tolist(), self.arrays["sentence_token_offsets"]
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    def query_tokens(self) -> list[list[str]]:
        """Each query's jieba tokens (those the material's vocabulary knows)."""
        flat, offsets = self.arrays["query_token_flat"], self.arrays["query_token_offsets"]
        return [[self.vocab[i] for i in flat[a:b]] for a, b in zip(offsets[:-1], offsets[1:])]


@dataclass
class Recombined:
    """n synthetic passages: passage j is sentences[ids[offsets[j]:offsets[j + 1]]], all from one real document."""

    offsets: np.ndarray
    ids: np.ndarray

    @classmethod
    def draw(cls, n: int, per_passage: np.ndarray, sentence_doc: np.ndarray, seed: int = 0) -> "Recombined":
        """Draw n passages, each from the sentences of one real document, with the real count of sentences per passage."""
        rng = np.random.default_rng(seed)
        order = np.argsort(sentence_doc, kind="stable")
        _, starts, sizes = np.unique(sentence_doc[order], return_index=True, return_counts=True)
        counts = rng.choice(per_passage, size=n)
        documents = rng.choice(len(sizes), size=n, p=sizes / sizes.sum())
        slot_document = np.repeat(documents, counts)
        picks = (rng.random(len(slot_document)) * sizes[slot_document]).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(offsets, order[starts[slot_document] + picks].astype(np.int32))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sentence_ids(self, j: int) -> np.ndarray:
        """The sentence ids of passage j."""
        return self.ids[self.offsets[j] : self.offsets[j + 1]]

    def texts(self, sentences: list[str], count: int) -> list[str]:
        """The first count passages as text."""
        return ["".join(sentences[i] for i in self.sentence_ids(j)) for j in range(min(count, len(self)))]


# ---------------------------------------------------------------- vectors


def vector_chunks(n: int, source: str, material: Material, seed: int = 0):
    """(start, float32 unit vectors) chunks of the n passage vectors: made on demand, the same every time."""
    if source.startswith("real_"):
        vectors = material.arrays[source][:n]
        for start in range(0, len(vectors), CHUNK):
            yield start, np.ascontiguousarray(vectors[start : start + CHUNK])
        return
    dim = material.arrays["sentence_vectors"].shape[1]
    recombined = Recombined.draw(n, material.arrays["per_passage"], material.arrays["sentence_doc"], seed) if source == "recombined" else None
    for number, start in enumerate(range(0, n, CHUNK)):
        stop = min(n, start + CHUNK)
        if recombined is None:
            chunk = np.random.default_rng(seed * 1_000_003 + number).standard_normal((stop - start, dim), dtype=np.float32)
        else:
            a, b = recombined.offsets[start], recombined.offsets[stop]
            chunk = np.add.reduceat(material.arrays["sentence_vectors"][recombined.ids[a:b]], recombined.offsets[start:stop] - a, axis=0)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        yield start, np.ascontiguousarray(chunk, dtype=np.float32)


def measure_vectors(n: int, source: str, material: Material, queries: int, hnsw_ef_construction: int | None = None,
                    pq_m: tuple[int, ...] = IVF_PQ_M) -> dict:
    """Exact, IVF-PQ (m=48, 96) and HNSW at n vectors: build s, bytes per passage, recall@10 vs exact and p50 per setting."""
    import faiss

    query_vectors = np.ascontiguousarray(material.arrays["query_vectors"][:queries])
    dim = query_vectors.shape[1]
    n = len(material.arrays[source]) if source.startswith("real_") else n  # a real set is used whole
    out = {"n": n, "vectors": source, "queries": len(query_vectors), "dim": dim, "faiss_threads": faiss.omp_get_max_threads(), "indexes": []}

    flat = faiss.IndexFlatIP(dim)
    exact, truth = _build_and_search(flat, lambda: _add_all(flat, n, source, material), query_vectors, None, None)
    exact.update(_latency(flat, query_vectors, threads=os.cpu_count(), suffix="_all_threads"))
    out["indexes"].append({"index": "exact (IndexFlatIP)", **exact})
    del flat

    nlist = ivf_lists(n)  # the product's rule, for IVF-PQ too
    if not pq_m:
        out["indexes"].append({"index": "IVF-PQ", "skipped": "not run here (--quick: training 8-bit PQ codes takes ~15 s at 10k on one shared core)"})
    quantizer = faiss.IndexFlatIP(dim)  # the coarse quantizer: trained by the first IVF-PQ, reused by the next
    for m in pq_m:
        name = f"IVF-PQ (m={m})"
        if n < PQ_MIN_TRAIN:
            out["indexes"].append({"index": name, "skipped": f"needs at least {PQ_MIN_TRAIN:,} vectors to train 8-bit PQ codes"})
            continue
        shared = quantizer.ntotal == nlist
        ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)

        def build_ivf(ivf=ivf):
            ivf.train(_training_sample(n, source, material, max(PQ_MIN_TRAIN, IVF_TRAIN_PER_LIST * nlist)))
            _add_all(ivf, n, source, material)

        row, _ = _build_and_search(ivf, build_ivf, query_vectors, truth, ("nprobe", [p for p in IVF_NPROBE if p <= nlist]))
        out["indexes"].append({"index": name, "nlist": nlist, "coarse_kmeans_reused": shared, **row})
        del ivf
    del quantizer

    product = ProductSearch(FaissVectorStore.create(dim, n, ann_above=n - 1))  # IVF-SQ8, exact re-scoring

    def build_product(store=product.store):
        store.train(_training_sample(n, source, material, IVF_TRAIN_PER_LIST * nlist))
        _add_all(store, n, source, material)

    product_nprobe = min(IVF_NPROBE_PRODUCT, nlist)
    settings = sorted({p for p in IVF_NPROBE if p <= nlist} | {product_nprobe})
    row, _ = _build_and_search(product, build_product, query_vectors, truth, ("nprobe", settings))
    out["indexes"].append({"index": f"IVF-SQ8 + exact re-scoring of {REFINE_FACTOR}·k (the product's above RAG_ANN_ABOVE)", "nlist": nlist,
                           "product_nprobe": product_nprobe, "product": next(c for c in row["curve"] if c["nprobe"] == product_nprobe), **row})
    del product

    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)  # the product's former ANN index
    hnsw.hnsw.efConstruction = hnsw_ef_construction or 80
    row, _ = _build_and_search(hnsw, lambda: _add_all(hnsw, n, source, material), query_vectors, truth, ("efSearch", list(HNSW_EF_SEARCH)))
    out["indexes"].append({"index": f"HNSW (M=32, efConstruction {hnsw.hnsw.efConstruction})", **row})
    del hnsw
    out["peak_rss_mb"] = peak_rss_mb()
    return out


class ProductSearch:
    """The product's approximate store (rag.vectorstore) behind FAISS's batch search API, for the same measuring code."""

    def __init__(self, store: FaissVectorStore) -> None:
        self.store = store

    @property
    def ntotal(self) -> int:
        return len(self.store)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found = np.full((len(queries), k), -1, np.int64)
        scores = np.zeros((len(queries), k), np.float32)
        for row, query in enumerate(queries):
            ids, values = self.store.search(query, k)
            found[row, : len(ids)], scores[row, : len(ids)] = ids, values
        return scores, found


def _add_all(index, n: int, source: str, material: Material) -> None:
    for _, chunk in vector_chunks(n, source, material):
        index.add(chunk)


def _training_sample(n: int, source: str, material: Material, size: int) -> np.ndarray:
    """The first `size` vectors (the chunks are already in random order)."""
    parts, have = [], 0
    for _, chunk in vector_chunks(n, source, material):
        parts.append(chunk[: size - have])
        have += len(parts[-1])
        if have >= size:
            break
    return np.ascontiguousarray(np.vstack(parts))


def _build_and_search(index, build, queries: np.ndarray, truth, knob) -> tuple[dict, np.ndarray]:
    """Build the index, then per knob setting: recall@10 against truth and single-query latency; the tuned setting."""
    rss_before = rss_mb()
    started = time.perf_counter()
    build()
    build_s = time.perf_counter() - started
    row = {"build_s": round(build_s, 2), "bytes_per_passage": round(_serialized_bytes(index) / max(1, index.ntotal), 1),
           "rss_growth_mb": round(rss_mb() - rss_before, 1)}
    if knob is None:
        _, truth = index.search(queries, K)
        row.update(_latency(index, queries))
        return row, truth
    name, values = knob
    curve = []
    for value in values:
        _set_knob(index, name, value)
        _, found = index.search(queries, K)
        curve.append({name: value, "recall_at_10": round(_recall(found, truth), 4), **_latency(index, queries)})
    reaching = [c for c in curve if c["recall_at_10"] >= RECALL_TARGET]
    tuned = reaching[0] if reaching else max(curve, key=lambda c: c["recall_at_10"])
    row.update({"tuned": tuned, "curve": curve, "reaches_target": bool(reaching)})
    return row, truth


def _set_knob(index, name: str, value: int) -> None:
    if name == "efSearch":
        index.hnsw.efSearch = value
    elif isinstance(index, ProductSearch):
        index.store.index.nprobe = value
    else:
        index.nprobe = value


def _latency(index, queries: np.ndarray, threads: int | None = None, suffix: str = "") -> dict:
    """p50/p95 milliseconds of searching one query at a time (with `threads` OpenMP threads for the while)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads or before)
    try:
        samples = []
        for q in queries:
            started = time.perf_counter()
            index.search(q[None, :], K)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        faiss.omp_set_num_threads(before)
    return {f"{key}_ms{suffix}": value for key, value in percentiles(samples, 50, 95).items()}


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t[t >= 0])) / K for f, t in zip(found, truth)]))


def _serialized_bytes(index) -> int:
    """Bytes of the index as faiss writes it (≈ its memory), measured on disk to avoid a second copy in RAM.

    For the product's store: its 8-bit IVF (held in memory) plus the float32 vectors it reads from disk."""
    import faiss

    if isinstance(index, ProductSearch):
        return _serialized_bytes(index.store.index) + len(index.store) * index.store.dim * 4
    with tempfile.NamedTemporaryFile(suffix=".faiss", dir=os.environ.get("RAG_BENCH_TMP")) as handle:
        faiss.write_index(index, handle.name)
        return os.path.getsize(handle.name)


# ---------------------------------------------------------------- keywords


class TokenIdCorpus:
    """The token ids of each recombined passage, made on the fly each time bm25s iterates (nothing kept)."""

    def __init__(self, recombined: Recombined, sentence_tokens: list[list[int]], vocab: dict[str, int]) -> None:
        self.recombined = recombined
        self.sentence_tokens = sentence_tokens
        self.vocab = vocab  # what bm25s reads as corpus.vocab
        self.ids = self  # and corpus.ids: this object, iterable again and again

    def __len__(self) -> int:
        return len(self.recombined)

    def __iter__(self):
        tokens, offsets, ids = self.sentence_tokens, self.recombined.offsets, self.recombined.ids.tolist()
        for j in range(len(self.recombined)):
            yield list(chain.from_iterable(tokens[i] for i in ids[offsets[j] : offsets[j + 1]]))


def measure_keywords(n: int, material: Material, queries: int) -> dict:
    """bm25s at n recombined passages, built from token ids: build seconds, bytes, and rag.retrieve.keyword_search p50."""
    import logging

    import bm25s

    from rag.retrieve import keyword_search

    logging.getLogger("bm25s").setLevel(logging.ERROR)
    recombined = Recombined.draw(n, material.arrays["per_passage"], material.arrays["sentence_doc"])
    vocab = {token: i for i, token in enumerate(material.vocab)}
    corpus = TokenIdCorpus(recombined, material.sentence_tokens(), vocab)
    rss_before = rss_mb()
    keywords = bm25s.BM25()
    started = time.perf_counter()
    keywords.index(corpus, show_progress=False)
    build_s = time.perf_counter() - started
    index_bytes = sum(np.asarray(keywords.scores[key]).nbytes for key in ("data", "indices", "indptr"))
    index = SimpleNamespace(keyword_vocab=keywords.vocab_dict, keywords=keywords, vectors=None)  # bm25s in the folder, no store-side BM25
    query_tokens = material.query_tokens()[:queries]
    for q in query_tokens[:3]:
        keyword_search(index, q, 30)
    samples = []
    for q in query_tokens:
        started = time.perf_counter()
        keyword_search(index, q, 30)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "n": n,
        "tokens": int(sum(len(t) for t in corpus)) if n <= 100_000 else None,
        "postings": int(len(keywords.scores["data"])),
        "build_s": round(build_s, 2),
        "bytes_per_passage": round(index_bytes / n, 1),
        "rss_growth_mb": round(rss_mb() - rss_before, 1),
        "queries": len(query_tokens),
        **{f"{key}_ms": value for key, value in percentiles(samples, 50, 95).items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def jieba_rate(material: Material, passages: int) -> dict:
    """How fast rag.text.tokens (NFKC, OpenCC, jieba) tokenises recombined passages; the time 1M would take."""
    from rag.text import tokens

    texts = Recombined.draw(passages, material.arrays["per_passage"], material.arrays["sentence_doc"], seed=1).texts(material.sentences, passages)
    tokens(texts[0])
    started = time.perf_counter()
    for text in texts:
        tokens(text)
    seconds = time.perf_counter() - started
    chars = sum(len(t) for t in texts)
    return {
        "passages": len(texts),
        "seconds": round(seconds, 2),
        "passages_per_s": round(len(texts) / seconds, 1),
        "chars_per_s": round(chars / seconds),
        "mean_chars_per_passage": round(chars / len(texts), 1),
        "extrapolated_s": {str(size): round(size / (len(texts) / seconds)) for size in (10_000, 100_000, 1_000_000)},
    }


# ---------------------------------------------------------------- child entry point


def main(argv: list[str] | None = None) -> None:
    """`vectors` or `keywords` at one size; prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("what", choices=("vectors", "keywords"))
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--material", type=Path, required=True)
    parser.add_argument("--source", default="recombined", help="recombined | random | real_seeds | real_cmrc")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument("--pq-m", default=",".join(map(str, IVF_PQ_M)), help="IVF-PQ sub-quantizer counts, comma-separated")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads for FAISS (1: the fastest on a shared machine)")
    args = parser.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    material = Material.load(args.material)
    if args.what == "vectors":
        pq_m = tuple(int(m) for m in args.pq_m.split(",") if m)
        print_json(measure_vectors(args.n, args.source, material, args.queries, args.ef_construction, pq_m))
    else:
        print_json(measure_keywords(args.n, material, args.queries))


if __name__ == "__main__":
    main()
