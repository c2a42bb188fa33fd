"""The happy call: each update of a severity 1/2 ticket is relayed to the
customer by an automated outbound call that speaks the status, or by e-mail
when the call is not answered (issue 5, docs/happy-call.md).

Pure domain, no Asterisk: this module keeps the persisted outbox
(``db.models.HappyCall``) and its state machine; the telephony side
(``ivr/flows/happy_call.py``, driven by ``ivr.app``) claims due rows, dials,
and reports each attempt's outcome here.

States::

    queued --claim--> dialing --answered--> answered                      (done)
                         |
                         +--no_answer|busy|failed--> queued (due later)   (attempts left)
                                                 \\-> messaged            (e-mail sent)
                                                 \\-> no_answer|busy|failed (no message possible)

A row without a number that can be dialled goes straight to the message.  Rows
are the schedule: nothing waits in memory, so after a restart queued rows are
dialled at the next poll and a row left ``dialing`` (the process died during the
call) counts as a failed attempt.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cti import events
from cti.clock import Clock, utc_now
from cti.escalation_service import TICKET_PROGRESS
from cti.mailer import Mailer, NullMailer
from db.models import Customer, HappyCall, Ticket, TicketEvent

log = logging.getLogger(__name__)

QUEUED, DIALING, ANSWERED, MESSAGED = "queued", "dialing", "answered", "messaged"
NOT_REACHED = ("no_answer", "busy", "failed")
OUTCOMES = (ANSWERED, *NOT_REACHED)
FINAL_STATES = frozenset({ANSWERED, MESSAGED, *NOT_REACHED})
KINDS = ("progress", "resolved", "overdue")   # overdue: no update in time, the work goes on
MAX_TEXT = 2_000
CANDIDATES_PER_CLAIM = 4   # due rows read per call claimed (some may share a number)
DIALABLE = re.compile(r"^\+?[0-9*#]{2,32}$")

#: Bus topic: a happy call was queued and is due now ({"happy_call_id"}); the
#: telephony side polls at once instead of waiting for its next poll.
HAPPY_CALL_QUEUED = "happy_call.queued"
#: Bus topic: a happy call reached a final state ({"happy_call_id", "ticket_id", "state"}).
HAPPY_CALL_DONE = "happy_call.done"


class HappyCallError(ValueError):
    """A transition the outbox does not allow (unknown outcome, not being dialled)."""


# ---- the state machine (pure) ----------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """What an attempt's outcome leads to: the next state, when to try again
    (queued only), and whether the customer is to get the message now."""
    state: str
    due_at: Optional[dt.datetime] = None
    send_message: bool = False


def after_attempt(outcome: str, attempts: int, max_attempts: int, retry_after: dt.timedelta,
                  now: dt.datetime) -> Step:
    """The next step after attempt number ``attempts`` ended with ``outcome``."""
    if outcome not in OUTCOMES:
        raise HappyCallError(f"unknown outcome {outcome!r}")
    if outcome == ANSWERED:
        return Step(ANSWERED)
    if attempts < max_attempts:
        return Step(QUEUED, due_at=now + retry_after)
    return Step(outcome, send_message=True)


def after_message(not_reached: str, sent: bool) -> str:
    """The final state once the message was (or could not be) sent."""
    return MESSAGED if sent else not_reached


def dialable(number: str) -> bool:
    """Only plain numbers go into a dial string (they come from a form or SIP headers)."""
    return bool(DIALABLE.match(number or ""))


def spoken_digits(incident_id: str) -> list[str]:
    """The digits said for an incident id: 'INC-000042' -> ['4', '2'] (the number,
    without the padding zeros; '0' for an all-zero id)."""
    digits = "".join(ch for ch in incident_id if ch.isdigit()).lstrip("0")
    return list(digits or ("0" if any(ch.isdigit() for ch in incident_id) else ""))


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    severities: frozenset = frozenset({1, 2})
    max_attempts: int = 2
    retry_after: dt.timedelta = dt.timedelta(minutes=5)
    max_parallel: int = 4

    @classmethod
    def from_config(cls, section: dict) -> "Settings":
        severities = frozenset(int(s) for s in section["severities"])
        return cls(enabled=bool(section["enabled"]), severities=severities,
                   max_attempts=max(1, int(section["max_attempts"])),
                   retry_after=dt.timedelta(minutes=float(section["retry_minutes"])),
                   max_parallel=max(1, int(section["max_parallel"])))


# ---- the service ---------------------------------------------------------------------------------
class HappyCallService:
    """The outbox.  Subscribes to ``ticket.progress`` on construction (when
    enabled); ``close()`` unsubscribes."""

    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, settings: Settings,
                 mailer: Optional[Mailer] = None, clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self.settings = settings
        self._mailer = mailer or NullMailer()
        self._now = clock
        self._unsubscribe: list[Callable[[], None]] = []
        if settings.enabled:
            self._unsubscribe.append(bus.subscribe(TICKET_PROGRESS, self._on_progress))

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def relays(self, severity: Optional[int]) -> bool:
        """Whether updates of a ticket of this severity go to the customer by happy call."""
        return self.settings.enabled and severity in self.settings.severities

    # ---- intake ------------------------------------------------------------------------------
    def _on_progress(self, _topic: str, payload: dict[str, Any]) -> None:
        if not self.relays(payload.get("severity")):
            return
        self.enqueue(int(payload["ticket_id"]), str(payload.get("kind") or "progress"),
                     str(payload.get("text") or ""), payload.get("by_user_id"))

    def enqueue(self, ticket_id: int, kind: str, text: str, by_user_id: Optional[int] = None) -> int:
        """Queue the relay of one update (due now).  A customer without a number
        that can be dialled gets the message at once."""
        if kind not in KINDS:
            raise HappyCallError(f"unknown kind {kind!r}")
        now = self._now()
        mail: list[tuple[str, str, str]] = []
        with self._sessions.begin() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise LookupError(f"no ticket {ticket_id}")
            customer = s.get(Customer, ticket.customer_id) if ticket.customer_id else None
            row = HappyCall(ticket_id=ticket.id, kind=kind, text=" ".join(text.split())[:MAX_TEXT],
                            language=_language(ticket, customer), number=_number(ticket, customer),
                            email=(customer.email if customer else "") or "", state=QUEUED, attempts=0,
                            last_outcome="", detail="", by_user_id=by_user_id, created_at=now, due_at=now)
            s.add(row)
            s.flush()
            if not dialable(row.number):
                row.last_outcome, row.detail = "failed", "no number that can be dialled"
                mail = self._conclude(s, row, "failed", now)
            call_id = row.id
        state = self._send(call_id, mail)
        if state == QUEUED:
            self._bus.publish(HAPPY_CALL_QUEUED, {"happy_call_id": call_id})
        return call_id

    # ---- the telephony side's calls ---------------------------------------------------------
    def claim_due(self, limit: int, now: Optional[dt.datetime] = None) -> list[dict[str, Any]]:
        """Up to ``limit`` due queued rows, oldest first, each moved to ``dialing``
        (one attempt more) and returned with what the call needs; never a number
        that is being dialled already."""
        now = self._now() if now is None else now
        if limit <= 0:
            return []
        with self._sessions.begin() as s:
            # One call at a time per number: a customer with several updates due at
            # once (e.g. tickets falling overdue in the same poll) would otherwise be
            # rung several times at once and find their own line busy.  The others
            # stay queued, in order, for the poll after the call ends.
            dialing = select(HappyCall.number).where(HappyCall.state == DIALING)
            candidates = s.scalars(_for_update(s, select(HappyCall).where(
                HappyCall.state == QUEUED, HappyCall.due_at <= now, HappyCall.number.not_in(dialing))
                .order_by(HappyCall.due_at, HappyCall.id).limit(limit * CANDIDATES_PER_CLAIM))).all()
            rows, numbers = [], set()
            for row in candidates:
                if row.number not in numbers and len(rows) < limit:
                    rows.append(row)
                    numbers.add(row.number)
            out = []
            for row in rows:
                row.state, row.attempts, row.last_attempt_at = DIALING, row.attempts + 1, now
                ticket = s.get(Ticket, row.ticket_id)
                out.append({"id": row.id, "ticket_id": row.ticket_id, "incident_id": ticket.incident_id,
                            "kind": row.kind, "text": row.text, "language": row.language,
                            "number": row.number, "attempt": row.attempts})
        return out

    def finish(self, call_id: int, outcome: str, detail: str = "") -> str:
        """Record how an attempt ended; returns the row's new state.  Not reached
        on the last attempt: the customer gets the message by e-mail."""
        if outcome not in OUTCOMES:
            raise HappyCallError(f"unknown outcome {outcome!r}")
        now = self._now()
        with self._sessions.begin() as s:
            row = s.get(HappyCall, call_id)
            if row is None:
                raise LookupError(f"no happy call {call_id}")
            if row.state != DIALING:
                raise HappyCallError(f"happy call {call_id} is {row.state}, not being dialled")
            mail = self._settle(s, row, outcome, detail, now)
        return self._send(call_id, mail)

    def settle_unfinished(self, call_id: int, detail: str) -> Optional[str]:
        """The call's session ended without reporting an outcome (the PBX went
        away, an error): the attempt counts as failed.  No-op when reported."""
        now = self._now()
        with self._sessions.begin() as s:
            row = s.get(HappyCall, call_id)
            if row is None or row.state != DIALING:
                return None
            mail = self._settle(s, row, "failed", detail, now)
        return self._send(call_id, mail)

    def reset_dialing(self) -> int:
        """At start-up nothing is being dialled: every row left ``dialing`` by an
        earlier process counts as a failed attempt (retried or messaged)."""
        with self._sessions() as s:
            ids = list(s.scalars(select(HappyCall.id).where(HappyCall.state == DIALING)))
        for call_id in ids:
            self.settle_unfinished(call_id, "interrupted by a restart")
        return len(ids)

    def get(self, call_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            row = s.get(HappyCall, call_id)
            if row is None:
                raise LookupError(f"no happy call {call_id}")
            return _row_dict(row)

    def for_ticket(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._sessions() as s:
            return [_row_dict(r) for r in s.scalars(select(HappyCall).where(HappyCall.ticket_id == ticket_id)
                                                    .order_by(HappyCall.id))]

    # ---- internals ------------------------------------------------------------------------------
    def _settle(self, s: Session, row: HappyCall, outcome: str, detail: str, now: dt.datetime
                ) -> list[tuple[str, str, str]]:
        row.last_outcome, row.detail = outcome, detail[:200]
        step = after_attempt(outcome, row.attempts, self.settings.max_attempts, self.settings.retry_after, now)
        self._event(s, row, "happy_call_attempt", now, {"outcome": outcome, "attempt": row.attempts})
        if step.state == QUEUED:
            row.state, row.due_at = QUEUED, step.due_at
            return []
        if step.state == ANSWERED:
            row.state, row.finished_at = ANSWERED, now
            self._event(s, row, "happy_call", now, {"outcome": ANSWERED, "attempts": row.attempts})
            return []
        return self._conclude(s, row, outcome, now)

    def _conclude(self, s: Session, row: HappyCall, not_reached: str, now: dt.datetime
                  ) -> list[tuple[str, str, str]]:
        """Not reached for good: the message replaces the call.  The state is set
        as if the e-mail goes out; ``_send`` corrects it when it does not."""
        ticket = s.get(Ticket, row.ticket_id)
        row.finished_at = now
        if row.email and "@" in row.email:
            row.state = MESSAGED
            subject, body = _message(ticket.incident_id, row.kind, row.text)
            self._event(s, row, "happy_call", now, {"outcome": MESSAGED, "not_reached": not_reached,
                                                    "attempts": row.attempts})
            return [(row.email, subject, body)]
        row.state = after_message(not_reached, sent=False)
        row.detail = (row.detail + "; " if row.detail else "") + "no e-mail address"
        self._event(s, row, "happy_call", now, {"outcome": not_reached, "attempts": row.attempts,
                                                "message": "no e-mail address"})
        return []

    def _send(self, call_id: int, mail: list[tuple[str, str, str]]) -> str:
        """After the commit: the e-mail (SMTP must not hold a transaction open),
        then the final state if the mail could not be sent, then the bus.
        Returns the row's state."""
        for to, subject, body in mail:
            if not self._mailer.send(to, subject, body):
                with self._sessions.begin() as s:
                    row = s.get(HappyCall, call_id)
                    row.state = after_message(row.last_outcome or "failed", sent=False)
                    row.detail = ((row.detail + "; ") if row.detail else "") + "e-mail not sent"
                    self._event(s, row, "happy_call", self._now(), {"outcome": row.state,
                                                                    "message": "e-mail not sent"})
        row = self.get(call_id)
        if row["state"] in FINAL_STATES:
            self._bus.publish(HAPPY_CALL_DONE, {"happy_call_id": call_id, "ticket_id": row["ticket_id"],
                                                "state": row["state"]})
        return row["state"]

    @staticmethod
    def _event(s: Session, row: HappyCall, kind: str, now: dt.datetime, detail: dict) -> None:
        # History only: the ticket's status does not change (cti.tickets.next_status is not asked).
        s.add(TicketEvent(ticket_id=row.ticket_id, kind=kind, at=now, user_id=None,
                          detail={"happy_call_id": row.id, **detail}))


