"""Reader inputs: ``<s> question </s></s> passage window </s>`` with token→character offsets."""
from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import E5Tokenizer, Tokens

MAX_QUESTION_TOKENS = 48


@dataclass(frozen=True)
class Window:
    ids: list[int]
    context_from: int                 # index in ids of the first context token
    offsets: list[tuple[int, int]]    # character offsets in the passage of ids[context_from:-1]
    first_char: int = 0               # a span may not start before this character (a title read as context)
    last_char: int | None = None      # … nor end after this one (a span asked for inside a given sentence)


def question_tokens(tok: E5Tokenizer, question: str) -> list[int]:
    """The question's ids, cut to MAX_QUESTION_TOKENS (its end kept: the question word is often last)."""
    ids = tok.encode(question).ids
    return ids[-MAX_QUESTION_TOKENS:] if len(ids) > MAX_QUESTION_TOKENS else ids


def window(tok: E5Tokenizer, qids: list[int], ctx: Tokens, a: int, b: int) -> Window:
    """The input for context tokens [a, b)."""
    head = [tok.bos, *qids, tok.eos, tok.eos]
    return Window(head + ctx.ids[a:b] + [tok.eos], len(head), ctx.offsets[a:b])


def windows(tok: E5Tokenizer, qids: list[int], ctx: Tokens, max_len: int, stride: int, first_char: int = 0,
            last_char: int | None = None) -> list[Window]:
    """Every window of the passage, overlapping by max_len - stride context tokens.

    With last_char, a span must lie in [first_char, last_char): windows holding none of it are left out."""
    budget = max_len - len(qids) - 4
    out = []
    a = 0
    while True:
        b = min(a + budget, len(ctx.ids))
        w = window(tok, qids, ctx, a, b)
        inside = last_char is None or any(s >= first_char and e <= last_char and e > s for s, e in w.offsets)
        if inside:
            out.append(Window(w.ids, w.context_from, w.offsets, first_char, last_char) if first_char or last_char is not None else w)
        if b >= len(ctx.ids):
            return out
        a += min(stride, budget)


_LEADING = set("，。、；：,.;:!?！？）)》」』】”’ \u3000\t\n")
_TRAILING = set("，。、；：,;:（(《「『【“‘ \u3000\t\n")


def tidy_span(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without the punctuation a token boundary drags in (a trailing ，, a leading 。 or an open 《),
    nor a 的 that sentencepiece glued to the answer's first or last word (`的第一` is one token, so the reader
    cannot start at 第一): 32 of the 13,635 training answers begin or end with 的, and jieba, not the token, says
    whether it is a word of its own (的确 stays)."""
    while start < end and text[start] in _LEADING:
        start += 1
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    return without_glued(text, start, end, leading="的", trailing="的")


def without_glued(text: str, start: int, end: int, leading: str = "", trailing: str = "") -> tuple[int, int]:
    """[start, end) without a first character of `leading` or a last one of `trailing` that jieba cuts as a word of
    its own: sentencepiece glues such characters to the next word (`的第一`, `在北京` are one token each), so a span
    cannot start or end between them."""
    if end - start < 2 or (text[start] not in leading and text[end - 1] not in trailing):
        return start, end
    from ..text import _jieba

    words = _jieba().lcut(text[start:end])
    if len(words) > 1 and words[0] in leading:
        start += 1
    if len(words) > 1 and words[-1] in trailing and end - start > 1:
        end -= 1
    return start, end
