"""Build, update, save and load the index: FAISS passage vectors, sentence vectors, bm25s keywords, manifest.

A build is written to a temporary folder beside the index and renamed into place, so a
crash mid-build leaves the previous index whole. Unchanged files keep their vectors.
With `RAG_STORE=milvus` the passage vectors and the keyword side live in a new Milvus collection
that the folder's milvus.json names (rag/milvus.py); the folder keeps the store, the sentence
vectors, the keyword statistics the answer step weighs words by, and the manifest.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import Settings, embed_threads
from .documents import CorpusFile, UnreadableFile, find_corpus_files, parse_documents, read_file, sha256_file, split_passages
from .schema import Document, Passage
from .store import Store, StoreDamaged, write_store
from .vectorstore import FILES as STORE_FILES, FaissVectorStore, RowFile, StoreUnavailable, VectorStore, load_vector_store
from .text import sentence_spans, tokens

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STORE = "store.sqlite"
VECTORS = "vectors.faiss"
SENTENCE_VECTORS = "sentences.npy"  # written by indexes before 2026-11-30 (sentence vectors); ignored now
BM25_DIR = "bm25"
MILVUS = STORE_FILES["milvus"]
KEYWORD_STATS = "keywords.json"  # the Milvus store's keyword vocabulary and document frequencies (IDF for the answer step)
MARKER = ".rag-index"  # every index folder carries it: only a folder with it (or an older index's manifest) is ever replaced
MARKER_TEXT = "This folder is an index built by `python -m rag index`; it is replaced whole on every build.\n"


class IndexProblem(Exception):
    """The index cannot be used as it is; the message says why and what to run."""


class IndexMissing(IndexProblem):
    pass


class IndexStale(IndexProblem):
    pass


class IndexDamaged(IndexProblem):
    pass


class IndexUnreachable(IndexProblem):
    """The index's store is on a server that cannot be reached or refuses us: never rebuilt over, never replaced."""


class IndexRefused(IndexProblem):
    """The index folder given is not one the product may write: it holds other files, or a corpus."""


def check_index_folder(index_dir: Path, corpus: tuple[Path, ...] | list[Path]) -> None:
    """Refuse (IndexRefused) an index folder that holds anything but an index, or that is, holds or sits in a corpus folder."""
    target = Path(index_dir).resolve()
    for folder in corpus:
        folder = Path(folder).resolve()
        if target == folder or folder in target.parents or target in folder.parents:
            raise IndexRefused(
                f"the index folder {index_dir} {'is' if target == folder else 'overlaps'} the corpus folder {folder}: "
                "choose an index folder outside every corpus folder (--index)")
    if target.exists() and not target.is_dir():
        raise IndexRefused(f"the index folder {index_dir} is a file: choose a new or empty folder (--index)")
    if target.is_dir() and any(target.iterdir()) and not is_index_folder(target):
        raise IndexRefused(
            f"{index_dir} holds files that are not an index, and a build replaces the whole folder: "
            "nothing was changed; choose a new or empty folder (--index)")


def own_corpus(settings: Settings) -> Settings:
    """Settings whose corpus is the one the index was built from, unless RAG_CORPUS / --corpus named one."""
    if settings.corpus_given:
        return settings
    try:
        folders = read_manifest(settings.index_dir).get("corpus_folders")
    except IndexProblem:
        return settings
    if not folders:
        return settings
    from dataclasses import replace

    return replace(settings, corpus=tuple(Path(f) for f in folders))


def corpus_problem(settings: Settings) -> str | None:
    """Why the corpus cannot be the source of a rebuild (a folder missing, or no file in any), or None."""
    for folder in settings.corpus:
        if not Path(folder).is_dir():
            return f"the corpus folder {folder} is missing"
    try:
        if settings.corpus and not find_corpus_files(list(settings.corpus)):
            return f"the corpus folder{'s' if len(settings.corpus) > 1 else ''} {', '.join(map(str, settings.corpus))} hold{'' if len(settings.corpus) > 1 else 's'} no files"
    except OSError as exc:
        return f"the corpus cannot be read ({exc})"
    return None


