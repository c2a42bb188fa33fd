"""The model's own vocabulary, with unigram frequencies where the graph has them.

A Vosk grammar may only use words the model knows (others are dropped with the
warning "Ignoring word missing in vocabulary").  The Korean small model ships no
``words.txt``: its 503 k words are the output symbol table embedded in
``graph/Gr.fst``, an OpenFst ``ngram`` FST (the language model as a LOUDS trie).
We read that table, and the unigram weights of the trie's root state, with the
standard library only (no OpenFst, no numpy), in about a second.

The frequencies choose filler words for keyword spotting (frequent, short words
absorb non-keyword speech) and the surface forms of a keyword.

File layouts (OpenFst ``fst.h`` / ``symbol-table.cc`` / ``extensions/ngram/ngram-fst.h``):
header = magic i32, fst type str, arc type str, version i32, flags i32,
properties u64, start i64, #states i64, #arcs i64, then the input / output symbol
tables when flags bits 0 / 1 are set (magic i32, name str, available key i64,
size i64, size x (str, key i64)).  An ngram FST's data then follows:
#states u64, #futures u64, #final u64, the context / future / final bitmaps,
context words, future words (i32), padding to 4, backoff, final and future
weights (f32, -ln p).  The root state's futures are the unigrams: the future
bitmap starts ``0 1..1 0`` with one 1 per unigram.
"""
from __future__ import annotations

import bisect
import struct
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

FST_MAGIC = 2125659606
SYMTAB_MAGIC = 2125658996
_INF = float("inf")


class VocabularyError(RuntimeError):
    pass


def _i32(fh: BinaryIO) -> int:
    return struct.unpack("<i", fh.read(4))[0]


def _i64(fh: BinaryIO) -> int:
    return struct.unpack("<q", fh.read(8))[0]


def _str(fh: BinaryIO) -> bytes:
    return fh.read(_i32(fh))


def _read_symtab(fh: BinaryIO) -> dict[int, str]:
    if _i32(fh) != SYMTAB_MAGIC:
        raise VocabularyError("bad symbol table magic")
    _str(fh)
    _i64(fh)
    size = _i64(fh)
    data = {}
    unpack_i32, unpack_i64 = struct.Struct("<i").unpack, struct.Struct("<q").unpack
    read = fh.read
    for _ in range(size):
        word = read(unpack_i32(read(4))[0])
        data[unpack_i64(read(8))[0]] = word.decode("utf-8", "replace")
    return data


def read_fst_words(path: Path) -> tuple[dict[int, str], dict[int, float]]:
    """(output symbols id -> word, unigram cost by id) of an FST file; costs only for ngram FSTs."""
    with open(path, "rb") as fh:
        if _i32(fh) != FST_MAGIC:
            raise VocabularyError(f"{path} is not an OpenFst file")
        fst_type = _str(fh).decode()
        _str(fh)
        _i32(fh)
        flags = _i32(fh)
        fh.read(8 + 8 + 8 + 8)
        tables = []
        for bit in (1, 2):
            if flags & bit:
                tables.append(_read_symtab(fh))
        if not tables:
            raise VocabularyError(f"{path} has no symbol table")
        symbols = tables[-1]
        costs: dict[int, float] = {}
        if fst_type == "ngram":
            costs = _ngram_unigrams(fh)
    return symbols, costs


def _ngram_unigrams(fh: BinaryIO) -> dict[int, float]:
    num_states, num_futures, num_final = struct.unpack("<QQQ", fh.read(24))

    def words64(bits: int) -> int:
        return (bits + 63) // 64

    context_w, future_w, final_w = (words64(num_states * 2 + 1), words64(num_futures + num_states + 1),
                                    words64(num_states))
    fh.read(context_w * 8)
    future_bits = array("Q")
    future_bits.frombytes(fh.read(future_w * 8))
    fh.read(final_w * 8)
    offset = 24 + (context_w + future_w + final_w) * 8
    fh.read((num_states + 1) * 4)                                   # context words
    offset += (num_states + 1) * 4
    # Count the root's futures: bit 0 is 0, then one 1 per unigram up to the next 0.
    count, position = 0, 1
    while (future_bits[position >> 6] >> (position & 63)) & 1:
        count += 1
        position += 1
    future_words = array("i")
    future_words.frombytes(fh.read(count * 4))
    fh.read((num_futures - count) * 4)
    offset += num_futures * 4
    fh.read(((offset + 3) & ~3) - offset)
    fh.read((num_states + 1) * 4 + num_final * 4)                   # backoff, final weights
    probs = array("f")
    probs.frombytes(fh.read(count * 4))
    if len(probs) != count or len(future_words) != count:
        raise VocabularyError("truncated ngram FST")
    return dict(zip(future_words, probs))


@dataclass
class Vocabulary:
    """Words the model can output (sorted), with unigram cost (-ln p, inf if unknown)."""
    words: list[str]
    costs: array = field(repr=False)
    has_frequencies: bool = False

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, float]], has_frequencies: bool) -> "Vocabulary":
        items = sorted(pairs)
        return cls([w for w, _ in items], array("f", [c for _, c in items]), has_frequencies)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        i = bisect.bisect_left(self.words, word)  # type: ignore[arg-type]
        return i < len(self.words) and self.words[i] == word

    def cost(self, word: str) -> float:
        i = bisect.bisect_left(self.words, word)
        return float(self.costs[i]) if i < len(self.words) and self.words[i] == word else _INF

    def with_prefix(self, prefix: str) -> list[str]:
        i = bisect.bisect_left(self.words, prefix)
        out = []
        while i < len(self.words) and self.words[i].startswith(prefix):
            out.append(self.words[i])
            i += 1
        return out

    def most_frequent(self, n: int, keep: Callable[[str], bool] = lambda w: True) -> list[str]:
        order = sorted(range(len(self.words)), key=self.costs.__getitem__)
        out = []
        for i in order:
            if keep(self.words[i]):
                out.append(self.words[i])
                if len(out) >= n:
                    break
        return out


_SPECIAL = {"<eps>", "#0", "<s>", "</s>"}
_cache: dict[str, Vocabulary] = {}
_cache_lock = threading.Lock()


def read_vocabulary(model_path: str | Path) -> Vocabulary:
    """The vocabulary of a Vosk model folder (cached per folder for the process).

    ``graph/words.txt`` when present (frequencies then come from an ngram Gr.fst if
    any), else the symbol table of ``graph/Gr.fst`` or ``graph/HCLG.fst``."""
    key = str(Path(model_path).resolve())
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    graph = Path(key) / "graph"
    symbols: dict[int, str] = {}
    costs: dict[int, float] = {}
    gr = graph / "Gr.fst"
    if gr.is_file():
        symbols, costs = read_fst_words(gr)
    words_txt = graph / "words.txt"
    if words_txt.is_file():
        symbols = {}
        with open(words_txt, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 2:
                    symbols[int(parts[1])] = parts[0]
    if not symbols and (graph / "HCLG.fst").is_file():
        symbols, _ = read_fst_words(graph / "HCLG.fst")
    if not symbols:
        raise VocabularyError(f"no vocabulary found in {graph}")
    pairs = ((w, costs.get(i, _INF)) for i, w in symbols.items()
             if w not in _SPECIAL and not w.startswith("#"))
    vocab = Vocabulary.from_pairs(pairs, bool(costs))
    with _cache_lock:
        _cache[key] = vocab
    return vocab


def forget_cached() -> None:
    with _cache_lock:
        _cache.clear()
