"""Intake channels (docs/intake.md): approval line, e-mail parsing, threading,
customer matching, size limits and pops, on a seeded SQLite database."""
from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from cti import events
from cti.intake import approval, forms, mail
from cti.intake.attachments import AttachmentStore, clean_original_name
from cti.intake.service import IntakeService, Refused
from db.models import (OneStopRequest, Ticket, TicketAttachment, TicketEvent, TicketMessage, User)

A, B, C = 11, 12, 13


# ---- approval line (pure) --------------------------------------------------------------
def test_approval_line_approves_in_order():
    line = approval.Line.start([A, B])
    assert (line.status, line.current_step, line.current_approver) == ("pending", 0, A)
    line = approval.decide(line, A, "approved")
    assert (line.status, line.current_step, line.current_approver) == ("pending", 1, B)
    line = approval.decide(line, B, "approved")
    assert (line.status, line.current_step, line.current_approver) == ("approved", None, None)
    assert line.decisions == ("approved", "approved")


def test_approval_line_rejection_skips_the_rest():
    line = approval.decide(approval.Line.start([A, B, C]), A, "approved")
    line = approval.decide(line, B, "rejected")
    assert line.status == "rejected"
    assert line.decisions == ("approved", "rejected", "skipped")
    with pytest.raises(approval.AlreadyDecided):
        approval.decide(line, C, "approved")


def test_approval_line_refuses_out_of_turn_and_unknown_decisions():
    line = approval.Line.start([A, B])
    with pytest.raises(approval.NotYourStep):
        approval.decide(line, B, "approved")      # step 2's approver before step 1
    with pytest.raises(approval.ApprovalError):
        approval.decide(line, A, "maybe")
    with pytest.raises(approval.EmptyLine):
        approval.Line.start([])
    assert approval.decide(line, A, "approved").decisions == ("approved", "pending")


# ---- parsing (pure) ----------------------------------------------------------------------
def make_mail(sender="Hong <GilDong.Hong@example.com>", subject="Printer is broken", body="It jams.",
              msgid="<m1@example.com>", in_reply_to=None, references=None, attachments=(), html=None) -> bytes:
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = "helpdesk@happycall.test"
    msg["Subject"] = subject
    if msgid:
        msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=policy.SMTP)   # CRLF line ends, as on the wire


def test_parse_reads_sender_subject_body_and_attachments():
    raw = make_mail(attachments=[("../../etc/passwd", "application/octet-stream", b"\x00\x01secret"),
                                 ("로그.txt", "text/plain", "한글 로그".encode())])
    parsed = mail.parse(raw)
    assert parsed.from_address == "GilDong.Hong@example.com"
    assert parsed.from_name == "Hong"
    assert parsed.subject == "Printer is broken"
    assert parsed.body_text == "It jams."
    assert parsed.message_id == "<m1@example.com>"
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("../../etc/passwd", "application/octet-stream", b"\x00\x01secret"),
        ("로그.txt", "text/plain", "한글 로그".encode())]
    assert parsed.size_bytes == len(raw)


def test_parse_html_only_body_becomes_text_without_scripts():
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "html"
    msg.set_content("<p>Screen <b>black</b></p><script>alert(1)</script><p>since Monday</p>", subtype="html")
    assert mail.parse(msg.as_bytes()).body_text == "Screen black\nsince Monday"


def test_parse_korean_encoded_headers_and_threading_keys():
    raw = make_mail(sender="=?utf-8?b?7ZmN6ri464+Z?= <x@example.com>", subject="Re: 프린터 [inc-000042]",
                    in_reply_to="<a@x>", references="<root@x> <a@x>")
    parsed = mail.parse(raw)
    assert parsed.from_name == "홍길동"
    assert parsed.incident_tag == "INC-000042"
    assert parsed.thread_ids == ("<a@x>", "<root@x>")


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty"),
    (b"this is not an e-mail at all\n", "no From"),
    (b"From: nobody\r\nSubject: x\r\n\r\nbody\r\n", "no usable address"),
    (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\nno parts here\r\n",
     "broken MIME"),
])
def test_parse_refuses_malformed(raw, reason):
    with pytest.raises(mail.MalformedMessage, match=reason):
        mail.parse(raw)


def test_parse_keeps_a_body_with_a_lying_charset():
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n"
           b"caf\xc3\xa9\r\n")
    assert mail.parse(raw).body_text == "café"


def test_original_names_are_information_only(tmp_path):
    assert clean_original_name("..\\..\\win.ini") == "win.ini"
    assert clean_original_name("a\x00b\nc.txt") == "abc.txt"
    assert clean_original_name("..") == "attachment"
    store = AttachmentStore(tmp_path)
    name = store.save(b"x")
    assert store.path(name).read_bytes() == b"x"
    assert oct(store.path(name).stat().st_mode & 0o777) == "0o600"
    for bad in ("../x.bin", "/etc/passwd", name + "/.."):
        with pytest.raises(ValueError):
            store.path(bad)


