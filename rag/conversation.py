"""A follow-up read from the conversation: 他/该会议/那重庆呢？/还有谁？ completed from the last answer and question.

A person asks in turns. 宁夏科协党组扩大会议由谁主持？ → 陈红缨; then 他是什么职务？ is about 陈红缨, a name that
stands only in the previous *answer*. `read` turns such a follow-up into a question that stands on its own
(陈红缨是什么职务？), which retrieval, the reader and abstention then read like any other. The rewritten question
is shown with the answer ("理解为 / Read as"), so a wrong rewrite is visible. A question that stands on its own
(no pronoun, no definite reference, not an ellipsis) is never rewritten.

Where a reference points, in order: the previous answer's short span (a person for 他/她/he/she), the people
its quoted sentence names, then the previous question. Matching runs on the question as typed, in simplified
or traditional characters alike, and on English.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .text import normalize

__all__ = ["Turn", "Reading", "leaning_on_last", "not_given_before", "read", "turns_from"]


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question as typed (and as read), and what was answered."""

    question: str
    answer: str = ""      # the short answer, else the quoted sentence; "" when the documents did not answer
    quote: str = ""       # the quoted sentence, where known (the chat keeps it; a JSON history may not)
    read_as: str = ""     # the question as the product read it ("" = as typed)

    @property
    def asked(self) -> str:
        return self.read_as or self.question


@dataclass(frozen=True)
class Reading:
    """How a question is read in its conversation."""

    text: str                      # the question as read: stands on its own
    rewritten: bool                # text differs from what was typed
    next_answer: bool = False      # 还有谁？/ who else?: another answer to the previous question is wanted
    exclude: tuple[str, ...] = ()  # earlier short answers not to give again
    exclude_quotes: tuple[str, ...] = ()  # earlier quoted sentences


