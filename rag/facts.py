"""Facts a question states that the cited document contradicts: a year, a day, an ordinal, a congress, a plenum, an
anniversary, a deputy's role, an organisation.

A question about the 2020 symposium must not be answered with the 2021 one's date, nor one about the seventh
study session with the sixth one's. The reader's answerability catches some of these (it trained on questions
with a changed number), not all: measured on tests/data/wrong_facts.jsonl, the rule path with the reader's veto
still answered 10 of 22. This check is exact: it names what differs, so the person sees why there is no answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .question import mentions
from .schema import Document
from .spans import DOCUMENT_NUMBER as _DOCUMENT_NUMBER
from .text import normalize

__all__ = ["Difference", "checked", "contradiction"]

_YEAR = re.compile(r"(?<![\d〔\[［(（])((?:19|20)\d{2})(?=\s*年)")
_ORDINAL = re.compile(r"第([0-9一二三四五六七八九十百零〇两]+)([\u4e00-\u9fff])")  # 第七次, 第25指导组: compared by the character after
_CONGRESS = re.compile(r"(?<![一二三四五六七八九十])([一二三四五六七八九十]{2,3})大(?![学型量力多小众概都致陆街连厦家])")
_CONGRESS_FULL = re.compile(r"第([一二三四五六七八九十]{2,3})次全国代表大会")
_DAY = re.compile(r"(?<!\d)(\d{1,2})月(\d{1,2})[日号]")  # 10月26日 asked, 10月24日 written
_ANNIVERSARY = re.compile(r"(?<![0-9一二三四五六七八九十百])([0-9]+|[一二三四五六七八九十百]+)周年")
_PLENUM = re.compile(r"(?<![一二三四五六七八九十])([一二三四五六七八九十]{1,3})中全会")  # 六中全会 asked, 七中全会 written
_TERM = re.compile(r"(?<![第一二三四五六七八九十])([一二三四五六七八九十]{2,3})届")  # 十九届, 二十届
_DEPUTY = re.compile(r"副(部长|局长|厅长|主任|主席|书记|省长|市长|院长|秘书长|组长|司长|处长|县长|区长)")
_ORGANISATION = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:部|厅|局|署|委员会)$")
_NOT_ORGANISATIONS = {"俱乐部", "总部", "本部", "分部", "干部", "支部", "内部", "全部", "外部", "局部", "东部", "西部", "南部", "北部",
                      "中部", "头部", "腹部", "胸部", "背部", "尾部", "底部", "顶部", "根部", "基部", "面部", "上部", "下部", "前部",
                      "后部", "当局", "格局", "结局", "布局", "大局", "开局", "全局", "出局", "政局", "时局", "邮局", "赌局", "饭局"}


@dataclass(frozen=True)
class Difference:
    """A fact of the question that the document states otherwise (or never)."""

    kind: str            # name | document number | year | day | ordinal | congress | plenum | term | anniversary | role | organisation
    asked: str           # as the question says it: 2020年, 第七次, 十九大, 教育部
    found: str | None    # what the document says instead, when it says one thing of that kind

    def message(self) -> str:
        """One line for the person asking, in Chinese and English."""
        if self.found:
            return (f"文档中说的是{self.found}，不是{self.asked}，所以没有给出回答。"
                    f" / The documents speak of {self.found}, not {self.asked}, so no answer is given.")
        return (f"文档中没有提到{self.asked}，所以没有给出回答。"
                f" / The documents never mention {self.asked}, so no answer is given.")


def contradiction(question_normal: str, question_tokens: tuple[str, ...], document: Document, quote: str = "",
                  names: tuple[str, ...] = ()) -> Difference | None:
    """The first fact of the question that the document contradicts, or None when none does.

    quote: the sentence cited; a differing fact it states is named first (else the title's, else the first).
    names: the people, places and organisations the question names; one the document never names is a difference
    (李巨峰 asked, 蒋巨峰 written)."""
    if not names and not _states_facts(question_normal, question_tokens) and not _DOCUMENT_NUMBER.search(question_normal):
        # most questions: the document unread
        return None
    haystack = normalize(f"{document.title}\n{document.text}\n{_written_date(document.date)}")
    for match in _DOCUMENT_NUMBER.finditer(question_normal):  # 渝科协党组发〔2021〕3号 asked, 〔2022〕35号 written
        if match.group(0) not in haystack:
            return Difference("document number", match.group(0), normalize(document.doc_number) if document.doc_number else None)
    for name in names:
        if not mentions(haystack, name):
            return Difference("name", name, None)
    for kind, pattern, unit in _FACTS:
        for match in pattern.finditer(question_normal):
            asked = match.group(0) + (unit if kind == "year" else "")
            if kind == "congress":  # a document names several congresses; the quoted sentence names the one it is about
                said = [m.group(1) for p in (_CONGRESS, _CONGRESS_FULL) for m in p.finditer(normalize(quote))]
                if said and match.group(1) not in said:
                    return Difference(kind, asked, f"{said[0]}大")
                if said:
                    continue
            if _states(haystack, kind, match):
                continue
            if kind == "role":  # 副部长 asked where the document names only the 部长: nothing else to name instead
                return Difference(kind, asked, match.group(1) if match.group(1) in haystack else None)
            near = normalize(f"{quote}\n{document.title}")
            others = sorted(_others(haystack, kind, pattern, match), key=lambda text: text not in near)
            if others:  # the document speaks of another year / session / congress
                return Difference(kind, asked, others[0])
    for token in _organisations(question_tokens):
        if token not in haystack:
            return Difference("organisation", token, None)
    return None


_FACTS = (("year", _YEAR, "年"), ("day", _DAY, None), ("ordinal", _ORDINAL, None), ("congress", _CONGRESS, "大"),
          ("plenum", _PLENUM, None), ("term", _TERM, None), ("anniversary", _ANNIVERSARY, None), ("role", _DEPUTY, None))


def _organisations(question_tokens: tuple[str, ...]) -> list[str]:
    return [t for t in question_tokens if _ORGANISATION.search(t) and t not in _NOT_ORGANISATIONS]


def _states_facts(question_normal: str, question_tokens: tuple[str, ...]) -> bool:
    """Whether the question states a year, ordinal, congress or organisation at all."""
    return any(pattern.search(question_normal) for _, pattern, _ in _FACTS) or bool(_organisations(question_tokens))


def _written_date(date: str | None) -> str:
    """The document's date (2022-10-24) as its text would write it (2022年10月24日), so a day it gives only in its
    metadata counts as stated."""
    found = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", date or "")
    return f"{found.group(1)}年{int(found.group(2))}月{int(found.group(3))}日" if found else ""


def _states(haystack: str, kind: str, match: re.Match) -> bool:
    if kind == "year":
        return re.search(rf"(?<!\d){match.group(1)}(?!\d)", haystack) is not None
    if kind == "day":
        return re.search(rf"(?<!\d){int(match.group(1))}月{int(match.group(2))}[日号]", haystack) is not None
    return match.group(0) in haystack


def _others(haystack: str, kind: str, pattern: re.Pattern, match: re.Match) -> list[str]:
    """The same kind of fact as the document states it (another year, another 第N次 with the same measure word)."""
    found = []
    for other in pattern.finditer(haystack):
        if kind == "ordinal" and other.group(2) != match.group(2):
            continue
        if kind == "day" and other.group(1).lstrip("0") != match.group(1).lstrip("0"):
            continue  # only another day of the same month is a difference (a notice names many dates)
        text = other.group(0) + ("年" if kind == "year" else "")
        if text not in found:
            found.append(text)
    return found


def checked(answers: list, question_normal: str, question_tokens: tuple[str, ...], documents,
            names: tuple[str, ...] = ()) -> tuple[list, Difference | None]:
    """The answers whose documents contradict nothing the question states, and the first difference found."""
    kept, first = [], None
    for answer in answers:
        document = documents.get(answer.citation.doc_id)
        difference = (contradiction(question_normal, question_tokens, document, answer.text, names)
                      if document is not None else None)
        if difference is None:
            kept.append(answer)
        elif first is None:
            first = difference
    return kept, first


def in_passages(hits: list, question_normal: str, question_tokens: tuple[str, ...], documents,
                names: tuple[str, ...] = ()) -> Difference | None:
    """The first difference between the question and the top passages, for an abstention with no candidate answer
    (10月26日科技部党组会议由谁主持？ where the reader found nothing to quote: the notice says 10月24日)."""
    for hit in hits:
        document = documents.get(hit.passage.doc_id)
        difference = contradiction(question_normal, question_tokens, document, hit.passage.text, names) if document else None
        if difference is not None:
            return difference
    return None
