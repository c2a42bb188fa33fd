"""The ARS (help-desk line) call flow.

Greeting -> CollectingPin -> (ticket opened) ChoosingQueue -> DescribingProblem
-> Queued -> Offering -> Connected -> Ended; from Queued, at the queue's maximum
wait, a caller who presses 1 goes to CallbackRequested and hangs up, keeping
their place (the ACD calls them back).

A caller who hangs up anywhere ends in Ended; the registry then records the call
as abandoned (before an agent answered) or answered.  '*' switches between Korean
and English while the caller is asked for the PIN.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from cti.agent_state import InvalidTransition
from cti.pin import PinEntry, PinStatus
from ivr.ari_events import AriEvent, ServiceEvent, Timer
from ivr.flows.base import CallContext, State, hang_up_when_other_leg_leaves, is_dtmf, prompt_done
from ivr.telephony import ChannelGone

OTHER_LANGUAGE = {"ko": "en", "en": "ko"}



class Greeting(State):
    name = "greeting"

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.telephony.answer(ctx.channel_id)
        await ctx.run_sync(ctx.call_center.call_started, ctx.channel_id, ctx.caller_number,
                           ctx.caller_name, ctx.line, ctx.language)
        await ctx.play("greeting")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx):
            ctx.playback_id = None
            return CollectingPin(_new_entry(ctx))
        if is_dtmf(event, ctx):
            # The caller knows the drill: skip the greeting.
            await ctx.stop_prompt()
            return CollectingPin(_new_entry(ctx), first_key=event.digit)
        return None


def _new_entry(ctx: CallContext) -> PinEntry:
    return PinEntry(max_tries=int(ctx.ivr_config["pin_tries"]),
                    max_length=int(ctx.ivr_config["pin_length_max"]))


class CollectingPin(State):
    """Asks for the employee number followed by '#'; a wrong number, silence or
    an over-long number uses one try; after the last try the caller goes to an
    agent as an unknown caller."""
    name = "collecting_pin"

    def __init__(self, entry: PinEntry, retry: bool = False, first_key: Optional[str] = None):
        self.entry = entry
        self.retry = retry
        self.first_key = first_key
        self.tries_on_entry = entry.tries_used
        self.next_prompt: Optional[str] = None

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ctx.start_timer("pin", float(ctx.ivr_config["pin_first_digit_timeout"]))
        if self.first_key and self.first_key != "*":
            return await self.key(ctx, self.first_key)
        if self.retry:
            await ctx.play("invalid_pin")
            self.next_prompt = "enter_pin"
        else:
            await ctx.play("enter_pin")
        return None

    async def key(self, ctx: CallContext, digit: str) -> Optional[State]:
        if digit == "*":
            ctx.language = OTHER_LANGUAGE.get(ctx.language, ctx.language)
            await ctx.stop_prompt()
            return CollectingPin(self.entry)
        if ctx.playback_id:
            # Typing over a prompt stops it.
            await ctx.stop_prompt()
            self.next_prompt = None
        self.entry = self.entry.press(digit)
        ctx.start_timer("pin", float(ctx.ivr_config["pin_inter_digit_timeout"]))
        return await self._after_input(ctx)

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if is_dtmf(event, ctx):
            return await self.key(ctx, event.digit or "")
        if isinstance(event, Timer) and event.name == "pin":
            self.entry = self.entry.timeout()
            return await self._after_input(ctx)
        if prompt_done(event, ctx):
            ctx.playback_id = None
            if self.next_prompt:
                name, self.next_prompt = self.next_prompt, None
                await ctx.play(name)
            # The caller has the whole timeout after the last prompt ends.
            ctx.start_timer("pin", float(ctx.ivr_config["pin_first_digit_timeout"]))
        return None

    async def _after_input(self, ctx: CallContext) -> Optional[State]:
        entry = self.entry
        if entry.status == PinStatus.SUBMITTED:
            customer_id = await ctx.run_sync(ctx.call_center.find_customer_by_pin, entry.attempt)
            if customer_id is not None:
                ctx.cancel_timer("pin")
                return OpeningTicket(customer_id, entry.attempt)
            entry = entry.rejected()
            ctx.log.info("call %s: PIN not recognised (try %d of %d)", ctx.channel_id,
                         entry.tries_used, entry.max_tries)
        if entry.status == PinStatus.FAILED:
            ctx.cancel_timer("pin")
            return OpeningTicket(None, "", failed=True)
        if entry.tries_used > self.tries_on_entry:
            return CollectingPin(entry, retry=True)
        return None


class OpeningTicket(State):
    """Creates the incident ticket (customer known or not) and queues the call."""
    name = "opening_ticket"

    def __init__(self, customer_id: Optional[int], pin: str, failed: bool = False):
        self.customer_id = customer_id
        self.pin = pin
        self.failed = failed

    async def enter(self, ctx: CallContext) -> Optional[State]:
        info = await ctx.run_sync(ctx.call_center.open_ticket, ctx.channel_id, self.customer_id, self.pin,
                                  ctx.language)
        ctx.ticket_id = info.ticket_id
        apology = "pin_failed" if self.failed else None
        menu = await ctx.dispatcher.menu() if ctx.acd_config.get("menu", True) else {}
        if menu:
            return ChoosingQueue(menu, apology)
        return DescribingProblem(apology=apology)


class ChoosingQueue(State):
    """The caller picks the inquiry type with one key; no key (or an unknown one)
    in time sends them to the default queue, so nobody is stuck in the menu."""
    name = "choosing_queue"

    def __init__(self, menu: dict[str, str], apology: Optional[str] = None):
        self.menu = menu
        self.apology = apology

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.play_sequence([self.apology, "choose_queue"] if self.apology else ["choose_queue"])
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if is_dtmf(event, ctx):
            digit = event.digit or ""
            await ctx.stop_prompt()
            ctx.cancel_timer("menu")
            ctx.queue = self.menu.get(digit)
            if ctx.queue is None:
                ctx.log.info("call %s: menu key %r is not a queue; default queue", ctx.channel_id, digit)
            return DescribingProblem()
        if prompt_done(event, ctx):
            ctx.playback_id = None
            ctx.start_timer("menu", float(ctx.acd_config.get("menu_timeout", 6.0)))
            return None
        if isinstance(event, Timer) and event.name == "menu":
            return DescribingProblem()
        return None


class DescribingProblem(State):
    """The caller says in a few words what is wrong; the analysis (transcript,
    keywords, voice) is stored on the ticket before the call is queued, so the
    agent's pop carries it.  Without speech analysis the step is skipped and the
    ticket says why."""
    name = "describing_problem"

    def __init__(self, apology: Optional[str] = None):
        self.apology = apology
        self.listening = False

    async def enter(self, ctx: CallContext) -> Optional[State]:
        if ctx.speech is None:
            return await _enqueue(ctx, self.apology)
        if not ctx.speech.available:
            await ctx.speech.describe(ctx)  # stores why there is no analysis
            return await _enqueue(ctx, self.apology)
        await ctx.play(self.apology or "describe_problem")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx) and not self.listening:
            ctx.playback_id = None
            if self.apology:
                self.apology = None
                await ctx.play("describe_problem")
                return None
            self.listening = True
            # However listening ends, the caller is not left waiting here.
            ctx.start_timer("describe", ctx.speech.settings.max_seconds + 8)
            ctx.spawn(self._listen, ctx)
            return None
        if isinstance(event, ServiceEvent) and event.type == "described":
            ctx.cancel_timer("describe")
            return await _enqueue(ctx, None)
        if isinstance(event, Timer) and event.name == "describe":
            ctx.log.warning("call %s: no analysis in time; queueing without it", ctx.channel_id)
            return await _enqueue(ctx, None)
        return None

    @staticmethod
    async def _listen(ctx: CallContext) -> None:
        try:
            await ctx.speech.describe(ctx)
        except ChannelGone:
            return  # the caller hung up; the session sees the hang-up itself
        ctx.post(ServiceEvent("described", channel_id=ctx.channel_id))


async def _enqueue(ctx: CallContext, announce: Optional[str]) -> State:
    queue = ctx.queue or ctx.acd_config["queue"]
    info = await ctx.run_sync(ctx.call_center.enqueue, ctx.channel_id, queue)
    ctx.queue = queue
    return Queued(announce=announce or "please_hold", enqueued_at=info.queued_at)


class Queued(State):
    """Waiting for an agent: hold prompt, then music on hold broken every
    ``announce_seconds`` by the caller's position and estimated wait.  At the
    queue's maximum wait the ACD may offer a callback: '1' then keeps the place."""
    name = "queued"

    def __init__(self, announce: Optional[str] = None, enqueued_at=None, requeue: bool = False):
        self.announce = announce
        self.enqueued_at = enqueued_at
        self.requeue = requeue
        self.callback_offered = False
        self.pending: list[str] = []      # an announcement waiting for the current prompt to end

    async def enter(self, ctx: CallContext) -> Optional[State]:
        if self.announce:
            await ctx.play(self.announce)
        else:
            await _hold_music(ctx)
        if not self.requeue:
            ctx.dispatcher.add(ctx.channel_id, self.enqueued_at, ctx.queue)
        self._schedule_announcement(ctx)
        return None

    @staticmethod
    def _schedule_announcement(ctx: CallContext) -> None:
        info = _queue_info(ctx)
        # Before the ACD has read the queues (just started): look again in 30 s.
        every = float(info.announce_seconds or 0) if info is not None else 30.0
        if every > 0:
            ctx.start_timer("announce", every)

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx):
            ctx.playback_id = None
            if self.pending:
                prompts, self.pending = self.pending, []
                await ctx.play_sequence(prompts)
            else:
                await _hold_music(ctx)
            return None
        if isinstance(event, ServiceEvent) and event.type == "offer":
            ctx.cancel_timer("announce")
            return Offering(int(event.data["agent_id"]))
        if isinstance(event, Timer) and event.name == "announce":
            await self._announce(ctx, position_prompts(ctx))
            self._schedule_announcement(ctx)
            return None
        if isinstance(event, ServiceEvent) and event.type == "moved":
            ctx.queue = str(event.data.get("queue") or ctx.queue)
            return None
        if isinstance(event, ServiceEvent) and event.type == "offer_callback":
            self.callback_offered = True
            await self._announce(ctx, ["offer_callback"])
            return None
        if is_dtmf(event, ctx) and self.callback_offered and event.digit == "1":
            ctx.cancel_timer("announce")
            return CallbackRequested()
        return None

    async def _announce(self, ctx: CallContext, prompts: list[str]) -> None:
        if not prompts:
            return
        if ctx.playback_id:
            # Speaking already: say it next (a callback offer wins over a position).
            if not self.pending or prompts == ["offer_callback"]:
                self.pending = prompts
            return
        await ctx.telephony.stop_moh(ctx.channel_id)
        await ctx.play_sequence(prompts)


