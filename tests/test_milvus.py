"""RAG_STORE=milvus against a real Milvus (Lite, the 2.5 C++ engine pinned in requirements-dev.txt).

The Milvus indexes here are made from a copy of the session's FAISS seed index: an index of another store is
rebuilt with the vectors it already has, so no passage is embedded twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import numpy as np
import pytest

try:
    import warnings

    with warnings.catch_warnings():  # milvus-lite 2.5 imports pkg_resources, which warns
        warnings.simplefilter("ignore")
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
except ImportError as missing:  # pragma: no cover - only where the dev requirements are not installed
    pytest.skip(f"pymilvus / milvus-lite cannot be imported ({missing}): pip install -r requirements-dev.txt",
                allow_module_level=True)

from rag.config import Settings
from rag.index import IndexDamaged, IndexRefused, IndexUnreachable, build_index, load_index, read_manifest
from rag.pipeline import UNAVAILABLE, Pipeline
from rag.retrieve import Ranking, dense_search, fuse_scores, keyword_search

ROOT = Path(__file__).resolve().parent.parent


def milvus_settings(base: Path, faiss_index: Path, corpus: Path, uri: Path, alias: str = "rag_passages") -> Settings:
    """Milvus settings over a copy of a FAISS index folder (so the build reuses its vectors)."""
    shutil.copytree(faiss_index, base / "index")
    return Settings.from_env(env={}, corpus=(corpus,), index_dir=base / "index", store="milvus", milvus_uri=str(uri),
                             milvus_collection=alias)


@pytest.fixture(scope="module")
def milvus_db(tmp_path_factory):
    return tmp_path_factory.mktemp("milvus") / "store.db"


@pytest.fixture(scope="module")
def milvus_pipeline(pipeline, seed_settings, embedder, milvus_db, tmp_path_factory):
    settings = milvus_settings(tmp_path_factory.mktemp("m"), seed_settings.index_dir, seed_settings.corpus[0], milvus_db)
    return Pipeline.open(settings, embedder)


def client_for(uri):
    from rag.milvus import connect

    return connect(str(uri))


def run_cli(args, env, timeout=120):
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)


def messages(stderr: str) -> list[str]:
    """What a command told its user on stderr, less the progress bars (`rag index` shows one as it reads the corpus)."""
    return [line for line in stderr.strip().splitlines() if line.strip() and "%|" not in line]


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- answers and retrieval


def test_the_milvus_store_cites_the_same_source_as_the_default_store_for_every_seed_question(pipeline, milvus_pipeline, seed_questions):
    assert milvus_pipeline.index.manifest["vector_store"] == "milvus"
    differences, misses = [], []
    for q in seed_questions:
        default, milvus = pipeline.ask(q["question"]), milvus_pipeline.ask(q["question"])
        # every answer shown, not only the first. In which order: for one English question (who gave the special
        # report) the reader ranks the same three quotes in another order over the two stores, whose keyword sides
        # rank passages a little differently (Milvus's BM25 tokenises with jieba-rs): the same quotes are cited
        # Where the default store's quote is wrong (a reader miss: 2021年…座谈会由谁主持？), which wrong passage wins
        # turns on the rank share the two keyword sides give it: such questions are counted, not compared
        cited = lambda r: sorted((a.citation.doc_id, a.citation.paragraph, a.text) for a in r.answers)
        wrong = q["answers"] and default.answered and not any(g in default.answers[0].text for g in q["answers"])
        if wrong:
            misses.append(q["question"])
        elif (default.answered, cited(default)) != (milvus.answered, cited(milvus)):
            differences.append((q["question"], cited(default), cited(milvus)))
    assert differences == [] and len(misses) <= 6  # the seed questions the reader quotes wrongly: 6 on 2026-12-08


def test_the_manifest_names_the_milvus_store_and_the_collection_holds_every_passage(milvus_pipeline, milvus_db):
    folder = milvus_pipeline.settings.index_dir
    manifest = read_manifest(folder)
    assert manifest["vector_store"] == "milvus" and manifest["keyword_index"] == "milvus-bm25-jieba"
    assert manifest["milvus"]["uri"] == str(milvus_db) and manifest["milvus"]["alias"] == "rag_passages"
    assert not (folder / "vectors.faiss").exists() and not (folder / "bm25").exists()
    client = client_for(milvus_db)
    rows = client.query(manifest["milvus"]["collection"], filter="", output_fields=["count(*)"])
    assert rows[0]["count(*)"] == manifest["passages"] == milvus_pipeline.index.store.passage_count


def test_a_name_is_found_by_milvus_bm25_over_the_jieba_analyzer(milvus_pipeline):
    hits = milvus_pipeline.search("陈红缨", top_k=3)
    assert "陈红缨" in hits[0].passage.text
    assert hits[0].keyword_rank == 1 and hits[0].keyword_score > 0  # Milvus's BM25 scores are positive, like bm25s's


def test_the_fused_ranking_never_loses_to_the_better_side_on_the_seed_questions(milvus_pipeline, seed_questions):
    index, embedder = milvus_pipeline.index, milvus_pipeline.embedder
    from rag.pipeline import keyword_tokens
    from rag.question import analyse

    right = {"dense": 0, "keyword": 0, "fused": 0}
    answerable = [q for q in seed_questions if q.get("answers")]
    for q in answerable:
        question = analyse(q["question"])
        vector = embedder.encode_queries([question.normal])[0]
        dense = dense_search(index, vector, 30)
        keywords = keyword_search(index, keyword_tokens(index, question), 30)
        fused = [pid for pid, _, _ in fuse_scores(dense, keywords, milvus_pipeline.settings.dense_share)]
        for side, ids in (("dense", dense.ids.tolist()), ("keyword", keywords.ids.tolist()), ("fused", fused)):
            if ids and index.store.passages([ids[0]])[0].doc_id.split("#")[0] == q["source"].split("#")[0]:
                right[side] += 1
    assert right["fused"] >= max(right["dense"], right["keyword"]), right
    assert right["fused"] / len(answerable) >= 0.95, right


def test_milvus_own_hybrid_search_returns_fused_passages(milvus_pipeline):
    vector = milvus_pipeline.embedder.encode_queries(["宁夏科协党组扩大会议由谁主持"])[0]
    ids, scores = milvus_pipeline.index.vectors.hybrid_search(vector, "宁夏 科协 党组 扩大 会议 主持", 5)
    assert len(ids) == 5 and list(scores) == sorted(scores, reverse=True)
    assert "陈红缨" in " ".join(p.text for p in milvus_pipeline.index.store.passages(ids[:2].tolist()))


def test_the_default_store_never_imports_pymilvus_and_prints_no_warning(pipeline, seed_settings):
    code = (
        "import sys, app, rag.pipeline; from rag.index import load_index; from rag.text import tokens; tokens('会议'); "
        f"load_index({str(seed_settings.index_dir)!r}); print('pymilvus' in sys.modules, 'rag.milvus' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr[-500:]
    assert "Warning" not in out.stderr  # jieba's pkg_resources import (setuptools < 81 is pinned for milvus-lite) stays quiet


# ---------------------------------------------------------------- re-indexing


def test_reindexing_keeps_unchanged_files_rows_and_a_delete_removes_its_passages(pipeline, seed_settings, embedder, milvus_db, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(seed_settings.corpus[0], corpus)
    settings = milvus_settings(tmp_path, seed_settings.index_dir, corpus, milvus_db, alias="reindexed")
    first = build_index(settings, embedder, progress=False)
    assert first.embedded_passages == 0 and first.reused_files == 5  # converted from the FAISS index: nothing embedded
    collection_1 = read_manifest(settings.index_dir)["milvus"]["collection"]

    (corpus / "new.txt").write_text("青海湖观测站于3月18日启用，站长是马骁腾。\n", encoding="utf-8")
    second = build_index(settings, embedder, progress=False)
    assert second.reused_files == 5 and second.embedded_passages == 1
    pipe = Pipeline(settings, embedder)
    pipe.index = load_index(settings.index_dir, embedder.name)
    assert "马骁腾" in pipe.search("青海湖观测站的站长是谁", top_k=1)[0].passage.text
    collection_2 = read_manifest(settings.index_dir)["milvus"]["collection"]
    pipe.index.close()

    (corpus / "new.txt").unlink()
    (corpus / "000_8167ffdbf6281ae2.txt").unlink()
    third = build_index(settings, embedder, progress=False)
    assert third.embedded_passages == 0 and third.reused_files == 4
    index = load_index(settings.index_dir, embedder.name)
    manifest = read_manifest(settings.index_dir)
    assert len(index.vectors) == index.store.passage_count == manifest["passages"]
    found = keyword_search(index, ["马骁腾"], 5)
    assert len(found.ids) == 0  # the deleted file's passages are gone from the collection
    assert not any(d.source == "000_8167ffdbf6281ae2.txt" for d in index.store.documents.values())
    names = set(client_for(milvus_db).list_collections())
    assert manifest["milvus"]["collection"] in names and collection_2 in names  # the previous one stays for servers still on it
    assert collection_1 not in names  # older ones are dropped


def test_an_index_rebuilt_by_another_app_server_reaches_this_one(pipeline, seed_settings, embedder, milvus_db, tmp_path, monkeypatch):
    import rag.pipeline

    corpus = tmp_path / "corpus"
    shutil.copytree(seed_settings.corpus[0], corpus)
    settings = milvus_settings(tmp_path, seed_settings.index_dir, corpus, milvus_db, alias="shared")
    reader = Pipeline.open(settings, embedder)  # an app server that only answers
    writer = Pipeline.open(settings, embedder)  # another, sharing the folder and the collection, that takes an upload
    question = "青海湖观测站的站长是谁？"
    assert "马骁腾" not in " ".join(h.passage.text for h in reader.search(question, top_k=3))
    (corpus / "upload.txt").write_text("青海湖观测站于3月18日启用，站长是马骁腾。\n", encoding="utf-8")
    writer.reindex()
    assert "马骁腾" in writer.search(question, top_k=1)[0].passage.text
    assert "马骁腾" not in " ".join(h.passage.text for h in reader.search(question, top_k=3))  # until it looks again, the previous collection answers
    monkeypatch.setattr(rag.pipeline, "RELOAD_CHECK_S", 0.0)
    reader.search(question)  # looks, and loads the newer index beside the old one
    for _ in range(100):
        if reader.index.manifest["milvus"]["collection"] == writer.index.manifest["milvus"]["collection"]:
            break
        threading.Event().wait(0.1)
    assert "马骁腾" in reader.search(question, top_k=1)[0].passage.text


def test_a_build_that_fails_midway_leaves_the_previous_collection_answering(milvus_pipeline, embedder, monkeypatch, tmp_path):
    settings = milvus_pipeline.settings
    before = folder_digest(settings.index_dir)
    question = "宁夏科协党组扩大会议由谁主持？"
    expected = milvus_pipeline.ask(question).answers[0].text
    (extra := Path(settings.corpus[0]) / "zz_extra.txt").write_text("临时文件，用于测试中断的构建。\n", encoding="utf-8")
    client_class = type(milvus_pipeline.index.vectors.client)
    real_insert = client_class.insert

    def insert_then_fail(self, collection_name, data, *args, **kwargs):
        real_insert(self, collection_name, data[:10], *args, **kwargs)
        raise ConnectionError("connection closed by the server")  # the server goes away mid-write

    monkeypatch.setattr(client_class, "insert", insert_then_fail)
    try:
        with pytest.raises(IndexUnreachable) as failed:
            build_index(settings, embedder, progress=False)
    finally:
        monkeypatch.undo()
        extra.unlink()
    assert "\n" not in str(failed.value) and "previous index is kept" in str(failed.value)
    assert folder_digest(settings.index_dir) == before
    names = client_for(settings.milvus_uri).list_collections()
    assert [n for n in names if n.startswith("rag_passages_v")] == [milvus_pipeline.index.vectors.collection]  # the half-written one was dropped
    reopened = Pipeline(settings, embedder)
    reopened.index = load_index(settings.index_dir, embedder.name)
    assert reopened.ask(question).answers[0].text == expected


# ---------------------------------------------------------------- bad input: one line, the default store untouched


def test_an_unreachable_server_is_one_line_and_the_default_index_is_untouched(pipeline, seed_settings, tmp_path):
    default_copy = tmp_path / "default"
    shutil.copytree(seed_settings.index_dir, default_copy)
    before = folder_digest(default_copy)
    env = {"RAG_STORE": "milvus", "RAG_MILVUS_URI": "http://127.0.0.1:9", "RAG_INDEX": str(default_copy),
           "RAG_CORPUS": str(seed_settings.corpus[0])}
    for args in (["index"], ["ask", "谁主持了会议？"]):
        out = run_cli(args, env)
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert "Traceback" not in out.stderr and lines[-1].startswith("error: ") and len(lines) <= 2, out.stderr
        assert "cannot be reached" in out.stderr and "RAG_MILVUS_URI" in out.stderr
    assert folder_digest(default_copy) == before


@pytest.fixture
def refusing_server():
    """A gRPC server that answers every call as a Milvus with authentication does to a wrong token."""
    import grpc

    class Refuse(grpc.GenericRpcHandler):
        def service(self, details):
            def handler(request, context):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "auth check failure, please check username and password are correct")

            return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=lambda b: b, response_serializer=lambda b: b)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.add_generic_rpc_handlers([Refuse()])
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(0)


def test_a_wrong_token_is_one_line_that_names_the_token_setting(refusing_server, pipeline, seed_settings, tmp_path):
    default_copy = tmp_path / "default"
    shutil.copytree(seed_settings.index_dir, default_copy)
    before = folder_digest(default_copy)
    for args, folder in ((["index"], tmp_path / "index"), (["index"], default_copy), (["ask", "谁主持了会议？"], default_copy)):
        out = run_cli(args, {"RAG_STORE": "milvus", "RAG_MILVUS_URI": refusing_server, "RAG_MILVUS_TOKEN": "root:wrong",
                             "RAG_INDEX": str(folder), "RAG_CORPUS": str(seed_settings.corpus[0])})
        lines = messages(out.stderr)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert lines[-1].startswith("error: ") and len(lines) <= 2, out.stderr
        assert "refused the credentials" in lines[-1] and "RAG_MILVUS_TOKEN" in lines[-1]
        assert "root:wrong" not in out.stderr + out.stdout  # the token is never printed
    assert not (tmp_path / "index").exists()
    assert folder_digest(default_copy) == before  # the default store's files are not touched


def test_a_collection_made_with_another_embedders_dimension_is_refused_in_one_line(pipeline, seed_settings, embedder, milvus_db, tmp_path):
    from pymilvus import DataType, MilvusClient

    client = client_for(milvus_db)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=768)
    client.create_collection("someone_elses", schema=schema)
    settings = milvus_settings(tmp_path, seed_settings.index_dir, seed_settings.corpus[0], milvus_db, alias="someone_elses")
    before = folder_digest(settings.index_dir)
    with pytest.raises(IndexRefused) as refused:  # its name is taken by a collection this product did not build
        build_index(settings, embedder, progress=False)
    assert "768-dimensional" in str(refused.value) and "RAG_MILVUS_COLLECTION" in str(refused.value)
    assert client.has_collection("someone_elses") and folder_digest(settings.index_dir) == before

    settings = milvus_settings(tmp_path / "b", seed_settings.index_dir, seed_settings.corpus[0], milvus_db, alias="swapped")
    build_index(settings, embedder, progress=False)
    name = read_manifest(settings.index_dir)["milvus"]["collection"]
    client.drop_collection(name)  # replaced behind the index's back by one of another embedder's dimension
    client.create_collection(name, schema=schema)
    with pytest.raises(IndexDamaged) as damaged:
        load_index(settings.index_dir, embedder.name)
    assert "768-dimensional" in str(damaged.value) and "384" in str(damaged.value) and "\n" not in str(damaged.value)


def test_the_command_line_refuses_a_collection_of_another_embedders_dimension_in_one_line(pipeline, seed_settings, tmp_path):
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import DataType, MilvusClient

    from rag.milvus import collection_dim

    db = tmp_path / "theirs.db"
    client = client_for(db)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=768)
    client.create_collection("their_passages", schema=schema)
    client.close()
    server_manager_instance.release_server(str(db))  # the command below opens the file in a process of its own
    default_copy = tmp_path / "default"
    shutil.copytree(seed_settings.index_dir, default_copy)
    before = folder_digest(default_copy)
    env = {"RAG_STORE": "milvus", "RAG_MILVUS_URI": str(db), "RAG_MILVUS_COLLECTION": "their_passages",
           "RAG_INDEX": str(default_copy), "RAG_CORPUS": str(seed_settings.corpus[0])}
    for args in (["index"], ["ask", "谁主持了会议？"]):
        out = run_cli(args, env)
        lines = messages(out.stderr)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert lines[-1].startswith("error: ") and len(lines) <= 2, out.stderr  # ask says first that it builds the index
        assert "768-dimensional" in lines[-1] and "RAG_MILVUS_COLLECTION" in lines[-1]
    assert folder_digest(default_copy) == before
    client = client_for(db)
    assert client.list_collections() == ["their_passages"] and collection_dim(client, "their_passages") == 768  # left as it was
    client.close()
    server_manager_instance.release_server(str(db))


def test_a_server_that_disappears_mid_conversation_gets_a_one_line_notice(pipeline, seed_settings, embedder, tmp_path):
    from milvus_lite.server_manager import server_manager_instance

    db = tmp_path / "vanishing.db"
    settings = milvus_settings(tmp_path, seed_settings.index_dir, seed_settings.corpus[0], db)
    pipe = Pipeline.open(settings, embedder)
    assert pipe.ask("宁夏科协党组扩大会议由谁主持？").answered
    server = server_manager_instance._servers[str(db.resolve())]
    server._p.kill()  # the Milvus Lite process this test started: gone, as a server that crashes
    server._p.wait(5)
    response = pipe.ask("科技部党组会议是哪天召开的？")
    assert not response.answered and response.answers == []
    assert response.notice.startswith(UNAVAILABLE) and "\n" not in response.notice
    assert response.latency_ms < 60_000  # a hang guard, not a speed check: told within the call timeout (10 s), not after pymilvus's minutes of retries
    with pytest.raises(IndexUnreachable):
        pipe.search("陈红缨")
    server_manager_instance.release_server(str(db))
