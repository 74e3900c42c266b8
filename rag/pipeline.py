"""Pipeline: the public entry point that ties the index, retrieval and answers together."""
from __future__ import annotations

import re
import sys
import threading
import time
import unicodedata

from . import answer as reader_answers
from . import facts
from . import rules
from .config import Settings, embed_threads
from .crosslingual import glossary_for
from .question import Question, analyse
from .index import Index, IndexProblem, IndexUnreachable, build_index, corpus_problem, is_stale, load_index, own_corpus, read_manifest
from .retrieve import retrieve
from .schema import Response
from .vectorstore import StoreUnavailable

__all__ = ["Pipeline", "clean_question", "complete_follow_up"]

EMPTY_QUESTION = "请输入问题。/ Please type a question."
RELOAD_CHECK_S = 5.0  # Milvus store: how often a question looks whether another server built a newer index
UNAVAILABLE = "检索服务暂时不可用，请稍后再试。/ The search engine cannot be reached just now: please ask again shortly."


class Pipeline:
    """Loads the embedder and the index once; answers questions; rebuilds after the corpus changes."""

    def __init__(self, settings: Settings, embedder=None, index: Index | None = None) -> None:
        self.settings = settings
        if embedder is None:
            from embeddings import load_embedder

            embedder = load_embedder(settings.embedder, embed_threads(settings, building=False))
        self.embedder = embedder
        self.index = index
        self._lock = threading.Lock()  # one build at a time; questions never wait for it
        self._reloading = threading.Lock()  # one background reload of a newer index (built by another server) at a time
        self._checked_at = time.monotonic()
        self._reader = None
        self._reader_ready = threading.Event()
        self.wait_for_reader = True  # False (the app): while the reader loads, short answers come from the rule path
        if settings.reader == "off":  # the rule path answers; torch is never imported
            self._reader_ready.set()

    def load_reader(self, background: bool = False) -> None:
        """Load the trained reader (torch and its weights) now, or in a thread so start-up does not wait."""
        if self._reader_ready.is_set() or getattr(self, "_reader_loading", False):
            return
        self._reader_loading = True

        def load() -> None:
            from .reader.runtime import Reader, ReaderUnavailable

            try:
                self._reader = Reader.shared()
            except (ReaderUnavailable, OSError, ValueError) as problem:
                print(f"the reader could not load: {problem}; answers come from the rule path", file=sys.stderr)
            finally:
                self._reader_ready.set()

        if background:
            threading.Thread(target=load, name="reader-load", daemon=True).start()
        else:
            load()

    @property
    def reader(self):
        """The loaded reader (waiting for a background load), or None when answers use the rule path."""
        self.load_reader()
        self._reader_ready.wait()
        return self._reader

    def reader_if_ready(self):
        """The reader when it has loaded, else None (its load goes on in the background)."""
        self.load_reader(background=True)
        return self._reader if self._reader_ready.is_set() else None

    @classmethod
    def open(cls, settings: Settings | None = None, embedder=None, build: str = "if-needed", warn=None) -> "Pipeline":
        """Load the index in settings.index_dir; build it when missing, stale or damaged (build='if-needed')."""
        settings = own_corpus(settings or Settings.from_env())
        warn = warn or (lambda m: print(m, file=sys.stderr))
        pipeline = cls(settings, embedder)
        reason = is_stale(settings, pipeline.embedder.name) if build == "if-needed" else None
        problem = corpus_problem(settings) if reason else None
        if problem and _loads(settings, pipeline.embedder.name):
            # an unmounted share or a mistyped folder must never empty an index that answers
            warn(f"{problem}: answering from the index as it is ({settings.index_dir}); nothing was rebuilt")
            reason = None
        if reason:
            warn(f"building the index ({reason})")
            build_index(settings, pipeline.embedder, progress=False, warn=warn)
        try:
            pipeline.index = load_index(settings.index_dir, pipeline.embedder.name)
        except IndexUnreachable:  # a server that is down is reported, never rebuilt over
            raise
        except IndexProblem as problem:
            if build != "if-needed":
                raise
            warn(f"{problem}; rebuilding")
            build_index(settings, pipeline.embedder, progress=False, warn=warn)
            pipeline.index = load_index(settings.index_dir, pipeline.embedder.name)
        pipeline.load_reader(background=True)
        pipeline.warm_up()
        return pipeline

    def warm_up(self) -> None:
        """Load jieba's dictionaries, OpenCC and the engine now, so the first question is as fast as the rest."""
        self.ask("谁在哪天主持了会议？")

    def reindex(self, warn=None, on_embedded=None, waiting=None):
        """Re-index the corpus (incrementally) and swap the new index in; questions see old or new, never half.

        Questions are answered all along. Another re-index (an upload, a delete) waits its turn: waiting()
        is called first when it has to."""
        if waiting is not None and self._lock.locked():
            waiting()
        with self._lock:
            report = build_index(self.settings, self.embedder, progress=False, warn=warn, on_embedded=on_embedded)
            fresh = load_index(self.settings.index_dir, self.embedder.name)
            self.index = fresh  # one reference swap: a question in flight keeps the index it started with
        return report

    def current_index(self) -> Index | None:
        """The loaded index; with the Milvus store, a newer one that another app server built is loaded beside it.

        Every RELOAD_CHECK_S a question reads the manifest; when it names another collection, a thread loads the
        new index and swaps it in. Until then (and if it fails) questions keep the index they have: the build
        keeps the previous collection for them. The default store does nothing here."""
        index = self.index
        if index is None or index.manifest.get("vector_store") != "milvus":
            return index
        now = time.monotonic()
        if now - self._checked_at < RELOAD_CHECK_S or self._lock.locked():
            return index
        self._checked_at = now
        try:
            built = read_manifest(self.settings.index_dir).get("milvus", {}).get("collection")
        except IndexProblem:
            return index
        if built != index.manifest.get("milvus", {}).get("collection") and self._reloading.acquire(blocking=False):
            threading.Thread(target=self._reload, name="index-reload", daemon=True).start()
        return index

    def _reload(self) -> None:
        try:
            fresh = load_index(self.settings.index_dir, self.embedder.name)
            with self._lock:
                self.index = fresh
        except IndexProblem as problem:
            print(f"a newer index could not be loaded ({problem}); answering from the one loaded", file=sys.stderr)
        finally:
            self._reloading.release()

    def search(self, query: str, top_k: int | None = None):
        """The fused top passages for a query."""
        index = self.current_index()
        text, _ = clean_question(query, self.settings.max_question_chars)
        if not text:
            return []
        q = analyse(text)
        vector = self.embedder.encode_queries([q.normal])[0]
        try:
            return self._retrieve(index, vector, q, top_k or self.settings.top_k)
        except StoreUnavailable as problem:
            raise IndexUnreachable(str(problem)) from None

    def _retrieve(self, index: Index, vector, question: Question | str, top_k: int):
        s = self.settings
        q = question if isinstance(question, Question) else analyse(question)
        return retrieve(index, vector, keyword_tokens(index, q), top_k, s.candidates, s.rrf_k, s.dense_weight, s.keyword_weight, s.fusion, s.dense_share)

    def ask(self, question: str, history: list[str] | None = None, top_k: int | None = None,
            max_answers: int | None = None) -> Response:
        """Answer by quoting the documents; `history` (earlier questions) completes a follow-up for retrieval only."""
        started = time.perf_counter()
        index = self.current_index()
        shown = question if isinstance(question, str) else ""
        if _has_surrogates(shown):  # echoed to JSON and the page: lone surrogates cannot be encoded there
            shown = shown.encode("utf-8", "replace").decode("utf-8")
        text, notice = clean_question(shown, self.settings.max_question_chars)
        if not text:
            return Response(shown, False, [], [], _ms(started), notice=EMPTY_QUESTION)
        q = analyse(text, complete_follow_up(text, history or []))
        vector = self.embedder.encode_queries([q.normal])[0]
        depth = max(top_k or self.settings.top_k, 8)
        try:
            hits = self._retrieve(index, vector, q, depth)
        except StoreUnavailable as problem:  # the Milvus server went away: this question gets one line, the next may work
            return Response(shown, False, [], [], _ms(started), notice=f"{UNAVAILABLE} ({problem})")
        limit = max_answers or self.settings.max_answers
        extra, unknown = None, 0.0
        if q.latin:
            glossary = glossary_for(index)
            extra, unknown = glossary.expand(q.text), glossary.unknown_share(q.text)
        reader = self.reader if self.wait_for_reader else self.reader_if_ready()
        if reader is not None and self.settings.reader == "full":
            answers, _ = reader_answers.extract_answers(reader, index, q, hits, limit, unknown_concepts=unknown)
        else:
            answers, _ = rules.extract_answers(index, q.text, vector, hits, limit, typed=text, extra_tokens=extra,
                                               unknown_concepts=unknown)
            if reader is not None and answers:
                answers = reader_answers.read_quotes(reader, index, q, answers, hits)
        if answers:
            answers, difference = facts.checked(answers, q.normal, q.tokens, index.store.documents)
            if not answers and notice is None:
                notice = difference.message()
        shown_hits = hits[: top_k or self.settings.top_k]
        titles = {h.passage.doc_id: (index.store.documents[h.passage.doc_id].title, index.store.documents[h.passage.doc_id].source) for h in shown_hits}
        return Response(shown, bool(answers), answers, shown_hits, _ms(started), titles, notice)

    def status(self) -> dict:
        """Documents, passages, embedder and build time of the loaded index."""
        manifest = self.index.manifest if self.index else {}
        return {
            "documents": manifest.get("documents", 0),
            "passages": manifest.get("passages", 0),
            "sentences": manifest.get("sentences", 0),
            "embedder": manifest.get("embedder", self.embedder.name),
            "built_at": manifest.get("built_at"),
            "dense_index": manifest.get("dense_index"),
            "skipped": manifest.get("skipped", []),
        }