def position_prompts(ctx: CallContext) -> list[str]:
    """'You are number N in line. Your estimated wait is about M minutes.'"""
    from ivr.prompts import MAX_NUMBER

    position = ctx.dispatcher.position(ctx.channel_id)
    if position is None or position > MAX_NUMBER:
        return []
    out = ["position_intro", f"n{position}", "position_outro"]
    wait = ctx.dispatcher.estimated_wait(ctx.channel_id)
    if wait is not None:
        minutes = math.ceil(wait / 60)
        if wait < 60:
            out.append("wait_under_minute")
        elif minutes <= MAX_NUMBER:
            out += ["wait_intro", f"n{minutes}", "wait_minutes"]
    return out


class CallbackRequested(State):
    """The caller keeps their place and hangs up: the callback is stored first,
    then confirmed, then the line is cleared."""
    name = "callback_requested"

    async def enter(self, ctx: CallContext) -> Optional[State]:
        ctx.dispatcher.remove(ctx.channel_id)
        await ctx.run_sync(ctx.callbacks.request, ctx.channel_id)
        await ctx.telephony.stop_moh(ctx.channel_id)
        await ctx.stop_prompt()
        await ctx.play("callback_confirmed")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx):
            ctx.playback_id = None
            await ctx.telephony.hangup(ctx.channel_id)
        return None


