"""ARI event handlers: what a channel entering or leaving the application means.

StasisStart with args ``ars,<number>,<lang>`` is a customer on the ARS line;
``agent,<caller channel>`` is an agent's phone answering an offered call;
``survey,<id>`` a customer answering a survey call (ivr.flows.survey), then
``survey-amd,<id>,<status>,<cause>`` the same call back from answering-machine
detection.
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
                 callbacks: Any = None, surveys: Any = None, reply_line: Any = None, alarms: Any = None):
        self._config = config
        self._alarms = alarms          # cti.alarms.AlarmService (voice alert, hot line)
        self._cc = call_center
        self._dispatcher = dispatcher
        self._registry = registry
        self._start_task = start_task
        self._run_sync = run_sync
        self._telephony = telephony  # a LiveTelephony shared by every call
        self._speech = speech
        self._callbacks = callbacks
        self._surveys = surveys      # cti.surveys.service.SurveyService (blocking)
        # Survey calls ringing the customer: channel id -> SurveyService.call_target().
        self._ringing_surveys: dict[str, dict] = {}
        self._reply_line = reply_line  # ivr.flows.reply_line.ReplyLine (the survey side's lookups)
        self._startup_time: Optional[str] = None
        self._resynced = False

    # --- events -----------------------------------------------------------------
    def on_event(self, event: AriEvent) -> None:
        if event.channel_id in self._ringing_surveys and event.channel_id not in self._registry:
            self._survey_call_event(event)
            return
        if event.type == "StasisStart":
            kind = event.args[0] if event.args else ""
            if kind == "ars":
                self._new_ars_call(event)
                return
            if kind == "reply":
                self._new_reply_call(event)
            if kind == "hotline" and self._alarms is not None and event.channel_id not in self._registry:
                self._new_hotline_caller(event)
                return
            if kind == "agent" and self._registry.route(event):
                return
            if not self._registry.route(event):
                log.warning("channel %s entered the application with unknown args %r; hanging up",
                            event.channel_id, event.args)
                self._start_task(self._hangup, event.channel_id)
            return
        self._registry.route(event)

    def _line_and_language(self, event: AriEvent) -> tuple[str, str]:
        """The line and language an inbound call's Stasis args name (args: kind,
        line, language); an unknown language is the default one."""
        default = self._config["ivr"]["default_language"]
        line = event.args[1] if len(event.args) > 1 else ""
        lang = event.args[2] if len(event.args) > 2 else default
        return line, lang if lang in SUPPORTED_LANGUAGES else default

    def _new_ars_call(self, event: AriEvent) -> None:
        if event.channel_id in self._registry:
            return
        line, lang = self._line_and_language(event)
        self._start_session(event.channel_id, event.caller_number, event.caller_name, line, lang, Greeting())

    def _new_reply_call(self, event: AriEvent) -> None:
        """A customer calling the survey reply line (docs/sms.md)."""
        from ivr.flows.reply_line import NO_SURVEYS, ReplyWelcome

        if event.channel_id in self._registry:
            return
        line, lang = self._line_and_language(event)
        if self._reply_line is None:
            log.warning("reply line call %s: no survey lookup is configured", event.channel_id)
        self._start_session(event.channel_id, event.caller_number, event.caller_name, line, lang,
                            ReplyWelcome(self._reply_line or NO_SURVEYS))

    def _start_session(self, channel_id: str, number: str, name: str, line: str, lang: str,
                       initial: State, on_end=None) -> CallSession:
        """``on_end(session)``: a coroutine function run after the session's own
        clean-up, whatever ended it (the happy call settles its outbox row there,
        the survey call reports that it was answered)."""
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

    async def place_survey_call(self, survey_id: int) -> None:
        """Call the customer of a survey (config [surveys]); the flow starts when they
        answer (``_survey_call_event``).  Whatever happens, the survey service is told."""
        target = await self._run_sync(self._surveys.call_target, survey_id)
        section = self._config["surveys"]
        if not target["number"]:
            await self._survey_result(survey_id, "failed", "no number to call")
            return
        channel_id = f"survey-{survey_id}-{secrets.token_hex(4)}"
        self._ringing_surveys[channel_id] = target
        ring = float(section["call_ring_seconds"])
        try:
            await self._telephony.originate(channel_id, section["call_dial"].format(number=target["number"]),
                                            f"survey,{survey_id}", f'"HappyCall" <{section["call_caller_id"]}>',
                                            int(ring))
        except Exception as exc:  # noqa: BLE001 - the survey falls back to messages
            self._ringing_surveys.pop(channel_id, None)
            log.warning("survey %s: the call could not be placed: %s", survey_id, exc)
            await self._survey_result(survey_id, "failed", str(exc)[:200])

    def _survey_call_event(self, event: AriEvent) -> None:
        """The customer answered (StasisStart ``survey``: answering-machine detection,
        or straight to the questions without it), detection decided (StasisStart
        ``survey-amd``: a machine is hung up, anyone else asked), or the call ended
        before the questions (ChannelDestroyed: busy, no answer, rejected, failed;
        gone during detection: no input)."""
        from ivr.flows.survey import result_of_amd, result_of_cause

        kind = event.args[0] if event.args else ""
        target = self._ringing_surveys[event.channel_id]
        if event.type == "StasisStart" and kind == "survey" and self._config["surveys"]["amd_context"]:
            target["detecting"] = True
            self._start_task(self._detect_machine, event.channel_id, target)
        elif event.type == "StasisStart" and kind == "survey-amd":
            status = event.args[2] if len(event.args) > 2 else ""
            cause = event.args[3] if len(event.args) > 3 else ""
            result = result_of_amd(status, cause)
            log.info("survey call %s: answering-machine detection says %s %s", event.channel_id, status, cause)
            if result is None:
                self._start_survey_session(event.channel_id, self._ringing_surveys.pop(event.channel_id))
            else:
                self._ringing_surveys.pop(event.channel_id)
                self._start_task(self._hangup, event.channel_id)
                self._start_task(self._survey_result, target["survey_id"], result, f"AMD {status} {cause}".strip())
        elif event.type == "StasisStart":
            self._start_survey_session(event.channel_id, self._ringing_surveys.pop(event.channel_id))
        elif event.type == "ChannelDestroyed":
            self._ringing_surveys.pop(event.channel_id)
            if target.get("detecting"):
                result, detail = "no_input", "hung up during answering-machine detection"
            else:
                result, detail = result_of_cause(event.cause), f"cause {event.cause}"
            self._start_task(self._survey_result, target["survey_id"], result, detail)

    async def _detect_machine(self, channel_id: str, target: dict) -> None:
        """Keep the channel's events (its hang-up) while it runs AMD() in the dialplan,
        then send it there; the dialplan brings it back as ``survey-amd``.  If that
        cannot be done the questions are asked without detection."""
        try:
            await self._telephony.subscribe_channel(channel_id)
            await self._telephony.continue_in_dialplan(channel_id, self._config["surveys"]["amd_context"],
                                                       str(target["survey_id"]))
        except Exception as exc:  # noqa: BLE001 - a person may be waiting: ask without detection
            log.warning("survey call %s: answering-machine detection not possible (%s); asking anyway",
                        channel_id, exc)
            if self._ringing_surveys.pop(channel_id, None) is not None:
                self._start_survey_session(channel_id, target)

    def _start_survey_session(self, channel_id: str, target: dict) -> None:
        from ivr.flows.survey import Asking, SurveyCall

        call = SurveyCall(survey_id=target["survey_id"], ticket_id=target["ticket_id"],
                          customer_id=target["customer_id"], language=target["language"],
                          number=target["number"], queue=target["queue"], service=self._surveys)
        lang = call.language if call.language in SUPPORTED_LANGUAGES else self._config["ivr"]["default_language"]

        async def answered(_session: CallSession) -> None:
            await self._survey_result(call.survey_id, "answered", "transferred" if call.transferred else "")

        self._start_session(channel_id, call.number, "", "survey", lang, Asking(call), on_end=answered)

    async def _survey_result(self, survey_id: int, result: str, detail: str = "") -> None:
        try:
            await self._run_sync(self._surveys.call_result, survey_id, result, detail)
        except Exception:  # noqa: BLE001 - the survey's call guard moves it on anyway
            log.exception("survey %s: could not store the call result %s", survey_id, result)

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

    # --- early warning (docs/alarms.md) -------------------------------------------
    def _new_hotline_caller(self, event: AriEvent) -> None:
        from ivr.flows.alarm import JoiningHotline

        self._start_session(event.channel_id, event.caller_number, event.caller_name, "hotline",
                            self._config["ivr"]["default_language"], JoiningHotline(self._alarms.active_hotline))

    async def alarm_raised(self, alarm: dict) -> None:
        """A major alarm: open its hot line (an empty mixing bridge), then ring every
        free agent's phone with the voice alert."""
        from cti.alarms import hotline_bridge_id

        section = self._config["alarms"]
        alarm_id = int(alarm["id"])
        if section["hotline"]:
            bridge_id = hotline_bridge_id(alarm_id)
            try:
                await self._telephony.create_bridge(bridge_id)
                await self._run_sync(self._alarms.hotline_state, alarm_id, "open", bridge_id)
            except Exception as exc:
                log.error("alarm %s: the hot line could not be opened: %s", alarm_id, exc)
                await self._run_sync(self._alarms.hotline_state, alarm_id, "failed")
        if section["voice_alert"]:
            await self.voice_alert(alarm_id, float(section["alert_ring_seconds"]))

    async def voice_alert(self, alarm_id: int, ring_seconds: float) -> int:
        from ivr.flows.alarm import VoiceAlert

        targets = await self._run_sync(self._alarms.voice_alert_targets)
        for target in targets:
            channel_id = f"alarm-{alarm_id}-alert-{target['user_id']}-{secrets.token_hex(3)}"
            self._start_session(channel_id, "", "alarm", "alarm", self._config["ivr"]["default_language"],
                                VoiceAlert(alarm_id, target["phone"], ring_seconds))
        log.info("alarm %s: voice alert to %d agent phone(s)", alarm_id, len(targets))
        await self._run_sync(self._alarms.voice_alert_placed, alarm_id, len(targets))
        return len(targets)

    async def alarm_closed(self, alarm: dict) -> None:
        """The alarm is over: hang up everybody in its hot line, destroy the bridge."""
        bridge_id = alarm.get("hotline_bridge_id")
        if not bridge_id:
            return
        for channel_id in await self._telephony.bridge_channel_ids(bridge_id):
            await self._hangup(channel_id)
        await self._telephony.destroy_bridge(bridge_id)
        await self._run_sync(self._alarms.hotline_state, int(alarm["id"]), "closed")

    async def call_contact(self, alarm_id: int, bridge_id: str, number: str) -> None:
        """Call the customer's IT contact into the hot line (a desktop request; the
        number was checked by cti.alarms: digits, '+', '*', '#')."""
        from ivr.flows.alarm import CallingContact

        acd = self._config["acd"]
        dial = acd["callback_dial"].format(number=number)
        channel_id = f"alarm-{alarm_id}-contact-{secrets.token_hex(4)}"
        self._start_session(channel_id, number, "IT contact", "hotline", self._config["ivr"]["default_language"],
                            CallingContact(alarm_id, bridge_id, dial, f'"HappyCall hot line" <{acd["callback_caller_id"]}>',
                                           float(acd["callback_ring_seconds"])))

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
