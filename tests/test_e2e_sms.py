"""SMS and the survey reply line end to end: the whole system on a real Asterisk,
SIPp as the customer's phone.

* an SMS sent by the centre leaves Asterisk as a SIP MESSAGE that a SIPp UAS takes;
* a SIP MESSAGE sent by SIPp to Asterisk arrives on the bus as ``sms.received``
  with its text (Korean), and the same message again as ``sms.duplicate``;
* a customer calling the reply line keys 1 and a rating: stored through the
  injected callback; keying 2 routes them to the queue the survey lookup names,
  where that queue's agent answers, with a survey_reply pop.
"""
from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import select, update

from cti import events
from cti.config import load
from cti.sms import SMS_DUPLICATE, SMS_RECEIVED
from cti.surveys.classify import REPEATED_TROUBLE, classify
from db.models import CallRecord, SmsMessage, TicketEvent, User
from ivr.system import System
from support import asterisk as pbx_support
from support.sipp import SippCaller, SippPhone, free_port
from support.sms_peers import SippMessageReceiver, SippMessageSender
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e]

CUSTOMER = "01055500101"


class FakeSurveys:
    """The survey side (another part of issue 6) as the reply line sees it."""

    def __init__(self):
        self.pending = {CUSTOMER: {"survey_id": 7, "queue": "lan", "customer_id": 1,
                                   "incident_id": "INC-000001", "centre": "Busan"}}
        self.ratings: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def find_pending_survey(self, number):
        return self.pending.get(number)

    def record_rating(self, survey_id, rating):
        with self.lock:
            self.ratings.append((survey_id, rating))


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from ivr.pbx.provision import ensure_root

    ensure_root(pbx_support.test_root())
    data = tmp_path_factory.mktemp("e2e-sms")
    customer_port = free_port()
    config = load(environ={}, overrides={
        "data": {"dir": str(data)},
        "asterisk": pbx_support.asterisk_config(),
        "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
        # Customers are one SIPp peer on the loopback: calls and messages take the same route.
        "acd": {"ring_timeout": 8.0, "callback_dial": "PJSIP/phones/sip:{number}@127.0.0.1:%d" % customer_port},
        "reply_line": {"key_timeout": 6.0},
        "asr": {"enabled": False},
        "escalation": {"enabled": False},
        "mail_intake": {"enabled": False},
        "web": {"port": free_port(udp=False, tcp=True), "secret_key": "e2e-sms"},
    })
    surveys = FakeSurveys()
    sys_ = System(config, echo=lambda *_: None, instance_name="test-e2e-sms",
                  find_pending_survey=surveys.find_pending_survey, record_survey_rating=surveys.record_rating)
    sys_.customer_port = customer_port
    sys_.fake_surveys = surveys   # (sys_.surveys is the real survey service)
    sys_.start()
    assert sys_.sms_gateway.wait_subscribed(30), "the SMS application did not subscribe"
    yield sys_
    sys_.stop()


@pytest.fixture
def topics(system):
    seen: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def keep(topic, payload):
        with lock:
            seen.append((topic, payload))
    undo = [system.bus.subscribe(t, keep) for t in (SMS_RECEIVED, SMS_DUPLICATE, events.SCREENPOP)]
    yield seen
    for u in undo:
        u()


def test_an_sms_leaves_asterisk_as_a_sip_message(system):
    text = "해피콜 만족도 조사: 서비스는 어떠셨나요? 1~5로 답해 주세요. Reply 1-5."
    with SippMessageReceiver(port=system.customer_port, messages=1) as phone:
        result = system.sms.send(CUSTOMER, text)
        assert result["status"] == "sent", result
        assert phone.wait(20) == 0, phone.logs()
        (message,) = phone.received()
    assert f"MESSAGE sip:{CUSTOMER}@127.0.0.1:{system.customer_port}" in message
    assert text in message
    assert "sip:1650@" in message.split("From:", 1)[1].split("\n", 1)[0]


def test_a_sip_message_from_the_customer_arrives_as_sms_received_once(system, topics):
    text = "프린터가 또 고장났어요"
    with SippMessageSender(system.asterisk.sip_uri("1650"), text, caller_number=CUSTOMER) as sender:
        assert sender.wait(15) == 0, sender.logs()
    wait_for(lambda: any(t == SMS_RECEIVED for t, _ in topics), timeout=10, what="sms.received")
    ((_, payload),) = [(t, p) for t, p in topics if t == SMS_RECEIVED]
    assert payload["from"] == CUSTOMER and payload["text"] == text and payload["gateway"] == "sip"
    assert classify(payload["text"]).term == REPEATED_TROUBLE
    # The customer's phone sends it again (no answer seen, a retry): recognised.
    with SippMessageSender(system.asterisk.sip_uri("1650"), text, caller_number=CUSTOMER) as sender:
        assert sender.wait(15) == 0, sender.logs()
    wait_for(lambda: any(t == SMS_DUPLICATE for t, _ in topics), timeout=10, what="sms.duplicate")
    assert [t for t, _ in topics if t != events.SCREENPOP] == [SMS_RECEIVED, SMS_DUPLICATE]
    with system.sessions() as s:
        statuses = list(s.scalars(select(SmsMessage.status).where(SmsMessage.direction == "in",
                                                                   SmsMessage.text == text)))
    assert statuses == ["received", "duplicate"]
    assert _last_call(system) is None    # a MESSAGE never enters the dialplan (empty message context)


