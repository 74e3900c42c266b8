"""Short answers: what kind of span a question asks for, and the candidate spans of each kind in a sentence."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

__all__ = ["question_kind", "candidate_spans", "Span"]


@dataclass(frozen=True)
class Span:
    start: int  # offsets inside the sentence
    end: int
    kind: str
    text: str


# ---------------------------------------------------------------- what the question asks for

_KIND_RULES: list[tuple[str, re.Pattern]] = [
    ("docnum", re.compile(r"文号|发文字号|文件编号|document number|reference number", re.I)),
    ("date", re.compile(r"何时|哪天|哪一天|什么时候|什么时间|哪一?年|哪个月|几月|几号|几日|日期|时间是|^when\b|\bwhen\b|what date|which day|what day|which year|what year|what time", re.I)),
    ("person", re.compile(r"谁|哪位|哪几位|什么人|哪(个|些|一)?[^，。？?]{0,3}(长|书记|主席|领导|同志|人|委员|专家|组长)|\bwho\b|\bwhom\b|whose", re.I)),
    ("number", re.compile(r"多少|几[个项名位人次条方面家所届批种大]|几$|多大|多高|多长|how many|how much|what percentage|what share|\bnumber of\b", re.I)),
    ("place", re.compile(r"哪里|在哪|哪儿|什么地方|何地|哪个(城市|省|市|地方|地区|县|区)|哪些(城市|省|地方|地区)|\bwhere\b|which (city|province|place)", re.I)),
    ("org", re.compile(r"哪个(单位|部门|机构|组织|机关)|哪些(单位|部门|机构|组织|机关)|什么(单位|部门|机构|组织)|which (organi[sz]ation|department|unit|body)", re.I)),
    ("quote", re.compile(r"什么(名称|名字|题目|主题|口号|活动|文件|决议|工程|称号|精神)|哪(个|项|些)(活动|文件|决议|工程|讲话|会议)|叫什么|what (is|was) the name|what (campaign|slogan|title|theme|resolution)", re.I)),
    ("list", re.compile(r"哪些|哪几|有什么|\bwhich\b.*\b(are|were)\b|what are", re.I)),
    ("which", re.compile(r"哪个|哪项|哪一|\bwhich\b", re.I)),
    ("what", re.compile(r"什么|啥|\bwhat\b", re.I)),
]


def question_kind(question: str) -> str | None:
    """The kind of short answer the question asks for, or None when it asks for none."""
    for kind, pattern in _KIND_RULES:
        if pattern.search(question):
            return kind
    return None


_ASKS_TITLE = re.compile(r"职务|职位|官职|头衔|担任什么|任什么职|什么身份|\bposition\b|\bjob title\b|\bwhat title\b|\brole\b", re.I)
_TITLE_END = re.compile(r"(书记|主席|部长|组长|主任|院长|局长|厅长|省长|市长|委员|常委|巡视员|馆长|理事长|秘书长|校长|会长|成员|负责人|"
                        r"总经理|董事长|司长|处长|署长|总监|总裁|主编|所长|队长|社长|总工程师|参事)$")


def asks_title(question_normal: str) -> bool:
    """Whether the question asks for a person's position (陈红缨是什么职务？ / What is her position?)."""
    return _ASKS_TITLE.search(question_normal) is not None


def title_of(quote: str, name: str) -> str | None:
    """The title an official sentence writes before a name: 自治区科协党组书记、主席陈红缨主持会议 → 自治区科协党组书记、主席.

    The reader picks one part of such a title (党组书记); the whole run before the name is the answer."""
    at = quote.find(name)
    if at <= 0:
        return None
    before = quote[:at]
    start = max(before.rfind(c) for c in "，,。；;：:（(“\"\n") + 1
    title = re.sub(r"^(?:\d{1,2}月\d{1,2}日(?:上午|下午)?|由|在|经|据|是|为)+", "", before[start:].strip())
    return title if 2 <= len(title) <= 40 and _TITLE_END.search(title) else None


# ---------------------------------------------------------------- candidate spans in a sentence

