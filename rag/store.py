"""SQLite tables for documents, passages and sentences: the one place that reads and writes them."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .schema import Document, Passage

SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, sha256 TEXT NOT NULL, title TEXT NOT NULL,
    date TEXT, org TEXT, doc_number TEXT, text TEXT NOT NULL,
    paragraphs TEXT NOT NULL, headings TEXT NOT NULL, pages TEXT NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, context TEXT NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, passage_id INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE INDEX passages_by_doc ON passages(doc_id);
CREATE INDEX sentences_by_passage ON sentences(passage_id);
"""


class StoreDamaged(Exception):
    """The SQLite file is missing, truncated or not this product's store."""


def write_store(path: Path, documents: list[tuple[Document, str]], passages: list[Passage], sentences: list[tuple[int, int, int]]) -> None:
    """Create the store at path: documents with their file's sha256, passages, sentences (passage id, start, end)."""
    import json

    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA)
        connection.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    d.doc_id, d.source, sha, d.title, d.date, d.org, d.doc_number, d.text,
                    json.dumps(d.paragraphs), json.dumps(d.headings, ensure_ascii=False), json.dumps(d.pages),
                )
                for d, sha in documents
            ],
        )
        connection.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?,?)",
            [(p.id, p.doc_id, p.paragraph, p.start, p.end, p.context) for p in passages],
        )
        connection.executemany("INSERT INTO sentences VALUES (?,?,?,?)", [(i, *s) for i, s in enumerate(sentences)])
        connection.commit()
    finally:
        connection.close()


class Store:
    """Read-only access to a written store; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        import json

        self.path = Path(path)
        self._shared: sqlite3.Connection | None = None
        self._opening = threading.Lock()
        try:
            rows = self._connection().execute(
                "SELECT doc_id, source, sha256, title, date, org, doc_number, text, paragraphs, headings, pages FROM documents"
            ).fetchall()
            self.passage_count = self._connection().execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            self.sentence_count = self._connection().execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(f"{self.path.name} is damaged ({exc})") from None
        self.documents: dict[str, Document] = {}
        self.sha256: dict[str, str] = {}
        for doc_id, source, sha, title, date, org, number, text, paragraphs, headings, pages in rows:
            self.documents[doc_id] = Document(
                doc_id, source, title, date, org, number, text,
                tuple(tuple(p) for p in json.loads(paragraphs)), tuple(json.loads(headings)), tuple(json.loads(pages)),
            )
            self.sha256[source] = sha

    def _connection(self) -> sqlite3.Connection:
        # One connection for all threads (sqlite3.threadsafety 3: serialized), opened with the store. A
        # connection opened later by path could read another store: a re-index renames a new one into place.
        with self._opening:
            if self._shared is None:
                self._shared = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            return self._shared

    def passages(self, ids: list[int]) -> list[Passage]:
        """Passages by id, in the order asked."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._connection().execute(
            f'SELECT id, doc_id, paragraph, start, "end", context FROM passages WHERE id IN ({marks})', [int(i) for i in ids]
        ).fetchall()
        by_id = {row[0]: self._passage(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def passages_of(self, doc_id: str) -> list[Passage]:
        """Every passage of one document, in order."""
        rows = self._connection().execute(
            'SELECT id, doc_id, paragraph, start, "end", context FROM passages WHERE doc_id = ? ORDER BY id', (doc_id,)
        ).fetchall()
        return [self._passage(row) for row in rows]

    def all_passages(self) -> list[Passage]:
        """Every passage, in id order (for building and benchmarks)."""
        rows = self._connection().execute('SELECT id, doc_id, paragraph, start, "end", context FROM passages ORDER BY id').fetchall()
        return [self._passage(row) for row in rows]

    def sentences_of(self, passage_ids: list[int]) -> list[tuple[int, int, int, int]]:
        """(sentence id, passage id, start, end) for the passages, in document order."""
        if not passage_ids:
            return []
        marks = ",".join("?" * len(passage_ids))
        return self._connection().execute(
            f'SELECT id, passage_id, start, "end" FROM sentences WHERE passage_id IN ({marks}) ORDER BY id',
            [int(i) for i in passage_ids],
        ).fetchall()

    def all_sentences(self) -> list[tuple[int, int, int, int]]:
        """Every (sentence id, passage id, start, end), in id order."""
        return self._connection().execute('SELECT id, passage_id, start, "end" FROM sentences ORDER BY id').fetchall()

    def _passage(self, row) -> Passage:
        pid, doc_id, paragraph, start, end, context = row
        text = self.documents[doc_id].text[start:end]
        return Passage(pid, doc_id, paragraph, start, end, text, context)

    def close(self) -> None:
        with self._opening:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
