"""The seam for passage vectors: a small VectorStore interface, and FAISS as its implementation.

Retrieval and the index builder talk only to this interface, so another engine (a FAISS IVF-PQ on
disk, Qdrant, Milvus — see docs/scaling.md) can be added as one more class and a name in the
manifest, without touching retrieval.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorStore(Protocol):
    kind: str
    dim: int

    def __len__(self) -> int:
        """How many vectors; their ids are 0 … len - 1, the passage ids."""

    def add(self, vectors: np.ndarray) -> None:
        """Append float32, L2-normalised rows; they take the next ids."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and inner-product scores of the k nearest vectors to one query, best first."""

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids (to reuse them when a file has not changed)."""

    def save(self, path: Path) -> None:
        """Write the store to path."""


# HNSW search depth. Measured at 100k recombined passages (benchmarks/results.md): recall@10 against exact
# search 0.80 at 64, 0.88 at 128, 0.97 at 512 for 0.66 ms a query, which is small beside the 15 ms query embedding.
HNSW_EF_SEARCH = 512


class FaissVectorStore:
    """FAISS inner product: exact up to `hnsw_above` vectors, HNSW (M=32) above."""

    kind = "faiss"

    def __init__(self, index) -> None:
        self.index = index  # the raw faiss index, for benchmarks and tuning
        self.dim = int(index.d)

    @classmethod
    def create(cls, dim: int, size: int, hnsw_above: int) -> "FaissVectorStore":
        """An empty store shaped for `size` vectors."""
        import faiss

        if size > hnsw_above:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index = faiss.IndexFlatIP(dim)
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> "FaissVectorStore":
        """Read a saved store; faiss raises RuntimeError for a damaged file."""
        import faiss

        index = faiss.read_index(str(path))
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        _one_search_thread()
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in ids])

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))


_single_threaded = False


def _one_search_thread() -> None:
    """One query searches on one OpenMP thread: on 2 shared cores exact search over 1M vectors took 56 ms on one thread
    and 144 ms on both (threads wait on each other; benchmarks/results.md, "Vector search by corpus size")."""
    global _single_threaded
    if not _single_threaded:
        import faiss

        faiss.omp_set_num_threads(1)
        _single_threaded = True


STORES = {"faiss": FaissVectorStore}


def load_vector_store(kind: str, path: Path) -> VectorStore:
    """Open the saved store of the kind the manifest names."""
    if kind not in STORES:
        raise ValueError(f"unknown vector store {kind!r}")
    return STORES[kind].load(path)
