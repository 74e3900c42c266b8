"""Faults: bad files in a corpus, damaged or foreign indexes, a full disk, a killed build, uploads during questions.

The logic of the index is tested with a fast fake embedder; what is asked of the answers
(identical after a crash, exact while re-indexing) uses the session's real model and index.
"""
from __future__ import annotations

import errno
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.index import MANIFEST, STORE, VECTORS, IndexDamaged, IndexProblem, IndexStale, build_index, load_index, read_manifest
from rag.pipeline import Pipeline
from rag.schema import response_to_json

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOOD = ["000_8167ffdbf6281ae2.txt", "002_0676de67ad7a5ad1.txt"]


class FakeEmbedder:
    """Character-bigram hashing into 32 dimensions: deterministic, instant, L2-normalised."""

    dim = 32

    def __init__(self, name: str = "fake") -> None:
        self.name = name

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:]):
                vectors[row, zlib.crc32((a + b).encode("utf-8", "replace")) % self.dim] += 1.0
            if not vectors[row].any():
                vectors[row, 0] = 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts)


def fake_settings(corpus: Path, index_dir: Path, embedder: str = "fake") -> Settings:
    return Settings.from_env(env={}, corpus=(corpus,), index_dir=index_dir, embedder=embedder)


def good_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in GOOD:
        shutil.copy(SEEDS / name, folder / name)
    return folder


def build_collecting(settings: Settings, embedder=None) -> tuple[object, list[str]]:
    warnings: list[str] = []
    report = build_index(settings, embedder or FakeEmbedder(settings.embedder), progress=False, warn=warnings.append)
    return report, warnings


def indexed_sources(index_dir: Path) -> set[str]:
    return {entry["path"] for entry in read_manifest(index_dir)["corpus"]}


# ---------------------------------------------------------------- bad files in a corpus


def _binary() -> bytes:
    rng = random.Random(7)
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(4000))


def _blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _corrupt_docx() -> bytes:
    return b"PK\x03\x04" + b"\x14\x00\x06\x00" + bytes(range(256)) * 8  # a zip header and then nothing of a zip


def _scripts_only_html() -> bytes:
    script = "<script>var s = document.cookie; for (var i = 0; i < 10; i++) { console.log(i); }</script>"
    return f"<!doctype html><html><head><title></title>{script * 5}</head><body>{script * 20}</body></html>".encode()


BAD_FILES = [
    # (file name, content, what the warning says)
    ("empty.txt", lambda: b"", "empty"),
    ("picture.txt", _binary, "binary"),
    ("scan.pdf", _blank_pdf, "text layer"),
    ("letter.pdf", lambda: "这不是 PDF 文件。".encode() * 50, "pdf"),
    ("report.docx", _corrupt_docx, "docx"),
    ("page.html", _scripts_only_html, "no readable text"),
]


