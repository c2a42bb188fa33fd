"""Ticket lifecycle as a table of allowed moves.

Every move is stored as a TicketEvent with its time, so the history of a ticket
(created, queued, offered, answered, resolved ...) can be read back in order.
"""
from __future__ import annotations

from enum import Enum


class TicketStatus(str, Enum):
    NEW = "new"
    QUEUED = "queued"
    OFFERED = "offered"
    IN_PROGRESS = "in_progress"
    ABANDONED = "abandoned"
    RESOLVED = "resolved"


T = TicketStatus

# event kind -> (statuses it may happen in, status afterwards)
_MOVES: dict[str, tuple[frozenset[TicketStatus], TicketStatus]] = {
    "queued": (frozenset({T.NEW, T.OFFERED}), T.QUEUED),
    "offered": (frozenset({T.QUEUED}), T.OFFERED),
    "no_answer": (frozenset({T.OFFERED}), T.QUEUED),
    "answered": (frozenset({T.OFFERED}), T.IN_PROGRESS),
    # The caller hung up, or the call was lost with the PBX, before an agent answered.
    "abandoned": (frozenset({T.NEW, T.QUEUED, T.OFFERED}), T.ABANDONED),
    "resolved": (frozenset({T.IN_PROGRESS, T.ABANDONED, T.NEW, T.QUEUED}), T.RESOLVED),
    # A callback reached the customer (after an abandoned call or a requested callback).
    "callback_reached": (frozenset({T.ABANDONED, T.QUEUED, T.NEW, T.IN_PROGRESS}), T.IN_PROGRESS),
}

# Events that are recorded in the history but do not change the status.
NOTES = frozenset({"created", "identified", "unidentified", "call_ended", "note", "lost", "moved",
                   "callback", "callback_requested", "callback_offered",
                   # lifecycle and escalation (cti.escalation_service, docs/escalation.md)
                   "first_level_started", "classified", "escalated", "reassigned", "cause_action",
                   "progress", "progress_overdue",
                   # the survey reply line (ivr/flows/reply_line.py)
                   "survey_reply"})


class InvalidTicketMove(ValueError):
    pass


def next_status(current: TicketStatus | str, kind: str) -> TicketStatus:
    current = TicketStatus(current)
    if kind in NOTES:
        return current
    try:
        allowed, target = _MOVES[kind]
    except KeyError:
        raise InvalidTicketMove(f"unknown ticket event {kind!r}") from None
    if current not in allowed:
        raise InvalidTicketMove(f"a {current.value} ticket cannot be {kind}")
    return target


def is_open(status: TicketStatus | str) -> bool:
    return TicketStatus(status) != T.RESOLVED


def incident_id(ticket_id: int) -> str:
    return f"INC-{ticket_id:06d}"


MAX_RESOLUTION_LENGTH = 10_000


def clean_resolution(text: str | None) -> str:
    """The agent's resolution text: required, trimmed, bounded."""
    text = (text or "").strip()
    if not text:
        raise ValueError("the resolution must not be empty")
    if len(text) > MAX_RESOLUTION_LENGTH:
        raise ValueError(f"the resolution is longer than {MAX_RESOLUTION_LENGTH} characters")
    return text
