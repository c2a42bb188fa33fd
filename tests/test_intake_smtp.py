"""The SMTP listener over real SMTP (smtplib on loopback): messages become
tickets, replies thread, bad input gets a clear 5xx, and the listener survives."""
from __future__ import annotations

import smtplib
import threading

import pytest
from sqlalchemy import select

from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.intake.smtp import SmtpListener
from db.models import Ticket, TicketMessage
from test_intake import make_mail

CENTRE = "helpdesk@happycall.test"


@pytest.fixture
def listener(db, bus, tmp_path):
    intake = IntakeService(db[0], bus, AttachmentStore(tmp_path / "att"), max_bytes=50_000)
    smtp = SmtpListener(intake, "127.0.0.1", 0, CENTRE)
    smtp.start()
    yield smtp
    smtp.stop()
    intake.close()


def send(listener, raw: bytes, to=CENTRE, sender="gildong.hong@example.com"):
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        return client.sendmail(sender, [to], raw)


def tickets(db):
    with db[0]() as s:
        return s.execute(select(Ticket.id, Ticket.channel, Ticket.customer_id)).all()


def test_message_becomes_ticket_and_reply_threads(db, listener):
    assert send(listener, make_mail(msgid="<root@example.com>")) == {}
    assert send(listener, make_mail(subject="Re: Printer", msgid="<r@example.com>",
                                    in_reply_to="<root@example.com>")) == {}
    rows = tickets(db)
    assert len(rows) == 1 and rows[0].channel == "email" and rows[0].customer_id is not None
    with db[0]() as s:
        assert s.scalars(select(TicketMessage.message_id).order_by(TicketMessage.id)).all() == \
            ["<root@example.com>", "<r@example.com>"]


def test_bad_input_gets_a_clear_5xx_and_the_listener_goes_on(db, listener):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        send(listener, make_mail(), to="someone@elsewhere.test")
    assert err.value.recipients["someone@elsewhere.test"][0] == 550
    big = make_mail(body="a line of the log\n" * 3_500)         # ~60 kB, over max_bytes
    with pytest.raises(smtplib.SMTPDataError) as err:
        send(listener, big)
    assert err.value.smtp_code == 552 and b"at most 50000 bytes" in err.value.smtp_error
    huge = b"From: a@example.com\r\nSubject: x\r\n\r\n" + b"y" * 70 + b"\r\n" * 1_700 * 72
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as err:
        send(listener, huge)        # past aiosmtpd's own cap (2 x max): refused before it is stored
    assert err.value.smtp_code == 552
    with pytest.raises(smtplib.SMTPDataError) as err:
        send(listener, b"no headers, just text\r\n")
    assert err.value.smtp_code == 554 and b"Malformed" in err.value.smtp_error
    assert tickets(db) == []
    assert send(listener, make_mail(sender="stranger@elsewhere.test")) == {}
    rows = tickets(db)
    assert len(rows) == 1 and rows[0].customer_id is None      # unknown sender: flagged, kept


def test_a_failing_store_is_a_451_not_a_crash(db, listener, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("database is gone")
    monkeypatch.setattr(listener._intake, "receive_email", broken)
    with pytest.raises(smtplib.SMTPDataError) as err:
        send(listener, make_mail())
    assert err.value.smtp_code == 451
    monkeypatch.undo()
    assert send(listener, make_mail()) == {}


def test_system_starts_and_joins_the_listener(tmp_path):
    from cti.config import load
    from ivr.system import System

    config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "d")},
                                         "mail_intake": {"port": 0, "address": CENTRE}})
    before = set(threading.enumerate())
    system = System(config, echo=lambda *_: None)
    try:
        system.start_database()
        system.start_mail_intake()
        assert system.mail_listener.running
        assert send(system.mail_listener, make_mail()) == {}
        with system.sessions() as s:
            assert s.scalar(select(Ticket.channel)) == "email"
    finally:
        system.stop()
    assert system.mail_listener is None
    assert set(threading.enumerate()) - before == set()


def test_a_busy_port_does_not_stop_the_system(tmp_path):
    import socket

    from cti.config import load
    from ivr.system import System

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = []
        config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "d")}, "mail_intake": {"port": port}})
        system = System(config, echo=said.append)
        try:
            system.start_database()
            system.start_mail_intake()
            assert system.mail_listener is None
            assert any("NOT running" in line for line in said)
        finally:
            system.stop()
