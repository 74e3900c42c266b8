"""The seam for passage vectors: a small VectorStore interface, and FAISS as its implementation.

Retrieval and the index builder talk only to this interface, so another engine (a FAISS IVF-PQ on
disk, Qdrant) can be added as one more class and a name in the manifest. Milvus (rag/milvus.py) is the
second: it holds the keyword side too (`keyword_search`), and is imported only when the manifest names it.
"""
from __future__ import annotations

import math
import os
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


# Above `ann_above` passages: an inverted file (IVF) of 8-bit scalar-quantised vectors finds REFINE_FACTOR·k
# candidates, and their float32 vectors, read from a file beside the index, re-score them exactly. Measured on
# 1M recombined passages (benchmarks/results.md, "Vector search by corpus size"): recall@10 against exact
# search ≥ 0.999 from nprobe 32, about 1.5 ms a query, where exact search takes 60–70 ms and the former HNSW
# (M=32, efSearch 512) reached 0.68; it builds in two minutes instead of six, and only the 8-bit codes
# (384 B a passage) are held in memory: the candidates' float32 rows are read from disk (RowFile).
IVF_NPROBE = 64
REFINE_FACTOR = 10
IVF_TRAIN_PER_LIST = 40  # k-means wants about 39 training points per list


def ivf_lists(size: int) -> int:
    """About 4·√n inverted lists, but never fewer than 39 vectors per list."""
    return max(1, min(int(4 * math.sqrt(size)), size // 39))


def exact_path(path: Path) -> Path:
    """Where the approximate store keeps its float32 vectors: beside the FAISS file."""
    return Path(path).with_suffix(".exact.npy")


class FaissVectorStore:
    """FAISS inner product: exact up to `ann_above` vectors; above, IVF with 8-bit codes and exact re-scoring."""

    kind = "faiss"

    def __init__(self, index, exact: np.ndarray | None = None) -> None:
        import faiss

        self.index = index  # the raw faiss index (IndexFlatIP, or IndexIVFScalarQuantizer), for benchmarks and tuning
        self.dim = int(index.d)
        self.approximate = isinstance(index, faiss.IndexIVF)  # then `exact` holds the float32 rows
        if self.approximate:  # set here, not stored: a change of IVF_NPROBE reaches indexes already built
            index.nprobe = min(IVF_NPROBE, index.nlist)
        self._exact = exact
        self._added: list[np.ndarray] = []  # rows added to an approximate store since it was created

    @classmethod
    def create(cls, dim: int, size: int, ann_above: int) -> "FaissVectorStore":
        """An empty store shaped for `size` vectors (the approximate one trains on the first vectors added)."""
        import faiss

        if size <= ann_above:
            return cls(faiss.IndexFlatIP(dim))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, ivf_lists(size), faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        ivf.own_fields = True
        quantizer.this.disown()  # the IVF index frees its quantizer
        return cls(ivf, np.zeros((0, dim), np.float32))

    @classmethod
    def load(cls, path: Path) -> "FaissVectorStore":
        """Read a saved store; RuntimeError (faiss) or OSError/ValueError (the vectors file) when it is damaged."""
        import faiss

        index = faiss.read_index(str(path))
        if hasattr(index, "hnsw"):  # an index built before the IVF store (HNSW, M=32) still opens
            index.hnsw.efSearch = 512
        if not isinstance(index, faiss.IndexIVF):
            return cls(index)
        exact = RowFile(exact_path(path))
        if exact.shape != (index.ntotal, index.d):
            raise ValueError(f"{exact_path(path).name} holds {exact.shape[0]} vectors, the index {index.ntotal}")
        return cls(index, exact)

    def train(self, sample: np.ndarray) -> None:
        """Train the IVF lists and the 8-bit codes on a sample (add does it with its first batch otherwise)."""
        if not self.index.is_trained:
            self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if self.approximate:
                if not self.index.is_trained:  # on a random sample of the first batch
                    self.train(vectors[np.random.default_rng(0).permutation(len(vectors))[: IVF_TRAIN_PER_LIST * self.index.nlist]])
                self._added.append(vectors)
            self.index.add(vectors)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        _one_search_thread()
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if not self.approximate:
            scores, ids = self.index.search(query, k)
            keep = ids[0] >= 0
            return ids[0][keep], scores[0][keep]
        import faiss

        _, found = self.index.search(query, min(len(self), REFINE_FACTOR * k))
        candidates = np.sort(found[0][found[0] >= 0])  # in file order
        rows = np.ascontiguousarray(self._rows(candidates), dtype=np.float32)
        # FAISS's own exact kernel: the same scores, to the last bit, and the same tie-break (the lower id) as exact search
        scores, best = faiss.knn(query, rows, min(k, len(candidates)), faiss.METRIC_INNER_PRODUCT)
        return candidates[best[0]], scores[0]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        if self.approximate:
            return np.asarray(self._rows(np.asarray(ids, dtype=np.int64)), dtype=np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in ids]).astype(np.float32, copy=False)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))
        if self.approximate:
            np.save(exact_path(path), self._all_rows())

    def _all_rows(self) -> np.ndarray:
        if self._added:
            self._exact = np.vstack([np.asarray(self._exact), *self._added])
            self._added = []
        return self._exact

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return self._all_rows()[ids]


