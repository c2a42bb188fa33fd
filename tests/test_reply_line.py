"""The survey reply line (ivr/flows/reply_line.py) on a fake telephony port with
the real call-centre services: caller ID matched through the injected lookup,
keypad rating through the injected callback, talking routed to the queue the
lookup names with a pop of type survey_reply."""
from __future__ import annotations

import anyio
import pytest
from sqlalchemy import select

from cti import events
from cti.acd_service import AcdService
from db.models import CallRecord, Ticket, TicketEvent
from ivr.app import database_runner
from ivr.ari_events import AriEvent
from ivr.calls import CallRegistry
from ivr.dispatcher import QueueDispatcher
from ivr.flows.reply_line import ReplyLine
from ivr.stasis import StasisHandlers
from test_ivr_flows import FakeTelephony

pytestmark = pytest.mark.anyio

SURVEY = {"survey_id": 42, "queue": "pc", "customer_id": 1, "incident_id": "INC-000007", "centre": "Seoul"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


class FakeSurveys:
    """The survey side as the reply line sees it: pending surveys by number, ratings stored."""

    def __init__(self, pending: dict[str, dict]):
        self.pending = pending
        self.lookups: list[str] = []
        self.ratings: list[tuple[int, int]] = []

    def find_pending_survey(self, number: str):
        self.lookups.append(number)
        return self.pending.get(number)

    def record_rating(self, survey_id: int, rating: int) -> None:
        self.ratings.append((survey_id, rating))


class Line:
    def __init__(self, config, call_center, tg, surveys: FakeSurveys, tries: int = 3, acd=None):
        self.tel = FakeTelephony()
        self.registry = CallRegistry()

        def post(cid, ev):
            session = self.registry.get(cid)
            if session:
                session.post(ev)
        run_sync = database_runner(2)
        self.dispatcher = QueueDispatcher("helpdesk", call_center, post, run_sync, tick_seconds=0.05, acd=acd)
        line = ReplyLine(surveys.find_pending_survey, surveys.record_rating, menu_tries=tries, key_timeout=0.3)
        self.handlers = StasisHandlers(config, call_center, self.dispatcher, self.registry, self.tel,
                                       tg.start_soon, run_sync, reply_line=line)
        tg.start_soon(self.dispatcher.run)

    def send(self, type_, cid, **kw):
        self.handlers.on_event(AriEvent(type_, channel_id=cid, **kw))

    async def until(self, predicate, timeout=3.0):
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.01)

    def plays(self, cid="r1"):
        return [op[2].rsplit("/", 1)[1] for op in self.tel.named("play") if op[1] == cid]

    async def prompt_ends(self, name, cid="r1"):
        await self.until(lambda: self.tel.named("play") and self.tel.last_playback()[2].endswith("/" + name))
        self.send("PlaybackFinished", cid, playback_id=self.tel.last_playback()[3])

    def call_in(self, number="01055500101", cid="r1", lang="ko"):
        self.send("StasisStart", cid, args=("reply", "1650", lang), caller_name="Hong", caller_number=number)

    def key(self, digit, cid="r1"):
        self.send("ChannelDtmfReceived", cid, digit=digit)


def queue_name(db, ticket):
    from db.models import Queue

    (queue,) = rows(db, Queue, Queue.id == ticket.queue_id)
    return queue.name


def rows(db, model, *where):
    factory, _ = db
    with factory() as s:
        return list(s.scalars(select(model).where(*where)))


async def test_keypad_answer_stores_the_rating_through_the_callback(config, call_center, db):
    surveys = FakeSurveys({"01055500101": SURVEY})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys)
        line.call_in()
        await line.prompt_ends("reply_menu")
        line.key("1")
        await line.prompt_ends("reply_rate")
        line.key("4")
        await line.prompt_ends("reply_thanks")
        await line.until(lambda: ("hangup", "r1") in line.tel.ops)
        line.send("StasisEnd", "r1")
        await line.until(lambda: len(line.registry) == 0)
        tg.cancel_scope.cancel()
    assert surveys.lookups == ["01055500101"]
    assert surveys.ratings == [(42, 4)]
    assert ("answer", "r1") in line.tel.ops
    (call,) = rows(db, CallRecord)
    assert call.line == "survey_reply" and call.ended_at is not None and call.ticket_id is None