def is_index_folder(folder: Path) -> bool:
    """Whether folder is an index this product built: its marker, or (an older or damaged index) a manifest
    beside nothing but the files an index holds."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    return MANIFEST in names and names <= {MANIFEST, STORE, VECTORS, SENTENCE_VECTORS, BM25_DIR, "vectors.exact.npy", MARKER, MILVUS, KEYWORD_STATS}


@dataclass
class BuildReport:
    documents: int = 0
    passages: int = 0
    sentences: int = 0
    embedded_passages: int = 0
    reused_files: int = 0
    seconds: float = 0.0
    bytes_on_disk: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    up_to_date: bool = False

    def summary(self) -> str:
        """The one summary line of `python -m rag index`."""
        if self.up_to_date:
            return f"index up to date: {self.documents} documents, {self.passages} passages, {self.bytes_on_disk / 1e6:.1f} MB on disk"
        return (
            f"indexed {self.documents} documents, {self.passages} passages, {self.sentences} sentences "
            f"in {self.seconds:.1f} s ({self.embedded_passages} passages embedded, {self.reused_files} files reused), "
            f"{self.bytes_on_disk / 1e6:.1f} MB on disk"
            + (f"; skipped {len(self.skipped)} file(s)" if self.skipped else "")
        )


def passage_view(passage: Passage) -> str:
    """What is embedded and keyword-indexed for a passage: its context (title, heading) and its text."""
    return f"{passage.context}\n{passage.text}" if passage.context else passage.text


def keyword_view(passage: Passage) -> list[str]:
    """The normalised jieba tokens of a passage and its context."""
    return tokens(passage_view(passage))


# ---------------------------------------------------------------- loading


class Index:
    """A loaded index: the store, the dense index, the keyword index, the manifest."""

    def __init__(self, folder: Path, manifest: dict, store: Store, vectors: VectorStore, keywords) -> None:
        self.folder = folder
        self.manifest = manifest
        self.store = store
        self.vectors = vectors
        self.dense = getattr(vectors, "index", None)  # the raw FAISS index, for benchmarks
        self.keywords = keywords
        vocab = getattr(keywords, "vocab_dict", None) or {}
        self.keyword_vocab: dict[str, int] = vocab
        self.idf = keywords.idf if isinstance(keywords, KeywordStats) else _idf(keywords, len(vocab))

    @property
    def embedder_name(self) -> str:
        return self.manifest["embedder"]

    def close(self) -> None:
        self.store.close()


def read_manifest(folder: Path) -> dict:
    """The manifest of the index in folder; IndexMissing or IndexDamaged when it cannot be read."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise IndexMissing(f"no index at {folder}: run `python -m rag index` to build it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexDamaged(f"the manifest of {folder} is unreadable ({exc.__class__.__name__}): run `python -m rag index` to rebuild") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexStale(
            f"the index at {folder} has format version {found!r}, this version reads {FORMAT_VERSION}: run `python -m rag index` to rebuild"
        )
    return manifest


def load_index(folder: Path, embedder_name: str | None = None) -> Index:
    """Open the index in folder, checking the manifest and every file; IndexProblem says what is wrong.

    Vectors are read from disk as questions need them (RowFile) and bm25s is memory-mapped, so opening a
    1M-passage index holds about 1 GB: the store's document texts and the 8-bit IVF codes."""
    folder = Path(folder)
    _recover_interrupted_swap(folder)
    manifest = read_manifest(folder)
    if embedder_name and manifest.get("embedder") != embedder_name:
        raise IndexStale(
            f"the index at {folder} was built with the embedder {manifest.get('embedder')!r}, not {embedder_name!r}: "
            "run `python -m rag index` to rebuild it"
        )
    kind = manifest.get("vector_store", "faiss")
    try:
        store = Store(folder / STORE)
        vectors = load_vector_store(kind, folder / STORE_FILES.get(kind, VECTORS))
        keywords = KeywordStats.load(folder / KEYWORD_STATS) if kind == "milvus" else _load_bm25(folder / BM25_DIR)
    except StoreUnavailable as problem:
        raise IndexUnreachable(f"the index at {folder} cannot be used: {problem}") from None
    except (StoreDamaged, RuntimeError, OSError, ValueError, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise IndexDamaged(f"the index at {folder} is damaged ({_short(exc)}): run `python -m rag index` to rebuild it") from None
    expected_dim = manifest.get("dim")
    if (
        len(vectors) != store.passage_count
        or vectors.dim != expected_dim
        or manifest.get("passages") != store.passage_count
    ):
        raise IndexDamaged(f"the index at {folder} is inconsistent (counts differ between its files): run `python -m rag index` to rebuild it")
    return Index(folder, manifest, store, vectors, keywords)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[-1][:160]}" if text else exc.__class__.__name__


