"""Pipeline: the public entry point that ties the index, retrieval and answers together."""
from __future__ import annotations

import re
import sys
import threading
import time
import unicodedata

from . import answer as reader_answers
from . import conversation, facts
from .config import Settings, embed_threads
from .crosslingual import glossary_for
from .query_adapter import retrieval_vector
from .question import Question, analyse
from .index import Index, IndexProblem, IndexUnreachable, build_index, corpus_problem, is_stale, load_index, own_corpus, read_manifest
from .retrieve import retrieve
from .schema import Hit, Response
from .selector import sentence_similarity
from .vectorstore import StoreUnavailable

__all__ = ["Pipeline", "clean_question"]

EMPTY_QUESTION = "请输入问题。/ Please type a question."
NO_FURTHER_ANSWER = "文档中没有更多的回答。/ The documents give no further answer."
RELOAD_CHECK_S = 5.0  # Milvus store: how often a question looks whether another server built a newer index
READER_MISSING = "答案模型无法加载，暂时只能列出相关段落。/ The answer model could not load: only related passages are shown"
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
        self.reader_problem: str | None = None
        self._warming = False  # warm_up's question: retrieval only, never waiting for the reader

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
                self.reader_problem = f"{READER_MISSING} ({problem})"
                print(self.reader_problem, file=sys.stderr)
            finally:
                self._reader_ready.set()

        if background:
            threading.Thread(target=load, name="reader-load", daemon=True).start()
        else:
            load()

    @property
    def reader(self):
        """The loaded reader (waiting for a background load), or None when it could not load (reader_problem says why)."""
        self.load_reader()
        self._reader_ready.wait()
        return self._reader

    def reader_ready(self) -> bool:
        """Whether the reader has loaded (or failed to): a question asked now does not wait for it."""
        self.load_reader(background=True)
        return self._reader_ready.is_set()

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
        pipeline.warm_up()  # before the background loads: they would hold the GIL that jieba's loading needs
        pipeline.load_reader(background=True)
        pipeline.load_glossary(background=True)
        return pipeline

    def warm_up(self) -> None:
        """Load jieba's dictionaries, OpenCC and the engine now, so the first question is as fast as the rest.

        It never waits for the reader (loading in the background): a start used to wait here for torch and the
        weights (~3.5 s quiet, 7 s on busy cores) before the first question could be answered."""
        self._warming = True
        try:
            self.ask("谁在哪天主持了会议？")
        finally:
            self._warming = False

    def load_glossary(self, background: bool = False) -> None:
        """Build the index's English glossary (CC-CEDICT against its vocabulary, ~1.5 s) now or in a thread, so the
        first English question does not wait for it (glossary_for builds it once per index, under a lock)."""
        index = self.index
        if background:
            threading.Thread(target=glossary_for, args=(index,), name="glossary-load", daemon=True).start()
        else:
            glossary_for(index)

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
        self.load_glossary(background=True)
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
        vector = retrieval_vector(vector, q, s.query_adapter)  # an English question's, adapted (rag/query_adapter.py)
        return retrieve(index, vector, keyword_tokens(index, q), top_k, s.candidates, s.rrf_k, s.dense_weight, s.keyword_weight, s.fusion,
                        dense_share(s, index, q))

    def ask(self, question: str, history: list | None = None, top_k: int | None = None,
            max_answers: int | None = None) -> Response:
        """Answer by quoting the documents. `history`: the earlier turns (questions, or {"question", "answer"} objects,
        or conversation.Turn), from which a follow-up (他是什么职务？/ 那重庆呢？/ 还有谁？) is read; `read_as` says how."""
        started = time.perf_counter()
        index = self.current_index()
        shown = question if isinstance(question, str) else ""
        if _has_surrogates(shown):  # echoed to JSON and the page: lone surrogates cannot be encoded there
            shown = shown.encode("utf-8", "replace").decode("utf-8")
        text, notice = clean_question(shown, self.settings.max_question_chars)
        if not text:
            return Response(shown, False, [], [], _ms(started), notice=EMPTY_QUESTION)
        reading = conversation.read(text, history)
        q = analyse(text, reading.text if reading.rewritten else None)
        try:
            answers, hits, difference = self._answers(index, q, text, reading, top_k, max_answers)
            leaning = None if answers else conversation.leaning_on_last(text, reading, q, history)
            if leaning:  # 哪位副省长共同调研？ after a question about 怀进鹏's visit: asked again about that, kept if answered
                q_leaning = analyse(text, leaning)
                again = self._answers(index, q_leaning, text, conversation.Reading(leaning, True), top_k, max_answers)
                if again[0]:
                    q, (answers, hits, difference) = q_leaning, again
        except StoreUnavailable as problem:  # the Milvus server went away: this question gets one line, the next may work
            return Response(shown, False, [], [], _ms(started), notice=f"{UNAVAILABLE} ({problem})", read_as=q.text)
        if self.reader_problem and not answers and notice is None:
            notice = self.reader_problem
        elif reading.next_answer and not answers and notice is None:
            notice = NO_FURTHER_ANSWER
        elif not answers and difference is not None and notice is None:
            notice = difference.message()
        shown_hits = cited_first(index, hits, answers)[: top_k or self.settings.top_k]
        titles = {h.passage.doc_id: (index.store.documents[h.passage.doc_id].title, index.store.documents[h.passage.doc_id].source) for h in shown_hits}
        return Response(shown, bool(answers), answers, shown_hits, _ms(started), titles, notice,
                        read_as=q.text if q.text != text else shown)

    def _answers(self, index: Index, q: Question, typed: str, reading, top_k: int | None, max_answers: int | None):
        """Retrieve and answer one analysed question: (answers, hits, the fact that differs when one made it abstain)."""
        vector = self.embedder.encode_queries([q.normal])[0]
        depth = max(top_k or self.settings.top_k, 8)
        hits = self._retrieve(index, vector, q, depth)  # StoreUnavailable (a Milvus server gone) goes up to ask
        wanted = max_answers or self.settings.max_answers
        limit = wanted + 2 if reading.next_answer else wanted  # 还有谁？: read more, then leave out what was answered
        unknown = glossary_for(index).unknown_share(q.text) if q.latin else 0.0
        reader = None if self._warming else self.reader
        if reader is None:  # warm-up's question, or a reader that could not load (said at start and in the notice)
            answers = []
        else:
            similarity = sentence_similarity(self.embedder, retrieval_vector(vector, q, self.settings.query_adapter))
            answers, _ = reader_answers.extract_answers(reader, index, q, hits, limit, unknown_concepts=unknown,
                                                        use_selector=self.settings.answer_selector, similarity=similarity)
        answers = reader_answers.with_titles(index, answers, q, hits)
        answers = reader_answers.with_subject(index, answers, q)
        if reading.next_answer:
            answers = conversation.not_given_before(answers, reading.exclude, reading.exclude_quotes, q.names)[:wanted]
        difference = None
        if answers:
            answers, difference = facts.checked(answers, q.normal, q.tokens, index.store.documents, q.names)
        else:  # no answer: still say what the documents say instead when the top passage states the fact otherwise
            difference = facts.in_passages(hits[:2], q.normal, q.tokens, index.store.documents, q.names)
        return answers, hits, difference

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


