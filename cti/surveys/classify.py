"""Classifying a customer's survey reply into the terms of issue 6.

Pure: no database, no I/O after the lexicon is read.  The terms are those of
patent 001 (<61>: 불만, 단순한 만족, 사용법 문의, 재고장, 감동) plus the high
satisfaction and additional request of the issue:

    simple_satisfaction, high_satisfaction, howto_question, repeated_trouble,
    additional_request, impression, dissatisfaction

Text is matched against a lexicon of regular expressions (Korean stems and English
phrases, ``data/reply_terms.json``).  Groups are tried in file order and each match
is blanked out of the text before the next group looks, so a negated phrase ("안
좋아요", "not good", "불만족") is counted once, as what it means, and never again as
the positive word it contains.  When several terms matched, the reply's main term
is the first of them in the lexicon's ``priority`` (those that need someone to act
first).  A reply that is only a digit 1-5 ("5", "5점", "4/5") is a rating.  Text
that matches nothing is ``unclassified``: a person reads it.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

SIMPLE_SATISFACTION = "simple_satisfaction"
HIGH_SATISFACTION = "high_satisfaction"
HOWTO_QUESTION = "howto_question"
REPEATED_TROUBLE = "repeated_trouble"
ADDITIONAL_REQUEST = "additional_request"
IMPRESSION = "impression"
DISSATISFACTION = "dissatisfaction"
UNCLASSIFIED = "unclassified"

TERMS = (SIMPLE_SATISFACTION, HIGH_SATISFACTION, HOWTO_QUESTION, REPEATED_TROUBLE,
         ADDITIONAL_REQUEST, IMPRESSION, DISSATISFACTION)

DEFAULT_LEXICON = Path(__file__).with_name("data") / "reply_terms.json"

# "5", "5점", "5 점", "4/5", "rating: 3", "3 stars" - a reply that is only a rating.
_RATING_ONLY = re.compile(r"^(?:rating\s*:?\s*)?([1-5])\s*(?:점|/\s*5|stars?|points?)?\s*[.!]*$")
_SPACES = re.compile(r"\s+")


class LexiconError(ValueError):
    """The lexicon file is not usable (unknown term, bad pattern)."""


@dataclass(frozen=True)
class Classification:
    term: str                                   # the main term, or "unclassified"
    terms: tuple[str, ...] = ()                 # every term that matched, main term first
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)  # term -> matched text
    rating: Optional[int] = None                # a reply that was only a rating

    def as_dict(self) -> dict:
        return {"term": self.term, "terms": list(self.terms), "rating": self.rating,
                "evidence": {k: list(v) for k, v in self.evidence.items()}}


@dataclass(frozen=True)
class Lexicon:
    groups: tuple[tuple[str, tuple[re.Pattern, ...]], ...]
    priority: tuple[str, ...]
    ratings: dict[str, str]
    dtmf: dict[str, dict[str, str]]

    @classmethod
    def from_json(cls, data: dict) -> "Lexicon":
        groups = []
        for group in data.get("groups", []):
            term = group.get("term")
            if term not in TERMS:
                raise LexiconError(f"unknown term {term!r} in the reply lexicon")
            try:
                patterns = tuple(re.compile(p) for p in group.get("patterns", []))
            except re.error as exc:
                raise LexiconError(f"bad pattern for {term}: {exc}") from None
            groups.append((term, patterns))
        priority = tuple(data.get("priority", TERMS))
        if set(priority) != set(TERMS):
            raise LexiconError("the lexicon's priority must list every term once")
        ratings = {k: v for k, v in data.get("ratings", {}).items() if not k.startswith("_")}
        dtmf = {k: v for k, v in data.get("dtmf", {}).items() if not k.startswith("_")}
        for term in list(ratings.values()) + [t for keys in dtmf.values() for t in keys.values()]:
            if term not in TERMS:
                raise LexiconError(f"unknown term {term!r} in the reply lexicon")
        return cls(tuple(groups), priority, ratings, dtmf)


@lru_cache(maxsize=4)
def load_lexicon(path: str = str(DEFAULT_LEXICON)) -> Lexicon:
    """The lexicon of ``path`` (read once per path; the data never changes at run time)."""
    with open(path, encoding="utf-8") as fh:
        return Lexicon.from_json(json.load(fh))


def normalise(text: str) -> str:
    """NFC (Korean typed on some phones arrives decomposed), lower case, curly
    apostrophes straight, one space between words."""
    text = unicodedata.normalize("NFC", text or "").lower().replace("\u2019", "'").replace("\u2018", "'")
    return _SPACES.sub(" ", text).strip()


def classify_rating(rating: int, lexicon: Optional[Lexicon] = None) -> Classification:
    """A keypad rating 1-5.  Raises ValueError for anything else."""
    lexicon = lexicon or load_lexicon()
    term = lexicon.ratings.get(str(rating))
    if term is None or isinstance(rating, bool):
        raise ValueError(f"a rating is 1 to 5, not {rating!r}")
    return Classification(term, (term,), {}, int(rating))


def classify_dtmf(question: str, key: str, lexicon: Optional[Lexicon] = None) -> Optional[str]:
    """The term a key pressed for one of the survey IVR's yes/no questions means
    (``trouble_back``: 1 = yes; ``agent_kind``: 2 = no), or None when it calls
    for nothing.  ``question == "rating"`` is the same as :func:`classify_rating`."""
    lexicon = lexicon or load_lexicon()
    if question == "rating":
        return classify_rating(int(key), lexicon).term if key.isdigit() else None
    if question not in lexicon.dtmf:
        raise ValueError(f"unknown survey question {question!r}")
    return lexicon.dtmf[question].get(key)


def classify(text: str, lexicon: Optional[Lexicon] = None) -> Classification:
    """The terms of a reply text (Korean or English, or both)."""
    lexicon = lexicon or load_lexicon()
    norm = normalise(text)
    rating = _RATING_ONLY.match(norm)
    if rating:
        return classify_rating(int(rating.group(1)), lexicon)
    evidence: dict[str, list[str]] = {}
    rest = norm
    for term, patterns in lexicon.groups:
        for pattern in patterns:
            rest = _take(pattern, rest, evidence.setdefault(term, []))
    found = {t: tuple(v) for t, v in evidence.items() if v}
    if not found:
        return Classification(UNCLASSIFIED, (), {})
    terms = tuple(t for t in lexicon.priority if t in found)
    return Classification(terms[0], terms, found)


def _take(pattern: re.Pattern, text: str, sink: list[str]) -> str:
    """Record every match of ``pattern`` and blank it out (same length, so later
    patterns see the words around it where they were)."""
    def blank(match: re.Match) -> str:
        sink.append(match.group(0))
        return " " * len(match.group(0))
    return pattern.sub(blank, text)
