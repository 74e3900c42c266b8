"""A conversation, not separate questions: follow-ups read from the last answer and question (rag/conversation.py),
the `read_as` the reply carries, and the multi-turn set in tests/data/conversations.jsonl."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.conversation import Turn, read
from rag.evaluate import ask_in_turns, conversation_right, evaluate_conversations

ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS = [json.loads(line) for line in (ROOT / "tests" / "data" / "conversations.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
NINGXIA = "002_0676de67ad7a5ad1.txt"
CHAIRED = Turn("宁夏科协党组扩大会议由谁主持？", "陈红缨", "自治区科协党组书记、主席陈红缨主持会议,各党组成员作交流发言。")


@pytest.mark.parametrize("typed, history, read_as", [
    ("他是什么职务？", [CHAIRED], "陈红缨是什么职务？"),  # the person is only in the previous answer
    ("她担任什么职务？", [Turn("宁夏科协党组扩大会议由谁主持？", "陈红缨")], "陈红缨担任什么职务？"),
    ("该会议是哪天召开的？", [CHAIRED], "宁夏科协党组扩大会议是哪天召开的？"),
    ("該會議是哪天召開的？", [Turn("寧夏科協黨組擴大會議由誰主持？", "陈红缨")], "寧夏科協黨組擴大會議是哪天召開的？"),
    ("这份文件的文号是什么？", [Turn("重庆市科协实施意见要求加快修订哪部条例？", "《重庆市科学技术协会条例》")], "重庆市科协实施意见的文号是什么？"),
    ("那次调研是哪天？", [Turn("怀进鹏在西宁调研时，哪位青海省副省长共同调研？", "张黎")], "怀进鹏在西宁调研是哪天？"),
    ("那2022年呢？", [Turn("2021年全国科技管理系统党建工作交流座谈会由谁主持？", "李萌")], "2022年全国科技管理系统党建工作交流座谈会由谁主持？"),
    ("谁主持的？", [Turn("科技部党组会议是哪天召开的？", "10月24日")], "科技部党组会议谁主持的？"),
    ("What is his position?", [Turn("Who chaired the Party group meeting of the Ministry of Science and Technology?", "王志刚")],
     "What is 王志刚's position?"),
    ("When was the meeting held?", [Turn("Who chaired the enlarged Party group meeting of the Ningxia science association?", "陈红缨")],
     "When was the enlarged Party group meeting of the Ningxia science association held?"),
    ("What about Chongqing?", [Turn("When did the Ningxia science association hold its enlarged Party group meeting?", "10月25日")],
     "When did the Chongqing science association hold its enlarged Party group meeting?"),
])
def test_a_follow_up_is_read_from_the_last_answer_and_question(typed, history, read_as):
    reading = read(typed, history)
    assert reading.rewritten and reading.text == read_as


@pytest.mark.parametrize("typed", [
    "科技部党组会议是哪天召开的？",  # names its own subject
    "王志刚说他要做什么？",  # 他 points at the name in the question itself
    "其他单位有哪些？",  # 其他 is not 其
    "明天天气怎么样？",
    "红烧肉怎么做？",
    "What is the population of Tokyo?",
])
def test_a_question_that_stands_on_its_own_is_never_rewritten(typed):
    assert read(typed, [CHAIRED]) .text == typed and not read(typed, [CHAIRED]).rewritten


def test_who_else_asks_the_last_question_again_for_an_answer_not_given_yet():
    reading = read("还有谁？", [Turn("怀进鹏在西宁调研时，哪位青海省副省长共同调研？", "张黎", "青海省委常委、总工会主席马吉孝,青海省副省长张黎共同调研。")])
    assert reading.next_answer and reading.text == "怀进鹏在西宁调研时，哪位青海省副省长共同调研？" and reading.exclude == ("张黎",)
    assert read("Who else?", [Turn("Who accompanied Huai Jinpeng?", "张黎")]).next_answer


def test_the_pronoun_conversation_answers_the_title_citing_the_ningxia_notice(pipeline):
    first = pipeline.ask("宁夏科协党组扩大会议由谁主持？")
    assert first.answers[0].short == "陈红缨" and first.read_as == "宁夏科协党组扩大会议由谁主持？"
    follow = pipeline.ask("他是什么职务？", history=[{"question": "宁夏科协党组扩大会议由谁主持？", "answer": "陈红缨"}])
    answer = follow.answers[0]
    assert follow.question == "他是什么职务？" and follow.read_as == "陈红缨是什么职务？"
    assert answer.short == "自治区科协党组书记、主席"
    assert answer.citation.doc_id == NINGXIA and answer.citation.paragraph == 2


def test_who_else_gives_the_other_person_of_the_same_sentence(pipeline):
    question = "怀进鹏在西宁调研时，哪位青海省副省长共同调研？"
    first = pipeline.ask(question).answers[0]
    assert first.short == "张黎"
    again = pipeline.ask("还有谁？", history=[{"question": question, "answer": first.short, "quote": first.text}])
    assert again.answers[0].short == "马吉孝" and again.read_as == question
    third = pipeline.ask("还有谁？", history=[{"question": question, "answer": "张黎"}, {"question": "还有谁？", "answer": "马吉孝", "read_as": question}])
    assert all(a.short not in ("张黎", "马吉孝") for a in third.answers)


def test_a_follow_up_about_a_place_the_documents_do_not_cover_abstains(pipeline):
    response = ask_in_turns(pipeline, ["宁夏科协党组扩大会议由谁主持？", "那重庆呢？"])
    assert response.read_as == "重庆科协党组扩大会议由谁主持？" and not response.answered


def test_the_multi_turn_set_is_answered_right_in_nine_of_ten_conversations(pipeline):
    kinds = {item["kind"].split("-")[0] for item in CONVERSATIONS}
    assert len(CONVERSATIONS) >= 40 and {"pronoun", "definite", "ellipsis", "list", "english", "traditional", "standalone"} <= kinds
    result = evaluate_conversations(pipeline, CONVERSATIONS)
    assert result["share"] >= 0.9, json.dumps(result["wrong"], ensure_ascii=False, indent=1)


@pytest.mark.parametrize("item", [c for c in CONVERSATIONS if c.get("read_as")], ids=lambda c: c["turns"][-1])
def test_the_last_turn_is_read_as_written_in_the_set(pipeline, item):
    response = ask_in_turns(pipeline, item["turns"])
    assert response.read_as == item["read_as"]
    assert conversation_right(item, response)


def test_ask_json_reads_a_conversation_object_per_line_and_replies_with_read_as(seed_settings, pipeline):
    lines = [
        json.dumps({"question": "他是什么职务？", "history": [{"question": "宁夏科协党组扩大会议由谁主持？", "answer": "陈红缨"}]}, ensure_ascii=False),
        "科技部党组会议是哪天召开的？",
        json.dumps({"history": []}),
    ]
    done = subprocess.run([sys.executable, "-m", "rag", "ask", "--json", "--index", str(seed_settings.index_dir)],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert replies[0]["question"] == "他是什么职务？" and replies[0]["read_as"] == "陈红缨是什么职务？"
    assert replies[0]["answers"][0]["short"] == "自治区科协党组书记、主席"
    assert replies[1]["read_as"] == replies[1]["question"] and replies[1]["answers"][0]["short"] == "10月24日"
    assert replies[2]["answered"] is False and '"question"' in replies[2]["notice"]
    assert "Traceback" not in done.stderr
