"""The happy call: an automated outbound call that tells a customer the status
of their request (issue 5, docs/happy-call.md).

DialingCustomer -> Speaking -> Ended.

The outbox and its rules are in ``cti.happy_call`` (``HappyCallService``); this
module only dials and speaks.  ``HappyCallDialer`` runs on the ARI loop: it
claims due rows from the outbox (every ``poll_seconds``, and at once when the
bus says one was queued) and starts one call session per row through
``StasisHandlers.place_happy_call``.

The session's own id is a name, not a channel: the customer's channel is the
session's other leg (``ctx.agent_channel_id``), exactly like the customer leg of
a callback, so the state sees that leg's ``ChannelDestroyed`` with its hang-up
cause (busy, no answer) before the session ends.  Whatever ends the session, the
attempt's outcome is in the outbox: reported by the states, or settled as
failed by the session's end hook.

On answer the customer hears: greeting, "your request" and its number digit by
digit, the status (in progress / resolved / new update), for a progress update
its text spoken by espeak-ng into a WAV at run time (``SpokenTexts``, in a
folder of Asterisk's sounds), then goodbye; then the call is hung up.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import anyio
import anyio.to_thread

from cti.happy_call import spoken_digits
from ivr.ari_events import AriEvent, Timer
from ivr.flows.base import CallContext, Ended, State
from ivr.flows.callback import outcome_of_cause
from ivr.prompts import sound_name

log = logging.getLogger(__name__)

TTS_SOUND_DIR = "happycall-tts"   # <Asterisk sounds>/happycall-tts/<name>.wav, played as sound:happycall-tts/<name>
MAX_SPOKEN_CHARS = 600             # a status call is short; the e-mail and the desktop keep the whole text


class SpokenTexts:
    """Update texts spoken into WAV files in a folder Asterisk plays from.

    ``folder`` must be ``<Asterisk's sounds folder>/happycall-tts`` as this
    process sees it (the managed instance's: ``ManagedAsterisk.sounds_dir``).
    Files are named after the happy call and removed when the call ends."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def speak(self, name: str, text: str, lang: str) -> str:
        """Write ``<name>.wav`` (blocking: espeak-ng + sox) and return its media URI."""
        from ivr.prompts import synthesize

        synthesize(text[:MAX_SPOKEN_CHARS], lang, self.folder / f"{name}.wav")
        return f"sound:{TTS_SOUND_DIR}/{name}"

    def remove(self, name: str) -> None:
        try:
            (self.folder / f"{name}.wav").unlink()
        except FileNotFoundError:
            pass


def media_for(call: dict[str, Any], spoken: Optional[str]) -> list[str]:
    """What the customer hears, in order: fixed prompts of the call's language and
    the spoken text (a media URI) when there is one."""
    lang = call["language"]

    def prompt(name: str) -> str:
        return "sound:" + sound_name(name, lang)

    media = [prompt("happy_greeting"), prompt("happy_your_request")]
    media += [prompt(f"digit_{d}") for d in spoken_digits(call["incident_id"])]
    if call["kind"] == "resolved":
        media.append(prompt("happy_status_resolved"))
    elif call["kind"] == "overdue":
        media.append(prompt("happy_status_overdue"))
    elif spoken:
        media += [prompt("happy_status_progress"), spoken]
    else:
        media.append(prompt("happy_status_update"))
    media.append(prompt("happy_goodbye"))
    return media


def tts_name(call: dict[str, Any]) -> str:
    return f"hc-{int(call['id'])}-{int(call['attempt'])}"


class DialingCustomer(State):
    name = "happy_call_dialing"

    def __init__(self, call: dict[str, Any], service: Any, texts: Optional[SpokenTexts], ring_seconds: float):
        self.call = call
        self.service = service          # cti.happy_call.HappyCallService (blocking)
        self.texts = texts
        self.ring_seconds = ring_seconds
        self.spoken: Optional[str] = None

    async def enter(self, ctx: CallContext) -> Optional[State]:
        # Speak the text first, so the customer who answers hears everything at once.
        if self.texts is not None and self.call["kind"] == "progress" and self.call["text"]:
            try:
                self.spoken = await anyio.to_thread.run_sync(
                    self.texts.speak, tts_name(self.call), self.call["text"], self.call["language"])
            except Exception as exc:  # noqa: BLE001 - the fixed prompts still tell the status
                ctx.log.warning("happy call %s: text not spoken (%s); fixed prompts only", self.call["id"], exc)
        leg = ctx.ids("customer")
        ctx.register_leg(leg)
        ctx.agent_channel_id = leg
        ctx.start_timer("ring", self.ring_seconds + 5)
        dial = ctx.acd_config["callback_dial"].format(number=self.call["number"])
        try:
            await ctx.telephony.originate(leg, dial, f"happycall,{self.call['id']}",
                                          f'"HappyCall" <{ctx.acd_config["callback_caller_id"]}>',
                                          int(self.ring_seconds))
        except Exception as exc:  # noqa: BLE001 - a refused originate is a failed attempt, recorded
            ctx.agent_channel_id = None
            # The session checks for a final state after an event: wake it, or it waits for ever.
            ctx.post(Timer("originate_failed", 0, channel_id=ctx.channel_id))
            return await self._not_reached(ctx, "failed", f"originate: {exc}")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, Timer) and event.name == "ring":
            await ctx.telephony.hangup(ctx.agent_channel_id)
            return await self._not_reached(ctx, "no_answer", "no answer")
        if not isinstance(event, AriEvent) or event.channel_id != ctx.agent_channel_id:
            return None
        if event.type == "StasisStart":
            ctx.cancel_timer("ring")
            await ctx.run_sync(self.service.finish, self.call["id"], "answered")
            return Speaking(self.call, self.spoken)
        if event.type == "ChannelDestroyed":
            ctx.agent_channel_id = None
            outcome = outcome_of_cause(event.cause)
            return await self._not_reached(ctx, outcome, f"cause {event.cause}")
        return None

    async def _not_reached(self, ctx: CallContext, outcome: str, detail: str) -> State:
        ctx.cancel_timer("ring")
        state = await ctx.run_sync(self.service.finish, self.call["id"], outcome, detail)
        ctx.log.info("happy call %s (ticket %s): %s -> %s", self.call["id"], self.call["incident_id"],
                     outcome, state)
        return Ended(outcome)