_CN_NUM = "零〇一二两三四五六七八九十百千万亿"
DATE = re.compile(
    r"(?:\d{4}年)?\d{1,2}月\d{1,2}日(?:至(?:\d{1,2}月)?\d{1,2}日)?(?:上午|下午|晚上|晚)?"
    r"|\d{4}年\d{1,2}月(?!\d)|\d{4}-\d{1,2}-\d{1,2}|\d{4}年(?!\d)"
)
_NUMBER = re.compile(
    rf"(?:超过|超|近|约|逾|达到?|共|多达|不少于|至少)?第?(?:\d+(?:\.\d+)?\s*(?:%|％|万|亿|千|百)?(?:余|多)?"
    rf"(?:个方面|个百分点|亿元|万元|周年|方面|个|项|名|人|次|条|家|所|届|批|种|年|倍|位|篇|场|天|元)?"
    rf"|[{_CN_NUM}]+(?:个方面|方面|个|项|名|位|次|条|家|所|届|批|种|大|篇|场))"
)
_QUOTE = re.compile(r"“[^“”]{1,40}”|《[^《》]{1,60}》|「[^「」]{1,40}」")
DOCUMENT_NUMBER = re.compile(r"[\u4e00-\u9fff]{0,12}[〔\[［(（]\d{4}[〕\]］)）]\d+号")  # 渝科协党组发〔2022〕35号
_TITLE_BEFORE_NAME = re.compile(
    r"(?:书记|主席|部长|组长|主任|院长|局长|厅长|省长|市长|委员|常委|巡视员|馆长|理事长|秘书长|校长|同志)"
    r"、?(?P<name>[\u4e00-\u9fff]{2,3}?)(?=主持|出席|作|调研|带队|同志|强调|指出|表示|讲话|一行|共同|参加|[,，、。;；])"
)
_NAME_BEFORE_ACT = re.compile(r"(?:由|[，,、]|^)(?P<name>[\u4e00-\u9fff]{2,3}?)(?=主持|带队|作报告|作专题报告|出席会议|讲话)")
_ORG = re.compile(
    r"[\u4e00-\u9fff]{2,16}?(?:科协|委员会|党委|党组|部|厅|局|委|协会|学会|中心|办公室|研究院|大学|政府|监察组|指导组|社)+(?![\u4e00-\u9fff]{0,1}[长员])"
)
_PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}?(?:省|市|自治区|区|县|镇|村)(?![委长政])")


# The common Chinese surnames: a name jieba tags `nr` must start with one (高水平 is not a person).
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "怀闪苗相常牛康葛安齐乔温庞殷单易柴文洪左申柳鲁俞项祝兰岳倪包尚耿欧阳司马诸葛上官"
)


_NOT_NAME_END = set("区市省县镇村局厅委部会院所校司处科办")


@lru_cache(maxsize=1)
def _posseg():
    """jieba.posseg, its word → tag table read from a marshal cache (as jieba caches its own dictionary) instead of
    parsing the 350,000-line dictionary at import: 1.2 s of every start, on the first question's path."""
    import io
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    if "jieba.posseg" in sys.modules:
        return sys.modules["jieba.posseg"]
    jieba.dt.get_dict_file = lambda: io.BytesIO(b"")  # the import's own parse reads nothing
    try:
        import jieba.posseg
    finally:
        del jieba.dt.get_dict_file
    jieba.posseg.dt.word_tag_tab = _word_tags(jieba.dt)
    return jieba.posseg


def _word_tags(tokenizer) -> dict[str, str]:
    """The dictionary's word → part-of-speech table, parsed once and cached in the temporary folder."""
    import hashlib
    import marshal
    import os
    import tempfile

    path = Path(tokenizer.get_dict_file().name)
    key = hashlib.sha1(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rag-jieba-word-tags-{key}.marshal"
    try:
        table = marshal.loads(cache.read_bytes())
        if isinstance(table, dict) and table:
            return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    table = {}
    with tokenizer.get_dict_file() as f:
        for line in f:
            parts = line.strip().decode("utf-8").split(" ")
            if len(parts) == 3:
                table[parts[0]] = parts[2]
    try:
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".rag-jieba-word-tags-")
        with os.fdopen(fd, "wb") as out:
            out.write(marshal.dumps(table))
        os.replace(tmp, cache)
    except OSError:  # a read-only temporary folder: parse again next start
        pass
    return table


class Tagged(NamedTuple):
    word: str
    flag: str


