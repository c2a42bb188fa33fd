"""The satisfaction survey end to end (docs/surveys.md): real Asterisk, the
system's survey runner on the real clock, SIPp as the customer's phone.

* The survey call is answered by a SIPp UAS that says a short "hello" (answering-
  machine detection: a person), then keys 4, 2, 1 over RFC 2833: the rating and
  the answers are stored as a phone reply.
* A UAS that answers with a long recorded greeting is judged a machine by
  Asterisk's AMD(): hung up, and the survey falls back to e-mail.
* A survey call nobody answers falls back to an e-mail caught by a real SMTP
  server (aiosmtpd); its signed link opens the web form once.
* A reply to that e-mail, sent over SMTP to the system's intake listener, is the
  survey's reply (classified, stored), not a new ticket."""
from __future__ import annotations

import logging
import re
import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from cti.config import load
from db.models import Customer, Survey, SurveyAttempt, Ticket
from ivr.system import System
from support import asterisk as pbx_support
from pathlib import Path

from support.sipp import SippPhone, dtmf_block, free_port, read_wav_ulaw, write_rtp_pcap
from support.smtp_sink import smtp_sink
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e]


SPEECH = Path(__file__).parent / "data" / "asr"
ACK = '<recv request="ACK" crlf="true" />'


def hello() -> bytes:
    """Half a second of one spoken word (0.3-0.8 s of e01a.wav is voiced without a
    pause): how a person answers the phone."""
    return read_wav_ulaw(SPEECH / "e01a.wav")[int(0.3 * 8000):int(0.8 * 8000)]


class KeyingPhone(SippPhone):
    """A customer's phone that answers with a short "hello", is silent ``pause``
    seconds (answering-machine detection hears a person; the questions start),
    keys ``digits`` (RFC 2833; ',' is a one-second pause), then waits for the far
    end to hang up."""

    name = "survey-phone"

    def __init__(self, digits: str, pause: float = 2.5, **kwargs):
        self.digits, self.pause = digits, pause
        super().__init__(mode="answer", **kwargs)

    def _scenario(self) -> str:
        text = super()._scenario()
        pcap = self.dir / "keys.pcap"
        digits_end, _ = write_rtp_pcap(pcap, self.digits, silence_ms=int(self.talk_seconds * 1000),
                                       greeting=hello(), after_greeting_ms=int(self.pause * 1000))
        assert ACK in text
        return text.replace(ACK, "\n".join((ACK, dtmf_block(pcap, digits_end))), 1)


class AnsweringMachine(SippPhone):
    """Answers and plays a long recorded greeting (two spoken sentences, 8 s, no
    pause long enough for a person's "hello?"), then silence until hung up."""

    name = "answering-machine"

    def __init__(self, **kwargs):
        super().__init__(mode="answer", **kwargs)

    def _scenario(self) -> str:
        text = super()._scenario()
        pcap = self.dir / "greeting.pcap"
        speech = read_wav_ulaw(SPEECH / "e01a.wav") + read_wav_ulaw(SPEECH / "e02a.wav")
        write_rtp_pcap(pcap, audio=speech, silence_ms=int(self.talk_seconds * 1000))
        play = '  <nop display="greeting"><action><exec play_pcap_audio="%s" /></action></nop>' % pcap
        assert ACK in text
        return text.replace(ACK, "\n".join((ACK, play)), 1)


@pytest.fixture(scope="module")
def sink():
    with smtp_sink() as s:
        yield s


@pytest.fixture(scope="module")
def system(tmp_path_factory, sink):
    from ivr.pbx.provision import ensure_root

    ensure_root(pbx_support.test_root())
    data = tmp_path_factory.mktemp("e2e-survey")
    phone_port = free_port(udp=True, tcp=False)
    config = load(environ={}, overrides={
        "data": {"dir": str(data)},
        "asterisk": pbx_support.asterisk_config(),
        "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir()), "pin_first_digit_timeout": 4.0},
        "asr": {"enabled": False},
        "mail": sink.mail_config(),
        # The intake listener also accepts the centres' addresses (the survey e-mails' Reply-To).
        "mail_intake": {"enabled": True, "port": 0},
        "web": {"port": free_port(udp=False, tcp=True), "secret_key": "e2e-survey"},
        # Surveys at once, polled often; every customer number rings the one SIPp phone.
        "surveys": {"delay_minutes": 0.0, "poll_seconds": 0.2, "call_ring_seconds": 5.0,
                    "call_dial": "PJSIP/phones/sip:{number}@127.0.0.1:%d" % phone_port},
    })
    sys_ = System(config, echo=lambda *_: None, instance_name="test-e2e-survey")
    sys_.phone_port = phone_port
    sys_.start()
    yield sys_
    sys_.stop()


def resolve_ticket(system, pin: str, tag: str = "") -> int:
    """A ticket of the customer, resolved now (as any channel would leave it)."""
    with system.sessions.begin() as s:
        customer = s.scalar(select(Customer).where(Customer.pin == pin))
        ticket = Ticket(incident_id=f"E2E-{pin}{tag}", channel="phone", status="resolved", customer_id=customer.id,
                        language="ko", request="printer jams", resolution="roller replaced")
        s.add(ticket)
        s.flush()
        ticket.resolved_at = ticket.created_at
        return ticket.id


def survey_of(system, ticket_id):
    with system.sessions() as s:
        return s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))


