"""One frozen Settings: paths, embedder, k values, thresholds; from CLI flags and RAG_* variables."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    corpus: tuple[Path, ...] = (PROJECT_ROOT / "seeds",)  # RAG_CORPUS: folders separated by ':'
    index_dir: Path = PROJECT_ROOT / ".rag_index"  # RAG_INDEX
    embedder: str = "e5-small"  # RAG_EMBEDDER: e5-small | st:MODEL
    max_passage_chars: int = 300  # RAG_MAX_PASSAGE_CHARS: longer paragraphs are split at sentence ends
    top_k: int = 5  # RAG_TOP_K: passages returned
    candidates: int = 30  # RAG_CANDIDATES: how deep each side (dense, keywords) is read before fusion
    fusion: str = "convex"  # RAG_FUSION: convex (scaled scores, measured better on CMRC) | rrf
    dense_share: float = 0.35  # RAG_DENSE_SHARE: the dense side's share in convex fusion
    dense_share_unnamed: float = 0.7  # RAG_DENSE_SHARE_UNNAMED: the same for an English question whose names the glossary doesn't find
    answer_selector: bool = True  # RAG_ANSWER_SELECTOR: an English question's quote is chosen by models/answer_selector.json (rag/selector.py); off: the reader's own order
    query_adapter: bool = True  # RAG_QUERY_ADAPTER: an English question's dense vector goes through models/query_adapter.npz (rag/query_adapter.py)
    rrf_k: int = 10  # RAG_RRF_K: the k of reciprocal rank fusion (when RAG_FUSION=rrf)
    dense_weight: float = 1.0  # RAG_DENSE_WEIGHT
    keyword_weight: float = 1.0  # RAG_KEYWORD_WEIGHT
    ann_above: int = 50_000  # RAG_ANN_ABOVE: exact search up to this many passages, IVF with exact re-scoring above
    max_answers: int = 3  # RAG_MAX_ANSWERS
    threads: int = 0  # RAG_THREADS: e5 engine threads; 0 = one when answering (robust on a busy machine), all cores for `rag index`
    max_question_chars: int = 2000  # RAG_MAX_QUESTION_CHARS: a longer question is cut, and told so
    store: str = "faiss"  # RAG_STORE: faiss (FAISS + bm25s in the index folder, the default) | milvus (dense + BM25 in a Milvus collection)
    milvus_uri: str = ""  # RAG_MILVUS_URI: a file path ending in .db (Milvus Lite) or http(s)://host:19530 (a server); default <index folder>.db
    milvus_token: str = field(default="", repr=False)  # RAG_MILVUS_TOKEN: "user:password" or an API key; never written anywhere
    milvus_collection: str = "rag_passages"  # RAG_MILVUS_COLLECTION: the alias every build points at its new collection; one per index
    corpus_given: bool = False  # set when RAG_CORPUS or --corpus names the corpus; else an index answers from its own

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then RAG_* variables, then explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        values: dict = {}
        problems: list[str] = []
        for f in fields(cls):
            if f.name == "corpus_given":
                continue
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(f.name, raw)
            except ValueError:
                problems.append(f"RAG_{f.name.upper()}={raw!r} is not a {type(getattr(cls(), f.name)).__name__}")
        if "index_dir" not in values and env.get("RAG_INDEX"):  # the documented name; RAG_INDEX_DIR works too
            values["index_dir"] = Path(env["RAG_INDEX"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        problems += _out_of_range(values)
        if problems:
            raise ValueError("bad settings: " + "; ".join(problems))
        if "corpus" in values:
            values["corpus"] = tuple(Path(p) for p in values["corpus"])
            values["corpus_given"] = True
        if "index_dir" in values:
            values["index_dir"] = Path(values["index_dir"])
        elif values.get("store") == "milvus":  # the default FAISS index folder is never replaced by a Milvus build
            values["index_dir"] = PROJECT_ROOT / ".rag_index.milvus"
        if values.get("store") == "milvus":
            values["milvus_uri"] = milvus_uri(values.get("milvus_uri", ""), values["index_dir"])
        return replace(cls(), **values)


def milvus_uri(raw: str, index_dir: Path) -> str:
    """A server address as given; a Milvus Lite file as an absolute path (default: beside the index folder)."""
    if raw.startswith(("http://", "https://", "tcp://", "unix:")):
        return raw
    path = Path(raw) if raw else Path(index_dir).with_name(Path(index_dir).name + ".db")
    return str(path.expanduser().resolve())


def embed_threads(settings: "Settings", building: bool) -> int | None:
    """Engine threads: RAG_THREADS, else OMP_NUM_THREADS, else one to answer and all cores to build an index.

    Measured on 2 cores with another process busy: a query takes 20 ms on one thread and 1.4 s on two
    (OpenMP threads wait on each other), so answering never spreads one query over cores.
    """
    if settings.threads > 0:
        return settings.threads
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return (os.cpu_count() or 1) if building else 1


_CHOICES = {"fusion": ("convex", "rrf"), "store": ("faiss", "milvus")}
_AT_LEAST_ONE = ("top_k", "candidates", "max_answers", "max_question_chars", "max_passage_chars", "rrf_k", "ann_above")


def _out_of_range(values: dict) -> list[str]:
    """One line for each setting whose value the product cannot work with."""
    problems = []
    for name, allowed in _CHOICES.items():
        if name in values and values[name] not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}, not {values[name]!r}")
    for name in _AT_LEAST_ONE:
        if name in values and values[name] < 1:
            problems.append(f"{name} must be at least 1, not {values[name]}")
    for name in ("dense_share", "dense_share_unnamed"):
        share = values.get(name)
        if share is not None and not (0.0 <= share <= 1.0):  # also refuses nan
            problems.append(f"{name} must lie between 0 and 1, not {share}")
    for name in ("dense_weight", "keyword_weight"):
        if name in values and not (values[name] >= 0.0 and values[name] != float("inf")):
            problems.append(f"{name} must be a finite number ≥ 0, not {values[name]}")
    name = values.get("milvus_collection")
    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", name):
        problems.append(f"milvus_collection must be letters, digits and _ (not starting with a digit), not {name!r}")
    if values.get("threads", 0) < 0:
        problems.append(f"threads must be 0 (auto) or more, not {values['threads']}")
    return problems


def _parse(name: str, raw: str):
    default = getattr(Settings(), name)
    if name == "corpus":
        return tuple(Path(p) for p in raw.split(os.pathsep) if p)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
