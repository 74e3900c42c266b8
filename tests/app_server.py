"""Launch the real app (`python app.py`) in a subprocess on a free port, for the app and browser tests."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(base: Path, seeds: Path, seed_index: Path | None = None, extra: dict[str, str | bytes] | None = None) -> tuple[Path, Path]:
    """A corpus (a copy of seeds plus extra files) and an index folder (a copy of the seed index, updated at start-up)."""
    corpus = base / "corpus"
    shutil.copytree(seeds, corpus)
    for name, content in (extra or {}).items():
        path = corpus / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    index = base / "index"
    if seed_index is not None and Path(seed_index).exists():
        shutil.copytree(seed_index, index)  # same files, same hashes: only new files get embedded
    return corpus, index


@contextmanager
def running_app(corpus: Path, index: Path, log: Path, env: dict[str, str] | None = None, timeout: float = 420):
    """Serve app.py over corpus and index until the block ends; yields the base URL."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "GRADIO_"))}
    child_env.update({
        "RAG_CORPUS": str(corpus), "RAG_INDEX": str(index), "RAG_INDEX_DIR": str(index),
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(log.parent / "gradio-tmp"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    child_env.update(env or {})
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(url, process, log, timeout)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(1)
    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
