"""Keyword lexicon per sensitivity code, and a text matcher that knows Korean.

The lexicon files (``asr_models/data/lexicon_<lang>.json``) list, per code, keyword
phrases.  A Korean phrase is one or more *stems* separated by spaces ("또 고장").

Korean matching rules (see docs/keyword-spotting.md):

* Words carry particles and endings (조사/어미): a stem matches a word that starts
  with it — "고장이", "고장났어요", "수리비가", "빨리요" match 고장, 수리비, 빨리.
* Spaces are unreliable (in typed text and in recogniser output alike): the parts
  of a phrase match with or without a space between them ("또고장", "또 고장") and
  with up to ``max_gap`` (1) other word between them ("또 이렇게 고장").
* A stem may also start inside a word, but only after one of the lexicon's
  ``attachable`` words (또, 너무, 정말, 안 ...) or ``particles`` (이, 가, 는 ...), so
  "너무비싸요" and "세탁기가또고장났어요" match, while "유감사항" does not match 감사.  Words listed under ``exclude`` ("감사원",
  "보증금", "연세대") never match.
* Negation, for keywords marked ``negatable`` (predicates: 비싸, 친절, 급하 ...):
  short negation before (안 비싸요, 못 ...) or long negation after (비싸지 않아요,
  친절하지 않았어요) turns the hit into a *negated* hit.  Decision: a negated hit is
  not evidence for the code.  ``match_text`` leaves it out unless asked
  (``include_negated=True``), and then it is marked ``negated``.  Keywords that
  carry their own negation ("안 왔", N01) are plain phrases, not negatable.

English (``language`` "en"): whole words, case-insensitive; ``word*`` matches any word
starting with ``word``; a plain word also matches its -s/-es/-ed/-d/-ing forms;
negation = not/no/never/...n't among the three words before a negatable phrase.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_GAP = 1


@dataclass(frozen=True)
class Keyword:
    code: str
    phrase: str                 # as written in the lexicon ("또 고장")
    parts: tuple[str, ...]      # the stems / words ("또", "고장")
    weight: float = 1.0
    negatable: bool = False
    exclude: tuple[str, ...] = ()


@dataclass
class Lexicon:
    language: str
    labels: dict[str, str]                 # code -> label (every code, even without keywords)
    keywords: list[Keyword]
    negators_before: tuple[str, ...] = ()
    negators_after: tuple[str, ...] = ()
    attachable: tuple[str, ...] = ()
    particles: tuple[str, ...] = ()
    voice: dict[str, list[str]] = field(default_factory=dict)   # voice flag -> codes
    source: str = ""

    @property
    def korean(self) -> bool:
        return self.language == "ko"

    def by_phrase(self) -> dict[str, list[Keyword]]:
        out: dict[str, list[Keyword]] = {}
        for kw in self.keywords:
            out.setdefault(kw.phrase, []).append(kw)
        return out

    def codes(self) -> list[str]:
        return sorted(self.labels)


@dataclass(frozen=True)
class TextHit:
    code: str
    keyword: str        # the lexicon phrase
    start_char: int     # span in the (NFC-normalised) text: the matched stems ...
    end_char: int
    surface: str        # ... and the whole words they occur in ("수리비가")
    weight: float = 1.0
    negated: bool = False


def lexicon_path(language: str) -> Path:
    return DATA_DIR / f"lexicon_{language}.json"


def load_lexicon(language: str = "ko", path: str | Path | None = None) -> Lexicon:
    """The lexicon for ``language`` (``asr_models/data/lexicon_<language>.json``), or
    the file ``path``.  Raises FileNotFoundError / ValueError on a bad file."""
    file = Path(path) if path else lexicon_path(language)
    with open(file, encoding="utf-8") as fh:
        data = json.load(fh)
    return lexicon_from_dict(data, source=str(file))


def lexicon_from_dict(data: dict, source: str = "") -> Lexicon:
    language = data.get("language", "ko")
    labels: dict[str, str] = {}
    keywords: list[Keyword] = []
    for code, entry in sorted(data.get("codes", {}).items()):
        labels[code] = entry.get("label", code)
        for item in entry.get("keywords", []):
            if isinstance(item, str):
                item = {"phrase": item}
            phrase = _nfc(item["phrase"]).strip()
            if language != "ko":
                phrase = phrase.lower()
            parts = tuple(phrase.split())
            if not parts:
                raise ValueError(f"{source}: empty keyword in {code}")
            if language == "ko" and len(parts) == 1 and len(parts[0]) < 2:
                raise ValueError(f"{source}: one-syllable keyword {phrase!r} in {code} would match everywhere")
            keywords.append(Keyword(code, phrase, parts, float(item.get("weight", 1.0)),
                                    bool(item.get("negatable", False)),
                                    tuple(_nfc(x) for x in item.get("exclude", ()))))
    return Lexicon(language, labels, keywords,
                   tuple(_nfc(x) for x in data.get("negators_before", ())),
                   tuple(_nfc(x).replace(" ", "") for x in data.get("negators_after", ())),
                   tuple(_nfc(x) for x in data.get("attachable", ())),
                   tuple(_nfc(x) for x in data.get("particles", ())),
                   {k: list(v) for k, v in data.get("voice", {}).items()}, source)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words of ``text`` with their character spans (letters/digits; punctuation separates)."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def match_text(text: str, lexicon: Lexicon, include_negated: bool = False) -> list[TextHit]:
    """Every keyword of ``lexicon`` found in ``text``, in text order.

    A shorter keyword of the same code inside a longer match ("고장" inside
    "또 고장났어요") is dropped.  Negated hits are left out unless ``include_negated``.
    """
    text = _nfc(text or "")
    if lexicon.korean:
        hits = _match_korean(text, lexicon)
    else:
        hits = _match_words(text, lexicon)
    hits = _drop_subsumed(hits)
    if not include_negated:
        hits = [h for h in hits if not h.negated]
    return sorted(hits, key=lambda h: (h.start_char, -h.end_char, h.code))


def _drop_subsumed(hits: list[TextHit]) -> list[TextHit]:
    keep = []
    for h in hits:
        inside = any(o is not h and o.code == h.code and o.start_char <= h.start_char and h.end_char <= o.end_char
                     and (o.end_char - o.start_char) > (h.end_char - h.start_char) for o in hits)
        duplicate = any(o.code == h.code and o.start_char == h.start_char and o.end_char == h.end_char
                        and o.keyword == h.keyword for o in keep)
        if not inside and not duplicate:
            keep.append(h)
    return keep


class _Compact:
    """The text without spaces, mapped back to the text and to its words."""

    def __init__(self, text: str):
        self.tokens = tokenize(text)
        chars, orig, tok_of, starts, ends = [], [], [], [], []
        for t, (word, start, _end) in enumerate(self.tokens):
            starts.append(len(chars))
            for k, ch in enumerate(word):
                chars.append(ch)
                orig.append(start + k)
                tok_of.append(t)
            ends.append(len(chars))
        self.text = "".join(chars)
        self.orig, self.tok_of, self.starts, self.ends = orig, tok_of, starts, ends

    def find_all(self, needle: str) -> Iterable[int]:
        i = self.text.find(needle)
        while i >= 0:
            yield i
            i = self.text.find(needle, i + 1)


def _match_korean(text: str, lex: Lexicon) -> list[TextHit]:
    c = _Compact(text)
    hits = []
    for kw in lex.keywords:
        first = kw.parts[0]
        for i in c.find_all(first):
            t = c.tok_of[i]
            prefix = c.text[c.starts[t]:i]
            if prefix and not any(prefix.endswith(a) for a in lex.attachable + lex.particles):
                continue
            end = _follow_parts(c, kw.parts, i + len(first))
            if end is None:
                continue
            t_end = c.tok_of[end - 1]
            word_from_start = c.text[i:c.ends[t_end]]
            if any(word_from_start.startswith(x) for x in kw.exclude):
                continue
            negated = kw.negatable and _korean_negated(c, lex, i, end, prefix)
            start_char, end_char = c.orig[i], c.orig[end - 1] + 1
            surface = text[c.tokens[t][1]:c.tokens[t_end][2]]
            hits.append(TextHit(kw.code, kw.phrase, start_char, end_char, surface, kw.weight, negated))
    return hits


def _follow_parts(c: _Compact, parts: Sequence[str], pos: int) -> int | None:
    for part in parts[1:]:
        t_prev = c.tok_of[pos - 1]
        candidates = [pos] + [c.starts[t] for t in range(t_prev + 1, min(len(c.starts), t_prev + 2 + MAX_GAP))]
        for cand in candidates:
            if c.text.startswith(part, cand):
                pos = cand + len(part)
                break
        else:
            return None
    return pos


def _korean_negated(c: _Compact, lex: Lexicon, start: int, end: int, prefix: str) -> bool:
    t = c.tok_of[start]
    if prefix:
        before = prefix
    elif t > 0:
        before = c.tokens[t - 1][0]
    else:
        before = ""
    if before in lex.negators_before or (prefix and (prefix.endswith("안") or prefix.endswith("못"))):
        return True
    if t > 1 and not prefix and f"{c.tokens[t - 2][0]} {before}" in lex.negators_before:
        return True
    rest = c.text[end:end + 6]
    return any(rest.startswith(n) or rest[1:].startswith(n) for n in lex.negators_after)


_EN_SUFFIXES = ("", "s", "es", "ed", "d", "ing", "'s")


def _word_matches(pattern: str, token: str) -> bool:
    if pattern.endswith("*"):
        return token.startswith(pattern[:-1])
    return any(token == pattern + suffix for suffix in _EN_SUFFIXES)


def _match_words(text: str, lex: Lexicon) -> list[TextHit]:
    tokens = [(w.lower().replace("’", "'"), s, e) for w, s, e in tokenize(text)]
    hits = []
    for kw in lex.keywords:
        for i, (tok, _s, _e) in enumerate(tokens):
            if not _word_matches(kw.parts[0], tok):
                continue
            j = i
            for part in kw.parts[1:]:
                for k in range(j + 1, min(len(tokens), j + 2 + MAX_GAP)):
                    if _word_matches(part, tokens[k][0]):
                        j = k
                        break
                else:
                    j = -1
                    break
            if j < 0:
                continue
            negated = False
            if kw.negatable:
                before = [tokens[k][0] for k in range(max(0, i - 3), i)]
                negated = any(b in lex.negators_before or b.endswith("n't") for b in before)
            start, end = tokens[i][1], tokens[j][2]
            hits.append(TextHit(kw.code, kw.phrase, start, end, text[start:end], kw.weight, negated))
    return hits
