"""Bytes to text: UTF-8 (with or without BOM), UTF-16, GB18030/GBK or Big5, and binary refused."""
from __future__ import annotations

import logging
import re
from collections import Counter
from functools import lru_cache

from .files import UnreadableFile

def decode_bytes(data: bytes) -> str:
    """Text from bytes in UTF-8 (with or without BOM), UTF-16, GB18030/GBK or Big5; UnreadableFile for binary."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")  # an odd last byte or a lone surrogate must not stop a build
        if _looks_binary(text):
            raise UnreadableFile("is binary or in an unknown encoding")
        return text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        text = _mostly_utf8(data) or _utf16_without_bom(data) or _chinese(data) or _detect(data)
    if text is None or _looks_binary(text):
        raise UnreadableFile("is binary or in an unknown encoding")
    return text


_WIDE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few broken bytes (a file cut mid-character, a stray byte): kept, the broken bytes replaced.

    Only when the valid CJK characters far outnumber the errors: GBK or UTF-16 read as UTF-8 gives almost none.
    """
    text = data.decode("utf-8", errors="replace")
    errors = text.count("\ufffd")
    if errors and len(_WIDE.findall(text)) >= 20 * errors:
        return text.rstrip("\ufffd")
    return None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e\u2010-\u2027\u2030-\u203b\u00b7\u00d7\u2460-\u24ff\u25a0-\u25ff\u2160-\u217f]")


def _chinese(data: bytes) -> str | None:
    """The text as GB18030 or Big5 (cp950), when one of them reads as ordinary Chinese; None to leave it to detection.

    Bytes in one East Asian encoding read as another give kana, Greek or box drawing, or else
    rare characters; ordinary text is mostly the common ones. This tells GBK from Big5 (and from
    Shift-JIS or EUC-KR) even in a short file, where statistical detection guesses.
    """
    best, best_share = None, 0.6
    for codec in ("gb18030", "cp950"):
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        sample = text[:20000]
        wide = len(_NON_ASCII.findall(sample))
        if not wide or len(_CHINESE.findall(sample)) < 0.95 * wide or _looks_binary(sample):
            continue
        hanzi = [ch for ch in _simplified(sample) if "\u3400" <= ch <= "\u9fff"]
        share = sum(ch in _common_hanzi() for ch in hanzi) / len(hanzi) if hanzi else 0.0
        if share > best_share:
            best, best_share = text, share
    return best


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    """The 1,000 most used Chinese characters, weighted by the word frequencies of jieba's dictionary."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    weight: Counter[str] = Counter()
    for word, frequency in jieba.dt.FREQ.items():
        if frequency:
            for ch in word:
                weight[ch] += frequency
    return frozenset(ch for ch, _ in weight.most_common(1000) if "\u3400" <= ch <= "\u9fff")


def _simplified(text: str) -> str:
    from ..text import _t2s

    return _t2s().convert(text)


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    for zeros, codec in ((odd, "utf-16-le"), (even, "utf-16-be")):
        # ASCII-heavy UTF-16 has a zero in every other byte; CJK-heavy UTF-16 has none, so also try decoding
        if zeros.count(0) > len(zeros) * 0.3 or codec == "utf-16-le":
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text) and _cjk_or_ascii_share(text) > 0.9:
                return text
    return None


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=None).best()
    if best is None:
        return None
    encoding = best.encoding
    if encoding in ("gb2312", "gbk", "hz"):
        encoding = "gb18030"  # the superset decodes everything the subsets do
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return str(best)


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\n\r\t\f") or ch == "\ufffd")
    return bad / len(sample) > 0.02


def _cjk_or_ascii_share(text: str) -> float:
    sample = text[:5000]
    good = sum(1 for ch in sample if ord(ch) < 128 or "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return good / max(1, len(sample))
