"""A supervisor joins a live call: listen, whisper to the agent, or barge in.

RingingSupervisor -> (answered) Joining -> Monitoring -> Ended.

The session's own channel is the supervisor's phone leg.  ``listen`` and
``whisper`` go through an ARI snoop channel on the agent's leg: the snoop hears
both directions of the agent's channel; for ``whisper`` it also speaks into
the audio the agent hears (the caller does not hear the supervisor).  ``barge``
puts the supervisor's leg in the call's own bridge: everybody hears everybody.
The snoop channel is the session's other leg (``ctx.agent_channel_id``), so the
session's clean-up removes it; the call itself is never touched.
"""
from __future__ import annotations

from typing import Any, Optional

from ivr.ari_events import AriEvent, Timer
from ivr.flows.base import CallContext, Ended, State, hang_up_when_other_leg_leaves

MODES = ("listen", "whisper", "barge")
# (spy, whisper) of the snoop channel on the agent's leg
SNOOP = {"listen": ("both", "none"), "whisper": ("both", "out")}


class MonitorError(ValueError):
    pass


class RingingSupervisor(State):
    name = "monitor_ringing"

    def __init__(self, target: Any, mode: str, phone: str):
        if mode not in MODES:
            raise MonitorError(f"unknown monitoring mode {mode!r}")
        self.target = target          # the monitored call's CallContext
        self.mode = mode
        self.phone = phone

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ring = float(ctx.acd_config["ring_timeout"])
        ctx.start_timer("ring", ring)
        await ctx.telephony.originate(ctx.channel_id, self.phone, f"monitor,{self.target.channel_id}",
                                      f'"{self.mode}" <{self.target.caller_number or "monitor"}>', int(ring) + 5)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, AriEvent) and event.type == "StasisStart" and event.channel_id == ctx.channel_id:
            ctx.cancel_timer("ring")
            return Joining(self.target, self.mode)
        if isinstance(event, Timer) and event.name == "ring":
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("supervisor_no_answer")
        return None


class Joining(State):
    name = "monitor_joining"

    def __init__(self, target: Any, mode: str):
        self.target = target
        self.mode = mode

    async def enter(self, ctx: CallContext) -> Optional[State]:
        agent_leg, call_bridge = self.target.agent_channel_id, self.target.bridge_id
        if not agent_leg or not call_bridge:
            ctx.log.info("monitor %s: the call is no longer connected", ctx.channel_id)
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("call_gone")
        if self.mode == "barge":
            await ctx.telephony.add_to_bridge(call_bridge, [ctx.channel_id])
            return Monitoring(self.target)
        snoop_id = ctx.ids("snoop")
        ctx.register_leg(snoop_id)
        ctx.agent_channel_id = snoop_id
        spy, whisper = SNOOP[self.mode]
        await ctx.telephony.snoop(agent_leg, snoop_id, spy, whisper, f"snoop,{ctx.channel_id}")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, AriEvent) and event.type == "StasisStart" and event.channel_id == ctx.agent_channel_id:
            ctx.bridge_id = ctx.ids("monitor")
            await ctx.telephony.bridge(ctx.bridge_id, [ctx.channel_id, ctx.agent_channel_id])
            return Monitoring(self.target)
        return None


class Monitoring(State):
    """Until the supervisor hangs up, or the snoop ends with the agent's leg."""
    name = "monitoring"

    def __init__(self, target: Any):
        self.target = target

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        await hang_up_when_other_leg_leaves(ctx, event)
        return None
