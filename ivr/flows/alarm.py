"""Early warning on the phones (docs/alarms.md).

Voice alert: ``VoiceAlert`` rings one agent's phone; when it answers it hears the
alert prompt and is hung up.  Nobody answers: the originate's own timeout ends
the channel (the ring timer is the fallback).

Hot line: one ARI mixing bridge per major alarm (``cti.alarms.hotline_bridge_id``),
opened and closed by ``ivr.stasis.StasisHandlers``.  People join it by dialling the
hot-line extension (``JoiningHotline``: the dialplan sends it into the application
with args ``hotline,<exten>``), and the customer's IT contact is called into it
from the desktop (``CallingContact``).  Members sit in ``InHotline`` until they
hang up, or until the alarm is closed (the handlers hang every member up and
destroy the bridge).

The sessions never set ``ctx.bridge_id``: the bridge is the hot line's, not the
call's, so one member leaving does not tear it down.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ivr.ari_events import AriEvent, Timer
from ivr.flows.base import CallContext, Ended, State, prompt_done
from ivr.telephony import ChannelGone

ALERT_PROMPTS = ["alarm_alert", "alarm_hotline"]
HOTLINE_NONE_PROMPT = "hotline_none"
HOTLINE_WELCOME_PROMPT = "hotline_welcome"



async def join_bridge(ctx: CallContext, bridge_id: str) -> None:
    """Add this call's channel to the hot line; the bridge is created again when
    Asterisk lost it (a restart since the alarm was raised)."""
    try:
        await ctx.telephony.add_to_bridge(bridge_id, [ctx.channel_id])
    except ChannelGone:
        await ctx.telephony.create_bridge(bridge_id)
        await ctx.telephony.add_to_bridge(bridge_id, [ctx.channel_id])


class VoiceAlert(State):
    name = "alarm_voice_alert"

    def __init__(self, alarm_id: int, phone: str, ring_seconds: float):
        self.alarm_id = alarm_id
        self.phone = phone
        self.ring_seconds = ring_seconds
        self.playing = False

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ctx.start_timer("ring", self.ring_seconds + 5)
        await ctx.telephony.originate(ctx.channel_id, self.phone, f"alarm-alert,{self.alarm_id}",
                                      '"ALARM" <alarm>', int(self.ring_seconds))
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, AriEvent) and event.type == "StasisStart" and event.channel_id == ctx.channel_id:
            ctx.cancel_timer("ring")
            self.playing = True
            await ctx.play_sequence(ALERT_PROMPTS)
            return None
        if self.playing and prompt_done(event, ctx):
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("alerted")
        if isinstance(event, Timer) and event.name == "ring":
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("no_answer")
        return None


class JoiningHotline(State):
    """Somebody dialled the hot-line extension: into the open hot line, or told
    there is none."""
    name = "hotline_joining"

    def __init__(self, find_hotline: Callable[[], Any]):
        self.find_hotline = find_hotline     # blocking: AlarmService.active_hotline
        self.refusing = False

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.telephony.answer(ctx.channel_id)
        hotline = await ctx.run_sync(self.find_hotline)
        if not hotline or not hotline.get("hotline_bridge_id"):
            self.refusing = True
            await ctx.play(HOTLINE_NONE_PROMPT)
            return None
        ctx.log.info("hot line of alarm %s: %s joins", hotline["id"], ctx.caller_number or ctx.channel_id)
        await join_bridge(ctx, hotline["hotline_bridge_id"])
        return InHotline(int(hotline["id"]))

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if self.refusing and prompt_done(event, ctx):
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("no_hotline")
        return None


class CallingContact(State):
    """The customer's IT contact, called into the hot line from the desktop."""
    name = "hotline_calling_contact"

    def __init__(self, alarm_id: int, bridge_id: str, dial: str, caller_id: str, ring_seconds: float):
        self.alarm_id = alarm_id
        self.bridge_id = bridge_id
        self.dial = dial
        self.caller_id = caller_id
        self.ring_seconds = ring_seconds

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ctx.start_timer("ring", self.ring_seconds + 5)
        await ctx.telephony.originate(ctx.channel_id, self.dial, f"hotline-contact,{self.alarm_id}",
                                      self.caller_id, int(self.ring_seconds))
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, AriEvent) and event.type == "StasisStart" and event.channel_id == ctx.channel_id:
            ctx.cancel_timer("ring")
            await join_bridge(ctx, self.bridge_id)
            return InHotline(self.alarm_id)
        if isinstance(event, Timer) and event.name == "ring":
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("no_answer")
        return None


class InHotline(State):
    """In the conference until this member hangs up or the alarm is closed."""
    name = "in_hotline"

    def __init__(self, alarm_id: int):
        self.alarm_id = alarm_id
