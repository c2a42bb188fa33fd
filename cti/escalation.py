"""Escalation rules as pure functions (docs/escalation.md).

Nothing here reads a clock or a database: every function takes ``now`` and the
rows it needs, so the rules are tested with plain values.

* SLA lookup: the row of (system, severity), else the row of ("*", severity),
  else the configured defaults.  Severity 1 and 2 need progress every
  ``progress_minutes`` (30 unless the table says otherwise); 3 and 4 do not.
* First level: from the first pop (``first_level_started_at``) a ticket may stay
  at level 1 for the SLA's first-level limit; then it is due for automatic
  assignment to the preset group.
* Progress: a severity 1/2 ticket at level 2 is overdue when no progress was
  entered for ``progress_minutes`` since the last progress (or since it was
  escalated, or its first level started).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Optional

SEVERITIES = (1, 2, 3, 4)
# Severities that must report progress regularly (issue 5: "Severity 1 and 2").
PROGRESS_SEVERITIES = frozenset({1, 2})
ANY_SYSTEM = "*"

# Job kinds of the persisted schedule (db.models.ScheduledJob).
FIRST_LEVEL_JOB = "first_level"
PROGRESS_JOB = "progress"

MAX_REASON = 2_000
MAX_TEXT = 10_000
MAX_SYSTEM = 64


class EscalationError(ValueError):
    """A request the rules refuse (the message says why)."""


@dataclass(frozen=True)
class SlaRow:
    system: str
    severity: int
    progress_minutes: Optional[int]
    first_level_minutes: Optional[int]
    group_code: Optional[str]


@dataclass(frozen=True)
class SlaDefaults:
    first_level: dt.timedelta                 # [escalation] first_level_hours
    progress_minutes: int                     # [escalation] progress_minutes (severity 1/2)
    group_code: str                           # [escalation] default_group

    @classmethod
    def from_config(cls, section: dict) -> "SlaDefaults":
        hours = float(section["first_level_hours"])
        minutes = int(section["progress_minutes"])
        if hours <= 0 or minutes <= 0:
            raise ValueError("escalation.first_level_hours and progress_minutes must be > 0")
        return cls(dt.timedelta(hours=hours), minutes, str(section["default_group"]))


@dataclass(frozen=True)
class SlaTerms:
    """What applies to one ticket."""
    system: str
    severity: Optional[int]
    first_level: dt.timedelta
    progress: Optional[dt.timedelta]          # None: no progress rule
    group_code: str                           # the preset group for automatic assignment


def sla_terms(rows: Iterable[SlaRow], system: str, severity: Optional[int], defaults: SlaDefaults) -> SlaTerms:
    """The terms for (system, severity): the exact row, else the ``*`` row of the
    severity, else the defaults.  A row's empty values fall back to the defaults
    (progress: only for severity 1/2).  No severity: first-level rule only."""
    by_key = {(r.system, r.severity): r for r in rows}
    row = None
    if severity is not None:
        row = by_key.get((system, severity)) or by_key.get((ANY_SYSTEM, severity))
    first_level = (dt.timedelta(minutes=row.first_level_minutes)
                   if row is not None and row.first_level_minutes else defaults.first_level)
    progress_minutes: Optional[int] = None
    if row is not None and row.progress_minutes:
        progress_minutes = row.progress_minutes
    elif severity in PROGRESS_SEVERITIES:
        progress_minutes = defaults.progress_minutes
    return SlaTerms(system=system, severity=severity, first_level=first_level,
                    progress=dt.timedelta(minutes=progress_minutes) if progress_minutes else None,
                    group_code=(row.group_code if row is not None and row.group_code else defaults.group_code))


# ---- first level -----------------------------------------------------------------------
def first_level_due_at(started_at: dt.datetime, terms: SlaTerms) -> dt.datetime:
    return started_at + terms.first_level


def first_level_elapsed(started_at: Optional[dt.datetime], now: dt.datetime,
                        ended_at: Optional[dt.datetime] = None) -> Optional[float]:
    """Seconds the ticket has been (or was, until ``ended_at``) at the first level."""
    if started_at is None:
        return None
    end = ended_at if ended_at is not None else now
    return max(0.0, (end - started_at).total_seconds())


def due_for_auto_assignment(*, is_open: bool, level: int, started_at: Optional[dt.datetime],
                            terms: SlaTerms, now: dt.datetime) -> bool:
    """Still open at the first level when the first-level limit has passed."""
    return (is_open and level == 1 and started_at is not None
            and now >= first_level_due_at(started_at, terms))


# ---- progress ---------------------------------------------------------------------------
def progress_reference(last_progress_at: Optional[dt.datetime], escalated_at: Optional[dt.datetime],
                       first_level_started_at: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """The time the progress clock runs from: the last progress entered, else the
    escalation, else the start of the first level."""
    return last_progress_at or escalated_at or first_level_started_at


def progress_due_at(reference: Optional[dt.datetime], terms: SlaTerms) -> Optional[dt.datetime]:
    if reference is None or terms.progress is None:
        return None
    return reference + terms.progress


def progress_overdue(*, is_open: bool, reference: Optional[dt.datetime], terms: SlaTerms,
                     now: dt.datetime) -> bool:
    """An open ticket with a progress rule whose next progress is past due."""
    due = progress_due_at(reference, terms)
    return is_open and due is not None and now >= due


def seconds_overdue(due: Optional[dt.datetime], now: dt.datetime) -> float:
    return max(0.0, (now - due).total_seconds()) if due is not None else 0.0


# ---- input ------------------------------------------------------------------------------
def clean_severity(value) -> int:
    try:
        severity = int(str(value).strip())
    except (TypeError, ValueError):
        raise EscalationError("the severity must be 1, 2, 3 or 4") from None
    if severity not in SEVERITIES:
        raise EscalationError("the severity must be 1, 2, 3 or 4")
    return severity


def clean_text(value, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    """Trimmed free text (kept as text: escaping is the page's job)."""
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise EscalationError(f"the {field} must be text")
    if required and not text:
        raise EscalationError(f"the {field} must not be empty")
    if len(text) > limit:
        raise EscalationError(f"the {field} is longer than {limit} characters")
    return text


def check_assignee(member_ids: Iterable[int], user_id: Optional[int]) -> None:
    """A person a ticket goes to must be a member of the group (None: the group as a whole)."""
    if user_id is not None and user_id not in set(member_ids):
        raise EscalationError("the person is not a member of the group")
