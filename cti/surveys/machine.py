"""The survey's steps as a pure state machine: no database, no clock of its own.

    scheduled --due--> calling --busy/no answer/rejected/machine/failed--> messaged
        |                 \\--answered (a reply arrives)--> answered
        \\--no phone--> messaged --due (no reply)--> resent --due--> closed (no_reply)
    any waiting state --reply--> answered

Each function gets the current state and what happened, and returns the
``Step`` to take: the next state, when the runner looks at the survey again
(``due_at``; None: only an outside event moves it), whether to place the phone
call, and which message channels to send on.  The service stores the step and
carries out the actions after the commit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

SCHEDULED = "scheduled"
CALLING = "calling"
MESSAGED = "messaged"
RESENT = "resent"
ANSWERED = "answered"
CLOSED = "closed"

#: States the runner acts on when they fall due.
WAITING = frozenset({SCHEDULED, CALLING, MESSAGED, RESENT})

# Why a survey ended.
ANSWERED_OUTCOME = "answered"
NO_REPLY = "no_reply"          # messages and the resend went unanswered
NO_CONTACT = "no_contact"      # no phone number, no e-mail, no mobile
UNREACHABLE = "unreachable"    # the call failed and there is nowhere to send a message

#: Call results that fall back to messages.  "no_input": answered, but no question answered.
CALL_FAILURES = frozenset({"busy", "no_answer", "rejected", "machine", "failed", "no_input"})
CALL_RESULTS = CALL_FAILURES | {"answered"}


@dataclass(frozen=True)
class Contact:
    """Where the customer can be reached: the number called, e-mail, mobile for SMS."""
    phone: str = ""
    email: str = ""
    mobile: str = ""

    @property
    def message_channels(self) -> tuple[str, ...]:
        return tuple(ch for ch, address in (("email", self.email), ("sms", self.mobile)) if address)


@dataclass(frozen=True)
class Timing:
    reply_wait: dt.timedelta      # how long a message waits for a reply before the resend / closing
    call_guard: dt.timedelta      # a call with no result this long counts as failed
    resends: int = 1


@dataclass(frozen=True)
class Step:
    state: str
    due_at: Optional[dt.datetime]
    call: bool = False
    send: tuple[str, ...] = ()
    resend: bool = False
    outcome: str = ""

    @property
    def closed(self) -> bool:
        return self.state in (CLOSED, ANSWERED)


def when_due(state: str, resends_done: int, contact: Contact, now: dt.datetime, timing: Timing) -> Optional[Step]:
    """The survey's due time came.  None: nothing to do in this state."""
    if state == SCHEDULED:
        if contact.phone:
            return Step(CALLING, now + timing.call_guard, call=True)
        return _messages(contact, now, timing, NO_CONTACT)
    if state == CALLING:
        # The call never reported back (the IVR was down): as if it had failed.
        return _messages(contact, now, timing, UNREACHABLE)
    if state in (MESSAGED, RESENT):
        if resends_done < timing.resends and contact.message_channels:
            return Step(RESENT, now + timing.reply_wait, send=contact.message_channels, resend=True)
        return Step(CLOSED, None, outcome=NO_REPLY)
    return None


def after_call(state: str, result: str, contact: Contact, now: dt.datetime, timing: Timing) -> Optional[Step]:
    """The survey call ended with ``result``.  A result for a survey no longer
    calling (late, or answered meanwhile) changes nothing (None)."""
    if result not in CALL_RESULTS:
        raise ValueError(f"unknown call result {result!r}")
    if state != CALLING:
        return None
    # "answered" here means the call was picked up but no question was answered: the
    # answers of a survey call arrive as a reply first, which moves the state on.
    return _messages(contact, now, timing, UNREACHABLE)


def after_reply() -> Step:
    """A (non-duplicate) reply arrived, in whatever state: a late reply after
    "no reply" is still welcome and answers the survey."""
    return Step(ANSWERED, None, outcome=ANSWERED_OUTCOME)


def _messages(contact: Contact, now: dt.datetime, timing: Timing, nowhere: str) -> Step:
    channels = contact.message_channels
    if not channels:
        return Step(CLOSED, None, outcome=nowhere)
    return Step(MESSAGED, now + timing.reply_wait, send=channels)
