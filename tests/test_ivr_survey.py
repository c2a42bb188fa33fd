"""The outbound survey call on a fake telephony port (no Asterisk), real services
(docs/surveys.md): originate, keyed answers stored as a phone reply, a call not
answered falls back to messages, 0 puts the customer in their centre's queue,
silence asks twice then ends."""
from __future__ import annotations

import anyio
import pytest
from sqlalchemy import select

from cti.surveys import machine
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenSigner
from db.models import CallRecord, Survey, Ticket
from ivr.app import database_runner
from ivr.ari_events import AriEvent
from ivr.calls import CallRegistry
from ivr.dispatcher import QueueDispatcher
from ivr.flows.survey import keywords_of, result_of_amd, result_of_cause
from ivr.stasis import StasisHandlers
from support.surveys import FakeMailer, FakeSms, resolved_ticket
from test_ivr_flows import FakeTelephony

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Harness:
    def __init__(self, config, call_center, tg, service):
        self.tel = FakeTelephony()
        self.registry = CallRegistry()

        def post(cid, ev):
            s = self.registry.get(cid)
            if s:
                s.post(ev)
        run_sync = database_runner(config["ivr"]["db_threads"])
        self.dispatcher = QueueDispatcher("helpdesk", call_center, post, run_sync, tick_seconds=0.05)
        self.handlers = StasisHandlers(config, call_center, self.dispatcher, self.registry, self.tel,
                                       tg.start_soon, run_sync, surveys=service)
        tg.start_soon(self.dispatcher.run)

    def send(self, type_, cid, **kw):
        self.handlers.on_event(AriEvent(type_, channel_id=cid, **kw))

    async def until(self, predicate, timeout=3.0):
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.01)

    async def finish_prompt(self, cid, name):
        await self.until(lambda: self.tel.named("play") and self.tel.last_playback()[2].endswith("/" + name))
        self.send("PlaybackFinished", cid, playback_id=self.tel.last_playback()[3])

    async def place(self, survey_id):
        await self.handlers.place_survey_call(survey_id)
        (_, cid, endpoint, args, caller_id) = self.tel.named("originate")[-1]
        return cid, endpoint, args, caller_id


@pytest.fixture
def fast_config(config):
    config["ivr"].update(pin_first_digit_timeout=0.3)
    config["surveys"]["amd_context"] = ""        # straight to the questions (detection: its own tests)
    return config


@pytest.fixture
def surveys(db, bus, clock, fast_config):
    sessions, _ = db
    mailer, sms = FakeMailer(), FakeSms()
    service = SurveyService(sessions, bus, fast_config, signer=TokenSigner("k"), mailer=mailer, sms=sms,
                            clock=clock)
    service.mailer = mailer
    return service


def calling_survey(service, db, clock, pin="100100"):
    sessions, _ = db
    ticket = resolved_ticket(sessions, clock, pin)
    service.run_due()
    clock.advance(3600)
    service.run_due()
    with sessions() as s:
        survey = s.scalar(select(Survey).where(Survey.ticket_id == ticket))
        assert survey.state == machine.CALLING
        return survey.id


def survey_row(db, survey_id):
    sessions, _ = db
    with sessions() as s:
        return s.get(Survey, survey_id)


def test_hang_up_causes_and_keywords():
    assert [result_of_cause(c) for c in (17, 19, 21, 34, None)] == ["busy", "no_answer", "rejected", "failed",
                                                                    "no_answer"]
    record = {"suggestions": [{"code": "N01", "evidence": {"words": [{"keyword": "고장"}, {"keyword": "또"}]}},
                              {"code": "V02", "evidence": {"voice": {}}}]}
    assert keywords_of(record) == ["N01:고장", "N01:또", "V02"]


