"""The question, analysed once: what was typed, what is read, and what every later step needs of it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .crosslingual import is_latin
from .spans import question_kind
from .text import STOPWORDS, normalize, tokens

__all__ = ["Question", "analyse", "asked_unit", "mentions", "misses_a_name", "named_entities"]


@dataclass(frozen=True)
class Question:
    typed: str                 # as the person wrote it (cleaned of control characters, cut to length)
    text: str                  # as read: a follow-up completed from the conversation, else typed
    normal: str                # text for matching: NFKC, simplified, lower case
    tokens: tuple[str, ...]    # jieba search-mode tokens of normal
    content: tuple[str, ...]   # tokens that can be evidence (no stopwords, each once)
    latin: bool                # written mostly in Latin script (English)
    kind: str | None           # the kind of short answer asked for (person, date, number, list, …)
    names: tuple[str, ...]     # places, people and organisations it names
    unit: str | None           # what a how-many question counts (人 in 多少人, 家 in 几家企业)


def analyse(typed: str, read_as: str | None = None) -> Question:
    """One Question value for retrieval, the reader and abstention."""
    text = read_as or typed
    normal = normalize(text)
    found = tuple(tokens(normal, normalized=True))
    content = tuple(dict.fromkeys(t for t in found if t not in STOPWORDS))
    kind = question_kind(normalize(typed)) or question_kind(normal)
    return Question(typed, text, normal, found, content, is_latin(text), kind, tuple(named_entities(normal)),
                    asked_unit(normal) if kind == "number" else None)


_ASKED_UNIT = re.compile(r"(?:多少|几)(个|名|位|家|项|次|条|所|届|批|种|篇|场|天|年|岁|倍|元|人)?([\u4e00-\u9fff]?)")


def asked_unit(question_normal: str) -> str | None:
    """What a how-many question counts: 人 in 多少人参加, 家 in 几家企业, 分 in 多少个分会场; None when it names nothing."""
    match = _ASKED_UNIT.search(question_normal)
    if not match:
        return None
    measure, noun = match.group(1), match.group(2)
    if measure and measure != "个":
        return measure
    return noun if noun and noun not in _NOT_COUNTED else None


_NOT_COUNTED = set("来着呢啊了的呀吗吧嘛么是在有")


_ENTITY_FLAGS = ("ns", "nr", "nt", "nrt", "nrfg")
_PLACE_SUFFIX = re.compile(r"(省|市|自治区|区|县)$")


def named_entities(question: str) -> list[str]:
    """Places, people and organisations the question names (jieba part-of-speech tags)."""
    from .spans import tagged_words

    text = normalize(question)
    words = list(tagged_words(text))
    found = []
    for i, w in enumerate(words):
        if w.word in _SURNAMES and w.flag == "nr" and i + 1 < len(words):  # 李 + 巨峰: jieba splits an unknown name
            given = words[i + 1]
            if given.flag.startswith("nr") and 1 <= len(given.word) <= 2:
                found.append(w.word + given.word)
                words[i + 1] = given.__class__(given.word, "x")  # the given name alone is no name of its own
                continue
        if w.flag in _ENTITY_FLAGS and len(w.word) >= 2:
            found.append(w.word)
    return list(dict.fromkeys(found))


# The commonest Chinese surnames (one character), for joining a surname jieba split from an unknown given name.
_SURNAMES = frozenset("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")


def misses_a_name(haystack_normal: str, names: list[str]) -> bool:
    """Whether the text never mentions one of the names the question gives."""
    return any(not mentions(haystack_normal, name) for name in names)


def mentions(haystack: str, name: str) -> bool:
    """Whether the passage mentions the name, with or without its 省/市/区 suffix."""
    return name in haystack or (_PLACE_SUFFIX.search(name) is not None and _PLACE_SUFFIX.sub("", name) in haystack and len(name) > 2)


def reads_as_english(question) -> bool:
    """Whether an analysed question is an English question (the reader and the query adapter take those)."""
    return bool(question.latin) and is_english_question(question.text)


def is_english_question(text: str) -> bool:
    """Whether a Latin-script text reads as an English question (three words or more, one of them a function word),
    not markup, code or a stray string: only such a question goes to the reader, which answers whatever it is given."""
    words = re.findall(r"[A-Za-z]+", text.lower())
    return len(words) >= 3 and bool(_ENGLISH_FUNCTION_WORDS.intersection(words)) and not re.search(r"[<>{};=]", text)


_ENGLISH_FUNCTION_WORDS = frozenset("the of in on at to for by is are was were did does do what who whom when where which how why a an".split())