def _queue_info(ctx: CallContext) -> Any:
    """The settings of the caller's queue as the ACD last read them (None: not yet,
    or a dispatcher without the floor service)."""
    return getattr(ctx.dispatcher, "queues", {}).get(ctx.queue or "")


async def _hold_music(ctx: CallContext) -> None:
    try:
        info = _queue_info(ctx)
        await ctx.telephony.start_moh(ctx.channel_id, info.music_class if info is not None else "")
    except ChannelGone:
        raise
    except Exception as exc:  # no music configured is not worth dropping a caller for
        ctx.log.warning("call %s: music on hold unavailable: %s", ctx.channel_id, exc)


class Offering(State):
    """The chosen agent gets the screen-pop first, then their phone rings."""
    name = "offering"

    def __init__(self, agent_id: int):
        self.agent_id = agent_id

    async def enter(self, ctx: CallContext) -> Optional[State]:
        try:
            await ctx.run_sync(ctx.call_center.offer, ctx.channel_id, self.agent_id)
        except InvalidTransition:
            # The agent went Not Ready between the choice and the offer.
            ctx.dispatcher.offer_failed(ctx.channel_id)
            return None
        phone = await ctx.run_sync(ctx.call_center.agent_phone, self.agent_id)
        ctx.agent_id = self.agent_id
        ctx.agent_channel_id = ctx.ids("agent")
        ctx.register_leg(ctx.agent_channel_id)
        ring_timeout = float(ctx.acd_config["ring_timeout"])
        ctx.start_timer("ring", ring_timeout)
        caller_id = f'"{_cid_name(ctx)}" <{ctx.caller_number or "anonymous"}>'
        try:
            await ctx.telephony.originate(ctx.agent_channel_id, phone, f"agent,{ctx.channel_id}", caller_id,
                                          int(ring_timeout) + 5)
        except Exception as exc:  # a broken phone entry is a missed offer, not a dropped caller
            ctx.log.warning("call %s: cannot ring agent %s at %r: %s", ctx.channel_id, self.agent_id,
                            phone, exc)
            return await self._missed(ctx)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if isinstance(event, ServiceEvent) and event.type == "offer":
            # The offer we made failed (agent no longer ready); a new agent was chosen.
            return Offering(int(event.data["agent_id"]))
        if not isinstance(event, (AriEvent, Timer)):
            return None
        if isinstance(event, Timer) and event.name == "ring":
            await ctx.telephony.hangup(ctx.agent_channel_id or "", "normal")
            return await self._missed(ctx)
        if event.channel_id != ctx.agent_channel_id:
            return None
        if event.type == "StasisStart":
            ctx.cancel_timer("ring")
            return Connected(self)
        if event.type in ("ChannelDestroyed", "StasisEnd"):
            ctx.cancel_timer("ring")
            return await self._missed(ctx)
        return None

    async def _missed(self, ctx: CallContext) -> State:
        """The offer came to nothing: the agent is NOT_READY (missed call), the caller
        waits again (skipping this agent while anyone else is free)."""
        ctx.cancel_timer("ring")
        ctx.agent_channel_id = None
        ctx.agent_id = None
        await ctx.run_sync(ctx.call_center.no_answer, ctx.channel_id, self.agent_id)
        ctx.dispatcher.no_answer(ctx.channel_id, self.agent_id)
        return Queued(requeue=True)