class KeywordStats:
    """The keyword vocabulary and its IDF, for a store whose BM25 search runs elsewhere (Milvus)."""

    def __init__(self, num_docs: int, document_frequency: dict[str, int]) -> None:
        self.num_docs = num_docs
        self.vocab_dict = {token: i for i, token in enumerate(document_frequency)}
        df = np.fromiter(document_frequency.values(), dtype=np.float32, count=len(document_frequency))
        self.idf = np.log(1 + (num_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.document_frequency = document_frequency

    @classmethod
    def count(cls, token_lists) -> "KeywordStats":
        frequency: dict[str, int] = {}
        n = 0
        for token_list in token_lists:
            n += 1
            for token in set(token_list):
                frequency[token] = frequency.get(token, 0) + 1
        return cls(n, frequency)

    @classmethod
    def load(cls, path: Path) -> "KeywordStats":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(int(data["num_docs"]), data["df"])

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"num_docs": self.num_docs, "df": self.document_frequency}, ensure_ascii=False), encoding="utf-8")


def _load_bm25(folder: Path):
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.ERROR)
    if not (folder / "params.index.json").exists():
        raise OSError("the keyword index is missing")
    return bm25s.BM25.load(str(folder), mmap=True, load_corpus=False, show_progress=False)


def _idf(keywords, vocab_size: int) -> np.ndarray:
    """IDF of each keyword-vocabulary token, from the document frequencies in the bm25s matrix."""
    scores = getattr(keywords, "scores", None)
    n_docs = scores.get("num_docs", 0) if isinstance(scores, dict) else 0
    if not vocab_size or not isinstance(scores, dict):
        return np.zeros(vocab_size, dtype=np.float32)
    indptr = np.asarray(scores["indptr"])
    df = np.diff(indptr)[:vocab_size].astype(np.float32)
    return np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def corpus_fingerprint(files: list[CorpusFile]) -> dict[str, str]:
    """Each readable corpus file's relative path → sha256 (a file that cannot be opened is left out, as a build leaves it)."""
    fingerprint = {}
    for f in files:
        try:
            fingerprint[f.source] = sha256_file(f.path)
        except OSError:
            continue
    return fingerprint


def is_stale(settings: Settings, embedder_name: str | None = None) -> str | None:
    """Why the index needs a build (missing, other embedder, other files, damaged), or None when it is current.

    embedder_name: the name of the embedder in use, when one was given rather than named in settings.
    """
    from embeddings.base import embedder_name as reported_name

    try:
        manifest = read_manifest(settings.index_dir)
    except IndexProblem as problem:
        return str(problem)
    wanted = embedder_name or reported_name(settings.embedder)
    if manifest.get("embedder") != wanted:
        return f"built with {manifest.get('embedder')!r}, {wanted!r} asked for"
    kind = manifest.get("vector_store", "faiss")
    if kind != settings.store:
        return f"built for the {kind} store, RAG_STORE={settings.store} asked for"
    if kind == "milvus":
        from .config import milvus_uri

        built = manifest.get("milvus", {})
        if built.get("uri") != milvus_uri(settings.milvus_uri, settings.index_dir) or built.get("alias") != settings.milvus_collection:
            return f"built in Milvus at {built.get('uri')} ({built.get('alias')}), not {settings.milvus_uri} ({settings.milvus_collection})"
    if manifest.get("max_passage_chars") != settings.max_passage_chars:
        return "built with another passage size"
    known = {entry["path"]: entry["sha256"] for entry in manifest.get("corpus", []) + manifest.get("skipped", [])}
    try:
        current = corpus_fingerprint(find_corpus_files(list(settings.corpus)))
    except OSError as exc:
        return f"the corpus cannot be read ({exc})"
    if current != known:
        return "the corpus files changed"
    for name in (STORE, *((MILVUS, KEYWORD_STATS) if kind == "milvus" else (VECTORS, BM25_DIR))):
        if not (settings.index_dir / name).exists():
            return f"{name} is missing"
    return None


# ---------------------------------------------------------------- building


@dataclass
class _Piece:
    """One file's contribution to the index: documents, passages, sentences and their vectors."""

    source: str
    sha256: str
    documents: list[Document]
    passages: list[Passage]  # ids local to the piece
    sentences: list[tuple[int, int, int]]  # (local passage id, start, end)
    passage_vectors: np.ndarray | None = None