def turns_from(history: Iterable | None) -> list[Turn]:
    """Earlier turns from what a caller holds: bare questions (str), {"question", "answer"} objects, or Turns."""
    turns = []
    for item in history or []:
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, str) and item.strip():
            turns.append(Turn(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("question"), str) and item["question"].strip():
            turns.append(Turn(item["question"].strip(), _text(item.get("answer")), _text(item.get("quote")), _text(item.get("read_as"))))
    return turns


def read(question: str, history: Iterable | None) -> Reading:
    """The question as read in its conversation; unchanged when it stands on its own or nothing came before."""
    turns = turns_from(history)
    typed = question.strip()
    if not turns or not typed:
        return Reading(question, False)
    last = turns[-1]
    if _ANOTHER.match(typed) or _ANOTHER_EN.match(typed):
        shorts = tuple(t.answer for t in turns if t.asked == last.asked and t.answer)  # 还有谁？ twice: neither again
        quotes = tuple(t.quote for t in turns if t.asked == last.asked and t.quote)
        return Reading(last.asked, True, next_answer=True, exclude=shorts, exclude_quotes=quotes)
    swap = _that_one(typed, last)
    if swap:
        return Reading(swap, swap != typed)
    text = _resolve_references(typed, last)
    if text == typed and _lacks_subject(typed):  # 谁主持的？ / When? : about what the last question was about
        text = f"{typed} ({last.asked})" if _is_latin(typed) else f"{_topic(last.asked) or last.asked}{typed}"
    return Reading(text, text != typed)


_EN_BARE = frozenset("who whom whose what when where which why how many much long was were is are did does do it held the a and "
                     "then so date day year".split())


def _lacks_subject(typed: str) -> bool:
    """A short question that names nothing (谁主持的？ / 在哪里开的？ / When?): it asks about the last one's subject."""
    from .spans import tagged_words

    if _is_latin(typed):
        words = re.findall(r"[a-z]+", typed.lower())
        return 0 < len(words) <= 4 and all(w in _EN_BARE for w in words)
    normal = normalize(typed)
    if len(re.findall(r"[\u4e00-\u9fff]", normal)) > 8 or re.search(r"\d", normal):
        return False
    return not any(w.flag[:1] in ("n", "t") or w.flag in ("nr", "ns", "nt", "nz", "j", "eng") for w in tagged_words(normal)
                   if w.word not in _QUESTION_NOUNS)


_QUESTION_NOUNS = frozenset({"时候", "时间", "地方", "哪里", "哪儿", "日期", "几号", "人"})


def not_given_before(answers: list, shorts: tuple[str, ...], quotes: tuple[str, ...] = (), asked_names: tuple[str, ...] = ()) -> list:
    """The answers to 还有谁？/ who else?: none repeats a short answer or quote given before. Where the quote that
    gave 张黎 names another person too (马吉孝), that person is the next answer, from the same sentence."""
    said = {normalize(g) for g in shorts if g}
    quoted = {normalize(g) for g in quotes if g}
    kept = []
    for answer in answers:
        if answer.short and normalize(answer.short) in said:
            others = [n for n in _names(normalize(answer.text), ("nr",)) if not any(n in g for g in said) and n not in asked_names]
            if others:
                kept.append(replace(answer, short=_as_written(answer.text, others[0])))
            continue
        if normalize(answer.text) in quoted and not answer.short:
            continue
        kept.append(answer)
    return kept


def _as_written(text: str, normal_name: str) -> str:
    """A name found in the normalised quote, as the quote writes it (traditional stays traditional)."""
    at = normalize(text).find(normal_name)
    return text[at : at + len(normal_name)] if at >= 0 else normal_name


def leaning_on_last(typed: str, reading: Reading, question, history: Iterable | None) -> str | None:
    """A second reading for a short question left as typed that found no answer: the same question about the last
    one's topic (哪位青海省副省长共同调研？ after 怀进鹏是哪天去西宁调研的？ → 怀进鹏哪位青海省副省长共同调研？). Only
    for a question that asks for a short answer (who, when, how many…) and names no person itself; the pipeline keeps
    it only when it answers, and shows it as read."""
    turns = turns_from(history)
    if not turns or reading.rewritten or question.kind is None or _is_latin(typed):
        return None
    if len(re.findall(r"[\u4e00-\u9fff]", typed)) > LEANING_MAX_CHARS or _names(question.normal, ("nr",)):
        return None
    topic = _topic(turns[-1].asked) or _person_of(turns[-1])
    if not topic or normalize(topic) in question.normal:
        return None
    return f"{topic}{typed}"


LEANING_MAX_CHARS = 16


# ---------------------------------------------------------------- ellipsis: 还有谁？ 那重庆呢？

_ANOTHER = re.compile(r"^(那|那么)?(还有|還有)(呢|吗|嗎|谁|誰|谁呢|誰呢|哪些|哪些呢|哪个|哪個|别的|別的|其他的?)?(人|单位|單位)?[吗嗎呢]?[?？。!！]*$")
_ANOTHER_EN = re.compile(r"^(and\s+)?(who|what|which|anyone|anything|any(one|thing)?)\s+else\b.*$|^(any\s+)?others?\??$|^and\s+others\??$", re.I)
_THAT_ONE = re.compile(r"^(那|那么|那麼)?(?P<subject>[^?？。!！]{1,16}?)(呢|怎么样|怎麼樣|如何)[?？。!！]*$")
_THAT_ONE_EN = re.compile(r"^(and|what about|how about)\s+(?P<subject>[^?]+?)\s*\??$", re.I)
_YEAR = re.compile(r"(19|20)\d{2}\s*年")
_EVENT_HEAD = re.compile(r"(会议|座谈会|会|调研|文件|意见|活动|通知|报告|讲话|学习)$")
_QUESTION_WORD = re.compile(r"(who|what|when|where|which|why|how|whose|whom|is|was|did|does|do|are|were)\b|.*(谁|誰|什么|什麼|哪|几|幾|多少|何)", re.I)


def _that_one(typed: str, last: Turn) -> str | None:
    """那重庆呢？/ what about Chongqing?: the last question with its subject swapped; an attribute (职务呢？) asked of it."""
    match = _THAT_ONE.match(typed) or _THAT_ONE_EN.match(typed)
    if not match or _QUESTION_WORD.match(match.group("subject")):
        return None
    subject = match.group("subject").strip()
    previous = last.asked
    if _YEAR.fullmatch(subject) and _YEAR.search(previous):
        return _YEAR.sub(subject, previous, count=1)
    kind = _name_kind(subject)
    if kind:
        names = _names(previous, (kind,)) or _names(previous, _NAME_FLAGS)
        if names:
            return previous.replace(names[0], subject, 1)
    if _is_latin(typed):
        swapped = _swap_english(previous, subject)
        return swapped or f"{typed} ({previous})"
    topic = _topic(previous)
    asks_what_about = typed.rstrip("?？。!！").endswith("呢")  # 那X呢？, not X怎么样？ (明天天气怎么样？ stands alone)
    if asks_what_about and topic and len(subject) > 4 and (_EVENT_HEAD.search(normalize(subject)) or _names(normalize(subject), _NAME_FLAGS)):
        # 那科技部党组会议呢？: the same question of another meeting
        return previous.replace(topic, subject, 1)
    if not asks_what_about or len(subject) > 4:
        return None
    topic = _person_of(last) or _topic(previous)
    return f"{topic}的{subject}是什么？" if topic else f"{previous} {subject}"


# ---------------------------------------------------------------- references: 他 / 该会议 / it / that meeting

_PERSON_PRONOUN = re.compile(r"(?<![其吉利排])(他们|她们|他們|她們|他|她)(?![人乡鄉国國们們])")
_THING_PRONOUN = re.compile(r"^(它|其)(?![他它中余餘次实實])|(?<![尤及与與极極其])其(?=[职職主身])")
_DEFINITE = re.compile(
    r"(该|該|这个|這個|这次|這次|那次|此次|这份|這份|那份|该份|上述|这些|這些|那个|那個|这一|這一)"
    r"(?P<head>会议|會議|座谈会|座談會|会|會|文件|通知|意见|意見|调研|調研|活动|活動|单位|單位|部门|部門|人|领导|領導|报告|報告|讲话|講話|学习|學習)"
)
_EN_PERSON = re.compile(r"\b(he|she|him|his|her|hers)\b", re.I)
_EN_THING = re.compile(r"\b(that|this|it|the)\s+(meeting|symposium|session|document|notice|visit|trip|opinions?|event|conference)\b|"
                       r"\b(it|that)\b(?=\s+(held|happen|take|took|be|was|is)\b|\s*\??$)", re.I)


def _resolve_references(typed: str, last: Turn) -> str:
    if _is_latin(typed):
        return _resolve_english(typed, last)
    text = typed
    if _PERSON_PRONOUN.search(text) and not _names(normalize(text), ("nr",)):
        person = _person_of(last)
        if person:
            text = _PERSON_PRONOUN.sub(person, text, count=1)
        else:  # nobody to point at: read it with the last question's topic
            return f"{_topic(last.asked) or last.asked}：{text}"
    definite = _DEFINITE.search(text)
    if definite:
        referent = _referent(last, definite.group("head"))
        if referent:
            text = text[: definite.start()] + referent + text[definite.end():]
    elif _THING_PRONOUN.search(text):
        referent = _topic(last.asked) or (last.answer if 0 < len(last.answer) <= 20 else None)
        if referent:
            text = _THING_PRONOUN.sub(referent, text, count=1)
    return text


def _resolve_english(typed: str, last: Turn) -> str:
    text = typed
    if _EN_PERSON.search(text):
        person = _person_of(last)
        if not person:  # nobody to point at: read it with the last question
            return f"{text} ({last.asked})"
        text = _EN_PERSON.sub(lambda m: f"{person}'s" if m.group(1).lower() in ("his", "her", "hers") else person, text, count=1)
    thing = _EN_THING.search(text)
    if thing:
        phrase = _english_topic(last.asked)
        if phrase:
            text = text[: thing.start()] + phrase + text[thing.end():]
        else:
            text = f"{text} ({last.asked})"
    return text


def _person_of(last: Turn) -> str | None:
    """The person the previous turn is about: its short answer if that is a name, else one its quote or question names."""
    answer = last.answer.strip()
    if answer and len(answer) <= 12 and _names(normalize(answer), ("nr",)):
        return answer
    if answer and len(answer) <= 4 and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", answer) and _asks_person(last.asked):
        return answer
    for source in (last.quote, answer if len(answer) > 12 else "", last.asked):
        names = _names(normalize(source), ("nr",)) if source else []
        if names:
            return names[0]
    return None


def _referent(last: Turn, head: str) -> str | None:
    """What 该会议 / 上述单位 / 这份文件 points at: a list answer for 上述单位/这些人, else the previous question's topic."""
    head = normalize(head)
    if head in ("单位", "部门", "人", "领导") and last.answer and "、" in last.answer:
        return last.answer
    phrase = _phrase_ending_in(last.asked, head)
    if phrase:
        return phrase
    topic = _topic(last.asked)
    if topic:
        return topic
    return _person_of(last) if head in ("人", "领导") else None


def _phrase_ending_in(question: str, head: str) -> str | None:
    """The previous question's words up to the noun 该X names: 怀进鹏在西宁调研时… → 怀进鹏在西宁调研 for 那次调研."""
    normal = normalize(question)
    for clause, typed in zip(re.split(r"[，,、？?。!！：:]", normal), re.split(r"[，,、？?。!！：:]", question)):
        at = clause.find(head)
        if at < 0:
            continue
        start = 1 if clause[:1] in ("在", "于") else 0
        phrase = typed[start : at + len(head)].strip()
        return phrase if len(phrase) > len(head) else None
    return None


# The words that end a question's topic: 宁夏科协党组扩大会议 | 由谁主持
_PREDICATE = re.compile(
    r"(由|是|在|的时候|时|時|上|中|期间|期間|有|要|对|對|将|將|把|于|於|哪|什么|什麼|谁|誰|何|几|幾|多少|召开|召開|举行|舉行|强调|強調|"
    r"指出|提出|要求|印发|印發|主持|出席|参加|參加|作了|作|担任|擔任|调研|調研|去|到)"
)


def _topic(question: str) -> str | None:
    """The noun phrase a question is about: the words before its first predicate (宁夏科协党组扩大会议由谁主持 → 宁夏科协党组扩大会议)."""
    head = re.split(r"[，,、？?。!！：:]", question.strip(), maxsplit=1)[0]
    for match in _PREDICATE.finditer(head):
        if match.start() >= 2:
            phrase = head[: match.start()].strip()
            return phrase if len(phrase) >= 2 else None
    return None


_EN_TOPIC = re.compile(
    r"\b(the|a|an)\s+((?:[\w’'“”\"-]+\s+){0,8}?(?:meeting|symposium|session|document|notice|visit|trip|opinions|conference|event)"
    r"(?:\s+(?:of|on|in|for|at)\s+(?:the\s+)?(?:[\w’'“”\"-]+\s*){1,8}?)?)(?=\s+(?:on|in|at|was|is|did|held|hold)\b|[?,.]|$)", re.I)


_EN_GENERIC = frozenset("Party Ministry Science Technology Association China Chinese National Congress Central Committee Group "
                        "Communist Who What When Where Which How Why On In At The A An And Of For By".split())


def _swap_english(previous: str, subject: str) -> str | None:
    """what about Chongqing? after a question about Ningxia: that question with the place (or person) swapped."""
    if not _is_latin(previous) or not subject[:1].isupper():
        return None
    words = re.findall(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b", previous)
    names = [w for w in words if not any(part in _EN_GENERIC for part in w.split())]
    return previous.replace(names[0], subject, 1) if names else None


def _english_topic(question: str) -> str | None:
    match = _EN_TOPIC.search(question)
    return f"the {match.group(2).strip()}" if match else None


# ---------------------------------------------------------------- names

_NAME_FLAGS = ("nr", "ns", "nt", "nrt", "nrfg")
_PLACE_END = re.compile(r"(省|市|区|區|县|縣|州|自治区)$")


def _names(text: str, flags: tuple[str, ...]) -> list[str]:
    """The names of the given jieba kinds in a text, in order."""
    from .question import named_entities
    from .spans import tagged_words

    if flags == ("nr",):  # people: with a surname joined to a given name jieba split off
        people = {w.word for w in tagged_words(text) if w.flag.startswith("nr")}
        return [n for n in named_entities(text) if n in people or any(n.startswith(p) or n.endswith(p) for p in people)]
    return [w.word for w in tagged_words(text) if w.flag in flags and len(w.word) >= 2]


def _name_kind(subject: str) -> str | None:
    """The jieba kind of a one-name subject (重庆 → ns, 陈红缨 → nr), None for anything else (职务, 主持人)."""
    from .spans import tagged_words

    normal = normalize(subject)
    words = [w for w in tagged_words(normal) if w.word.strip()]
    if _PLACE_END.search(normal) and len(normal) >= 2:
        return "ns"
    if len(words) == 1 and words[0].flag in _NAME_FLAGS:
        return "nr" if words[0].flag.startswith("nr") else words[0].flag
    if _names(normal, ("nr",)) == [normal]:
        return "nr"
    return None


def _asks_person(question: str) -> bool:
    return re.search(r"(谁|誰|哪位|\bwho\b)", question, re.I) is not None


def _is_latin(text: str) -> bool:
    from .crosslingual import is_latin

    return is_latin(text)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""
