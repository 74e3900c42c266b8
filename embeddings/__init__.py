"""Embedders: the bundled multilingual e5 engine (default) and sentence-transformers."""
from .base import Embedder, EmbedderUnavailable, load_embedder

__all__ = ["Embedder", "EmbedderUnavailable", "load_embedder"]