async def test_a_key_outside_1_to_5_asks_again_and_stores_nothing(config, call_center, db):
    surveys = FakeSurveys({"01055500101": SURVEY})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys)
        line.call_in()
        await line.prompt_ends("reply_menu")
        line.key("1")
        await line.prompt_ends("reply_rate")
        line.key("9")
        await line.until(lambda: line.plays()[-1] == "reply_rate" and len(line.plays()) == 3)
        assert surveys.ratings == []
        line.key("5")
        await line.prompt_ends("reply_thanks")
        tg.cancel_scope.cancel()
    assert surveys.ratings == [(42, 5)]


async def test_an_unknown_number_hears_there_is_no_survey(config, call_center, db):
    surveys = FakeSurveys({})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys)
        line.call_in(number="0109999999")
        await line.prompt_ends("reply_no_survey")
        await line.until(lambda: ("hangup", "r1") in line.tel.ops)
        tg.cancel_scope.cancel()
    assert surveys.lookups == ["0109999999"] and line.plays() == ["reply_no_survey"]


async def test_no_key_three_times_says_goodbye(config, call_center, db):
    surveys = FakeSurveys({"01055500101": SURVEY})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys, tries=3)
        line.call_in()
        for n in range(1, 4):
            await line.until(lambda: len(line.plays()) == n)
            await line.prompt_ends("reply_menu")     # then no key until the timeout
        await line.until(lambda: len(line.plays()) == 4, timeout=2)
        await line.prompt_ends("goodbye")
        await line.until(lambda: ("hangup", "r1") in line.tel.ops, timeout=5)
        tg.cancel_scope.cancel()
    assert line.plays() == ["reply_menu", "reply_menu", "reply_menu", "goodbye"]
    assert surveys.ratings == []


async def test_talking_goes_to_the_centres_queue_with_a_survey_reply_pop(config, call_center, db, bus):
    pops = []
    bus.subscribe(events.SCREENPOP, lambda _t, p: pops.append(p))
    call_center.set_agent_state(1, "ready")     # agent1 serves 'pc'
    surveys = FakeSurveys({"01055500101": SURVEY})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys, acd=AcdService(db[0], bus))
        line.call_in()
        await line.prompt_ends("reply_menu")
        line.key("2")
        await line.until(lambda: line.tel.named("originate"), timeout=5)
        tg.cancel_scope.cancel()
    (pop,) = [p["pop"] for p in pops]
    assert pop["type"] == "survey_reply"
    assert pop["survey"] == {k: SURVEY[k] for k in ("survey_id", "incident_id", "centre", "queue")}
    assert pop["customer_known"] and "INC-000007" in pop["subject"]
    (call,) = rows(db, CallRecord)
    (ticket,) = rows(db, Ticket, Ticket.id == call.ticket_id)
    assert queue_name(db, ticket) == "pc" and ticket.customer_id == 1
    notes = rows(db, TicketEvent, TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "survey_reply")
    assert notes and notes[0].detail["survey_id"] == 42
    assert "sensitivity" in pop   # agent1 may see the customer's sensitivity codes


async def test_a_queue_that_does_not_exist_falls_back_to_the_default_queue(config, call_center, db):
    surveys = FakeSurveys({"01055500101": dict(SURVEY, queue="no-such-centre")})
    async with anyio.create_task_group() as tg:
        line = Line(config, call_center, tg, surveys)
        line.call_in()
        await line.prompt_ends("reply_menu")
        line.key("2")
        await line.until(lambda: "r1" in line.dispatcher.queue)
        tg.cancel_scope.cancel()
    (call,) = rows(db, CallRecord)
    (ticket,) = rows(db, Ticket, Ticket.id == call.ticket_id)
    assert queue_name(db, ticket) == "helpdesk"
