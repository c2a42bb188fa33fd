"""Calling customers back.

Two kinds (``db.models.Callback``):

* ``abandoned`` -- a caller who reached a queue and hung up before an agent
  answered.  They stay on the abandoned list until a callback reaches them (or a
  supervisor cancels the entry); an agent places the call with one click.
* ``requested`` -- a caller who, at the queue's maximum wait, pressed 1 to keep
  their place and hang up.  The ACD places these automatically, in queue order,
  when an agent of that queue is free; ``place_at`` is when the caller first
  queued, so the callback keeps the caller's place among the waiting calls.

Outcomes of an attempt: ``reached`` (done), ``no_answer``, ``busy`` or
``failed`` (the entry stays open for another try).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from cti import events
from cti.clock import Clock, utc_now
from db.models import CallRecord, Callback, Customer, Queue, Ticket, TicketEvent, User

ABANDONED = "abandoned"
REQUESTED = "requested"
OUTCOMES = ("reached", "no_answer", "busy", "failed")
OPEN, DIALING, DONE, CANCELLED = "open", "dialing", "done", "cancelled"
#: The ACD tries a requested callback this many times, this far apart; after that
#: the entry waits on the abandoned list for an agent to decide.
MAX_AUTO_ATTEMPTS = 3
RETRY_AFTER = dt.timedelta(minutes=2)
DIALABLE = re.compile(r"^\+?[0-9*#]{2,32}$")

#: Bus topic: a callback entry was added, started or finished.
CALLBACK_UPDATED = "callback.updated"
#: Bus topic: an agent asked to call an entry back now ({"callback_id", "agent_id"}).
PLACE_REQUESTED = "callback.place_requested"


class CallbackError(ValueError):
    """The callback cannot be started or finished in its current state."""


def add_abandoned(s: Session, call: CallRecord, ticket: Optional[Ticket], now: dt.datetime) -> Callback:
    """Put a call that was abandoned in the queue on the abandoned list (inside the
    caller's transaction).  A number we cannot dial is listed all the same: the
    agent sees who it was and may reach them another way."""
    entry = Callback(kind=ABANDONED, status=OPEN, call_id=call.id, ticket_id=call.ticket_id,
                     customer_id=ticket.customer_id if ticket else None, queue_id=call.queue_id,
                     number=_dial_back_number(s, call, ticket), caller_name=call.caller_name,
                     place_at=call.queued_at or now, wait_seconds=call.wait_seconds)
    s.add(entry)
    return entry


def release_attempt(s: Session, call: CallRecord) -> None:
    """An attempt's call ended without an outcome (the agent hung up first, a
    crash): its entry is open again, marked failed (inside the caller's transaction)."""
    entry = s.scalar(select(Callback).where(Callback.status == DIALING, Callback.agent_id == call.agent_id,
                                            Callback.ticket_id == call.ticket_id))
    if entry is not None:
        entry.status = OPEN
        entry.outcome = "failed"


def dialable(number: str) -> bool:
    """Caller numbers come from SIP headers: only plain numbers go into a dial string."""
    return bool(DIALABLE.match(number or ""))


def _dial_back_number(s: Session, call: CallRecord, ticket: Optional[Ticket]) -> str:
    if call.caller_number:
        return call.caller_number
    customer = s.get(Customer, ticket.customer_id) if ticket and ticket.customer_id else None
    return (customer.phone or customer.mobile) if customer else ""


class CallbackService:
    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self._now = clock

    def request(self, channel_id: str) -> int:
        """The caller chose to be called back instead of waiting: the call ends
        as ``callback`` (not abandoned) and a requested callback keeps its place."""
        now = self._now()
        with self._sessions.begin() as s:
            call = s.scalar(select(CallRecord).where(CallRecord.channel_id == channel_id))
            if call is None:
                raise LookupError(f"no call {channel_id!r}")
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            call.outcome = "callback"
            call.wait_seconds = (now - call.queued_at).total_seconds() if call.queued_at else None
            entry = Callback(kind=REQUESTED, status=OPEN, call_id=call.id, ticket_id=call.ticket_id,
                             customer_id=ticket.customer_id if ticket else None, queue_id=call.queue_id,
                             number=_dial_back_number(s, call, ticket), caller_name=call.caller_name,
                             place_at=call.queued_at or now, wait_seconds=call.wait_seconds)
            s.add(entry)
            if ticket is not None:
                s.add(TicketEvent(ticket=ticket, kind="callback_requested", at=now, detail={}))
            s.flush()
            entry_id = entry.id
        self._publish(entry_id, OPEN)
        return entry_id

    def abandoned_list(self, limit: int = 200) -> list[dict[str, Any]]:
        """Open abandoned-call entries (and requested callbacks the ACD gave up
        on), oldest first."""
        with self._sessions() as s:
            rows = s.scalars(select(Callback).where(
                Callback.status.in_([OPEN, DIALING]),
                or_(Callback.kind == ABANDONED, Callback.attempts >= MAX_AUTO_ATTEMPTS))
                .order_by(Callback.place_at).limit(limit)).all()
            return [self._row(s, c) for c in rows]

    def requested_waiting(self) -> list[dict[str, Any]]:
        """Requested callbacks the ACD should place (oldest place first): open,
        tried fewer than MAX_AUTO_ATTEMPTS times, the last try RETRY_AFTER ago."""
        retry_before = self._now() - RETRY_AFTER
        with self._sessions() as s:
            rows = s.scalars(select(Callback).where(
                Callback.kind == REQUESTED, Callback.status == OPEN, Callback.attempts < MAX_AUTO_ATTEMPTS,
                or_(Callback.last_attempt_at.is_(None), Callback.last_attempt_at <= retry_before))
                .order_by(Callback.place_at)).all()
            return [self._row(s, c) for c in rows]

    def get(self, callback_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            return self._row(s, self._entry(s, callback_id))

    def start(self, callback_id: int, agent_id: int) -> dict[str, Any]:
        """An attempt begins (one at a time per entry): returns the entry with the
        agent's phone, so the telephony side can ring the agent, then the customer."""
        now = self._now()
        with self._sessions.begin() as s:
            entry = self._entry(s, callback_id)
            if entry.status != OPEN:
                raise CallbackError(f"callback {callback_id} is {entry.status}")
            if not dialable(entry.number):
                raise CallbackError(f"callback {callback_id} has no number that can be dialled")
            agent = s.get(User, agent_id)
            if agent is None or not agent.phone:
                raise CallbackError(f"agent {agent_id} has no phone")
            entry.status = DIALING
            entry.attempts += 1
            entry.agent_id = agent_id
            entry.last_attempt_at = now
            row = self._row(s, entry)
            row["agent_phone"] = agent.phone
        self._publish(callback_id, DIALING)
        return row

    def finish(self, callback_id: int, outcome: str) -> dict[str, Any]:
        """Record how an attempt ended; ``reached`` takes the entry off the lists."""
        if outcome not in OUTCOMES:
            raise CallbackError(f"unknown outcome {outcome!r}")
        now = self._now()
        with self._sessions.begin() as s:
            entry = self._entry(s, callback_id)
            if entry.status != DIALING:
                raise CallbackError(f"callback {callback_id} is not being dialled")
            entry.outcome = outcome
            entry.status = DONE if outcome == "reached" else OPEN
            if outcome == "reached":
                entry.done_at = now
            ticket = s.get(Ticket, entry.ticket_id) if entry.ticket_id else None
            if ticket is not None:
                s.add(TicketEvent(ticket=ticket, kind="callback", at=now, user_id=entry.agent_id,
                                  detail={"outcome": outcome, "attempt": entry.attempts}))
            row = self._row(s, entry)
        self._publish(callback_id, row["status"])
        return row

    def ask_to_place(self, callback_id: int, agent_id: int) -> None:
        """The agent's one click: checked here (clear errors for the desktop), then
        handed to the telephony side over the bus."""
        entry = self.get(callback_id)
        if entry["status"] != OPEN:
            raise CallbackError(f"callback {callback_id} is {entry['status']}")
        if not dialable(entry["number"]):
            raise CallbackError(f"callback {callback_id} has no number that can be dialled")
        self._bus.publish(PLACE_REQUESTED, {"callback_id": callback_id, "agent_id": agent_id})

    def cancel(self, callback_id: int) -> None:
        with self._sessions.begin() as s:
            entry = self._entry(s, callback_id)
            if entry.status == DIALING:
                raise CallbackError(f"callback {callback_id} is being dialled")
            entry.status = CANCELLED
        self._publish(callback_id, CANCELLED)

    def reset_dialing(self) -> int:
        """At start-up no callback is being dialled: such entries are open again."""
        with self._sessions.begin() as s:
            rows = s.scalars(select(Callback).where(Callback.status == DIALING)).all()
            for entry in rows:
                entry.status = OPEN
                entry.outcome = "failed"
            return len(rows)

    # ---- helpers ----------------------------------------------------------------
    @staticmethod
    def _entry(s: Session, callback_id: int) -> Callback:
        entry = s.get(Callback, callback_id)
        if entry is None:
            raise LookupError(f"no callback {callback_id}")
        return entry

    @staticmethod
    def _row(s: Session, c: Callback) -> dict[str, Any]:
        queue = s.get(Queue, c.queue_id) if c.queue_id else None
        customer = s.get(Customer, c.customer_id) if c.customer_id else None
        ticket = s.get(Ticket, c.ticket_id) if c.ticket_id else None
        return {"id": c.id, "kind": c.kind, "status": c.status, "number": c.number,
                "caller_name": c.caller_name, "customer_id": c.customer_id,
                "customer_name": customer.name if customer else "",
                "queue": queue.name if queue else "", "queue_title": queue.title if queue else "",
                "ticket_id": c.ticket_id, "incident_id": ticket.incident_id if ticket else "",
                "place_at": c.place_at.isoformat() + "Z" if c.place_at else None,
                "wait_seconds": c.wait_seconds, "attempts": c.attempts, "outcome": c.outcome,
                "agent_id": c.agent_id}

    def _publish(self, callback_id: int, status: str) -> None:
        self._bus.publish(CALLBACK_UPDATED, {"callback_id": callback_id, "status": status})
