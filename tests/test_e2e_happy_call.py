"""The happy call end to end: real Asterisk, a SIPp UAS as the customer's phone,
real SMTP (aiosmtpd).  A progress update on a severity-1 ticket makes the
system call the customer, who hears the greeting, the request number, the
status and the update's text spoken by espeak-ng at run time; the outcome is
stored.  When nobody answers, the customer gets the update by e-mail.  A
severity-1 ticket nobody updates is flagged overdue and the customer is called
("still being worked on").

The tests share one system (one database, one Asterisk) and one customer phone
number, so each test closes its tickets and their timers when it ends
(``tickets_closed_after``): the overdue test moves the clock 31 minutes on, and
an earlier test's open severity-1 ticket would otherwise fall overdue with it
and be called first, taking the one answer the SIPp phone gives.  Each test
also sets the customer's language itself rather than relying on test order."""
from __future__ import annotations

import datetime as dt
import tempfile
import time
import wave
from pathlib import Path

import pytest
from sqlalchemy import select, update

from cti.config import load
from cti.clock import utc_now
from db.models import Customer, HappyCall, ScheduledJob, Ticket, TicketEvent, User
from ivr.prompts import synthesize
from ivr.system import System
from support.played import played  # noqa: F401 - pytest fixture
from support import asterisk as pbx_support
from support.sipp import SippPhone, free_port
from support.smtp_sink import smtp_sink
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e]

CUSTOMER_NUMBER = "025550101"     # customer 100100's phone 02-555-0101, as dialled
UPDATE = "The database server was restarted and is being checked now."


@pytest.fixture(scope="module")
def sink():
    with smtp_sink() as s:
        yield s


@pytest.fixture(scope="module")
def system(tmp_path_factory, sink):
    from ivr.pbx.provision import ensure_root

    ensure_root(pbx_support.test_root())
    data = tmp_path_factory.mktemp("e2e-happy")
    customer_port = free_port(udp=True, tcp=False)
    config = load(environ={}, overrides={
        "data": {"dir": str(data)},
        "asterisk": pbx_support.asterisk_config(),
        "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
        "acd": {"callback_dial": "PJSIP/phones/sip:{number}@127.0.0.1:%d" % customer_port},
        "happy_call": {"ring_seconds": 6.0, "max_attempts": 1, "poll_seconds": 0.5},
        "escalation": {"enabled": False},
        "mail": sink.mail_config(),
        "mail_intake": {"enabled": False},
        "asr": {"enabled": False},
        "web": {"port": free_port(udp=False, tcp=True), "secret_key": "e2e-happy"},
    })
    sys_ = System(config, echo=lambda *_: None, instance_name="test-e2e-happy")
    sys_.customer_port = customer_port
    sys_.start()
    yield sys_
    sys_.stop()


@pytest.fixture(autouse=True)
def tickets_closed_after(system):
    """Every ticket a test opened is resolved and its timers cancelled when the
    test ends, and no happy call is left in flight: the next test starts with
    nothing pending that a moved clock could fire."""
    yield
    wait_for(lambda: not _happy_calls_in_flight(system), timeout=30, what="happy calls to settle")
    with system.sessions.begin() as s:
        s.execute(update(ScheduledJob).where(ScheduledJob.status == "pending").values(status="cancelled"))
        s.execute(update(Ticket).where(Ticket.status != "resolved").values(status="resolved",
                                                                            resolved_at=utc_now()))


def _happy_calls_in_flight(system) -> bool:
    with system.sessions() as s:
        return s.scalar(select(HappyCall.id).where(HappyCall.state.in_(("queued", "dialing"))).limit(1)) is not None


def english_customer(system) -> None:
    with system.sessions.begin() as s:
        s.execute(update(Customer).where(Customer.pin == "100100").values(language="en"))