def test_form_clean_rules():
    sub = forms.clean(" Kim ", "100100", "", "  Monitor\n flickers ", "line 1\nline 2\x07")
    assert (sub.name, sub.subject, sub.description) == ("Kim", "Monitor flickers", "line 1\nline 2")
    with pytest.raises(forms.InvalidSubmission) as err:
        forms.clean("Kim", "", "", "s", "d")
    assert err.value.field == "identifier"
    with pytest.raises(forms.InvalidSubmission):
        forms.clean("Kim", "100100", "", "s" * 201, "d")


# ---- the service on a database -----------------------------------------------------------
@pytest.fixture
def intake(db, bus, clock, tmp_path):
    factory, _ = db
    service = IntakeService(factory, bus, AttachmentStore(tmp_path / "att"), max_bytes=200_000, clock=clock)
    yield service
    service.close()


@pytest.fixture
def pops(bus):
    got = []
    bus.subscribe(events.SCREENPOP, lambda _t, payload: got.append(payload))
    return got


def user_id(db, username):
    with db[0]() as s:
        return s.scalar(select(User.id).where(User.username == username))


def load_ticket(db, ticket_id):
    with db[0]() as s:
        t = s.get(Ticket, ticket_id)
        return {"channel": t.channel, "status": t.status, "customer": t.customer.name if t.customer else None,
                "agent_id": t.agent_id, "request": t.request, "incident_id": t.incident_id,
                "events": [e.kind for e in t.events],
                "messages": [(m.subject, m.sender_known) for m in
                             s.scalars(select(TicketMessage).where(TicketMessage.ticket_id == t.id))]}


def test_email_from_a_customer_opens_a_ticket_with_attachments(db, intake, tmp_path):
    raw = make_mail(attachments=[("../../evil.sh", "application/x-sh", b"#!/bin/sh\nrm -rf /\n")])
    got = intake.receive_email(raw)
    assert not got.threaded and got.customer_known
    t = load_ticket(db, got.ticket_id)
    assert t["channel"] == "email" and t["status"] == "queued"
    assert t["customer"] == "홍길동 (Hong Gildong)"          # matched by e-mail, any case
    assert t["request"] == "Printer is broken\n\nIt jams."
    assert t["events"][:4] == ["created", "identified", "queued", "message_received"]
    with db[0]() as s:
        att = s.scalars(select(TicketAttachment)).one()
        assert (att.original_name, att.content_type, att.size_bytes) == ("evil.sh", "application/x-sh", 19)
    files = list((tmp_path / "att").iterdir())
    assert [f.name for f in files] == [att.stored_name]
    assert files[0].read_bytes() == b"#!/bin/sh\nrm -rf /\n"


def test_unknown_sender_gets_a_flagged_ticket(db, intake):
    got = intake.receive_email(make_mail(sender="stranger@elsewhere.test"))
    t = load_ticket(db, got.ticket_id)
    assert t["customer"] is None and not got.customer_known
    assert "unidentified" in t["events"]
    assert t["messages"] == [("Printer is broken", False)]


def test_replies_thread_by_message_id_and_by_tag(db, intake):
    first = intake.receive_email(make_mail(msgid="<root@example.com>"))
    reply = intake.receive_email(make_mail(subject="Re: Printer", msgid="<r1@example.com>",
                                           in_reply_to="<root@example.com>"))
    deep = intake.receive_email(make_mail(subject="Re: Re: Printer", msgid="<r2@example.com>",
                                          references="<root@example.com> <unknown@x>"))
    tagged = intake.receive_email(make_mail(subject=f"more [{first.incident_id}]", msgid="<r3@example.com>"))
    assert {reply.ticket_id, deep.ticket_id, tagged.ticket_id} == {first.ticket_id}
    assert reply.threaded and deep.threaded and tagged.threaded
    assert len(load_ticket(db, first.ticket_id)["messages"]) == 4


def test_a_stranger_cannot_thread_onto_a_ticket_by_its_tag(db, intake):
    first = intake.receive_email(make_mail())
    other = intake.receive_email(make_mail(sender="mallory@evil.test", subject=f"[{first.incident_id}] x",
                                           msgid="<m9@evil.test>"))
    assert other.ticket_id != first.ticket_id and not other.threaded


