"""English questions over Chinese documents, side by side in one run: `python -m benchmarks.english`.

The dev set of issue 13: tests/data/english_cmrc.jsonl (English versions of CMRC 2018 trial questions, the Chinese
gold span, the gold paragraph id as the CMRC index names it) and tests/data/english_seeds.jsonl (answerable and
unanswerable English questions over seeds/). Over the CMRC trial paragraph index (benchmarks/.cache/index-cmrc,
built once as the other benchmarks build it) it reports

- paragraph R@1/R@3 of retrieval variants: the product's hybrid as configured, dense alone, BM25 alone, the
  hybrid and dense alone with and without the query adapter (rag/query_adapter.py, English questions only), the
  hybrid at other dense shares, with and without the glossary's keywords (rag/crosslingual.py: the corpus words
  for the question's names, and the corpus words translating its other words);
- for `ask` (the product's answer path as configured): answer-sentence hit@1, false abstentions (with the
  abstention rule that decided each) and R@1 of the passages it returns (what the user's sources list opens with);
- the same retrieval table for the Chinese CMRC trial questions (the numbers the English work must keep);
- on the seeds: English questions answered correctly, unanswerable ones abstained;
- the first English question after a fresh Pipeline.open against the p50 of the later ones.

Writes benchmarks/english.json and the section "English questions over Chinese documents" of benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter


import numpy as np

from rag.crosslingual import glossary_for
from rag.evaluate import load_qa
from rag.pipeline import clean_question, dense_share, keyword_tokens
from rag.query_adapter import retrieval_vector
from rag.question import analyse
from rag.retrieve import dense_search, keyword_search, retrieve

from .cache import CACHE_DIR
from .corpora import cmrc_available
from .report import replace_section
from .machine import ROOT, log, ratio
from .corpora import set_pipeline

EN_CMRC = ROOT / "tests" / "data" / "english_cmrc.jsonl"
EN_SEEDS = ROOT / "tests" / "data" / "english_seeds.jsonl"
RESULTS = ROOT / "benchmarks" / "results.md"
OUT = ROOT / "benchmarks" / "english.json"
BEGIN, END = "<!-- english-bench:begin -->", "<!-- english-bench:end -->"
SHARES = (0.5, 0.7, 0.85)
DEPTH = 30  # passages read per ranking; paragraphs are counted once each, in order, from them


# ---------------------------------------------------------------- retrieval variants


def query(pipeline, question: str):
    """What Pipeline.ask retrieves with: the analysed question, its vector, and its keyword lists."""
    text, _ = clean_question(question, pipeline.settings.max_question_chars)
    q = analyse(text)
    vector = pipeline.embedder.encode_queries([q.normal])[0]
    plain = list(q.tokens)
    names = plain + [w for w in glossary_for(pipeline.index).expand(q.text) if w not in plain] if q.latin else plain
    concepts = list(names)
    if q.latin:
        for words in glossary_for(pipeline.index).concepts(q.text).values():
            concepts += [w for w in words if w not in concepts]
    product = keyword_tokens(pipeline.index, q)  # what the product searches with
    adapted = retrieval_vector(vector, q)  # the English question's vector through the query adapter (else the same)
    return q, vector, {"adapted": adapted, "configured": adapted if pipeline.settings.query_adapter else vector, "plain": plain, "names": names, "names+concepts": concepts, "product": product, "share": dense_share(pipeline.settings, pipeline.index, q)}


def variants(pipeline, latin: bool) -> list[tuple[str, str, object]]:
    """(key, label, function(index, vector, keyword lists) → passage ids best first) of each retrieval variant."""
    s = pipeline.settings

    def hybrid(share: float | None, keywords: str, fusion: str | None = None, vector_of: str | None = None):
        def run(index, vector, lists):  # share None: the product's, decided per question; vector_of: a vector of lists
            vector = lists[vector_of] if vector_of else vector
            hits = retrieve(index, vector, lists[keywords], DEPTH, s.candidates, s.rrf_k, s.dense_weight, s.keyword_weight,
                            fusion or s.fusion, lists["share"] if share is None else share)
            return [h.passage.id for h in hits]
        return run

    def dense(index, vector, lists):
        return dense_search(index, vector, DEPTH).ids.tolist()

    def dense_adapted(index, vector, lists):
        return dense_search(index, lists["adapted"], DEPTH).ids.tolist()

    def keywords(which: str):
        return lambda index, vector, lists: keyword_search(index, lists[which], DEPTH).ids.tolist()

    glossary = " + glossary names" if latin else ""
    adapter = (", English questions through the query adapter" if s.query_adapter else ", query adapter off") if latin else ""
    rows = [
        ("product", f"product hybrid as configured ({s.fusion}, dense share {s.dense_share}"
                    + (f", {s.dense_share_unnamed} when the glossary finds no name; jieba + glossary names + concept words{adapter})" if latin else ", jieba)"),
         hybrid(None, "product", vector_of="configured")),
        ("dense", "e5-small dense alone", dense),
        ("bm25", f"BM25 alone (jieba{glossary})", keywords("names")),
    ]
    if latin:
        rows += [
            ("product_raw", "product hybrid without the query adapter (the raw e5 query vector)", hybrid(None, "product")),
            ("product_adapted", "product hybrid with the query adapter (rag/query_adapter.py)", hybrid(None, "product", vector_of="adapted")),
            ("dense_adapted", "e5-small dense alone, query adapter", dense_adapted),
        ]
        rows += [
            *[(f"hybrid_{share}_adapted", f"hybrid, dense share {share}, query adapter (jieba + glossary names + concept words)",
               hybrid(share, "product", vector_of="adapted")) for share in (0.5, 0.7, 0.85)],
            ("bm25_plain", "BM25 alone (jieba tokens only, no glossary)", keywords("plain")),
            ("bm25_concepts", "BM25 alone (jieba + glossary names + concept words)", keywords("names+concepts")),
            (f"hybrid_{s.dense_share}_plain", f"hybrid, dense share {s.dense_share}, jieba only (no glossary)", hybrid(s.dense_share, "plain")),
        ]
    for share in SHARES:
        rows.append((f"hybrid_{share}", f"hybrid, dense share {share} (jieba{glossary})", hybrid(share, "names")))
        if latin:
            rows.append((f"hybrid_{share}_plain", f"hybrid, dense share {share}, jieba only (no glossary)", hybrid(share, "plain")))
    if latin:
        for share in (s.dense_share, *SHARES):
            rows.append((f"hybrid_{share}_concepts", f"hybrid, dense share {share}, jieba + glossary names + concept words",
                         hybrid(share, "names+concepts")))
    return rows


BROKEN_DOWN = ("product", "dense", "hybrid_0.5", "hybrid_0.7", "dense_adapted", "product_raw")


def retrieval_table(pipeline, questions: list[dict], latin: bool, breakdown: dict | None = None) -> list[dict]:
    """Paragraph R@1/R@3 of every variant over the questions (each question's gold paragraph is its `source`).

    breakdown, when given, receives R@1 of a few variants by question kind and by whether the glossary found a name."""
    index = pipeline.index
    doc_of: dict[int, str] = {}

    def paragraphs(ids: list[int]) -> list[str]:
        missing = [i for i in ids if i not in doc_of]
        for p in index.store.passages(missing):
            doc_of[p.id] = p.doc_id
        return list(dict.fromkeys(doc_of[i] for i in ids if i in doc_of))

    rows = variants(pipeline, latin)
    found = {key: [0, 0] for key, _, _ in rows}
    answerable = [q for q in questions if q["answers"] and q.get("source")]
    groups: dict[str, Counter] = {}
    for q in answerable:
        _, vector, lists = query(pipeline, q["question"])
        named = "glossary found a name" if len(lists["names"]) > len(lists["plain"]) else "glossary found no name"
        for group in (f"kind {q.get('kind')}", named):
            groups.setdefault(group, Counter())["n"] += 1
        for key, _, run in rows:
            ranked = paragraphs(run(index, vector, lists))
            found[key][0] += q["source"] in ranked[:1]
            found[key][1] += q["source"] in ranked[:3]
            if key in BROKEN_DOWN:
                for group in (f"kind {q.get('kind')}", named):
                    groups[group][key] += q["source"] in ranked[:1]
    if breakdown is not None:
        for group, counts in sorted(groups.items()):
            breakdown[group] = {"questions": counts["n"], **{k: round(counts[k] / counts["n"], 3) for k in BROKEN_DOWN if k in found}}
    n = max(1, len(answerable))
    return [{"variant": key, "label": label, "questions": len(answerable), "r1": round(found[key][0] / n, 4),
             "r3": round(found[key][1] / n, 4)} for key, label, _ in rows]


# ---------------------------------------------------------------- the ask path, and why it abstains


def why_abstained(pipeline, question: str) -> list[str]:
    """Why the product did not answer a question: the reader's evidence (rag/answer.py) or the facts check."""
    from rag import answer as A
    from rag import facts
    from rag.question import is_english_question

    q, vector, _ = query(pipeline, question)
    index = pipeline.index
    hits = pipeline._retrieve(index, vector, q, max(pipeline.settings.top_k, 8))
    if not hits:
        return ["no passage"]
    unknown = glossary_for(index).unknown_share(q.text) if q.latin else 0.0
    if unknown > A.UNKNOWN_CONCEPTS_ABOVE:
        return [f"unknown concepts > {A.UNKNOWN_CONCEPTS_ABOVE}"]
    if q.latin and not is_english_question(q.text):
        return ["does not read as an English question"]
    answers, e = A.extract_answers(pipeline.reader, index, q, hits, pipeline.settings.max_answers, unknown_concepts=unknown,
                                   use_selector=pipeline.settings.answer_selector)
    if answers:
        kept, _ = facts.checked(answers, q.normal, q.tokens, index.store.documents, q.names)
        return ["fact check (rag/facts.py)"] if not kept else ["answered here"]
    reasons = [name for flag, name in ((e.name_missing, "a name the passage never mentions"),
                                       (e.count_missing, "no number / no person in the span")) if flag]
    return reasons or ["reader answerability under the threshold"]


def ask_quality(pipeline, questions: list[dict]) -> dict:
    """Answer-sentence hit@1 (gold inside the first quote), false abstentions, abstained unanswerable, and why."""
    answerable = [q for q in questions if q["answers"]]
    unanswerable = [q for q in questions if not q["answers"]]
    hit = abstained = retrieved_but_abstained = shown_first = 0
    reasons: Counter = Counter()
    extras: Counter = Counter()
    failures = []
    times = []
    for q in answerable:
        started = time.perf_counter()
        r = pipeline.ask(q["question"])
        times.append((time.perf_counter() - started) * 1000)
        top_doc = r.passages[0].passage.doc_id if r.passages else None
        shown_first += top_doc == q.get("source")  # the sources the user sees open with the gold paragraph
        good = bool(r.answers) and any(g in r.answers[0].text for g in q["answers"])
        hit += good
        if not r.answered:
            abstained += 1
            retrieved_but_abstained += top_doc == q.get("source")
            why = why_abstained(pipeline, q["question"])
            reasons[why[0]] += 1
            extras.update(w for w in why[1:] if w.startswith("also: "))
            failures.append({"question": q["question"], "source": q.get("source"), "top": top_doc, "answered": False,
                             "why": why, "notice": r.notice})
        elif not good:
            failures.append({"question": q["question"], "source": q.get("source"), "top": top_doc, "answered": True,
                             "quote": r.answers[0].text[:80], "quote_doc": r.answers[0].citation.doc_id})
    abstained_unanswerable = 0
    answered_unanswerable = []
    for q in unanswerable:
        r = pipeline.ask(q["question"])
        abstained_unanswerable += not r.answered
        if r.answered:
            answered_unanswerable.append({"question": q["question"], "quote": r.answers[0].text[:80]})
    n = max(1, len(answerable))
    return {
        "answerable": len(answerable), "sentence_hit1": round(hit / n, 4), "answered_correctly": hit,
        "passages_r1": round(shown_first / n, 4),
        "false_abstention": abstained, "false_abstention_rate": round(abstained / n, 4),
        "abstained_with_gold_paragraph_first": retrieved_but_abstained,
        "unanswerable": len(unanswerable), "abstained_unanswerable": abstained_unanswerable,
        "answered_unanswerable": answered_unanswerable,
        "abstention_rules": dict(reasons.most_common()),
        "abstention_penalties_also_present": dict(extras.most_common()),
        "ask_p50_ms": round(float(np.percentile(times, 50)), 1) if times else None,
        "failures": failures,
    }


# ---------------------------------------------------------------- the first English question after start-up


def first_english_question(runs: int = 3) -> dict | None:
    """Fresh processes as the app starts one (built seed index, the reader waited for): ms of the first English
    question after Pipeline.open, and the p50 of the English seed questions after it."""
    index = CACHE_DIR / "index-seeds"
    if not (index / "manifest.json").exists():
        return None
    questions = [q["question"] for q in load_qa(EN_SEEDS)]
    code = f"""
import json, time
from pathlib import Path
from rag.config import Settings
from rag.pipeline import Pipeline
questions = {questions!r}
started = time.perf_counter()
p = Pipeline.open(Settings.from_env(env={{}}, index_dir=Path({str(index)!r})), build="never")
opened = time.perf_counter() - started
p.reader
times = []
for q in questions:
    t = time.perf_counter(); p.ask(q); times.append((time.perf_counter() - t) * 1000)
print(json.dumps([opened, times]))
"""
    firsts, laters, opens = [], [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=600, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        opened, times = json.loads(out.stdout.strip().splitlines()[-1])
        opens.append(opened)
        firsts.append(times[0])
        laters.append(float(np.percentile(times[1:], 50)))
    first, later = float(np.median(firsts)), float(np.median(laters))
    return {"runs": runs, "open_s": round(float(np.median(opens)), 2), "first_ms": round(first, 1),
            "later_p50_ms": round(later, 1), "first_over_later": ratio(first, later, 2),
            "firsts_ms": [round(x, 1) for x in firsts]}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.english", description=__doc__.split("\n")[0])
    ap.add_argument("--skip-first", action="store_true", help="do not measure the first English question in fresh processes")
    ap.add_argument("--first-runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions of each set (a smoke run; writes nothing)")
    args = ap.parse_args(argv)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    en_cmrc, en_seeds = load_qa(EN_CMRC), load_qa(EN_SEEDS)
    cut = (lambda qs: qs[: args.limit]) if args.limit else (lambda qs: qs)
    en_cmrc, en_seeds = cut(en_cmrc), cut(en_seeds) + ([q for q in en_seeds if not q["answers"]][:2] if args.limit else [])
    if cmrc_available():
        log("cmrc index")
        cmrc_set, cmrc = set_pipeline("cmrc")
        out["settings"] = {k: getattr(cmrc.settings, k) for k in ("fusion", "dense_share", "candidates", "top_k")}
        log(f"english cmrc retrieval ({len(en_cmrc)} q)")
        out["cmrc_en_breakdown"] = {}
        out["cmrc_en_retrieval"] = retrieval_table(cmrc, en_cmrc, latin=True, breakdown=out["cmrc_en_breakdown"])
        log("english cmrc ask")
        out["cmrc_en_ask"] = ask_quality(cmrc, en_cmrc)
        log(f"chinese cmrc retrieval ({len(cmrc_set.questions)} q)")
        out["cmrc_zh_retrieval"] = retrieval_table(cmrc, cut(cmrc_set.questions), latin=False)
        chosen = {q["qid"] for q in en_cmrc}
        zh_same = [q for q in load_zh_by_qid(chosen)]
        out["cmrc_zh_same_questions_retrieval"] = retrieval_table(cmrc, zh_same, latin=False)
    log("seeds")
    _, seeds = set_pipeline("seeds")
    out["seeds_en_retrieval"] = retrieval_table(seeds, en_seeds, latin=True)
    out["seeds_en_ask"] = ask_quality(seeds, en_seeds)
    if not args.skip_first:
        log("first English question after a fresh open")
        out["first_english_question"] = first_english_question(args.first_runs)
    if args.limit:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    write_section(out)
    print(json.dumps({k: v for k, v in out.items() if "ask" not in k}, ensure_ascii=False))
    return 0


def load_zh_by_qid(qids: set[str]) -> list[dict]:
    """The original Chinese CMRC trial questions of the English ones (for a like-for-like comparison)."""
    from .corpora import CMRC

    data = json.loads(CMRC.read_text(encoding="utf-8"))
    out = []
    for article in data["data"]:
        for number, paragraph in enumerate(article.get("paragraphs", []), start=1):
            doc_id = paragraph.get("id") or f"{article.get('title', 'doc')}#{number}"
            for qa in paragraph.get("qas", []):
                if qa["id"] in qids:
                    out.append({"question": qa["question"], "answers": [a["text"] for a in qa["answers"] if a.get("text")], "source": doc_id})
    return out


def _table(rows: list[dict]) -> list[str]:
    lines = ["| retrieval | R@1 | R@3 |", "|---|---|---|"]
    lines += [f"| {r['label']} | {r['r1']:.3f} | {r['r3']:.3f} |" for r in rows]
    return lines


def write_section(out: dict) -> None:
    """Replace the English section of results.md with this run's tables."""
    lines = [BEGIN, "## English questions over Chinese documents", "",
             f"`python -m benchmarks.english`, {out['date']}. The dev set of issue 13, written for it: "
             "tests/data/english_cmrc.jsonl (English versions of CMRC 2018 trial questions with the Chinese gold span; "
             "the corpus is all 256 trial paragraphs, each question has one gold paragraph) and tests/data/english_seeds.jsonl. "
             "R@k counts paragraphs (CMRC) or documents (seeds), each once, in the order of their first passage. "
             "`glossary names`: the corpus words rag/crosslingual.py finds for the question's names (what the product adds "
             "today); `concept words`: also the corpus words translating its other words (Glossary.concepts).", ""]
    if "cmrc_en_retrieval" in out:
        a = out["cmrc_en_ask"]
        n = out["cmrc_en_retrieval"][0]["questions"]
        b = out["cmrc_en_breakdown"]
        lines += [f"### CMRC trial, English questions ({n})", "", *_table(out["cmrc_en_retrieval"]), "",
                  "R@1 by group (product / dense alone / hybrid 0.5 / hybrid 0.7, glossary names): "
                  + "; ".join(f"{g} ({v['questions']}) {v['product']:.2f} / {v['dense']:.2f} / {v['hybrid_0.5']:.2f} / {v['hybrid_0.7']:.2f}"
                              for g, v in b.items()) + ".", "",
                  f"`ask` as configured ({out['settings']}): answer-sentence hit@1 **{a['sentence_hit1']:.3f}**, "
                  f"false abstentions **{a['false_abstention']}/{a['answerable']} ({a['false_abstention_rate']:.1%})**, "
                  f"{a['abstained_with_gold_paragraph_first']} of them with the gold paragraph ranked first; R@1 of the passages `ask` "
                  f"returns (they open with the quoted one, rag/pipeline.py cited_first) **{a['passages_r1']:.3f}**; "
                  f"ask p50 {a['ask_p50_ms']} ms.",
                  "Why each false abstention abstained (the reader's evidence, rag/answer.py): " + "; ".join(f"{k} {v}" for k, v in a["abstention_rules"].items())
                  + ". Penalties present besides: " + ("; ".join(f"{k[6:]} {v}" for k, v in a["abstention_penalties_also_present"].items()) or "none") + ".", ""]
        zh = out["cmrc_zh_retrieval"]
        lines += [f"### CMRC trial, Chinese questions ({zh[0]['questions']})", "", *_table(zh), ""]
        same = out["cmrc_zh_same_questions_retrieval"]
        lines += [f"The {same[0]['questions']} Chinese originals of the English questions: "
                  + "; ".join(f"{r['label']} R@1 {r['r1']:.3f}" for r in same) + ".", ""]
    s = out["seeds_en_ask"]
    lines += [f"### Seeds, English questions ({s['answerable']} answerable, {s['unanswerable']} unanswerable)", "",
              *_table(out["seeds_en_retrieval"]), "",
              f"`ask`: answered correctly (gold inside the first quote) {s['answered_correctly']}/{s['answerable']}, "
              f"false abstentions {s['false_abstention']}, unanswerable abstained {s['abstained_unanswerable']}/{s['unanswerable']}"
              + (" (answered: " + "; ".join(x["question"] for x in s["answered_unanswerable"]) + ")" if s["answered_unanswerable"] else "")
              + ". Deciding rules on the false abstentions: " + ("; ".join(f"{k} {v}" for k, v in s["abstention_rules"].items()) or "none") + ".", ""]
    f = out.get("first_english_question")
    if f:
        lines += [f"First English question after a fresh `Pipeline.open` over the seed index (the reader waited for; "
                  f"median of {f['runs']} processes): {f['first_ms']} ms against a p50 of {f['later_p50_ms']} ms for the "
                  f"English seed questions after it ({f['first_over_later']}×; open {f['open_s']} s).", ""]
    lines.append(END)
    text = "\n".join(lines)
    replace_section(RESULTS, BEGIN, END, text)


if __name__ == "__main__":
    sys.exit(main())
