"""Train the answer selector for English questions: ``python -m rag.selector_train [--out models/answer_selector.json]``.

Data: the training paragraphs that `rag.reader.train --hold-out 10` and `rag.adapter_train --hold-out 10` leave out
(rag.reader.train.held_out: 1 paragraph in 10 of CMRC 2018 train and DRCD test, by a hash of its id), and their
questions written in English by hand (data/english_train.jsonl). The held-out paragraphs are indexed as the product
indexes a corpus (runs/selector/index, ignored by git), each English question is asked as the product asks it
(its hybrid retrieval, the reader reading the top passages), and every sentence the reader read becomes a candidate
(rag.answer.read_sentences). A sentence is right when it is in the question's own paragraph and holds the gold
answer (or where it starts). The selector (rag/selector.py) is a softmax over each question's candidates, fitted by
gradient descent with a little L2; it is scored by 5-fold cross-validation over paragraphs against the reader's own
order (the sentence around the best span, passages ranked by span score + W_RANK / (1 + rank)).

The CMRC trial set and the English dev set (tests/data/english_cmrc.jsonl) are never read here.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .selector import FEATURES, RERANK_FEATURES, SIMILARITY_SCALE, WEIGHTS, Selector, features, question_words

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TRAIN_FILES = ("cmrc2018_train.json", "DRCD_test.json")
NATURAL = ROOT / "data" / "english_train.jsonl"
WORK = ROOT / "runs" / "selector"
RERANK_TOP = 6  # candidates the rerank embeds: about 25 ms each on this machine
WEIGHTS_CHINESE = WORK / "answer_selector_zh.json"  # --chinese: fitted, not shipped (docs/answer_selector.md)


def held_out_set(every: int, data: Path = DATA, natural: Path = NATURAL, chinese: bool = False, held: bool = True):
    """(Documents of the held-out paragraphs, their questions: {question, doc_id, answer, start, id}): the ones written in
    English by hand, or (chinese) the data sets' own Chinese questions. held=False: every paragraph as a document, and
    the Chinese questions of the paragraphs that are not held out (what the reader trained on)."""
    from .reader.codeswitch import written_english
    from .reader.train import held_out, paragraph_key
    from .schema import Document

    english = {} if chinese else written_english(natural)
    documents, questions = [], []
    for name in TRAIN_FILES:
        for article in json.loads((data / name).read_text(encoding="utf-8"))["data"]:
            for p in article["paragraphs"]:
                qas = [qa for qa in p.get("qas", []) if qa.get("answers")]
                if not qas or held and not held_out(qas[0]["id"], every):
                    continue
                doc_id = paragraph_key(qas[0]["id"])
                qas = [qa for qa in qas if held_out(qa["id"], every) == held]  # a paragraph's questions are held out together
                raw = p["context"]
                context = raw.strip()
                shift = len(raw) - len(raw.lstrip())
                documents.append(Document(doc_id, doc_id, article.get("title") or context[:20], None, None, None, context,
                                          ((0, len(context)),), (None,), ()))
                for qa in qas:
                    if not (chinese or not held) and qa["id"] not in english:
                        continue
                    answer = qa["answers"][0]
                    text, start = answer["text"].strip(), answer["answer_start"] - shift
                    if context[start : start + len(text)] != text:
                        found = context.find(text)
                        start = found
                    if text and start >= 0:
                        questions.append({"id": qa["id"], "question": qa["question"] if chinese or not held else english[qa["id"]], "doc_id": doc_id,
                                          "answer": text, "start": start})
    return documents, questions


def pipeline_over(documents, folder: Path):
    """A Pipeline over the held-out paragraphs (indexed once into folder)."""
    from embeddings import load_embedder

    from .config import Settings
    from .index import build_index_from_documents
    from .pipeline import Pipeline

    settings = replace(Settings.from_env(), corpus=(), index_dir=folder)
    embedder = load_embedder(settings.embedder)
    if not (folder / "manifest.json").exists():
        build_index_from_documents(settings, embedder, documents, progress=False)
    return Pipeline.open(settings, embedder, build="never")


def collect(pipeline, reader, questions: list[dict], log=print) -> list[dict]:
    """Per question: its candidates' feature rows, which are right, and the reader's own choice (the baseline)."""
    from . import answer as A
    from .crosslingual import glossary_for
    from .query_adapter import retrieval_vector
    from .question import analyse
    from .selector import sentence_similarity

    index = pipeline.index
    glossary = glossary_for(index)
    out = []
    started = time.perf_counter()
    for n, item in enumerate(questions, start=1):
        q = analyse(item["question"])
        if q.latin and glossary.unknown_share(q.text) > A.UNKNOWN_CONCEPTS_ABOVE:
            continue  # the product abstains before reading
        vector = pipeline.embedder.encode_queries([q.normal])[0]
        hits = pipeline._retrieve(index, vector, q, max(pipeline.settings.top_k, 8))
        # an English question reads all four passages, as the product does; a Chinese one reads past the first two only
        # when neither is sure, as read_passages does
        candidates, texts, offsets, read = A.read_sentences(reader, index, q, hits, **({} if q.latin else {"enough": A.ENOUGH}))
        if not candidates:
            continue
        rows = features(candidates, texts, question_words(q, glossary))
        sims = None
        if q.latin:  # the rerank by e5 similarity is for English questions (about 25 ms a sentence)
            similarity = sentence_similarity(pipeline.embedder, retrieval_vector(vector, q, pipeline.settings.query_adapter))
            sims = similarity([texts[c.reading][slice(*c.sentence)] for c in candidates])
        right = []
        for c in candidates:
            doc = read[c.reading].passage.doc_id
            lo, hi = offsets[c.reading] + c.sentence[0], offsets[c.reading] + c.sentence[1]
            sentence = texts[c.reading][slice(*c.sentence)]
            right.append(doc == item["doc_id"] and (item["answer"] in sentence or lo <= item["start"] < hi))
        bests = [i for i, c in enumerate(candidates) if c.holds_best] or list(range(len(candidates)))
        baseline = max(bests, key=lambda i: A.rank_score(candidates[i].span_score, candidates[i].rank, candidates[i].name_missing))
        out.append({"id": item["id"], "doc_id": item["doc_id"], "rows": rows, "right": right, "baseline": baseline}
                   | ({"similarity": sims} if sims is not None else {}))
        if n % 100 == 0:
            log(f"{n}/{len(questions)} questions read in {time.perf_counter() - started:.0f} s")
    return out


def fit(items: list[dict], epochs: int = 300, lr: float = 0.05, l2: float = 1e-3, seed: int = 0, top: int = RERANK_TOP) -> Selector:
    """The first score over all of each question's candidates, then the rerank over the `top` it puts first."""
    first = _softmax_fit([(it["rows"], it["right"]) for it in items], len(FEATURES), epochs, lr, l2, seed)
    if top <= 0 or not all("similarity" in it for it in items):
        return Selector(first, 0.0)
    stage = Selector(first, 0.0)
    heads = [_head(stage, it, top) for it in items]
    second = _softmax_fit(heads, len(RERANK_FEATURES), epochs, lr, l2, seed)
    return Selector(first, 0.0, rerank=second, top=top)


