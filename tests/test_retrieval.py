"""Hybrid retrieval over the seed index with the real bundled model: the right passage comes first."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NINGXIA = "002_0676de67ad7a5ad1.txt"
CHONGQING = "004_bc3fe6a42bc7c538.txt"
XINING = "003_97efbe3f29f870fa.txt#2"


def test_a_chinese_question_puts_its_meeting_first(pipeline):
    hits = pipeline.search("谁主持了宁夏科协党组扩大会议")
    assert hits
    assert hits[0].passage.doc_id == NINGXIA
    assert any("陈红缨主持会议" in h.passage.text for h in hits[:3])  # the passage that answers is among the first


def test_a_traditional_chinese_query_finds_the_simplified_document_by_its_keywords(pipeline):
    hits = pipeline.search("寧夏科協黨組擴大會議")
    assert hits
    assert hits[0].passage.doc_id == NINGXIA
    assert hits[0].keyword_rank is not None


@pytest.mark.parametrize(
    "query, doc_id, quoted",
    [
        ("陈红缨", NINGXIA, "陈红缨"),
        ("科创中国", XINING, "科创中国"),
        ("渝科协党组发〔2022〕35号", CHONGQING, None),
    ],
)
def test_names_and_document_numbers_are_found_by_the_keyword_side(pipeline, query, doc_id, quoted):
    hits = pipeline.search(query, top_k=10)
    best_keyword = [h for h in hits if h.keyword_rank == 1]
    assert len(best_keyword) == 1, f"no keyword hit ranked 1 for {query!r}"
    assert best_keyword[0].passage.doc_id == doc_id
    if quoted:
        assert quoted in best_keyword[0].passage.text


def test_the_document_number_query_returns_the_notice_first(pipeline):
    hits = pipeline.search("渝科协党组发〔2022〕35号")
    assert hits[0].passage.doc_id == CHONGQING


def test_an_english_question_finds_the_ningxia_meeting_in_the_top_three(pipeline):
    hits = pipeline.search("Who chaired the enlarged meeting of the Ningxia science association?")
    assert NINGXIA in [h.passage.doc_id for h in hits[:3]], [(h.passage.doc_id, h.passage.text[:30]) for h in hits[:5]]


def test_asking_for_more_passages_than_the_corpus_has_returns_every_passage_once(pipeline):
    total = pipeline.index.store.passage_count
    hits = pipeline.search("会议", top_k=total + 100)
    ids = [h.passage.id for h in hits]
    assert len(ids) == total
    assert len(set(ids)) == total
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_every_hit_is_an_exact_slice_of_its_document(pipeline):
    documents = pipeline.index.store.documents
    for hit in pipeline.search("学习贯彻党的二十大精神", top_k=20):
        p = hit.passage
        assert documents[p.doc_id].text[p.start : p.end] == p.text


def test_the_search_command_prints_passages_as_json(pipeline, seed_settings):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "rag", "search", "陈红缨", "--json",
        "--index", str(seed_settings.index_dir),
        "--corpus", str(seed_settings.corpus[0]),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and all({"doc_id", "title", "paragraph", "text", "score"} <= set(row) for row in rows)
    assert rows[0]["doc_id"] == NINGXIA
    assert "陈红缨" in rows[0]["text"]
    assert rows[0]["title"] == "自治区科协召开党组扩大会议传达学习党的二十大精神"
    assert "building the index" not in done.stderr  # the session's index is current: the command only reads it


def test_above_the_exact_limit_the_index_is_approximate_and_answers_as_exact_search_does(pipeline, seed_settings, embedder, tmp_path):
    """A corpus past RAG_ANN_ABOVE gets the IVF store with exact re-scoring; the answers and citations stay the same."""
    import dataclasses
    import shutil

    from rag.index import build_index
    from rag.pipeline import Pipeline

    shutil.copytree(seed_settings.index_dir, tmp_path / "index")  # unchanged files reuse their vectors: no embedding
    settings = dataclasses.replace(seed_settings, index_dir=tmp_path / "index", ann_above=20)
    build_index(settings, embedder, progress=False)
    approximate = Pipeline.open(settings, embedder)
    assert approximate.index.manifest["dense_index"] == "ivf-sq8-refine"
    assert approximate.index.vectors.approximate and not pipeline.index.vectors.approximate
    for question in ["谁主持了宁夏科协党组扩大会议", "怀进鹏什么时候到西宁调研", "Who chaired the enlarged meeting of the Ningxia science association?"]:
        exact, found = pipeline.search(question, top_k=5), approximate.search(question, top_k=5)
        assert [h.passage.text for h in found] == [h.passage.text for h in exact], question
        answer = lambda p: [(a.text, a.short, a.citation.doc_id, a.citation.paragraph) for a in p.ask(question).answers]
        assert answer(approximate) == answer(pipeline), question


def test_the_approximate_store_finds_the_exact_neighbours_and_keeps_them_after_saving(tmp_path):
    """20,000 clustered vectors in 512 lists, 64 of them searched: recall@10 against exact search, before and after a reload."""
    import numpy as np

    from rag.vectorstore import FaissVectorStore

    rng = np.random.default_rng(7)
    centres = rng.standard_normal((60, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 60, 20_000)] + 0.7 * rng.standard_normal((20_000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact, approximate = FaissVectorStore.create(64, len(vectors), 50_000), FaissVectorStore.create(64, len(vectors), 1_000)
    exact.add(vectors)
    approximate.add(vectors[:15_000])  # trains on its first batch
    approximate.add(vectors[15_000:])
    approximate.save(tmp_path / "vectors.faiss")
    reloaded = FaissVectorStore.load(tmp_path / "vectors.faiss")
    queries = vectors[rng.integers(0, len(vectors), 50)] + 0.3 * rng.standard_normal((50, 64)).astype(np.float32)
    for store in (approximate, reloaded):
        found = [len(set(exact.search(q, 10)[0]) & set(store.search(q, 10)[0])) for q in queries]
        assert sum(found) / 500 >= 0.95
        ids, scores = store.search(queries[0], 10)
        assert np.allclose(scores, vectors[ids] @ queries[0], atol=1e-5)  # re-scored with the exact vectors
    assert np.array_equal(reloaded.vectors(np.array([3, 19_999])), vectors[[3, 19_999]])
