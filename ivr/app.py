"""The ARI application, built once by ``load()`` and run on its own event loop
thread (the web server runs in other threads of the same process)."""
from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Optional

import anyio
import anyio.from_thread
import anyio.to_thread

from cti import alarms as alarm_topics
from cti import events
from cti.callbacks import PLACE_REQUESTED
from cti.happy_call import HAPPY_CALL_QUEUED
from cti.supervision import MONITOR_REQUESTED, MOVE_REQUESTED
from cti.surveys.service import SURVEY_CALL
from ivr.calls import CallRegistry
from ivr.connection import AriSupervisor
from ivr.dispatcher import QueueDispatcher
from ivr.stasis import StasisHandlers
from ivr.telephony import LiveTelephony

log = logging.getLogger(__name__)


def database_runner(threads: int):
    """``run_sync`` for blocking service calls (database) off the event loop, on at
    most ``threads`` worker threads.  Transactions take turns anyway (one SQLite
    writer, see db/session.py); with anyio's default 40 threads a burst of calls had
    dozens of threads fight for the GIL while the one holding the transaction lock
    waited its turn to run.  Too few (2) queue the bus handlers that run in the same
    thread after each transaction (desktop pushes, escalation timers)."""
    limiter = anyio.CapacityLimiter(max(1, int(threads)))

    async def run_sync(fn, *args, **kwargs):
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)
    return run_sync


