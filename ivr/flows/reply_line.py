"""The survey reply line: a customer calls back the number of a survey message.

ReplyWelcome -> (caller ID matched to a pending survey) ReplyMenu
  -> 1: ReplyRating (key 1-5, stored through the injected callback) -> thanks, hang up
  -> 2: ReplyToStaff -> the ACD: the staff queue of the centre covering the
        customer's area (named by the survey lookup) -> Queued -> Offering -> Connected
        (ivr.flows.ars), the agent's pop of type ``survey_reply``.
No pending survey for the number: a short message, hang up.  No key or wrong
keys ``menu_tries`` times: goodbye.

The survey side is injected (:class:`ReplyLine`): this module knows nothing of
survey tables.  ``find_pending_survey(caller_number)`` returns None or a dict
with at least ``survey_id`` and ``queue`` (the centre's staff queue), and may
carry ``customer_id``, ``incident_id`` (the service surveyed), ``centre``;
``record_rating(survey_id, rating)`` stores a keypad rating (1-5;
``cti.surveys.classify.classify_rating`` gives its term).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from cti.services import NotFound
from ivr.ari_events import Timer
from ivr.flows.ars import Queued, _enqueue
from ivr.flows.base import CallContext, State, is_dtmf, prompt_done

LINE = "survey_reply"          # the call record's line: the pop type (cti.services.CallCenter.offer)
RATING_KEYS = frozenset("12345")


@dataclass(frozen=True)
class ReplyLine:
    find_pending_survey: Callable[[str], Optional[dict]]
    record_rating: Callable[[int, int], Any]
    menu_tries: int = 3
    key_timeout: float = 8.0

    @classmethod
    def from_config(cls, section: dict, find_pending_survey, record_rating) -> "ReplyLine":
        return cls(find_pending_survey, record_rating, int(section.get("menu_tries", 3)),
                   float(section.get("key_timeout", 8.0)))


# Without a survey side every caller hears that no survey waits for them.
NO_SURVEYS = ReplyLine(find_pending_survey=lambda _number: None,
                       record_rating=lambda _survey_id, _rating: None)


class ReplyWelcome(State):
    name = "reply_welcome"

    def __init__(self, line: ReplyLine):
        self.line = line

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.telephony.answer(ctx.channel_id)
        await ctx.run_sync(ctx.call_center.call_started, ctx.channel_id, ctx.caller_number,
                           ctx.caller_name, LINE, ctx.language)
        survey = None
        if ctx.caller_number:
            survey = await ctx.run_sync(self.line.find_pending_survey, ctx.caller_number)
        if not survey:
            ctx.log.info("reply line %s: no pending survey for %r", ctx.channel_id, ctx.caller_number)
            return Goodbye("reply_no_survey")
        return ReplyMenu(self.line, survey)


class _AskForKey(State):
    """A prompt, then ``key_timeout`` seconds for a key; no key or a wrong one
    uses a try; after the last try: goodbye."""
    prompt = ""

    def __init__(self, line: ReplyLine, survey: dict, tries: int = 0):
        self.line = line
        self.survey = survey
        self.tries = tries

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.play_sequence(["reply_invalid", self.prompt] if self.tries else [self.prompt])
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if is_dtmf(event, ctx):
            await ctx.stop_prompt()
            ctx.cancel_timer("key")
            return await self.key(ctx, event.digit or "")
        if prompt_done(event, ctx):
            ctx.playback_id = None
            ctx.start_timer("key", self.line.key_timeout)
            return None
        if isinstance(event, Timer) and event.name == "key":
            return self.retry()
        return None

    def retry(self) -> State:
        if self.tries + 1 >= self.line.menu_tries:
            return Goodbye("goodbye")
        return type(self)(self.line, self.survey, self.tries + 1)

    async def key(self, ctx: CallContext, digit: str) -> Optional[State]:
        raise NotImplementedError


class ReplyMenu(_AskForKey):
    name = "reply_menu"
    prompt = "reply_menu"

    async def key(self, ctx: CallContext, digit: str) -> Optional[State]:
        if digit == "1":
            return ReplyRating(self.line, self.survey)
        if digit == "2":
            return ReplyToStaff(self.survey)
        return self.retry()


class ReplyRating(_AskForKey):
    name = "reply_rating"
    prompt = "reply_rate"

    async def key(self, ctx: CallContext, digit: str) -> Optional[State]:
        if digit not in RATING_KEYS:
            return self.retry()
        await ctx.run_sync(self.line.record_rating, int(self.survey["survey_id"]), int(digit))
        ctx.log.info("reply line %s: survey %s rated %s", ctx.channel_id, self.survey["survey_id"], digit)
        return Goodbye("reply_thanks")


class ReplyToStaff(State):
    """A ticket for the conversation (so the agent's pop and screen show it), a
    note of the survey on it, then the queue of the customer's centre; a queue
    name that does not exist sends the caller to the default queue rather than
    dropping them."""
    name = "reply_to_staff"

    def __init__(self, survey: dict):
        self.survey = survey

    async def enter(self, ctx: CallContext) -> Optional[State]:
        customer_id = self.survey.get("customer_id")
        await ctx.run_sync(ctx.call_center.open_ticket, ctx.channel_id,
                           int(customer_id) if customer_id else None, "", ctx.language)
        await ctx.run_sync(ctx.call_center.note_survey_reply, ctx.channel_id, self.survey)
        ctx.queue = str(self.survey.get("queue") or "") or None
        try:
            return await _enqueue(ctx, "connecting")
        except NotFound:
            ctx.log.warning("reply line %s: no queue %r; the default queue takes the call",
                            ctx.channel_id, ctx.queue)
            ctx.queue = None
            return await _enqueue(ctx, "connecting")


class Goodbye(State):
    """Say ``prompt``, then hang up."""
    name = "reply_goodbye"

    def __init__(self, prompt: str):
        self.prompt = prompt

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.play(self.prompt)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx):
            ctx.playback_id = None
            await ctx.telephony.hangup(ctx.channel_id)
        return None


__all__ = ["LINE", "ReplyLine", "ReplyWelcome", "ReplyMenu", "ReplyRating", "ReplyToStaff", "Goodbye",
           "Queued"]
