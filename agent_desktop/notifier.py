"""Bus -> Socket.IO bridge.

Rooms: ``agent:<id>`` holds the sockets of one logged-in user; ``supervisors``
holds the sockets of supervisors and admins.  A screen-pop goes to its agent's
room only, so no other agent ever receives it.

``floor`` holds the sockets of everyone who works the floor (agents, supervisors,
admins; not trainees): a change of the abandoned-call list (``callback.updated``, also
published when a call abandoned in a queue joins it) tells them to read the list again.  The event
carries ids only; the list itself comes from ``GET /callbacks``.

Sensitivity codes (docs/sensitivity.md): a pop's ``sensitivity`` block is sent
only when the receiving user's role has ``view_sensitivity``; for any other role,
an unknown user, or when the role cannot be looked up, it is removed.  A speech
analysis stored after the offer (``cti.sensitivity.ANALYSIS_RECORDED``) goes to
the agent the same way, or not at all.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable, Optional

from flask_socketio import SocketIO

from cti import callbacks, events, sensitivity
from cti.agent_state import AgentState
from cti.clock import utc_now
from cti.events import EventBus

log = logging.getLogger(__name__)

SUPERVISORS_ROOM = "supervisors"
FLOOR_ROOM = "floor"

# Socket.IO event names sent to browsers.
SCREENPOP_EVENT = "screenpop"
AGENT_STATE_EVENT = "agent_state"
TICKET_UPDATED_EVENT = "ticket_updated"
SENSITIVITY_ANALYSIS_EVENT = "sensitivity_analysis"
CALL_UPDATED_EVENT = "call_updated"
CALLBACKS_CHANGED_EVENT = "callbacks_changed"


def agent_room(agent_id: int) -> str:
    return f"agent:{int(agent_id)}"


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value is not None else None


def timing(until: Optional[dt.datetime], now: Optional[dt.datetime] = None) -> dict[str, Any]:
    """``until`` (ISO UTC) and ``remaining_seconds`` of a timed state (wrap-up);
    the browser counts down from ``remaining_seconds`` with its own clock."""
    if until is None:
        return {"until": None, "remaining_seconds": None}
    left = (until - (now or utc_now())).total_seconds()
    return {"until": _iso(until), "remaining_seconds": round(max(0.0, left), 1)}


class DesktopNotifier:
    """Subscribes to the bus on construction; ``close()`` unsubscribes (idempotent).

    ``role_of(user_id) -> role or None`` decides who may receive sensitivity data;
    without it nobody does.  ``state_until_of(user_id) -> datetime or None`` gives
    the end of an agent's wrap-up for the countdown (without it: no countdown)."""

    def __init__(self, socketio: SocketIO, bus: EventBus,
                 role_of: Optional[Callable[[int], Optional[str]]] = None,
                 state_until_of: Optional[Callable[[int], Optional[dt.datetime]]] = None):
        self._socketio = socketio
        self._role_of = role_of
        self._state_until_of = state_until_of
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(events.SCREENPOP, self._on_screenpop),
            bus.subscribe(events.AGENT_STATE, self._on_agent_state),
            bus.subscribe(events.TICKET_UPDATED, self._on_ticket_updated),
            bus.subscribe(events.CALL_UPDATED, self._on_call_updated),
            bus.subscribe(callbacks.CALLBACK_UPDATED, self._on_callback_updated),
            bus.subscribe(sensitivity.ANALYSIS_RECORDED, self._on_analysis),
        ]

    @property
    def subscribed(self) -> bool:
        return bool(self._unsubscribe)

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def may_view_sensitivity(self, user_id: int) -> bool:
        if self._role_of is None:
            return False
        try:
            return sensitivity.role_has(self._role_of(int(user_id)), sensitivity.VIEW_SENSITIVITY)
        except Exception:  # noqa: BLE001 - when in doubt, no codes
            log.exception("role of user %r unknown: sensitivity data withheld", user_id)
            return False

    # -- handlers (run in the publisher's thread) --------------------------------
    def _on_screenpop(self, _topic: str, payload: dict[str, Any]) -> None:
        agent_id = payload["agent_id"]
        pop = payload["pop"]
        allowed = "sensitivity" in pop and self.may_view_sensitivity(agent_id)
        self._emit(SCREENPOP_EVENT, sensitivity.strip_pop(pop, allowed), [agent_room(agent_id)])

    def _on_analysis(self, _topic: str, payload: dict[str, Any]) -> None:
        agent_id = payload.get("agent_id")
        if agent_id is None or not self.may_view_sensitivity(agent_id):
            return
        data = {"ticket_id": payload["ticket_id"], "sensitivity": payload["sensitivity"]}
        self._emit(SENSITIVITY_ANALYSIS_EVENT, data, [agent_room(agent_id)])

    def _on_agent_state(self, _topic: str, payload: dict[str, Any]) -> None:
        data = {"agent_id": int(payload["agent_id"]), "state": payload["state"],
                "reason": payload.get("reason", "")}
        if "queues" in payload:  # the agent changed their queue log-in (cti.acd_service)
            data["queues"] = [str(q) for q in payload["queues"]]
        if data["state"] == AgentState.WRAP_UP.value and self._state_until_of is not None:
            try:
                data.update(timing(self._state_until_of(data["agent_id"])))
            except Exception:  # noqa: BLE001 - the state goes out without a countdown
                log.exception("end of the wrap-up of agent %s unknown", data["agent_id"])
        self._emit(AGENT_STATE_EVENT, data, [agent_room(data["agent_id"]), SUPERVISORS_ROOM])

    def _on_call_updated(self, _topic: str, payload: dict[str, Any]) -> None:
        data = {"channel_id": payload.get("channel_id"), "outcome": payload.get("outcome"),
                "ticket_id": payload.get("ticket_id"), "queue": payload.get("queue")}
        self._emit(CALL_UPDATED_EVENT, data, [SUPERVISORS_ROOM])

    def _on_callback_updated(self, _topic: str, payload: dict[str, Any]) -> None:
        data = {"callback_id": payload.get("callback_id"), "status": payload.get("status")}
        self._emit(CALLBACKS_CHANGED_EVENT, data, [FLOOR_ROOM])

    def _on_ticket_updated(self, _topic: str, payload: dict[str, Any]) -> None:
        agent_id = payload.get("agent_id")
        data = {"ticket_id": payload["ticket_id"], "status": payload["status"], "agent_id": agent_id}
        rooms = [SUPERVISORS_ROOM] if agent_id is None else [agent_room(agent_id), SUPERVISORS_ROOM]
        self._emit(TICKET_UPDATED_EVENT, data, rooms)

    def _emit(self, event: str, data: dict[str, Any], rooms: list[str]) -> None:
        # One emit to a list of rooms: a supervisor who is also in the agent room
        # receives the event once.
        self._socketio.emit(event, data, to=rooms, namespace="/")