async def test_answered_call_stores_the_keyed_answers(fast_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, surveys)
        cid, endpoint, args, caller_id = await h.place(survey_id)
        assert (endpoint, args) == ("PJSIP/025550101", f"survey,{survey_id}") and "<1700>" in caller_id
        h.send("StasisStart", cid, args=("survey", str(survey_id)))
        await h.finish_prompt(cid, "survey_q_rating")
        assert h.tel.named("play")[0][2] == "sound:happycall/ko/survey_intro,sound:happycall/ko/survey_q_rating"
        h.send("ChannelDtmfReceived", cid, digit="7")          # not an answer: ignored
        h.send("ChannelDtmfReceived", cid, digit="4")
        await h.finish_prompt(cid, "survey_q_trouble")
        h.send("ChannelDtmfReceived", cid, digit="2")
        await h.finish_prompt(cid, "survey_q_kind")
        h.send("ChannelDtmfReceived", cid, digit="1")
        await h.finish_prompt(cid, "survey_thanks")              # no speech analysis: no comment step
        await h.until(lambda: ("hangup", cid) in h.tel.ops)
        h.send("StasisEnd", cid)
        await h.until(lambda: len(h.registry) == 0)
        await h.until(lambda: any(a["channel"] == "phone" for a in surveys.survey(survey_id)["attempts"]))
        tg.cancel_scope.cancel()
    got = surveys.survey(survey_id)
    assert (got["state"], got["rating"], got["trouble_again"], got["staff_kind"], got["channel"]) == \
        ("answered", 4, False, True, "phone")
    assert [r["raw"] for r in got["replies"]] == ["421"]
    assert [(a["channel"], a["outcome"]) for a in got["attempts"]] == [("phone", "answered")]


async def test_busy_call_falls_back_to_messages(fast_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, surveys)
        cid, *_ = await h.place(survey_id)
        h.send("ChannelDestroyed", cid, cause=17)
        await h.until(lambda: survey_row(db, survey_id).state == machine.MESSAGED)
        tg.cancel_scope.cancel()
    assert len(h.registry) == 0
    assert [(a["channel"], a["outcome"]) for a in surveys.survey(survey_id)["attempts"]][0] == ("phone", "busy")
    assert surveys.mailer.sent and "/survey/" in surveys.mailer.sent[0]["body"]


async def test_originate_failure_falls_back_to_messages(fast_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, surveys)
        h.tel.fail_on.add("originate")
        await h.handlers.place_survey_call(survey_id)
        tg.cancel_scope.cancel()
    assert survey_row(db, survey_id).state == machine.MESSAGED
    assert surveys.survey(survey_id)["attempts"][0]["outcome"] == "failed"


async def test_zero_puts_the_customer_in_their_centres_queue(fast_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock, pin="100200")       # Busan: staff queue "lan"
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, surveys)
        cid, *_ = await h.place(survey_id)
        h.send("StasisStart", cid, args=("survey", str(survey_id)))
        await h.until(lambda: h.tel.named("play"))
        h.send("ChannelDtmfReceived", cid, digit="0")
        await h.until(lambda: cid in h.dispatcher.queue)
        sessions, _ = db
        with sessions() as s:
            call = s.scalar(select(CallRecord).where(CallRecord.channel_id == cid))
            ticket = s.get(Ticket, call.ticket_id)
            assert (call.line, ticket.status, ticket.customer_id is not None) == ("survey", "queued", True)
            assert ticket.queue.name == "lan"
        h.send("StasisEnd", cid)
        await h.until(lambda: len(h.registry) == 0)
        await h.until(lambda: surveys.survey(survey_id)["attempts"])
        tg.cancel_scope.cancel()
    attempt = surveys.survey(survey_id)["attempts"][0]
    assert (attempt["outcome"], survey_row(db, survey_id).state) == ("answered", machine.MESSAGED)


async def test_silence_asks_twice_then_ends_and_falls_back(fast_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, surveys)
        cid, *_ = await h.place(survey_id)
        h.send("StasisStart", cid, args=("survey", str(survey_id)))
        await h.finish_prompt(cid, "survey_q_rating")
        await h.until(lambda: len(h.tel.named("play")) == 2)    # asked again after the timeout
        await h.finish_prompt(cid, "survey_q_rating")
        await h.finish_prompt(cid, "goodbye")
        await h.until(lambda: ("hangup", cid) in h.tel.ops)
        h.send("StasisEnd", cid)
        await h.until(lambda: survey_row(db, survey_id).state == machine.MESSAGED)
        tg.cancel_scope.cancel()
    assert survey_row(db, survey_id).rating is None


# ---- answering-machine detection ----------------------------------------------------------