def _cid_name(ctx: CallContext) -> str:
    # Keep the caller's name readable on the agent's phone, minus what would break the header.
    return "".join(ch for ch in ctx.caller_name if ch not in '"\\\r\n')[:60] or "HappyCall"


class Connected(State):
    """Caller and agent talk in a mixing bridge."""
    name = "connected"

    def __init__(self, offering: Optional["Offering"] = None):
        self.offering = offering

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.telephony.stop_moh(ctx.channel_id)
        await ctx.stop_prompt()
        ctx.bridge_id = ctx.ids("bridge")
        try:
            await ctx.telephony.bridge(ctx.bridge_id, [ctx.channel_id, ctx.agent_channel_id])
        except ChannelGone:
            return await self._agent_left(ctx)
        ctx.dispatcher.remove(ctx.channel_id)
        await ctx.run_sync(ctx.call_center.answered, ctx.channel_id, ctx.agent_id)
        return None

    async def _agent_left(self, ctx: CallContext) -> Optional[State]:
        """The agent's phone answered and hung up before the two could be joined
        (seen under load): a missed offer, the caller keeps waiting.  (If it was the
        caller who left, their own hang-up event ends the call.)"""
        ctx.log.warning("call %s: agent leg gone before the bridge; back to the queue", ctx.channel_id)
        bridge_id, ctx.bridge_id = ctx.bridge_id, None
        await ctx.telephony.destroy_bridge(bridge_id)
        if self.offering is None:
            return None
        await ctx.telephony.hangup(ctx.agent_channel_id or "", "normal")
        return await self.offering._missed(ctx)

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        # The agent hung up: the call is over for the caller too.
        await hang_up_when_other_leg_leaves(ctx, event)
        return None
