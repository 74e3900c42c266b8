"""sentence-transformers: any model id or local folder; GPU when present. Imported only when chosen."""
from __future__ import annotations

import numpy as np

from .base import EmbedderUnavailable, l2_normalize

BATCH = 64


class SentenceTransformerEmbedder:
    def __init__(self, model: str, device: str | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - requirements install it
            raise EmbedderUnavailable("sentence-transformers is not installed: run `make install`") from exc
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self._model = SentenceTransformer(model, device=self.device, local_files_only=True)
        except Exception as exc:  # the library raises OSError, ValueError, HF errors… for a missing model
            raise EmbedderUnavailable(
                f"cannot load the sentence-transformers model {model!r} offline: give a local folder "
                f"or a model already in the Hugging Face cache ({exc.__class__.__name__})"
            ) from None
        self.name = f"st:{model}"
        self.dim = int(self._model.get_embedding_dimension())
        self._e5 = "e5" in model.lower() and not self._model.prompts.get("query")

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """query vectors (the model's query prompt, or `query: ` for e5 models), L2-normalised."""
        if self._e5:
            return self._encode([f"query: {t}" for t in texts], self._model.encode)
        return self._encode(texts, self._model.encode_query)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """document vectors (`passage: ` for e5 models) in batches, L2-normalised."""
        if self._e5:
            return self._encode([f"passage: {t}" for t in texts], self._model.encode, progress)
        return self._encode(texts, self._model.encode_document, progress)

    def _encode(self, texts: list[str], encode, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = encode(
            texts,
            batch_size=BATCH,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=progress and len(texts) > BATCH,
        )
        return l2_normalize(vectors)
