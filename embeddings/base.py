"""The Embedder protocol and `load_embedder(name)`."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

DEFAULT_EMBEDDER = "e5-small"


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """float32 (n, dim), L2-normalised."""

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """float32 (n, dim), L2-normalised."""


class EmbedderUnavailable(Exception):
    """The embedder named cannot be loaded here (unknown name, missing package, missing model folder)."""


_ALIASES = {"e5": "e5-small"}


def embedder_name(name: str) -> str:
    """The name the embedder called `name` reports (and an index records), without loading it."""
    name = (name or "").strip()
    return _ALIASES.get(name, name)


def load_embedder(name: str = DEFAULT_EMBEDDER, threads: int | None = None) -> Embedder:
    """`e5-small` (bundled 4-bit engine) or `st:MODEL` (sentence-transformers, model id or local folder).

    threads: CPU threads for the e5 engine; None leaves OMP_NUM_THREADS (or all cores) in charge.
    """
    name = embedder_name(name)
    if name == "e5-small":
        from .e5_bundled import E5Small

        return E5Small(threads)
    if name.startswith("st:") and len(name) > 3:
        from .st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(name[3:])
    raise EmbedderUnavailable(f"unknown embedder {name!r}: use 'e5-small' or 'st:MODEL' (a model id or a local folder)")


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