def severity_1_ticket(system) -> tuple[int, str, int]:
    """An open severity-1 ticket of customer 100100 handled by agent1."""
    with system.sessions.begin() as s:
        customer = s.scalar(select(Customer).where(Customer.pin == "100100"))
        agent = s.scalar(select(User).where(User.username == "agent1"))
        ticket = Ticket(incident_id=f"INC-9{int(time.time() * 1000) % 100000:05d}", channel="phone",
                        status="in_progress", customer_id=customer.id, agent_id=agent.id, severity=1,
                        system="erp", language="en")
        s.add(ticket)
        s.flush()
        return ticket.id, ticket.incident_id, agent.id


def happy_row(system, ticket_id):
    with system.sessions() as s:
        return s.scalar(select(HappyCall).where(HappyCall.ticket_id == ticket_id).order_by(HappyCall.id.desc()))


def ticket_events(system, ticket_id):
    with system.sessions() as s:
        return [(e.kind, e.detail) for e in s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind.like("happy_call%")).order_by(TicketEvent.id))]


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_a_progress_update_calls_the_customer_who_hears_the_status_and_the_text(system, played, sink):
    english_customer(system)
    ticket_id, incident, agent_id = severity_1_ticket(system)
    mails_before = len(sink.messages)
    with SippPhone(port=system.customer_port, mode="answer", ring_seconds=0.5, talk_seconds=90) as phone:
        system.escalation.add_progress(ticket_id, agent_id, UPDATE)
        row = wait_for(lambda: (r := happy_row(system, ticket_id)) and r.state == "answered" and r,
                       timeout=30, what="the happy call answered")
        answered_at = time.monotonic()
        assert phone.wait(60) == 0, phone.logs()          # we hung up after the message
        heard_for = time.monotonic() - answered_at
        assert "INVITE sip:%s@" % CUSTOMER_NUMBER in phone.messages()
    assert row.attempts == 1 and row.number == CUSTOMER_NUMBER
    [media] = [m for _, m in played if "happy_greeting" in m]
    digits = [d for d in incident if d.isdigit()]
    names = [part.rsplit("/", 1)[1] for part in media.split(",")]
    assert names[:2] == ["happy_greeting", "happy_your_request"]
    assert names[2:2 + len("".join(digits).lstrip("0"))] == [f"digit_{d}" for d in "".join(digits).lstrip("0")]
    assert names[-3:] == ["happy_status_progress", f"hc-{row.id}-1", "happy_goodbye"]
    assert all(part.startswith("sound:happycall/en/") for part in media.split(",") if "hc-" not in part)
    assert f"sound:happycall-tts/hc-{row.id}-1" in media
    # The spoken text was really played: the call lasted at least as long as every
    # prompt plus the text (a missing file would be skipped and the call shorter).
    prompts = pbx_support.test_prompts_dir(generate=False) / "generated" / "en"
    fixed = sum(wav_seconds(prompts / f"{n}.wav") for n in names if not n.startswith("hc-"))
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(UPDATE, "en", Path(tmp) / "t.wav")
        text_s = wav_seconds(Path(tmp) / "t.wav")
    assert heard_for >= fixed + text_s - 1.0, (heard_for, fixed, text_s)
    # Outcome stored; the file of the spoken text is gone; nobody was e-mailed.
    assert [(k, d["outcome"]) for k, d in ticket_events(system, ticket_id)] == [
        ("happy_call_attempt", "answered"), ("happy_call", "answered")]
    assert not (system.asterisk.sounds_dir / "happycall-tts" / f"hc-{row.id}-1.wav").exists()
    time.sleep(0.5)
    assert len(sink.messages) == mails_before


def test_an_unanswered_happy_call_becomes_an_e_mail(system, sink):
    ticket_id, incident, agent_id = severity_1_ticket(system)
    mails_before = len(sink.messages)
    with SippPhone(port=system.customer_port, mode="noanswer", ring_seconds=30):
        system.escalation.add_progress(ticket_id, agent_id, "Spare parts <ordered>")
        row = wait_for(lambda: (r := happy_row(system, ticket_id)) and r.state == "messaged" and r,
                       timeout=40, what="the happy call to end in an e-mail")
    assert row.last_outcome == "no_answer" and row.attempts == 1
    messages = sink.wait(mails_before + 1, timeout=10)[mails_before:]
    [msg] = [m for m in messages if incident in m["Subject"]]
    assert msg["X-Envelope-To"] == "gildong.hong@example.com"
    assert "could not reach you" in msg.get_content() and "Spare parts <ordered>" in msg.get_content()
    assert [(k, d["outcome"]) for k, d in ticket_events(system, ticket_id)] == [
        ("happy_call_attempt", "no_answer"), ("happy_call", "messaged")]