def build_index(settings: Settings, embedder=None, progress: bool = True, warn=None, on_embedded=None) -> BuildReport:
    """Index the corpus folders into settings.index_dir, reusing the vectors of unchanged files.

    on_embedded(done, total): called as texts are embedded (the slow part), for a progress bar with an ETA."""
    started = time.perf_counter()
    warn = warn or (lambda message: print(message, file=sys.stderr))
    if embedder is None:
        from embeddings import load_embedder

        embedder = load_embedder(settings.embedder, embed_threads(settings, building=True))
    report = BuildReport()
    check_index_folder(settings.index_dir, settings.corpus)
    check_store(settings)  # an unreachable server is said before minutes of embedding, not after
    files = find_corpus_files(list(settings.corpus))
    old = _reusable_index(settings, embedder.name)
    pieces: list[_Piece] = []
    skipped: list[dict] = []
    seen_content: dict[str, str] = {}  # sha256 -> the source that holds it
    iterator = files
    if progress and files:
        from tqdm import tqdm

        iterator = tqdm(files, desc="reading", unit="file", leave=False)
    for corpus_file in iterator:
        try:
            sha = sha256_file(corpus_file.path)
        except OSError as exc:
            warn(f"skipped {corpus_file.source}: cannot be read ({exc.strerror or exc})")
            continue
        if sha in seen_content:  # the same bytes under another name: indexed and cited once
            reason = f"the same content as {seen_content[sha]}"
            warn(f"skipped {corpus_file.source}: {reason}")
            skipped.append({"path": corpus_file.source, "sha256": sha, "reason": reason})
            report.skipped.append((corpus_file.source, reason))
            continue
        seen_content[sha] = corpus_file.source
        reused = _reuse(old, corpus_file.source, sha) if old else None
        if reused is not None:
            pieces.append(reused)
            report.reused_files += 1
            continue
        try:
            piece = _read_piece(corpus_file, sha, settings.max_passage_chars)
        except UnreadableFile as reason:
            warn(f"skipped {corpus_file.source}: {reason}")
            skipped.append({"path": corpus_file.source, "sha256": sha, "reason": str(reason)})
            report.skipped.append((corpus_file.source, str(reason)))
            continue
        if not piece.passages:
            warn(f"skipped {corpus_file.source}: no text left after removing page chrome")
            skipped.append({"path": corpus_file.source, "sha256": sha, "reason": "no text"})
            report.skipped.append((corpus_file.source, "no text"))
            continue
        pieces.append(piece)
    _embed_new(pieces, embedder, progress, report, on_embedded)
    if old is not None:
        old.close()
    report.bytes_on_disk = _write(settings, embedder, pieces, skipped, report)
    report.seconds = time.perf_counter() - started
    return report


def check_store(settings: Settings) -> None:
    """For RAG_STORE=milvus: IndexUnreachable unless the server (or Lite file) answers with these credentials."""
    if settings.store != "milvus":
        return
    from .config import milvus_uri
    from .milvus import connect, describe

    uri = milvus_uri(settings.milvus_uri, settings.index_dir)
    try:
        client = connect(uri, settings.milvus_token)
        try:
            client.list_collections()
        except Exception as exc:
            raise StoreUnavailable(describe(exc, uri)) from None
    except StoreUnavailable as problem:
        raise IndexUnreachable(f"{problem}; the index at {settings.index_dir} was not changed") from None


def drop_store(settings: Settings) -> None:
    """Remove what an index keeps outside its folder (its Milvus collections): for temporary indexes."""
    if settings.store == "milvus":
        from .config import milvus_uri
        from .milvus import drop_collections

        drop_collections(milvus_uri(settings.milvus_uri, settings.index_dir), settings.milvus_token, settings.milvus_collection)


def _read_piece(corpus_file: CorpusFile, sha: str, max_chars: int) -> _Piece:
    text, pages = read_file(corpus_file.path)
    return piece_from_documents(corpus_file.source, sha, parse_documents(text, corpus_file.source, pages), max_chars)


def piece_from_documents(source: str, sha: str, documents: list[Document], max_chars: int) -> _Piece:
    """Passages and sentences of already-parsed documents."""
    passages: list[Passage] = []
    sentences: list[tuple[int, int, int]] = []
    for document in documents:
        for passage in split_passages(document, max_chars, first_id=len(passages)):
            passages.append(passage)
            for s, e in sentence_spans(document.text, passage.start, passage.end):
                sentences.append((passage.id, s, e))
    return _Piece(source, sha, documents, passages, sentences)


