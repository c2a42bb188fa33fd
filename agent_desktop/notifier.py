"""Bus -> Socket.IO bridge.

Rooms: ``agent:<id>`` holds the sockets of one logged-in user; ``supervisors``
holds the sockets of supervisors and admins.  A screen-pop goes to its agent's
room only, so no other agent ever receives it.

Sensitivity codes (docs/sensitivity.md): a pop's ``sensitivity`` block is sent
only when the receiving user's role has ``view_sensitivity``; for any other role,
an unknown user, or when the role cannot be looked up, it is removed.  A speech
analysis stored after the offer (``cti.sensitivity.ANALYSIS_RECORDED``) goes to
the agent the same way, or not at all.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from flask_socketio import SocketIO

from cti import events, sensitivity
from cti.events import EventBus

log = logging.getLogger(__name__)

SUPERVISORS_ROOM = "supervisors"

# Socket.IO event names sent to browsers.
SCREENPOP_EVENT = "screenpop"
AGENT_STATE_EVENT = "agent_state"
TICKET_UPDATED_EVENT = "ticket_updated"
SENSITIVITY_ANALYSIS_EVENT = "sensitivity_analysis"


def agent_room(agent_id: int) -> str:
    return f"agent:{int(agent_id)}"


class DesktopNotifier:
    """Subscribes to the bus on construction; ``close()`` unsubscribes (idempotent).

    ``role_of(user_id) -> role or None`` decides who may receive sensitivity data;
    without it nobody does."""

    def __init__(self, socketio: SocketIO, bus: EventBus,
                 role_of: Optional[Callable[[int], Optional[str]]] = None):
        self._socketio = socketio
        self._role_of = role_of
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(events.SCREENPOP, self._on_screenpop),
            bus.subscribe(events.AGENT_STATE, self._on_agent_state),
            bus.subscribe(events.TICKET_UPDATED, self._on_ticket_updated),
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
        self._emit(AGENT_STATE_EVENT, data, [agent_room(data["agent_id"]), SUPERVISORS_ROOM])

    def _on_ticket_updated(self, _topic: str, payload: dict[str, Any]) -> None:
        agent_id = payload.get("agent_id")
        data = {"ticket_id": payload["ticket_id"], "status": payload["status"], "agent_id": agent_id}
        rooms = [SUPERVISORS_ROOM] if agent_id is None else [agent_room(agent_id), SUPERVISORS_ROOM]
        self._emit(TICKET_UPDATED_EVENT, data, rooms)

    def _emit(self, event: str, data: dict[str, Any], rooms: list[str]) -> None:
        # One emit to a list of rooms: a supervisor who is also in the agent room
        # receives the event once.
        self._socketio.emit(event, data, to=rooms, namespace="/")
