"""The ACD running next to the call flows: keeps the waiting calls of a queue
and pairs them with free agents (cti.acd), then tells the call flow which agent
to offer.  Runs on the ARI event loop; a dispatch pass is triggered when a call
is queued or released, when an agent becomes ready, and once a second as a
safety net."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Awaitable, Callable, Optional

import anyio

from cti.acd import CallQueue
from cti.clock import utc_now
from ivr.ari_events import ServiceEvent

log = logging.getLogger(__name__)


class QueueDispatcher:
    def __init__(self, queue_name: str, call_center: Any, post: Callable[[str, Any], None],
                 run_sync: Callable[..., Awaitable[Any]], tick_seconds: float = 1.0):
        self.queue = CallQueue(queue_name)
        self._cc = call_center
        self._post = post
        self._run_sync = run_sync
        self._tick = tick_seconds
        self._wake = anyio.Event()
        self._lock = anyio.Lock()

    # --- called by call flows (on the loop) -------------------------------------
    def add(self, channel_id: str, enqueued_at: Optional[dt.datetime]) -> None:
        if channel_id not in self.queue:
            self.queue.add(channel_id, enqueued_at or utc_now())
        self.kick()

    def remove(self, channel_id: str) -> None:
        if self.queue.remove(channel_id) is not None:
            self.kick()

    def offer_failed(self, channel_id: str) -> None:
        call = self.queue.get(channel_id)
        if call is not None:
            call.offered_to = None
        self.kick()

    def no_answer(self, channel_id: str, agent_id: int) -> None:
        call = self.queue.get(channel_id)
        if call is not None:
            call.offered_to = None
            call.tried_agents.add(agent_id)
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    # --- the loop ---------------------------------------------------------------
    async def run(self) -> None:
        while True:
            with anyio.move_on_after(self._tick):
                await self._wake.wait()
            self._wake = anyio.Event()
            if len(self.queue):
                try:
                    await self.dispatch_once()
                except Exception:
                    log.exception("dispatch pass failed; retrying on the next tick")

    async def dispatch_once(self) -> int:
        async with self._lock:
            candidates = await self._run_sync(self._cc.agent_candidates, self.queue.name)
            pairs = self.queue.match(candidates)
            for call, agent_id in pairs:
                call.offered_to = agent_id
                self._post(call.call_id, ServiceEvent("offer", {"agent_id": agent_id}))
            return len(pairs)