class Speaking(State):
    name = "happy_call_speaking"

    def __init__(self, call: dict[str, Any], spoken: Optional[str]):
        self.call = call
        self.spoken = spoken
        self.playback_id: Optional[str] = None

    async def enter(self, ctx: CallContext) -> Optional[State]:
        self.playback_id = ctx.ids("pb")
        await ctx.telephony.play(ctx.agent_channel_id, ",".join(media_for(self.call, self.spoken)),
                                 self.playback_id)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if not isinstance(event, AriEvent):
            return None
        if event.type == "PlaybackFinished" and event.playback_id == self.playback_id:
            await ctx.telephony.hangup(ctx.agent_channel_id)
            return Ended("answered")
        if event.channel_id == ctx.agent_channel_id and event.type in ("StasisEnd", "ChannelDestroyed"):
            ctx.agent_channel_id = None     # the customer hung up before the end: still answered
            return Ended("answered")
        return None


class HappyCallDialer:
    """Claims due happy calls from the outbox and places them, at most
    ``max_parallel`` at a time.  Runs on the ARI loop (``run`` is a task of the
    application's task group, cancelled at shutdown); the outbox rows are the
    schedule, so nothing here needs to survive a restart."""

    def __init__(self, service: Any, place: Callable[[dict[str, Any]], Awaitable[None]], run_sync,
                 ready: Callable[[], bool], poll_seconds: float, max_parallel: int):
        self._service = service
        self._place = place
        self._run_sync = run_sync
        self._ready = ready
        self._poll = max(0.05, float(poll_seconds))
        self._max = max(1, int(max_parallel))
        self._wake = anyio.Event()
        self.active: set[int] = set()

    def kick(self) -> None:
        """Look for due calls now (call on the loop thread)."""
        self._wake.set()

    def finished(self, call_id: int) -> None:
        self.active.discard(call_id)
        self.kick()

    async def run(self) -> None:
        while True:
            with anyio.move_on_after(self._poll):
                await self._wake.wait()
            self._wake = anyio.Event()
            if not self._ready():
                continue        # not connected to Asterisk: leave the rows queued
            try:
                await self.place_due()
            except Exception:  # noqa: BLE001 - the next poll tries again; the rows stay in the outbox
                log.exception("happy calls: placing due calls failed")

    async def place_due(self) -> int:
        rows = await self._run_sync(self._service.claim_due, self._max - len(self.active))
        for row in rows:
            self.active.add(row["id"])
            try:
                await self._place(row)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt
                log.warning("happy call %s could not be started: %s", row["id"], exc)
                self.active.discard(row["id"])
                await self._run_sync(self._service.settle_unfinished, row["id"], f"not started: {exc}")
        return len(rows)
