"""python -m rag index / search / ask / eval (the contract of DESIGN.md)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with a message, no traceback
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m rag", description="Cited, extractive question answering over documents.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    index = commands.add_parser("index", help="build or update the index")
    index.add_argument("--corpus", action="append", type=Path, help="a corpus folder (repeatable; default seeds/)")
    index.add_argument("--index", type=Path, dest="index_dir")
    index.add_argument("--embedder")
    search = commands.add_parser("search", help="print the fused top passages for a query")
    search.add_argument("query")
    ask = commands.add_parser("ask", help="answer a question (or one a line from stdin)")
    ask.add_argument("question", nargs="?")
    feedback = commands.add_parser("feedback", help="what people said of the answers in the chat")
    feedback_commands = feedback.add_subparsers(dest="action", required=True, parser_class=_Parser)
    export = feedback_commands.add_parser("export", help="write 👍 and corrected 👎 items as a seed-set JSONL file")
    export.add_argument("file", type=Path)
    export.add_argument("--index", type=Path, dest="index_dir", help="the index whose feedback (default .rag_index/)")
    evaluate = commands.add_parser("eval", help="evaluate on a SQuAD file or a JSONL question set")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--squad", type=Path)
    source.add_argument("--qa", type=Path)
    for sub in (search, ask, evaluate):
        sub.add_argument("--index", type=Path, dest="index_dir")
        sub.add_argument("--top-k", type=int, dest="top_k")
        sub.add_argument("--json", action="store_true")
        sub.add_argument("--corpus", action="append", type=Path, help=argparse.SUPPRESS)
        sub.add_argument("--embedder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if getattr(args, "top_k", None) is not None and args.top_k < 1:
        parser.error("--top-k must be at least 1")

    from embeddings import EmbedderUnavailable
    from rag.config import Settings
    from rag.evaluate import BadEvalFile
    from rag.feedback import FeedbackProblem
    from rag.index import IndexProblem

    overrides = {
        "corpus": tuple(args.corpus) if getattr(args, "corpus", None) else None,
        "index_dir": getattr(args, "index_dir", None),
        "embedder": getattr(args, "embedder", None),
        "top_k": getattr(args, "top_k", None),
    }
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:
        print(f"error: a RAG_* variable is not valid ({exc})", file=sys.stderr)
        return 2
    try:
        return {"index": _index, "search": _search, "ask": _ask, "eval": _eval, "feedback": _feedback}[args.command](args, settings)
    except (IndexProblem, EmbedderUnavailable, BadEvalFile, UsageError, FeedbackProblem) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _index(args, settings) -> int:
    from rag.index import build_index, is_stale, own_corpus, read_manifest

    settings = own_corpus(settings)
    for folder in settings.corpus:
        if not Path(folder).is_dir():
            raise UsageError(f"the corpus folder {folder} does not exist")
    reason = is_stale(settings)
    if reason is None:
        from rag.index import BuildReport

        manifest = read_manifest(settings.index_dir)
        size = sum(f.stat().st_size for f in Path(settings.index_dir).rglob("*") if f.is_file())
        print(BuildReport(documents=manifest["documents"], passages=manifest["passages"], bytes_on_disk=size, up_to_date=True).summary())
        return 0
    report = build_index(settings, progress=sys.stderr.isatty() or True)
    print(report.summary())
    return 0


def _pipeline(settings):
    from rag.pipeline import Pipeline

    for folder in settings.corpus if settings.corpus_given else ():  # a mistyped --corpus must not rebuild the index
        if not Path(folder).is_dir():
            raise UsageError(f"the corpus folder {folder} does not exist")
    return Pipeline.open(settings)


def _search(args, settings) -> int:
    pipeline = _pipeline(settings)
    hits = pipeline.search(args.query, settings.top_k)
    documents = pipeline.index.store.documents
    if args.json:
        rows = [
            {
                "doc_id": h.passage.doc_id, "title": documents[h.passage.doc_id].title, "source": documents[h.passage.doc_id].source,
                "paragraph": h.passage.paragraph, "text": h.passage.text, "score": round(h.score, 4),
                "dense_rank": h.dense_rank, "dense_score": h.dense_score, "keyword_rank": h.keyword_rank, "keyword_score": h.keyword_score,
            }
            for h in hits
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not hits:
        print("no passages found")
    for rank, h in enumerate(hits, start=1):
        d = documents[h.passage.doc_id]
        print(f"[{rank}] {d.title} · {d.date or '—'} · {d.source} · ¶{h.passage.paragraph}  (score {h.score:.4f}, dense #{h.dense_rank}, keywords #{h.keyword_rank})")
        print(f"    {h.passage.text}")
    return 0


def _ask(args, settings) -> int:
    from rag.schema import response_to_json

    if args.question is not None and not args.question.strip():
        raise UsageError("the question is empty: give a question, or none to read one a line from standard input")
    pipeline = _pipeline(settings)
    if args.question is not None:
        response = pipeline.ask(args.question)
        if args.json:
            print(json.dumps(response_to_json(response), ensure_ascii=False), flush=True)
        else:
            print(_human(response))
        return 0
    sys.stdin.reconfigure(errors="replace")  # a line that is not UTF-8 is answered, not a traceback
    for line in sys.stdin:
        question, history, problem = _read_line(line.rstrip("\r\n"))
        response = pipeline.ask(question, history=history)
        out = response_to_json(response)
        if problem:
            out["notice"] = problem
        print(json.dumps(out, ensure_ascii=False), flush=True)  # stdin mode is always JSON lines
    return 0


def _read_line(line: str) -> tuple[str, list, str | None]:
    """A stdin line: a bare question, or {"question": …, "history": [{"question": …, "answer": …}, …]}.

    A line that starts with "{" but is not such an object is answered as a bare question, and told so."""
    if not line.lstrip().startswith("{"):
        return line, [], None
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        return line, [], None
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        return "", [], 'a JSON line needs a "question" string / 一行 JSON 需要 "question" 字符串'
    history = item.get("history")
    if history is not None and not isinstance(history, list):
        return item["question"], [], '"history" must be a list of {"question", "answer"} objects; it was left out'
    return item["question"], history or [], None


def _feedback(args, settings) -> int:
    from rag.feedback import FeedbackStore, feedback_path

    store = FeedbackStore(feedback_path(settings.index_dir))
    written = store.export(args.file)
    counts = store.counts()
    print(f"wrote {written} item(s) to {args.file} (👍 {counts.up}, 👎 {counts.down}, of them corrected {counts.corrected})")
    return 0


def _human(response) -> str:
    lines = []
    if response.notice:
        lines.append(response.notice)
    if response.answered:
        for number, a in enumerate(response.answers, start=1):
            c = a.citation
            head = f"{a.short} — " if a.short else ""
            lines.append(f"[{number}] {head}{a.text}")
            lines.append(f"    {c.title} · {c.date or '—'} · {c.source} · ¶{c.paragraph}")
    elif response.question.strip():
        lines.append("文档中没有找到答案。/ The documents do not answer this.")
        if response.passages:
            lines.append("可能相关 / Possibly related:")
            for h in response.passages[:3]:
                title = response.titles.get(h.passage.doc_id, ("", ""))[0]
                lines.append(f"  - {title} ¶{h.passage.paragraph}: {h.passage.text[:80]}")
    return "\n".join(lines)


def _eval(args, settings) -> int:
    from rag.evaluate import evaluate, evaluate_squad, load_qa

    if args.squad:
        result = evaluate_squad(args.squad, settings, progress=True)
    else:
        questions = load_qa(args.qa)
        result = evaluate(_pipeline(settings), questions, top_k=max(5, settings.top_k))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