def test_answered_survey_call_stores_the_keyed_rating(system, caplog):
    caplog.set_level(logging.INFO, logger="ivr.stasis")
    phone = KeyingPhone("4,2,1", port=system.phone_port, ring_seconds=0.3, talk_seconds=30)
    phone.start()
    try:
        ticket = resolve_ticket(system, "100100")
        survey = wait_for(lambda: (sv := survey_of(system, ticket)) is not None and sv.rating is not None and sv,
                          timeout=40, what="the keyed rating stored")
        assert (survey.rating, survey.trouble_again, survey.staff_kind, survey.channel, survey.state) == \
            (4, False, True, "phone", "answered")
        assert phone.wait(30) == 0, phone.logs()         # we hung up after thanking
        assert phone.calls_received() == 1
        assert "sip:025550101@" in phone.messages()     # the customer's number, dialled
        got = wait_for(lambda: [a for a in system.surveys.survey(survey.id)["attempts"] if a["channel"] == "phone"],
                       timeout=10, what="the call's attempt")
        assert got[0]["outcome"] == "answered"
        assert "answering-machine detection says HUMAN" in caplog.text     # judged, not guessed
    finally:
        phone.stop()


def test_answering_machine_is_not_reached_and_the_survey_falls_back_to_e_mail(system, sink):
    phone = AnsweringMachine(port=system.phone_port, ring_seconds=0.3, talk_seconds=20)
    phone.start()
    try:
        before = len(sink.messages)
        ticket = resolve_ticket(system, "100300", "-machine")
        [*_, msg] = sink.wait(before + 1, timeout=40)
        assert msg["X-Envelope-To"] == "hoseok.jung@example.com"
        survey = survey_of(system, ticket)
        assert (survey.state, survey.rating) == ("messaged", None)
        [call] = [a for a in system.surveys.survey(survey.id)["attempts"] if a["channel"] == "phone"]
        assert call["outcome"] == "machine"
        with system.sessions() as s:
            detail = s.scalar(select(SurveyAttempt.detail).where(SurveyAttempt.survey_id == survey.id,
                                                                 SurveyAttempt.channel == "phone"))
        assert detail.startswith("AMD MACHINE")
        assert phone.wait(15) == 0, phone.logs()         # we hung up on the machine
        assert "BYE sip:" in phone.messages()
    finally:
        phone.stop()


def test_unanswered_call_leads_to_an_e_mail_whose_link_works_once(system, sink):
    phone = SippPhone(port=system.phone_port, mode="noanswer", ring_seconds=20)
    phone.start()
    try:
        before = len(sink.messages)
        ticket = resolve_ticket(system, "100300")
        [*_, msg] = sink.wait(before + 1, timeout=40)
        survey = survey_of(system, ticket)
        assert survey.state == "messaged"
        assert msg["X-Envelope-To"] == "hoseok.jung@example.com"
        assert msg["From"].addresses[0].addr_spec == "seoul-centre@happycall.local"
        attempts = system.surveys.survey(survey.id)["attempts"]
        assert attempts[0]["channel"] == "phone" and attempts[0]["outcome"] == "no_answer"
    finally:
        phone.stop()
    token = re.search(r"/survey/([A-Za-z0-9_.\-]+)", msg.get_content()).group(1)
    client = system.web_app.test_client()
    page = client.get(f"/survey/{token}")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"csrf_token": csrf, "rating": "2", "trouble_again": "yes", "staff_kind": "yes", "comment": "또 고장"}
    assert client.post(f"/survey/{token}", data=form).status_code == 200
    assert client.post(f"/survey/{token}", data=form).status_code == 410
    survey = survey_of(system, ticket)
    assert (survey.state, survey.rating, survey.channel, survey.reply_term) == \
        ("answered", 2, "web", "repeated_trouble")


def test_reply_e_mail_over_smtp_is_the_surveys_reply_not_a_ticket(system, sink):
    phone = SippPhone(port=system.phone_port, mode="noanswer", ring_seconds=20)
    phone.start()
    try:
        before = len(sink.messages)
        ticket = resolve_ticket(system, "100300", "-mail")
        [*_, sent] = sink.wait(before + 1, timeout=40)
    finally:
        phone.stop()
    survey = survey_of(system, ticket)
    assert survey.state == "messaged"
    reply = EmailMessage()
    reply["From"] = "Hoseok Jung <hoseok.jung@example.com>"
    reply["To"] = str(sent["Reply-To"])
    reply["Subject"] = "Re: " + sent["Subject"]
    reply["In-Reply-To"] = sent["Message-ID"]
    reply["References"] = sent["Message-ID"]
    quoted = "\n".join("> " + line for line in sent.get_content().splitlines())
    reply.set_content(f"1 1 2 또 고장났어요\n\nOn Thu, 26 Nov 2026, 서울 서비스센터 wrote:\n{quoted}\n")
    with system.sessions() as s:
        tickets_before = s.query(Ticket).count()
    listener = system.mail_listener
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as smtp:
        refused = smtp.send_message(reply, to_addrs=[sent["Reply-To"].addresses[0].addr_spec])
        assert refused == {}
    survey = wait_for(lambda: (sv := survey_of(system, ticket)).state == "answered" and sv, timeout=10,
                      what="the e-mail reply stored")
    assert (survey.channel, survey.rating, survey.trouble_again, survey.staff_kind, survey.reply_term) == \
        ("email", 1, True, False, "repeated_trouble")
    assert survey.comment == "또 고장났어요"
    with system.sessions() as s:
        new = s.scalars(select(Ticket).order_by(Ticket.id.desc())).all()[: s.query(Ticket).count() - tickets_before]
        assert [t.channel for t in new] == ["survey"]      # the follow-up of the repeated trouble only
    replies = system.surveys.survey(survey.id)["replies"]
    assert [(r["channel"], r["term"]) for r in replies] == [("email", "repeated_trouble")]
