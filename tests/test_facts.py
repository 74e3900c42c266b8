"""rag/facts.py: a question's year, ordinal, congress or organisation against the document it would be answered from."""
from __future__ import annotations

import pytest

from rag.facts import contradiction
from rag.question import analyse
from rag.schema import Document

TITLE = "中国科协召开党组理论学习中心组第六次集体学习扩大会议"
TEXT = ("2021年7月16日，中国科协党组理论学习中心组举行第六次集体学习扩大会议，学习贯彻习近平总书记“七一”重要讲话精神。"
        "会议由中国科协党组书记主持。\n\n会议指出，党的十九大以来，科协系统取得了新进展。"
        "中国共产党第二十次全国代表大会将于明年召开。第三届理事会第二次会议也已部署。")


def notice(title: str = TITLE, text: str = TEXT) -> Document:
    return Document(doc_id="notice.txt", source="notice.txt", title=title, date="2021-07-16", org=None, doc_number=None,
                    text=text, paragraphs=((0, len(text)),))


def differs(question: str, quote: str = "") -> str | None:
    q = analyse(question)
    found = contradiction(q.normal, q.tokens, notice(), quote)
    return found and found.message()


@pytest.mark.parametrize("question, said", [
    ("2020年中国科协党组理论学习中心组集体学习扩大会议是哪天召开的？", "文档中说的是2021年，不是2020年"),
    ("中国科协党组理论学习中心组第七次集体学习扩大会议是哪天召开的？", "文档中说的是第六次，不是第七次"),
    ("中國科協黨組理論學習中心組第八次集體學習擴大會議由誰主持？", "文档中说的是第六次，不是第八次"),  # traditional script
    ("教育部党组理论学习中心组学习扩大会议是哪天召开的？", "文档中没有提到教育部"),
])
def test_a_fact_the_document_states_otherwise_is_named_with_what_it_says_instead(question, said):
    assert said in (differs(question) or "")


def test_the_congress_the_quoted_sentence_names_decides_not_another_one_the_document_mentions():
    quote = "中国共产党第二十次全国代表大会将于明年召开。"
    assert "文档中说的是二十大，不是十九大" in differs("党的十九大什么时候召开？", quote)
    assert differs("党的二十大什么时候召开？", quote) is None


@pytest.mark.parametrize("question", [
    "2021年中国科协党组理论学习中心组第六次集体学习扩大会议是哪天召开的？",  # every fact as the document states it
    "中国科协党组第六次集体学习扩大会议由谁主持？",
    "第三届理事会第二次会议部署了什么？",  # 第二次 of the council, not of the study session
    "中国科协的全部工作有哪些？",  # 全部 is not an organisation
    "会议在哪一年召开？",  # no fact stated at all
])
def test_a_question_whose_facts_the_document_states_is_not_refused(question):
    assert differs(question) is None


def test_a_person_the_document_never_names_is_a_difference_even_when_jieba_splits_the_name():
    # 李巨峰 asked, the document is about 蒋巨峰: jieba splits 李 / 巨峰, and 巨峰 alone is in the document
    document = Document(doc_id="bio.txt", source="bio.txt", title="蒋巨峰", date=None, org=None, doc_number=None,
                        text="蒋巨峰，浙江诸暨人。1984年6月至1985年1月任中共浙江省诸暨县委宣传部副部长。", paragraphs=((0, 40),))
    q = analyse("1984年6月至1985年1月，李巨峰担任什么职务？")
    assert "李巨峰" in q.names
    found = contradiction(q.normal, q.tokens, document, "", q.names)
    assert found is not None and "文档中没有提到李巨峰" in found.message()
    same = analyse("1984年6月至1985年1月，蒋巨峰担任什么职务？")
    assert contradiction(same.normal, same.tokens, document, "", same.names) is None


@pytest.mark.parametrize("question, said", [
    ("7月18日中国科协党组理论学习中心组集体学习扩大会议由谁主持？", "文档中说的是7月16日，不是7月18日"),  # a changed day
    ("中国科协党组副书记主持了哪次集体学习？", "文档中说的是书记，不是副书记"),  # 副书记 asked, only the 书记 written
])
def test_a_changed_day_or_a_deputy_the_document_never_names_is_a_difference(question, said):
    assert said in (differs(question) or "")


ANNIVERSARY = Document(doc_id="a.txt", source="a.txt", title="纪念建会60周年暨十九届六中全会精神学习会", date="2018-10-24",
                       org=None, doc_number=None, text="会议学习了十九届六中全会精神，纪念建会60周年。",
                       paragraphs=((0, 24),))


@pytest.mark.parametrize("question, said", [
    ("纪念建会70周年的学习会在哪天召开？", "文档中说的是60周年，不是70周年"),
    ("会议学习了十九届五中全会的什么精神？", "文档中说的是六中全会，不是五中全会"),
    ("会议学习了二十届六中全会的什么精神？", "文档中说的是十九届，不是二十届"),
])
def test_a_changed_anniversary_plenum_or_term_is_named(question, said):
    q = analyse(question)
    found = contradiction(q.normal, q.tokens, ANNIVERSARY, "")
    assert found is not None and said in found.message()


@pytest.mark.parametrize("question", [
    "10月24日的学习会学习了什么精神？",  # the day only the document's date gives
    "纪念建会60周年的学习会学习了十九届六中全会的什么？",
])
def test_a_day_anniversary_or_plenum_as_the_document_states_it_is_not_refused(question):
    q = analyse(question)
    assert contradiction(q.normal, q.tokens, ANNIVERSARY, "") is None