def _loads(settings: Settings, embedder_name: str) -> bool:
    """Whether the index in settings.index_dir opens (for this embedder) and holds documents."""
    try:
        index = load_index(settings.index_dir, embedder_name)
    except IndexProblem:
        return False
    try:
        return index.store.passage_count > 0
    finally:
        index.close()


def keyword_tokens(index: Index, question: Question) -> list[str]:
    """The question's jieba tokens; for an English question, plus the corpus words its names stand for."""
    found = list(question.tokens)
    if question.latin:
        found += glossary_for(index).expand(question.text)
    return found


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_question(question: str, max_chars: int) -> tuple[str, str | None]:
    """The question without control characters or lone surrogates, cut to max_chars; a notice when it was cut."""
    if not isinstance(question, str):
        return "", None
    text = question.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(question) else question
    text = _CONTROL.sub(" ", text.replace("\ufffd", " "))
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > max_chars:
        return text[:max_chars], f"问题过长，只使用了前 {max_chars} 个字符。/ The question is long: only its first {max_chars} characters were used."
    return text, None


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


# ---------------------------------------------------------------- follow-up questions

_PRONOUN = re.compile(r"^(他|她|它|他们|她们|该|其|这个|那个|此)|(\b(he|she|it|they|his|her|its|their)\b)", re.I)
_THAT_ONE = re.compile(r"^(那|那么)?(?P<subject>.{1,20}?)(呢|怎么样|如何)[?？。!！]*$")
_THAT_ONE_EN = re.compile(r"^(and|what about|how about)\s+(?P<subject>.+?)\??$", re.I)


