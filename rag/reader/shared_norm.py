"""Fine-tune the reader's top layers with shared normalisation over the product's own retrieval (CPU).

``python -m rag.reader.shared_norm collect train|trial`` then ``python -m rag.reader.shared_norm train``.

The shipped reader was trained one window at a time, so a span score says how good a span is inside its own window,
not whether it beats the spans of the other passages read for the same question; the product compares exactly that
(rag/answer.py: read_passages). Here each training question is asked as the product asks it: its hybrid retrieval
over the whole training corpus (CMRC 2018 train and DRCD test, indexed as a user's corpus in runs/shared_norm/index),
the top READ_TOP passages read as read_passages reads them (the document's text around each, the title before it).
The start and end logits of all windows of all those passages share one softmax (Clark & Gardner 2018, "Simple and
Effective Multi-Paragraph Reading Comprehension": shared normalisation), beside each window's own loss with its
"not here" option and the answerability head, so that a distractor passage's confident span is pushed under the
gold passage's. The network below layer FIRST is frozen: its output for every window is computed once (bfloat16)
and kept, so that a CPU epoch costs only the top layers. Validation is the same reading of CMRC trial (never trained
on): how often the product's choice of span (span score + W_RANK / (1 + rank)) lies in the answer's sentence.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "runs" / "shared_norm"
FIRST = 10  # layers below this are frozen (their output cached); 10 and 11 and the heads train


def training_set(every: int = 10):
    """(Documents of every training paragraph, the questions of those the reader trained on): held_out paragraphs
    (1 in `every`) are indexed, so retrieval meets them as distractors, but their questions stay out."""
    from ..selector_train import held_out_set

    return held_out_set(every, held=False)


def read_windows(reader, pipeline, question: str):
    """What the product reads for a question: (windows, the passage of each, texts read, their document offsets, hits)."""
    from .. import answer as A
    from ..question import analyse
    from ..text import in_script_of
    from .runtime import MAX_LEN, STRIDE

    index = pipeline.index
    q = analyse(question)
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    hits = pipeline._retrieve(index, vector, q, 8)[: A.READ_TOP]
    around = [A.surroundings(index, h.passage) for h in hits]
    texts = [index.store.documents[h.passage.doc_id].text[lo:hi] for h, (lo, hi) in zip(hits, around)]
    contexts = [h.passage.context for h in hits] if A.READ_CONTEXT else None
    batch, owner, moved = reader._windows(in_script_of(q.text, texts[0]) if texts else q.text, texts, MAX_LEN, STRIDE,
                                          contexts, None)
    return batch, owner, moved, texts, [lo for lo, _ in around], hits


def gold_tokens(window, shift: int, start: int, end: int) -> tuple[int, int] | None:
    """The window's token positions (in ids) of the answer at characters [start, end) of the text read, if it holds it."""
    inside = [k for k, (a, b) in enumerate(window.offsets) if b > shift + start and a < shift + end and b > a]
    if not inside or window.offsets[inside[0]][0] > shift + start or window.offsets[inside[-1]][1] < shift + end:
        return None
    return window.context_from + inside[0], window.context_from + inside[-1]