def test_a_busy_customer_is_messaged_too(system, sink):
    # Nobody listens at this port: the SIP request fails, Asterisk reports a cause, the
    # attempt ends as busy/failed/no answer, and the e-mail goes out.
    ticket_id, incident, agent_id = severity_1_ticket(system)
    mails_before = len(sink.messages)
    system.escalation.add_progress(ticket_id, agent_id, "Update")
    row = wait_for(lambda: (r := happy_row(system, ticket_id)) and r.state == "messaged" and r,
                   timeout=60, what="the unreachable customer to be messaged")
    assert row.last_outcome in ("failed", "no_answer", "busy") and row.attempts == 1
    assert any(incident in m["Subject"] for m in sink.wait(mails_before + 1, timeout=10))


def test_an_overdue_severity_1_ticket_is_flagged_and_the_customer_called(system, played, sink):
    # Issue 5: "a severity-1 ticket with no update triggers the overdue flag and an
    # outbound happy call answered by a SIPp UAS".
    english_customer(system)
    ticket_id, incident, agent_id = severity_1_ticket(system)
    system.escalation.start_first_level(ticket_id)          # the progress clock starts now (30 min)
    assert system.escalation.run_due(utc_now() + dt.timedelta(minutes=29)) == []
    mails_before = len(sink.messages)
    overdue_before = system.escalation.overdue_count()
    with SippPhone(port=system.customer_port, mode="answer", ring_seconds=0.5, talk_seconds=60) as phone:
        fired = system.escalation.run_due(utc_now() + dt.timedelta(minutes=31))
        assert fired == [("progress", ticket_id, "flagged")]
        row = wait_for(lambda: (r := happy_row(system, ticket_id)) and r.state == "answered" and r,
                       timeout=30, what="the overdue happy call answered")
        assert phone.wait(60) == 0, phone.logs()          # we hung up after the message
        assert "INVITE sip:%s@" % CUSTOMER_NUMBER in phone.messages()
    assert row.kind == "overdue" and row.attempts == 1 and row.text == ""
    with system.sessions() as s:
        assert s.get(Ticket, ticket_id).progress_overdue is True
    assert system.escalation.overdue_count() == overdue_before + 1     # the wallboard's figure
    [media] = [m for _, m in played if "happy_status_overdue" in m]
    names = [part.rsplit("/", 1)[1] for part in media.split(",")]
    digits = "".join(d for d in incident if d.isdigit()).lstrip("0")
    assert names == (["happy_greeting", "happy_your_request"] + [f"digit_{d}" for d in digits]
                     + ["happy_status_overdue", "happy_goodbye"])
    assert all(part.startswith("sound:happycall/en/") for part in media.split(","))
    kinds = [k for k, _ in _events(system, ticket_id)]
    assert kinds[0] == "progress_overdue" and [(k, d["outcome"]) for k, d in ticket_events(system, ticket_id)] == [
        ("happy_call_attempt", "answered"), ("happy_call", "answered")]
    # Flagged once: the next poll does not call again while nobody updates.
    assert system.escalation.run_due(utc_now() + dt.timedelta(minutes=62)) == []
    time.sleep(1.0)
    assert len([r for r in _rows(system, ticket_id)]) == 1
    assert len(sink.messages) == mails_before


def _events(system, ticket_id):
    with system.sessions() as s:
        return [(e.kind, e.detail) for e in s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(("progress_overdue", "happy_call"))
        ).order_by(TicketEvent.id))]


def _rows(system, ticket_id):
    with system.sessions() as s:
        return list(s.scalars(select(HappyCall).where(HappyCall.ticket_id == ticket_id)))