@lru_cache(maxsize=16384)
def tagged_words(text: str) -> tuple[Tagged, ...]:
    """jieba's words and part-of-speech tags of a text, remembered: the sentences of a corpus come back question
    after question, and tagging is the slowest step of a short answer (p95 31 ms a question uncached).

    Traditional text is tagged in simplified characters (the same length, character for character) and the words
    are cut from the text as written: jieba's dictionary is simplified, and on traditional characters it falls back
    to its part-of-speech HMM character by character, 40 times slower (a 436-character DRCD sentence took 863 ms,
    the whole tail of a cold question) and with worse tags."""
    from .text import _t2s

    simple = _t2s().convert(text)
    if simple == text or len(simple) != len(text):
        return tuple(Tagged(w.word, w.flag) for w in _posseg().cut(text))
    words, at = [], 0
    for w in _posseg().cut(simple):
        words.append(Tagged(text[at : at + len(w.word)], w.flag))
        at += len(w.word)
    return tuple(words)


def candidate_spans(sentence: str, kind: str) -> list[Span]:
    """Every span of the asked kind in the sentence, as offsets into it."""
    if kind == "date":
        return _regex(DATE, sentence, kind)
    if kind == "number":
        return [s for s in _regex(_NUMBER, sentence, kind) if any(ch.isdigit() or ch in _CN_NUM for ch in s.text)
                and not _inside(s, _regex(DATE, sentence, "date"))]
    if kind == "docnum":
        return _regex(DOCUMENT_NUMBER, sentence, kind)
    if kind == "quote":
        return _quote_runs(sentence)
    if kind == "person":
        return _persons(sentence)
    if kind == "place":
        quoted = _regex(_QUOTE, sentence, "quote")
        places = _tagged(sentence, ("ns",), kind) or _trimmed(_regex(_PLACE, sentence, kind), sentence)
        return [s for s in places if not _inside(s, quoted) and len(s.text) >= 2]
    if kind == "org":
        return _orgs(sentence)
    if kind == "list":
        people = [p for p in _persons(sentence) if "、" in p.text]
        return _quote_runs(sentence) or people or _lists(sentence)
    if kind == "what":
        return _quote_runs(sentence)
    if kind == "which":
        return _quote_runs(sentence) or _orgs(sentence)
    return []


def _orgs(sentence: str) -> list[Span]:
    """Organisations: jieba's nt tags and names ending in 科协/委员会/局/办公室…, longest first where they overlap."""
    found = sorted(_tagged(sentence, ("nt",), "org") + _trimmed(_regex(_ORG, sentence, "org"), sentence), key=lambda s: (s.start, -s.end))
    kept: list[Span] = []
    for span in found:
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept


_PHRASE_STOP_FLAGS = ("v", "p", "c", "u", "d", "r", "x", "m", "f", "t")


def _phrase_start(sentence: str, end: int, limit: int = 14) -> int:
    """Where the noun phrase ending at `end` begins: walk back over words until a verb, preposition or punctuation."""
    begin = max(0, end - limit)
    words, position = [], begin
    for w in tagged_words(sentence[begin:end]):
        words.append((position, w.word, w.flag))
        position += len(w.word)
    start = end
    for position, word, flag in reversed(words):
        if flag[:1] in _PHRASE_STOP_FLAGS and not (len(word) == 1 and flag[:1] in ("v", "d", "m", "f", "t") and start < end):
            break
        start = position
    return start


def _regex(pattern: re.Pattern, sentence: str, kind: str) -> list[Span]:
    return [Span(m.start(), m.end(), kind, m.group()) for m in pattern.finditer(sentence) if m.group().strip()]


def _trimmed(spans: list[Span], sentence: str) -> list[Span]:
    """Regex matches cut back to their noun phrase (报告市科协办公室 → 市科协办公室)."""
    out = []
    for span in spans:
        start = max(span.start, _phrase_start(sentence, span.end, span.end - span.start))
        if span.end - start >= 2:
            out.append(Span(start, span.end, span.kind, sentence[start : span.end]))
    return out


def _inside(span: Span, others: list[Span]) -> bool:
    return any(o.start <= span.start and span.end <= o.end for o in others)


def _tagged(sentence: str, flags: tuple[str, ...], kind: str) -> list[Span]:
    """Runs of words whose jieba part-of-speech is one of flags (consecutive ones merged)."""
    spans: list[Span] = []
    position = 0
    run_start = run_end = None
    for word in tagged_words(sentence):
        start, end = position, position + len(word.word)
        position = end
        if word.flag in flags:
            if run_end == start:
                run_end = end
            else:
                if run_start is not None:
                    spans.append(Span(run_start, run_end, kind, sentence[run_start:run_end]))
                run_start, run_end = start, end
        elif run_start is not None:
            spans.append(Span(run_start, run_end, kind, sentence[run_start:run_end]))
            run_start = run_end = None
    if run_start is not None:
        spans.append(Span(run_start, run_end, kind, sentence[run_start:run_end]))
    return spans


