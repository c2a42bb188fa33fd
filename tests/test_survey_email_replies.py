"""E-mail replies to a survey (issue 6, docs/surveys.md): the survey e-mail is sent
with a Message-ID kept on its attempt and a signed reference in its subject; an
inbound e-mail answering it (In-Reply-To / References, or the reference) is the
survey's reply -- classified, stored, duplicates change nothing, the incentive
once, repeated trouble opens one follow-up ticket -- and not a new intake
ticket.  A forged or unknown reference stays with the intake (a new ticket)."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.intake.smtp import SmtpListener
from cti.mailer import build_message
from cti.surveys import answers as terms
from cti.surveys import links, machine
from cti.surveys.tokens import TokenSigner
from db.models import SurveyAttempt, SurveyIncentive, SurveyReply, Ticket, TicketMessage
from test_surveys import Stack, _messaged_survey

QUOTE = ("\n\nOn Thu, 26 Nov 2026 at 10:00, 서울 서비스센터 <seoul-centre@happycall.local> wrote:\n"
         "> 1. How satisfied are you? (1 very dissatisfied .. 5 very satisfied)\n"
         "> 매우 불만족 dissatisfied again broken\n")


@pytest.fixture
def stack(db, bus, clock, config):
    return Stack(db, bus, clock, config)


def survey_mail(stack, survey_id):
    """The survey e-mail as sent (the fake mailer keeps what it was given)."""
    [sent] = [m for m in stack.mailer.sent if m["message_id"]]
    with stack.sessions() as s:
        attempt = s.scalar(select(SurveyAttempt).where(SurveyAttempt.survey_id == survey_id,
                                                       SurveyAttempt.channel == "email"))
    assert attempt.message_id == sent["message_id"]
    return sent


def reply_bytes(subject, body, *, in_reply_to="", references="", sender="gildong.hong@example.com") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Hong Gildong <{sender}>"
    msg["To"] = "seoul-centre@happycall.local"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    return bytes(msg)


def intake(stack, tmp_path):
    return IntakeService(stack.sessions, stack.bus, AttachmentStore(tmp_path / "attachments"),
                         claims=[links.EmailReplies(stack.service).claim])


def count(stack, model, **where):
    return stack.count(model, **where)


# ---- pure parts -----------------------------------------------------------------------------

def test_reply_reference_is_signed_and_found_in_a_reply_subject():
    signer = TokenSigner("k")
    ref = signer.reply_reference(42)
    assert ref.startswith("[S42-") and ref.endswith("]")
    assert signer.survey_of_subject(f"Re: [Seoul] How did we do? (INC-1) {ref}") == 42
    assert signer.survey_of_subject(f"RE: {ref.upper()}") == 42        # mail clients may change case
    assert signer.survey_of_subject(ref.replace("[S42-", "[S43-")) is None      # another id: forged
    assert TokenSigner("other").survey_of_subject(ref) is None                  # another key
    assert signer.survey_of_subject("Re: printer [S42-0000000000000000]") is None
    assert signer.survey_of_subject("") is None


@pytest.mark.parametrize("text,answers,words", [
    ("5 2 1 the printer works", {"rating": 5, "trouble_again": False, "staff_kind": True}, "the printer works"),
    ("4", {"rating": 4}, ""),
    ("3, thanks", {"rating": 3}, "thanks"),
    ("1 1 또 고장났어요", {"rating": 1, "trouble_again": True}, "또 고장났어요"),
    ("12 days later it broke", {}, "12 days later it broke"),
    ("the printer works", {}, "the printer works"),
])
def test_keys_at_the_start_of_an_e_mail_reply(text, answers, words):
    assert terms.keyed_text(text) == (answers, words)


@pytest.mark.parametrize("body", [
    "또 고장났어요" + QUOTE,
    "또 고장났어요\n\n2026년 11월 26일 (목) 오전 10:00, 서울 서비스센터 <a@b.kr>님이 작성:\n> 매우 만족\n",
    "또 고장났어요\n-----Original Message-----\nFrom: 서울 서비스센터\n매우 만족",
    "> quoted first\n또 고장났어요\n-- \nHong Gildong, ACME",
])
def test_the_customers_words_without_the_quoted_survey(body):
    assert terms.email_reply_text(body) == "또 고장났어요"


def test_build_message_keeps_the_message_id_it_is_given():
    msg = build_message("a@b.kr", "c@d.kr", "s", "b", message_id="<abc@b.kr>")
    assert msg["Message-ID"] == "<abc@b.kr>"
    assert build_message("a@b.kr", "c@d.kr", "s", "b")["Message-ID"].endswith("@b.kr>")


# ---- the service ------------------------------------------------------------------------------

def test_survey_e_mail_keeps_its_message_id_and_names_its_reference(stack):
    _, survey_id = _messaged_survey(stack)
    sent = survey_mail(stack, survey_id)
    assert sent["message_id"].endswith("@happycall.local>")
    ref = TokenSigner("test-key").reply_reference(survey_id)
    assert sent["subject"].endswith(ref)
    assert stack.service.survey_of_email("Re: whatever", [sent["message_id"]]) == survey_id
    assert stack.service.survey_of_email("Re: whatever", ["<x@y>", sent["message_id"]]) == survey_id
    assert stack.service.survey_of_email(f"Re: {ref}", []) == survey_id
    assert stack.service.survey_of_email("Re: whatever", ["<unknown@example.com>"]) is None
    assert stack.service.survey_of_email(ref.replace(f"[S{survey_id}-", f"[S{survey_id + 1}-"), []) is None
    assert stack.service.survey_of_email(TokenSigner("test-key").reply_reference(99999), []) is None  # no such survey


def test_e_mail_reply_is_classified_stored_and_opens_one_follow_up(stack, tmp_path):
    ticket, survey_id = _messaged_survey(stack)
    sent = survey_mail(stack, survey_id)
    service = intake(stack, tmp_path)
    tickets_before = count(stack, Ticket)
    raw = reply_bytes("Re: " + sent["subject"], "1 1 2 또 고장났어요. 프린터가 다시 걸립니다" + QUOTE,
                      in_reply_to=sent["message_id"], references=sent["message_id"])
    got = service.receive_email(raw, "gildong.hong@example.com")
    assert got.claimed and got.ticket_id is None and got.incident_id == f"survey S{survey_id}"
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.channel, survey.rating, survey.trouble_again, survey.staff_kind) == \
        (machine.ANSWERED, "email", 1, True, False)
    assert survey.reply_term == terms.REPEATED_TROUBLE
    assert survey.comment == "또 고장났어요. 프린터가 다시 걸립니다"       # the quoted survey is not the comment
    assert count(stack, Ticket) == tickets_before + 1                    # the follow-up, not an intake ticket
    with stack.sessions() as s:
        follow_up = s.scalar(select(Ticket).where(Ticket.channel == "survey"))
        assert follow_up is not None and count(stack, TicketMessage) == 0
    assert count(stack, SurveyIncentive, survey_id=survey_id) == 1
    # The same message delivered again: a duplicate that changes nothing.
    again = service.receive_email(raw, "gildong.hong@example.com")
    assert again.claimed
    assert count(stack, Ticket) == tickets_before + 1
    with stack.sessions() as s:
        replies = s.scalars(select(SurveyReply).where(SurveyReply.survey_id == survey_id)
                            .order_by(SurveyReply.id)).all()
        assert [(r.channel, r.duplicate_of_id) for r in replies] == [("email", None), ("email", replies[0].id)]
        assert replies[0].ticket_id == follow_up.id
    coupons = [m for m in stack.mailer.sent if "HC-0001" in m["body"]]
    assert len(coupons) == 1                                               # the incentive once


def test_reply_found_by_the_subject_reference_alone(stack, tmp_path):
    """A mail client that drops In-Reply-To: the signed reference in the subject is enough."""
    ticket, survey_id = _messaged_survey(stack)
    sent = survey_mail(stack, survey_id)
    got = intake(stack, tmp_path).receive_email(reply_bytes("Re: " + sent["subject"], "5 감사합니다"))
    assert got.claimed
    survey = stack.survey_row(ticket)
    assert (survey.rating, survey.channel, survey.reply_term) == (5, "email", terms.HIGH_SATISFACTION)


def test_forged_or_unknown_reference_becomes_a_normal_ticket(stack, tmp_path):
    ticket, survey_id = _messaged_survey(stack)
    service = intake(stack, tmp_path)
    forged = f"Re: survey [S{survey_id}-0123456789abcdef]"
    got = service.receive_email(reply_bytes(forged, "1 my printer is broken", in_reply_to="<nope@example.com>"))
    assert not got.claimed and got.ticket_id is not None
    with stack.sessions() as s:
        new = s.get(Ticket, got.ticket_id)
        assert new.channel == "email" and "my printer is broken" in new.request      # nothing lost
    assert count(stack, SurveyReply) == 0
    assert stack.survey_row(ticket).state == machine.MESSAGED


# ---- what the reply line's pop shows (the lookup of cti/surveys/links.py) ---------------------

def test_reply_line_lookup_brings_the_survey_its_answers_and_terms(db, bus, clock, config):
    stack = Stack(db, bus, clock, config, classify=links.survey_term)
    ticket, survey_id = _messaged_survey(stack, "100200")
    stack.service.record_reply(survey_id, "sms", '<b>또 고장났어요</b>')
    stack.service.record_reply(survey_id, "sms", '<b>또 고장났어요</b>')           # a duplicate: not shown twice
    stack.service.record_email_reply(survey_id, "4 2 1 친절했어요" + QUOTE)
    links.reply_line_rating(stack.service)(survey_id, 3)                    # keys on the reply line
    clock.advance(3600)                                                      # within reply_wait_hours
    with stack.sessions() as s:
        surveyed = s.get(Ticket, ticket)
        mobile, incident_id = surveyed.customer.mobile, surveyed.incident_id
    view = links.reply_line_lookup(stack.service)(mobile)
    assert (view["survey_id"], view["queue"], view["centre"]) == (survey_id, "lan", "부산 서비스센터")
    assert (view["incident_id"], view["service"], view["resolution"]) == \
        (incident_id, "printer jams", "replaced the roller")
    assert (view["rating"], view["trouble_again"], view["staff_kind"], view["term"]) == \
        (4, False, True, terms.REPEATED_TROUBLE)
    assert [(r["channel"], r["term"], r["text"]) for r in view["replies"]] == [
        ("sms", terms.REPEATED_TROUBLE, "<b>또 고장났어요</b>"), ("email", terms.SIMPLE_SATISFACTION, "친절했어요"),
        ("line", terms.SIMPLE_SATISFACTION, "")]
    assert [{k: r.get(k) for k in ("rating", "trouble_again", "staff_kind")} for r in view["replies"]] == [
        {"rating": None, "trouble_again": None, "staff_kind": None},
        {"rating": 4, "trouble_again": False, "staff_kind": True},
        {"rating": 3, "trouble_again": None, "staff_kind": None}]
    clock.advance(48 * 3600)                                                 # answered long ago: not pending
    assert links.reply_line_lookup(stack.service)(mobile) is None


def test_a_reply_with_only_the_quoted_survey_is_not_classified_by_its_quote(stack):
    """The quoted survey says "dissatisfied": that is our text, not the customer's."""
    ticket, survey_id = _messaged_survey(stack)
    got = stack.service.record_email_reply(survey_id, QUOTE.lstrip("\n"))
    assert got.term == "" and not got.duplicate
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.channel, survey.rating) == (machine.ANSWERED, "email", None)
    assert not survey.reply_term and not survey.comment
    assert not stack.topics("survey.dissatisfied")
    with stack.sessions() as s:
        assert "dissatisfied" in s.scalar(select(SurveyReply.raw).where(SurveyReply.survey_id == survey_id))