def build_index_from_documents(settings: Settings, embedder, documents: list[Document], progress: bool = True) -> BuildReport:
    """Index documents that were made elsewhere (an evaluation set's contexts) into settings.index_dir."""
    started = time.perf_counter()
    report = BuildReport()
    pieces = [piece_from_documents(d.doc_id, "", [d], settings.max_passage_chars) for d in documents]
    _embed_new(pieces, embedder, progress, report)
    report.bytes_on_disk = _write(settings, embedder, pieces, [], report)
    report.seconds = time.perf_counter() - started
    return report


EMBED_CHUNK = 128  # texts embedded at a time, between two progress reports


def _embed_new(pieces: list[_Piece], embedder, progress: bool, report: BuildReport, on_embedded=None) -> None:
    """Embed, in large batches, the passages of every piece that has no vectors yet (sentences are not embedded:
    the rule path scores a sentence with its passage's cosine)."""
    fresh = [p for p in pieces if p.passage_vectors is None]
    passage_texts = [passage_view(x) for p in fresh for x in p.passages]
    if passage_texts:
        every = passage_texts
        chunks = range(0, len(every), EMBED_CHUNK)
        if progress and len(chunks) > 1:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc="embedding", unit="chunk", leave=False)
        report_to = on_embedded or (lambda done, total: None)
        report_to(0, len(every))
        parts = []
        for i in chunks:
            parts.append(embedder.encode_passages(every[i : i + EMBED_CHUNK]))
            report_to(min(i + EMBED_CHUNK, len(every)), len(every))
        vectors = np.vstack(parts).astype(np.float32, copy=False)
        a = 0
        for p in fresh:
            p.passage_vectors = vectors[a : a + len(p.passages)]
            a += len(p.passages)
    report.embedded_passages = len(passage_texts)


