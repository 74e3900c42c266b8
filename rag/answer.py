"""Extractive answers: sentences scored against the question, a short span, exact citations, abstention."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .index import Index
from .schema import Answer, Citation, Hit
from .spans import Span, candidate_spans, question_kind
from .text import content_tokens, normalize

# Weights of the sentence score, and the abstention threshold, calibrated on tests/data/seed_qa.jsonl
# and the CMRC trial set with `python -m benchmarks.calibrate` (numbers in benchmarks/results.md).
W_COSINE = 1.0
W_OVERLAP = 0.6
W_RANK = 0.15
W_KIND = 0.1
ABSTAIN_BELOW = 0.55  # confidence under which the documents are taken not to answer
_OPENS_DEPENDENT = re.compile(r"^(他|她|它|这|该|其|此|上述|以上|对此)")
MIN_STANDALONE = 12


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


def extract_answers(
    index: Index,
    question: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    max_answers: int = 3,
    threshold: float | None = None,
) -> tuple[list[Answer], Evidence]:
    """Up to max_answers quoted sentences from different passages, best first, or none when evidence is weak."""
    kind = question_kind(question)
    question_tokens = content_tokens(question)
    weights = _token_weights(index, question_tokens)
    scored = _score_sentences(index, question, query_vector, hits, kind, weights)
    best_per_passage: dict[int, Scored] = {}
    for s in scored:
        current = best_per_passage.get(s.hit.passage.id)
        if current is None or s.score > current.score:
            best_per_passage[s.hit.passage.id] = s
    ranked = sorted(best_per_passage.values(), key=lambda s: -s.score)
    evidence = _evidence(index, ranked[0] if ranked else None, weights)
    limit = ABSTAIN_BELOW if threshold is None else threshold
    if not ranked or evidence.confidence < limit:
        return [], evidence
    answers = []
    for s in ranked[:max_answers]:
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


def _score_sentences(index, question, query_vector, hits, kind, weights) -> list[Scored]:
    rows = index.store.sentences_of([h.passage.id for h in hits])
    if not rows:
        return []
    rank_of = {h.passage.id: (r, h) for r, h in enumerate(hits)}
    vectors = np.asarray(index.sentence_vectors[[row[0] for row in rows]], dtype=np.float32)
    cosines = vectors @ np.asarray(query_vector, dtype=np.float32)
    total_weight = sum(weights.values()) or 1.0
    previous_in_passage: dict[int, tuple[int, int]] = {}
    question_normal = normalize(question)
    out = []
    for (sid, pid, start, end), cosine in zip(rows, cosines.tolist()):
        rank, hit = rank_of[pid]
        document = index.store.documents[hit.passage.doc_id]
        sentence = document.text[start:end]
        sentence_normal = normalize(sentence)
        overlap = sum(w for t, w in weights.items() if t in sentence_normal) / total_weight
        short = _short_answer(sentence, sentence_normal, kind, weights, question_normal) if kind else None
        score = W_COSINE * cosine + W_OVERLAP * overlap + W_RANK / (1 + rank) + (W_KIND if short is not None else 0.0)
        quote_start = start
        before = previous_in_passage.get(pid)
        if before and (_OPENS_DEPENDENT.match(sentence) or end - start < MIN_STANDALONE):
            quote_start = before[0]
        previous_in_passage[pid] = (start, end)
        out.append(Scored(rank, hit, quote_start, end, start, end, cosine, overlap, score, short))
    return out


def _short_answer(sentence: str, sentence_normal: str, kind: str, weights: dict[str, float], question_normal: str) -> Span | None:
    """The candidate of the asked kind nearest to the question's own words, never one the question already names."""
    candidates = [c for c in candidate_spans(sentence, kind) if normalize(c.text) not in question_normal]
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

    return min(candidates, key=distance)


def _evidence(index: Index, best: Scored | None, weights: dict[str, float]) -> Evidence:
    if best is None:
        return Evidence(0.0, 0.0, 0.0, 0.0)
    total = sum(weights.values())
    passage = best.hit.passage
    haystack = normalize(f"{passage.context} {passage.text}")
    coverage = sum(w for t, w in weights.items() if t in haystack) / total if total else 0.0
    known = sum(w for t, w in weights.items() if t in index.keyword_vocab) / total if total else 0.0
    if known < 0.05:
        # nothing of the question is in the corpus vocabulary (another language): the vectors alone decide
        confidence = (best.cosine - 0.80) * 5 + 0.55
    else:
        confidence = 0.7 * coverage + 0.3 * (best.cosine - 0.75) * 5
    return Evidence(round(confidence, 4), round(coverage, 4), round(best.cosine, 4), round(known, 4))
