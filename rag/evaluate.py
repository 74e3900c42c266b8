"""Evaluation: a SQuAD-format file (its contexts become a temporary index) or a JSONL set against the corpus."""
from __future__ import annotations

import json
import os
import string
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from .config import Settings
from .schema import Document

_PUNCT = set(string.punctuation) | set("，。！？；：“”‘’（）《》【】、…—·「」『』〔〕,.!?;:'\"()[]{}<>《》 \u3000")


class BadEvalFile(Exception):
    """The evaluation file cannot be read; the message says why."""


def load_squad(path: Path) -> tuple[list[Document], list[dict]]:
    """Documents (one per context) and questions {question, answers, source} from a SQuAD-format file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadEvalFile(f"{path} is not a SQuAD-format JSON file ({exc.__class__.__name__})") from None
    documents, questions = [], []
    for article in articles:
        for number, paragraph in enumerate(article.get("paragraphs", []), start=1):
            context = paragraph["context"].strip()
            doc_id = paragraph.get("id") or f"{article.get('title', 'doc')}#{number}"
            documents.append(Document(doc_id, doc_id, article.get("title") or doc_id[:20], None, None, None, context, ((0, len(context)),), (None,), ()))
            for qa in paragraph.get("qas", []):
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                questions.append({"question": qa["question"], "answers": answers, "source": doc_id})
    return documents, questions


def load_qa(path: Path) -> list[dict]:
    """Questions {question, answers, source} from a JSONL file; an unanswerable one has no answers and no source."""
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadEvalFile(f"{path} cannot be read ({exc.__class__.__name__})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            questions.append({"question": item["question"], "answers": list(item.get("answers") or []), "source": item.get("source"), **{k: v for k, v in item.items() if k not in ("question", "answers", "source")}})
        except (json.JSONDecodeError, KeyError, TypeError):
            raise BadEvalFile(f"{path}:{number} is not a JSON object with a 'question'") from None
    return questions


def evaluate_squad(path: Path, settings: Settings, embedder=None, progress: bool = True) -> dict:
    """Build a temporary index from the file's contexts and evaluate its questions against it."""
    from .index import build_index_from_documents, drop_store
    from .pipeline import Pipeline

    documents, questions = load_squad(path)
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        # its own collection name in Milvus: the evaluation never moves the alias the app answers from
        settings = replace(settings, index_dir=Path(tmp) / "index", corpus=(), milvus_collection=f"{settings.milvus_collection}_eval{os.getpid()}")
        try:
            pipeline = Pipeline(settings, embedder)
            build_index_from_documents(settings, pipeline.embedder, documents, progress=progress)
            pipeline = Pipeline.open(settings, pipeline.embedder, build="never")
            return evaluate(pipeline, questions)
        finally:
            drop_store(settings)


def evaluate(pipeline, questions: list[dict], top_k: int = 5) -> dict:
    """Paragraph R@1/R@5, sentence hit@1/@3, short EM/F1, abstention, latency p50/p95."""
    rows = []
    for q in questions:
        response = pipeline.ask(q["question"], top_k=top_k)
        rows.append((q, response))
    return summarize(rows)


