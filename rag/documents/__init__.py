"""Files → documents → paragraphs → passages, one job a module.

- files: finding a corpus's files and the `source` name each gets;
- decoding: bytes to text in whatever encoding they came;
- formats: text out of txt / md / html / pdf / docx;
- cleaning: page chrome removed, metadata kept, paragraphs and passages.
"""
from __future__ import annotations

from .cleaning import parse_documents, split_passages
from .decoding import decode_bytes
from .files import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, CorpusFile, UnreadableFile, find_corpus_files, resolve_source, sha256_file
from .formats import read_file

__all__ = [
    "SUPPORTED_SUFFIXES",
    "MAX_FILE_BYTES",
    "UnreadableFile",
    "CorpusFile",
    "find_corpus_files",
    "resolve_source",
    "read_file",
    "decode_bytes",
    "parse_documents",
    "split_passages",
    "sha256_file",
]
