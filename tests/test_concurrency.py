"""Many people at once: ten gradio_client users of the real app for ten seconds, on 127.0.0.1 only.

Every loop here is bounded in time and count, and stops by itself.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
USERS = 10
SECONDS = 10.0
MAX_QUESTIONS_PER_USER = 20
KNOWN = {
    "宁夏科协党组扩大会议由谁主持？": "陈红缨",
    "科技部党组会议是哪天召开的？": "10月24日",
    "科技部传达学习党的二十大精神的党组会议由谁主持？": "王志刚",
}


def _app_exposes_ask() -> bool:
    source = (Path(__file__).resolve().parent.parent / "app.py").read_text(encoding="utf-8")
    return 'api_name="ask"' in source or "api_name='ask'" in source or 'api_name="/ask"' in source


@pytest.fixture(scope="module")
def served(tmp_path_factory, seed_settings, pipeline):
    """app.py over copies of the seeds and the session's seed index, without a login."""
    if not _app_exposes_ask():
        pytest.skip("app.py has no `ask` api yet")
    from tests.app_server import prepare, running_app

    base = tmp_path_factory.mktemp("busy-app")
    corpus, index = prepare(base, SEEDS, seed_settings.index_dir)
    with running_app(corpus, index, base / "server.log") as url:
        assert url.startswith("http://127.0.0.1:")
        yield url


def test_ten_users_asking_at_once_for_ten_seconds_all_get_correct_answers(served):
    from gradio_client import Client

    questions = list(KNOWN)
    results: list[tuple[str, dict]] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS

    def user(number: int) -> None:
        try:
            client = Client(served, verbose=False)
        except Exception as exc:  # noqa: BLE001 - a user who cannot connect is an error of the test
            with lock:
                errors.append(f"user {number} could not connect: {exc!r}")
            return
        asked = 0
        while time.monotonic() < stop_at and asked < MAX_QUESTIONS_PER_USER:
            question = questions[(number + asked) % len(questions)]
            asked += 1
            try:
                reply = client.predict(question, api_name="/ask")
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"user {number}: {exc!r}")
                continue
            with lock:
                results.append((question, reply))

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 240)  # a request started before the deadline may still finish
    assert not any(t.is_alive() for t in threads), "a user was still waiting long after the run"
    assert errors == []
    assert len(results) >= USERS  # every user got at least one reply
    for question, reply in results:
        assert reply["question"] == question
        assert reply["answered"], question
        assert reply["answers"][0]["short"] == KNOWN[question], (question, reply["answers"][0])
        citation = reply["answers"][0]["citation"]
        assert reply["answers"][0]["text"] and citation["end"] > citation["start"]