def summarize(rows) -> dict:
    answerable = [(q, r) for q, r in rows if q["answers"]]
    unanswerable = [(q, r) for q, r in rows if not q["answers"]]
    n = max(1, len(answerable))
    sourced = [(q, r) for q, r in answerable if q.get("source")]  # a correction from feedback names no paragraph
    n_sourced = max(1, len(sourced))

    def retrieved(r, k):
        seen = []
        for h in r.passages:
            if h.passage.doc_id not in seen:
                seen.append(h.passage.doc_id)
        return seen[:k]

    def sentence_hit(q, r, k):
        return any(any(gold in a.text for gold in q["answers"]) for a in r.answers[:k])

    shorts = [(q, (r.answers[0].short or "") if r.answers else "") for q, r in answerable]
    asked = [(q, s) for (q, s), (_, r) in zip(shorts, answerable) if _asks_short(q)]
    latencies = [r.latency_ms for _, r in rows]
    out = {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "paragraph_r1": round(sum(q["source"] in retrieved(r, 1) for q, r in sourced) / n_sourced, 4),
        "paragraph_r5": round(sum(q["source"] in retrieved(r, 5) for q, r in sourced) / n_sourced, 4),
        "sentence_hit1": round(sum(sentence_hit(q, r, 1) for q, r in answerable) / n, 4),
        "sentence_hit3": round(sum(sentence_hit(q, r, 3) for q, r in answerable) / n, 4),
        "short_em": round(sum(max(_em(s, g) for g in q["answers"]) for q, s in shorts) / n, 4),
        "short_f1": round(100 * sum(max(_f1(s, g) for g in q["answers"]) for q, s in shorts) / n, 2),
        "short_em_asked": round(sum(max(_em(s, g) for g in q["answers"]) for q, s in asked) / max(1, len(asked)), 4),
        "short_f1_asked": round(100 * sum(max(_f1(s, g) for g in q["answers"]) for q, s in asked) / max(1, len(asked)), 2),
        "short_asked": len(asked),
        "false_abstention": sum(not r.answered for _, r in answerable),
        "abstention_rate_answerable": round(sum(not r.answered for _, r in answerable) / n, 4),
        "abstained_unanswerable": sum(not r.answered for _, r in unanswerable),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else 0.0,
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else 0.0,
    }
    return out


def _asks_short(q: dict) -> bool:
    from .spans import question_kind

    return question_kind(q["question"]) is not None


def _chars(text: str) -> list[str]:
    return [c for c in text.lower() if c not in _PUNCT and not c.isspace()]


def _em(prediction: str, gold: str) -> float:
    return float(_chars(prediction) == _chars(gold) and bool(_chars(gold)))


def _f1(prediction: str, gold: str) -> float:
    """CMRC-style F1: characters of the longest common substring against both lengths."""
    p, g = _chars(prediction), _chars(gold)
    if not p or not g:
        return 0.0
    longest = _lcs(p, g)
    if longest == 0:
        return 0.0
    precision, recall = longest / len(p), longest / len(g)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    best = 0
    row = [0] * (len(b) + 1)
    for x in a:
        previous = 0
        for j, y in enumerate(b, start=1):
            current = row[j]
            row[j] = previous + 1 if x == y else 0
            best = max(best, row[j])
            previous = current
    return best


# ---------------------------------------------------------------- conversations (tests/data/conversations.jsonl)


def ask_in_turns(pipeline, turns: list[str]):
    """Ask each turn with the earlier ones (and the product's own answers to them) as history; the last Response."""
    history: list[dict] = []
    for question in turns[:-1]:
        response = pipeline.ask(question, history=history)
        first = response.answers[0] if response.answered and response.answers else None
        history.append({"question": question, "answer": (first.short or first.text) if first else "",
                        "quote": first.text if first else "", "read_as": response.read_as or question})
    return pipeline.ask(turns[-1], history=history)


def conversation_right(item: dict, response) -> bool:
    """The last turn is right: abstained where the documents don't say, else the cited document and a short answer
    (F1 ≥ 0.8 against one of the gold answers)."""
    if not item["answers"]:
        return not response.answered
    if not response.answered or not response.answers:
        return False
    first = response.answers[0]
    if item.get("source") and first.citation.doc_id != item["source"]:
        return False
    return max(_f1(first.short or "", gold) for gold in item["answers"]) >= 0.8


def evaluate_conversations(pipeline, items: list[dict]) -> dict:
    """The share of conversations whose last turn is right, and the ones that are not (for reading)."""
    wrong = []
    for item in items:
        response = ask_in_turns(pipeline, item["turns"])
        if not conversation_right(item, response):
            first = response.answers[0] if response.answers else None
            wrong.append({"turns": item["turns"], "read_as": response.read_as, "expected": item["answers"],
                          "short": first.short if first else None, "doc": first.citation.doc_id if first else None})
    return {"conversations": len(items), "right": len(items) - len(wrong), "share": round(1 - len(wrong) / max(1, len(items)), 4),
            "wrong": wrong}
