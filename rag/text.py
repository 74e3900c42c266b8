"""Chinese text helpers: normalisation for matching, jieba tokens, sentence spans.

What is shown and cited is always the document's own text; everything here that
changes characters (NFKC, traditional→simplified, lower case) is for matching only.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "tokens", "content_tokens", "sentence_spans", "has_han", "SENTENCE_END"]

SENTENCE_END = "。！？；!?;…"
_OPEN = "“‘「『（(《〈【〔[{"
_CLOSE = "”’」』）)》〉】〕]}"
_PAIRS = dict(zip(_OPEN, _CLOSE))
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def has_han(text: str) -> bool:
    """Whether the text holds a Chinese character (simplified or traditional)."""
    return _HAN.search(text or "") is not None

# Question and function words: they carry no evidence about which passage answers.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 也 都 就 对 把 被 从 向 以 为 于 由 等 之 其 该 这 那 这个 那个 哪 哪个 哪些 哪里
    哪儿 哪位 哪天 哪年 哪一年 谁 什么 何 何时 何地 怎么 怎样 如何 为什么 多少 几 几个 吗 呢 吧 啊 呀 么 嘛 请问
    一下 有 有没有 没有 是否 是不是 什么时候 时候 一个 还 又 给 让 我 你 他 她 它 我们 你们 他们 请 问 告诉
    the a an of in on at to for by with from is are was were be been do does did what who whom whose when where
    which why how many much that this these those it its and or as into about please tell me
    文号 发文字号 文件编号""".split()
)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def in_script_of(question: str, passage: str) -> str:
    """The question in the passage's script: a traditional question put to a simplified passage is read in simplified
    (寧夏科協黨組擴大會議由誰主持？ against the Ningxia notice: answerability 0.31 as typed, see benchmarks)."""
    simplified = _t2s().convert(question)
    if simplified == question or _t2s().convert(passage[:200]) != passage[:200]:
        return question
    return simplified


def normalize(text: str) -> str:
    """Text for matching: NFKC, traditional→simplified, lower case, one space for any run of whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text)
    return re.sub(r"\s+", " ", text).strip().lower()


def tokens(text: str, normalized: bool = False) -> list[str]:
    """jieba search-mode tokens of the normalised text, without punctuation or spaces."""
    if not normalized:
        text = normalize(text)
    return [t for t in _jieba().lcut_for_search(text) if t.strip() and not _PUNCT_OR_SPACE.match(t)]


def content_tokens(text: str, normalized: bool = False) -> list[str]:
    """Tokens that can be evidence: no stopwords or question words, each once, in order."""
    seen: dict[str, None] = {}
    for t in tokens(text, normalized):
        if t not in STOPWORDS:
            seen.setdefault(t, None)
    return list(seen)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets in text[start:end]: split at 。！？；… and line ends, never inside quotes or brackets."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    stack: list[str] = []
    i = sent_start = start

    def close(at: int) -> None:
        nonlocal sent_start
        s, e = sent_start, at
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        sent_start = at

    while i < end:
        ch = text[i]
        if ch == "\n":
            stack.clear()
            close(i + 1)
        elif ch in _PAIRS and not (ch in "“‘" and stack and stack[-1] == _PAIRS[ch]):
            stack.append(_PAIRS[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
        elif ch in "”’" and not stack:
            pass
        elif ch in SENTENCE_END and not stack:
            j = i + 1
            while j < end and (text[j] in SENTENCE_END or text[j] in "”’」』）)"):
                j += 1
            close(j)
            i = j
            continue
        if len(stack) > 8:  # unbalanced brackets in a messy file: stop trusting them
            stack.clear()
        i += 1
    close(end)
    return _rejoin_runaway(text, spans)


def _rejoin_runaway(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """An unclosed bracket must not swallow a whole paragraph: re-split any span over 400 chars at plain ends."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if e - s <= 400:
            out.append((s, e))
            continue
        cut = s
        for m in re.finditer(r"[。！？；!?;…]+[”’」』）)]*", text[s:e]):
            out.append((cut, s + m.end()))
            cut = s + m.end()
        if cut < e:
            out.append((cut, e))
    return [(s, e) for s, e in out if text[s:e].strip()]
