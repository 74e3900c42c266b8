"""The answer selector for English questions: the committed weights load, read the right signals, and a stale file
never costs an English question its answer."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from rag import selector as S
from rag.selector import FEATURES, Candidate, QuestionWords, Selector, features

SENTENCES = ["10月24日，科技部党组书记、部长王志刚主持召开党组会议。", "部党组成员李萌、张广军出席会议。"]


def candidates(scores: tuple[float, float]) -> list[Candidate]:
    text = "".join(SENTENCES)
    cut = len(SENTENCES[0])
    return [Candidate(0, 0, (0, cut), (16, 19), scores[0], False, 0.9, False),
            Candidate(0, 0, (cut, len(text)), (cut + 5, cut + 7), scores[1], True, 0.9, False)]


def test_the_committed_selector_loads_with_its_features_and_its_scores():
    model = Selector.load()
    assert model is not None and len(model.weights) == len(FEATURES)
    # fitted on held-out training paragraphs and scored there, cross-validated, against the reader's own order
    assert model.meta["selector_cross_validated"] > model.meta["reader_order"]


def test_the_sentence_that_says_what_the_question_asks_about_wins_a_near_tie():
    # "minister" → 部长: the first sentence names the minister; the reader's best span (a little higher) is elsewhere
    words = QuestionWords({"minister": ("部长",)}, [])
    rows = features(candidates((4.0, 4.5)), ["".join(SENTENCES)], words)
    assert rows[0][FEATURES.index("concepts")] == 1.0 and rows[1][FEATURES.index("concepts")] == 0.0
    scores = Selector.load().scores(rows)
    assert scores[0] > scores[1]


def test_the_reader_still_decides_when_it_is_sure():
    words = QuestionWords({"minister": ("部长",)}, [])
    rows = features(candidates((-6.0, 9.0)), ["".join(SENTENCES)], words)
    scores = Selector.load().scores(rows)
    assert scores[1] > scores[0]


def test_a_selector_file_for_other_features_is_not_used(tmp_path):
    stale = tmp_path / "answer_selector.json"
    stale.write_text(json.dumps({"features": ["span"], "weights": [1.0]}), encoding="utf-8")
    assert Selector.load(stale) is None
    assert Selector.load(tmp_path / "missing.json") is None
    with pytest.raises(ValueError):
        Selector([1.0])


def test_with_the_selector_on_english_questions_are_answered_and_a_missing_file_falls_back(pipeline, monkeypatch):
    assert pipeline.reader is not None  # loaded before the copy: a copy made while it loads never gets it (rule path)
    on = copy.copy(pipeline)
    on.settings = replace(pipeline.settings, answer_selector=True)  # RAG_ANSWER_SELECTOR=true
    question = "Who is the minister of science and technology?"
    answer = on.ask(question).answers[0]
    assert answer.short == "王志刚" and "部长王志刚" in answer.text and answer.citation.doc_id == "000_8167ffdbf6281ae2.txt"
    assert not on.ask("Who is the mayor of Xining?").answered
    monkeypatch.setattr(S, "_loaded", {S.WEIGHTS: None})  # no file: the reader's own order
    assert on.ask(question).answers[0].short == "王志刚"


def test_the_rerank_embeds_only_the_first_few_and_its_similarity_can_overturn_the_first_score(tmp_path):
    first = [1.0] + [0.0] * (len(FEATURES) - 1)  # the first score: the reader's span alone
    model = Selector(first, rerank=first + [10.0], top=2)
    rows = [[0.9] + [0.0] * (len(FEATURES) - 1), [0.8] + [0.0] * (len(FEATURES) - 1), [0.1] + [0.0] * (len(FEATURES) - 1)]
    asked = []

    def similarity(chosen):
        asked.append(list(chosen))
        return [{0: 0.80, 1: 0.86}[i] for i in chosen]

    order = model.order(rows, similarity)
    assert asked == [[0, 1]]  # the third, behind on the first score, is never embedded
    assert [i for i, _ in order] == [1, 0, 2]  # the sentence that means what the question asks comes first
    assert [i for i, _ in model.order(rows)] == [0, 1, 2]  # no embedder: the first score alone
    model.save(tmp_path / "s.json")
    again = Selector.load(tmp_path / "s.json")
    assert again.rerank == model.rerank and again.top == 2
    assert [i for i, _ in again.order(rows, similarity)] == [1, 0, 2]


def test_the_committed_selector_reranks_with_similarity_and_scores_better_for_it():
    model = Selector.load()
    assert model.rerank is not None and model.top > 0
    assert model.rerank[-1] > 0  # a sentence more like the question is more likely the answer's
    assert model.meta["selector_cross_validated"] > model.meta["selector_first_score_cross_validated"]