@torch.no_grad()
def lower_states(reader, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of layer FIRST for each window (bfloat16, padded) and the attention mask."""
    from .network import attention_bias

    net = reader.model.net.e5
    n = max(len(w.ids) for w in batch)
    ids = torch.full((len(batch), n), reader.tokenizer.pad, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, w in enumerate(batch):
        ids[i, : len(w.ids)] = torch.tensor(w.ids)
        mask[i, : len(w.ids)] = 1
    dtype = net.layers[0].q.weight.dtype
    x = net.embed(ids).to(dtype)
    bias = attention_bias(mask, dtype)
    for layer in net.layers[:FIRST]:
        x = layer(x, bias)
    return x.to(torch.bfloat16), mask.to(torch.bool)


def collect(which: str, limit: int, seed: int, out: Path, log=print, part: tuple[int, int] = (0, 1)) -> None:
    """Cache the product's reading of `limit` questions of the training set (or all of CMRC trial) in out/which.pt;
    part (k, n): only every n-th of them from the k-th, into out/which-k.pt (n processes, one core each)."""
    from ..text import sentence_spans
    from .runtime import Reader

    torch.set_num_threads(1)
    reader = Reader.load()
    if which == "train":
        from ..selector_train import pipeline_over

        documents, questions = training_set()
        pipeline = pipeline_over(documents, out / "index")
        questions = random.Random(seed).sample(questions, min(limit, len(questions))) if limit else questions
        items = [{"question": q["question"], "doc_id": q["doc_id"], "answers": [q["answer"]], "start": q["start"]}
                 for q in questions][part[0] :: part[1]]
    else:
        import sys

        sys.path.insert(0, str(ROOT))
        from benchmarks.corpora import set_pipeline

        eval_set, pipeline = set_pipeline("cmrc")
        source = {d.source: d.doc_id for d in pipeline.index.store.documents.values()}
        items = [{"question": q["question"], "doc_id": source.get(q["source"]), "answers": q["answers"], "start": None}
                 for q in eval_set.questions[: limit or None]]
    groups, started = [], time.perf_counter()
    for n, item in enumerate(items, start=1):
        batch, owner, moved, texts, offsets, hits = read_windows(reader, pipeline, item["question"])
        if not batch:
            continue
        golds, sentences = [], []
        for w, i in zip(batch, owner):
            text, found = texts[i], None
            if hits[i].passage.doc_id == item["doc_id"]:
                if item["start"] is not None and offsets[i] <= item["start"] < offsets[i] + len(text):
                    at = item["start"] - offsets[i]
                    found = gold_tokens(w, moved[i], at, at + len(item["answers"][0]))
                else:
                    for answer in item["answers"]:
                        at = text.find(answer)
                        if at >= 0:
                            found = gold_tokens(w, moved[i], at, at + len(answer))
                            if found:
                                break
            golds.append(found or (0, 0))
        for i, text in enumerate(texts):  # the sentences of each text read that hold an answer (the validation's hit)
            sentences.append([(a, b) for a, b in sentence_spans(text) if hits[i].passage.doc_id == item["doc_id"]
                              and any(answer in text[a:b] for answer in item["answers"])])
        x, mask = lower_states(reader, batch)
        groups.append({"x": x, "mask": mask, "context_from": [w.context_from for w in batch],
                       "first_char": [w.first_char for w in batch], "offsets": [w.offsets for w in batch],
                       "owner": owner, "moved": [moved[i] for i in owner], "gold": golds, "sentences": sentences,
                       "ranks": list(range(len(texts)))})
        if n % 100 == 0:
            log(f"{which}: {n}/{len(items)} questions in {time.perf_counter() - started:.0f} s")
    name = f"{which}-{part[0]}.pt" if part[1] > 1 else f"{which}.pt"
    torch.save(groups, out / name)
    log(f"{which}: {len(groups)} questions, {sum(len(g['owner']) for g in groups)} windows -> {out / name}")


def upper(net, x: torch.Tensor, mask: torch.Tensor):
    """Start, end and answerability logits from the cached input of layer FIRST (float32 layers)."""
    from .network import attention_bias

    bias = attention_bias(mask.long(), torch.float32)
    h = x.float()
    for layer in net.e5.layers[FIRST:]:
        h = layer(h, bias)
    logits = net.span(h)
    return logits[..., 0], logits[..., 1], net.answerable(h[:, 0]).squeeze(-1)


def allowed_of(group, t: int) -> torch.Tensor:
    """[windows, t]: the tokens a span may start or end on (the passage's, not the question's or the title's)."""
    allowed = torch.zeros((len(group["owner"]), t), dtype=torch.bool)
    for k, (c, offs, first) in enumerate(zip(group["context_from"], group["offsets"], group["first_char"])):
        for j, (a, b) in enumerate(offs):
            if b > a and a >= first:
                allowed[k, c + j] = True
    return allowed


def loss_of(net, group, shared_weight: float) -> torch.Tensor:
    """Each window's loss as the reader trained (start / end over "not here" and the passage, answerability), plus the
    shared-normalisation loss over all windows' passage tokens when one holds the answer."""
    s, e, a = upper(net, group["x"], group["mask"])
    allowed = allowed_of(group, s.shape[1])
    neg = torch.finfo(s.dtype).min
    own = allowed.clone()
    own[:, 0] = True
    starts = torch.tensor([g[0] for g in group["gold"]])
    ends = torch.tensor([g[1] for g in group["gold"]])
    loss = (F.cross_entropy(s.masked_fill(~own, neg), starts) + F.cross_entropy(e.masked_fill(~own, neg), ends)) / 2 \
        + F.binary_cross_entropy_with_logits(a, (starts > 0).float())
    if shared_weight and bool((starts > 0).any()):
        flat_s, flat_e = s.masked_fill(~allowed, neg).reshape(-1), e.masked_fill(~allowed, neg).reshape(-1)
        t = s.shape[1]
        gold = [(k, int(g[0]), int(g[1])) for k, g in enumerate(group["gold"]) if g[0] > 0]
        gs = torch.tensor([k * t + i for k, i, _ in gold])
        ge = torch.tensor([k * t + j for k, _, j in gold])
        shared = (torch.logsumexp(flat_s, 0) - torch.logsumexp(flat_s[gs], 0)
                  + torch.logsumexp(flat_e, 0) - torch.logsumexp(flat_e[ge], 0)) / 2
        loss = loss + shared_weight * shared
    return loss


@torch.no_grad()
def validate(net, groups, w_rank: float = 1.0, max_span: int = 64) -> dict:
    """On cached readings: how often the product's chosen span (best span of each passage by span score; passages by
    span score + w_rank / (1 + rank)) lies in a sentence that holds the answer, and whether the gold passage was read."""
    from .features import Window
    from .model import best_span

    hit = reachable = 0
    for g in groups:
        s, e, a = upper(net, g["x"], g["mask"])
        prob = torch.sigmoid(a)
        best = None
        for k in range(len(g["owner"])):
            w = Window([0] * int(g["mask"][k].sum()), g["context_from"][k], g["offsets"][k], g["first_char"][k])
            span = best_span(w, s[k].numpy(), e[k].numpy(), float(prob[k]), max_span)
            if span is None:
                continue
            i = g["owner"][k]
            score = span.score + w_rank / (1 + i)
            if best is None or score > best[0]:
                best = (score, i, span.start - g["moved"][k], span.end - g["moved"][k])
        if any(g["sentences"]):
            reachable += 1
        if best is not None:
            _, i, a0, b0 = best
            hit += any(lo <= a0 < hi for lo, hi in g["sentences"][i])
    return {"hit": round(hit / max(len(groups), 1), 4), "reachable": round(reachable / max(len(groups), 1), 4),
            "n": len(groups)}


def shipped(model, path: Path, meta: dict) -> None:
    """The whole trained part (all layers and heads), as the shipped reader is stored: layer matrices as int8 rows."""
    from safetensors.torch import save_file

    from .model import _is_trained, int8_rows

    tensors = {k: v.detach() for k, v in model.net.state_dict().items() if _is_trained(k, 0)}
    save_file({k: v.contiguous() for k, v in int8_rows(tensors).items()}, str(path),
              metadata={"first_trained": "0", "meta": json.dumps(meta, ensure_ascii=False)})


def train(args, log=print) -> None:
    from .model import ReaderModel
    from .runtime import WEIGHTS
    from .train import optimiser_step
    from .weights import load_e5

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    run = args.out / args.run
    run.mkdir(parents=True, exist_ok=True)
    model = ReaderModel.load(load_e5(word_table="q4"), Path(args.init or WEIGHTS))
    net = model.net
    trained = [p for n, p in net.named_parameters() if n.startswith(("span", "answerable"))
               or any(n.startswith(f"e5.layers.{i}.") for i in range(args.first, 12))]
    for p in trained:
        p.requires_grad = True
    for layer in net.e5.layers[FIRST:args.first]:  # cached below FIRST; between FIRST and args.first frozen
        for p in layer.parameters():
            p.requires_grad = False
    heads = [p for n, p in net.named_parameters() if n.startswith(("span", "answerable"))]
    body = [p for p in trained if all(p is not h for h in heads)]
    groups = [g for path in sorted(args.out.glob("train*.pt")) for g in torch.load(path, weights_only=False)]
    log(f"{len(groups)} training questions, {sum(len(g['owner']) for g in groups)} windows")
    trial = torch.load(args.out / "trial.pt", weights_only=False)
    trial = trial[: args.val or None]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.head_lr}], weight_decay=0.01)
    steps = int(len(groups) * args.epochs / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30) * max(0.0, 1 - s / max(1, steps)))
    net.eval()
    best = validate(net, trial)
    log(f"start (the shipped reader): {json.dumps(best)}")
    best["step"] = 0
    rng = random.Random(args.seed)
    order: list[int] = []
    step, losses, t0 = 0, [], time.perf_counter()
    while step < steps:
        if len(order) < args.batch:
            more = list(range(len(groups)))
            rng.shuffle(more)
            order += more
        chosen, order = order[: args.batch], order[args.batch:]
        net.train()
        net.e5.layers[:args.first].eval()
        loss = sum(loss_of(net, groups[i], args.shared) for i in chosen) / len(chosen)
        optimiser_step(loss, opt, sched, trained)
        step += 1
        losses.append(float(loss))
        if step % 25 == 0:
            log(f"step {step}/{steps} loss {sum(losses) / len(losses):.3f} {(time.perf_counter() - t0) / step:.2f} s/step")
            losses = []
        if step % args.eval_every == 0 or step == steps:
            net.eval()
            scores = validate(net, trial)
            log(f"validation at step {step}: {json.dumps(scores)}")
            if scores["hit"] > best["hit"]:
                best = scores | {"step": step}
                shipped(model, run / "reader-best.safetensors",
                        {"step": step, "recipe": {k: str(v) for k, v in vars(args).items()}, "validation": scores})
            (run / "best.json").write_text(json.dumps(best))
    log(f"done: best {json.dumps(best)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m rag.reader.shared_norm", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="cache the product's reading of training (train) or CMRC trial (trial) questions")
    c.add_argument("which", choices=("train", "trial"))
    c.add_argument("--limit", type=int, default=3000)
    c.add_argument("--seed", type=int, default=5)
    c.add_argument("--part", default="0/1", help="k/n: every n-th question from the k-th (n processes side by side)")
    t = sub.add_parser("train", help="fine-tune the top layers and heads on the cached readings")
    t.add_argument("--first", type=int, default=11, help="first layer that trains (>= FIRST)")
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--batch", type=int, default=4, help="questions a step (all their windows)")
    t.add_argument("--lr", type=float, default=2e-5)
    t.add_argument("--head-lr", type=float, default=1e-4)
    t.add_argument("--shared", type=float, default=1.0, help="weight of the shared-normalisation loss")
    t.add_argument("--seed", type=int, default=3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument("--val", type=int, default=0, help="CMRC trial questions validated on (0: all cached)")
    t.add_argument("--init", default="")
    t.add_argument("--run", default="run", help="folder under --out for this run's log, best.json and weights")
    for p in (c, t):
        p.add_argument("--out", type=Path, default=WORK)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / args.run if args.command == "train" else args.out
    log_dir.mkdir(parents=True, exist_ok=True)
    stream = open(log_dir / f"{args.command}.log", "a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        stream.write(line + "\n")
        stream.flush()

    if args.command == "collect":
        k, n = (int(v) for v in args.part.split("/"))
        collect(args.which, args.limit if args.which == "train" else 0, args.seed, args.out, log, (k, n))
    else:
        train(args, log)


if __name__ == "__main__":
    main()
