"""Hybrid retrieval: dense (FAISS or Milvus) and keywords (bm25s over jieba tokens, or Milvus BM25), fused by the product."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import Index
from .schema import Hit


@dataclass(frozen=True)
class Ranking:
    ids: np.ndarray  # passage ids, best first
    scores: np.ndarray


def dense_search(index: Index, query_vector: np.ndarray, k: int) -> Ranking:
    """The k passages nearest to the query vector by inner product (cosine)."""
    ids, scores = index.vectors.search(query_vector, k)
    return Ranking(ids, scores)


def keyword_token_ids(index: Index, query_tokens: list[str]) -> list[int]:
    """Vocabulary ids of the query tokens the corpus knows."""
    vocab = index.keyword_vocab
    return [vocab[t] for t in query_tokens if t in vocab]


def keyword_search(index: Index, query_tokens: list[str], k: int) -> Ranking:
    """The k passages with the best BM25 score over the query tokens; passages scoring 0 are not returned.

    bm25s in the index folder, or the store's own BM25 (Milvus: its jieba analyzer reads the tokens again)."""
    store_side = getattr(index.vectors, "keyword_search", None)
    if store_side is not None:
        if not query_tokens or k <= 0:
            return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
        return Ranking(*store_side(" ".join(query_tokens), k))
    ids = keyword_token_ids(index, query_tokens)
    if not ids or k <= 0:
        return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
    scores = index.keywords.get_scores_from_ids(ids)
    k = min(k, int(np.count_nonzero(scores)))
    if k <= 0:
        return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return Ranking(top.astype(np.int64), scores[top].astype(np.float32))


def fuse(dense: Ranking, keywords: Ranking, rrf_k: int, dense_weight: float, keyword_weight: float) -> list[tuple[int, float, dict]]:
    """Weighted reciprocal rank fusion; each entry keeps both component ranks and scores."""
    fused: dict[int, dict] = {}
    for side, ranking, weight in (("dense", dense, dense_weight), ("keyword", keywords, keyword_weight)):
        for rank, (pid, score) in enumerate(zip(ranking.ids.tolist(), ranking.scores.tolist()), start=1):
            entry = fused.setdefault(pid, {"score": 0.0})
            entry["score"] += weight / (rrf_k + rank)
            entry[f"{side}_rank"] = rank
            entry[f"{side}_score"] = float(score)
    order = sorted(fused.items(), key=lambda item: (-item[1]["score"], item[1].get("dense_rank") or 10**9))
    return [(pid, entry["score"], entry) for pid, entry in order]


def fuse_scores(dense: Ranking, keywords: Ranking, dense_share: float) -> list[tuple[int, float, dict]]:
    """Convex fusion: each side's scores scaled to [0, 1] over its candidates, then mixed dense_share : 1 - dense_share."""
    fused: dict[int, dict] = {}
    sides = (("dense", dense, dense_share), ("keyword", keywords, 1.0 - dense_share))
    for side, ranking, weight in sides:
        if not len(ranking.ids):
            continue
        scores = ranking.scores.astype(np.float64)
        low = float(scores.min()) if side == "dense" else 0.0
        span = float(scores.max()) - low
        scaled = (scores - low) / span if span > 0 else np.ones_like(scores)
        for rank, (pid, raw, value) in enumerate(zip(ranking.ids.tolist(), ranking.scores.tolist(), scaled.tolist()), start=1):
            entry = fused.setdefault(pid, {"score": 0.0})
            entry["score"] += weight * value
            entry[f"{side}_rank"] = rank
            entry[f"{side}_score"] = float(raw)
    order = sorted(fused.items(), key=lambda item: (-item[1]["score"], item[1].get("dense_rank") or 10**9))
    return [(pid, entry["score"], entry) for pid, entry in order]


def retrieve(
    index: Index,
    query_vector: np.ndarray,
    query_tokens: list[str],
    top_k: int,
    candidates: int = 30,
    rrf_k: int = 60,
    dense_weight: float = 1.0,
    keyword_weight: float = 1.0,
    fusion: str = "convex",
    dense_share: float = 0.35,
) -> list[Hit]:
    """The top_k passages for a query, dense and keyword rankings fused (convex on scaled scores, or RRF)."""
    depth = max(candidates, top_k)
    dense = dense_search(index, query_vector, depth)
    keywords = keyword_search(index, query_tokens, depth)
    if fusion == "rrf":
        fused = fuse(dense, keywords, rrf_k, dense_weight, keyword_weight)[:top_k]
    else:
        fused = fuse_scores(dense, keywords, dense_share)[:top_k]
    passages = {p.id: p for p in index.store.passages([pid for pid, _, _ in fused])}
    return [
        Hit(
            passage=passages[pid],
            score=score,
            dense_rank=entry.get("dense_rank"),
            dense_score=entry.get("dense_score"),
            keyword_rank=entry.get("keyword_rank"),
            keyword_score=entry.get("keyword_score"),
        )
        for pid, score, entry in fused
        if pid in passages
    ]