class RowFile:
    """The rows of a 2-D .npy file, read on demand with pread.

    Nothing is mapped into the process, so a question costs memory only for the rows it reads. A memory map
    of the same files grew by 2.5 GB over 100 questions at 1M passages, even told the reads were random: the
    kernel maps page-cache folios whole. Thread-safe (pread has no shared file position). ValueError when the
    file is shorter than its header says or is not a table.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_2_0 if version >= (2, 0) else np.lib.format.read_array_header_1_0
            shape, fortran, dtype = read_header(handle)
            self._offset = handle.tell()
            size = os.fstat(handle.fileno()).st_size
        if len(shape) != 2 or fortran:
            raise ValueError(f"{self.path.name} is not a table of vectors")
        self.shape, self.dtype = tuple(shape), dtype
        self._row_bytes = shape[1] * dtype.itemsize
        if size < self._offset + shape[0] * self._row_bytes:
            raise ValueError(f"{self.path.name} is truncated")
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, ids) -> np.ndarray:
        """Rows by id (an int gives one row, a list or array a table in the order asked)."""
        one = isinstance(ids, (int, np.integer))
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        if len(ids) and (ids.min() < 0 or ids.max() >= self.shape[0]):
            raise IndexError(f"row out of range for {self.path.name} ({self.shape[0]} rows)")
        out = np.empty((len(ids), self.shape[1]), self.dtype)
        for i, row in enumerate(ids.tolist()):
            out[i] = np.frombuffer(os.pread(self._fd, self._row_bytes, self._offset + row * self._row_bytes), self.dtype)
        return out[0] if one else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        table = np.fromfile(self.path, dtype=self.dtype, count=self.shape[0] * self.shape[1], offset=self._offset)
        return table.reshape(self.shape).astype(dtype or self.dtype, copy=False)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


_single_threaded = False


def _one_search_thread() -> None:
    """One query searches on one OpenMP thread: on 2 shared cores exact search over 1M vectors took 56 ms on one thread
    and 144 ms on both (threads wait on each other; benchmarks/results.md, "Vector search by corpus size")."""
    global _single_threaded
    if not _single_threaded:
        import faiss

        faiss.omp_set_num_threads(1)
        _single_threaded = True


class StoreUnavailable(Exception):
    """A store on a server (Milvus) cannot be reached, refuses the credentials, or failed a call: one line saying why."""


STORES = {"faiss": FaissVectorStore}
FILES = {"faiss": "vectors.faiss", "milvus": "milvus.json"}  # what each kind keeps in the index folder


def load_vector_store(kind: str, path: Path) -> VectorStore:
    """Open the saved store of the kind the manifest names (Milvus: pymilvus is imported only here)."""
    if kind == "milvus":
        from .milvus import MilvusVectorStore

        return MilvusVectorStore.load(path)
    if kind not in STORES:
        raise ValueError(f"unknown vector store {kind!r}")
    return STORES[kind].load(path)
