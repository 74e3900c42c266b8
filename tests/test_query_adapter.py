"""The query adapter (rag/query_adapter.py, models/query_adapter.npz): English questions only, numpy only."""
from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from rag.query_adapter import WEIGHTS, QueryAdapter, query_adapter, retrieval_vector
from rag.question import analyse

from .conftest import ROOT


def test_the_committed_weights_load_as_a_small_384_map():
    adapter = query_adapter()
    assert adapter is not None, f"{WEIGHTS} is missing or unreadable"
    assert adapter.W.shape == (384, 384) and adapter.b.shape == (384,)
    assert WEIGHTS.stat().st_size < 400_000
    with np.load(WEIGHTS) as f:
        assert f["W"].dtype == np.float16


def test_only_an_english_question_is_adapted(embedder):
    english = analyse("Who is the minister of science and technology?")
    chinese = analyse("科技部部长是谁？")
    markup = analyse("<script>alert(1)</script>")
    for q in (chinese, markup):
        v = embedder.encode_queries([q.normal])[0]
        assert retrieval_vector(v, q) is v
    v = embedder.encode_queries([english.normal])[0]
    a = retrieval_vector(v, english)
    assert a.dtype == np.float32 and abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    assert float(a @ v) < 0.999  # moved
    assert retrieval_vector(v, english, enabled=False) is v


def test_a_missing_weights_file_leaves_the_raw_vector(tmp_path):
    assert query_adapter(tmp_path / "none.npz") is None


def test_rows_and_single_vectors_adapt_alike():
    rng = np.random.default_rng(0)
    adapter = QueryAdapter(rng.normal(size=(4, 4)) * 0.1, np.zeros(4), alpha=0.5)
    rows = rng.normal(size=(3, 4)).astype(np.float32)
    together = adapter(rows)
    assert np.allclose(together[1], adapter(rows[1]), atol=1e-6)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_answering_does_not_import_torch_for_the_adapter():
    code = ("import sys, numpy as np; from rag.query_adapter import query_adapter; from rag.question import analyse; "
            "a = query_adapter(); a(np.ones(384, np.float32)); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


# The adapter trained on 3,500 hand-written questions also ranked the Chongqing notice (004) first for "Which media
# centre does the Chongqing science association rely on for its publicity?"; the one trained on 8,274 ranks it 4th
# on the dense side, and the hybrid ranks a passage of the Xining notice (003) first, 004 next. Dev set: R@1 0.729 →
# 0.724, R@3 0.841 → 0.855 (docs/query_adapter.md).
@pytest.mark.parametrize("question, doc_id", [
    ("Who heads the 25th central guidance group for Party history study?", "001_7d7c59e9712777a1.txt"),
])
def test_with_the_adapter_the_dense_side_ranks_the_right_notice_first(pipeline, embedder, question, doc_id):
    from rag.retrieve import dense_search

    hits = pipeline.search(question, top_k=10)
    assert any(h.dense_rank == 1 and h.passage.doc_id == doc_id for h in hits), [(h.dense_rank, h.passage.doc_id) for h in hits]
    # the raw e5 vector (RAG_QUERY_ADAPTER=false) ranks another document's passage first
    raw = embedder.encode_queries([analyse(question).normal])[0]
    first = int(dense_search(pipeline.index, raw, 1).ids[0])
    assert pipeline.index.store.passages([first])[0].doc_id != doc_id
    off = copy.copy(pipeline)
    off.settings = replace(pipeline.settings, query_adapter=False)
    assert not any(h.dense_rank == 1 and h.passage.doc_id == doc_id for h in off.search(question, top_k=10))