@pytest.mark.parametrize("name,content,reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_an_unreadable_file_is_skipped_with_one_line_naming_it_and_the_rest_is_indexed(tmp_path, name, content, reason):
    corpus = good_corpus(tmp_path / "corpus")
    (corpus / name).write_bytes(content())
    report, warnings = build_collecting(fake_settings(corpus, tmp_path / "index"))
    assert len(warnings) == 1, warnings
    assert "\n" not in warnings[0] and name in warnings[0] and reason in warnings[0], warnings[0]
    assert indexed_sources(tmp_path / "index") == set(GOOD)
    assert report.skipped and report.skipped[0][0] == name


def test_a_50_mb_text_file_is_refused_by_its_size_without_being_read_whole(tmp_path, monkeypatch):
    corpus = good_corpus(tmp_path / "corpus")
    big = corpus / "huge.txt"
    with open(big, "wb") as handle:  # sparse: instant, and no disk used
        handle.truncate(50 * 1024 * 1024)
    from pathlib import Path

    from rag import documents

    def never(*_args, **_kwargs):
        raise AssertionError("the oversize file was read whole")

    monkeypatch.setattr(Path, "read_bytes", never)
    with pytest.raises(documents.UnreadableFile, match="MB"):
        documents.read_file(big)
    monkeypatch.undo()
    report, warnings = build_collecting(fake_settings(corpus, tmp_path / "index"))
    assert len(warnings) == 1 and "huge.txt" in warnings[0] and "52 MB" in warnings[0] and "limit" in warnings[0], warnings
    assert indexed_sources(tmp_path / "index") == set(GOOD)


def _seed_text(name: str = "002_0676de67ad7a5ad1.txt") -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def _to_traditional(text: str) -> str:
    import opencc

    return opencc.OpenCC("s2t").convert(text)


ENCODED = [
    ("gb18030.txt", lambda: _seed_text().encode("gb18030"), "陈红缨主持会议"),
    ("big5.txt", lambda: _to_traditional(_seed_text()).encode("big5", errors="ignore"), "陳紅纓主持會議"),
    ("utf16.txt", lambda: _seed_text().encode("utf-16-le"), "陈红缨主持会议"),
]


@pytest.mark.parametrize("name,content,phrase", ENCODED, ids=[e[0] for e in ENCODED])
def test_a_file_in_a_chinese_legacy_encoding_or_utf16_without_bom_is_read_correctly(tmp_path, name, content, phrase):
    corpus = good_corpus(tmp_path / "corpus")
    (corpus / name).write_bytes(content())
    _, warnings = build_collecting(fake_settings(corpus, tmp_path / "index"))
    assert warnings == []
    index = load_index(tmp_path / "index", "fake")
    try:
        texts = [d.text for d in index.store.documents.values() if d.source == name]
        assert texts and phrase in texts[0]
    finally:
        index.close()
    assert indexed_sources(tmp_path / "index") == set(GOOD) | {name}


def test_mixed_line_endings_read_as_the_same_paragraphs_as_plain_newlines(tmp_path):
    corpus = good_corpus(tmp_path / "corpus")
    lines = _seed_text().split("\n")
    endings = ["\r\n", "\r", "\n"]
    mixed = "".join(line + endings[i % 3] for i, line in enumerate(lines))
    (corpus / "mixed.txt").write_bytes(mixed.encode("utf-8"))
    (corpus / "plain.txt").write_bytes(("\n".join(lines) + "\n\n").encode("utf-8"))  # not byte-identical to the seed copy
    _, warnings = build_collecting(fake_settings(corpus, tmp_path / "index"))
    assert warnings == []
    index = load_index(tmp_path / "index", "fake")
    try:
        by_source = {d.source: d for d in index.store.documents.values()}
        assert "\r" not in by_source["mixed.txt"].text
        assert by_source["mixed.txt"].text == by_source["plain.txt"].text
        assert by_source["mixed.txt"].paragraphs == by_source["plain.txt"].paragraphs
    finally:
        index.close()


def test_a_symlink_loop_in_the_corpus_folder_ends_and_indexes_each_file_once(tmp_path):
    corpus = good_corpus(tmp_path / "corpus")
    (corpus / "sub").mkdir()
    shutil.copy(SEEDS / "003_97efbe3f29f870fa.txt", corpus / "sub" / "003.txt")
    os.symlink(corpus, corpus / "sub" / "back-to-top")  # a folder that contains itself
    os.symlink(corpus / "sub" / "self.txt", corpus / "sub" / "self.txt")  # a file link to itself (ELOOP)
    os.symlink(tmp_path / "gone.txt", corpus / "dangling.txt")
    report, warnings = build_collecting(fake_settings(corpus, tmp_path / "index"))
    assert indexed_sources(tmp_path / "index") == set(GOOD) | {"sub/003.txt"}  # nothing through the loop twice
    assert not report.skipped
    assert all("\n" not in w for w in warnings)


# ---------------------------------------------------------------- damaged or foreign indexes


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory):
    """A good index over two seed files, built once with the fake embedder; tests damage copies of it."""
    base = tmp_path_factory.mktemp("fake-index")
    corpus = good_corpus(base / "corpus")
    build_index(fake_settings(corpus, base / "index"), FakeEmbedder(), progress=False, warn=lambda m: None)
    return base


@pytest.fixture
def copy_of_fake_index(fake_index, tmp_path):
    shutil.copytree(fake_index / "corpus", tmp_path / "corpus")
    shutil.copytree(fake_index / "index", tmp_path / "index")
    return fake_settings(tmp_path / "corpus", tmp_path / "index")