def test_oversized_and_malformed_are_refused_and_nothing_is_stored(db, intake, tmp_path):
    big = make_mail(attachments=[("big.bin", "application/octet-stream", b"x" * 200_000)])
    with pytest.raises(Refused) as err:
        intake.receive_email(big)
    assert err.value.smtp_reply.startswith("552 ")
    with pytest.raises(Refused) as err:
        intake.receive_email(b"garbage without headers\r\n")
    assert err.value.smtp_reply.startswith("554 5.6.0") and "From" in err.value.smtp_reply
    with db[0]() as s:
        assert s.scalar(select(Ticket.id)) is None
    assert not (tmp_path / "att").exists() or not list((tmp_path / "att").iterdir())


def test_new_ticket_pops_on_a_ready_agent_or_waits_for_one(db, intake, call_center, pops):
    agent1 = user_id(db, "agent1")
    waiting = intake.receive_email(make_mail())
    assert pops == [] and load_ticket(db, waiting.ticket_id)["agent_id"] is None
    call_center.set_agent_state(agent1, "ready")      # the waiting ticket goes to agent1 now
    assert [p["agent_id"] for p in pops] == [agent1]
    pop = pops[0]["pop"]
    assert (pop["type"], pop["channel"], pop["incident_id"], pop["customer_known"]) == \
        ("email", "email", waiting.incident_id, True)
    t = load_ticket(db, waiting.ticket_id)
    assert t["agent_id"] == agent1 and "popped" in t["events"] and t["status"] == "queued"
    agent2 = user_id(db, "agent2")
    call_center.set_agent_state(agent2, "ready")
    second = intake.receive_email(make_mail(msgid="<m2@example.com>", subject="other"))
    # agent1 already has an open e-mail ticket: the next one goes to agent2.
    assert pops[-1]["agent_id"] == agent2 and pops[-1]["pop"]["ticket_id"] == second.ticket_id
    call_center.resolve(waiting.ticket_id, agent1, "Replaced the toner.")
    assert load_ticket(db, waiting.ticket_id)["status"] == "resolved"


def test_web_form_matches_pin_or_email(db, intake):
    by_pin = intake.submit_web_form(forms.clean("Kim", "100200", "010", "VPN", "cannot connect"))
    by_mail = intake.submit_web_form(forms.clean("Kim", "HOSEOK.jung@example.com", "", "VPN", "x"))
    nobody = intake.submit_web_form(forms.clean("Kim", "999999", "", "VPN", "x"))
    assert load_ticket(db, by_pin.ticket_id)["customer"] == "Choi Yuna"
    assert load_ticket(db, by_mail.ticket_id)["customer"] == "Jung Hoseok"
    assert load_ticket(db, nobody.ticket_id)["customer"] is None
    assert load_ticket(db, by_pin.ticket_id)["channel"] == "web"


def test_onestop_request_becomes_a_ticket_on_final_approval(db, intake, call_center, pops):
    approver1, supervisor = user_id(db, "approver1"), user_id(db, "super")
    agent1 = user_id(db, "agent1")
    call_center.set_agent_state(agent1, "ready")
    made = intake.submit_onestop("app_improvement", forms.clean("Kim", "100100", "", "Export to CSV", "please"))
    assert (made["status"], made["approver_id"]) == ("pending", approver1)
    assert intake.pending_for(approver1)[0]["id"] == made["request_id"]
    assert intake.pending_for(supervisor) == []
    with pytest.raises(approval.NotYourStep):
        intake.decide(made["request_id"], supervisor, "approved")
    step1 = intake.decide(made["request_id"], approver1, "approved", "ok by me")
    assert (step1["status"], step1["current_approver"], step1["ticket_id"]) == ("pending", supervisor, None)
    assert pops == []
    done = intake.decide(made["request_id"], supervisor, "approved")
    assert done["status"] == "approved" and done["ticket_id"]
    t = load_ticket(db, done["ticket_id"])
    assert (t["channel"], t["customer"]) == ("onestop", "홍길동 (Hong Gildong)")
    assert pops[-1]["pop"]["type"] == "onestop" and pops[-1]["agent_id"] == agent1
    assert [s["comment"] for s in done["steps"]] == ["ok by me", ""]


def test_rejected_onestop_request_never_becomes_a_ticket(db, intake):
    approver1 = user_id(db, "approver1")
    made = intake.submit_onestop("pc", forms.clean("Kim", "100100", "", "New laptop", "old one is slow"))
    out = intake.decide(made["request_id"], approver1, "rejected", "budget")
    assert out["status"] == "rejected" and out["ticket_id"] is None
    with pytest.raises(approval.AlreadyDecided):
        intake.decide(made["request_id"], approver1, "approved")
    with db[0]() as s:
        assert s.scalar(select(Ticket.id)) is None
        assert s.get(OneStopRequest, made["request_id"]).decided_at is not None
        assert s.scalar(select(TicketEvent.id)) is None
