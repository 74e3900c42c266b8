"""Never destroy what the user has: an index folder is only ever replaced when it is an index, and an
index answers from its own corpus, never rebuilt empty from a missing or mistyped one."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from rag.config import Settings
from rag.index import IndexRefused, MARKER, build_index, read_manifest
from rag.pipeline import Pipeline

from .test_faults import ROOT, FakeEmbedder, fake_settings, good_corpus, indexed_sources


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_index_folder_that_holds_other_files_is_refused_and_left_untouched(tmp_path):
    corpus = good_corpus(tmp_path / "corpus")
    thesis = tmp_path / "v"
    (thesis / "sub").mkdir(parents=True)
    (thesis / "thesis.txt").write_text("thesis")
    (thesis / "sub" / "data.csv").write_text("x")
    before = _files(thesis)
    with pytest.raises(IndexRefused, match="not an index"):
        build_index(fake_settings(corpus, thesis), FakeEmbedder(), progress=False, warn=lambda m: None)
    assert _files(thesis) == before
    assert not list(tmp_path.glob(".v.*")), "no temporary folder is left beside it"


def test_the_cli_refuses_an_index_folder_of_other_files_with_exit_2_and_a_message(tmp_path):
    thesis = tmp_path / "v"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("thesis")
    result = subprocess.run([sys.executable, "-m", "rag", "index", "--corpus", str(ROOT / "seeds"), "--index", str(thesis)],
                            capture_output=True, cwd=ROOT, timeout=120, env={**os.environ, "RAG_EMBEDDER": "e5-small"})
    assert result.returncode == 2
    assert "not an index" in result.stderr.decode() and "Traceback" not in result.stderr.decode()
    assert (thesis / "thesis.txt").read_text() == "thesis"


@pytest.mark.parametrize("where", ["the corpus itself", "inside the corpus", "around the corpus"])
def test_an_index_folder_that_is_inside_or_around_a_corpus_folder_is_refused(tmp_path, where):
    corpus = good_corpus(tmp_path / "docs" / "corpus")
    index_dir = {"the corpus itself": corpus, "inside the corpus": corpus / "index", "around the corpus": tmp_path / "docs"}[where]
    before = _files(tmp_path)
    with pytest.raises(IndexRefused, match="corpus folder"):
        build_index(fake_settings(corpus, index_dir), FakeEmbedder(), progress=False, warn=lambda m: None)
    assert _files(tmp_path) == before


def test_an_index_carries_its_marker_and_the_corpus_folders_it_was_built_from(tmp_path):
    corpus = good_corpus(tmp_path / "corpus")
    build_index(fake_settings(corpus, tmp_path / "index"), FakeEmbedder(), progress=False, warn=lambda m: None)
    assert (tmp_path / "index" / MARKER).is_file()
    assert read_manifest(tmp_path / "index")["corpus_folders"] == [str(corpus)]
    # and a rebuild replaces it, as before
    build_index(fake_settings(corpus, tmp_path / "index"), FakeEmbedder(), progress=False, warn=lambda m: None)
    assert indexed_sources(tmp_path / "index") == {"000_8167ffdbf6281ae2.txt", "002_0676de67ad7a5ad1.txt"}


def test_an_index_opened_without_a_corpus_answers_from_its_own_corpus_not_the_seeds(tmp_path):
    from rag.config import Settings

    corpus = good_corpus(tmp_path / "corpus")
    (corpus / "002_0676de67ad7a5ad1.txt").unlink()
    build_index(fake_settings(corpus, tmp_path / "index"), FakeEmbedder(), progress=False, warn=lambda m: None)
    settings = Settings.from_env(env={}, index_dir=tmp_path / "index", embedder="fake")  # no corpus named
    pipeline = Pipeline.open(settings, FakeEmbedder())
    assert pipeline.settings.corpus == (corpus,)
    assert indexed_sources(tmp_path / "index") == {"000_8167ffdbf6281ae2.txt"}, "not rebuilt from seeds/"


@pytest.mark.parametrize("corpus_state", ["missing", "empty"])
def test_a_missing_or_empty_corpus_never_empties_the_index_and_questions_are_still_answered(tmp_path, corpus_state):
    from rag.config import Settings

    corpus = good_corpus(tmp_path / "corpus")
    build_index(fake_settings(corpus, tmp_path / "index"), FakeEmbedder(), progress=False, warn=lambda m: None)
    for f in corpus.iterdir():
        f.unlink()
    if corpus_state == "missing":
        corpus.rmdir()
    warnings: list[str] = []
    settings = Settings.from_env(env={}, index_dir=tmp_path / "index", embedder="fake")
    pipeline = Pipeline.open(settings, FakeEmbedder(), warn=warnings.append)
    assert any("nothing was rebuilt" in w for w in warnings)
    assert len(indexed_sources(tmp_path / "index")) == 2
    assert pipeline.search("陈红缨")


# ---------------------------------------------------------------- delete and upload by identity

def _two_folders(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    for folder, text in ((a, "甲文件夹的笔记：陈红缨主持会议。"), (b, "乙文件夹的笔记：王志刚主持会议。")):
        folder.mkdir()
        (folder / "notes.txt").write_text(text, encoding="utf-8")
    return a, b


def _indexed(folders, tmp_path):
    from rag.config import Settings

    settings = Settings.from_env(env={}, corpus=tuple(folders), index_dir=tmp_path / "index", embedder="fake")
    build_index(settings, FakeEmbedder(), progress=False, warn=lambda m: None)
    return indexed_sources(tmp_path / "index")


def test_same_named_files_in_two_corpus_folders_are_deleted_one_at_a_time(tmp_path):
    from rag.corpus import delete_source

    a, b = _two_folders(tmp_path)
    indexed = _indexed((a, b), tmp_path)
    assert indexed == {"notes.txt", "B/notes.txt"}
    assert delete_source("B/notes.txt", (a, b), indexed) == b / "notes.txt"
    assert (a / "notes.txt").exists() and not (b / "notes.txt").exists()


def test_an_upload_never_takes_a_name_that_another_corpus_folder_uses(tmp_path):
    from rag.corpus import add_upload, names_elsewhere

    a, b = _two_folders(tmp_path)
    (a / "notes.txt").unlink()
    upload = tmp_path / "upload.txt"
    upload.write_text("新上传的通知：李萌主持会议。", encoding="utf-8")
    added = add_upload(upload, "notes.txt", a, taken=names_elsewhere(a, (a, b)))
    assert added.path == a / "notes-2.txt"
    assert _indexed((a, b), tmp_path) == {"notes.txt", "notes-2.txt"}, "B's document keeps its name"


@pytest.mark.parametrize("name", [".env", "id_rsa", "notes.txt.bak"])
def test_only_indexed_documents_can_be_deleted_never_other_files_in_a_corpus_folder(tmp_path, name):
    from rag.corpus import RejectedUpload, delete_source

    a, b = _two_folders(tmp_path)
    (a / name).write_text("SECRET=1")
    indexed = _indexed((a, b), tmp_path)
    with pytest.raises(RejectedUpload, match="not in the corpus"):
        delete_source(name, (a, b), indexed)
    assert (a / name).exists()


def test_a_document_reached_through_a_symlinked_folder_outside_the_corpus_is_not_deleted(tmp_path):
    from rag.corpus import RejectedUpload, delete_source

    a, b = _two_folders(tmp_path)
    outside = tmp_path / "thesis"
    outside.mkdir()
    (outside / "thesis.txt").write_text("论文：第三章由张三主持撰写。", encoding="utf-8")
    (a / "linked").symlink_to(outside, target_is_directory=True)
    indexed = _indexed((a, b), tmp_path)
    assert "linked/thesis.txt" in indexed
    with pytest.raises(RejectedUpload, match="outside the corpus"):
        delete_source("linked/thesis.txt", (a, b), indexed)
    assert (outside / "thesis.txt").exists()


def test_deleting_a_five_thousand_character_name_says_so_without_a_path_or_traceback(tmp_path):
    from rag.corpus import RejectedUpload, delete_source

    a, b = _two_folders(tmp_path)
    indexed = _indexed((a, b), tmp_path)
    with pytest.raises(RejectedUpload) as refused:
        delete_source("a" * 5000, (a, b), indexed)
    assert str(tmp_path) not in str(refused.value) and len(str(refused.value)) < 400


# ---------------------------------------------------------------- settings checked at start

@pytest.mark.parametrize("env, says", [
    ({"RAG_TOP_K": "0"}, "top_k must be at least 1"),
    ({"RAG_TOP_K": "-1"}, "top_k must be at least 1"),
    ({"RAG_TOP_K": "abc"}, "RAG_TOP_K='abc' is not a int"),
    ({"RAG_MAX_ANSWERS": "0"}, "max_answers must be at least 1"),
    ({"RAG_MAX_QUESTION_CHARS": "0"}, "max_question_chars must be at least 1"),
    ({"RAG_FUSION": "bogus"}, "fusion must be one of convex, rrf"),
    ({"RAG_DENSE_SHARE": "nan"}, "dense_share must lie between 0 and 1"),
    ({"RAG_STORE": "sqlite"}, "store must be one of faiss, milvus"),
])
def test_a_bad_setting_is_refused_at_start_with_a_line_that_names_it(env, says):
    from rag.config import Settings

    with pytest.raises(ValueError, match=re.escape(says)):
        Settings.from_env(env=env)


def test_the_app_with_a_bad_setting_exits_2_with_the_reason_and_no_traceback():
    result = subprocess.run([sys.executable, "app.py"], capture_output=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "RAG_TOP_K": "abc", "RAG_FUSION": "bogus"})
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "RAG_TOP_K='abc'" in err and "fusion must be one of" in err and "Traceback" not in err


def test_the_same_content_under_two_names_is_indexed_once_and_the_copy_is_reported(tmp_path):
    corpus = good_corpus(tmp_path / "corpus")
    (corpus / "copy-of-000.txt").write_bytes((corpus / "000_8167ffdbf6281ae2.txt").read_bytes())
    warnings: list[str] = []
    build_index(fake_settings(corpus, tmp_path / "index"), FakeEmbedder(), progress=False, warn=warnings.append)
    assert indexed_sources(tmp_path / "index") == {"000_8167ffdbf6281ae2.txt", "002_0676de67ad7a5ad1.txt"}
    assert any("copy-of-000.txt" in w and "the same content as 000_8167ffdbf6281ae2.txt" in w for w in warnings)
    manifest = read_manifest(tmp_path / "index")
    assert [s["path"] for s in manifest["skipped"]] == ["copy-of-000.txt"]


# ---------------------------------------------------------------- a property: nothing outside the index folder is removed


NAMES = st.sampled_from(["notes.txt", "a.md", ".env", "id_rsa", "报告.txt", "sub/deep.txt", ".hidden/x.txt", "thesis.tex"])
INDEX_AT = st.sampled_from(["fresh", "A", "B", "root", "A/sub", "victim", "outside", "index_twice", "linked"])


def _snapshot(root: Path, skip: Path | None) -> dict[str, bytes]:
    """Every regular file under root (symlinks not followed), except those inside the index folder."""
    files = {}
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
            continue
        files[str(path.relative_to(root))] = path.read_bytes()
    return files


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.lists(NAMES, max_size=4, unique=True), b=st.lists(NAMES, max_size=4, unique=True),
       victim=st.lists(NAMES, min_size=1, max_size=3, unique=True), index_at=INDEX_AT, both=st.booleans(),
       delete=st.one_of(st.none(), NAMES, st.just("../outside/keep.txt")))
def test_no_file_outside_the_index_folder_is_ever_removed_whatever_the_folders_and_arguments(tmp_path_factory, a, b, victim, index_at,
                                                                                           both, delete):
    import shutil as _shutil

    from rag.corpus import RejectedUpload, delete_source
    from rag.index import IndexProblem, build_index, load_index

    root = tmp_path_factory.mktemp("layout")
    for folder, names in (("A", a), ("B", b), ("victim", victim), ("outside", ["keep.txt"])):
        for name in names:
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{folder}/{name}：2023年3月1日，测试科协召开会议，会议由赵一鸣主持。", encoding="utf-8")
    (root / "A").mkdir(exist_ok=True)
    (root / "B").mkdir(exist_ok=True)
    (root / "A" / "linked").symlink_to(root / "outside", target_is_directory=True)  # a symlinked folder out of the corpus
    corpus = (root / "A", root / "B") if both else (root / "A",)
    index_dir = {"fresh": root / "idx", "root": root, "index_twice": root / "idx", "linked": root / "A" / "linked"}.get(index_at, root / index_at)
    settings = Settings.from_env(env={}, corpus=corpus, index_dir=index_dir, embedder="fake-hash")
    embedder = FakeEmbedder()
    if index_at == "index_twice":  # an index already there is an index: rebuilding it is allowed
        build_index(settings, embedder, progress=False, warn=lambda m: None)
    from rag.index import is_index_folder

    # files inside the index folder may go only when it is an index (or nothing) already
    own = index_dir.resolve() if not index_dir.exists() or is_index_folder(index_dir) else None
    before = _snapshot(root, own)
    deleted = None
    try:
        build_index(settings, embedder, progress=False, warn=lambda m: None)
        if delete is not None:
            index = load_index(index_dir, "fake-hash")
            try:
                indexed = {e["path"] for e in index.manifest.get("corpus", [])}
            finally:
                index.close()
            try:
                deleted = delete_source(delete, corpus, indexed)
            except RejectedUpload:
                pass
    except IndexProblem:
        pass
    after = _snapshot(root, own)
    gone = set(before) - set(after)
    if deleted is not None:  # the one file a delete may remove: an indexed document inside its corpus folder
        assert gone == {str(Path(deleted).relative_to(root))}
        assert any(Path(deleted).resolve().parent == f.resolve() or f.resolve() in Path(deleted).resolve().parents for f in corpus)
    else:
        assert not gone, f"removed {sorted(gone)} (index at {index_at})"
    assert all(after[name] == before[name] for name in after if name in before)
    _shutil.rmtree(root, ignore_errors=True)
