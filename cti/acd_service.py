"""The call-center floor as the ACD sees it: queues and their settings, who
serves which queue now, how long calls take, moving a call between queues, and
timed agent states (wrap-up).

Reads and writes the database; the routing decisions themselves are the pure
functions of ``cti.routing``.  Every method opens its own short transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from cti import agent_state, events
from cti.agent_state import AgentState
from cti.clock import Clock, utc_now
from cti.routing import AgentSeat, QueueSpec
from db.models import CallRecord, Queue, QueueMember, Ticket, TicketEvent, User

#: How many recent answered calls per queue the estimated wait averages.
HANDLE_TIME_SAMPLES = 20


@dataclass(frozen=True)
class QueueInfo:
    """A queue's settings: the routing part (``spec``) and what the IVR needs."""
    spec: QueueSpec
    title: str
    title_en: str
    menu_key: str
    ring_timeout: float
    announce_seconds: int
    music_class: str

    @property
    def name(self) -> str:
        return self.spec.name

    def label(self, language: str) -> str:
        return (self.title_en if language == "en" else self.title) or self.title or self.spec.name


class AcdService:
    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self._now = clock

    # ---- queues -----------------------------------------------------------------
    def queues(self) -> list[QueueInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(Queue).order_by(Queue.id)).all()
            names = {q.id: q.name for q in rows}
            return [_queue_info(q, names) for q in rows]

    def menu(self) -> dict[str, str]:
        """ARS menu digit -> queue name (only queues that have a digit)."""
        return {q.menu_key: q.name for q in self.queues() if q.menu_key}

    # ---- agents -----------------------------------------------------------------
    def seats(self, calls_today: bool = True) -> list[AgentSeat]:
        """Every active agent logged in to at least one queue, with those queues (and
        penalties) and, when ``calls_today`` (only the fewest-calls strategy needs it:
        the count grows with the day's calls), the calls they answered since
        midnight UTC."""
        with self._sessions() as s:
            rows = s.execute(
                select(User.id, User.state, User.idle_since, Queue.name, QueueMember.penalty)
                .join(QueueMember, QueueMember.user_id == User.id)
                .join(Queue, Queue.id == QueueMember.queue_id)
                .where(QueueMember.logged_in.is_(True), User.active.is_(True))).all()
            answered = self._answered_today(s) if calls_today else {}
        seats: dict[int, AgentSeat] = {}
        for user_id, state, idle_since, queue, penalty in rows:
            seat = seats.get(user_id)
            if seat is None:
                seat = seats[user_id] = AgentSeat(user_id, AgentState(state), idle_since,
                                                  int(answered.get(user_id, 0)), {})
            seat.queues[queue] = int(penalty or 0)
        return list(seats.values())

    def _answered_today(self, s) -> dict[int, int]:
        midnight = self._now().replace(hour=0, minute=0, second=0, microsecond=0)
        return dict(s.execute(
            select(CallRecord.agent_id, func.count())
            .where(CallRecord.answered_at >= midnight, CallRecord.agent_id.is_not(None))
            .group_by(CallRecord.agent_id)).all())

    def agent_queues(self, agent_id: int) -> list[dict[str, Any]]:
        """The queues an agent may serve, and whether they are logged in to each."""
        with self._sessions() as s:
            rows = s.execute(select(Queue, QueueMember.logged_in, QueueMember.penalty)
                             .join(QueueMember, QueueMember.queue_id == Queue.id)
                             .where(QueueMember.user_id == agent_id).order_by(Queue.id)).all()
            return [{"name": q.name, "title": q.title, "title_en": q.title_en, "logged_in": bool(on),
                     "penalty": int(penalty or 0)} for q, on, penalty in rows]

    def set_agent_queues(self, agent_id: int, queue_names: list[str]) -> list[str]:
        """Log the agent in to exactly these of their queues (the others: out).
        Unknown names or queues the agent is not a member of raise ValueError."""
        wanted = set(queue_names)
        with self._sessions.begin() as s:
            rows = s.execute(select(QueueMember, Queue.name)
                             .join(Queue, Queue.id == QueueMember.queue_id)
                             .where(QueueMember.user_id == agent_id)).all()
            allowed = {name for _m, name in rows}
            unknown = wanted - allowed
            if unknown:
                raise ValueError(f"not a member of: {', '.join(sorted(unknown))}")
            for member, name in rows:
                member.logged_in = name in wanted
            agent = s.get(User, agent_id)
            state, reason = agent.state, agent.state_reason
        # Who serves which queue changed: the ACD looks again (as on any agent change).
        self._bus.publish(events.AGENT_STATE, {"agent_id": agent_id, "state": state, "reason": reason,
                                               "queues": sorted(wanted)})
        return sorted(wanted)

    def handle_times(self) -> dict[str, list[float]]:
        """Queue name -> talk seconds of its latest answered calls (for the
        estimated wait announced to callers)."""
        with self._sessions() as s:
            rows = s.execute(
                select(Queue.name, CallRecord.answered_at, CallRecord.ended_at)
                .join(Queue, Queue.id == CallRecord.queue_id)
                .where(CallRecord.outcome == "answered", CallRecord.answered_at.is_not(None),
                       CallRecord.ended_at.is_not(None))
                .order_by(CallRecord.ended_at.desc()).limit(HANDLE_TIME_SAMPLES * 20)).all()
        out: dict[str, list[float]] = {}
        for name, answered_at, ended_at in rows:
            samples = out.setdefault(name, [])
            if len(samples) < HANDLE_TIME_SAMPLES:
                samples.append((ended_at - answered_at).total_seconds())
        return out

    def end_wrap_ups(self) -> list[int]:
        """Agents whose wrap-up time is over go READY.  Returns their ids."""
        now = self._now()
        done = []
        with self._sessions.begin() as s:
            for agent in s.scalars(select(User).where(User.state == AgentState.WRAP_UP.value,
                                                      User.state_until <= now)):
                new = agent_state.on_call_event(agent.state, "wrap_up_done")
                set_state(agent, new, "", now)
                done.append(agent.id)
        for agent_id in done:
            self._bus.publish(events.AGENT_STATE, {"agent_id": agent_id, "state": AgentState.READY.value,
                                                   "reason": ""})
        return done

    # ---- calls ------------------------------------------------------------------
    def move_call(self, channel_id: str, queue_name: str, why: str, user_id: Optional[int] = None) -> None:
        """A waiting call changes queue (overflow at max wait, or a supervisor).
        The caller keeps the time they first queued."""
        now = self._now()
        with self._sessions.begin() as s:
            call = s.scalar(select(CallRecord).where(CallRecord.channel_id == channel_id))
            queue = s.scalar(select(Queue).where(Queue.name == queue_name))
            if call is None or queue is None:
                raise LookupError(f"no call {channel_id!r} or queue {queue_name!r}")
            old = s.get(Queue, call.queue_id).name if call.queue_id else ""
            call.queue_id = queue.id
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            if ticket is not None:
                ticket.queue_id = queue.id
                s.add(TicketEvent(ticket=ticket, kind="moved", at=now, user_id=user_id,
                                  detail={"from": old, "to": queue.name, "why": why}))
                ticket_id = ticket.id
            else:
                ticket_id = None
        self._bus.publish(events.CALL_UPDATED, {"channel_id": channel_id, "outcome": "queued",
                                                "ticket_id": ticket_id, "agent_id": None,
                                                "queue": queue_name})


def set_state(agent: User, new: AgentState, reason: str, now: dt.datetime,
              until: Optional[dt.datetime] = None) -> None:
    """Store an agent's new state (the one place that writes it)."""
    old = AgentState(agent.state)
    agent.state = AgentState(new).value
    agent.state_reason = reason
    agent.state_since = now
    agent.state_until = until
    if new == AgentState.READY and old != AgentState.READY:
        agent.idle_since = now


def _queue_info(q: Queue, names: dict[int, str]) -> QueueInfo:
    spec = QueueSpec(name=q.name, priority=max(1, int(q.priority or 1)), strategy=q.strategy or "longest_idle",
                     service_level_s=float(q.service_level_seconds or 20),
                     max_wait_s=float(q.max_wait_seconds) if q.max_wait_seconds else None,
                     overflow_to=names.get(q.overflow_queue_id) if q.overflow_queue_id else None,
                     wrap_up_s=float(q.wrap_up_seconds) if q.wrap_up_seconds is not None else None)
    return QueueInfo(spec, q.title or "", q.title_en or "", q.menu_key or "", float(q.ring_timeout or 15.0),
                     int(q.announce_seconds or 0), q.music_class or "default")

