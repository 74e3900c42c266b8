"""The Milvus store: passage vectors and their normalised text in one Milvus collection, dense and BM25 search.

Selected by `RAG_STORE=milvus`; `RAG_MILVUS_URI` is a file path ending in `.db` (Milvus Lite, the embedded
engine) or `http://host:19530` (a Milvus standalone server or cluster), `RAG_MILVUS_TOKEN` its credentials.
This module is imported only then: the default store (FAISS + bm25s) never imports pymilvus.

One build writes one new collection, named `<alias>_v<time>`; the index folder's `milvus.json` names it, so
the passage ids in the folder's SQLite store and the rows of the collection always belong together, and the
folder swap (rag.index) switches both at once. On a server the alias `<alias>` is then pointed at the new
collection (Milvus Lite has no aliases: there the folder is the only pointer). A build that dies leaves the
previous collection and the previous folder answering; its half-written collection is dropped by the next
build. The collection before the current one is kept, so app servers still on it keep answering.

Each row: `id` (the passage id), `vector` (float32, unit length; inner product), `doc_id`, `text` (the
passage with its context, normalised as rag.text does for matching) and `sparse`, which Milvus's BM25
function fills from `text` through a jieba analyzer. Search is dense, keyword (BM25), or both; the product
fuses the two rankings itself (rag.retrieve), so the fusion is the one measured on FAISS + bm25s.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

from .vectorstore import StoreUnavailable

FILE = "milvus.json"  # in the index folder: where the passages live (never the token)
CONNECT_TIMEOUT = 5.0  # seconds to reach a server before saying it cannot be reached
# seconds a question's call (search, query) may take, retries included, before the question is told the engine is
# away; pymilvus retries an unreachable server 75 times with back-off otherwise (minutes). An int: pymilvus ignores others
CALL_TIMEOUT = 10
INSERT_BATCH = 2000
QUERY_BATCH = 1000
ANALYZER = {"tokenizer": "jieba"}
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, so both stores score keywords alike
TEXT_BYTES = 65535


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def default_index_type(uri: str) -> str:
    """Exact search in Milvus Lite (it refuses HNSW); on a server, Milvus's AUTOINDEX (HNSW-based)."""
    return "FLAT" if is_lite(uri) else "AUTOINDEX"


