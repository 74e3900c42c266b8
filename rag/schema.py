"""The vocabulary of every module: frozen dataclasses for documents, passages, hits and answers."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    doc_id: str  # stable: source path (+ "#2" for the 2nd article in a file)
    source: str  # the file's path relative to its corpus folder
    title: str
    date: str | None  # YYYY-MM-DD, None rather than a guess
    org: str | None  # the source organisation, where the document states it
    doc_number: str | None  # an official document number such as 渝科协党组发〔2022〕35号
    text: str  # the cleaned text: what is shown, quoted and cited
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph in text
    headings: tuple[str | None, ...] = ()  # the lone section heading each paragraph sits under
    pages: tuple[int | None, ...] = ()  # the page of each paragraph, for paginated files


@dataclass(frozen=True)
class Passage:
    id: int  # row id in the store and id in the FAISS index
    doc_id: str
    paragraph: int  # 1-based paragraph number within the document
    start: int  # character offsets into the document's cleaned text
    end: int
    text: str
    context: str = ""  # title / heading prepended to what is embedded and keyword-indexed, never quoted


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # fused score
    dense_rank: int | None = None  # 1-based; None when the dense side did not return it
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None


@dataclass(frozen=True)
class Citation:
    doc_id: str
    title: str
    source: str
    date: str | None
    paragraph: int
    start: int  # offsets of the quoted sentence in the document text
    end: int
    page: int | None = None


@dataclass(frozen=True)
class Answer:
    text: str  # the quoted sentence(s), verbatim from the document
    short: str | None  # a span inside `text` when the question asks for one
    score: float
    citation: Citation


@dataclass(frozen=True)
class Response:
    question: str
    answered: bool  # False: the documents do not answer; `passages` then holds the nearest ones
    answers: list[Answer]
    passages: list[Hit]
    latency_ms: float = 0.0
    titles: dict[str, tuple[str, str]] = field(default_factory=dict)  # doc_id → (title, source), for rendering hits
    notice: str | None = None  # a message for the person asking (empty question, too long, …)
    read_as: str | None = None  # the question as read: a follow-up completed from the conversation; None = as typed


def response_to_json(response: Response) -> dict:
    """The `ask --json` object of DESIGN.md."""
    answers = []
    for a in response.answers:
        citation = asdict(a.citation)
        if citation.get("page") is None:
            citation.pop("page", None)
        answers.append({"text": a.text, "short": a.short, "score": round(a.score, 4), "citation": citation})
    passages = []
    for h in response.passages:
        title, source = response.titles.get(h.passage.doc_id, ("", h.passage.doc_id))
        passages.append(
            {
                "doc_id": h.passage.doc_id,
                "title": title,
                "source": source,
                "paragraph": h.passage.paragraph,
                "text": h.passage.text,
                "score": round(h.score, 4),
            }
        )
    out = {
        "question": response.question,
        "answered": response.answered,
        "latency_ms": round(response.latency_ms, 1),
        "answers": answers,
        "passages": passages,
        "read_as": response.read_as if response.read_as is not None else response.question,
    }
    if response.notice:
        out["notice"] = response.notice
    return out
