"""Which sentence answers an English question: a small ranker trained on the reader's readings.

An English question is read by the reader alone (rag/answer.py), and its quote used to be the sentence around the
reader's best span in the best-scored passage. Given the gold paragraph the reader's sentence holds the answer for
64 % of the English dev questions; the sentence its words best match holds it for another part, and retrieval's order
knows things the reader's score does not (of 115 English dev misses, 24 had the gold paragraph first and were read
elsewhere). The selector scores every sentence of the passages the reader read, from

- the reader: its best span inside the sentence, whether the sentence holds the passage's own best span, the
  passage's answerability;
- retrieval: the passage's rank;
- the question's words: the share of its concept words (the glossary's corpus translations, rag/crosslingual.py)
  that the sentence says, and that its passage says, and whether one of its names appears in the sentence;
- whether the sentence is a fragment (under 12 characters);

and takes the highest. Its weights are a softmax over each question's sentences (a linear model: eight weights in
models/answer_selector.json) fitted on held-out training paragraphs that the reader and the query adapter never
trained on (`python -m rag.selector_train`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .text import normalize

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "answer_selector.json"
FEATURES = ("span", "holds_best", "answerable", "rank", "concepts", "names", "passage_concepts", "short")
RERANK_FEATURES = FEATURES + ("similarity",)
SIMILARITY_SCALE = 10.0  # cosines of one question's sentences differ by hundredths: scaled, the fit's L2 lets them count
SPAN_CLIP = 15.0  # span scores are logit differences; a few run to ±30 and would dominate a linear score


@dataclass(frozen=True)
class Candidate:
    """One sentence of a read passage, with the reader's best span inside it."""

    reading: int              # which read passage (its index in the reading order)
    rank: int                 # the passage's retrieval rank
    sentence: tuple[int, int]  # [start, end) in the text read
    span: tuple[int, int]     # the reader's best span inside the sentence, same offsets
    span_score: float
    holds_best: bool          # the passage's own best span lies in this sentence
    answerable: float         # the passage's answerability
    name_missing: bool


class QuestionWords:
    """An English question's evidence words in Chinese: its concept words' translations and its names' words."""

    def __init__(self, concepts: dict[str, tuple[str, ...]], names: list[str]) -> None:
        self.concepts = [tuple(normalize(w) for w in words) for words in concepts.values() if words]
        self.names = [normalize(w) for w in names if w]

    def concept_share(self, text: str) -> float:
        """The share of the question's translatable concept words that the text says (0 when it has none)."""
        if not self.concepts:
            return 0.0
        text = normalize(text)
        return sum(any(w in text for w in words) for words in self.concepts) / len(self.concepts)

    def names_in(self, text: str) -> bool:
        text = normalize(text)
        return any(w in text for w in self.names)


def features(candidates: list[Candidate], texts: list[str], words: QuestionWords) -> list[list[float]]:
    """The feature rows (in FEATURES order) of one question's candidate sentences; texts: the read text of each passage.

    Only differences between one question's candidates count (a softmax over them), so nothing here is relative to
    the question's best: a gap to the best span is the span score less a constant."""
    passage_share = {i: words.concept_share(text) for i, text in enumerate(texts)}
    rows = []
    for c in candidates:
        sentence = texts[c.reading][slice(*c.sentence)]
        span = max(-SPAN_CLIP, min(SPAN_CLIP, c.span_score)) / SPAN_CLIP
        rows.append([span, float(c.holds_best), c.answerable, 1.0 / (1 + c.rank), words.concept_share(sentence),
                     float(words.names_in(sentence)), passage_share[c.reading], float(len(sentence) < 12)])
    return rows


class Selector:
    """A linear score over FEATURES; the candidate with the highest score is the answer's sentence.

    With `rerank` weights (over RERANK_FEATURES) the `top` best of that first score are scored again with the sentence's
    e5 similarity to the question added: embedding a sentence costs about 25 ms here, too much for every sentence read
    (a median of 18), so only the few the first score puts ahead are embedded."""

    def __init__(self, weights: list[float], bias: float = 0.0, meta: dict | None = None,
                 rerank: list[float] | None = None, top: int = 0) -> None:
        if len(weights) != len(FEATURES):
            raise ValueError(f"the selector has {len(weights)} weights for {len(FEATURES)} features")
        if rerank is not None and len(rerank) != len(RERANK_FEATURES):
            raise ValueError(f"the selector's rerank has {len(rerank)} weights for {len(RERANK_FEATURES)} features")
        self.weights = list(weights)
        self.bias = bias
        self.meta = meta or {}
        self.rerank = list(rerank) if rerank is not None else None
        self.top = top if rerank is not None else 0

    @classmethod
    def load(cls, path: Path | None = None) -> "Selector | None":
        """The committed selector, or None when its file is missing or names other features (the reader's own order
        is used then)."""
        path = Path(path or WEIGHTS)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("features") != list(FEATURES):
            return None
        rerank = data.get("rerank")
        if rerank and rerank.get("features") != list(RERANK_FEATURES):
            return None
        return cls([float(w) for w in data["weights"]], float(data.get("bias", 0.0)), data.get("meta"),
                   [float(w) for w in rerank["weights"]] if rerank else None, int(rerank["top"]) if rerank else 0)

    def save(self, path: Path) -> None:
        data = {"features": list(FEATURES), "weights": [round(w, 5) for w in self.weights], "bias": round(self.bias, 5)}
        if self.rerank is not None:
            data["rerank"] = {"top": self.top, "features": list(RERANK_FEATURES), "weights": [round(w, 5) for w in self.rerank]}
        data["meta"] = self.meta
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    def scores(self, rows: list[list[float]]) -> list[float]:
        return [self.bias + sum(w * x for w, x in zip(self.weights, row)) for row in rows]

    def order(self, rows: list[list[float]], similarity=None) -> list[tuple[int, float]]:
        """(candidate, score) best first. similarity(indices) gives those candidates' e5 similarity to the question;
        without it, or without rerank weights, the first score alone orders them. Reranked candidates come first."""
        first = sorted(enumerate(self.scores(rows)), key=lambda ix: -ix[1])
        if self.rerank is None or similarity is None or not first:
            return first
        head = [i for i, _ in first[: self.top]]
        sims = similarity(head)
        again = [(i, sum(w * x for w, x in zip(self.rerank, rows[i] + [SIMILARITY_SCALE * float(v)])))
                 for i, v in zip(head, sims)]
        return sorted(again, key=lambda ix: -ix[1]) + first[self.top :]


def sentence_similarity(embedder, query_vector):
    """similarity(texts) → the cosine of each text's e5 passage vector with the question's (adapted) vector."""
    import numpy as np

    vector = np.asarray(query_vector, dtype=np.float32)
    vector = vector / (np.linalg.norm(vector) or 1.0)

    def similarity(texts: list[str]) -> list[float]:
        if not texts:
            return []
        return [float(v) for v in embedder.encode_passages(list(texts)) @ vector]
    return similarity


_loaded: dict[Path, Selector | None] = {}


def selector() -> Selector | None:
    """The committed selector, loaded once."""
    if WEIGHTS not in _loaded:
        _loaded[WEIGHTS] = Selector.load(WEIGHTS)
    return _loaded[WEIGHTS]


def question_words(question, glossary) -> QuestionWords:
    """What a candidate sentence should say: an English question's words in their corpus translations (the glossary),
    a Chinese question's own content words and names."""
    if question.latin:
        return QuestionWords(glossary.concepts(question.text), glossary.expand(question.text))
    return QuestionWords({w: (w,) for w in question.content if len(w) > 1}, list(question.names))
