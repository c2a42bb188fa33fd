"""Translated labels for values stored in English (states, ticket statuses, history)."""
from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from cti.agent_state import NOT_READY_REASONS, UnknownReason, agent_reasons, not_ready_reason

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
    # Intake channels (docs/intake.md).
    "message_received": _l("E-mail received"),
    "popped": _l("Shown to agent"),
    # The happy call (docs/happy-call.md): each call attempt, then how the customer was told.
    "happy_call_attempt": _l("Happy call attempt"),
    "happy_call": _l("Happy call"),
}

POP_TYPE_LABELS = {
    "call": _l("Inbound call"),
    "callback": _l("Callback"),
    # New tickets from the intake channels (docs/intake.md).
    "email": _l("E-mail"),
    "web": _l("Web form"),
    "onestop": _l("One-stop request"),
    # A customer who called the survey reply line and asked to talk to someone (docs/sms.md).
    "survey_reply": _l("Survey reply"),
    # The follow-up ticket of a survey reply: repeated trouble / additional request (docs/surveys.md).
    "survey": _l("Survey follow-up"),
}

# The floor (docs/agent-desktop.md#the-floor): live calls, callbacks, monitoring.
CALL_OUTCOME_LABELS = {
    "": _l("In the ARS"),
    "queued": _l("Waiting in queue"),
    "ringing": _l("Ringing an agent"),
    "talking": _l("Connected to an agent"),
}

MONITOR_LABELS = {
    "listen": _l("Listen"),
    "whisper": _l("Whisper"),
    "barge": _l("Barge in"),
}

CALLBACK_STATUS_LABELS = {
    "open": _l("Open"),
    "dialing": _l("Dialling"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}

CALLBACK_KIND_LABELS = {
    "abandoned": _l("Abandoned"),
    "requested": _l("Callback requested"),
}

CALLBACK_OUTCOME_LABELS = {
    "reached": _l("Reached"),
    "no_answer": _l("No answer"),
    "busy": _l("Busy"),
    "failed": _l("Failed"),
}

CHANNEL_LABELS = {
    "phone": _l("Phone call"),
    "email": _l("E-mail"),
    "web": _l("Web"),
    "onestop": _l("One-stop desk"),
    "survey": _l("Survey follow-up"),
}

# Satisfaction surveys (docs/surveys.md): the reply terms and the channels replies come by.
SURVEY_TERM_LABELS = {
    "simple_satisfaction": _l("Satisfied"),
    "high_satisfaction": _l("Highly satisfied"),
    "how_to_use": _l("How-to-use question"),
    "repeated_trouble": _l("Repeated trouble"),
    "additional_request": _l("Additional request"),
    "impression": _l("Impression"),
    "dissatisfaction": _l("Dissatisfied"),
}

SURVEY_CHANNEL_LABELS = {
    "phone": _l("Phone call"),
    "email": _l("E-mail"),
    "sms": _l("Text message"),
    "web": _l("Web form"),
    "line": _l("Reply line"),   # keyed on the survey reply line
}

ROLE_LABELS = {
    "agent": _l("Agent"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
    "trainee": _l("Trainee"),
    "approver": _l("Approver"),
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


# ---- NOT_READY reason codes (their ko/en labels live in cti.agent_state) ------------------
def language() -> str:
    """The page's language code ("ko" or "en")."""
    return str(get_locale() or "ko")


def reason_label(code: str | None) -> str:
    """The label of a NOT_READY reason code in the page's language (an unknown
    code, e.g. a free text stored before the codes, is shown as it is)."""
    if not code:
        return ""
    try:
        return not_ready_reason(code).label(language())
    except UnknownReason:
        return code


def reason_strings() -> dict[str, str]:
    """Every reason code (the system's too) -> its label, for the scripts."""
    lang = language()
    return {r.code: r.label(lang) for r in NOT_READY_REASONS}


def reason_options() -> list[tuple[str, str]]:
    """(code, label) of the reasons an agent may choose, in display order."""
    lang = language()
    return [(r.code, r.label(lang)) for r in agent_reasons()]


def queue_label(title: str, title_en: str, name: str) -> str:
    """A queue's title in the page's language."""
    if language() == "en":
        return title_en or title or name
    return title or title_en or name
