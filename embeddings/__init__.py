"""Embedders: the bundled multilingual e5 engine (default) and sentence-transformers."""
from .base import Embedder, EmbedderUnavailable, embedder_name, load_embedder

__all__ = ["Embedder", "EmbedderUnavailable", "embedder_name", "load_embedder"]
