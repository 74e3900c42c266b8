"""The reader's runtime, chosen by F1 and latency side by side: `python -m benchmarks.reader_runtime [--questions N]`.

Variants of the shipped weights: torch float32, the layers in bfloat16 (what the product runs on these cores), and
torch dynamic int8 (per-tensor or per-channel weights, all
linears or all but the feed-forward output `fo`). For each: the reader given the gold paragraph on the first N CMRC
trial questions (F1/EM), and the time of one forward pass over a window of 250 tokens (one thread, the variants
interleaved so that the neighbours' load falls on all alike; median and best of the repeats). Writes the
"Reader runtime" section of benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import statistics
import time

from .corpora import CMRC
from .machine import ROOT, git_commit, print_json

RESULTS = ROOT / "benchmarks" / "results.md"
SECTION = "## Reader runtime: float32 against int8 (`python -m benchmarks.reader_runtime`)"
VARIANTS = {
    "float32": None,
    "bfloat16 layers (rag/reader/runtime.py, the product's default on these cores)": "bfloat16",
    "int8 per-tensor, all linears": ("tensor", set()),
    "int8 per-channel, all linears": ("channel", set()),
    "int8 per-channel, all but fo (rag/reader/runtime.py quantised)": ("channel", {"fo"}),
}


def variant(net, how):
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    from rag.reader.runtime import E5_LINEARS

    if how is None:
        return net
    if how == "bfloat16":
        return copy.deepcopy(net).layers_in(torch.bfloat16)
    kind, keep = how
    qconfig = per_channel_dynamic_qconfig if kind == "channel" else default_dynamic_qconfig
    spec = {name: qconfig for name, module in net.named_modules()
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in E5_LINEARS - keep}
    return quantize_dynamic(copy.deepcopy(net), spec, dtype=torch.qint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reader_runtime")
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import torch

    from rag.reader.evaluate import evaluate_gold
    from rag.reader.runtime import Reader, quantised

    torch.set_num_threads(1)
    base = Reader.load(threads=1, precision="float32")
    nets = {name: variant(base.model.net, how) for name, how in VARIANTS.items()}
    shipped = quantised(copy.deepcopy(base.model.net))  # the product's int8 is the last variant: check they agree
    assert str(shipped) == str(nets[list(VARIANTS)[-1]])
    ids = torch.randint(1000, 20000, (1, 250))
    mask = torch.ones_like(ids)
    times: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for _ in range(args.repeats):
            for name, net in nets.items():
                started = time.perf_counter()
                net(ids, mask)
                times[name].append((time.perf_counter() - started) * 1000)
    rows = {}
    for name, net in nets.items():
        model = copy.copy(base.model)
        model.net = net
        scores = evaluate_gold(model, base.tokenizer, CMRC, limit=args.questions)
        warm = times[name][3:]
        rows[name] = {**scores, "window_ms_p50": round(statistics.median(warm), 1), "window_ms_best": round(min(warm), 1)}
    result = {"commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "torch": torch.__version__, "questions": args.questions, "repeats": args.repeats, "variants": rows}
    if not args.no_write:
        write_section(result)
    print_json(result)


def write_section(result: dict) -> None:
    base = result["variants"]["float32"]
    lines = [SECTION, "",
             f"{result['date']}, commit {result['commit']}, torch {result['torch']}, one thread, 2 shared cores. F1/EM: the "
             f"reader given the gold paragraph, first {result['questions']} CMRC trial questions. Window: one forward pass "
             f"over 250 tokens (about the ~320 characters the product reads around a quote), {result['repeats']} repeats, "
             "the variants interleaved.", "",
             "| runtime | F1 | EM | window p50 ms | best ms | p50 ÷ float32 |", "|---|---:|---:|---:|---:|---:|"]
    for name, row in result["variants"].items():
        lines.append(f"| {name} | {row['f1']} | {row['em']} | {row['window_ms_p50']} | {row['window_ms_best']} "
                     f"| {round(row['window_ms_p50'] / base['window_ms_p50'], 2)} |")
    lines += ["", "The feed-forward output's input (GELU outputs) has a few very large channels; one int8 scale per row "
              "cannot hold them, so int8 there costs F1. Kept float32, the rest of the network quantises without loss. "
              "bfloat16 keeps float32's exponent range (the activations' outliers fit) with an 8-bit mantissa, and these "
              "cores multiply it natively (AVX512-BF16): the product reads in it.",
              "", "```json", json.dumps(result, ensure_ascii=False), "```", ""]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\n<!-- |\Z)", re.S)
    section = "\n".join(lines)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
