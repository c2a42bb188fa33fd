"""Live wallboard feed: bus events -> one fresh ``wallboard`` payload for the room.

Browsers on ``/wallboard`` and ``/dashboard`` send ``wallboard_join`` once
connected (and again after a reconnect); the server puts the socket in the
Socket.IO room ``wallboard`` and answers that socket at once with the current
figures.  ``WallboardPublisher`` subscribes to the bus topics that change the
figures (``call.updated``, ``agent.state``, ``ticket.updated``) and pushes the
whole payload (``cti.floor_service.FloorService.wallboard()``) to the room:

* a burst of events gives one push: the first event wakes the publisher's
  thread, which waits ``coalesce_seconds`` (a quarter of ``refresh_seconds``,
  at most 0.25 s) for the rest of the burst, then reads the database once;
  events arriving while it reads cause one more push;
* so a change reaches the screens within ``refresh_seconds`` ([floor]
  ``refresh_seconds``, default 1 s) as long as one read takes less than the
  rest of it;
* with nothing happening it still pushes every ``idle_push_seconds`` (30 s),
  so the day rolls over at midnight;
* nobody in the room: nothing is read.

The thread starts when the first browser joins and is stopped and joined by
``close()`` (``agent_desktop.close_app``), which also unsubscribes from the bus.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from flask import Flask, current_app
from flask_socketio import SocketIO, emit, join_room

from cti import events
from cti.events import EventBus
from cti.floor_service import FloorService

log = logging.getLogger(__name__)

EXTENSION_KEY = "happycall_wallboard"
WALLBOARD_ROOM = "wallboard"
WALLBOARD_EVENT = "wallboard"         # server -> browser: the payload
JOIN_EVENT = "wallboard_join"         # browser -> server: put me in the room
# ticket.overdue: the overdue-progress figure (cti.escalation_service.TICKET_OVERDUE).
TOPICS = (events.CALL_UPDATED, events.AGENT_STATE, events.TICKET_UPDATED, "ticket.overdue")
IDLE_PUSH_SECONDS = 30.0


class WallboardPublisher:
    """Pushes ``floor.wallboard()`` to the ``wallboard`` room after bus events
    (see the module docstring).  ``close()`` is idempotent."""

    def __init__(self, socketio: SocketIO, bus: EventBus, floor: FloorService, *,
                 refresh_seconds: Optional[float] = None, coalesce_seconds: Optional[float] = None,
                 idle_push_seconds: float = IDLE_PUSH_SECONDS,
                 has_viewers: Optional[Callable[[], bool]] = None):
        self.floor = floor
        self._socketio = socketio
        self.refresh_seconds = float(refresh_seconds if refresh_seconds is not None else floor.refresh_s)
        self.coalesce_seconds = float(coalesce_seconds if coalesce_seconds is not None
                                      else min(0.25, self.refresh_seconds / 4))
        self._idle_push_s = float(idle_push_seconds)
        self._has_viewers = has_viewers or self._room_has_sockets
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self.pushes = 0  # payloads sent to the room (for tests and diagnostics)
        self._unsubscribe = [bus.subscribe(topic, self._on_event) for topic in TOPICS]

    # ---- life cycle -------------------------------------------------------------------
    @property
    def subscribed(self) -> bool:
        return bool(self._unsubscribe)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the push thread (idempotent; the first viewer's join calls it)."""
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="wallboard-publisher", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Unsubscribe from the bus, stop the thread and join it."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        with self._lock:
            self._stopping.set()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():  # pragma: no cover - a database read hanging for ages
                log.warning("wallboard publisher did not stop within %.0f s", timeout)

    # ---- work -------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        return self.floor.wallboard()

    def notify(self) -> None:
        """Figures changed: push soon (coalesced)."""
        self._wake.set()

    def _on_event(self, _topic: str, _payload: dict[str, Any]) -> None:
        self._wake.set()   # runs in the publisher's thread: never read the database here

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._idle_push_s)
            if self._stopping.is_set():
                break
            if self._wake.is_set() and self.coalesce_seconds > 0:
                # Let the rest of a burst (offer -> ringing -> screen-pop ...) arrive.
                if self._stopping.wait(self.coalesce_seconds):
                    break
            self._wake.clear()   # before reading: an event during the read gives one more push
            self.push()

    def push(self) -> bool:
        """Send the current figures to the room now (skipped when nobody watches)."""
        try:
            if not self._has_viewers():
                return False
            data = self.payload()
            self._socketio.emit(WALLBOARD_EVENT, data, to=WALLBOARD_ROOM, namespace="/")
            self.pushes += 1
            return True
        except Exception:  # noqa: BLE001 - the next event tries again
            log.exception("wallboard push failed")
            return False

    def _room_has_sockets(self) -> bool:
        server = self._socketio.server
        if server is None:
            return False
        return next(iter(server.manager.get_participants("/", WALLBOARD_ROOM)), None) is not None


# ---- wiring (create_app / close_app / sockets) --------------------------------------------
def init_app(app: Flask, socketio: SocketIO, bus: EventBus, floor: FloorService) -> WallboardPublisher:
    publisher = WallboardPublisher(socketio, bus, floor)
    app.extensions[EXTENSION_KEY] = publisher
    return publisher


def close_app(app: Flask) -> None:
    publisher: Optional[WallboardPublisher] = app.extensions.get(EXTENSION_KEY)
    if publisher is not None:
        publisher.close()


def publisher() -> WallboardPublisher:
    """The current app's publisher (inside a request or Socket.IO handler)."""
    return current_app.extensions[EXTENSION_KEY]


def join() -> None:
    """Socket.IO handler body for ``wallboard_join`` (the caller checked the login):
    join the room and send this socket the current figures."""
    feed = publisher()
    join_room(WALLBOARD_ROOM)
    feed.start()
    emit(WALLBOARD_EVENT, feed.payload())
