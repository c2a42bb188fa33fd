"""Bus -> Socket.IO bridge.

Rooms: ``agent:<id>`` holds the sockets of one logged-in user; ``supervisors``
holds the sockets of supervisors and admins.  A screen-pop goes to its agent's
room only, so no other agent ever receives it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask_socketio import SocketIO

from cti import events
from cti.events import EventBus

log = logging.getLogger(__name__)

SUPERVISORS_ROOM = "supervisors"

# Socket.IO event names sent to browsers.
SCREENPOP_EVENT = "screenpop"
AGENT_STATE_EVENT = "agent_state"
TICKET_UPDATED_EVENT = "ticket_updated"


def agent_room(agent_id: int) -> str:
    return f"agent:{int(agent_id)}"


class DesktopNotifier:
    """Subscribes to the bus on construction; ``close()`` unsubscribes (idempotent)."""

    def __init__(self, socketio: SocketIO, bus: EventBus):
        self._socketio = socketio
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(events.SCREENPOP, self._on_screenpop),
            bus.subscribe(events.AGENT_STATE, self._on_agent_state),
            bus.subscribe(events.TICKET_UPDATED, self._on_ticket_updated),
        ]

    @property
    def subscribed(self) -> bool:
        return bool(self._unsubscribe)

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    # -- handlers (run in the publisher's thread) --------------------------------
    def _on_screenpop(self, _topic: str, payload: dict[str, Any]) -> None:
        self._emit(SCREENPOP_EVENT, dict(payload["pop"]), [agent_room(payload["agent_id"])])

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
