"""Translated labels for values stored in English (states, ticket statuses, history)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "logged_out": _l("Logged out"),
    "ready": _l("Ready"),
    "not_ready": _l("Not ready"),
    "ringing": _l("Ringing"),
    "talking": _l("Talking"),
    "wrap_up": _l("Wrap-up"),
}

TICKET_STATUS_LABELS = {
    "new": _l("New"),
    "queued": _l("Queued"),
    "offered": _l("Offered"),
    "in_progress": _l("In progress"),
    "abandoned": _l("Abandoned"),
    "resolved": _l("Resolved"),
}

HISTORY_LABELS = {
    "created": _l("Created"),
    "identified": _l("Caller identified"),
    "unidentified": _l("Caller not identified"),
    "queued": _l("Queued"),
    "offered": _l("Offered to agent"),
    "no_answer": _l("Not answered"),
    "answered": _l("Answered"),
    "abandoned": _l("Abandoned"),
    "lost": _l("Call lost"),
    "call_ended": _l("Call ended"),
    "note": _l("Note"),
    "resolved": _l("Resolved"),
}

POP_TYPE_LABELS = {
    "call": _l("Inbound call"),
}

CHANNEL_LABELS = {
    "phone": _l("Phone call"),
    "email": _l("E-mail"),
    "web": _l("Web"),
    "onestop": _l("One-stop desk"),
}

ROLE_LABELS = {
    "agent": _l("Agent"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
    "trainee": _l("Trainee"),
}

# Customer sensitivity (docs/sensitivity.md).
KIND_LABELS = {
    "positive": _l("Positive"),
    "expected": _l("Expected"),
    "negative": _l("Negative"),
}

SOURCE_LABELS = {
    "agent": _l("Agent"),
    "technician": _l("Technician"),
    "asr": _l("Speech analysis (accepted)"),
    "file": _l("Data file"),
    "admin": _l("Administrator"),
}

SUGGESTION_STATUS_LABELS = {
    "suggested": _l("Suggested"),
    "accepted": _l("Accepted"),
    "rejected": _l("Rejected"),
}


def label(table: dict, value: str) -> str:
    return str(table.get(value, value))


def as_strings(table: dict) -> dict[str, str]:
    return {key: str(value) for key, value in table.items()}