@pytest.mark.parametrize("status,cause,result", [
    ("MACHINE", "LONGGREETING-1600-1500", "machine"),
    ("MACHINE", "MAXWORDS-3-3", "machine"),
    ("machine", "", "machine"),
    ("MACHINE", "INITIALSILENCE-2500-2500", None),     # a silent answer is asked anyway
    ("HUMAN", "HUMAN-400-800", None),
    ("NOTSURE", "TOOLONG-5000", None),
    ("HANGUP", "", "no_input"),
    ("", "", None),
])
def test_what_an_answering_machine_verdict_means(status, cause, result):
    assert result_of_amd(status, cause) == result


@pytest.fixture
def amd_config(fast_config):
    fast_config["surveys"]["amd_context"] = "survey-amd"     # the default (cti/config.py)
    return fast_config


async def detecting(h, survey_id):
    """Place the survey call and answer it: it goes to the dialplan's detection."""
    cid, *_ = await h.place(survey_id)
    h.send("StasisStart", cid, args=("survey", str(survey_id)))
    await h.until(lambda: h.tel.named("continue_in_dialplan"))
    assert h.tel.named("subscribe_channel") == [("subscribe_channel", cid)]
    assert h.tel.named("continue_in_dialplan") == [("continue_in_dialplan", cid, "survey-amd", str(survey_id), 1)]
    h.send("StasisEnd", cid)                                   # it left for the dialplan: nothing happens
    assert not h.tel.named("play") and len(h.registry) == 0
    return cid


async def test_a_machine_is_hung_up_and_the_survey_goes_to_messages(amd_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(amd_config, call_center, tg, surveys)
        cid = await detecting(h, survey_id)
        h.send("StasisStart", cid, args=("survey-amd", str(survey_id), "MACHINE", "LONGGREETING-1600-1500"))
        await h.until(lambda: ("hangup", cid) in h.tel.ops)
        await h.until(lambda: survey_row(db, survey_id).state == machine.MESSAGED)
        h.send("ChannelDestroyed", cid, cause=16)                  # our hang-up: nothing more
        tg.cancel_scope.cancel()
    assert not h.tel.named("play")
    attempts = surveys.survey(survey_id)["attempts"]
    assert [(a["channel"], a["outcome"]) for a in attempts] == [("phone", "machine"), ("email", "sent"),
                                                                 ("sms", "sent")]
    assert surveys.mailer.sent and "/survey/" in surveys.mailer.sent[0]["body"]


async def test_a_person_is_asked_after_detection(amd_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(amd_config, call_center, tg, surveys)
        cid = await detecting(h, survey_id)
        h.send("StasisStart", cid, args=("survey-amd", str(survey_id), "HUMAN", "HUMAN-400-800"))
        await h.finish_prompt(cid, "survey_q_rating")
        h.send("ChannelDtmfReceived", cid, digit="5")
        await h.finish_prompt(cid, "survey_q_trouble")
        h.send("ChannelDtmfReceived", cid, digit="2")
        await h.finish_prompt(cid, "survey_q_kind")
        h.send("ChannelDtmfReceived", cid, digit="1")
        await h.until(lambda: survey_row(db, survey_id).rating == 5)
        tg.cancel_scope.cancel()
    assert [op[0] for op in h.tel.ops[:4]] == ["originate", "subscribe_channel", "continue_in_dialplan", "play"]


async def test_hanging_up_during_detection_falls_back_as_no_input(amd_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(amd_config, call_center, tg, surveys)
        cid = await detecting(h, survey_id)
        h.send("ChannelDestroyed", cid, cause=16)
        await h.until(lambda: survey_row(db, survey_id).state == machine.MESSAGED)
        tg.cancel_scope.cancel()
    assert surveys.survey(survey_id)["attempts"][0]["outcome"] == "no_input"


async def test_without_detection_in_the_dialplan_the_questions_are_asked(amd_config, call_center, db, clock, surveys):
    survey_id = calling_survey(surveys, db, clock)
    async with anyio.create_task_group() as tg:
        h = Harness(amd_config, call_center, tg, surveys)
        h.tel.fail_on.add("continue_in_dialplan")
        cid, *_ = await h.place(survey_id)
        h.send("StasisStart", cid, args=("survey", str(survey_id)))
        await h.until(lambda: h.tel.named("play"))
        tg.cancel_scope.cancel()
    assert "survey_intro" in h.tel.named("play")[0][2]
