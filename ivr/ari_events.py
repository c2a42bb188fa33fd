"""ARI events reduced to what the flows need.

The ARI client hands us its own objects; flows and tests work with this small
neutral record instead, so no flow depends on the client library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

# Every ARI event type the application reacts to, listed in one place.  Asterisk
# sends a Stasis application all events of its channels; these are routed.
SUBSCRIBED_EVENTS = frozenset({
    "StasisStart",           # a channel entered the application (ARS call, answered agent leg)
    "StasisEnd",             # a channel left the application (hung up)
    "ChannelDestroyed",      # a channel is gone (also unanswered originates)
    "ChannelDtmfReceived",   # a key press (RFC 2833 / RFC 4733)
    "PlaybackFinished",      # a prompt ended (or was stopped)
    "ChannelStateChange",    # ringing / up
    "ChannelHangupRequest",  # hang-up requested (we still wait for StasisEnd)
})


_QUOTED_PAIR = re.compile(r"\\(.)")


def sip_display_name(text: str) -> str:
    """PJSIP hands over the display name with the quoted-pairs of the SIP
    quoted-string still escaped (``\\"`` for ``"``); the caller meant the plain text."""
    return _QUOTED_PAIR.sub(r"\1", text)


@dataclass(frozen=True)
class AriEvent:
    type: str
    channel_id: Optional[str] = None
    args: tuple[str, ...] = ()
    digit: Optional[str] = None
    playback_id: Optional[str] = None
    cause: Optional[int] = None
    state: Optional[str] = None
    caller_name: str = ""
    caller_number: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, msg: dict[str, Any]) -> "AriEvent":
        channel = msg.get("channel") or {}
        caller = channel.get("caller") or {}
        playback = msg.get("playback") or {}
        target = playback.get("target_uri", "")
        channel_id = channel.get("id")
        if channel_id is None and target.startswith("channel:"):
            channel_id = target.split(":", 1)[1]
        cause = msg.get("cause")
        return cls(
            type=msg.get("type", ""),
            channel_id=channel_id,
            args=tuple(str(a) for a in msg.get("args") or ()),
            digit=msg.get("digit"),
            playback_id=playback.get("id"),
            cause=int(cause) if isinstance(cause, int) else None,
            state=channel.get("state"),
            caller_name=sip_display_name(str(caller.get("name") or "")),
            caller_number=str(caller.get("number") or ""),
            raw=msg,
        )


@dataclass(frozen=True)
class Timer:
    """A flow's own timer firing (PIN timeout, ring timeout ...)."""
    name: str
    token: int
    type: str = "Timer"
    channel_id: Optional[str] = None


@dataclass(frozen=True)
class ServiceEvent:
    """Something the application tells a call flow (e.g. an agent was found)."""
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    channel_id: Optional[str] = None
