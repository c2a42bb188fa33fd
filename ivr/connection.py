"""Keeping the ARI connection up.

Connects with exponential backoff (saying clearly that Asterisk is not
reachable), watches the event websocket, and on every (re)connection calls
``on_connected`` so the application can resynchronise before events flow.
asyncari does not reconnect by itself and ends its websocket task silently when
Asterisk closes the socket, so a watchdog notices that and starts over.
"""
from __future__ import annotations

import logging
import types
from typing import Any, Awaitable, Callable

import anyio
import asyncari

from ivr.ari_events import SUBSCRIBED_EVENTS, AriEvent
from ivr.telephony import AriTelephony

log = logging.getLogger(__name__)


class _RawEvent:
    """What our listener needs of an event: the JSON as Asterisk sent it."""
    __slots__ = ("_orig_msg",)

    def __init__(self, msg: dict[str, Any]):
        self._orig_msg = msg


async def _process_raw(client, msg: dict[str, Any]) -> None:
    """Replaces asyncari's Client.process_ws: hand the JSON to the listeners and do
    nothing else.  asyncari's version wraps every event in Channel/Bridge objects
    kept in class-level caches bound to the client that made them (after a
    reconnection, a channel that survived tripped an assertion and killed the new
    connection), and formats a debug dump of each event even with debug logging
    off: about 17 % of the ARI loop's CPU in bench/screenpop.py's profile."""
    event = _RawEvent(msg)
    listeners = list(client.event_listeners.get(msg.get("type"), ())) + \
        list(client.event_listeners.get("*", ()))
    for listener in listeners:
        await listener(event)


def _root_cause(exc: BaseException) -> BaseException:
    """The first leaf of (possibly nested) exception groups, for a readable log line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class AriSupervisor:
    def __init__(self, url: str, user: str, password: str, app: str,
                 on_connected: Callable[[AriTelephony], Awaitable[None]],
                 on_event: Callable[[AriEvent], None],
                 on_disconnected: Callable[[], None] = lambda: None,
                 backoff_max: float = 10.0, event_types: frozenset[str] = SUBSCRIBED_EVENTS):
        self.url = url if url.endswith("/") else url + "/"
        self._user = user
        self._password = password
        self.app = app
        self._on_connected = on_connected
        self._on_event = on_event
        self._on_disconnected = on_disconnected
        self._backoff_max = backoff_max
        self._event_types = event_types   # the rest is dropped unread (ivr/sms.py: text messages only)
        self.connected = anyio.Event()
        self.connections = 0

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._session()
                delay = 0.2
                log.warning("ARI websocket to %s closed; reconnecting", self.url)
            except Exception as exc:  # noqa: BLE001 - any failure means: retry later
                cause = _root_cause(exc)
                what = "connection lost" if self.connected.is_set() else "not reachable"
                log.warning("Asterisk ARI %s at %s (%s: %s); retrying in %.1f s",
                            what, self.url, type(cause).__name__, cause, delay)
                log.debug("ARI connection failure", exc_info=exc)
            finally:
                if self.connected.is_set():
                    self.connected = anyio.Event()
                    self._on_disconnected()
            await anyio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    async def _session(self) -> None:
        async with asyncari.connect(self.url, self.app, self._user, self._password) as client:
            client.process_ws = types.MethodType(_process_raw, client)
            telephony = AriTelephony(client, self.app)
            async with anyio.create_task_group() as tg:
                reader = client.__aiter__()  # listen before resync so no event is missed
                tg.start_soon(self._watchdog, client, tg.cancel_scope)
                tg.start_soon(self._read, reader, tg.cancel_scope)
                self.connections += 1
                log.info("connected to Asterisk ARI at %s as application %r", self.url, self.app)
                await self._on_connected(telephony)
                self.connected.set()

    async def _read(self, reader, scope: anyio.CancelScope) -> None:
        async for msg in reader:
            raw = msg._orig_msg
            if raw.get("type") in self._event_types:
                self._on_event(AriEvent.from_json(raw))
        scope.cancel()

    @staticmethod
    async def _watchdog(client, scope: anyio.CancelScope) -> None:
        await anyio.sleep(0.5)
        while client.websockets:
            await anyio.sleep(0.25)
        scope.cancel()
