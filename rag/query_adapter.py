"""The query adapter: an English question's e5 vector moved towards where its Chinese paragraphs lie (numpy only).

models/query_adapter.npz holds W (384×384) and b (float16) and the alpha of a = normalise(q + alpha (W q + b)), trained
by `python -m rag.adapter_train` on English versions of CMRC 2018 train and DRCD test questions (docs/query_adapter.md).
It applies to the dense side of retrieval only, and only to a question rag.question.is_english_question reads as English
(decided from the question alone); a Chinese question, the passages and the index are untouched.
RAG_QUERY_ADAPTER=off turns it off.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "query_adapter.npz"


class QueryAdapter:
    def __init__(self, W: np.ndarray, b: np.ndarray, alpha: float = 1.0, linear: bool = False) -> None:
        self.W = np.ascontiguousarray(W, dtype=np.float32)
        self.b = np.asarray(b, dtype=np.float32)
        self.alpha = float(alpha)
        self.linear = bool(linear)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "QueryAdapter":
        with np.load(path) as f:
            return cls(f["W"], f["b"], float(f["alpha"]), bool(f["linear"]) if "linear" in f else False)

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """The adapted vector(s), float32, L2-normalised (a (dim,) vector or (n, dim) rows)."""
        q = np.asarray(vector, dtype=np.float32)
        moved = q @ self.W.T + self.b
        a = moved if self.linear else q + self.alpha * moved
        norm = np.linalg.norm(a, axis=-1, keepdims=True)
        return (a / np.where(norm == 0, 1.0, norm)).astype(np.float32)


_loaded: dict[Path, QueryAdapter | None] = {}
_lock = threading.Lock()


def query_adapter(path: Path = WEIGHTS) -> QueryAdapter | None:
    """The committed adapter, loaded once; None when its file is missing or unreadable (the raw vector is used)."""
    with _lock:
        if path not in _loaded:
            try:
                _loaded[path] = QueryAdapter.load(path)
            except (OSError, KeyError, ValueError):
                _loaded[path] = None
        return _loaded[path]


def applies(question) -> bool:
    """Whether the adapter is for this analysed question: a Latin-script text that reads as an English question."""
    from .question import reads_as_english

    return reads_as_english(question)


def retrieval_vector(vector: np.ndarray, question, enabled: bool = True) -> np.ndarray:
    """The vector the dense side searches with: adapted for an English question when the adapter is on and present."""
    if not enabled or not applies(question):
        return vector
    adapter = query_adapter()
    return vector if adapter is None else adapter(vector)
