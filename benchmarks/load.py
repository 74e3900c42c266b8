"""Many users at once: `python -m benchmarks.load [--clients 50] [--seconds 60]`.

Launches the real app on 127.0.0.1 (a temporary copy of the seeds and their index), then runs that
many gradio_client users for that long, each asking known questions one after another, while one
user uploads a document half-way. Counts errors and wrong answers, and reports latency p50/p95.
Traffic goes to 127.0.0.1 only and every loop stops by its deadline. Writes the section
"Many users" of benchmarks/results.md (replacing an earlier one) and benchmarks/load.json.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tests.app_server import prepare, running_app

from .machine import ROOT

QUESTIONS = [
    ("宁夏科协党组扩大会议由谁主持？", "陈红缨"),
    ("科技部党组会议是哪天召开的？", "10月24日"),
    ("党的二十大是什么时候在北京举行的？", "10月16日至22日"),
    ("怀进鹏是哪天去西宁调研的？", "7月12日下午"),
    ("寧夏科協黨組擴大會議由誰主持？", "陈红缨"),
    ("明天北京的天气怎么样？", None),
]
UPLOAD = "负载测试科协于2099年3月4日召开了晨星会议，会议由李四海主持。\n"
SECTION = "## Many users (load on the served app)"


def run(clients: int, seconds: float) -> dict:
    """Serve the app, drive it with `clients` users for `seconds`, and summarise what they saw."""
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        base = Path(tmp)
        corpus, index = prepare(base, ROOT / "seeds")
        subprocess.run([sys.executable, "-m", "rag", "index", "--corpus", str(corpus), "--index", str(index)], cwd=ROOT, check=True, capture_output=True)
        upload_file = base / "load-upload.txt"
        upload_file.write_text(UPLOAD, encoding="utf-8")
        with running_app(corpus, index, base / "app.log") as url:
            latencies: list[float] = []
            errors: list[str] = []
            wrong: list[str] = []
            lock = threading.Lock()
            deadline = time.monotonic() + seconds
            upload_seconds: list[float] = []

            def user(number: int) -> None:
                client = Client(url, verbose=False)
                turn = number
                while time.monotonic() < deadline:
                    question, expected = QUESTIONS[turn % len(QUESTIONS)]
                    turn += 1
                    started = time.perf_counter()
                    try:
                        reply = client.predict(question, api_name="/ask")
                    except Exception as exc:  # every failure is counted, whatever its kind
                        with lock:
                            errors.append(f"{question}: {exc.__class__.__name__}: {exc}"[:200])
                        continue
                    elapsed = (time.perf_counter() - started) * 1000
                    got = reply["answers"][0]["short"] if reply.get("answered") else None
                    with lock:
                        latencies.append(elapsed)
                        if got != expected:
                            wrong.append(f"{question}: {got!r} (expected {expected!r})")

            def uploader() -> None:
                time.sleep(seconds / 2)
                client = Client(url, verbose=False)
                started = time.perf_counter()
                try:
                    client.predict(handle_file(str(upload_file)), api_name="/upload")
                    upload_seconds.append(time.perf_counter() - started)
                except Exception as exc:
                    with lock:
                        errors.append(f"upload: {exc.__class__.__name__}: {exc}"[:200])

            threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(clients)]
            threads.append(threading.Thread(target=uploader, daemon=True))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=seconds + 120)
            after = Client(url, verbose=False).predict("晨星会议由谁主持？", api_name="/ask")
    values = np.array(latencies) if latencies else np.zeros(1)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "errors": len(errors),
        "wrong_answers": len(wrong),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
        "max_ms": round(float(values.max()), 1),
        "upload_s": round(upload_seconds[0], 1) if upload_seconds else None,
        "upload_answered_after": bool(after.get("answered")) and after["answers"][0]["short"] == "李四海",
        "first_errors": errors[:5],
        "first_wrong": wrong[:5],
    }


def markdown(result: dict) -> str:
    """The results.md section."""
    return "\n".join(
        [
            SECTION,
            "",
            f"`python -m benchmarks.load --clients {result['clients']} --seconds {result['seconds']:.0f}`: the real app on 127.0.0.1, "
            f"{result['clients']} gradio_client users asking known questions back to back (expected short answers checked), "
            "one user uploading a document half-way; the app answers one question at a time per worker on 2 shared cores.",
            "",
            "| clients | seconds | requests | requests/s | errors | wrong answers | p50 ms | p95 ms | max ms | upload s | uploaded doc answerable after |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {result['clients']} | {result['seconds']:.0f} | {result['requests']} | {result['requests_per_s']} | {result['errors']} | "
            f"{result['wrong_answers']} | {result['p50_ms']} | {result['p95_ms']} | {result['max_ms']} | {result['upload_s']} | "
            f"{'yes' if result['upload_answered_after'] else 'no'} |",
            "",
        ]
    )


def write(result: dict, results_md: Path) -> None:
    """Replace (or add) the section in results.md and write load.json beside it."""
    (results_md.parent / "load.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    text = results_md.read_text(encoding="utf-8") if results_md.exists() else ""
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    section = markdown(result)
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    results_md.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        parser.error("--clients 1…200 and --seconds 1…600")
    result = run(args.clients, args.seconds)
    write(result, ROOT / "benchmarks" / "results.md")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["errors"] == 0 and result["wrong_answers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
