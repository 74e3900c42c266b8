"""Building, updating, checking and loading the index, with a fake embedder (the logic, not the model)."""
from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.index import (
    BM25_DIR,
    FORMAT_VERSION,
    MANIFEST,
    STORE,
    VECTORS,
    IndexDamaged,
    IndexMissing,
    IndexStale,
    build_index,
    is_index_folder,
    is_stale,
    load_index,
    passage_view,
)
from rag.retrieve import keyword_search
from rag.text import tokens

from .conftest import SEED_DOC_IDS

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
NINGXIA = "002_0676de67ad7a5ad1.txt"


class FakeEmbedder:
    """Deterministic unit vectors seeded by a hash of the text; remembers every text it was asked to embed."""

    def __init__(self, name: str = "fake-hash", dim: int = 16) -> None:
        self.name = name
        self.dim = dim
        self.embedded: list[str] = []

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self.vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.embedded += list(texts)
        return np.vstack([self.vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


class FailingEmbedder(FakeEmbedder):
    """Breaks in the middle of a build, as a crash or Ctrl-C would."""

    def encode_passages(self, texts, progress=False):
        raise RuntimeError("the embedder broke mid-build")


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def embedder() -> FakeEmbedder:  # shadows the session's real model: these tests are about the index logic
    return FakeEmbedder()


def settings_for(corpus_folders, index_dir: Path, embedder_name: str = "fake-hash") -> Settings:
    folders = tuple(corpus_folders) if isinstance(corpus_folders, (list, tuple)) else (corpus_folders,)
    return Settings.from_env(env={}, corpus=folders, index_dir=index_dir, embedder=embedder_name)


@pytest.fixture
def settings(corpus, tmp_path) -> Settings:
    return settings_for(corpus, tmp_path / "index")


def build(settings, embedder, warnings: list[str] | None = None):
    embedder.embedded.clear()
    return build_index(settings, embedder, progress=False, warn=(warnings.append if warnings is not None else lambda m: None))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def doc_ids(index) -> set[str]:
    return set(index.store.documents)


def assert_vectors_belong_to_their_passages(index, embedder: FakeEmbedder) -> None:
    """Every stored vector is the vector of the passage that now has its id: reuse kept them aligned."""
    for passage in index.store.all_passages():
        np.testing.assert_allclose(index.vectors.vectors(np.array([passage.id]))[0], embedder.vector(passage_view(passage)), atol=1e-6)


def keyword_doc_ids(index, query: str) -> set[str]:
    """The documents whose passages the keyword side finds at all."""
    ranking = keyword_search(index, tokens(query), 50)
    return {p.doc_id for p in index.store.passages(ranking.ids.tolist())}


def keyword_top_doc_id(index, query: str) -> str | None:
    """The document of the keyword side's best passage."""
    ranking = keyword_search(index, tokens(query), 1)
    passages = index.store.passages(ranking.ids.tolist())
    return passages[0].doc_id if passages else None


# ---------------------------------------------------------------- a first build


def test_build_writes_manifest_store_vectors_and_keyword_index(settings, embedder, corpus):
    report = build(settings, embedder)
    folder = settings.index_dir
    assert (folder / STORE).is_file()
    assert (folder / VECTORS).is_file()
    assert (folder / BM25_DIR).is_dir() and any((folder / BM25_DIR).iterdir())
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedder"] == "fake-hash"
    assert manifest["dim"] == 16
    assert datetime.fromisoformat(manifest["built_at"])
    expected = {p.name: sha256(p) for p in corpus.iterdir()}
    assert {entry["path"]: entry["sha256"] for entry in manifest["corpus"]} == expected
    assert report.documents == 6 and report.passages == manifest["passages"] > 50
    assert report.embedded_passages == report.passages
    assert not (folder / "sentences.npy").exists()  # sentences are scored by their passage's vector: half the embedding


def test_an_index_built_with_sentence_vectors_still_opens(settings, embedder):
    build(settings, embedder)
    np.save(settings.index_dir / "sentences.npy", np.zeros((3, 16), np.float32))  # what builds before 2026-11-30 wrote
    assert is_index_folder(settings.index_dir)
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert len(index.store.documents) == 6
    finally:
        index.close()


def test_built_index_loads_with_every_seed_document(settings, embedder):
    build(settings, embedder)
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert doc_ids(index) == SEED_DOC_IDS
        assert index.dense.ntotal == index.store.passage_count
        assert keyword_doc_ids(index, "陈红缨") == {NINGXIA}
        assert_vectors_belong_to_their_passages(index, embedder)
    finally:
        index.close()
    assert is_stale(settings) is None


def test_no_temporary_or_old_folders_are_left_beside_the_index(settings, embedder):
    build(settings, embedder)
    build(settings, embedder)
    leftovers = [p.name for p in settings.index_dir.parent.iterdir() if p.name.startswith(f".{settings.index_dir.name}")]
    assert leftovers == []


# ---------------------------------------------------------------- incremental updates


def test_rebuilding_an_unchanged_corpus_embeds_nothing(settings, embedder):
    first = build(settings, embedder)
    assert len(embedder.embedded) == first.passages  # passages only: no sentence vectors
    second = build(settings, embedder)
    assert embedder.embedded == []
    assert second.embedded_passages == 0 and second.reused_files == 5
    assert (second.documents, second.passages, second.sentences) == (first.documents, first.passages, first.sentences)


def test_changing_one_file_re_embeds_only_that_files_passages(settings, embedder, corpus):
    build(settings, embedder)
    changed = corpus / NINGXIA
    changed.write_text(
        changed.read_text(encoding="utf-8").replace("自治区科协党组成员、巡视员", "补充说明：会议由宁夏科协青年科技工作者代表列席。\n\n自治区科协党组成员、巡视员"),
        encoding="utf-8",
    )
    report = build(settings, embedder)
    assert report.reused_files == 4
    index = load_index(settings.index_dir, "fake-hash")
    try:
        ningxia = index.store.documents[NINGXIA]
        ningxia_passages = index.store.passages_of(NINGXIA)
        assert embedder.embedded, "the changed file was not re-embedded"
        for text in embedder.embedded:  # a passage view is "context\ntext"
            assert text.split("\n")[-1] in ningxia.text, f"embedded a text that is not from {NINGXIA}: {text[:40]!r}"
        assert report.embedded_passages == len(ningxia_passages)
        assert keyword_top_doc_id(index, "宁夏科协青年科技工作者代表列席") == NINGXIA
        assert "补充说明：会议由宁夏科协青年科技工作者代表列席。" in ningxia.text
        assert doc_ids(index) == SEED_DOC_IDS
        assert_vectors_belong_to_their_passages(index, embedder)
    finally:
        index.close()


def test_a_build_reports_its_embedding_progress_up_to_every_text_and_keeps_vectors_aligned(settings, embedder, monkeypatch):
    monkeypatch.setattr("rag.index.EMBED_CHUNK", 32)  # the seeds' 116 passages in four steps
    seen: list[tuple[int, int]] = []
    report = build_index(settings, embedder, progress=False, warn=lambda m: None, on_embedded=lambda done, total: seen.append((done, total)))
    total = report.embedded_passages  # sentences are not embedded: the rule path scores them by their passage
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) > 2
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert_vectors_belong_to_their_passages(index, embedder)
    finally:
        index.close()


def test_adding_a_file_embeds_only_the_new_file(settings, embedder, corpus):
    build(settings, embedder)
    (corpus / "005_new_notice.txt").write_text(
        "某市科协召开座谈会\n\n3月5日，某市科协召开青年科技人才座谈会，听取意见建议。会议由市科协主席李明主持。\n", encoding="utf-8"
    )
    report = build(settings, embedder)
    assert report.reused_files == 5
    index = load_index(settings.index_dir, "fake-hash")
    try:
        new_text = index.store.documents["005_new_notice.txt"].text
        assert embedder.embedded and all(text.split("\n")[-1] in new_text for text in embedder.embedded)
        assert report.embedded_passages == len(index.store.passages_of("005_new_notice.txt"))
        assert doc_ids(index) == SEED_DOC_IDS | {"005_new_notice.txt"}
        assert index.store.documents["005_new_notice.txt"].title == "某市科协召开座谈会"
        assert keyword_top_doc_id(index, "青年科技人才座谈会") == "005_new_notice.txt"
        assert_vectors_belong_to_their_passages(index, embedder)
    finally:
        index.close()


def test_removing_a_file_removes_its_documents_from_the_index(settings, embedder, corpus):
    build(settings, embedder)
    (corpus / NINGXIA).unlink()
    assert is_stale(settings) is not None
    report = build(settings, embedder)
    assert embedder.embedded == []
    assert report.documents == 5
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert doc_ids(index) == SEED_DOC_IDS - {NINGXIA}
        assert all(p.doc_id != NINGXIA for p in index.store.all_passages())
        assert keyword_doc_ids(index, "陈红缨") == set()
        assert NINGXIA not in [entry["path"] for entry in index.manifest["corpus"]]
        assert_vectors_belong_to_their_passages(index, embedder)
    finally:
        index.close()


def test_an_edited_file_is_noticed_as_stale(settings, embedder, corpus):
    build(settings, embedder)
    assert is_stale(settings) is None
    with open(corpus / NINGXIA, "a", encoding="utf-8") as handle:
        handle.write("\n补充一句。\n")
    assert is_stale(settings)


# ---------------------------------------------------------------- bad files


def test_a_binary_file_is_skipped_with_one_warning_and_the_rest_is_indexed(settings, embedder, corpus):
    (corpus / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    warnings: list[str] = []
    report = build(settings, embedder, warnings)
    naming = [w for w in warnings if "broken.txt" in w]
    assert len(naming) == 1, warnings
    assert "\n" not in naming[0]
    assert [source for source, _ in report.skipped] == ["broken.txt"]
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert doc_ids(index) == SEED_DOC_IDS
        assert "broken.txt" in [entry["path"] for entry in index.manifest["skipped"]]
    finally:
        index.close()
    assert is_stale(settings) is None  # a skipped file does not make every later start rebuild


# ---------------------------------------------------------------- stale and damaged indexes


def _open_pipeline(settings, embedder, messages):
    from rag.pipeline import Pipeline

    return Pipeline.open(settings, embedder, build="if-needed", warn=messages.append)


def test_an_index_built_with_another_embedder_is_stale(settings, embedder):
    build(settings, embedder)
    with pytest.raises(IndexStale) as caught:
        load_index(settings.index_dir, "e5-small")
    message = str(caught.value)
    assert "fake-hash" in message and "e5-small" in message
    assert "python -m rag index" in message


def test_opening_with_another_embedder_rebuilds_the_index(settings, embedder, tmp_path):
    build(settings, embedder)
    other = FakeEmbedder("fake-other", dim=8)
    messages: list[str] = []
    pipeline = _open_pipeline(settings_for(settings.corpus, settings.index_dir, "fake-other"), other, messages)
    assert pipeline.index.embedder_name == "fake-other"
    assert pipeline.index.dense.d == 8
    assert len(other.embedded) > 50  # everything re-embedded: no vector of the other model was reused
    assert messages
    assert doc_ids(pipeline.index) == SEED_DOC_IDS


def test_a_truncated_vector_file_is_reported_as_damaged_with_what_to_run(settings, embedder):
    build(settings, embedder)
    vectors = settings.index_dir / VECTORS
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    with pytest.raises(IndexDamaged) as caught:
        load_index(settings.index_dir, "fake-hash")
    assert "python -m rag index" in str(caught.value)


def test_opening_a_damaged_index_rebuilds_it(settings, embedder):
    build(settings, embedder)
    vectors = settings.index_dir / VECTORS
    vectors.write_bytes(vectors.read_bytes()[:100])
    messages: list[str] = []
    pipeline = _open_pipeline(settings, embedder, messages)
    assert doc_ids(pipeline.index) == SEED_DOC_IDS
    assert pipeline.index.dense.ntotal == pipeline.index.store.passage_count
    hits = pipeline.search("陈红缨")  # the fake vectors are noise: only the keyword side means something here
    assert any(h.passage.doc_id == NINGXIA and h.keyword_rank == 1 for h in hits)
    assert any("python -m rag index" in m or "rebuild" in m for m in messages)


def _truncate(path: Path, keep: float) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


DAMAGE = {
    "empty-store": lambda folder: (folder / STORE).write_bytes(b""),
    "half-store": lambda folder: _truncate(folder / STORE, 0.5),
    "garbage-store": lambda folder: (folder / STORE).write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000),
    "no-store": lambda folder: (folder / STORE).unlink(),
    "no-vectors": lambda folder: (folder / VECTORS).unlink(),
    "empty-vectors": lambda folder: (folder / VECTORS).write_bytes(b""),
    "no-bm25": lambda folder: shutil.rmtree(folder / BM25_DIR),
    "half-bm25-files": lambda folder: [_truncate(f, 0.5) for f in (folder / BM25_DIR).iterdir() if f.is_file()],
    "garbage-manifest": lambda folder: (folder / MANIFEST).write_text("{not json", encoding="utf-8"),
    "list-manifest": lambda folder: (folder / MANIFEST).write_text("[1, 2]", encoding="utf-8"),
    "binary-manifest": lambda folder: (folder / MANIFEST).write_bytes(b"\xff\xfe\x00garbage"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_other_damage_is_reported_and_repaired(settings, embedder, damage):
    build(settings, embedder)
    folder = settings.index_dir
    DAMAGE[damage](folder)
    with pytest.raises((IndexDamaged, IndexStale)) as caught:
        load_index(folder, "fake-hash")
    assert "python -m rag index" in str(caught.value)
    pipeline = _open_pipeline(settings, embedder, [])
    assert doc_ids(pipeline.index) == SEED_DOC_IDS


def test_an_approximate_index_reuses_exact_vectors_and_reports_a_damaged_vector_file(settings, embedder, corpus):
    """Above RAG_ANN_ABOVE the float32 vectors live beside the IVF file: a re-index reuses them, damage to them is reported."""
    import dataclasses

    from rag.vectorstore import exact_path

    settings = dataclasses.replace(settings, ann_above=10)
    build(settings, embedder)
    changed = corpus / NINGXIA
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\n补充说明：本次会议另有书面材料。\n", encoding="utf-8")
    report = build(settings, embedder)
    assert report.reused_files == 4
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert index.manifest["dense_index"] == "ivf-sq8-refine" and index.vectors.approximate
        assert_vectors_belong_to_their_passages(index, embedder)
        probe = index.store.passages_of(NINGXIA)[0]
        ids, scores = index.vectors.search(embedder.vector(passage_view(probe)), 3)
        assert ids[0] == probe.id and scores[0] == pytest.approx(1.0, abs=1e-5)  # a passage's own vector finds it first
    finally:
        index.close()
    _truncate(exact_path(settings.index_dir / VECTORS), 0.5)
    with pytest.raises(IndexDamaged) as caught:
        load_index(settings.index_dir, "fake-hash")
    assert "python -m rag index" in str(caught.value)
    exact_path(settings.index_dir / VECTORS).unlink()
    with pytest.raises(IndexDamaged):
        load_index(settings.index_dir, "fake-hash")
    assert doc_ids(_open_pipeline(settings, embedder, []).index) == SEED_DOC_IDS


def test_a_manifest_of_an_older_format_is_stale_and_rebuilt(settings, embedder):
    build(settings, embedder)
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION - 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStale) as caught:
        load_index(settings.index_dir, "fake-hash")
    assert "python -m rag index" in str(caught.value)
    assert is_stale(settings)
    pipeline = _open_pipeline(settings, embedder, [])
    assert pipeline.index.manifest["format_version"] == FORMAT_VERSION


def test_a_missing_index_says_how_to_build_it(tmp_path):
    with pytest.raises(IndexMissing) as caught:
        load_index(tmp_path / "nothing-here", "fake-hash")
    assert "python -m rag index" in str(caught.value)


def test_a_build_that_breaks_midway_leaves_the_previous_index_whole(settings, embedder, corpus):
    build(settings, embedder)
    before = (settings.index_dir / MANIFEST).read_text(encoding="utf-8")
    (corpus / "005_new_notice.txt").write_text("新的通知\n\n会议于今日召开。\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        build_index(settings, FailingEmbedder(), progress=False, warn=lambda m: None)
    assert (settings.index_dir / MANIFEST).read_text(encoding="utf-8") == before
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert doc_ids(index) == SEED_DOC_IDS
    finally:
        index.close()
    assert [p.name for p in settings.index_dir.parent.iterdir() if p.name.startswith(f".{settings.index_dir.name}")] == []


# ---------------------------------------------------------------- several corpus folders


def test_two_corpus_folders_are_both_indexed(tmp_path, embedder):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    for path in sorted(SEEDS.iterdir()):
        shutil.copy(path, (first if path.name < "002" else second) / path.name)
    settings = settings_for([first, second], tmp_path / "index")
    report = build(settings, embedder)
    assert report.documents == 6
    index = load_index(settings.index_dir, "fake-hash")
    try:
        assert doc_ids(index) == SEED_DOC_IDS
        assert {d.source for d in index.store.documents.values()} == {p.name for p in SEEDS.iterdir()}
        assert keyword_doc_ids(index, "陈红缨") == {NINGXIA}
    finally:
        index.close()
    assert is_stale(settings) is None
    build(settings, embedder)
    assert embedder.embedded == []


def test_files_with_the_same_name_in_two_folders_are_both_indexed(tmp_path, embedder):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "notice.txt").write_text("甲市通知\n\n甲市科协于5月召开年会，由张三主持。\n", encoding="utf-8")
    (second / "notice.txt").write_text("乙市通知\n\n乙市科协于6月召开年会，由李四主持。\n", encoding="utf-8")
    settings = settings_for([first, second], tmp_path / "index")
    report = build(settings, embedder)
    assert report.documents == 2
    index = load_index(settings.index_dir, "fake-hash")
    try:
        titles = {d.title for d in index.store.documents.values()}
        assert titles == {"甲市通知", "乙市通知"}
        assert len({d.source for d in index.store.documents.values()}) == 2
    finally:
        index.close()
    assert is_stale(settings) is None


def test_the_same_folder_given_twice_is_indexed_once(settings, embedder, corpus):
    twice = settings_for([corpus, corpus], settings.index_dir)
    report = build(twice, embedder)
    assert report.documents == 6


# ---------------------------------------------------------------- the embedder's name


def test_reopening_with_the_same_embedder_does_not_rebuild(settings, embedder):
    messages: list[str] = []
    _open_pipeline(settings, embedder, messages)
    assert messages  # the first start builds
    embedder.embedded.clear()
    messages.clear()
    pipeline = _open_pipeline(settings, embedder, messages)
    assert messages == [] and embedder.embedded == []
    assert doc_ids(pipeline.index) == SEED_DOC_IDS


def test_an_embedder_given_directly_is_what_the_index_is_checked_against(corpus, tmp_path, embedder):
    # settings name the default embedder, but the caller hands over another one: no rebuild loop on every start
    settings = Settings.from_env(env={}, corpus=(corpus,), index_dir=tmp_path / "index")
    _open_pipeline(settings, embedder, [])
    messages: list[str] = []
    _open_pipeline(settings, embedder, messages)
    assert messages == []


def test_an_alias_of_the_embedder_that_built_the_index_is_not_stale(corpus, tmp_path):
    settings = settings_for(corpus, tmp_path / "index", "e5-small")
    build(settings, FakeEmbedder("e5-small"))
    assert is_stale(settings) is None
    assert is_stale(settings_for(corpus, tmp_path / "index", "e5")) is None
    assert is_stale(settings_for(corpus, tmp_path / "index", "st:some-model"))


# ---------------------------------------------------------------- nothing to index


def test_an_empty_corpus_builds_an_empty_index_that_answers_nothing(tmp_path, embedder):
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = settings_for(empty, tmp_path / "index")
    report = build(settings, embedder)
    assert report.documents == 0 and report.passages == 0
    pipeline = _open_pipeline(settings, embedder, [])
    assert pipeline.search("陈红缨") == []
    assert pipeline.search("会议", top_k=50) == []


def test_a_corpus_of_only_unreadable_files_builds_an_empty_index(tmp_path, embedder):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.txt").write_bytes(bytes(range(256)) * 20)
    (folder / "b.txt").write_bytes(b"")
    warnings: list[str] = []
    report = build(settings_for(folder, tmp_path / "index"), embedder, warnings)
    assert report.documents == 0
    assert sorted(source for source, _ in report.skipped) == ["a.txt", "b.txt"]
    assert len(warnings) == 2
