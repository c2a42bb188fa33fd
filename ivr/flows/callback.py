"""Calling a customer back: the agent's phone first, then the customer.

RingingAgent -> DialingCustomer -> Talking -> (hang-up) Ended.

The session's own channel is the agent's leg (the one whose hang-up ends the
call); ``ctx.agent_channel_id`` holds the *other* leg, here the customer's, so
the session's clean-up hangs both up.  The attempt's outcome (reached,
no_answer, busy, failed) is stored on the callback entry as soon as it is known
(``cti.callbacks``); if the session ends before that, the call record's end
puts the entry back on its list.
"""
from __future__ import annotations

from typing import Any, Optional

from ivr.ari_events import AriEvent, Timer
from ivr.flows.base import CallContext, Ended, State, hang_up_when_other_leg_leaves

# Q.850 causes of a customer leg that never answered.
BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({18, 19, 21, 31})


def outcome_of_cause(cause: Optional[int]) -> str:
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in NO_ANSWER_CAUSES or cause is None:
        return "no_answer"
    return "failed"


class RingingAgent(State):
    name = "callback_ringing_agent"

    def __init__(self, callback: dict[str, Any], agent_id: int):
        self.callback = callback
        self.agent_id = agent_id

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ctx.agent_id = self.agent_id
        await ctx.run_sync(ctx.call_center.callback_offer, ctx.channel_id, self.callback, self.agent_id)
        ring = float(ctx.acd_config["ring_timeout"])
        ctx.start_timer("ring", ring)
        await ctx.telephony.originate(ctx.channel_id, self.callback["agent_phone"],
                                      f"callback,{self.callback['id']}", _caller_id(self.callback), int(ring) + 5)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, AriEvent) and event.type == "StasisStart" and event.channel_id == ctx.channel_id:
            ctx.cancel_timer("ring")
            return DialingCustomer(self.callback)
        if isinstance(event, Timer) and event.name == "ring":
            # The agent did not pick up: not the customer's fault, try again later.
            await ctx.run_sync(ctx.callbacks.finish, self.callback["id"], "failed")
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("agent_no_answer")
        return None


class DialingCustomer(State):
    name = "callback_dialing_customer"

    def __init__(self, callback: dict[str, Any]):
        self.callback = callback

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.telephony.ring(ctx.channel_id)   # the agent hears ringing meanwhile
        leg = ctx.ids("customer")
        ctx.register_leg(leg)
        ctx.agent_channel_id = leg
        timeout = float(ctx.acd_config.get("callback_ring_seconds", 30))
        ctx.start_timer("customer", timeout + 5)
        dial = ctx.acd_config["callback_dial"].format(number=self.callback["number"])
        await ctx.telephony.originate(leg, dial, f"callback-customer,{self.callback['id']}",
                                      f'"HappyCall" <{ctx.acd_config["callback_caller_id"]}>', int(timeout))
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, Timer) and event.name == "customer":
            return await self._not_reached(ctx, "no_answer")
        if not isinstance(event, AriEvent) or event.channel_id != ctx.agent_channel_id:
            return None
        if event.type == "StasisStart":
            ctx.cancel_timer("customer")
            ctx.bridge_id = ctx.ids("bridge")
            await ctx.telephony.bridge(ctx.bridge_id, [ctx.channel_id, ctx.agent_channel_id])
            await ctx.run_sync(ctx.callbacks.finish, self.callback["id"], "reached")
            await ctx.run_sync(ctx.call_center.callback_connected, ctx.channel_id, ctx.agent_id)
            return Talking()
        if event.type == "ChannelDestroyed":
            return await self._not_reached(ctx, outcome_of_cause(event.cause))
        return None

    async def _not_reached(self, ctx: CallContext, outcome: str) -> State:
        ctx.cancel_timer("customer")
        await ctx.run_sync(ctx.callbacks.finish, self.callback["id"], outcome)
        ctx.log.info("callback %s: %s", self.callback["id"], outcome)
        await ctx.telephony.hangup(ctx.channel_id)
        return Ended(outcome)


class Talking(State):
    name = "callback_talking"

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        await hang_up_when_other_leg_leaves(ctx, event)
        return None


def _caller_id(callback: dict[str, Any]) -> str:
    name = "".join(ch for ch in (callback.get("customer_name") or callback.get("caller_name") or "")
                   if ch not in '"\\\r\n')[:40]
    return f'"Callback {name}" <{callback["number"]}>'
