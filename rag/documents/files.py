"""Finding a corpus's files and naming them: the identity (`source`) the index, citations, uploads and deletes share."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
MAX_FILE_BYTES = 20 * 1024 * 1024  # larger files are refused with a message, never read whole


class UnreadableFile(Exception):
    """A file that cannot become text: binary, undecodable, corrupt, too large or empty."""


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    source: str  # path relative to its corpus folder, with forward slashes


# ---------------------------------------------------------------- finding files


def find_corpus_files(folders: list[Path]) -> list[CorpusFile]:
    """Every supported file under the corpus folders, sorted, each once; symlink loops and hidden files skipped.

    A file's source is its path relative to its folder; when an earlier folder already has a
    file of that name, the folder's own name (and its parents', if needed) is put in front.
    """
    found: dict[str, CorpusFile] = {}
    seen_files: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        seen_dirs: set[Path] = set()
        for path in _walk(folder, seen_dirs):
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if real in seen_files:  # the same folder named twice, or a link to a file already found
                continue
            seen_files.add(real)
            source = _unique_source(path.relative_to(folder).as_posix(), folder, found)
            found[source] = CorpusFile(path, source)
    return [found[k] for k in sorted(found)]


def resolve_source(source: str, folders: list[Path]) -> Path | None:
    """The file behind a document's source, by the same rules as find_corpus_files; None when it is gone."""
    for corpus_file in find_corpus_files(folders):
        if corpus_file.source == source:
            return corpus_file.path
    return None


def _unique_source(relative: str, folder: Path, taken: dict[str, CorpusFile]) -> str:
    if relative not in taken:
        return relative
    parts = folder.resolve().parts
    for depth in range(1, len(parts)):
        candidate = "/".join(parts[-depth:] + (relative,))
        if candidate not in taken:
            return candidate
    return (folder.resolve() / relative).as_posix()


def _walk(folder: Path, seen_dirs: set[Path]):
    try:
        real = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        return
    if real in seen_dirs:
        return
    seen_dirs.add(real)
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                yield from _walk(entry, seen_dirs)
            elif entry.is_file() and entry.suffix.lower() in SUPPORTED_SUFFIXES:
                yield entry
        except OSError:
            continue


def sha256_file(path: Path) -> str:
    """The file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