def _persons(sentence: str) -> list[Span]:
    """Names: after a title (书记、主席…) before 主持/出席/调研…, in lists of attendees, and jieba's nr tags."""
    spans = {(s.start, s.end): s for s in _tagged(sentence, ("nr",), "person") if 2 <= len(s.text) <= 4 and s.text[0] in _SURNAMES and s.text[-1] not in _NOT_NAME_END}
    for m in list(_TITLE_BEFORE_NAME.finditer(sentence)) + list(_NAME_BEFORE_ACT.finditer(sentence)):
        s, e = m.span("name")
        if sentence[s] not in _SURNAMES:
            continue
        spans.setdefault((s, e), Span(s, e, "person", m.group("name")))
    ordered = sorted(spans.values(), key=lambda s: (s.start, -s.end))
    kept: list[Span] = []
    for span in ordered:
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return _merge_lists(sentence, kept)


def _merge_lists(sentence: str, names: list[Span]) -> list[Span]:
    """Names joined only by 、 are one list: 李萌、张广军、相里斌."""
    merged: list[Span] = []
    for span in names:
        if merged and sentence[merged[-1].end : span.start] in ("、", "和", "及"):
            last = merged[-1]
            merged[-1] = Span(last.start, span.end, "person", sentence[last.start : span.end])
        else:
            merged.append(span)
    return merged


def _quote_runs(sentence: str) -> list[Span]:
    """Quoted names; adjacent ones (“十个明确”“十四个坚持”) are one run."""
    merged: list[Span] = []
    for span in _regex(_QUOTE, sentence, "quote"):
        if merged and sentence[merged[-1].end : span.start] in ("", "、", "和", "及", "与"):
            last = merged[-1]
            merged[-1] = Span(last.start, span.end, "quote", sentence[last.start : span.end])
        else:
            merged.append(span)
    return merged


_LIST_JOINER = re.compile(r"、|和|及|与|以及")
_LIST_STOP = set("，,。；;：:（）()“”《》的在等对为从向把被将")


def _lists(sentence: str) -> list[Span]:
    """Runs of two or more items joined by 、 (or 和/及 for the last), items cut at word boundaries."""
    words = list(tagged_words(sentence))
    bounds, position = [], 0
    for w in words:
        bounds.append((position, position + len(w.word), w.word, w.flag))
        position += len(w.word)
    spans: list[Span] = []
    i = 0
    while i < len(bounds):
        if bounds[i][2] != "、":
            i += 1
            continue
        j = i  # find the run of items joined by 、
        joints = [i]
        while True:
            k = j + 1
            while k < len(bounds) and bounds[k][2] != "、" and bounds[k][2] not in _LIST_STOP and bounds[k][0] - bounds[j][1] < 16:
                k += 1
            if k < len(bounds) and bounds[k][2] == "、":
                joints.append(k)
                j = k
            else:
                break
        middle = [sentence[bounds[a][1] : bounds[b][0]] for a, b in zip(joints, joints[1:])]
        size = sum(len(m) for m in middle) / len(middle) if middle else 4.0
        start = _first_item_start(bounds, joints[0], size)
        end = _last_item_end(bounds, joints[-1], size)
        if start is not None and end is not None:
            spans.append(Span(start, end, "list", sentence[start:end]))
        i = joints[-1] + 1
    return spans


def _first_item_start(bounds, joint: int, size: float) -> int | None:
    """The shortest word-aligned stretch before the first 、 that is about as long as the other items."""
    end = bounds[joint][0]
    k = joint - 1
    while k >= 0 and bounds[k][2] not in _LIST_STOP and bounds[k][2] != "、" and bounds[k][3][:1] not in ("v", "p", "d"):
        if end - bounds[k][0] >= 0.75 * size:
            return bounds[k][0]
        k -= 1
    return bounds[k + 1][0] if k + 1 < joint else None


def _last_item_end(bounds, joint: int, size: float) -> int | None:
    """The longest word-aligned stretch after the last 、 within twice the item length (和/及 add one more item)."""
    start = bounds[joint][1]
    best = None
    k = joint + 1
    while k < len(bounds) and bounds[k][2] not in _LIST_STOP and bounds[k][2] != "、":
        if bounds[k][2] in ("和", "及", "与", "以及") and best is not None:
            size = size * 2 + 1  # `A、B和C`: C joins the list
        elif bounds[k][1] - start <= 2 * size:
            best = bounds[k][1]
        k += 1
    return best
