"""Train the query adapter for English questions: ``python -m rag.adapter_train [--out models/query_adapter.npz]``.

e5-small puts an English question further from its Chinese paragraph than a Chinese question (paragraph R@1 0.565
against 0.98 on CMRC trial). The adapter is a small map on the query vector only, trained so that English questions
land near their Chinese paragraphs; the passage vectors (the index) do not change.

Data (training sets only; the CMRC trial set and tests/data/english_cmrc.jsonl are never read here):
- questions: CMRC 2018 train and DRCD test (DRCD turned simplified with OpenCC), each turned into English word by
  word (rag/reader/codeswitch.py: CC-CEDICT glosses, names in pinyin), analysed as the product analyses a question
  (rag/question.analyse: the `normal` text is what is embedded, with "query: ");
- passages: their paragraphs cut and embedded as the index cuts and embeds a document (split_passages at 300
  characters, title + text, "passage: ");
- positives: the passages of the question's paragraph that hold its answer; negatives: every other passage of the
  ~3.4k training paragraphs (a full softmax, so the hardest negatives are always in it).

The map: a = normalise(q + alpha * (W q + b)), W and b start at zero, trained with InfoNCE at alpha 0.25 and applied
at half that (--apply-alpha 0.125, chosen on the English dev set: a gentler move carries better to natural English). The vectors are cached
under runs/query_adapter/ (ignored by git): embedding ~8k passages takes ~20 minutes on two cores, training seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TRAIN_FILES = ("cmrc2018_train.json", "DRCD_test.json")
CACHE = ROOT / "runs" / "query_adapter"
OUT = ROOT / "models" / "query_adapter.npz"
NATURAL = ROOT / "data" / "english_train.jsonl"


def training_set(data: Path = DATA, natural: Path | None = NATURAL) -> tuple[list[str], list[str], list[int], list[list[int]], list[str], list[list[int]], list[str]]:
    """(passage texts as the index embeds them, English query texts as the product embeds them (word by word),
    paragraph number of each passage, positive passage numbers of each question, and the hand-written English
    questions of `natural` with their positives and their question ids)."""
    import opencc

    from .documents.cleaning import split_passages
    from .index import passage_view
    from .question import analyse
    from .reader.codeswitch import english
    from .schema import Document

    t2s = opencc.OpenCC("t2s")
    rng = random.Random(0)
    from .reader.codeswitch import written_english

    written = written_english(natural) if natural is not None and natural.is_file() else {}
    natural_queries: list[str] = []
    natural_positives: list[list[int]] = []
    natural_ids: list[str] = []
    passages: list[str] = []
    paragraph_of: list[int] = []
    queries: list[str] = []
    positives: list[list[int]] = []
    paragraph = 0
    for name in TRAIN_FILES:
        convert = t2s.convert if name.startswith("DRCD") else (lambda s: s)
        for article in json.loads((data / name).read_text(encoding="utf-8"))["data"]:
            title = convert(article.get("title") or "")
            for number, p in enumerate(article["paragraphs"], start=1):
                context = convert(p["context"].strip())
                doc = Document(f"{name}#{paragraph}", name, title or context[:20], None, None, None, context,
                               ((0, len(context)),), (None,), ())
                cut = split_passages(doc, 300)
                first = len(passages)
                passages += [passage_view(x) for x in cut]
                paragraph_of += [paragraph] * len(cut)
                for qa in p.get("qas", []):
                    answers = [convert(a["text"]) for a in qa.get("answers", []) if a.get("text")]
                    holding = [first + i for i, x in enumerate(cut) if any(a in x.text for a in answers)]
                    text = analyse(english(convert(qa["question"]), rng)).normal
                    if text.strip():
                        queries.append(text)
                        positives.append(holding or list(range(first, first + len(cut))))
                    if qa.get("id") in written:
                        natural_queries.append(analyse(written[qa["id"]]).normal)
                        natural_positives.append(holding or list(range(first, first + len(cut))))
                        natural_ids.append(qa["id"])
                paragraph += 1
    return passages, queries, paragraph_of, positives, natural_queries, natural_positives, natural_ids


def cached_vectors(texts: list[str], kind: str, embedder=None, count: int | None = None, chunk: int = 256) -> np.ndarray:
    """The e5 vectors (kind "query" or "passage") of the first `count` texts (all by default), from
    runs/query_adapter/ when there: the texts are embedded in chunks of `chunk`, each saved as it finishes (a killed
    run goes on where it stopped, and a shorter count reuses a longer run's chunks)."""
    count = len(texts) if count is None else count
    key = hashlib.sha256(("\x00".join(texts) + kind).encode("utf-8")).hexdigest()[:12]
    folder = CACHE / f"{kind}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    started = time.perf_counter()
    for n, i in enumerate(range(0, count, chunk)):
        part = folder / f"{n:05d}.npy"
        if not part.exists():
            if embedder is None:
                from embeddings import load_embedder

                embedder = load_embedder("e5-small")
            encode = embedder.encode_queries if kind == "query" else embedder.encode_passages
            np.save(part, encode(texts[i : i + chunk]).astype(np.float32))
            print(f"{kind}: {min(i + chunk, len(texts))}/{count} in {time.perf_counter() - started:.0f} s", flush=True)
        parts.append(np.load(part))
    return np.vstack(parts)[:count] if parts else np.zeros((0, 384), np.float32)


def train(queries: np.ndarray, passages: np.ndarray, positives: list[list[int]],
          epochs: int = 8, batch: int = 256, lr: float = 1e-3, temperature: float = 0.05, alpha: float = 1.0,
          weight_decay: float = 0.0, linear: bool = False, rank: int = 0, seed: int = 0, log=print) -> dict:
    """Fit W, b of a = normalise(q + alpha (W q + b)) (or a = normalise(W q + b) with W from identity when linear)
    with a full-softmax InfoNCE over every training passage; returns float32 numpy arrays.
    rank > 0: W = U V (U from zero, V random), rank < 0: b only (W stays zero)."""
    import torch

    torch.manual_seed(seed)
    dim = queries.shape[1]
    b = torch.nn.Parameter(torch.zeros(dim))
    if rank > 0:
        U = torch.nn.Parameter(torch.zeros(dim, rank))
        V = torch.nn.Parameter(torch.randn(rank, dim) / dim ** 0.5)
        params = [U, V, b]
        weight = lambda: U @ V  # noqa: E731
    else:
        W = torch.nn.Parameter(torch.eye(dim) if linear else torch.zeros(dim, dim))
        params = [b] if rank < 0 else [W, b]
        weight = lambda: W  # noqa: E731
    P = torch.from_numpy(passages)
    Q = torch.from_numpy(queries)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    order = np.arange(len(queries))
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = torch.from_numpy(order[i : i + batch])
            q = Q[idx]
            W = weight()
            a = q @ W.T + b if linear else q + alpha * (q @ W.T + b)
            a = torch.nn.functional.normalize(a, dim=1)
            logits = a @ P.T / temperature
            mask = torch.zeros_like(logits, dtype=torch.bool)
            for r, k in enumerate(idx.tolist()):
                mask[r, positives[k]] = True
            loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~mask, -1e9), 1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        log(f"epoch {epoch + 1}: loss {total / len(order):.4f}")
    return {"W": weight().detach().numpy().astype(np.float32), "b": b.detach().numpy().astype(np.float32),
            "alpha": np.float32(alpha), "linear": np.bool_(linear)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.adapter_train", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--embed-only", action="store_true", help="embed and cache the training vectors, do not train")
    ap.add_argument("--only", choices=("passage", "query"), help="with --embed-only: embed only this side")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads of the e5 engine")
    ap.add_argument("--paragraphs", type=int, default=0, help="only the first N training paragraphs (0: all) and their questions")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--apply-alpha", type=float, default=0.5,
                    help="the alpha written to the file, applied at question time (chosen on the English dev set)")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--linear", action="store_true", help="a = normalise(W q + b), W from identity, instead of the residual")
    ap.add_argument("--rank", type=int, default=0, help="W of this rank (0: full; -1: the bias b alone)")
    ap.add_argument("--questions", choices=("both", "natural", "codeswitch"), default="natural",
                    help="train on the hand-written English questions (data/english_train.jsonl), the word-by-word "
                         "English of every training question, or both")
    ap.add_argument("--hold-out", type=int, default=10,
                    help="leave out the hand-written questions of 1 training paragraph in N (rag.reader.train.held_out): "
                         "they train the answer selector, which reads the adapted vector")
    ap.add_argument("--natural-repeat", type=int, default=1, help="with both: each hand-written question this many times")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    passages, queries, paragraph_of, positives, natural, natural_positives, natural_ids = training_set()
    n_passages, n_queries = len(passages), len(queries)
    if args.paragraphs:
        n_passages = sum(1 for p in paragraph_of if p < args.paragraphs)
        n_queries = sum(1 for pos in positives if paragraph_of[pos[0]] < args.paragraphs)
        keep = [i for i, pos in enumerate(natural_positives) if paragraph_of[pos[0]] < args.paragraphs]
        natural, natural_positives = [natural[i] for i in keep], [natural_positives[i] for i in keep]
        natural_ids = [natural_ids[i] for i in keep]
    print(f"{n_queries} word-by-word and {len(natural)} hand-written questions, {n_passages} passages of "
          f"{paragraph_of[n_passages - 1] + 1} paragraphs", flush=True)
    from embeddings import load_embedder

    embedder = load_embedder("e5-small", args.threads)
    if args.only in (None, "passage"):
        P = cached_vectors(passages, "passage", embedder, n_passages)
    if args.only in (None, "query"):
        parts, wanted = [], []
        if args.questions != "codeswitch" and natural:
            N = cached_vectors(natural, "query", embedder)
            if args.hold_out:  # embedded all the same (one cache), trained without them
                from .reader.train import held_out

                keep = [i for i, qid in enumerate(natural_ids) if not held_out(qid, args.hold_out)]
                N, natural_positives = N[keep], [natural_positives[i] for i in keep]
                print(f"{len(keep)} hand-written questions after holding out 1 paragraph in {args.hold_out}", flush=True)
            repeat = args.natural_repeat if args.questions == "both" else 1
            parts += [N] * repeat
            wanted += natural_positives * repeat
        if args.questions != "natural":
            parts.append(cached_vectors(queries, "query", embedder, n_queries))
            wanted += positives[:n_queries]
        Q = np.vstack(parts)
    print(f"vectors ready in {time.perf_counter() - started:.0f} s", flush=True)
    if args.embed_only:
        return 0
    trained = time.perf_counter()
    weights = train(Q, P, wanted, epochs=args.epochs, lr=args.lr, temperature=args.temperature,
                    alpha=args.alpha, weight_decay=args.weight_decay, linear=args.linear, rank=args.rank)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, W=weights["W"].astype(np.float16), b=weights["b"].astype(np.float16), alpha=np.float32(args.apply_alpha),
             linear=weights["linear"])
    print(f"trained in {time.perf_counter() - trained:.0f} s; wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
