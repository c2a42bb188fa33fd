"""What a supervisor may do to the live floor: listen to, whisper into or barge
into a connected call, change an agent's state, move a waiting call to another
queue.  Checked and recorded here; the telephony side (``ivr``) carries the
requests out from the bus topics below.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cti import agent_state, events
from cti.agent_state import AgentState
from cti.clock import Clock, utc_now
from db.models import CallRecord, Queue, Ticket, TicketEvent, User

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
MONITOR_MODES = ("listen", "whisper", "barge")

#: {"channel_id", "mode", "supervisor_id"}: join a connected call.
MONITOR_REQUESTED = "supervisor.monitor_requested"
#: {"channel_id", "queue", "supervisor_id"}: move a waiting call.
MOVE_REQUESTED = "supervisor.move_requested"


class NotAllowed(PermissionError):
    pass


class SupervisionError(ValueError):
    """The request does not fit the call or agent as they are now."""


class SupervisorService:
    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, call_center: Any,
                 clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self._cc = call_center
        self._now = clock

    def live_calls(self) -> list[dict[str, Any]]:
        """Calls up now: in the IVR, waiting, ringing an agent or connected."""
        with self._sessions() as s:
            rows = s.execute(select(CallRecord, Queue.name, Queue.title, User.display_name)
                             .outerjoin(Queue, Queue.id == CallRecord.queue_id)
                             .outerjoin(User, User.id == CallRecord.agent_id)
                             .where(CallRecord.ended_at.is_(None))
                             .order_by(CallRecord.started_at)).all()
            return [{"channel_id": c.channel_id, "caller_number": c.caller_number, "caller_name": c.caller_name,
                     "line": c.line, "outcome": c.outcome, "queue": qname or "", "queue_title": qtitle or "",
                     "agent": agent or "", "agent_id": c.agent_id, "ticket_id": c.ticket_id,
                     "started_at": c.started_at.isoformat() + "Z",
                     "queued_at": c.queued_at.isoformat() + "Z" if c.queued_at else None}
                    for c, qname, qtitle, agent in rows]

    def monitor(self, supervisor_id: int, channel_id: str, mode: str) -> None:
        if mode not in MONITOR_MODES:
            raise SupervisionError(f"unknown mode {mode!r}")
        with self._sessions.begin() as s:
            supervisor = self._supervisor(s, supervisor_id)
            if not supervisor.phone:
                raise SupervisionError("you have no phone to listen on")
            call = self._call(s, channel_id)
            if call.outcome != "talking":
                raise SupervisionError("only a connected call can be joined")
            ticket = s.get(Ticket, call.ticket_id) if call.ticket_id else None
            if ticket is not None:
                s.add(TicketEvent(ticket=ticket, kind="note", at=self._now(), user_id=supervisor_id,
                                  detail={"supervisor": mode}))
        self._bus.publish(MONITOR_REQUESTED, {"channel_id": channel_id, "mode": mode,
                                              "supervisor_id": supervisor_id})

    def move_call(self, supervisor_id: int, channel_id: str, queue: str) -> None:
        with self._sessions() as s:
            self._supervisor(s, supervisor_id)
            call = self._call(s, channel_id)
            if call.outcome != "queued":
                raise SupervisionError("only a waiting call can be moved")
            if s.scalar(select(Queue.id).where(Queue.name == queue)) is None:
                raise SupervisionError(f"no queue {queue!r}")
        self._bus.publish(MOVE_REQUESTED, {"channel_id": channel_id, "queue": queue,
                                           "supervisor_id": supervisor_id})

    def set_agent_state(self, supervisor_id: int, agent_id: int, target: str, reason: str = "") -> AgentState:
        """A supervisor sets an agent READY, NOT_READY (with a reason) or logs them
        out, by the same rules as the agent's own request."""
        with self._sessions() as s:
            self._supervisor(s, supervisor_id)
        return self._cc.set_agent_state(agent_id, agent_state.AgentState(target), reason)

    @staticmethod
    def _supervisor(s, user_id: int) -> User:
        user = s.get(User, user_id)
        if user is None or user.role not in SUPERVISOR_ROLES:
            raise NotAllowed("supervisors only")
        return user

    @staticmethod
    def _call(s, channel_id: str) -> CallRecord:
        call = s.scalar(select(CallRecord).where(CallRecord.channel_id == channel_id,
                                                 CallRecord.ended_at.is_(None)))
        if call is None:
            raise SupervisionError("that call is over")
        return call
