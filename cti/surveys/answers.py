"""Survey answers and reply terms.

Keyed answers (phone DTMF, the web form) map to a term directly; free text
(e-mail, SMS, the spoken comment) goes to the classifier port
(``cti.surveys.ports.Classifier``).  When a reply has both, the more actionable
term wins (a rating of 4 with "the printer jams again" is repeated trouble).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Optional

SIMPLE_SATISFACTION = "simple_satisfaction"
HIGH_SATISFACTION = "high_satisfaction"
HOW_TO_USE = "how_to_use"
REPEATED_TROUBLE = "repeated_trouble"
ADDITIONAL_REQUEST = "additional_request"
IMPRESSION = "impression"
DISSATISFACTION = "dissatisfaction"

#: Most actionable first: when a reply yields several terms, the first of these wins.
TERMS = (REPEATED_TROUBLE, ADDITIONAL_REQUEST, DISSATISFACTION, HOW_TO_USE, IMPRESSION, SIMPLE_SATISFACTION,
         HIGH_SATISFACTION)
#: Terms that open a service ticket again (a new ticket referring to the surveyed one).
TICKET_TERMS = frozenset({REPEATED_TROUBLE, ADDITIONAL_REQUEST})

MAX_COMMENT = 2000
_LONE_RATING = re.compile(r"^\s*([1-5])(?:\s|[.,!)]|$)")


class InvalidAnswers(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def clean_answers(rating: Any, trouble_again: Any = None, staff_kind: Any = None, comment: Any = "") -> dict:
    """Answers from keys or a form: rating 1..5 (required), trouble came back and staff
    kind as yes/no (optional: "1"/"yes"/True, "2"/"no"/False), a bounded comment."""
    try:
        rating_value = int(str(rating).strip())
    except (TypeError, ValueError):
        raise InvalidAnswers("rating", "the rating must be a number from 1 to 5") from None
    if not 1 <= rating_value <= 5:
        raise InvalidAnswers("rating", "the rating must be a number from 1 to 5")
    text = str(comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise InvalidAnswers("comment", f"the comment is longer than {MAX_COMMENT} characters")
    return {"rating": rating_value, "trouble_again": _yes_no(trouble_again, "trouble_again"),
            "staff_kind": _yes_no(staff_kind, "staff_kind"), "comment": text}


def _yes_no(value: Any, field: str) -> Optional[bool]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "yes", "y", "true"):
        return True
    if text in ("2", "no", "n", "false"):
        return False
    raise InvalidAnswers(field, "answer yes or no")


def term_of_answers(answers: dict) -> str:
    """The term keyed answers mean by themselves."""
    if answers.get("trouble_again"):
        return REPEATED_TROUBLE
    rating = answers.get("rating")
    if rating is None:
        return ""
    if rating <= 2:
        return DISSATISFACTION
    if rating == 5:
        return HIGH_SATISFACTION
    return SIMPLE_SATISFACTION


def most_actionable(*terms: str) -> str:
    present = [t for t in terms if t in TERMS]
    return min(present, key=TERMS.index) if present else ""


def rating_in_text(text: str) -> Optional[int]:
    """A reply that starts with a lone digit 1-5 ("5", "4 thanks") rates the service."""
    match = _LONE_RATING.match(text or "")
    return int(match.group(1)) if match else None


def fingerprint(channel: str, raw: str) -> str:
    """Equal replies on the same channel (the same SMS twice) have the same fingerprint."""
    normal = " ".join(str(raw).split()).casefold()
    return hashlib.sha256(f"{channel}\n{normal}".encode("utf-8")).hexdigest()


def raw_of_answers(answers: dict) -> str:
    return json.dumps(answers, ensure_ascii=False, sort_keys=True)