def connect(uri: str, token: str = ""):
    """A MilvusClient for the URI; StoreUnavailable with one line saying what to fix when it cannot be had."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreUnavailable(
            f"RAG_STORE=milvus needs pymilvus ({exc.name or exc} is not installed): "
            "pip install -r requirements-dev.txt, or unset RAG_STORE for the default store") from None
    if is_lite(uri):
        if not uri.endswith(".db"):
            raise StoreUnavailable(f"RAG_MILVUS_URI={uri!r}: a Milvus Lite file must end in .db (or give http://host:19530 for a server)")
        if not Path(uri).parent.is_dir():
            raise StoreUnavailable(f"RAG_MILVUS_URI={uri!r}: the folder {Path(uri).parent} does not exist")
    try:
        _quiet_pymilvus()
        with warnings.catch_warnings():  # milvus-lite 2.5 imports pkg_resources, which warns on every start
            warnings.simplefilter("ignore")
            if is_lite(uri):
                import milvus_lite  # noqa: F401  (missing: said below, not deep inside pymilvus)
            return MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT)
    except ImportError as exc:
        raise StoreUnavailable(
            f"RAG_MILVUS_URI={uri!r} is a Milvus Lite file, and milvus-lite is not installed ({exc}): "
            "pip install -r requirements-dev.txt, or give http://host:19530") from None
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, or whatever Milvus Lite's start-up raises
        raise StoreUnavailable(describe(exc, uri)) from None


def describe(exc: BaseException, uri: str) -> str:
    """One line for a failed Milvus call: what went wrong and what to do; never the traceback."""
    details = getattr(exc, "details", None)
    if callable(details) and callable(getattr(exc, "code", None)):  # a raw gRPC error: its status and details
        raw = f"{exc.code().name}: {details()}"
    else:
        raw = str(getattr(exc, "message", "") or exc)
    text = " ".join(raw.split())[:200]
    lowered = text.lower()
    where = f"Milvus at {uri}"
    if any(word in lowered for word in ("auth", "credential", "password", "token", "permission", "denied", "unauthenticated")):
        return f"{where} refused the credentials ({text}): check RAG_MILVUS_TOKEN (user:password or API key)"
    if any(word in lowered for word in ("unavailable", "fail connecting", "connection", "timeout", "deadline", "closed", "refused", "not ready", "server")):
        return f"{where} cannot be reached ({text}): start it, or fix RAG_MILVUS_URI; the default store was not used or changed"
    return f"{where} failed ({exc.__class__.__name__}: {text})"


def _quiet_pymilvus() -> None:
    """pymilvus logs every failed call with its traceback at ERROR; the product says what failed in one line instead."""
    import logging

    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.milvus_client._utils", "pymilvus.decorators", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class MilvusVectorStore:
    """One collection of passages: dense search, BM25 search, the stored vectors by id."""

    kind = "milvus"

    def __init__(self, client, uri: str, collection: str, dim: int, count: int, alias: str | None = None, index_type: str = "FLAT") -> None:
        self.client, self.uri, self.collection, self.dim, self.count, self.alias = client, uri, collection, dim, count, alias
        self.dense_params = {"metric_type": "IP"}
        if index_type == "HNSW":
            self.dense_params["params"] = {"ef": 512}
        elif index_type.startswith("IVF"):
            self.dense_params["params"] = {"nprobe": 64}

    # ------------------------------------------------------------ opening

    @classmethod
    def load(cls, path: Path, token: str | None = None) -> "MilvusVectorStore":
        """Open the collection that the index folder's milvus.json names, checking its dimension and count."""
        import os

        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        uri, name, dim = saved["uri"], saved["collection"], int(saved["dim"])
        client = connect(uri, os.environ.get("RAG_MILVUS_TOKEN", "") if token is None else token)
        try:
            if not client.has_collection(name):
                raise ValueError(f"the Milvus collection {name} at {uri} is gone")
            found = collection_dim(client, name)
            if found != dim:
                raise ValueError(f"the Milvus collection {name} holds {found}-dimensional vectors, this index's embedder makes {dim}")
            client.load_collection(name)
            count = _count(client, name)
        except ValueError:
            raise
        except Exception as exc:
            raise StoreUnavailable(describe(exc, uri)) from None
        if count != saved["count"]:
            raise ValueError(f"the Milvus collection {name} holds {count} passages, the index {saved['count']}")
        return cls(client, uri, name, dim, count, saved.get("alias"), saved.get("index_type", "FLAT"))

    def __len__(self) -> int:
        return self.count

    # ------------------------------------------------------------ searching

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and inner-product scores of the k passages nearest to one unit query vector, best first."""
        k = min(k, self.count)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        hits = self._search([vector], "vector", self.dense_params, k)
        return _ranking(hits)

    def keyword_search(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and BM25 scores of the k passages that best match the words of text (jieba), best first."""
        k = min(k, self.count)
        if k <= 0 or not text.strip():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self._search([text], "sparse", {"metric_type": "BM25"}, k)
        ids, scores = _ranking(hits)
        keep = scores > 0
        return ids[keep], scores[keep]

    def hybrid_search(self, query: np.ndarray, text: str, k: int, ranker: str = "rrf", rrf_k: int = 60,
                      dense_weight: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
        """Milvus's own fusion in one call (RRFRanker or WeightedRanker), for comparison with the product's."""
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        k = min(k, self.count)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        requests = [
            AnnSearchRequest([np.asarray(query, dtype=np.float32).reshape(-1).tolist()], "vector", {"metric_type": "IP"}, k),
            AnnSearchRequest([text or " "], "sparse", {"metric_type": "BM25"}, k),
        ]
        rank = RRFRanker(rrf_k) if ranker == "rrf" else WeightedRanker(dense_weight, 1.0 - dense_weight)
        try:
            hits = self.client.hybrid_search(self.collection, requests, rank, limit=k, timeout=CALL_TIMEOUT)[0]
        except Exception as exc:
            raise StoreUnavailable(describe(exc, self.uri)) from None
        return _ranking(hits)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these passage ids, in the order asked (an unchanged file reuses them)."""
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        found: dict[int, list[float]] = {}
        try:
            for a in range(0, len(ids), QUERY_BATCH):
                for row in self.client.query(self.collection, ids=ids[a : a + QUERY_BATCH], output_fields=["vector"], timeout=CALL_TIMEOUT):
                    found[int(row["id"])] = row["vector"]
        except Exception as exc:
            raise StoreUnavailable(describe(exc, self.uri)) from None
        return np.asarray([found[i] for i in ids], dtype=np.float32)

    def _search(self, data, field: str, params: dict, k: int) -> list:
        try:
            return self.client.search(self.collection, data=data, anns_field=field, limit=k, search_params=params, timeout=CALL_TIMEOUT)[0]
        except Exception as exc:  # a server that went away mid-question: one line, never a traceback
            raise StoreUnavailable(describe(exc, self.uri)) from None


def _ranking(hits) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([int(h["id"]) for h in hits], dtype=np.int64)
    scores = np.array([float(h["distance"]) for h in hits], dtype=np.float32)
    return ids, scores


def _count(client, name: str) -> int:
    rows = client.query(name, filter="", output_fields=["count(*)"], timeout=CALL_TIMEOUT)
    return int(rows[0]["count(*)"]) if rows else 0


def collection_dim(client, name: str) -> int | None:
    """The dimension of the collection's `vector` field (None when it has none)."""
    for field in client.describe_collection(name).get("fields", []):
        if field.get("name") == "vector":
            return int(field.get("params", {}).get("dim", 0))
    return None


# ---------------------------------------------------------------- building


def write_collection(uri: str, token: str, alias: str, dim: int, ids: np.ndarray, vectors: np.ndarray, texts: list[str],
                     doc_ids: list[str], index_type: str | None = None, progress=None) -> dict:
    """Create a new collection `<alias>_v<time>` holding these passages; returns what milvus.json records.

    Nothing that answers now is touched: the alias moves only in `publish`, after the folder swap."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client = connect(uri, token)
    name = f"{alias}_v{time.time_ns()}"
    index_type = index_type or default_index_type(uri)
    try:
        _refuse_foreign(client, alias, uri)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True, analyzer_params=ANALYZER)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index_type, metric_type="IP", **_dense_params(index_type))
        index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
        client.create_collection(name, schema=schema, index_params=index_params)
        try:
            rows = len(ids)
            for a in range(0, rows, INSERT_BATCH):
                b = min(rows, a + INSERT_BATCH)
                client.insert(name, [
                    {"id": int(ids[i]), "vector": vectors[i].tolist(), "doc_id": doc_ids[i][:1024], "text": _fit(texts[i])}
                    for i in range(a, b)
                ])
                if progress:
                    progress(b, rows)
            client.flush(name)
            client.load_collection(name)
            count = _count(client, name)
            if count != rows:
                raise StoreUnavailable(f"Milvus at {uri} holds {count} of the {rows} passages written to {name}")
        except BaseException:
            _drop_quietly(client, name)
            raise
    except (StoreUnavailable, CollectionInTheWay):
        raise
    except Exception as exc:
        raise StoreUnavailable(describe(exc, uri)) from None
    return {"uri": uri, "collection": name, "alias": alias, "dim": dim, "count": len(ids), "index_type": index_type,
            "analyzer": ANALYZER, "bm25": BM25_PARAMS}


def publish(saved: dict, previous: str | None, token: str) -> None:
    """After the folder swap: point the alias at the new collection (servers only), drop all but it and the previous one.

    Best effort: the folder already answers from the new collection, so a failure here is left for the next build."""
    try:
        client = connect(saved["uri"], token)
        alias, name = saved["alias"], saved["collection"]
        if not is_lite(saved["uri"]):
            existing = client.list_aliases(name).get("aliases", []) if hasattr(client, "list_aliases") else []
            if alias not in existing:
                try:
                    client.alter_alias(name, alias)
                except Exception:
                    client.create_alias(name, alias)
        for other in client.list_collections():
            if is_generation(other, alias) and other not in (name, previous):
                _drop_quietly(client, other)
    except Exception:
        return


def drop_collections(uri: str, token: str, alias: str) -> None:
    """Drop every collection this alias's builds made (a temporary evaluation index)."""
    try:
        client = connect(uri, token)
        for other in client.list_collections():
            if is_generation(other, alias):
                _drop_quietly(client, other)
    except (StoreUnavailable, Exception):
        return


class CollectionInTheWay(ValueError):
    """A collection this product did not build already has the name its alias needs."""


def is_generation(name: str, alias: str) -> bool:
    """Whether the collection is one that a build for this alias made (`<alias>_v<digits>`, nothing else)."""
    stem, _, stamp = name.rpartition("_v")
    return stem == alias and stamp.isdigit()


def _refuse_foreign(client, alias: str, uri: str) -> None:
    """A collection that already carries the alias's own name was made by something else: never write into it."""
    if client.has_collection(alias) and alias not in _aliases_anywhere(client, alias):
        found = collection_dim(client, alias)
        raise CollectionInTheWay(
            f"Milvus at {uri} already holds a collection named {alias} ({found}-dimensional vectors) that this product "
            "did not build: it was left as it is; choose another name with RAG_MILVUS_COLLECTION")


def _aliases_anywhere(client, alias: str) -> set[str]:
    try:
        return {alias} if client.describe_alias(alias) else set()
    except Exception:
        return set()


def _dense_params(index_type: str) -> dict:
    if index_type == "HNSW":
        return {"params": {"M": 32, "efConstruction": 200}}
    if index_type in ("IVF_FLAT", "IVF_SQ8"):
        return {"params": {"nlist": 1024}}
    return {}


def _fit(text: str) -> str:
    """The text cut to what a VARCHAR field holds (bytes, not characters)."""
    data = text.encode("utf-8")
    return text if len(data) <= TEXT_BYTES else data[:TEXT_BYTES].decode("utf-8", "ignore")


def _drop_quietly(client, name: str) -> None:
    try:
        client.drop_collection(name)
    except Exception:
        pass
