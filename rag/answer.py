"""Extractive answers from the trained reader: its span is the short answer, the sentence around it the quote.

The reader (rag/reader) reads the question against each of the top passages and gives the best span
of each, a span score (start + end logit over the "not here" logit) and an answerability probability.
Passages are ranked by the span score plus a share of the retrieval rank; the documents are taken to
answer when the calibrated confidence of the best reading clears ABSTAIN_BELOW. Every constant here was
chosen on the CMRC 2018 trial set and the seed questions (`python -m benchmarks.reader_calibrate`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .index import Index
from .question import Question, misses_a_name
from .rules import document_number_hits
from .schema import Answer, Citation, Hit
from .text import normalize, sentence_spans

READ_FIRST = 2  # passages the reader reads first
READ_TOP = 4  # … and how deep it reads on when none of the first is confidently an answer
READ_CONTEXT = True  # the passage's title / heading is read before it (never quoted)
ENOUGH = 0.9  # answerability at which the first passages' answer is taken without reading further
W_RANK = 1.0  # the reading score's share of retrieval: W_RANK / (1 + rank) is added to the span score
ABSTAIN_BELOW = 0.5  # confidence under which the documents are taken not to answer
ABSTAIN_BELOW_LATIN = 0.5  # … for a question in Latin script (English over Chinese documents: the reader trained on Chinese only)
SECOND_ANSWER_MARGIN = 2.0  # a further quote is shown only when its reading scores nearly as well as the best
NAME_MISSING_PENALTY = 0.5  # the passage never names the place or person asked about
COUNT_MISSING_PENALTY = 0.5  # a how-many question whose span holds no number
UNKNOWN_CONCEPTS_ABOVE = 0.6  # English questions: answerable seed ones reach 0.55 (literacy, citizens…), mayor/GDP/FIFA ones 1.0
SHORT_MAX_SHARE = 0.8  # a span covering more of its quote than this is the quote itself: no separate short answer
MIN_STANDALONE = 12  # a quoted sentence shorter than this is widened by its predecessor
_OPENS_DEPENDENT = re.compile(r"^(他|她|它|这|该|其|此|上述|以上|对此)")
_NUMERAL = re.compile(r"[0-9０-９零〇一二两三四五六七八九十百千万亿]")


@dataclass(frozen=True)
class Reading:
    """The reader's best span in one retrieved passage, in document offsets."""

    rank: int
    hit: Hit
    start: int
    end: int
    span_score: float
    answerable: float
    name_missing: bool
    score: float  # what ranks readings: span score plus retrieval rank


@dataclass(frozen=True)
class Evidence:
    """Why an answer is believed (or not): what the abstention rule reads."""

    confidence: float
    span_score: float
    answerable: float
    name_missing: bool
    count_missing: bool  # a how-many question whose span holds no number


def read_passages(reader, index: Index, question: Question, hits: list[Hit], read_first: int = READ_FIRST,
                  read_top: int = READ_TOP, enough: float = ENOUGH) -> list[Reading]:
    """The reader's span in the top passages, best reading first: the first few, then deeper only when needed."""
    readings: list[Reading] = []
    for a, b in ((0, read_first), (read_first, read_top)):
        candidates = hits[a:b]
        if not candidates:
            break
        spans = reader.read(question.text, [h.passage.text for h in candidates],
                            contexts=[h.passage.context for h in candidates] if READ_CONTEXT else None)
        for rank, (hit, span) in enumerate(zip(candidates, spans), start=a):
            if span is None:
                continue
            p = hit.passage
            missing = misses_a_name(normalize(f"{p.context} {p.text}"), list(question.names))
            readings.append(Reading(rank, hit, p.start + span.start, p.start + span.end, span.score, span.answerable,
                                    missing, rank_score(span.score, rank, missing)))
        if any(r.answerable >= enough and not r.name_missing for r in readings):
            break
    return sorted(readings, key=lambda r: -r.score)


def rank_score(span_score: float, rank: int, name_missing: bool, w_rank: float = W_RANK,
               name_penalty: float = NAME_MISSING_PENALTY) -> float:
    """What orders readings: the reader's span score, a share of the retrieval rank, less for a missing name."""
    return span_score + w_rank / (1 + rank) - 10 * name_penalty * name_missing


def confidence(answerable: float, name_missing: bool, count_missing: bool, name_penalty: float = NAME_MISSING_PENALTY,
               count_penalty: float = COUNT_MISSING_PENALTY) -> float:
    """How sure the product is that a reading answers: the reader's answerability, less what contradicts it."""
    return answerable - name_penalty * name_missing - count_penalty * count_missing