def _write(settings: Settings, embedder, pieces: list[_Piece], skipped: list[dict], report: BuildReport) -> int:
    """Renumber, write everything into a temporary folder, and swap it into place."""
    import bm25s

    documents: list[tuple[Document, str]] = []
    passages: list[Passage] = []
    sentences: list[tuple[int, int, int]] = []
    for piece in pieces:
        offset = len(passages)
        documents += [(d, piece.sha256) for d in piece.documents]
        passages += [Passage(offset + p.id, p.doc_id, p.paragraph, p.start, p.end, p.text, p.context) for p in piece.passages]
        sentences += [(offset + pid, s, e) for pid, s, e in piece.sentences]
    dim = embedder.dim
    passage_vectors = np.vstack([p.passage_vectors for p in pieces]) if pieces else np.zeros((0, dim), np.float32)

    target = Path(settings.index_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    milvus = None
    try:
        write_store(tmp / STORE, documents, passages, sentences)
        corpus_tokens = [keyword_view(p) or ["\u2205"] for p in passages] or [["\u2205"]]
        if settings.store == "milvus":
            milvus = _write_milvus(settings, tmp, dim, passages, passage_vectors, corpus_tokens)
        else:
            vectors = FaissVectorStore.create(dim, len(passages), settings.ann_above)
            vectors.add(passage_vectors)
            vectors.save(tmp / VECTORS)
            logging.getLogger("bm25s").setLevel(logging.ERROR)
            keywords = bm25s.BM25()
            keywords.index(corpus_tokens, show_progress=False)
            keywords.save(str(tmp / BM25_DIR))
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": embedder.name,
            "dim": dim,
            "vector_store": settings.store,
            "dense_index": milvus["index_type"].lower() if milvus else dense_index_name(len(passages) > settings.ann_above),
            "keyword_index": "milvus-bm25-jieba" if milvus else "bm25s",
            "max_passage_chars": settings.max_passage_chars,
            "corpus_folders": [str(Path(c)) for c in settings.corpus],
            "corpus": [{"path": p.source, "sha256": p.sha256} for p in pieces],
            "skipped": skipped,
            "documents": len(documents),
            "passages": len(passages),
            "sentences": len(sentences),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if milvus:
            manifest["milvus"] = {k: milvus[k] for k in ("uri", "alias", "collection", "index_type")}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        (tmp / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        _fsync_tree(tmp)
        previous = _milvus_collection(target)
        _swap_into_place(tmp, target)
        if milvus:
            from .milvus import publish

            publish(milvus, previous, settings.milvus_token)
    except StoreUnavailable as problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise IndexUnreachable(f"{problem}; the previous index is kept") from None
    except ValueError as problem:
        shutil.rmtree(tmp, ignore_errors=True)
        if problem.__class__.__name__ == "CollectionInTheWay":  # refused before anything was written
            raise IndexRefused(str(problem)) from None
        raise
    except OSError as exc:  # a full disk, a read-only folder: the user can act on it, so no traceback
        shutil.rmtree(tmp, ignore_errors=True)
        if milvus:
            _drop_collection(settings, milvus["collection"])
        raise IndexProblem(
            f"the index could not be written to {target} ({exc.strerror or exc}); the previous index is kept: "
            "fix that and run `python -m rag index` again"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.documents, report.passages, report.sentences = len(documents), len(passages), len(sentences)
    return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())


def _write_milvus(settings: Settings, tmp: Path, dim: int, passages: list[Passage], passage_vectors: np.ndarray, corpus_tokens) -> dict:
    """Write the passages into a new Milvus collection; the folder gets milvus.json and the keyword statistics."""
    from .config import milvus_uri
    from .milvus import write_collection
    from .text import normalize

    KeywordStats.count(corpus_tokens).save(tmp / KEYWORD_STATS)
    saved = write_collection(
        milvus_uri(settings.milvus_uri, settings.index_dir), settings.milvus_token, settings.milvus_collection, dim,
        np.array([p.id for p in passages], dtype=np.int64), np.ascontiguousarray(passage_vectors, dtype=np.float32),
        [normalize(passage_view(p)) for p in passages], [p.doc_id for p in passages])
    (tmp / MILVUS).write_text(json.dumps(saved, ensure_ascii=False, indent=2), encoding="utf-8")
    return saved


def _milvus_collection(folder: Path) -> str | None:
    """The Milvus collection the index in folder answers from now (kept by the next build), if any."""
    try:
        return json.loads((Path(folder) / MILVUS).read_text(encoding="utf-8")).get("collection")
    except (OSError, ValueError, AttributeError):
        return None


def _drop_collection(settings: Settings, name: str) -> None:
    from .config import milvus_uri
    from .milvus import _drop_quietly, connect

    try:
        _drop_quietly(connect(milvus_uri(settings.milvus_uri, settings.index_dir), settings.milvus_token), name)
    except StoreUnavailable:
        pass


def dense_index_name(approximate: bool) -> str:
    """The manifest's name of the dense index kind."""
    return "ivf-sq8-refine" if approximate else "flat"


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the new folder into place; the old one is kept aside until the new one is there."""
    old = None
    if target.exists():
        if any(target.iterdir()) and not is_index_folder(target):  # checked before the build; checked again here
            raise IndexRefused(f"{target} holds files that are not an index: nothing was changed")
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _recover_interrupted_swap(target: Path) -> None:
    """A crash between the two renames leaves the previous index aside: put it back."""
    if target.exists():
        return
    aside = sorted(target.parent.glob(f".{target.name}.old-*"))
    if aside:
        os.rename(aside[-1], target)


# ---------------------------------------------------------------- reuse


def _reusable_index(settings: Settings, embedder_name: str) -> Index | None:
    try:
        index = load_index(settings.index_dir, embedder_name)
    except IndexProblem:
        return None
    if index.manifest.get("max_passage_chars") != settings.max_passage_chars:
        index.close()
        return None
    return index


def _reuse(old: Index, source: str, sha: str) -> _Piece | None:
    """The documents, passages, sentences and vectors of an unchanged file, from the previous index."""
    if old.store.sha256.get(source) != sha:
        return None
    documents = [d for d in old.store.documents.values() if d.source == source]
    if not documents:
        return None
    old_passages = [p for d in documents for p in old.store.passages_of(d.doc_id)]
    local = {p.id: i for i, p in enumerate(old_passages)}
    passages = [Passage(i, p.doc_id, p.paragraph, p.start, p.end, p.text, p.context) for i, p in enumerate(old_passages)]
    rows = old.store.sentences_of([p.id for p in old_passages])
    sentences = [(local[pid], s, e) for _, pid, s, e in rows]
    ids = np.array([p.id for p in old_passages], dtype=np.int64)
    passage_vectors = old.vectors.vectors(ids)
    return _Piece(source, sha, documents, passages, sentences, passage_vectors)
