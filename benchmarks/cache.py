"""An embedder that keeps its vectors on disk, keyed by the embedder's name and each text's sha256.

On 2 shared cores the e5 engine embeds a few passages a second, so the CMRC contexts cost
minutes; the cache makes every later run cost milliseconds. It also remembers how long each
vector took, so a build served from the cache can still report the embedding time it saved.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import numpy as np

from .machine import ROOT

CACHE_DIR = ROOT / "benchmarks" / ".cache"


class CachingEmbedder:
    """Wraps an Embedder: vectors already in the cache are read, the rest are embedded (timed) and stored."""

    def __init__(self, inner, folder: Path = CACHE_DIR / "vectors", reuse: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.reuse = reuse  # False: embed everything again (timings are live), and refresh the cache
        base = Path(folder) / _slug(inner.name)
        self._shelves = {kind: VectorShelf(base / kind, self.dim) for kind in ("query", "passage")}
        self.live_seconds = 0.0  # spent embedding in this process
        self.recorded_seconds = 0.0  # what the vectors served from the cache took when they were made
        self.texts_embedded = 0
        self.texts_from_cache = 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors, from the cache where present."""
        return self._encode(list(texts), "query", self.inner.encode_queries)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Passage vectors, from the cache where present."""
        return self._encode(list(texts), "passage", lambda batch: self.inner.encode_passages(batch, progress=progress))

    def _encode(self, texts: list[str], kind: str, encode) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        shelf = self._shelves[kind]
        keys = [text_key(t) for t in texts]
        wanted = {}
        for key, text in zip(keys, texts):
            if (not self.reuse or key not in shelf) and key not in wanted:
                wanted[key] = text
        if wanted:
            started = time.perf_counter()
            vectors = encode(list(wanted.values()))
            seconds = time.perf_counter() - started
            self.live_seconds += seconds
            self.texts_embedded += len(wanted)
            lengths = np.array([len(t) for t in wanted.values()], dtype=np.float64)
            shares = seconds * lengths / max(1.0, lengths.sum())  # a batch's time, shared by text length
            shelf.put(list(wanted), vectors, shares)
        served = [k for k in keys if k not in wanted]
        self.texts_from_cache += len(served)
        self.recorded_seconds += shelf.seconds_of(served)
        return shelf.get(keys)


class VectorShelf:
    """One folder of vectors: keys.txt (sha256 a line), vectors.npy (float32) and seconds.npy (time to make each)."""

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = Path(folder)
        self.dim = dim
        self._row: dict[str, int] = {}
        self._vectors = np.zeros((0, dim), np.float32)
        self._seconds = np.zeros(0, np.float64)
        keys_file = self.folder / "keys.txt"
        if keys_file.exists():
            keys = keys_file.read_text().split()
            vectors = np.load(self.folder / "vectors.npy")
            seconds = np.load(self.folder / "seconds.npy")
            if len(keys) == len(vectors) == len(seconds) and vectors.shape[1:] == (dim,):
                self._row = {k: i for i, k in enumerate(keys)}
                self._vectors, self._seconds = vectors, seconds

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def get(self, keys: list[str]) -> np.ndarray:
        """The vectors of the keys, in order."""
        return np.ascontiguousarray(self._vectors[[self._row[k] for k in keys]], dtype=np.float32)

    def seconds_of(self, keys: list[str]) -> float:
        """The recorded embedding seconds of the keys."""
        return float(self._seconds[[self._row[k] for k in keys]].sum()) if keys else 0.0

    def put(self, keys: list[str], vectors: np.ndarray, seconds: np.ndarray) -> None:
        """Store (or replace) vectors and save the shelf atomically."""
        vectors = np.asarray(vectors, dtype=np.float32)
        fresh = [i for i, k in enumerate(keys) if k not in self._row]
        for i, k in enumerate(keys):
            if k in self._row:
                self._vectors[self._row[k]] = vectors[i]
                self._seconds[self._row[k]] = seconds[i]
        start = len(self._vectors)
        self._vectors = np.vstack([self._vectors, vectors[fresh]])
        self._seconds = np.concatenate([self._seconds, np.asarray(seconds)[fresh]])
        for n, i in enumerate(fresh):
            self._row[keys[i]] = start + n
        self._save()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._row, key=self._row.get)
        _write_atomic(self.folder / "vectors.npy", lambda handle: np.save(handle, self._vectors))
        _write_atomic(self.folder / "seconds.npy", lambda handle: np.save(handle, self._seconds))
        _write_atomic(self.folder / "keys.txt", lambda handle: handle.write(("\n".join(keys) + "\n").encode()))


def _write_atomic(path: Path, write) -> None:
    """Write through a temporary file and rename it into place (a reader sees old or new, never half)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


def text_key(text: str) -> str:
    """The cache key of a text: its sha256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _slug(name: str) -> str:
    """A folder name for an embedder name (a model path becomes its last part plus a short hash)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1])[:40]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
