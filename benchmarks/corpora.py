"""The evaluation sets (the seeds with tests/data/seed_qa.jsonl, the CMRC 2018 trial set) and their indexes."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rag.config import Settings
from rag.evaluate import load_qa, load_squad

from .machine import ROOT

SEEDS = ROOT / "seeds"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
WRONG_FACTS = {"seeds": ROOT / "tests" / "data" / "wrong_facts.jsonl", "cmrc": ROOT / "tests" / "data" / "wrong_facts_cmrc.jsonl"}
CMRC_MISSING = f"the CMRC 2018 trial set is not at {CMRC} (../shared/data relative to the repository): its benchmarks are skipped"


@dataclass(frozen=True)
class EvalSet:
    """A corpus and its questions: `seeds` (files in seeds/) or `cmrc` (SQuAD contexts as documents)."""

    name: str
    questions: list[dict]
    documents: list | None  # parsed Documents for a SQuAD set; None when the corpus is a folder of files

    def settings(self, index_dir: Path) -> Settings:
        """The configured Settings (RAG_* variables honoured) pointed at this set's corpus and index_dir."""
        corpus = (SEEDS,) if self.documents is None else ()
        return replace(Settings.from_env(), corpus=corpus, index_dir=Path(index_dir))


def cmrc_available() -> bool:
    """Whether the CMRC trial file is where the benchmarks look for it."""
    return CMRC.is_file()


def load_set(name: str) -> EvalSet:
    """The evaluation set called name: `seeds` or `cmrc`."""
    if name == "seeds":
        return EvalSet("seeds", load_qa(SEED_QA), None)
    if name == "cmrc":
        if not cmrc_available():
            raise FileNotFoundError(CMRC_MISSING)
        documents, questions = load_squad(CMRC)
        return EvalSet("cmrc", questions, documents)
    raise ValueError(f"unknown evaluation set {name!r}: use 'seeds' or 'cmrc'")


def build_set_index(eval_set: EvalSet, index_dir: Path, embedder):
    """Build the set's index into index_dir with the embedder; the rag BuildReport."""
    from rag.index import build_index, build_index_from_documents

    settings = eval_set.settings(index_dir)
    if eval_set.documents is None:
        return build_index(settings, embedder, progress=False, warn=lambda message: None)
    return build_index_from_documents(settings, embedder, eval_set.documents, progress=False)


def open_set_pipeline(eval_set: EvalSet, index_dir: Path, embedder):
    """A Pipeline over the set's already-built index."""
    from rag.pipeline import Pipeline

    return Pipeline.open(eval_set.settings(index_dir), embedder, build="never")


def set_pipeline(name: str):
    """(The set, its pipeline over an index kept in benchmarks/.cache, built once; query vectors cached too)."""
    from embeddings import load_embedder

    from .cache import CACHE_DIR, CachingEmbedder

    eval_set = load_set(name)
    folder = CACHE_DIR / f"index-{name}"
    embedder = CachingEmbedder(load_embedder("e5-small"))
    if not (folder / "manifest.json").exists():
        build_set_index(eval_set, folder, embedder)
    return eval_set, open_set_pipeline(eval_set, folder, embedder)
