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
# "5 2 1 the printer works": rating, trouble came back (1 yes / 2 no), staff kind (1/2),
# then words: the answer format the survey e-mail suggests.
_KEYED_TEXT = re.compile(r"^\s*([1-5])(?:[\s,./]+([12])(?:[\s,./]+([12]))?)?(?=[\s.,!)]|$)[\s.,!)]*")
# Where the quoted survey starts in a reply (mail clients in English and Korean).
_QUOTE_HEADER = re.compile(
    r"^\s*(?:On\s.{0,300}\bwrote:|-{2,}\s*(?:Original Message|원본 메시지|Forwarded message)\s*-{2,}"
    r"|(?:From|보낸 사람|보낸사람)\s*:.*|.{0,300}님이\s*작성(?:한 글)?\s*:|-- )\s*$", re.IGNORECASE)


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


def keyed_text(text: str) -> tuple[dict, str]:
    """The answers keyed at the start of an e-mail reply ("5 2 1 thanks": rating 5,
    trouble came back no, staff kind yes) and the words after them.  No leading
    rating: ({}, the whole text)."""
    match = _KEYED_TEXT.match(text or "")
    if not match:
        return {}, (text or "").strip()
    answers: dict[str, Any] = {"rating": int(match.group(1))}
    if match.group(2):
        answers["trouble_again"] = match.group(2) == "1"
    if match.group(3):
        answers["staff_kind"] = match.group(3) == "1"
    return answers, text[match.end():].strip()


def email_reply_text(body: str) -> str:
    """What the customer wrote in an e-mail reply: the lines before the quoted survey
    (an "On ... wrote:" line, an "Original Message" separator, a quoted From: header,
    the signature) without quoted ("> ") lines."""
    kept = []
    for line in (body or "").splitlines():
        if _QUOTE_HEADER.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()[:MAX_COMMENT * 5]


def fingerprint(channel: str, raw: str) -> str:
    """Equal replies on the same channel (the same SMS twice) have the same fingerprint."""
    normal = " ".join(str(raw).split()).casefold()
    return hashlib.sha256(f"{channel}\n{normal}".encode("utf-8")).hexdigest()


def raw_of_answers(answers: dict) -> str:
    return json.dumps(answers, ensure_ascii=False, sort_keys=True)
