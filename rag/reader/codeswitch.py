"""English questions for training, from the Chinese ones: word-by-word glosses from CC-CEDICT (training only).

The public training sets are Chinese only, and no translation model can be downloaded here. The reader trained on
them alone read an English question against a Chinese paragraph as "not here" (tests/data/english_seeds.jsonl:
0 of 32 answered). Code-switching (replacing words of a training question by their dictionary translation) is a
known way to carry a multilingual encoder's reader across languages: 怀进鹏在西宁调研时哪位副省长共同调研？ becomes
"Huai Jinpeng in Xining investigate when which vice governor together investigate?". The English is rough, the
words are the ones a person asking in English uses, and names come out in pinyin as English questions write them.
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

from ..crosslingual import _dictionary_path, _glosses, dictionary_entries

__all__ = ["english", "dictionary", "written_english"]

_QUESTION_WORDS = {
    "谁": "who", "哪位": "which person", "什么": "what", "啥": "what", "哪里": "where", "哪儿": "where", "在哪": "where",
    "什么时候": "when", "何时": "when", "哪天": "which day", "哪一天": "which day", "哪年": "which year", "哪一年": "which year",
    "多少": "how many", "几": "how many", "为什么": "why", "为何": "why", "怎么": "how", "如何": "how", "哪个": "which",
    "哪些": "which", "哪": "which", "是": "is", "的": "of", "在": "in", "了": "", "吗": "", "呢": "", "和": "and", "与": "and",
    "被": "by", "由": "by", "对": "to", "从": "from", "到": "to", "于": "in", "将": "", "把": "", "第": "No.",
}
_NAME_FLAGS = ("nr", "ns", "nt", "nrt", "nrfg", "nz")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=1)
def dictionary() -> tuple[dict[str, str], dict[str, str]]:
    """(word → its first one-word English gloss, character → its pinyin syllable) from CC-CEDICT (empty without it)."""
    path = _dictionary_path()
    glosses: dict[str, str] = {}
    readings: dict[str, str] = {}
    if path is None:
        return glosses, readings
    for word, pinyin, definitions in dictionary_entries(path):
        if len(word) == 1 and word not in readings:
            syllable = re.match(r"^([a-zA-Z:]+)\d?$", pinyin.split(" ")[0])
            if syllable:
                readings[word] = syllable.group(1).lower().replace("u:", "v")
        if word not in glosses:
            found = _glosses(definitions)
            if found:
                glosses[word] = found[0]
    return glosses, readings


def english(question: str, rng: random.Random, share: float = 1.0) -> str:
    """The question with (a share of) its words in English: names in pinyin, other words by their first gloss."""
    import jieba.posseg as posseg

    glosses, readings = dictionary()
    out: list[str] = []
    for piece in posseg.cut(question):
        word, flag = piece.word, piece.flag
        if not _CJK.search(word):
            if word.strip() and not re.fullmatch(r"[，。？！、；：“”‘’（）《》?,.!]+", word):
                out.append(word)
            continue
        if rng.random() > share:
            out.append(word)
        elif word in _QUESTION_WORDS:
            out.append(_QUESTION_WORDS[word])
        elif flag in _NAME_FLAGS or word not in glosses:
            out.append(_pinyin(word, flag, readings))
        else:
            out.append(glosses[word])
    text = " ".join(w for w in out if w)
    return (text[:1].upper() + text[1:] + "?") if text else question


def _pinyin(word: str, flag: str, readings: dict[str, str]) -> str:
    syllables = [readings.get(ch, ch) for ch in word]
    if flag.startswith("nr") and len(syllables) >= 2:  # 怀进鹏 → Huai Jinpeng
        return f"{syllables[0].capitalize()} {''.join(syllables[1:]).capitalize()}"
    return "".join(syllables).capitalize()


def written_english(path) -> dict[str, str]:
    """The English questions written by hand for training questions (data/english_train.jsonl): question id → English."""
    import json
    from pathlib import Path

    return {item["id"]: item["question"] for item in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines())}