def _truncate_vectors(folder: Path) -> None:
    path = folder / VECTORS
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble_store_header(folder: Path) -> None:
    path = folder / STORE
    data = bytearray(path.read_bytes())
    data[:4096] = bytes(random.Random(1).randrange(256) for _ in range(4096))
    path.write_bytes(bytes(data))


def _garble_store_pages(folder: Path) -> None:
    path = folder / STORE
    data = bytearray(path.read_bytes())
    rng = random.Random(2)
    data[4096:] = bytes(rng.randrange(256) for _ in range(len(data) - 4096))
    path.write_bytes(bytes(data))


def _older_format(folder: Path) -> None:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 0
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _manifest_not_json(folder: Path) -> None:
    (folder / MANIFEST).write_text('{"format_version": 1, "embed', encoding="utf-8")


DAMAGE = [
    ("truncated vectors.faiss", _truncate_vectors, IndexDamaged),
    ("store.sqlite header overwritten", _garble_store_header, IndexDamaged),
    ("store.sqlite pages overwritten", _garble_store_pages, IndexDamaged),
    ("manifest of an older format", _older_format, IndexStale),
    ("manifest cut short", _manifest_not_json, IndexDamaged),
]


@pytest.mark.parametrize("what,damage,problem", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_index_is_refused_with_a_message_that_says_what_to_run(copy_of_fake_index, what, damage, problem):
    damage(copy_of_fake_index.index_dir)
    with pytest.raises(problem) as raised:
        load_index(copy_of_fake_index.index_dir, "fake")
    message = str(raised.value)
    assert "python -m rag index" in message and str(copy_of_fake_index.index_dir) in message and "\n" not in message


@pytest.mark.parametrize("what,damage,problem", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_index_is_rebuilt_by_pipeline_open_and_answers(copy_of_fake_index, what, damage, problem):
    damage(copy_of_fake_index.index_dir)
    warnings: list[str] = []
    pipeline = Pipeline.open(copy_of_fake_index, FakeEmbedder(), warn=warnings.append)
    assert warnings and any("index" in w for w in warnings)
    assert indexed_sources(copy_of_fake_index.index_dir) == set(GOOD)
    response = pipeline.ask("宁夏科协党组扩大会议由谁主持？")
    assert response.passages
    for answer in response.answers:
        c = answer.citation
        assert pipeline.index.store.documents[c.doc_id].text[c.start:c.end] == answer.text


def test_an_index_built_by_another_embedder_is_never_searched_with_this_one(copy_of_fake_index):
    with pytest.raises(IndexStale) as raised:
        load_index(copy_of_fake_index.index_dir, "other-embedder")
    assert "'fake'" in str(raised.value) and "'other-embedder'" in str(raised.value) and "python -m rag index" in str(raised.value)
    settings = fake_settings(copy_of_fake_index.corpus[0], copy_of_fake_index.index_dir, embedder="other-embedder")
    warnings: list[str] = []
    pipeline = Pipeline.open(settings, FakeEmbedder("other-embedder"), warn=warnings.append)
    assert any("'fake'" in w for w in warnings)
    assert pipeline.index.manifest["embedder"] == "other-embedder"


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["faiss.write_index", "numpy.save"])
def test_a_full_disk_mid_build_keeps_the_previous_index_whole_and_says_so(copy_of_fake_index, monkeypatch, target):
    import faiss

    settings = copy_of_fake_index
    before = (settings.index_dir / MANIFEST).read_bytes()
    shutil.copy(SEEDS / "003_97efbe3f29f870fa.txt", settings.corpus[0] / "003.txt")  # a change to index
    module, name = target.split(".")
    monkeypatch.setattr(faiss if module == "faiss" else np, name, _enospc)
    with pytest.raises(IndexProblem) as raised:
        build_index(settings, FakeEmbedder(), progress=False, warn=lambda m: None)
    message = str(raised.value)
    assert os.strerror(errno.ENOSPC) in message and "python -m rag index" in message
    monkeypatch.undo()
    assert (settings.index_dir / MANIFEST).read_bytes() == before
    index = load_index(settings.index_dir, "fake")
    assert {d.source for d in index.store.documents.values()} == set(GOOD)
    index.close()
    assert not list(settings.index_dir.parent.glob(f".{settings.index_dir.name}.tmp-*"))  # no half-written folder left


def test_cli_index_on_a_full_disk_exits_2_with_a_message_and_no_traceback(copy_of_fake_index, monkeypatch, capsys):
    import faiss

    import embeddings
    from rag.__main__ import main

    settings = copy_of_fake_index
    shutil.copy(SEEDS / "003_97efbe3f29f870fa.txt", settings.corpus[0] / "003.txt")
    monkeypatch.setattr(embeddings, "load_embedder", lambda name, threads=None: FakeEmbedder(name))
    monkeypatch.setattr(faiss, "write_index", _enospc)
    code = main(["index", "--corpus", str(settings.corpus[0]), "--index", str(settings.index_dir), "--embedder", "fake"])
    err = capsys.readouterr().err
    assert code == 2
    assert "No space left on device" in err and "Traceback" not in err
    assert indexed_sources(settings.index_dir) == set(GOOD)


def test_a_crash_between_the_two_renames_of_a_build_leaves_the_previous_index_loadable(copy_of_fake_index, monkeypatch):
    from rag import index as index_module

    settings = copy_of_fake_index
    shutil.copy(SEEDS / "003_97efbe3f29f870fa.txt", settings.corpus[0] / "003.txt")
    real_rename = os.rename
    calls = []

    def crash_on_second_rename(source, destination):
        calls.append(source)
        if len(calls) == 2:  # the old index is aside, the new one not yet in place: the process dies here
            raise SystemExit("killed")
        return real_rename(source, destination)

    monkeypatch.setattr(index_module.os, "rename", crash_on_second_rename)
    with pytest.raises(SystemExit):
        build_index(settings, FakeEmbedder(), progress=False, warn=lambda m: None)
    monkeypatch.undo()
    assert not settings.index_dir.exists()
    index = load_index(settings.index_dir, "fake")  # puts the previous index back
    assert {d.source for d in index.store.documents.values()} == set(GOOD)
    index.close()


def test_cli_ask_with_a_missing_corpus_folder_exits_2_and_leaves_the_index_alone(copy_of_fake_index):
    settings = copy_of_fake_index
    before = (settings.index_dir / MANIFEST).read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "谁主持会议？", "--json", "--index", str(settings.index_dir),
         "--corpus", str(settings.index_dir.parent / "no-such-folder"), "--embedder", "fake"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "no-such-folder" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert (settings.index_dir / MANIFEST).read_bytes() == before


def test_cli_ask_over_a_damaged_index_rebuilds_it_and_answers(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notice.txt").write_text(
        "关于召开年度工作会议的通知\n\n2023年3月8日，市科协召开年度工作会议，会议由张建国主持。\n\n会议总结了去年的工作，部署了今年的任务。\n",
        encoding="utf-8",
    )
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / MANIFEST).write_text("not json at all", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "年度工作会议由谁主持？", "--json", "--index", str(index_dir), "--corpus", str(corpus)],
        cwd=ROOT, capture_output=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "unreadable" in stderr and "Traceback" not in stderr
    reply = json.loads(result.stdout.decode("utf-8"))
    assert reply["answered"] and "张建国" in reply["answers"][0]["text"]
    assert read_manifest(index_dir)["documents"] == 1


