"""Keeping the ARI connection up.

Connects with exponential backoff (saying clearly that Asterisk is not
reachable), watches the event websocket, and on every (re)connection calls
``on_connected`` so the application can resynchronise before events flow.
asyncari does not reconnect by itself and ends its websocket task silently when
Asterisk closes the socket, so a watchdog notices that and starts over.  asyncari
opens the event websocket; events are read by a lean loop of ours and REST calls
go through ``ivr.ari_rest`` (see docs/decisions.md, "ARI client").
"""
from __future__ import annotations

import json
import logging
import urllib.parse
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

import anyio
from asyncari.client import Client
from asyncswagger11.http_client import ApiKeyAuthenticator, AsynchronousHttpClient
from wsproto.events import CloseConnection, TextMessage

from ivr.ari_events import SUBSCRIBED_EVENTS, AriEvent
from ivr.ari_rest import AriRest
from ivr.telephony import AriTelephony

log = logging.getLogger(__name__)


class _EventClient(Client):
    """asyncari's client with a lean event path.

    asyncari's own loop (``Client.__run``) hands every event through a memory
    stream to a per-event watchdog task (two task switches and a timeout scope
    per event), wraps it in Channel/Bridge objects kept in class-level caches
    bound to the client that made them (after a reconnection, a channel that
    survived tripped an assertion and killed the new connection), and formats a
    debug dump of each event even with debug logging off.  This loop reads the
    websocket and gives each event's JSON straight to ``deliver``."""

    def __init__(self, taskgroup, base_url: str, apps: str, http_client,
                 deliver: Callable[[dict[str, Any]], None]):
        super().__init__(taskgroup, base_url, apps, http_client)
        self._deliver = deliver

    async def _Client__run(self, ws) -> None:   # overrides the name-mangled Client.__run
        try:
            async for msg in ws:
                if isinstance(msg, CloseConnection):
                    break
                if not isinstance(msg, TextMessage):
                    continue
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    log.error("ARI sent an event that is not JSON: %.200r", msg.data)
                    continue
                if isinstance(event, dict) and "type" in event:
                    self._deliver(event)
        except anyio.ClosedResourceError:
            pass


@asynccontextmanager
async def _connect(url: str, app: str, user: str, password: str,
                   deliver: Callable[[dict[str, Any]], None]):
    """asyncari.connect with our client class (the same steps otherwise)."""
    host = urllib.parse.urlparse(url).netloc.split(":")[0]
    http_client = AsynchronousHttpClient(auth=ApiKeyAuthenticator(host, f"{user}:{password}"))
    try:
        async with anyio.create_task_group() as tg:
            client = _EventClient(tg, url, app, http_client, deliver)
            async with client:
                try:
                    yield client
                finally:
                    tg.cancel_scope.cancel()
    finally:
        await http_client.close()


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
        rest = AriRest(self.url, self._user, self._password)
        try:
            async with _connect(self.url, self.app, self._user, self._password, self._deliver) as client:
                telephony = AriTelephony(rest, self.app)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watchdog, client, tg.cancel_scope)
                    self.connections += 1
                    log.info("connected to Asterisk ARI at %s as application %r", self.url, self.app)
                    await self._on_connected(telephony)
                    self.connected.set()
        finally:
            await rest.aclose()

    def _deliver(self, raw: dict[str, Any]) -> None:
        """Called for every event, in the websocket's order (events that arrive while
        ``on_connected`` resynchronises are delivered too: nothing is missed)."""
        if raw.get("type") not in self._event_types:
            return
        try:
            self._on_event(AriEvent.from_json(raw))
        except Exception:  # noqa: BLE001 - one bad event must not cut the connection
            log.exception("ARI event %s could not be handled", raw.get("type"))

    @staticmethod
    async def _watchdog(client, scope: anyio.CancelScope) -> None:
        await anyio.sleep(0.5)
        while client.websockets:
            await anyio.sleep(0.25)
        scope.cancel()
