"""Running call flows: one task and one mailbox per call.

The registry owns the per-call sessions, routes events to them (including the
agent leg of a call), runs timers, and makes sure a call that fails or ends is
cleaned up: the agent leg hung up, the ACD told, and the outcome stored.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Optional

import anyio
from anyio.abc import TaskGroup

from ivr.ari_events import AriEvent, ServiceEvent, Timer
from ivr.flows.base import CallContext, State
from ivr.telephony import ChannelGone

log = logging.getLogger(__name__)

CALLER_GONE = frozenset({"StasisEnd", "ChannelDestroyed"})


class CallSession:
    def __init__(self, ctx: CallContext, initial: State, on_finished: Callable[["CallSession"], None]):
        self.ctx = ctx
        self.state: State = initial
        self._send, self._recv = anyio.create_memory_object_stream[Any](math.inf)
        self._timer_tokens: dict[str, int] = {}
        self._on_finished = on_finished
        self.caller_gone = False
        self.end_reason = "hangup"
        self._tg: Optional[TaskGroup] = None

    # --- mailbox -------------------------------------------------------------
    def post(self, event: Any) -> None:
        try:
            self._send.send_nowait(event)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the call is over

    # --- timers --------------------------------------------------------------
    def start_timer(self, name: str, seconds: float) -> int:
        token = self._timer_tokens.get(name, 0) + 1
        self._timer_tokens[name] = token
        if self._tg is not None:
            self._tg.start_soon(self._fire, name, token, seconds)
        return token

    def cancel_timer(self, name: str) -> None:
        self._timer_tokens[name] = self._timer_tokens.get(name, 0) + 1

    def spawn(self, fn, *args) -> None:
        """Run a task that belongs to this call; it is cancelled when the call ends."""
        if self._tg is not None:
            self._tg.start_soon(fn, *args)

    async def _fire(self, name: str, token: int, seconds: float) -> None:
        await anyio.sleep(seconds)
        if self._timer_tokens.get(name) == token:
            self.post(Timer(name, token, channel_id=self.ctx.channel_id))

    # --- running -------------------------------------------------------------
    async def run(self) -> None:
        ctx = self.ctx
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    await self._step(await self.state.enter(ctx))
                    async for event in self._recv:
                        if self._is_caller_gone(event):
                            self.caller_gone = True
                            break
                        await self._step(await self.state.handle(ctx, event))
                        if self.state.final:
                            break
                except ChannelGone:
                    self.caller_gone = True
                except Exception:
                    log.exception("call %s failed in state %s", ctx.channel_id, self.state.name)
                    self.end_reason = "error"
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._send.close()
            with anyio.CancelScope(shield=True):
                await self._cleanup()
                self._on_finished(self)

    async def _step(self, nxt: Optional[State]) -> None:
        while nxt is not None:
            self.ctx.log.debug("call %s: %s -> %s", self.ctx.channel_id, self.state.name, nxt.name)
            self.state = nxt
            nxt = await nxt.enter(self.ctx)

    def _is_caller_gone(self, event: Any) -> bool:
        if isinstance(event, ServiceEvent) and event.type == "pbx_lost":
            self.end_reason = "pbx_lost"
            return True
        if isinstance(event, AriEvent) and event.type == "ChannelHangupRequest" \
                and event.channel_id == self.ctx.channel_id and event.raw.get("soft"):
            # Asterisk itself is hanging the caller up (shutting down): the caller did
            # not give up, the call was lost with the PBX.
            self.end_reason = "pbx_lost"
        gone = isinstance(event, AriEvent) and event.type in CALLER_GONE \
            and event.channel_id == self.ctx.channel_id
        return gone

    async def _cleanup(self) -> None:
        """Leave nothing behind: agent leg, bridge, ACD entry; store the outcome."""
        ctx = self.ctx
        ctx.dispatcher.remove(ctx.channel_id)
        tel = ctx.telephony
        # Bridges first: a channel hung up while still bridged may linger (seen with
        # snoop channels, which then stay up outside the application).
        for action in (
            lambda: tel.destroy_bridge(ctx.media_bridge_id) if ctx.media_bridge_id else None,
            lambda: tel.destroy_bridge(ctx.bridge_id) if ctx.bridge_id else None,
            lambda: tel.hangup(ctx.agent_channel_id) if ctx.agent_channel_id else None,
            lambda: tel.hangup(ctx.media_channel_id) if ctx.media_channel_id else None,
            lambda: tel.hangup(ctx.channel_id) if not self.caller_gone else None,
        ):
            try:
                coro = action()
                if coro is not None:
                    with anyio.fail_after(5):
                        await coro
            except Exception as exc:  # the PBX may be gone; the database must still be right
                log.warning("call %s: cleanup step failed: %s", ctx.channel_id, exc)
        try:
            outcome = await ctx.run_sync(ctx.call_center.call_ended, ctx.channel_id, self.end_reason)
            log.info("call %s ended: %s (%s)", ctx.channel_id, outcome, self.end_reason)
        except Exception:
            log.exception("call %s: could not store the end of the call", ctx.channel_id)


class CallRegistry:
    """Live calls by channel id (caller and agent legs)."""

    def __init__(self) -> None:
        self._sessions: dict[str, CallSession] = {}
        self._legs: dict[str, str] = {}  # agent channel id -> caller channel id

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, channel_id: str) -> bool:
        return channel_id in self._sessions

    def get(self, channel_id: str) -> Optional[CallSession]:
        return self._sessions.get(channel_id)

    def channel_ids(self) -> list[str]:
        return list(self._sessions)

    def add(self, session: CallSession) -> None:
        self._sessions[session.ctx.channel_id] = session

    def is_leg(self, channel_id: str) -> bool:
        return channel_id in self._legs

    def add_leg(self, leg_id: str, caller_id: str) -> None:
        self._legs[leg_id] = caller_id

    def finished(self, session: CallSession) -> None:
        cid = session.ctx.channel_id
        self._sessions.pop(cid, None)
        for leg, owner in list(self._legs.items()):
            if owner == cid:
                del self._legs[leg]

    def route(self, event: AriEvent) -> bool:
        """Deliver an event to the call it belongs to.  Returns False when no call
        claims the channel."""
        cid = event.channel_id
        if cid is None:
            return False
        session = self._sessions.get(cid)
        if session is None and cid in self._legs:
            session = self._sessions.get(self._legs[cid])
        if session is None:
            return False
        session.post(event)
        return True
