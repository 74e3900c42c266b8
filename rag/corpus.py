"""Adding an uploaded file to the corpus folder under a safe name, and deleting a document's file.

An upload is checked before it is kept: its size (refused before it is read), its name
(only a last path component survives: no folders, no `..`, no NUL or control characters,
a bounded length), its type by suffix and by content (a .pdf starts with %PDF, a .docx is
a zip with a Word document inside, a text file is not a known binary format), and
finally that it reads into at least one document. A file that fails any check is not
left in the corpus.
"""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .documents import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, UnreadableFile, parse_documents, read_file, resolve_source, sha256_file
from .schema import Document

__all__ = ["MAX_UPLOAD_BYTES", "RejectedUpload", "AddedFile", "add_upload", "safe_file_name", "check_content", "delete_source",
           "names_elsewhere"]

MAX_UPLOAD_BYTES = MAX_FILE_BYTES  # 20 MB
MAX_NAME_BYTES = 180  # well under the 255 bytes most file systems allow, leaving room for a "-2"
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"|?*\u200b-\u200f\u202a-\u202e\u2066-\u2069]')
_BINARY_MAGIC = (
    b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x7fELF", b"MZ", b"\x1f\x8b",
    b"7z\xbc\xaf", b"Rar!", b"\xd0\xcf\x11\xe0", b"BZh", b"\xfd7zXZ",
)


class RejectedUpload(Exception):
    """An upload that was not added; the message says why, in Chinese and English."""


@dataclass(frozen=True)
class AddedFile:
    path: Path  # where it was saved
    source: str  # its path relative to the corpus folder, as the index names it
    documents: list[Document]  # what it reads into
    already_there: bool = False  # the same content was already in the corpus under this name


def add_upload(upload: Path, name: str | None, folder: Path, taken: set[str] | frozenset[str] = frozenset()) -> AddedFile:
    """Save an uploaded file into the corpus folder under a safe name and check that it reads; RejectedUpload if not.

    taken: sources other corpus folders already use; the upload never takes one of their names (that
    would rename their documents in the index, and old citations would open this file instead)."""
    upload = Path(upload)
    try:
        size = upload.stat().st_size
    except OSError:
        raise RejectedUpload("上传的文件无法打开。/ The uploaded file cannot be opened.") from None
    file_name = safe_file_name(name if name else upload.name)
    if size == 0:
        raise RejectedUpload(f"{file_name} 是空文件。/ {file_name} is empty.")
    if size > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise RejectedUpload(f"{file_name} 有 {size / 1e6:.1f} MB，超过 {limit} MB 的上限。/ {file_name} is {size / 1e6:.1f} MB, over the {limit} MB limit.")
    with open(upload, "rb") as handle:
        head = handle.read(8192)
    check_content(upload, head, Path(file_name).suffix.lower())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target, already_there = _save(upload, folder, file_name, taken)
    try:
        text, pages = read_file(target)
        documents = parse_documents(text, target.name, pages)
        if not documents:
            raise UnreadableFile("has no text left after removing page chrome")
    except UnreadableFile as reason:
        if not already_there:
            target.unlink(missing_ok=True)
        raise RejectedUpload(f"无法读取 {file_name}，没有加入文档库。/ {file_name} {reason}; it was not added.") from None
    return AddedFile(target, target.name, documents, already_there)


def names_elsewhere(folder: Path, folders: list[Path] | tuple[Path, ...]) -> set[str]:
    """File names at the top of the other corpus folders: an upload into folder must not take one."""
    here = Path(folder).resolve()
    names: set[str] = set()
    for other in folders:
        other = Path(other)
        if other.resolve() != here and other.is_dir():
            names.update(p.name for p in other.iterdir() if p.is_file())
    return names


