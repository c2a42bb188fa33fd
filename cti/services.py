"""Contact-center services: the logic between call events, the database and the
event bus.  Used by the ARI application (call side) and the desktop (agent side).

Every method opens its own short transaction, so it can be called from the ARI
event loop's worker threads and from web request threads alike.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cti import agent_state, callbacks, events, sensitivity, tickets
from cti.acd import AgentCandidate
from cti.acd_service import set_state
from cti.agent_state import AgentState
from cti.clock import Clock, utc_now
from db.models import CallRecord, Customer, Queue, Ticket, TicketEvent, User

log = logging.getLogger(__name__)


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class CallInfo:
    channel_id: str
    ticket_id: Optional[int]
    incident_id: Optional[str]
    customer_id: Optional[int]
    customer_name: str
    caller_number: str
    caller_name: str
    queued_at: Optional[dt.datetime]
    queue: Optional[str] = None


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


class CallCenter:
    """Tickets, calls and agent states."""

    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, clock: Clock = utc_now,
                 wrap_up_seconds: float = 0.0):
        self._sessions = session_factory
        self._bus = bus
        self._now = clock
        self._wrap_up_default = float(wrap_up_seconds)   # [acd] wrap_up_seconds; a queue may set its own

    # ---- customers ---------------------------------------------------------
    def find_customer_by_pin(self, pin: str) -> Optional[int]:
        with self._sessions() as s:
            return s.scalar(select(Customer.id).where(Customer.pin == pin))

    def find_customers(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Customers whose PIN is ``query`` or whose name contains it (any case)."""
        query = (query or "").strip()[:100]
        if not query:
            return []
        with self._sessions() as s:
            rows = s.scalars(select(Customer).where(Customer.pin == query)).all()
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows += [c for c in s.scalars(select(Customer).where(Customer.name.ilike(pattern, escape="\\"))
                                          .order_by(Customer.name).limit(limit)).all() if c not in rows]
            return [_customer_dict(c) for c in rows[:limit]]

    def customer(self, customer_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            c = s.get(Customer, customer_id)
            if c is None:
                raise NotFound(f"no customer {customer_id}")
            return _customer_dict(c)

    # ---- calls and tickets (telephony side) -------------------------------
    def call_started(self, channel_id: str, caller_number: str, caller_name: str, line: str,
                     language: str) -> None:
        """An inbound call reached the ARS.  Idempotent: a resync after a reconnect
        may report the same channel again."""
        with self._sessions.begin() as s:
            if s.scalar(select(CallRecord.id).where(CallRecord.channel_id == channel_id)):
                return
            s.add(CallRecord(channel_id=channel_id, caller_number=caller_number[:64],
                             caller_name=caller_name[:200], line=line[:32], started_at=self._now()))

    def open_ticket(self, channel_id: str, customer_id: Optional[int], entered_pin: str,
                    language: str) -> CallInfo:
        """Create the incident ticket for a call once the caller is identified
        (or has used up their tries).  Idempotent per call."""
        now = self._now()
        with self._sessions.begin() as s:
            call = self._call(s, channel_id)
            if call.ticket_id is None:
                ticket = Ticket(incident_id="", channel="phone", status=tickets.TicketStatus.NEW.value,
                                customer_id=customer_id, caller_number=call.caller_number,
                                caller_name=call.caller_name, entered_pin=entered_pin[:32],
                                language=language, created_at=now)
                s.add(ticket)
                s.flush()
                ticket.incident_id = tickets.incident_id(ticket.id)
                call.ticket_id = ticket.id
                self._record(s, ticket, "created", now, detail={"channel": "phone", "line": call.line})
                self._record(s, ticket, "identified" if customer_id else "unidentified", now,
                             detail={"pin_entered": bool(entered_pin)})
            return self._call_info(s, call)

    def enqueue(self, channel_id: str, queue_name: str) -> CallInfo:
        now = self._now()
        with self._sessions.begin() as s:
            call = self._call(s, channel_id)
            queue = self._queue(s, queue_name)
            call.queue_id = queue.id
            call.queued_at = call.queued_at or now
            call.outcome = "queued"
            ticket = s.get(Ticket, call.ticket_id)
            ticket.queue_id = queue.id
            self._move(s, ticket, "queued", now, detail={"queue": queue.name})
            info = self._call_info(s, call)
        self._bus.publish(events.CALL_UPDATED, {"channel_id": channel_id, "outcome": "queued",
                                                "ticket_id": info.ticket_id, "agent_id": None})
        return info

    def offer(self, channel_id: str, agent_id: int) -> dict[str, Any]:
        """Offer a queued call to an agent: the agent goes RINGING and receives the
        screen-pop.  Returns the pop.  Raises InvalidTransition if the agent is no
        longer READY (the caller then picks another agent).

        For an agent whose role may see sensitivity codes the pop also carries
        ``sensitivity``: the customer's last codes with the receptionist's knacks
        and the ticket's speech analysis with its suggested codes
        (``cti.sensitivity.pop_block``); for other roles the key is absent."""
        now = self._now()
        with self._sessions.begin() as s:
            call, agent, ticket = self._agent_call_event(s, channel_id, agent_id, "offer", "", now)
            queue = s.get(Queue, call.queue_id) if call.queue_id else None
            self._move(s, ticket, "offered", now, user_id=agent.id, detail={"agent": agent.username})
            call.agent_id = agent.id
            call.outcome = "ringing"
            customer = ticket.customer
            waited = _waited(call, now)
            pop = {
                "type": POP_TYPE_BY_LINE.get(call.line, "call"),
                "queue": queue.title or queue.name if queue else "",
                "customer_name": customer.name if customer else "",
                "customer_known": customer is not None,
                "caller_name": call.caller_name,
                "phone": call.caller_number,
                "waiting_seconds": round(waited, 1),
                "incident_id": ticket.incident_id,
                "ticket_id": ticket.id,
                "channel_id": channel_id,
                "offered_at": _iso(now),
            }
            if pop["type"] == "survey_reply":
                pop.update(_survey_reply_block(ticket))
            may_see_codes = sensitivity.role_has(agent.role, sensitivity.VIEW_SENSITIVITY)
            customer_id, ticket_id, language = ticket.customer_id, ticket.id, ticket.language
        if may_see_codes:
            pop["sensitivity"] = self._sensitivity_block(customer_id, ticket_id, language)
        self._publish_agent(agent_id, AgentState.RINGING, "")
        self._bus.publish(events.SCREENPOP, {"agent_id": agent_id, "pop": pop})
        return pop

    def note_survey_reply(self, channel_id: str, survey: dict[str, Any]) -> None:
        """A customer on the survey reply line asked to talk to someone
        (ivr/flows/reply_line.py): the call's ticket says which survey and service
        it is about, and the agent's pop shows it (``survey`` and ``subject``)."""
        now = self._now()
        detail = {key: survey[key] for key in SURVEY_POP_KEYS if survey.get(key) not in (None, "")}
        with self._sessions.begin() as s:
            call = self._call(s, channel_id)
            ticket = s.get(Ticket, call.ticket_id)
            if ticket is None:
                raise NotFound(f"call {channel_id} has no ticket")
            about = f" ({detail['incident_id']})" if detail.get("incident_id") else ""
            ticket.request = ticket.request or f"Survey reply{about}"[:10_000]
            self._record(s, ticket, "survey_reply", now, detail=detail)

    # ---- callbacks (telephony side; cti.callbacks keeps the lists) ---------------
    def callback_offer(self, channel_id: str, callback: dict[str, Any], agent_id: int) -> dict[str, Any]:
        """An agent calls a customer back: a call record for the attempt (line
        ``callback``, never counted as an inbound call: it has no queue time), the
        agent RINGING and a screen-pop of the customer's ticket."""
        now = self._now()
        with self._sessions.begin() as s:
            agent = self._agent(s, agent_id)
            set_state(agent, agent_state.on_call_event(agent.state, "callback"), "", now)
            call = CallRecord(channel_id=channel_id, ticket_id=callback.get("ticket_id"),
                              caller_number=str(callback.get("number", ""))[:64],
                              caller_name=str(callback.get("caller_name", ""))[:200], line="callback",
                              started_at=now, agent_id=agent.id, outcome="ringing")
            s.add(call)
            s.flush()
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            customer = ticket.customer if ticket else None
            if ticket is not None:
                self._record(s, ticket, "callback_offered", now, user_id=agent.id,
                             detail={"callback_id": callback.get("id")})
            pop = {"type": "callback", "queue": callback.get("queue_title") or callback.get("queue", ""),
                   "customer_name": customer.name if customer else "", "customer_known": customer is not None,
                   "caller_name": call.caller_name, "phone": call.caller_number, "waiting_seconds": 0.0,
                   "incident_id": ticket.incident_id if ticket else "", "ticket_id": ticket.id if ticket else None,
                   "channel_id": channel_id, "offered_at": _iso(now), "callback_id": callback.get("id")}
        self._publish_agent(agent_id, AgentState.RINGING, "")
        self._bus.publish(events.SCREENPOP, {"agent_id": agent_id, "pop": pop})
        return pop

    def callback_connected(self, channel_id: str, agent_id: int) -> None:
        """The customer answered the callback: agent TALKING, ticket in progress."""
        now = self._now()
        with self._sessions.begin() as s:
            call = self._call(s, channel_id)
            agent = self._agent(s, agent_id)
            set_state(agent, agent_state.on_call_event(agent.state, "answer"), "", now)
            call.answered_at = now
            call.outcome = "talking"
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            if ticket is not None:
                ticket.agent_id = ticket.agent_id or agent.id
                if tickets.is_open(ticket.status):
                    self._move(s, ticket, "callback_reached", now, user_id=agent.id)
        self._publish_agent(agent_id, AgentState.TALKING, "")

    def answered(self, channel_id: str, agent_id: int) -> None:
        now = self._now()
        with self._sessions.begin() as s:
            call, agent, ticket = self._agent_call_event(s, channel_id, agent_id, "answer", "", now)
            ticket.agent_id = agent.id
            self._move(s, ticket, "answered", now, user_id=agent.id)
            call.answered_at = now
            call.outcome = "talking"
            call.wait_seconds = _waited(call, now)
            ticket_id = ticket.id
        self._publish_agent(agent_id, AgentState.TALKING, "")
        self._bus.publish(events.TICKET_UPDATED, {"ticket_id": ticket_id, "status": "in_progress",
                                                  "agent_id": agent_id})

    def no_answer(self, channel_id: str, agent_id: int) -> None:
        """The agent let the call ring out: back to the queue, agent NOT_READY."""
        now = self._now()
        with self._sessions.begin() as s:
            call, agent, ticket = self._agent_call_event(s, channel_id, agent_id, "no_answer", "missed_call",
                                                         now)
            self._move(s, ticket, "no_answer", now, user_id=agent.id)
            call.agent_id = None
            call.outcome = "queued"
        self._publish_agent(agent_id, AgentState.NOT_READY, "missed_call")

    def call_ended(self, channel_id: str, reason: str = "hangup") -> Optional[str]:
        """The caller's channel is gone.  Returns the call's outcome: answered,
        abandoned (hung up in the IVR or queue) or lost (the PBX went away)."""
        now = self._now()
        freed_agent: Optional[tuple[int, AgentState]] = None
        listed = False
        with self._sessions.begin() as s:
            call = s.scalar(select(CallRecord).where(CallRecord.channel_id == channel_id))
            if call is None or call.ended_at is not None:
                return call.outcome if call else None
            call.ended_at = now
            call.end_reason = reason[:64]
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            if call.outcome == "talking":
                call.outcome = "answered"
                if call.agent_id:
                    freed_agent = self._end_talk(s, call, now)
            elif call.outcome == "callback":
                pass  # the caller chose to be called back: not abandoned (cti.callbacks)
            elif call.line == "callback":
                # A callback attempt that never connected: the agent is free; the entry
                # goes back on its list if nobody recorded an outcome.
                if call.agent_id:
                    freed_agent = self._free_agent(s, call.agent_id, "offer_cancelled", now)
                call.outcome = "not_reached"
                callbacks.release_attempt(s, call)
            else:
                if call.agent_id:  # ringing an agent when the caller hung up
                    freed_agent = self._free_agent(s, call.agent_id, "offer_cancelled", now)
                call.outcome = "lost" if reason == "pbx_lost" else "abandoned"
                if call.queued_at:
                    call.wait_seconds = _waited(call, now)
                    if call.outcome == "abandoned":
                        callbacks.add_abandoned(s, call, ticket, now)
                        listed = True
                if ticket is not None and tickets.is_open(ticket.status):
                    if reason == "pbx_lost":
                        self._record(s, ticket, "lost", now, detail={"reason": reason})
                    self._move(s, ticket, "abandoned", now,
                               detail={"reason": reason, "wait_seconds": call.wait_seconds})
            if ticket is not None:
                self._record(s, ticket, "call_ended", now, detail={"reason": reason,
                                                                  "outcome": call.outcome})
            outcome, ticket_id = call.outcome, call.ticket_id
        if freed_agent:
            self._publish_agent(freed_agent[0], freed_agent[1], "")
        self._bus.publish(events.CALL_UPDATED, {"channel_id": channel_id, "outcome": outcome,
                                                "ticket_id": ticket_id, "agent_id": None})
        if listed:
            self._bus.publish(callbacks.CALLBACK_UPDATED, {"callback_id": None, "status": callbacks.OPEN})
        return outcome

    def open_calls(self) -> dict[str, str]:
        """Channel id -> outcome so far, for calls the database still thinks are up
        (used to resync after a reconnect or a restart)."""
        with self._sessions() as s:
            rows = s.execute(select(CallRecord.channel_id, CallRecord.outcome)
                             .where(CallRecord.ended_at.is_(None))).all()
        return {r.channel_id: r.outcome for r in rows}

    def call_info(self, channel_id: str) -> CallInfo:
        with self._sessions() as s:
            return self._call_info(s, self._call(s, channel_id))

    # ---- agents -------------------------------------------------------------
    def set_agent_state(self, agent_id: int, target: AgentState | str, reason: str = "",
                        by_system: bool = False) -> AgentState:
        """An agent's own request (from the desktop).  NOT_READY takes a reason
        code (``cti.agent_state.NOT_READY_REASONS``; 'other' when none is given);
        an unknown code raises ``agent_state.UnknownReason`` (a ValueError)."""
        now = self._now()
        target = AgentState(target)
        reason = agent_state.clean_reason(target, reason or ("other" if target == AgentState.NOT_READY else ""),
                                          by_system=by_system)
        with self._sessions.begin() as s:
            agent = self._agent(s, agent_id)
            new = agent_state.request(agent.state, target)
            if new != target:
                reason = ""
            set_state(agent, new, reason, now)
        self._publish_agent(agent_id, new, reason)
        return new

    def agent_reason(self, agent_id: int) -> str:
        with self._sessions() as s:
            return self._agent(s, agent_id).state_reason

    def agent_candidates(self, queue_name: str) -> list[AgentCandidate]:
        from db.models import QueueMember

        with self._sessions() as s:
            rows = s.execute(
                select(User.id, User.state, User.idle_since)
                .join(QueueMember, QueueMember.user_id == User.id)
                .join(Queue, Queue.id == QueueMember.queue_id)
                .where(Queue.name == queue_name, User.active.is_(True))).all()
        return [AgentCandidate(r.id, AgentState(r.state), r.idle_since) for r in rows]

    def agent_phone(self, agent_id: int) -> str:
        with self._sessions() as s:
            return self._agent(s, agent_id).phone

    def reset_transient_agent_states(self) -> None:
        """At start-up no call is ringing or up: RINGING/TALKING agents are READY."""
        now = self._now()
        with self._sessions.begin() as s:
            for agent in s.scalars(select(User).where(User.state.in_(["ringing", "talking"]))):
                set_state(agent, AgentState.READY, "", now)

    # ---- tickets (desktop side) ---------------------------------------------
    def resolve(self, ticket_id: int, agent_id: int, resolution: str, request: str | None = None) -> None:
        text = tickets.clean_resolution(resolution)
        now = self._now()
        with self._sessions.begin() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound(f"no ticket {ticket_id}")
            if request is not None:
                ticket.request = request.strip()[:10_000]
            ticket.resolution = text
            ticket.resolved_at = now
            if ticket.agent_id is None:
                ticket.agent_id = agent_id
            self._move(s, ticket, "resolved", now, user_id=agent_id)
        self._bus.publish(events.TICKET_UPDATED, {"ticket_id": ticket_id, "status": "resolved",
                                                  "agent_id": agent_id})

    def ticket_view(self, ticket_id: int) -> dict[str, Any]:
        """Everything the ticket screen shows (patent 003: customer basics, request,
        resolution, the customer's unresolved tickets, agent basics, history)."""
        with self._sessions() as s:
            t = s.get(Ticket, ticket_id)
            if t is None:
                raise NotFound(f"no ticket {ticket_id}")
            c = t.customer
            unresolved = []
            past = []
            if c is not None:
                others = s.scalars(select(Ticket).where(Ticket.customer_id == c.id, Ticket.id != t.id)
                                   .order_by(Ticket.created_at.desc()).limit(50)).all()
                unresolved = [_ticket_row(o) for o in others if tickets.is_open(o.status)]
                past = [_ticket_row(o) for o in others if not tickets.is_open(o.status)]
            return {
                "ticket": {
                    "id": t.id, "incident_id": t.incident_id, "status": t.status, "channel": t.channel,
                    "caller_number": t.caller_number, "caller_name": t.caller_name,
                    "request": t.request, "resolution": t.resolution,
                    "created_at": _iso(t.created_at), "resolved_at": _iso(t.resolved_at),
                    "queue": t.queue.title if t.queue else "",
                },
                "customer": _customer_dict(c),
                "unresolved": unresolved,
                "past": past,
                "agent": ({"id": t.agent.id, "name": t.agent.display_name, "username": t.agent.username,
                           "extension": t.agent.extension} if t.agent else None),
                "history": [{"kind": e.kind, "at": _iso(e.at), "user_id": e.user_id, "detail": e.detail}
                            for e in t.events],
            }

    # ---- internals ------------------------------------------------------------
    def _sensitivity_block(self, customer_id: Optional[int], ticket_id: int, language: str) -> dict[str, Any]:
        """Read in its own session after the offer is stored: a problem here costs
        the pop its sensitivity data, never the call."""
        try:
            with self._sessions() as s:
                return sensitivity.pop_block(s, customer_id=customer_id, ticket_id=ticket_id,
                                             language=language)
        except Exception:  # noqa: BLE001 - the offer goes on
            log.exception("sensitivity data for ticket %s could not be read", ticket_id)
            return {"codes": [], "analysis": None}

    def _publish_agent(self, agent_id: int, state: AgentState, reason: str) -> None:
        self._bus.publish(events.AGENT_STATE, {"agent_id": agent_id, "state": AgentState(state).value,
                                               "reason": reason})

    def _agent_call_event(self, s: Session, channel_id: str, agent_id: int, event: str, reason: str,
                          now: dt.datetime) -> tuple[CallRecord, User, Ticket]:
        """Load a call, its ticket and the agent, and move the agent on a call event
        (raises InvalidTransition when the agent is not in a state for it)."""
        call = self._call(s, channel_id)
        agent = self._agent(s, agent_id)
        set_state(agent, agent_state.on_call_event(agent.state, event), reason, now)
        return call, agent, s.get(Ticket, call.ticket_id)

    def _end_talk(self, s: Session, call: CallRecord, now: dt.datetime):
        """The agent's call is over: wrap-up for the queue's (or the floor's)
        wrap-up time, or READY at once when that is 0."""
        queue = s.get(Queue, call.queue_id) if call.queue_id else None
        seconds = self._wrap_up_default if queue is None or queue.wrap_up_seconds is None \
            else float(queue.wrap_up_seconds)
        if seconds <= 0:
            return self._free_agent(s, call.agent_id, "call_end", now)
        agent = s.get(User, call.agent_id)
        try:
            new = agent_state.on_call_event(agent.state, "call_end_wrap_up")
        except agent_state.InvalidTransition:
            return None
        until = now + dt.timedelta(seconds=seconds) if new == AgentState.WRAP_UP else None
        set_state(agent, new, agent.state_reason if new == AgentState.NOT_READY else "", now, until)
        return agent.id, new

    def _free_agent(self, s: Session, agent_id: int, event: str, now: dt.datetime):
        agent = s.get(User, agent_id)
        if agent is None:
            return None
        try:
            new = agent_state.on_call_event(agent.state, event)
        except agent_state.InvalidTransition:
            return None  # the agent logged out or moved on meanwhile
        set_state(agent, new, agent.state_reason if new == AgentState.NOT_READY else "", now)
        return agent_id, new

    @staticmethod
    def _call(s: Session, channel_id: str) -> CallRecord:
        call = s.scalar(select(CallRecord).where(CallRecord.channel_id == channel_id))
        if call is None:
            raise NotFound(f"no call record for channel {channel_id}")
        return call

    @staticmethod
    def _agent(s: Session, agent_id: int) -> User:
        agent = s.get(User, agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id}")
        return agent

    @staticmethod
    def _queue(s: Session, name: str) -> Queue:
        queue = s.scalar(select(Queue).where(Queue.name == name))
        if queue is None:
            raise NotFound(f"no queue {name!r}")
        return queue

    def _move(self, s: Session, ticket: Ticket, kind: str, now: dt.datetime, user_id: int | None = None,
              detail: dict | None = None) -> None:
        ticket.status = tickets.next_status(ticket.status, kind).value
        self._record(s, ticket, kind, now, user_id=user_id, detail=detail)

    @staticmethod
    def _record(s: Session, ticket: Ticket, kind: str, now: dt.datetime, user_id: int | None = None,
                detail: dict | None = None) -> None:
        s.add(TicketEvent(ticket=ticket, kind=kind, at=now, user_id=user_id, detail=detail or {}))

    @staticmethod
    def _call_info(s: Session, call: CallRecord) -> CallInfo:
        ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
        customer = ticket.customer if ticket else None
        queue = s.get(Queue, call.queue_id) if call.queue_id else None
        return CallInfo(call.channel_id, ticket.id if ticket else None,
                        ticket.incident_id if ticket else None, customer.id if customer else None,
                        customer.name if customer else "", call.caller_number, call.caller_name,
                        call.queued_at, queue.name if queue else None)


# The pop's type by the call's line (ivr/flows/reply_line.py: the survey reply line).
POP_TYPE_BY_LINE = {"survey_reply": "survey_reply"}
# What of a survey (as the survey lookup returns it: cti/surveys/links.reply_line_lookup)
# goes on the ticket and the pop: the service it is about, the answers so far, the terms.
SURVEY_POP_KEYS = ("survey_id", "incident_id", "ticket_id", "centre", "queue", "rating", "channel", "service",
                   "resolution", "trouble_again", "staff_kind", "comment", "term", "keywords", "replies")


def _survey_reply_block(ticket: Ticket) -> dict[str, Any]:
    """The survey a reply-line call is about, from the ticket's last ``survey_reply`` note."""
    notes = [e for e in ticket.events if e.kind == "survey_reply"]
    survey = dict(notes[-1].detail or {}) if notes else {}
    return {"survey": survey, "subject": ticket.request}


def _waited(call: CallRecord, now: dt.datetime) -> float:
    """Seconds the caller has waited in the queue (0 if never queued)."""
    return (now - call.queued_at).total_seconds() if call.queued_at else 0.0


def _ticket_row(t: Ticket) -> dict[str, Any]:
    return {"id": t.id, "incident_id": t.incident_id, "status": t.status, "request": t.request,
            "resolution": t.resolution, "created_at": _iso(t.created_at)}


def _customer_dict(c: Optional[Customer]) -> Optional[dict[str, Any]]:
    if c is None:
        return None
    return {"id": c.id, "pin": c.pin, "name": c.name, "department": c.department, "phone": c.phone,
            "location": c.location, "hardware": c.hardware, "software": c.software,
            "training_record": c.training_record, "email": c.email, "mobile": c.mobile}
