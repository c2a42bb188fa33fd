"""What every call flow state shares, and the context a flow runs in."""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Protocol

from ivr.ari_events import AriEvent
from ivr.telephony import Telephony


class State:
    """A step of a call.  ``enter`` runs once on arrival; ``handle`` gets every
    event addressed to the call.  Both return the next state, or None to stay."""

    name = "state"
    final = False

    async def enter(self, ctx: "CallContext") -> Optional["State"]:
        return None

    async def handle(self, ctx: "CallContext", event: Any) -> Optional["State"]:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


async def hang_up_when_other_leg_leaves(ctx: "CallContext", event: Any) -> None:
    """Two parties talking (caller and agent, agent and customer, supervisor and
    snoop): when the other leg leaves, this call's own channel is hung up too."""
    if getattr(event, "channel_id", None) == ctx.agent_channel_id and ctx.agent_channel_id \
            and getattr(event, "type", "") in ("StasisEnd", "ChannelDestroyed"):
        ctx.agent_channel_id = None
        await ctx.telephony.hangup(ctx.channel_id)


class Ended(State):
    name = "ended"
    final = True

    def __init__(self, outcome: str = ""):
        self.outcome = outcome


class Dispatcher(Protocol):
    """The ACD side a flow talks to (ivr.dispatcher.QueueDispatcher)."""
    def add(self, channel_id: str, enqueued_at, queue: Optional[str] = None) -> None: ...
    def remove(self, channel_id: str) -> None: ...
    def offer_failed(self, channel_id: str) -> None: ...
    def no_answer(self, channel_id: str, agent_id: int) -> None: ...
    def position(self, channel_id: str) -> Optional[int]: ...
    def estimated_wait(self, channel_id: str) -> Optional[float]: ...
    async def menu(self) -> dict[str, str]: ...


@dataclass
class CallContext:
    """Everything a call's states may use.  Built by the call registry."""
    channel_id: str
    caller_number: str
    caller_name: str
    line: str
    language: str
    ivr_config: dict
    acd_config: dict
    telephony: Telephony
    call_center: Any                       # cti.services.CallCenter (blocking)
    dispatcher: Dispatcher
    run_sync: Callable[..., Awaitable[Any]]  # run a blocking service call off the loop
    start_timer: Callable[[str, float], int]
    cancel_timer: Callable[[str], None]
    register_leg: Callable[[str], None]      # route another channel's events to this call
    spawn: Callable[..., None]               # run a task for the call (ended with the call)
    post: Callable[[Any], None]              # deliver an event to this call's own mailbox
    log: logging.Logger
    speech: Any = None                       # ivr.speech.SpeechAnalysis, or None when disabled
    callbacks: Any = None                    # cti.callbacks.CallbackService (blocking)
    ids: Callable[[str], str] = field(default=None)  # type: ignore[assignment]
    agent_channel_id: Optional[str] = None
    agent_id: Optional[int] = None
    bridge_id: Optional[str] = None
    playback_id: Optional[str] = None
    ticket_id: Optional[int] = None
    media_channel_id: Optional[str] = None
    media_bridge_id: Optional[str] = None
    queue: Optional[str] = None              # the inquiry type chosen in the menu (None: default)

    def __post_init__(self) -> None:
        if self.ids is None:
            counter = itertools.count(1)
            self.ids = lambda kind: f"{self.channel_id}-{kind}-{next(counter)}"

    def prompt(self, name: str) -> str:
        return f"sound:happycall/{self.language}/{name}"

    async def play(self, name: str) -> str:
        """Start a prompt; returns its playback id (PlaybackFinished carries it)."""
        playback_id = self.ids("pb")
        self.playback_id = playback_id
        await self.telephony.play(self.channel_id, self.prompt(name), playback_id)
        return playback_id

    async def play_sequence(self, names: list[str]) -> str:
        """Several prompts as one playback (one PlaybackFinished at the end)."""
        playback_id = self.ids("pb")
        self.playback_id = playback_id
        await self.telephony.play(self.channel_id, ",".join(self.prompt(n) for n in names), playback_id)
        return playback_id

    async def stop_prompt(self) -> None:
        if self.playback_id:
            playback_id, self.playback_id = self.playback_id, None
            await self.telephony.stop_playback(playback_id)


def is_dtmf(event: Any, ctx: CallContext) -> bool:
    """A key pressed on this call's own channel."""
    return isinstance(event, AriEvent) and event.type == "ChannelDtmfReceived" \
        and event.channel_id == ctx.channel_id


def prompt_done(event: Any, ctx: CallContext) -> bool:
    """The prompt this call is playing now has ended (not an older, stopped one)."""
    return isinstance(event, AriEvent) and event.type == "PlaybackFinished" \
        and event.playback_id is not None and event.playback_id == ctx.playback_id