class AriApplication:
    def __init__(self, config: dict, call_center: Any, bus: events.EventBus,
                 ari_url: str, ari_user: str, ari_password: str, speech: Any = None,
                 acd: Any = None, callbacks: Any = None, surveys: Any = None, reply_line: Any = None,
                 happy_calls: Any = None, happy_texts: Any = None, alarms: Any = None):
        self._config = config
        self._alarms = alarms          # cti.alarms.AlarmService: voice alert and hot line
        self._cc = call_center
        self._bus = bus
        self._ari = (ari_url, ari_user, ari_password)
        self._speech = speech
        self._acd = acd                # cti.acd_service.AcdService: several queues, wrap-up, max wait
        self._callbacks = callbacks    # cti.callbacks.CallbackService
        self._surveys = surveys        # cti.surveys.service.SurveyService (survey calls)
        self._reply_line = reply_line  # ivr.flows.reply_line.ReplyLine: the survey reply line's lookups
        self._happy_calls = happy_calls  # cti.happy_call.HappyCallService (None: no happy calls)
        self._happy_texts = happy_texts  # ivr.flows.happy_call.SpokenTexts (None: fixed prompts only)
        self.happy_dialer = None
        self._portal_cm = None
        self._portal: Optional[anyio.from_thread.BlockingPortal] = None
        self._main_future = None
        self._stop_event: Optional[anyio.Event] = None
        self._unsubscribe = None
        self.registry = CallRegistry()
        self.supervisor: Optional[AriSupervisor] = None
        self.dispatcher: Optional[QueueDispatcher] = None
        self._handlers: Optional[StasisHandlers] = None

    # --- life -------------------------------------------------------------------
    def start(self) -> None:
        self._cc.reset_transient_agent_states()
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        ready = threading.Event()
        self._main_future = self._portal.start_task_soon(self._main, ready)
        ready.wait(10)
        unsubscribe = [self._bus.subscribe(events.AGENT_STATE, self._on_agent_state),
                       self._bus.subscribe(PLACE_REQUESTED, self._on_place_callback),
                       self._bus.subscribe(MONITOR_REQUESTED, self._on_monitor),
                       self._bus.subscribe(MOVE_REQUESTED, self._on_move),
                       self._bus.subscribe(HAPPY_CALL_QUEUED, self._on_happy_call_queued)]
        if self._surveys is not None:
            unsubscribe.append(self._bus.subscribe(SURVEY_CALL, self._on_survey_call))
        if self._alarms is not None:
            unsubscribe += [self._bus.subscribe(alarm_topics.ALARM_RAISED, self._on_alarm_raised),
                            self._bus.subscribe(alarm_topics.ALARM_CLOSED, self._on_alarm_closed),
                            self._bus.subscribe(alarm_topics.CONTACT_CALL, self._on_contact_call)]
        self._unsubscribe = lambda: [u() for u in unsubscribe]

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self._portal is not None:
            try:
                self._portal.call(self._stop_event.set)
                self._main_future.result(timeout=15)
            except Exception:
                log.exception("ARI application did not stop cleanly")
            finally:
                self._portal_cm.__exit__(None, None, None)  # joins the loop thread
                self._portal = None

    def wait_connected(self, timeout: float = 30) -> bool:
        async def wait() -> bool:
            with anyio.move_on_after(timeout):
                while self.supervisor is None or not self.supervisor.connected.is_set():
                    await anyio.sleep(0.05)
                return True
            return False
        return self._portal.call(wait)

    def dispatcher_kick(self) -> None:
        """Ask for an ACD pass now (from any thread), e.g. after agents were changed
        directly in the database."""
        if self._portal is not None and self.dispatcher is not None:
            self._portal.start_task_soon(self._kick)

    def call_count(self) -> int:
        return self._portal.call(lambda: len(self.registry))

    # --- the loop ---------------------------------------------------------------
    async def _main(self, ready: threading.Event) -> None:
        cfg = self._config
        live = LiveTelephony()
        self._stop_event = anyio.Event()
        run_sync = database_runner(cfg["ivr"]["db_threads"])
        async with anyio.create_task_group() as tg:
            def post(channel_id, event):
                session = self.registry.get(channel_id)
                if session is not None:
                    session.post(event)

            handlers = None

            async def place_callback(callback_id: int, agent_id: int) -> None:
                await handlers.place_callback(callback_id, agent_id)

            self.dispatcher = QueueDispatcher(cfg["acd"]["queue"], self._cc, post, run_sync,
                                              acd=self._acd, callbacks=self._callbacks,
                                              place_callback=place_callback if self._callbacks else None)
            handlers = StasisHandlers(cfg, self._cc, self.dispatcher, self.registry, live,
                                      tg.start_soon, run_sync, speech=self._speech, callbacks=self._callbacks,
                                      surveys=self._surveys, reply_line=self._reply_line, alarms=self._alarms)
            self._handlers = handlers

            async def connected(telephony) -> None:
                live.attach(telephony)
                await handlers.on_connected(telephony)

            def disconnected() -> None:
                live.detach()
                handlers.on_disconnected()

            url, user, password = self._ari
            self.supervisor = AriSupervisor(
                url, user, password, cfg["asterisk"]["app_name"], on_connected=connected,
                on_event=handlers.on_event, on_disconnected=disconnected,
                backoff_max=float(cfg["asterisk"]["connect_backoff_max"]))
            tg.start_soon(self.dispatcher.run)
            if self._happy_calls is not None and self._happy_calls.settings.enabled:
                self.happy_dialer = self._make_happy_dialer(handlers, live, run_sync)
                tg.start_soon(self.happy_dialer.run)
            tg.start_soon(self.supervisor.run)
            ready.set()
            await self._stop_event.wait()
            await self._hang_up_all()
            tg.cancel_scope.cancel()

    def _make_happy_dialer(self, handlers: StasisHandlers, live: LiveTelephony, run_sync):
        from ivr.flows.happy_call import HappyCallDialer

        section = self._config["happy_call"]
        dialer: Optional[HappyCallDialer] = None

        async def place(call: dict) -> None:
            await handlers.place_happy_call(call, self._happy_calls, self._happy_texts,
                                            float(section["ring_seconds"]), dialer.finished)

        dialer = HappyCallDialer(self._happy_calls, place, run_sync, ready=lambda: live.is_up and handlers.resynced,
                                 poll_seconds=float(section["poll_seconds"]),
                                 max_parallel=self._happy_calls.settings.max_parallel)
        return dialer

    async def _hang_up_all(self) -> None:
        """At shutdown, callers still in the IVR or queue are hung up; their calls
        are then stored as abandoned by their sessions' cleanup."""
        with anyio.move_on_after(5):
            for cid in self.registry.channel_ids():
                session = self.registry.get(cid)
                if session is not None:
                    session.end_reason = "shutdown"
                    try:
                        await session.ctx.telephony.hangup(cid)
                    except Exception as exc:
                        log.warning("could not hang up %s at shutdown: %s", cid, exc)
            while len(self.registry):
                await anyio.sleep(0.05)

    # --- bus ----------------------------------------------------------------------
    def _on_agent_state(self, _topic: str, payload: dict) -> None:
        if payload.get("state") != "ready" or self._portal is None or self.dispatcher is None:
            return
        try:
            self._portal.start_task_soon(self._kick)
        except RuntimeError:
            # Published from the loop thread itself: kick directly.
            self.dispatcher.kick()

    async def _kick(self) -> None:
        self.dispatcher.kick()

    def _on_happy_call_queued(self, _topic: str, _payload: dict) -> None:
        """A status update was queued for a happy call (from a web thread): look now."""
        if self._portal is None or self.happy_dialer is None:
            return
        try:
            self._portal.start_task_soon(self._kick_happy)
        except RuntimeError:
            self.happy_dialer.kick()      # published on the loop thread itself

    async def _kick_happy(self) -> None:
        if self.happy_dialer is not None:
            self.happy_dialer.kick()

    def _on_place_callback(self, _topic: str, payload: dict) -> None:
        """An agent's one-click callback (from a web thread); if it fails, the entry
        stays on its list and the agent may try again."""
        callback_id, agent_id = int(payload["callback_id"]), int(payload["agent_id"])
        self._in_loop(f"callback {callback_id}", lambda: self._handlers.place_callback(callback_id, agent_id))

    def _on_monitor(self, _topic: str, payload: dict) -> None:
        self._in_loop("monitoring", lambda: self._handlers.start_monitor(
            payload["channel_id"], payload["mode"], int(payload["supervisor_id"])))

    def _on_survey_call(self, _topic: str, payload: dict) -> None:
        """The survey runner wants a customer called (from its thread).  If the call
        cannot be placed, the survey's call guard falls back to messages."""
        survey_id = int(payload["survey_id"])
        self._in_loop(f"survey call {survey_id}", lambda: self._handlers.place_survey_call(survey_id))

    def _on_move(self, _topic: str, payload: dict) -> None:
        self._in_loop("moving a call", lambda: self.dispatcher.move(payload["channel_id"], payload["queue"]))

    # Early warning (docs/alarms.md): published by the webhook and the desktop's threads.
    def _on_alarm_raised(self, _topic: str, payload: dict) -> None:
        alarm = payload["alarm"]
        self._in_loop(f"alarm {alarm['id']}", lambda: self._handlers.alarm_raised(alarm))

    def _on_alarm_closed(self, _topic: str, payload: dict) -> None:
        alarm = payload["alarm"]
        self._in_loop(f"closing the hot line of alarm {alarm['id']}", lambda: self._handlers.alarm_closed(alarm))

    def _on_contact_call(self, _topic: str, payload: dict) -> None:
        self._in_loop(f"calling the IT contact of alarm {payload['alarm_id']}", lambda: self._handlers.call_contact(
            int(payload["alarm_id"]), payload["bridge_id"], payload["number"]))

    def _in_loop(self, what: str, make_coro) -> None:
        """Run a request from the desktop (callback, supervisor) on the ARI loop;
        failures are logged (the desktop checked what it could before asking)."""
        if self._portal is None or self._handlers is None:
            log.warning("%s not done: the telephony side is not running", what)
            return

        async def run() -> None:
            try:
                await make_coro()
            except Exception as exc:
                log.warning("%s failed: %s", what, exc)

        self._portal.start_task_soon(run)


def load(config: dict, call_center: Any, bus: events.EventBus, ari_url: str, ari_user: str,
         ari_password: str, speech: Any = None, acd: Any = None, callbacks: Any = None,
         surveys: Any = None, reply_line: Any = None, happy_calls: Any = None,
         happy_texts: Any = None, alarms: Any = None) -> AriApplication:
    return AriApplication(config, call_center, bus, ari_url, ari_user, ari_password, speech, acd, callbacks,
                          surveys, reply_line, happy_calls, happy_texts, alarms)
