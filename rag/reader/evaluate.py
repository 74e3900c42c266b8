"""Score the reader given the gold paragraph (CMRC-style character F1 and EM)."""
from __future__ import annotations

import json
from pathlib import Path

from .features import question_tokens, tidy_span, windows
from .model import ReaderModel
from .tokenizer import E5Tokenizer

MAX_LEN = 256
STRIDE = 128


def read_passage(model: ReaderModel, tok: E5Tokenizer, question: str, passage: str,
                 max_len: int = MAX_LEN, stride: int = STRIDE):
    """The best span over all windows of one passage."""
    qids = question_tokens(tok, question)
    spans = [s for s in model.read(windows(tok, qids, tok.encode(passage), max_len, stride), tok.pad) if s]
    return max(spans, key=lambda s: s.score, default=None)


def evaluate_gold(model: ReaderModel, tok: E5Tokenizer, path: Path, limit: int = 0) -> dict:
    """F1/EM (0-100) over the first `limit` questions (all when 0), each read with its own paragraph."""
    from ..evaluate import _em, _f1

    f1 = em = 0.0
    n = 0
    for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                if limit and n >= limit:
                    break
                span = read_passage(model, tok, qa["question"], p["context"])
                pred = p["context"][slice(*tidy_span(p["context"], span.start, span.end))] if span else ""
                golds = [a["text"] for a in qa["answers"]]
                f1 += max(_f1(pred, g) for g in golds)
                em += max(_em(pred, g) for g in golds)
                n += 1
    return {"f1": round(100 * f1 / max(n, 1), 2), "em": round(100 * em / max(n, 1), 2), "n": n}
