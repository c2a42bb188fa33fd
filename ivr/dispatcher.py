"""The ACD running next to the call flows.

Keeps the floor's waiting list (``cti.routing.WaitingList``: calls of every
queue, and callbacks callers asked for), pairs waiting calls with free agents
(``cti.routing.Router``) and tells each call flow which agent to offer.  It also
applies the queues' maximum wait (overflow to another queue, or offer the
caller a callback), ends agents' wrap-up when its time is up, and hands queued
callbacks to the callback placer.

Runs on the ARI event loop; a pass is triggered when a call is queued or
released, when an agent becomes ready, and once a second as a safety net.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Awaitable, Callable, Optional

import anyio

from cti import routing
from cti.clock import utc_now
from ivr.ari_events import ServiceEvent

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "callback:"
MIN_PASS_INTERVAL = 0.05   # seconds between two ACD passes at the most busy


class QueueDispatcher:
    def __init__(self, default_queue: str, call_center: Any, post: Callable[[str, Any], None],
                 run_sync: Callable[..., Awaitable[Any]], tick_seconds: float = 1.0,
                 acd: Any = None, callbacks: Any = None,
                 place_callback: Optional[Callable[[int, int], Awaitable[None]]] = None):
        self.default_queue = default_queue
        self.waiting = routing.WaitingList()
        self._cc = call_center
        self._acd = acd                        # cti.acd_service.AcdService (None: one queue, no floor)
        self._callbacks = callbacks            # cti.callbacks.CallbackService
        self._place_callback = place_callback  # async (callback_id, agent_id)
        self._post = post
        self._run_sync = run_sync
        self._tick = tick_seconds
        self._wake = anyio.Event()
        self._lock = anyio.Lock()
        self.queues: dict[str, Any] = {}       # name -> cti.acd_service.QueueInfo (last read)
        self._handle_times: dict[str, list[float]] = {}
        self._seats: list[routing.AgentSeat] = []

    @property
    def queue(self) -> routing.WaitingList:
        """The waiting list (``call_id in dispatcher.queue``, ``len(...)``)."""
        return self.waiting

    # --- called by call flows (on the loop) -------------------------------------
    def add(self, channel_id: str, enqueued_at: Optional[dt.datetime], queue: Optional[str] = None) -> None:
        if channel_id not in self.waiting:
            self.waiting.add(channel_id, queue or self.default_queue, enqueued_at or utc_now())
        self.kick()

    def remove(self, channel_id: str) -> None:
        if self.waiting.remove(channel_id) is not None:
            self.kick()

    def offer_failed(self, channel_id: str) -> None:
        if channel_id in self.waiting:
            self.waiting.withdraw_offer(channel_id)
        self.kick()

    def no_answer(self, channel_id: str, agent_id: int) -> None:
        call = self.waiting.get(channel_id)
        if call is not None:
            if call.offered_to is None:
                call.offered_to = agent_id
            self.waiting.ring_out(channel_id)
        self.kick()

    async def move(self, channel_id: str, queue: str, why: str = "supervisor") -> None:
        """Move a waiting call to another queue (keeps its place by wait time)."""
        if self._acd is None or channel_id not in self.waiting:
            raise LookupError(f"call {channel_id} is not waiting")
        async with self._lock:
            call = self.waiting.get(channel_id)
            if call is None or call.offered_to is not None:
                raise LookupError(f"call {channel_id} is not waiting")
            await self._run_sync(self._acd.move_call, channel_id, queue, why)
            self.waiting.overflow(channel_id, queue, utc_now())
        self._post(channel_id, ServiceEvent("moved", {"queue": queue}))
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    async def menu(self) -> dict[str, str]:
        """ARS menu digit -> queue name ({} without the floor service: no menu)."""
        if self._acd is None:
            return {}
        return await self._run_sync(self._acd.menu)

    def position(self, channel_id: str) -> Optional[int]:
        return self.waiting.position(channel_id) if channel_id in self.waiting else None

    def estimated_wait(self, channel_id: str) -> Optional[float]:
        call = self.waiting.get(channel_id)
        if call is None or call.queue not in self.queues:
            return None
        router = routing.Router(q.spec for q in self.queues.values())
        serving = router.agents_serving(call.queue, self._seats)
        return routing.estimated_wait_s(call.queue, self.waiting.position(channel_id), self._handle_times,
                                        serving)

    # --- the loop ---------------------------------------------------------------
    async def run(self) -> None:
        next_housekeeping = 0.0
        last_pass = 0.0
        while True:
            with anyio.move_on_after(self._tick):
                await self._wake.wait()
            # Under load nearly every call event kicks: passes closer than
            # MIN_PASS_INTERVAL are merged into one (each reads the agents' seats).
            wait = last_pass + MIN_PASS_INTERVAL - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            last_pass = anyio.current_time()
            self._wake = anyio.Event()
            try:
                # Wrap-ups, callbacks and queue settings once a tick, not on every
                # kick: under load a kick comes with nearly every call event.
                if anyio.current_time() >= next_housekeeping:
                    next_housekeeping = anyio.current_time() + self._tick
                    await self._housekeeping()
                if len(self.waiting):
                    await self.dispatch_once()
            except Exception:
                log.exception("dispatch pass failed; retrying on the next tick")

    async def _housekeeping(self) -> None:
        if self._acd is None:
            return
        # Queue settings are read every pass: a supervisor's change applies within a second.
        self.queues = {q.name: q for q in await self._run_sync(self._acd.queues)}
        # Only the announcements' estimated wait uses the handle times: a second old is fine.
        self._handle_times = await self._run_sync(self._acd.handle_times)
        await self._run_sync(self._acd.end_wrap_ups)
        if self._callbacks is not None and self._place_callback is not None:
            await self._sync_callbacks()

    async def _sync_callbacks(self) -> None:
        """Requested callbacks wait on the floor with the caller's original place."""
        open_ids = set()
        for row in await self._run_sync(self._callbacks.requested_waiting):
            key = f"{CALLBACK_PREFIX}{row['id']}"
            open_ids.add(key)
            if key not in self.waiting and row["queue"]:
                place_at = dt.datetime.fromisoformat(row["place_at"].rstrip("Z"))
                self.waiting.add(key, row["queue"], place_at, routing.CALLBACK)
        for call in self.waiting.calls():
            if call.kind == routing.CALLBACK and call.call_id not in open_ids and call.offered_to is None:
                self.waiting.remove(call.call_id)

    async def dispatch_once(self) -> int:
        async with self._lock:
            if self._acd is None:
                return await self._dispatch_single_queue()
            queues = self.queues or {q.name: q for q in await self._run_sync(self._acd.queues)}
            self.queues = queues
            known = [c for c in self.waiting.calls() if c.queue in queues]
            counts = any(queues[c.queue].spec.strategy == routing.Strategy.FEWEST_CALLS for c in known)
            self._seats = await self._run_sync(self._acd.seats, counts)
            router = routing.Router(q.spec for q in queues.values())
            now = utc_now()
            await self._apply_max_wait(router, known, now)
            offers = router.match(known, self._seats, now, self.waiting.last_agent_by_queue)
            for offer in offers:
                call = self.waiting.offer(offer.call.call_id, offer.agent_id)
                if call.kind == routing.CALLBACK:
                    await self._start_callback(call, offer.agent_id)
                else:
                    self._post(call.call_id, ServiceEvent("offer", {"agent_id": offer.agent_id,
                                                                    "queue": call.queue}))
            return len(offers)

    async def _apply_max_wait(self, router: routing.Router, calls: list, now: dt.datetime) -> None:
        for call in calls:
            action = routing.max_wait_action(call, router.spec(call.queue), now)
            if action == routing.WaitAction.OVERFLOW:
                target = router.spec(call.queue).overflow_to
                self.waiting.overflow(call.call_id, target, now)
                await self._run_sync(self._cc_move, call.call_id, target)
                self._post(call.call_id, ServiceEvent("moved", {"queue": target}))
            elif action == routing.WaitAction.OFFER_CALLBACK:
                self.waiting.mark_callback_offered(call.call_id)
                self._post(call.call_id, ServiceEvent("offer_callback", {"queue": call.queue}))

    def _cc_move(self, channel_id: str, queue: str) -> None:
        self._acd.move_call(channel_id, queue, "max_wait")

    async def _start_callback(self, call: routing.WaitingCall, agent_id: int) -> None:
        callback_id = int(str(call.call_id)[len(CALLBACK_PREFIX):])
        self.waiting.remove(call.call_id)
        try:
            await self._place_callback(callback_id, agent_id)
        except Exception:
            log.exception("callback %s could not be placed", callback_id)

    async def _dispatch_single_queue(self) -> int:
        """Without the floor service (tests of one queue): the default queue only."""
        candidates = await self._run_sync(self._cc.agent_candidates, self.default_queue)
        seats = [routing.AgentSeat(c.agent_id, c.state, c.idle_since, 0, {self.default_queue: 0})
                 for c in candidates]
        router = routing.Router([routing.QueueSpec(self.default_queue)])
        calls = [c for c in self.waiting.calls() if c.queue == self.default_queue]
        offers = router.match(calls, seats, utc_now(), self.waiting.last_agent_by_queue)
        for offer in offers:
            self.waiting.offer(offer.call.call_id, offer.agent_id)
            self._post(offer.call.call_id, ServiceEvent("offer", {"agent_id": offer.agent_id}))
        return len(offers)