def _for_update(s: Session, stmt):
    """Two processes polling one PostgreSQL database never claim the same row."""
    if s.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def _language(ticket: Ticket, customer: Optional[Customer]) -> str:
    lang = (customer.language if customer else "") or ticket.language or "ko"
    return lang if lang in ("ko", "en") else "ko"


def _number(ticket: Ticket, customer: Optional[Customer]) -> str:
    for candidate in ((customer.phone if customer else ""), (customer.mobile if customer else ""),
                      ticket.caller_number):
        cleaned = "".join(ch for ch in (candidate or "") if ch not in " -().")
        if dialable(cleaned):
            return cleaned
    return ""


def _message(incident_id: str, kind: str, text: str) -> tuple[str, str]:
    if kind == "overdue":
        return (f"[HappyCall] {incident_id}: still in progress",
                f"We called you about your request {incident_id} but could not reach you.\n\n"
                f"Your request is still being worked on; we will tell you of the next update.\n")
    if kind == "resolved":
        return (f"[HappyCall] {incident_id} resolved",
                f"We called you about your request {incident_id} but could not reach you.\n\n"
                f"Your request is resolved:\n\n{text}\n")
    return (f"[HappyCall] {incident_id}: progress",
            f"We called you about your request {incident_id} but could not reach you.\n\n"
            f"Progress on your request:\n\n{text}\n")


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


def _row_dict(r: HappyCall) -> dict[str, Any]:
    return {"id": r.id, "ticket_id": r.ticket_id, "kind": r.kind, "text": r.text, "language": r.language,
            "number": r.number, "email": r.email, "state": r.state, "last_outcome": r.last_outcome,
            "attempts": r.attempts, "detail": r.detail, "due_at": _iso(r.due_at),
            "finished_at": _iso(r.finished_at)}