def safe_file_name(name: str) -> str:
    """The last path component of name, cleaned: no folders, control or reserved characters, a supported suffix, bounded length."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\x00", "")
    name = re.split(r"[\\/]", name)[-1]  # `../../etc/x.txt`, `C:\x.txt`, `/abs/x.txt` → `x.txt`
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .\u3000")  # a leading dot would hide the file from the index
    stem, dot, suffix = name.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = " ".join(SUPPORTED_SUFFIXES)
        raise RejectedUpload(f"不支持这种文件类型，请上传 {allowed}。/ This file type is not supported; upload {allowed}.")
    stem = stem.strip(" .") or "upload"
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def check_content(path: Path, head: bytes, suffix: str) -> None:
    """The file's first bytes agree with its suffix: %PDF for a .pdf, a Word zip for a .docx, no binary format for text."""
    if suffix == ".pdf":
        if not head.startswith(b"%PDF"):
            raise RejectedUpload("这不是 PDF 文件（开头不是 %PDF）。/ This is not a PDF (it does not start with %PDF).")
    elif suffix == ".docx":
        if not head.startswith(b"PK\x03\x04") or not _is_word_zip(path):
            raise RejectedUpload("这不是 Word (.docx) 文件。/ This is not a Word .docx file (not a zip with a Word document inside).")
    elif head.startswith(_BINARY_MAGIC):
        raise RejectedUpload("这是二进制文件，不是文本。/ This is a binary file, not text.")


def _is_word_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _save(upload: Path, folder: Path, file_name: str, taken: set[str] | frozenset[str] = frozenset()) -> tuple[Path, bool]:
    """Copy the upload into folder under file_name, or name-2, name-3… when a different file holds the name."""
    digest = sha256_file(upload)
    tmp = folder / f".upload-{uuid.uuid4().hex}.part"  # hidden: a re-index running meanwhile never sees it
    try:
        with open(upload, "rb") as source, open(tmp, "xb") as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        stem, suffix = Path(file_name).stem, Path(file_name).suffix
        for number in range(1, 1000):
            candidate = folder / (file_name if number == 1 else f"{stem}-{number}{suffix}")
            _ensure_inside(folder, candidate)
            if candidate.name in taken and not candidate.exists():
                continue
            if candidate.exists():
                if candidate.is_file() and sha256_file(candidate) == digest:
                    return candidate, True
                continue
            try:
                os.link(tmp, candidate)  # never replaces a file that appeared meanwhile
            except FileExistsError:
                continue
            except OSError:
                os.replace(tmp, candidate)
            return candidate, False
        raise RejectedUpload(f"{file_name} 的同名文件太多。/ Too many files are named {file_name}.")
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_inside(folder: Path, path: Path) -> None:
    if path.resolve().parent != folder.resolve():
        raise RejectedUpload("文件名无效。/ The file name is not valid.")


def delete_source(source: str, folders: list[Path] | tuple[Path, ...], indexed: set[str] | frozenset[str]) -> Path:
    """Delete the one file behind an indexed document's `source`, found by the index's own naming rules.

    Only a source the loaded index holds can be deleted (never `.env` or any other file under a corpus
    folder), and only when the file really lies inside its corpus folder (not through a symlinked folder).
    """
    source = str(source or "")
    shown = source if len(source) <= 120 else source[:117] + "…"
    if source not in indexed:
        raise RejectedUpload(f"文档库中没有 {shown}。/ {shown} is not in the corpus.")
    relative = PurePosixPath(source.replace("\\", "/"))
    if "\x00" in source or relative.is_absolute() or ".." in relative.parts:
        raise RejectedUpload("没有这个文档。/ There is no such document.")
    path = resolve_source(source, list(folders))
    if path is None:
        raise RejectedUpload(f"{shown} 已不在文档库的文件夹中。/ {shown} is no longer in the corpus folders.")
    inside = any(Path(folder).resolve() in path.resolve().parents for folder in folders)
    if not inside:
        raise RejectedUpload(f"{shown} 位于文档库文件夹之外，未删除。/ {shown} lies outside the corpus folders; it was not deleted.")
    path.unlink()
    return path