def cited_first(index: Index, hits: list, answers: list) -> list:
    """The passages the answers quote, in the answers' order, then the rest as retrieval ranked them.

    The quote comes from the passage the reader is surest of, often not retrieval's first: the sources list opens with
    the passage the answer stands in (English CMRC trial R@1 of the returned passages 0.794, retrieval's order 0.724;
    benchmarks/english.py). A quote read beside its passage lies in a neighbour, which `holding` finds."""
    first: list = []
    for answer in answers:
        c = answer.citation
        same_doc = next((h for h in hits if h.passage.doc_id == c.doc_id and h.passage.start <= c.start < h.passage.end), None) \
            or next((h for h in hits if h.passage.doc_id == c.doc_id), None)
        if same_doc is None:  # a document number's notice, read though retrieval did not return it
            passages = index.store.passages_of(c.doc_id)
            if not passages:
                continue
            same_doc = Hit(passages[0], 0.0)
        hit = reader_answers.holding(index, same_doc, c.start)
        if not hit.passage.start <= c.start < hit.passage.end:
            continue
        if all(h.passage.id != hit.passage.id for h in first):
            first.append(hit)
    taken = {h.passage.id for h in first}
    return first + [h for h in hits if h.passage.id not in taken]


def keyword_tokens(index: Index, question: Question) -> list[str]:
    """The question's jieba tokens; for an English question, plus the corpus words the glossary gives for its names
    and for its other words (minister → 部长): jieba's tokens of English barely match Chinese text."""
    found = list(question.tokens)
    if question.latin:
        glossary = glossary_for(index)
        translated = glossary.expand(question.text) + [w for words in glossary.concepts(question.text).values() for w in words]
        found += [w for w in dict.fromkeys(translated) if w not in found]
    return found


def dense_share(settings: Settings, index: Index, question: Question) -> float:
    """The dense side's share in fusion, decided from the question alone: RAG_DENSE_SHARE, except for an English
    question in which the glossary finds no name (its keywords are then only translated words): RAG_DENSE_SHARE_UNNAMED.
    Measured on tests/data/english_cmrc.jsonl + english_seeds.jsonl (python -m benchmarks.english): paragraph R@1
    0.654 on CMRC trial (dense alone 0.565, one share of 0.35 for all 0.594) and 0.875 on the seeds."""
    if question.latin and not glossary_for(index).expand(question.text):
        return settings.dense_share_unnamed
    return settings.dense_share


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MARKUP = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]{0,200}>.{0,2000}?</\1\s*>", re.I | re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_question(question: str, max_chars: int) -> tuple[str, str | None]:
    """The question without control characters or lone surrogates, cut to max_chars; a notice when it was cut."""
    if not isinstance(question, str):
        return "", None
    text = question.encode("utf-8", "ignore").decode("utf-8") if _has_surrogates(question) else question
    # terminal colour codes, scripts and markup tags are not part of what is asked (the reader reads every character)
    text = _MARKUP.sub(" ", _SCRIPT.sub(" ", _ANSI.sub(" ", text)))
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
