"""ARI event handlers: what a channel entering or leaving the application means.

StasisStart with args ``ars,<number>,<lang>`` is a customer on the ARS line;
``agent,<caller channel>`` is an agent's phone answering an offered call.
Everything else about a channel goes to the call that owns it.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, Optional

from ivr.ari_events import AriEvent, ServiceEvent
from ivr.calls import CallRegistry, CallSession
from ivr.flows.ars import Greeting, Queued
from ivr.flows.base import CallContext, State
from ivr.telephony import Telephony

log = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("ko", "en")
HAPPY_CALL_LINE = "happycall"       # CallContext.line of a happy call's session


class StasisHandlers:
    def __init__(self, config: dict, call_center: Any, dispatcher, registry: CallRegistry,
                 telephony: Telephony, start_task: Callable[..., None], run_sync, speech: Any = None,
                 callbacks: Any = None):
        self._config = config
        self._cc = call_center
        self._dispatcher = dispatcher
        self._registry = registry
        self._start_task = start_task
        self._run_sync = run_sync
        self._telephony = telephony  # a LiveTelephony shared by every call
        self._speech = speech
        self._callbacks = callbacks
        self._startup_time: Optional[str] = None
        self._resynced = False

    # --- events -----------------------------------------------------------------
    def on_event(self, event: AriEvent) -> None:
        if event.type == "StasisStart":
            kind = event.args[0] if event.args else ""
            if kind == "ars":
                self._new_ars_call(event)
                return
            if kind == "agent" and self._registry.route(event):
                return
            if not self._registry.route(event):
                log.warning("channel %s entered the application with unknown args %r; hanging up",
                            event.channel_id, event.args)
                self._start_task(self._hangup, event.channel_id)
            return
        self._registry.route(event)

    def _new_ars_call(self, event: AriEvent) -> None:
        if event.channel_id in self._registry:
            return
        line = event.args[1] if len(event.args) > 1 else ""
        lang = event.args[2] if len(event.args) > 2 else self._config["ivr"]["default_language"]
        if lang not in SUPPORTED_LANGUAGES:
            lang = self._config["ivr"]["default_language"]
        self._start_session(event.channel_id, event.caller_number, event.caller_name, line, lang, Greeting())

    def _start_session(self, channel_id: str, number: str, name: str, line: str, lang: str,
                       initial: State, on_end=None) -> CallSession:
        """``on_end(session)``: a coroutine function run after the session's own
        clean-up, whatever ended it (the happy call settles its outbox row there)."""
        session: CallSession

        def register_leg(leg_id: str) -> None:
            self._registry.add_leg(leg_id, channel_id)

        ctx = CallContext(
            channel_id=channel_id, caller_number=number, caller_name=name, line=line, language=lang,
            ivr_config=self._config["ivr"], acd_config=self._config["acd"], telephony=self._telephony,
            call_center=self._cc, dispatcher=self._dispatcher, run_sync=self._run_sync,
            start_timer=lambda n, s: session.start_timer(n, s),
            cancel_timer=lambda n: session.cancel_timer(n),
            register_leg=register_leg, spawn=lambda fn, *a: session.spawn(fn, *a),
            post=lambda event: session.post(event), log=log,
            speech=self._speech, callbacks=self._callbacks)
        session = CallSession(ctx, initial, self._registry.finished)
        self._registry.add(session)
        if on_end is None:
            self._start_task(session.run)
        else:
            async def run_then_end() -> None:
                try:
                    await session.run()
                finally:
                    await on_end(session)
            self._start_task(run_then_end)
        return session

    async def place_callback(self, callback_id: int, agent_id: int) -> None:
        """Ring the agent, then the customer of a callback entry (ivr.flows.callback).
        Raises cti.callbacks.CallbackError when the entry cannot be dialled now."""
        from ivr.flows.callback import RingingAgent

        row = await self._run_sync(self._callbacks.start, callback_id, agent_id)
        channel_id = f"callback-{callback_id}-{secrets.token_hex(4)}"
        self._start_session(channel_id, row["number"], row["caller_name"], "callback",
                            self._config["ivr"]["default_language"], RingingAgent(row, agent_id))

    async def place_happy_call(self, call: dict, service: Any, texts: Any, ring_seconds: float,
                               on_finished: Callable[[int], None]) -> None:
        """Dial a customer for a claimed happy call (ivr.flows.happy_call).  The
        session's id is a name, the customer's channel its other leg; when the
        session ends, an attempt nobody reported counts as failed and the spoken
        text's file is removed."""
        from ivr.flows.happy_call import DialingCustomer, tts_name

        async def settle(session: CallSession) -> None:
            try:
                await self._run_sync(service.settle_unfinished, call["id"],
                                     f"call ended without an outcome ({session.end_reason})")
            except Exception:  # noqa: BLE001 - logged; the row is settled at the next start-up
                log.exception("happy call %s: could not settle", call["id"])
            finally:
                if texts is not None:
                    texts.remove(tts_name(call))
                on_finished(call["id"])

        channel_id = f"happycall-{call['id']}-{secrets.token_hex(4)}"
        self._start_session(channel_id, call["number"], "", HAPPY_CALL_LINE, call["language"],
                            DialingCustomer(call, service, texts, ring_seconds), on_end=settle)

    async def start_monitor(self, channel_id: str, mode: str, supervisor_id: int) -> None:
        """Ring the supervisor's phone and join the connected call ``channel_id``
        (ivr.flows.monitor)."""
        from ivr.flows.monitor import MonitorError, RingingSupervisor

        target = self._registry.get(channel_id)
        if target is None or not target.ctx.bridge_id:
            raise MonitorError(f"call {channel_id} is not connected here")
        phone = await self._run_sync(self._cc.agent_phone, supervisor_id)
        leg = f"monitor-{secrets.token_hex(6)}"
        self._start_session(leg, "", "supervisor", "monitor", self._config["ivr"]["default_language"],
                            RingingSupervisor(target.ctx, mode, phone))

    async def _hangup(self, channel_id: Optional[str]) -> None:
        if channel_id:
            try:
                await self._telephony.hangup(channel_id)
            except Exception as exc:
                log.warning("could not hang up %s: %s", channel_id, exc)

    # --- connection life ----------------------------------------------------------
    async def on_connected(self, telephony: Telephony) -> None:
        """Called on every (re)connection, before events are processed.

        Calls we were running whose channels are gone are ended (``pbx_lost`` if
        Asterisk restarted meanwhile); calls the database still has open from a
        previous run are resumed when they were waiting in the queue and their
        channel is still in the application, otherwise hung up and closed."""
        startup = await telephony.startup_time()
        restarted = self._startup_time is not None and startup != self._startup_time
        self._startup_time = startup
        live = await telephony.list_channel_ids()
        in_app = await telephony.app_channel_ids()
        reason_gone = "pbx_lost" if restarted else "hangup"
        for cid in self._registry.channel_ids():
            session = self._registry.get(cid)
            if session is None:
                continue
            if session.ctx.line == HAPPY_CALL_LINE:
                # Its id is a name, not a channel: only the customer's leg can be gone.
                leg = session.ctx.agent_channel_id
                if leg and leg not in live:
                    session.post(AriEvent("ChannelDestroyed", channel_id=leg))
                continue
            if cid not in live:
                log.warning("call %s vanished while ARI was disconnected (%s)", cid, reason_gone)
                session.post(ServiceEvent("pbx_lost", channel_id=cid) if restarted
                             else AriEvent("StasisEnd", channel_id=cid))
            elif session.ctx.agent_channel_id and session.ctx.agent_channel_id not in live:
                session.post(AriEvent("ChannelDestroyed", channel_id=session.ctx.agent_channel_id))
        open_calls = await self._run_sync(self._cc.open_calls)
        for cid, outcome in open_calls.items():
            if cid in self._registry:
                continue
            if cid in in_app and outcome == "queued":
                info = await self._run_sync(self._cc.call_info, cid)
                log.info("resuming queued call %s after restart", cid)
                session = self._start_session(cid, info.caller_number, info.caller_name, "",
                                              self._config["ivr"]["default_language"],
                                              Queued(enqueued_at=info.queued_at))
                session.ctx.queue = info.queue
            else:
                if cid in live:
                    await self._hangup(cid)
                await self._run_sync(self._cc.call_ended, cid, "pbx_lost" if cid not in live else "error")
        for cid in in_app - set(self._registry.channel_ids()) - set(open_calls):
            if not self._registry.is_leg(cid):
                log.warning("hanging up channel %s left in the application by an earlier run", cid)
                await self._hangup(cid)
        self._dispatcher.kick()
        self._resynced = True

    @property
    def resynced(self) -> bool:
        """Connected and resynchronised: new outbound calls may start."""
        return self._resynced

    def on_disconnected(self) -> None:
        self._resynced = False
        log.warning("ARI disconnected; %d calls kept and resynchronised on reconnection",
                    len(self._registry))