def evidence_of(question: Question, best: Reading | None, index: Index) -> Evidence:
    """The calibrated confidence that the best reading answers the question."""
    if best is None:
        return Evidence(0.0, 0.0, 0.0, False, False)
    span_text = index.store.documents[best.hit.passage.doc_id].text[best.start : best.end]
    count_missing = question.kind == "number" and not _NUMERAL.search(span_text)
    value = confidence(best.answerable, best.name_missing, count_missing)
    return Evidence(round(value, 4), round(best.span_score, 4), round(best.answerable, 4), best.name_missing, count_missing)


def extract_answers(reader, index: Index, question: Question, hits: list[Hit], max_answers: int = 3,
                    threshold: float | None = None, unknown_concepts: float = 0.0) -> tuple[list[Answer], Evidence]:
    """Up to max_answers quotes from different passages, best first, or none when the documents do not answer.

    unknown_concepts: for an English question, the share of its words that no corpus word translates
    (mayor, GDP); above UNKNOWN_CONCEPTS_ABOVE it asks about what the documents never mention.
    """
    if unknown_concepts > UNKNOWN_CONCEPTS_ABOVE:
        return [], Evidence(0.0, 0.0, 0.0, False, False)
    if question.kind == "docnum":  # the number is printed once at a notice's head and shares no word with the question
        hits = document_number_hits(index, hits) + hits
    readings = read_passages(reader, index, question, hits)
    evidence = evidence_of(question, readings[0] if readings else None, index)
    limit = threshold if threshold is not None else ABSTAIN_BELOW_LATIN if question.latin else ABSTAIN_BELOW
    if not readings or evidence.confidence < limit:
        return [], evidence
    best = readings[0]
    chosen = [best] + [r for r in readings[1:] if r.score >= best.score - SECOND_ANSWER_MARGIN
                       and r.answerable >= limit and not r.name_missing]
    answers: list[Answer] = []
    for reading in chosen:
        answer = answer_of(index, reading, question.kind)
        if all(answer.text != a.text for a in answers):  # the same words in two documents are quoted once
            answers.append(answer)
    return answers[:max_answers], evidence


def answer_of(index: Index, reading: Reading, kind: str | None = None) -> Answer:
    """The quote around the reading's span, its short answer and its citation; a list question gets the whole list."""
    document = index.store.documents[reading.hit.passage.doc_id]
    span_start, span_end = whole_numbers(document.text, reading.start, reading.end)
    start, end = quote_bounds(document.text, reading.hit.passage, span_start, span_end)
    if kind == "list":
        span_start, span_end = whole_list(document.text, start, end, span_start, span_end)
    short = document.text[span_start:span_end].strip()
    if not short or len(short) > SHORT_MAX_SHARE * (end - start):
        short = None
    paragraph = reading.hit.passage.paragraph
    page = document.pages[paragraph - 1] if document.pages and paragraph - 1 < len(document.pages) else None
    citation = Citation(document.doc_id, document.title, document.source, document.date, paragraph, start, end, page)
    return Answer(text=document.text[start:end], short=short, score=round(float(reading.score), 4), citation=citation)


def whole_list(text: str, quote_start: int, quote_end: int, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to the enumeration (A、B、C和D) of the quote that holds it, when there is one."""
    from .spans import candidate_spans

    for span in candidate_spans(text[quote_start:quote_end], "list"):
        a, b = quote_start + span.start, quote_start + span.end
        if a <= start < b or a < end <= b:
            return min(a, start), max(b, end)
    return start, end


_DIGIT = re.compile(r"[0-9０-９]")
_SEPARATOR = ",，.．"


def whole_numbers(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened so that no number is cut at its thousands separator or decimal point (312,000 not 000)."""
    def digit(i: int) -> bool:
        return 0 <= i < len(text) and bool(_DIGIT.match(text[i]))

    def separator(i: int) -> bool:
        return 0 <= i < len(text) and text[i] in _SEPARATOR and digit(i - 1) and digit(i + 1)

    while start > 0 and (digit(start - 1) and (digit(start) or separator(start)) or separator(start - 1)):
        start -= 1
    while end < len(text) and (digit(end) and (digit(end - 1) or separator(end - 1)) or separator(end)):
        end += 1
    return start, end


def quote_bounds(text: str, passage, start: int, end: int) -> tuple[int, int]:
    """The sentences of the passage that hold [start, end), widened by the one before when they cannot stand alone."""
    sentences = sentence_spans(text, passage.start, passage.end) or [(passage.start, passage.end)]
    inside = [i for i, (a, b) in enumerate(sentences) if a < end and b > start] or [
        min(range(len(sentences)), key=lambda i: abs(sentences[i][0] - start))]
    first, last = inside[0], inside[-1]
    a, b = sentences[first][0], sentences[last][1]
    opening = text[a:b]
    if first > 0 and (_OPENS_DEPENDENT.match(opening) or b - a < MIN_STANDALONE):
        a = sentences[first - 1][0]
    return a, b