def complete_follow_up(question: str, history: list[str]) -> str:
    """A follow-up (a pronoun, or 那X呢) completed from the previous question, for retrieval only."""
    previous = next((h for h in reversed(history) if isinstance(h, str) and h.strip()), None)
    if not previous:
        return question
    match = _THAT_ONE.match(question.strip()) or _THAT_ONE_EN.match(question.strip())
    if match:
        subject = match.group("subject").strip()
        swapped = _swap_place(previous, subject)
        return swapped or f"{subject} {previous}"
    if _PRONOUN.search(question):
        subject = _subject_of(previous)
        if subject:
            return _PRONOUN.sub(subject, question, count=1) if _PRONOUN.match(question) else f"{subject} {question}"
        return f"{previous} {question}"
    if len(question) <= 6:
        return f"{previous} {question}"
    return question


def _subject_of(question: str) -> str | None:
    """The person (or else the place or organisation) the earlier question was about."""
    import jieba.posseg as posseg

    words = list(posseg.cut(question))
    for flags in (("nr",), ("ns", "nt")):
        names = [w.word for w in words if w.flag in flags and len(w.word) >= 2]
        if names:
            return "".join(names[:1])
    return None


def _swap_place(previous: str, subject: str) -> str | None:
    """`那重庆呢？` after a question about 宁夏: the same question with the place swapped."""
    import jieba.posseg as posseg

    words = list(posseg.cut(previous))
    places = [w.word for w in words if w.flag in ("ns", "nt", "nr")]
    if not places:
        return None
    return previous.replace(places[0], subject, 1)
