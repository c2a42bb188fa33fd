"""The outbound survey call (docs/surveys.md).

The call is placed by ``StasisHandlers.place_survey_call`` (ARI originate into
the application with args ``survey,<id>``).  On answer the channel first runs
answering-machine detection: it continues into the dialplan context
``[surveys] amd_context`` (AMD() with amd.conf), which sends it back into the
application with ``survey-amd,<id>,<AMDSTATUS>,<AMDCAUSE>``; ``result_of_amd``
decides.  A machine is hung up and counts as not reached (messages instead);
otherwise the session starts, its own channel the customer's, like an ARS call:

    Asking(rating 1-5) -> Asking(trouble came back 1/2) -> Asking(kind 1/2)
      -> (answers stored as a phone reply) -> Commenting (spoken, transcribed)
      -> Thanking -> hang up
    0 at any question -> Transferring: a ticket is opened and the customer queued
      in the staff queue of their centre (the ACD and the ARS states from there on)

No key after a question is asked twice: the call ends (an answering machine
ends here too) and the survey falls back to messages.  However the session
ends, ``StasisHandlers`` reports the call's result to the survey service, and
a call that never answered reports busy / no answer / rejected / failed from
the hang-up cause.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from cti.surveys.answers import InvalidAnswers, clean_answers
from ivr.ari_events import ServiceEvent, Timer
from ivr.flows.ars import _enqueue
from ivr.flows.base import CallContext, Ended, State, is_dtmf, prompt_done
from ivr.telephony import ChannelGone

# (answer field, prompt, keys that answer it)
QUESTIONS = (("rating", "survey_q_rating", "12345"),
             ("trouble_again", "survey_q_trouble", "12"),
             ("staff_kind", "survey_q_kind", "12"))
TRANSFER_KEY = "0"
ASKS_PER_QUESTION = 2

# Q.850 causes of a survey call that never answered.
BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({18, 19, 31})
REJECTED_CAUSES = frozenset({21})


def result_of_amd(status: str, cause: str = "") -> Optional[str]:
    """The call result an answering-machine verdict means, or None: ask the questions.

    MACHINE is not reached ("machine": messages instead) -- except a silent answer
    (cause INITIALSILENCE): people often wait for the caller to speak, so they are
    asked; a silent machine keys nothing and ends as "no_input", which falls back
    to messages the same way.  HANGUP: answered, gone before a word ("no_input").
    HUMAN, NOTSURE (analysis too long) or anything else: a person may be there."""
    status = (status or "").strip().upper()
    if status == "MACHINE" and not (cause or "").upper().startswith("INITIALSILENCE"):
        return "machine"
    if status == "HANGUP":
        return "no_input"
    return None


def result_of_cause(cause: Optional[int]) -> str:
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in REJECTED_CAUSES:
        return "rejected"
    if cause in NO_ANSWER_CAUSES or cause is None:
        return "no_answer"
    return "failed"


@dataclass
class SurveyCall:
    """What the flow knows about the survey it asks (``SurveyService.call_target``)."""
    survey_id: int
    ticket_id: int
    customer_id: Optional[int]
    language: str
    number: str
    queue: str                       # the centre's staff queue (0: talk to a person)
    service: Any = None              # cti.surveys.service.SurveyService (blocking)
    answers: dict = field(default_factory=dict)
    stored: bool = False             # the keyed answers were stored as a reply
    transferred: bool = False



class Asking(State):
    name = "survey_asking"

    def __init__(self, call: SurveyCall, index: int = 0, asked: int = 0):
        self.call = call
        self.index = index
        self.asked = asked

    async def enter(self, ctx: CallContext) -> Optional[State]:
        _, prompt, _ = QUESTIONS[self.index]
        if self.index == 0 and self.asked == 0:
            await ctx.play_sequence(["survey_intro", prompt])
        else:
            await ctx.play(prompt)
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        field_name, _, keys = QUESTIONS[self.index]
        if is_dtmf(event, ctx):
            digit = event.digit or ""
            if digit == TRANSFER_KEY:
                await ctx.stop_prompt()
                ctx.cancel_timer("answer")
                return Transferring(self.call)
            if digit not in keys:
                return None          # a key that answers nothing here: wait for a right one
            await ctx.stop_prompt()
            ctx.cancel_timer("answer")
            self.call.answers[field_name] = digit
            if self.index + 1 < len(QUESTIONS):
                return Asking(self.call, self.index + 1)
            return await _store_answers(ctx, self.call)
        if prompt_done(event, ctx):
            ctx.playback_id = None
            ctx.start_timer("answer", float(ctx.ivr_config["pin_first_digit_timeout"]))
            return None
        if isinstance(event, Timer) and event.name == "answer":
            if self.asked + 1 < ASKS_PER_QUESTION:
                return Asking(self.call, self.index, self.asked + 1)
            ctx.log.info("survey call %s: no answer to %s", ctx.channel_id, field_name)
            if self.call.answers.get("rating"):
                return await _store_answers(ctx, self.call)
            return Thanking(self.call)
        return None


async def _store_answers(ctx: CallContext, call: SurveyCall) -> State:
    """The keys are a reply of their own (stored before the comment, so a hang-up
    during the comment loses nothing)."""
    try:
        answers = clean_answers(call.answers.get("rating"), call.answers.get("trouble_again"),
                                call.answers.get("staff_kind"))
    except InvalidAnswers:
        return Thanking(call)
    raw = "".join(call.answers.get(name, "-") for name, _, _ in QUESTIONS)
    await ctx.run_sync(call.service.record_reply, call.survey_id, "phone", raw, answers)
    call.stored = True
    return Commenting(call)


class Commenting(State):
    """The customer may say something more; the recogniser transcribes it and the
    sensitivity keywords found are kept with the survey.  Without speech analysis
    the step is skipped."""
    name = "survey_commenting"

    def __init__(self, call: SurveyCall):
        self.call = call
        self.listening = False

    async def enter(self, ctx: CallContext) -> Optional[State]:
        if ctx.speech is None or not ctx.speech.available:
            return Thanking(self.call)
        await ctx.play("survey_comment")
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if is_dtmf(event, ctx) and event.digit == TRANSFER_KEY and not self.listening:
            await ctx.stop_prompt()
            return Transferring(self.call)
        if prompt_done(event, ctx) and not self.listening:
            ctx.playback_id = None
            self.listening = True
            ctx.start_timer("comment", ctx.speech.settings.max_seconds + 8)
            ctx.spawn(self._listen, ctx)
            return None
        if isinstance(event, ServiceEvent) and event.type == "commented":
            ctx.cancel_timer("comment")
            record = event.data.get("record") or {}
            transcript = (record.get("transcript") or "").strip()
            if transcript:
                await ctx.run_sync(self.call.service.record_spoken_comment, self.call.survey_id, transcript,
                                   keywords_of(record))
            return Thanking(self.call)
        if isinstance(event, Timer) and event.name == "comment":
            ctx.log.warning("survey call %s: no transcript in time", ctx.channel_id)
            return Thanking(self.call)
        return None

    @staticmethod
    async def _listen(ctx: CallContext) -> None:
        try:
            record = await ctx.speech.describe(ctx)      # ctx.ticket_id is None: stored by us, not on a ticket
        except ChannelGone:
            return
        ctx.post(ServiceEvent("commented", channel_id=ctx.channel_id, data={"record": record or {}}))


def keywords_of(record: dict) -> list[str]:
    """``CODE:keyword`` for every sensitivity keyword the analysis heard."""
    out = []
    for suggestion in record.get("suggestions") or []:
        words = (suggestion.get("evidence") or {}).get("words") or []
        if not words:
            out.append(str(suggestion.get("code", "")))
        out += [f"{suggestion.get('code', '')}:{w.get('keyword', '')}" for w in words]
    return [k for k in out if k]


class Thanking(State):
    name = "survey_thanking"

    def __init__(self, call: SurveyCall):
        self.call = call

    async def enter(self, ctx: CallContext) -> Optional[State]:
        await ctx.play("survey_thanks" if self.call.stored else "goodbye")
        ctx.start_timer("bye", 15.0)     # the prompt never finishing must not keep the line
        return None

    async def handle(self, ctx: CallContext, event: Any) -> Optional[State]:
        if prompt_done(event, ctx) or (isinstance(event, Timer) and event.name == "bye"):
            ctx.playback_id = None
            await ctx.telephony.hangup(ctx.channel_id)
            return Ended("answered" if self.call.stored else "no_input")
        return None


class Transferring(State):
    """0: the customer wants a person.  The call becomes a help-desk call of the
    customer (call record and ticket, like the ARS line) queued in the staff
    queue of the centre covering their area; the ACD offers it to an agent."""
    name = "survey_transferring"

    def __init__(self, call: SurveyCall):
        self.call = call

    async def enter(self, ctx: CallContext) -> Optional[State]:
        self.call.transferred = True
        await ctx.run_sync(ctx.call_center.call_started, ctx.channel_id, ctx.caller_number, ctx.caller_name,
                           "survey", ctx.language)
        info = await ctx.run_sync(ctx.call_center.open_ticket, ctx.channel_id, self.call.customer_id, "",
                                  ctx.language)
        ctx.ticket_id = info.ticket_id
        ctx.queue = self.call.queue or None
        return await _enqueue(ctx, "connecting")
