"""Conversations: `python -m benchmarks.conversation` (~2 min on the seeds).

Over tests/data/conversations.jsonl (multi-turn conversations over the seeds: pronouns, definite references,
ellipsis, list continuations, English, traditional, questions that must not be rewritten) it reports, side by side
in one run, the share of conversations whose last turn is right, by kind, with the follow-up read from the
conversation (rag/conversation.py) and without it (each last question asked alone, as before); and what reading
a follow-up costs: the time of conversation.read (p50/p95 over every last turn, 5 passes) beside ask's p50.
Writes benchmarks/conversation.json and the section "Conversations" of benchmarks/results.md.
"""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict

from rag import conversation
from rag.evaluate import ask_in_turns, conversation_right
from rag.spans import tagged_words

from .machine import ROOT, log, machine_facts, percentiles, ratio
from .corpora import set_pipeline
from .report import replace_section

CONVERSATIONS = ROOT / "tests" / "data" / "conversations.jsonl"
OUT = ROOT / "benchmarks" / "conversation.json"
RESULTS = ROOT / "benchmarks" / "results.md"
BEGIN, END = "<!-- conversation-bench:begin -->", "<!-- conversation-bench:end -->"
PASSES = 5


def main(argv: list[str] | None = None) -> int:
    items = [json.loads(line) for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    _, pipeline = set_pipeline("seeds")
    pipeline.reader  # noqa: B018 - wait for the reader before timing
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # right in turns, right alone, count
    histories, ask_ms = [], []
    for item in items:
        log(f"conversation: {item['turns'][-1]}")
        started = time.perf_counter()
        response = ask_in_turns(pipeline, item["turns"])
        ask_ms.append((time.perf_counter() - started) * 1000 / len(item["turns"]))
        alone = pipeline.ask(item["turns"][-1])
        kind = item["kind"].split("-")[0]
        counts = by_kind[kind]
        counts[0] += conversation_right(item, response)
        counts[1] += conversation_right(item, alone)
        counts[2] += 1
        histories.append((item["turns"][-1], _history(pipeline, item["turns"][:-1])))
    cold_ms, read_ms = [], []
    for question, history in histories:  # cold: jieba's tags of these texts forgotten first, as for a new question
        tagged_words.cache_clear()
        started = time.perf_counter()
        conversation.read(question, history)
        cold_ms.append((time.perf_counter() - started) * 1000)
    for _ in range(PASSES):
        for question, history in histories:
            started = time.perf_counter()
            conversation.read(question, history)
            read_ms.append((time.perf_counter() - started) * 1000)
    total = [sum(v[i] for v in by_kind.values()) for i in range(3)]
    out = {
        "machine": machine_facts(),
        "conversations": total[2],
        "right_in_turns": total[0],
        "right_alone": total[1],
        "by_kind": {k: {"right_in_turns": v[0], "right_alone": v[1], "conversations": v[2]} for k, v in sorted(by_kind.items())},
        "read_ms": percentiles(read_ms, 50, 95),
        "read_cold_ms": percentiles(cold_ms, 50, 95),
        "ask_ms_per_turn": percentiles(ask_ms, 50, 95),
    }
    out["read_share_of_ask_p50"] = ratio(out["read_cold_ms"]["p50"], out["ask_ms_per_turn"]["p50"], 4)
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_section(out)
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, ensure_ascii=False, indent=1))
    return 0


def _history(pipeline, turns: list[str]) -> list[dict]:
    """The earlier turns with the product's own answers, as the chat keeps them."""
    history: list[dict] = []
    for question in turns:
        response = pipeline.ask(question, history=history)
        first = response.answers[0] if response.answers else None
        history.append({"question": question, "answer": (first.short or first.text) if first else "",
                        "quote": first.text if first else "", "read_as": response.read_as or question})
    return history


def write_section(out: dict) -> None:
    rows = [f"| {kind} | {v['conversations']} | {v['right_in_turns']} | {v['right_alone']} |" for kind, v in out["by_kind"].items()]
    text = "\n".join([
        BEGIN,
        "## Conversations",
        "",
        f"`python -m benchmarks.conversation`, {out['machine']['date']}. tests/data/conversations.jsonl: {out['conversations']} "
        "conversations of two to four turns over the seeds. The last turn is right when it cites the gold document with a "
        "short answer of F1 ≥ 0.8 against the gold, or abstains where the documents don't say. `in turns`: each turn asked "
        "with the earlier ones and the product's own answers to them (rag/conversation.py reads the follow-up); `alone`: "
        "the last question asked on its own.",
        "",
        "| kind | conversations | right in turns | right alone |",
        "|---|---|---|---|",
        *rows,
        f"| **all** | {out['conversations']} | **{out['right_in_turns']}** ({out['right_in_turns'] / out['conversations']:.0%}) | "
        f"{out['right_alone']} ({out['right_alone'] / out['conversations']:.0%}) |",
        "",
        f"Reading a follow-up (conversation.read over every last turn): cold (jieba's tags of the texts not yet cached) p50 "
        f"{out['read_cold_ms']['p50']} ms, p95 {out['read_cold_ms']['p95']} ms; warm ({PASSES} more passes) p50 {out['read_ms']['p50']} ms, "
        f"p95 {out['read_ms']['p95']} ms; against ask's p50 of {out['ask_ms_per_turn']['p50']} ms a turn "
        f"(cold p50 {out['read_share_of_ask_p50']:.1%} of it).",
        END,
    ])
    replace_section(RESULTS, BEGIN, END, text)


if __name__ == "__main__":
    sys.exit(main())