def test_the_smtp_listener_also_accepts_the_centres_reply_addresses(stack, tmp_path):
    import smtplib

    _, survey_id = _messaged_survey(stack)
    sent = survey_mail(stack, survey_id)
    addresses = stack.service.reply_addresses()
    assert "seoul-centre@happycall.local" in addresses and "busan-centre@happycall.local" in addresses
    listener = SmtpListener(intake(stack, tmp_path), "127.0.0.1", 0, "helpdesk@happycall.local",
                            also_accept=addresses)
    listener.start()
    try:
        raw = reply_bytes("Re: " + sent["subject"], "5", in_reply_to=sent["message_id"])
        with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
            client.ehlo()
            assert client.mail("gildong.hong@example.com")[0] == 250
            assert client.rcpt("Seoul-Centre@happycall.local")[0] == 250
            assert client.rcpt("someone@elsewhere.example")[0] == 550
            code, answer = client.data(raw)
        assert code == 250 and f"survey S{survey_id}".encode() in answer
    finally:
        listener.stop()
    assert stack.service.survey(survey_id)["channel"] == "email"


def test_migration_adds_and_removes_the_message_id(tmp_path):
    from alembic import command
    from sqlalchemy import inspect

    from db.migrate import alembic_config
    from db.session import make_engine

    engine = make_engine({"url": f"sqlite:///{tmp_path / 'm.sqlite3'}", "echo": False})
    cfg = alembic_config(str(engine.url))

    def columns():
        return {c["name"] for c in inspect(engine).get_columns("survey_attempts")}
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "e3b5a7c9d1f2")
    assert "message_id" in columns()
    assert "ix_survey_attempts_message_id" in {i["name"] for i in inspect(engine).get_indexes("survey_attempts")}
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "d4a7c2e91f03")
    assert "message_id" not in columns() and "outcome" in columns()
    engine.dispose()