def test_the_sms_application_only_takes_text_message_events(system):
    app = system.config["sms"]["ari_app"]
    info = httpx.get(f"{system.asterisk.ari_url}ari/applications/{app}",
                     auth=(system.asterisk.ari_user, system.asterisk.ari_password), timeout=5).json()
    assert "PJSIP" in info["endpoint_ids"]
    assert info.get("events_allowed") == [{"type": "TextMessageReceived"}]


def test_reply_line_keypad_rating_is_stored_through_the_callback(system):
    with SippCaller(system.asterisk.sip_uri("1650"), digits="1,,4", caller_number=CUSTOMER,
                    pause_before_digits=2.0, hold_seconds=20) as caller:
        wait_for(lambda: system.fake_surveys.ratings, timeout=30, what="the rating")
        assert caller.wait(40) == 0, caller.logs()   # the line hung up after the thanks
    assert system.fake_surveys.ratings == [(7, 4)]
    with system.sessions() as s:
        call = s.scalars(select(CallRecord).where(CallRecord.caller_number == CUSTOMER)
                         .order_by(CallRecord.id.desc())).first()
    assert call.line == "survey_reply"


def test_reply_line_talking_reaches_the_centres_queue_agent_with_a_survey_pop(system, topics):
    # agent2 serves 'lan' (the queue the lookup names); agent1 does not and must not ring.
    with SippPhone(mode="answer", ring_seconds=0.3, talk_seconds=4) as phone1, \
            SippPhone(mode="answer", ring_seconds=0.3, talk_seconds=4) as phone2:
        with system.sessions.begin() as s:
            s.execute(update(User).where(User.username == "agent1")
                      .values(state="ready", state_reason="", phone=phone1.dial_string("1001")))
            s.execute(update(User).where(User.username == "agent2")
                      .values(state="ready", state_reason="", phone=phone2.dial_string("1002")))
        system.ari_app.dispatcher_kick()
        with SippCaller(system.asterisk.sip_uri("1650"), digits="2", caller_number=CUSTOMER,
                        pause_before_digits=2.0, hold_seconds=25):
            call = wait_for(lambda: (c := _last_call(system)) and c.answered_at and c, timeout=30,
                            what="the reply call answered by an agent")
            with system.sessions() as s:
                agent2 = s.scalar(select(User.id).where(User.username == "agent2"))
                notes = list(s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == call.ticket_id,
                                                                 TicketEvent.kind == "survey_reply")))
            assert call.agent_id == agent2 and notes[0].detail["survey_id"] == 7
        assert phone1.calls_received() == 0
    pops = [p for t, p in topics if t == events.SCREENPOP]
    assert pops[-1]["agent_id"] == agent2
    assert pops[-1]["pop"]["type"] == "survey_reply" and pops[-1]["pop"]["survey"]["centre"] == "Busan"
    with system.sessions.begin() as s:
        s.execute(update(User).values(state="logged_out", state_reason=""))


def test_without_the_subscription_asterisk_refuses_messages(system):
    """Why the SMS application subscribes: the dialplan takes no MESSAGE, so without
    a subscriber Asterisk answers 404 (and the sender knows it was not delivered)."""
    ari = system.asterisk
    app = system.config["sms"]["ari_app"]
    url = f"{ari.ari_url}ari/applications/{app}/subscription"
    auth = (ari.ari_user, ari.ari_password)
    httpx.delete(url, params={"eventSource": "endpoint:PJSIP"}, auth=auth, timeout=5).raise_for_status()
    try:
        with SippMessageSender(ari.sip_uri("1650"), "hello", caller_number=CUSTOMER, timeout=6) as sender:
            assert sender.wait(15) != 0
            assert "SIP/2.0 404" in sender.messages()
    finally:
        system.sms_gateway._subscribe()   # as on a reconnection
    with SippMessageSender(ari.sip_uri("1650"), "hello again", caller_number=CUSTOMER) as sender:
        assert sender.wait(15) == 0, sender.logs()


def _last_call(system):
    with system.sessions() as s:
        return s.scalars(select(CallRecord).where(CallRecord.caller_number == CUSTOMER)
                         .order_by(CallRecord.id.desc())).first()
