"""What people say of the answers: 👍 / 👎 (with an optional correction), kept in SQLite beside the index.

Each item records the question as asked and as read, the answer, its citations, the index version and the time
(and the user, when the chat asks for a login). The file lives next to the index folder, never inside it: a
rebuild replaces the index folder, and feedback must outlive every rebuild. `export` writes the 👍 items and the
👎 items that carry a correction in the seed-set format (tests/data/seed_qa.jsonl), so `rag eval --qa` scores
the product on what its users said.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .render import question_language
from .schema import Response

__all__ = ["FeedbackStore", "FeedbackProblem", "feedback_path", "answer_record"]

DOCUMENTS_DONT_SAY = "__documents_dont_say__"


class FeedbackProblem(Exception):
    """The feedback file cannot be read or written (one line for the person)."""


def feedback_path(index_dir: Path) -> Path:
    """Where the feedback of an index is kept: beside it (.rag_index → .rag_index.feedback.sqlite), not inside it."""
    index_dir = Path(index_dir)
    return index_dir.with_name(f"{index_dir.name}.feedback.sqlite")


def answer_record(response: Response, index_version: str | None) -> dict:
    """What feedback needs to remember of one reply: question as asked and read, answer, citations, index version."""
    answers = response.answers if response.answered else []
    first = answers[0] if answers else None
    return {
        "question": response.question,
        "read_as": response.read_as or response.question,
        "answered": bool(answers),
        "short": first.short if first else None,
        "answer": first.text if first else "",
        "citations": [{"doc_id": a.citation.doc_id, "title": a.citation.title, "source": a.citation.source,
                       "date": a.citation.date, "paragraph": a.citation.paragraph, "start": a.citation.start,
                       "end": a.citation.end, "text": a.text} for a in answers],
        "index_version": index_version,
    }


@dataclass(frozen=True)
class Counts:
    up: int
    down: int
    corrected: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT,
    liked INTEGER NOT NULL,
    question TEXT NOT NULL,
    read_as TEXT NOT NULL,
    answered INTEGER NOT NULL,
    short TEXT,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    index_version TEXT,
    correction TEXT
)
"""


class FeedbackStore:
    """One SQLite file; each call opens its own connection, so the chat's worker threads never share one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, item: dict, liked: bool, user: str | None = None) -> int:
        """Store one 👍 or 👎 of an answer (see answer_record); the row id, for a correction to follow."""
        row = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), user, int(bool(liked)), item.get("question", ""),
               item.get("read_as") or item.get("question", ""), int(bool(item.get("answered"))), item.get("short"),
               item.get("answer") or "", json.dumps(item.get("citations") or [], ensure_ascii=False), item.get("index_version"))
        with self._connect() as db:
            cursor = db.execute("INSERT INTO feedback (at, user, liked, question, read_as, answered, short, answer, citations, "
                                "index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return int(cursor.lastrowid)

    def correct(self, row_id: int, right_answer: str | None, documents_dont_say: bool = False) -> None:
        """Attach a correction to a 👎: the right answer text, or that the documents don't say."""
        correction = DOCUMENTS_DONT_SAY if documents_dont_say else (right_answer or "").strip()
        if not correction:
            raise FeedbackProblem("请写出正确答案，或勾选“文档中没有”。/ Write the right answer, or tick “the documents don't say”.")
        with self._connect() as db:
            db.execute("UPDATE feedback SET correction = ?, liked = 0 WHERE id = ?", (correction, int(row_id)))

    def counts(self) -> Counts:
        """👍, 👎 and corrected 👎 so far (zeros when nothing was said yet)."""
        if not self.path.exists():
            return Counts(0, 0, 0)
        with self._connect() as db:
            up, down, corrected = db.execute(
                "SELECT COALESCE(SUM(liked = 1), 0), COALESCE(SUM(liked = 0), 0), "
                "COALESCE(SUM(liked = 0 AND correction IS NOT NULL), 0) FROM feedback").fetchone()
        return Counts(int(up), int(down), int(corrected))

    def export(self, target: Path) -> int:
        """Write the 👍 items and the corrected 👎 items as seed-set JSON lines; how many were written."""
        items = []
        if self.path.exists():
            with self._connect() as db:
                rows = db.execute("SELECT liked, question, read_as, answered, short, answer, citations, correction, at, "
                                  "index_version, user FROM feedback WHERE liked = 1 OR correction IS NOT NULL ORDER BY id").fetchall()
            items = [item for item in map(_as_seed_item, rows) if item]
        target = Path(target)
        try:
            target.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        except OSError as problem:
            raise FeedbackProblem(f"cannot write {target} ({problem.strerror or problem.__class__.__name__})") from None
        return len(items)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as problem:
            raise FeedbackProblem(f"the feedback file {self.path} cannot be opened ({problem})") from None
        return _Closing(db)


class _Closing:
    """A connection used as `with`: commits (autocommit mode) and always closes; sqlite errors become FeedbackProblem."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, kind, value, tb) -> bool:
        self.db.close()
        if isinstance(value, sqlite3.Error):
            raise FeedbackProblem(f"the feedback could not be saved ({value})") from None
        return False


def _as_seed_item(row) -> dict | None:
    liked, question, read_as, answered, short, answer, citations, correction, at, version, user = row
    cited = json.loads(citations or "[]")
    asked = read_as or question
    meta = {"asked": question, "at": at, "index_version": version, "feedback": "up" if liked else "down", "lang": _language(asked)}
    if user:
        meta["user"] = user
    if correction == DOCUMENTS_DONT_SAY:
        return {"question": asked, "answers": [], "source": None, "kind": "unanswerable", **meta}
    if correction:
        return {"question": asked, "answers": [correction], "source": None, "kind": "feedback", **meta}
    if liked and answered and cited:
        return {"question": asked, "answers": [short or answer], "source": cited[0]["doc_id"], "kind": "feedback", **meta}
    if liked and not answered:  # 👍 on "the documents don't say"
        return {"question": asked, "answers": [], "source": None, "kind": "unanswerable", **meta}
    return None


def _language(question: str) -> str:
    return question_language(question)