# ---------------------------------------------------------------- kill -9 of a build


def _generated_corpus(folder: Path, files: int = 40) -> None:
    """Notices made of seed sentences in a new order, with their own numbers: distinct files, real-looking text."""
    import re

    sentences = [s for name in GOOD for s in re.split(r"(?<=[。！？])", _seed_text(name)) if len(s.strip()) > 10]
    rng = random.Random(11)
    for number in range(files):
        picked = rng.sample(sentences, 12)
        paragraphs = ["".join(picked[i : i + 3]).strip() for i in range(0, 12, 3)]
        title = f"第{number + 1}号工作通报"
        (folder / f"gen_{number:02d}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


QUESTIONS = ["宁夏科协党组扩大会议由谁主持？", "科技部党组会议是哪天召开的？", "自治区科协党组扩大会议传达学习了什么？"]


def _answers_of(pipeline: Pipeline) -> list[dict]:
    out = []
    for question in QUESTIONS:
        reply = response_to_json(pipeline.ask(question))
        reply.pop("latency_ms")
        out.append(reply)
    return out


@pytest.fixture
def copy_of_seed_index(pipeline, tmp_path):
    """The session's seed index and corpus, copied: a real index that tests may break."""
    shutil.copytree(pipeline.settings.corpus[0], tmp_path / "corpus")
    shutil.copytree(pipeline.settings.index_dir, tmp_path / "index")
    return Settings.from_env(env={}, corpus=(tmp_path / "corpus",), index_dir=tmp_path / "index")


def test_kill_9_of_a_build_at_any_moment_leaves_the_previous_index_answering_identically(copy_of_seed_index, embedder):
    settings = copy_of_seed_index
    before = _answers_of(Pipeline(settings, embedder, load_index(settings.index_dir, embedder.name)))
    manifest = (settings.index_dir / MANIFEST).read_bytes()
    _generated_corpus(settings.corpus[0])
    for delay in (0.5, 2.0, 4.0):
        build = subprocess.Popen(
            [sys.executable, "-m", "rag", "index", "--corpus", str(settings.corpus[0]), "--index", str(settings.index_dir)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        time.sleep(delay)
        build.kill()  # SIGKILL: no cleanup handler runs
        build.wait(timeout=30)
        assert build.returncode == -9, f"the build ended by itself within {delay} s: make the generated corpus larger"
        assert (settings.index_dir / MANIFEST).read_bytes() == manifest
        after = _answers_of(Pipeline(settings, embedder, load_index(settings.index_dir, embedder.name)))
        assert after == before, f"answers changed after a kill at {delay} s"


# ---------------------------------------------------------------- uploads during questions


UPLOADS = {
    # sorts before the seeds, so every passage id of the new index differs from the old one's
    "000_aaa_upload.txt": "关于召开科普工作推进会的通知\n\n2023年5月12日，市科协召开科普工作推进会，会议由李晓明主持。\n\n会议部署了全年的科普工作。\n",
    "000_aab_upload.txt": "关于开展科技志愿服务的通知\n\n2023年6月1日，市科协启动科技志愿服务活动，活动由王丽华负责。\n",
}
EXPECTED = {"宁夏科协党组扩大会议由谁主持？": "陈红缨", "科技部党组会议是哪天召开的？": "10月24日"}


def test_questions_during_uploads_and_reindexing_get_complete_consistent_responses(copy_of_seed_index, embedder):
    settings = copy_of_seed_index
    pipeline = Pipeline(settings, embedder, load_index(settings.index_dir, embedder.name))
    indexes = [pipeline.index]
    responses: list = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ask_once(question: str) -> None:  # a new thread for each question, as a server's workers may be
        try:
            responses.append(pipeline.ask(question))
        except BaseException as exc:  # noqa: BLE001 - every exception is a failure of the test
            errors.append(exc)

    def asker(offset: int) -> None:
        questions = list(EXPECTED)
        count = 0
        while (not done.is_set() or count < 4) and count < 60:
            worker = threading.Thread(target=ask_once, args=(questions[(offset + count) % len(questions)],))
            worker.start()
            worker.join(timeout=120)
            count += 1

    def uploader() -> None:
        try:
            for name, text in UPLOADS.items():
                (settings.corpus[0] / name).write_text(text, encoding="utf-8")
                pipeline.reindex(warn=lambda m: None)
                indexes.append(pipeline.index)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(3)] + [threading.Thread(target=uploader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(indexes) == 1 + len(UPLOADS)
    assert {"000_aaa_upload.txt", "000_aab_upload.txt"} <= {d.source for d in pipeline.index.store.documents.values()}
    assert len(responses) >= 12
    for response in responses:
        assert response.answered and response.answers[0].short == EXPECTED[response.question]
        assert any(_consistent(response, index) for index in indexes), response


def _consistent(response, index) -> bool:
    """Every citation and passage of the response is exact against this one index."""
    documents = index.store.documents
    for answer in response.answers:
        c = answer.citation
        if c.doc_id not in documents or documents[c.doc_id].text[c.start:c.end] != answer.text:
            return False
    for hit in response.passages:
        p = hit.passage
        if p.doc_id not in documents or documents[p.doc_id].text[p.start:p.end] != p.text:
            return False
        if response.titles.get(p.doc_id) != (documents[p.doc_id].title, documents[p.doc_id].source):
            return False
    return True
