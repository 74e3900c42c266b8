"""The rule path of answering (before the trained reader): sentences scored by hand-set weights, typed short spans.

Kept for side-by-side benchmarks (`RAG_READER=off`) and as the fallback when the reader cannot load;
the default path is rag/answer.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .crosslingual import is_latin
from .index import Index
from .schema import Answer, Citation, Hit
from .question import asked_unit, misses_a_name, named_entities
from .spans import Span, candidate_spans, head_noun_spans, question_kind
from .text import STOPWORDS, content_tokens, normalize

# Weights of the sentence score and the abstention rule, calibrated on tests/data/seed_qa.jsonl (every
# unanswerable must abstain) and the CMRC trial set (fewest false abstentions): `python -m benchmarks.calibrate`.
# The sentence weights were chosen by a grid over both sets (sentence hit@1, no abstention): rank 0.15 → 0.3,
# kind 0.25 → 0.1 and the words beside the question word 0 → 0.5 took CMRC from 0.739 to 0.778 and the seeds
# from 0.899 to 0.942. ABSTAIN_BELOW sits midway between the highest unanswerable seed question (0.324,
# 多少个分会场) and the lowest correctly answered one (0.386).
W_COSINE = 1.0
W_OVERLAP = 1.0
W_RANK = 0.3
W_KIND = 0.1  # the sentence holds a span of the kind asked (which, what, list)
W_KIND_STRICT = 0.4  # … for who / when / how many / where / document number, where a sentence without one cannot answer
W_NEXT_TO_ASKED = 0.5  # the sentence holds the words right beside the question word (以…为食 for 以什么为食)
ABSTAIN_BELOW = 0.355  # confidence under which the documents are taken not to answer
LATIN_COSINE = 0.76  # for questions in Latin script, the sentence cosine that counts as an answer
UNKNOWN_CONCEPTS_ABOVE = 0.6  # English questions: answerable seed ones reach 0.55 (literacy, citizens…), mayor/GDP/FIFA ones 1.0
SPAN_MISSING_PENALTY = 0.1  # asked who/when/how many… and the best sentence holds no such span: on the seeds only a wrong quote lost its answer
UNIT_MISSING_PENALTY = 0.3  # asked how many people/firms/venues and the sentence counts none of them
ENTITY_MISSING_PENALTY = 0.5  # the passage never names the place or person asked about: it ranks sentences too, and lowers confidence
_OPENS_DEPENDENT = re.compile(r"^(他|她|它|这|该|其|此|上述|以上|对此)")
MIN_STANDALONE = 12
SECOND_ANSWER_MARGIN = 0.35  # a further quote is shown only when it scores nearly as well as the best
CONTEXT_SHARE = 0.5  # a question word found only in the passage's title or heading counts half


@dataclass(frozen=True)
class Scored:
    hit_rank: int
    hit: Hit
    start: int  # offsets of the (possibly widened) quoted text in the document
    end: int
    sentence_start: int  # offsets of the scored sentence itself
    sentence_end: int
    cosine: float
    overlap: float
    score: float
    short: Span | None


@dataclass(frozen=True)
class Evidence:
    """Why an answer is believed: the features the abstention rule reads."""

    confidence: float
    coverage: float  # IDF share of the question's content words found in the best passage and its context
    cosine: float
    known_share: float  # IDF share of the question's content words that occur anywhere in the corpus
    overlap: float  # IDF share found in the best sentence itself
    latin: bool  # the question is written in Latin script
    span_missing: bool  # the question asks who/when/how many… and the best sentence holds no such span
    unit_missing: bool  # the question asks how many of something (人, 家, 分会场) and the best sentence counts none
    entity_missing: bool  # the question names a place, person or organisation the best passage never mentions
    latin_words: int = 0  # words of a Latin-script question that reads as a sentence (0 for `abc`, SQL or markup)
    unknown_concepts: float = 0.0  # share of an English question's words that no corpus word translates (mayor, GDP)


def extract_answers(
    index: Index,
    question: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    max_answers: int = 3,
    threshold: float | None = None,
    typed: str | None = None,
    extra_tokens: list[str] | None = None,
    unknown_concepts: float = 0.0,
) -> tuple[list[Answer], Evidence]:
    """Up to max_answers quoted sentences from different passages, best first, or none when evidence is weak.

    `question` is what retrieval used (a follow-up completed from history); `typed` is what the person
    wrote, which decides the kind of short answer asked for. `extra_tokens` are the corpus words an English
    question's names stand for; `unknown_concepts` the share of its other words that no corpus word translates.
    """
    kind = question_kind(normalize(typed)) if typed else None
    kind = kind or question_kind(normalize(question))
    question_tokens = content_tokens(question) + [t for t in (extra_tokens or []) if t not in STOPWORDS]
    weights = _token_weights(index, question_tokens)
    if kind == "docnum":
        hits = hits + document_number_hits(index, hits)
    names = named_entities(question) + named_entities(" ".join(extra_tokens or []))
    scored = _score_sentences(index, question, query_vector, hits, kind, weights, names)
    best_per_passage: dict[int, Scored] = {}
    for s in scored:
        current = best_per_passage.get(s.hit.passage.id)
        if current is None or s.score > current.score:
            best_per_passage[s.hit.passage.id] = s
    ranked = sorted(best_per_passage.values(), key=lambda s: -s.score)
    evidence = _evidence(index, ranked[0] if ranked else None, weights, question, kind, names, unknown_concepts)
    limit = ABSTAIN_BELOW if threshold is None else threshold
    if not ranked or evidence.confidence < limit:
        return [], evidence
    answers = []
    supporting = [s for s in ranked[1:] if s.score >= ranked[0].score - SECOND_ANSWER_MARGIN and (kind not in STRICT_KINDS or s.short is not None)]
    for s in [ranked[0], *supporting][:max_answers]:
        document = index.store.documents[s.hit.passage.doc_id]
        text = document.text[s.start : s.end]
        short = None
        if s.short is not None:
            short = document.text[s.sentence_start + s.short.start : s.sentence_start + s.short.end]
        paragraph = s.hit.passage.paragraph
        page = document.pages[paragraph - 1] if document.pages and paragraph - 1 < len(document.pages) else None
        citation = Citation(document.doc_id, document.title, document.source, document.date, paragraph, s.start, s.end, page)
        answers.append(Answer(text=text, short=short, score=float(s.score), citation=citation))
    return answers, evidence


def document_number_hits(index: Index, hits: list[Hit]) -> list[Hit]:
    """For a 文号 question: the passage stating the document number of each retrieved document, when not retrieved itself.

    The number is a document's metadata, printed once at its head, and shares no words with the question.
    """
    have = {h.passage.id for h in hits}
    added: list[Hit] = []
    for doc_id in dict.fromkeys(h.passage.doc_id for h in hits):
        document = index.store.documents[doc_id]
        at = document.text.find(document.doc_number) if document.doc_number else -1
        if at < 0:
            continue
        passage = next((p for p in index.store.passages_of(doc_id) if p.start <= at < p.end), None)
        if passage is not None and passage.id not in have:
            have.add(passage.id)
            added.append(Hit(passage, 0.0))
    return added


def _token_weights(index: Index, question_tokens: list[str]) -> dict[str, float]:
    """IDF of each content token of the question; a token the corpus never uses weighs as the rarest."""
    if not question_tokens:
        return {}
    top = float(index.idf.max()) if len(index.idf) else 1.0
    weights = {}
    for token in question_tokens:
        token_id = index.keyword_vocab.get(token)
        weights[token] = float(index.idf[token_id]) if token_id is not None and token_id < len(index.idf) else top
    # a token inside a longer question token (科创 in 科创中国) adds no new evidence
    for token in list(weights):
        if any(token != other and token in other for other in weights):
            weights[token] *= 0.5
    return weights


def _score_sentences(index, question, query_vector, hits, kind, weights, names) -> list[Scored]:
    rows = index.store.sentences_of([h.passage.id for h in hits])
    if not rows:
        return []
    rank_of = {h.passage.id: (r, h) for r, h in enumerate(hits)}
    # a sentence is scored with its passage's cosine: sentence vectors of their own (half the embedding of a build)
    # changed no answer sentence and no abstention on the seeds (89 q) or CMRC trial (400 q), so none are embedded
    passage_ids = np.array(sorted({pid for _, pid, _, _ in rows}), dtype=np.int64)
    passage_cosines = dict(zip(passage_ids.tolist(), (index.vectors.vectors(passage_ids) @ np.asarray(query_vector, dtype=np.float32)).tolist()))
    cosines = np.array([passage_cosines[pid] for _, pid, _, _ in rows], dtype=np.float32)
    total_weight = sum(weights.values()) or 1.0
    question_normal = normalize(question)
    beside = words_beside_question_word(question_normal)
    unit = asked_unit(question_normal) if kind == "number" else None
    texts = [index.store.documents[rank_of[pid][1].passage.doc_id].text[start:end] for _, pid, start, end in rows]
    normals = [normalize(t) for t in texts]
    context_of: dict[int, str] = {}
    elsewhere: dict[int, bool] = {}  # the passage never mentions a place or person the question names
    previous_in_passage: dict[int, tuple[int, int]] = {}
    out = []
    for (sid, pid, start, end), cosine, sentence, sentence_normal in zip(rows, cosines.tolist(), texts, normals):
        rank, hit = rank_of[pid]
        context_normal = context_of.setdefault(pid, normalize(hit.passage.context))
        if pid not in elsewhere:
            elsewhere[pid] = misses_a_name(f"{context_normal} {normalize(hit.passage.text)}", names)
        overlap = sum(w if t in sentence_normal else CONTEXT_SHARE * w if t in context_normal else 0.0 for t, w in weights.items()) / total_weight
        score = W_COSINE * cosine + W_OVERLAP * overlap + W_RANK / (1 + rank) + W_NEXT_TO_ASKED * _beside_share(beside, sentence_normal)
        score -= ENTITY_MISSING_PENALTY * elsewhere[pid]
        quote_start = start
        before = previous_in_passage.get(pid)
        if before and (_OPENS_DEPENDENT.match(sentence) or end - start < MIN_STANDALONE):
            quote_start = before[0]
        previous_in_passage[pid] = (start, end)
        out.append(Scored(rank, hit, quote_start, end, start, end, cosine, overlap, score, None))
    return _with_kind_bonus(out, texts, normals, kind, weights, question_normal, unit)


def _with_kind_bonus(scored: list[Scored], texts: list[str], normals: list[str], kind, weights, question_normal: str,
                     unit) -> list[Scored]:
    """Each sentence's typed short span and the bonus it earns, looked for best sentence first and only while it
    could still matter: a sentence whose score even with the bonus stays below the best score less the second
    answer's margin is never quoted, so its span (jieba part-of-speech tagging, the slow part of a cold question) is
    not looked for. The answers are exactly those of looking in every sentence."""
    if not kind:
        return scored
    bonus = W_KIND_STRICT if kind in STRICT_KINDS else W_KIND
    best = -np.inf
    out = list(scored)
    for i in sorted(range(len(scored)), key=lambda i: -scored[i].score):
        s = scored[i]
        if s.score + bonus < best - SECOND_ANSWER_MARGIN:
            break
        short = _short_answer(texts[i], normals[i], kind, weights, question_normal, unit)
        if short is not None:
            out[i] = replace(s, score=s.score + bonus, short=short)
        best = max(best, out[i].score)
    return out


_QUESTION_WORD = re.compile(r"为什么|什么时候|什么|哪一年|哪一天|哪些|哪个|哪里|哪儿|哪位|哪天|哪年|哪|谁|多少|几|何时|何地|怎么样|怎么|怎样|如何|啥")
_CLAUSE_BREAK = re.compile(r"[\s，。？！?!,.、：:；;“”\"'（）()《》]")
BESIDE_CHARS = 4


def words_beside_question_word(question_normal: str) -> tuple[str, str]:
    """The clause's characters right before and after the question word: (`以`, `为食`) for 蓝线裸顶鲷以什么为食.

    A question is mostly its answer sentence with the answer replaced by 什么/谁/哪…, so the answer
    sentence holds these words; the topic (蓝线裸顶鲷), shared by every sentence of the passage, does not decide.
    """
    match = _QUESTION_WORD.search(question_normal)
    if not match:
        return "", ""
    left = _CLAUSE_BREAK.split(question_normal[: match.start()])[-1]
    right = _CLAUSE_BREAK.split(question_normal[match.end() :])[0]
    left = re.sub(r"(是|为|在|有|的)$", "", left) or left
    return left[-BESIDE_CHARS:], right[:BESIDE_CHARS]




def _beside_share(beside: tuple[str, str], sentence_normal: str) -> float:
    """The longest run of the words beside the question word found in the sentence, as a share of BESIDE_CHARS."""
    left, right = beside
    best = 0
    for size in range(len(left), 0, -1):
        if left[-size:] in sentence_normal:
            best = size
            break
    for size in range(len(right), best, -1):
        if right[:size] in sentence_normal:
            best = size
            break
    return best / BESIDE_CHARS


def _short_answer(sentence: str, sentence_normal: str, kind: str, weights: dict[str, float], question_normal: str,
                  unit: str | None = None) -> Span | None:
    """The candidate of the asked kind nearest to the question's own words, never one the question already names;
    for a how-many question that names what it counts (`unit`, from asked_unit), only counts of that."""
    found = candidate_spans(sentence, kind)
    if kind == "number" and not _ASKS_ORDINAL.search(question_normal):  # 第25指导组 answers no how-many question
        found = [c for c in found if not c.text.startswith("第")]
    if unit:
        found = [c for c in found if unit in sentence[c.start : c.end + len(unit) + 1]]
    if kind in ("which", "org", "place"):
        found = head_noun_spans(sentence, question_normal) or found
    candidates = [c for c in found if normalize(c.text) not in question_normal]
    if not candidates:
        return None
    aligned = len(sentence_normal) == len(sentence)
    anchors = []
    if aligned:
        for token, weight in weights.items():
            for m in re.finditer(re.escape(token), sentence_normal):
                anchors.append((m.start(), m.end(), weight))

    def distance(c: Span) -> float:
        if not anchors:
            return c.start
        gaps = [max(a_start - c.end, c.start - a_end, 0) / (0.5 + w) for a_start, a_end, w in anchors]
        return min(gaps)

    best = min(candidates, key=distance)
    return _without_echoed_qualifier(best, question_normal)


_ASKS_ORDINAL = re.compile(r"第几|第多少|\b(rank|place|position|which)\b", re.I)
_QUALIFIER = re.compile(r"^(超过|超|近|约|逾|达到|达|共|多达|不少于|至少)")


def _without_echoed_qualifier(span: Span, question_normal: str) -> Span:
    """`超过15%` → `15%` when the question itself says 超过."""
    match = _QUALIFIER.match(span.text)
    if match and match.group() in question_normal and len(span.text) > match.end():
        cut = match.end()
        return Span(span.start + cut, span.end, span.kind, span.text[cut:])
    return span


def _evidence(index: Index, best: Scored | None, weights: dict[str, float], question: str, kind: str | None, names: list[str],
              unknown_concepts: float) -> Evidence:
    if best is None:
        return Evidence(0.0, 0.0, 0.0, 0.0, 0.0, False, False, False, False)
    total = sum(weights.values())
    passage = best.hit.passage
    haystack = normalize(f"{passage.context} {passage.text}")
    coverage = sum(w for t, w in weights.items() if t in haystack) / total if total else 0.0
    known = sum(w for t, w in weights.items() if t in index.keyword_vocab) / total if total else 0.0
    latin = is_latin(question)
    span_missing = kind in STRICT_KINDS and best.short is None
    unit_missing = kind == "number" and best.short is None and asked_unit(normalize(question)) is not None
    entity_missing = misses_a_name(haystack, names)
    words = re.findall(r"[A-Za-z]+", question.lower())
    latin_words = len(words) if len(words) >= 4 and _ENGLISH_FUNCTION_WORDS.intersection(words) else 0
    evidence = Evidence(0.0, round(coverage, 4), round(best.cosine, 4), round(known, 4), round(best.overlap, 4), latin, span_missing, unit_missing, entity_missing, latin_words,
                        unknown_concepts)
    return replace(evidence, confidence=round(confidence(evidence), 4))


def reads_as_english(question) -> bool:
    """Whether an analysed question is an English question (the reader and the query adapter take those)."""
    return bool(question.latin) and is_english_question(question.text)


def is_english_question(text: str) -> bool:
    """Whether a Latin-script text reads as an English question (three words or more, one of them a function word),
    not markup, code or a stray string: only such a question goes to the reader, which answers whatever it is given."""
    words = re.findall(r"[A-Za-z]+", text.lower())
    return len(words) >= 3 and bool(_ENGLISH_FUNCTION_WORDS.intersection(words)) and not re.search(r"[<>{};=]", text)


_ENGLISH_FUNCTION_WORDS = frozenset("the of in on at to for by is are was were did does do what who whom when where which how why a an".split())
STRICT_KINDS = {"person", "date", "number", "place", "docnum"}


def confidence(e: Evidence) -> float:
    """One number for how well the best passage answers; ABSTAIN_BELOW splits answered from not."""
    if e.latin and e.known_share < 0.3:
        # a question in another script than the documents: only the vectors can judge it, and only a real
        # question (a few words) — short Latin strings (abc, SQL, markup) sit close to everything for e5
        if e.latin_words < 4:
            return -1.0
        value = (e.cosine - LATIN_COSINE) * 10 + ABSTAIN_BELOW
        if e.unknown_concepts > UNKNOWN_CONCEPTS_ABOVE:
            value -= ENTITY_MISSING_PENALTY  # it asks about things the documents never mention, as a missing name does
    else:
        value = 0.8 * e.coverage + 0.5 * (e.cosine - 0.9)
    if e.span_missing:
        value -= SPAN_MISSING_PENALTY
    if e.unit_missing:
        value -= UNIT_MISSING_PENALTY
    if e.entity_missing:
        value -= ENTITY_MISSING_PENALTY
    return value