def _head(stage: Selector, item: dict, top: int) -> tuple[list[list[float]], list[bool]]:
    """The rerank's rows (features and similarity) and rightness of the `top` candidates the first score puts first."""
    chosen = [i for i, _ in stage.order(item["rows"])[:top]]
    return [item["rows"][i] + [SIMILARITY_SCALE * item["similarity"][i]] for i in chosen], [item["right"][i] for i in chosen]


def _softmax_fit(groups: list[tuple[list[list[float]], list[bool]]], width: int, epochs: int, lr: float, l2: float,
                 seed: int) -> list[float]:
    """Linear weights maximising each group's probability (a softmax over its rows) of its right rows (full batch)."""
    import torch

    torch.manual_seed(seed)
    usable = [(rows, right) for rows, right in groups if any(right)]
    most = max(len(rows) for rows, _ in usable)
    x = torch.zeros((len(usable), most, width))
    present = torch.zeros((len(usable), most), dtype=torch.bool)
    right = torch.zeros((len(usable), most), dtype=torch.bool)
    for i, (rows, good) in enumerate(usable):
        x[i, : len(rows)] = torch.tensor(rows, dtype=torch.float32)
        present[i, : len(rows)] = True
        right[i, : len(good)] = torch.tensor(good)
    w = torch.zeros(width, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        logits = x @ w
        loss = (torch.logsumexp(logits.masked_fill(~present, -1e9), 1) - torch.logsumexp(logits.masked_fill(~right, -1e9), 1)).mean()
        (loss + l2 * (w ** 2).sum()).backward()
        opt.step()
    return [float(v) for v in w.detach()]


def choice(model: Selector, item: dict) -> int:
    """The candidate the selector puts first (its rerank reads the cached similarities)."""
    sims = item.get("similarity")
    return model.order(item["rows"], (lambda chosen: [sims[i] for i in chosen]) if sims is not None else None)[0][0]


def hit_rate(items: list[dict], choose) -> float:
    """The share of questions whose chosen candidate is right (all questions, right sentence read or not)."""
    return sum(it["right"][choose(it)] for it in items) / max(1, len(items))


def cross_validated(items: list[dict], folds: int = 5, **kw) -> dict:
    """Hit rate of the selector fitted on the other folds (folds by paragraph), against the reader's own choice."""
    def fold_of(doc_id: str) -> int:
        return int(hashlib.md5(doc_id.encode()).hexdigest(), 16) % folds

    chosen = first = 0
    for k in range(folds):
        train = [it for it in items if fold_of(it["doc_id"]) != k]
        test = [it for it in items if fold_of(it["doc_id"]) == k]
        model = fit(train, **kw)
        chosen += sum(it["right"][choice(model, it)] for it in test)
        first += sum(it["right"][int(np.argmax(model.scores(it["rows"])))] for it in test)
    n = max(1, len(items))
    return {"questions": len(items), "right_sentence_read": round(sum(any(it["right"]) for it in items) / n, 4),
            "reader_order": round(hit_rate(items, lambda it: it["baseline"]), 4),
            "selector_first_score_cross_validated": round(first / n, 4),
            "selector_cross_validated": round(chosen / n, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.selector_train", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help=f"default {WEIGHTS.name}, or {WEIGHTS_CHINESE.name} with --chinese")
    ap.add_argument("--chinese", action="store_true", help="the held-out paragraphs' own Chinese questions (no e5 rerank)")
    ap.add_argument("--hold-out", type=int, default=10, help="the paragraphs rag.reader.train --hold-out N left out")
    ap.add_argument("--reader", type=Path, default=None, help="the reader's weights (default: the shipped reader)")
    ap.add_argument("--limit", type=int, default=0, help="only this many questions (a smoke run)")
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=RERANK_TOP, help="candidates the rerank scores with e5 similarity (0: none)")
    args = ap.parse_args(argv)
    from .reader.runtime import WEIGHTS as READER, Reader

    args.out = args.out or (WEIGHTS_CHINESE if args.chinese else WEIGHTS)
    if args.chinese:
        args.top = 0
    documents, questions = held_out_set(args.hold_out, chinese=args.chinese)
    language = "Chinese" if args.chinese else "English"
    if args.limit:
        questions = random.Random(0).sample(questions, min(args.limit, len(questions)))
    print(f"{len(documents)} held-out paragraphs, {len(questions)} {language} questions over them", flush=True)
    pipeline = pipeline_over(documents, WORK / f"index-{args.hold_out}")
    reader_path = args.reader or READER
    digest = hashlib.sha256(Path(reader_path).read_bytes()).hexdigest()[:12]
    cache = WORK / f"candidates-{digest}-{len(questions)}-{'zh' if args.chinese else 'sim-deep'}.json"
    if cache.exists():
        items = json.loads(cache.read_text(encoding="utf-8"))
    else:
        reader = Reader.load(reader_path, threads=args.threads)
        items = collect(pipeline, reader, questions, log=lambda m: print(m, flush=True))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(items), encoding="utf-8")
    scores = cross_validated(items, l2=args.l2, top=args.top)
    print(json.dumps(scores), flush=True)
    model = fit(items, l2=args.l2, top=args.top)
    written = "CMRC 2018 train / DRCD test" if args.chinese else "hand-written English"
    model.meta = {"trained_on": f"{len(items)} {written} questions over the {len(documents)} held-out training "
                                f"paragraphs (1 in {args.hold_out})", "reader": Path(reader_path).name,
                  "reader_sha256": digest, "l2": args.l2, **scores}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{f} {w:+.2f}" for f, w in zip(FEATURES, model.weights)), flush=True)
    if model.rerank is not None:
        print(f"rerank of the first {model.top}: " + ", ".join(f"{f} {w:+.2f}" for f, w in zip(RERANK_FEATURES, model.rerank)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
