"""Satisfaction surveys (issue 6, docs/surveys.md): the pure state machine, the
signed form links, and SurveyService on a real (SQLite) database with a fake
clock — scheduling exactly once from the database state, phone first, fallback
to e-mail (through a real aiosmtpd server) and SMS (a fake sender), one resend,
closing as "no reply", replies, duplicates, the incentive granted once."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from cti import events
from cti.escalation_runner import TimerRunner
from cti.mailer import SmtpMailer
from cti.surveys import answers as terms
from cti.surveys import machine
from cti.surveys.service import SURVEY_CALL, SURVEY_DISSATISFIED, SurveyService, UnknownSurvey
from cti.surveys.tokens import TokenError, TokenSigner, token_hash
from db.migrate import alembic_config
from db.models import (Customer, ServiceCentre, Survey, SurveyIncentive, SurveyReply, SurveyToken,
                       Ticket, TicketEvent)
from db.session import make_engine
from support.smtp_sink import smtp_sink
from support.surveys import FakeMailer, FakeSms, link_token, resolved_ticket

T0 = dt.datetime(2026, 11, 25, 9, 0, 0)
HOUR = 3600
TIMING = machine.Timing(reply_wait=dt.timedelta(hours=48), call_guard=dt.timedelta(minutes=10), resends=1)
ALL = machine.Contact(phone="025550101", email="a@example.com", mobile="01055500101")


# ---- the state machine (pure) ----------------------------------------------------------

def test_due_survey_calls_first_when_there_is_a_phone():
    step = machine.when_due(machine.SCHEDULED, 0, ALL, T0, TIMING)
    assert (step.state, step.call, step.send, step.due_at) == (machine.CALLING, True, (), T0 + dt.timedelta(minutes=10))


@pytest.mark.parametrize("contact, sends, state, outcome", [
    (machine.Contact(email="a@example.com", mobile="010"), ("email", "sms"), machine.MESSAGED, ""),
    (machine.Contact(email="a@example.com"), ("email",), machine.MESSAGED, ""),
    (machine.Contact(mobile="010"), ("sms",), machine.MESSAGED, ""),
    (machine.Contact(), (), machine.CLOSED, machine.NO_CONTACT),
])
def test_without_a_phone_the_survey_goes_to_messages(contact, sends, state, outcome):
    step = machine.when_due(machine.SCHEDULED, 0, contact, T0, TIMING)
    assert (step.state, step.call, step.send, step.outcome) == (state, False, sends, outcome)


@pytest.mark.parametrize("result", sorted(machine.CALL_FAILURES))
def test_every_failed_call_falls_back_to_every_message_channel(result):
    step = machine.after_call(machine.CALLING, result, ALL, T0, TIMING)
    assert (step.state, step.send, step.due_at) == (machine.MESSAGED, ("email", "sms"), T0 + dt.timedelta(hours=48))


def test_failed_call_without_message_channels_closes_unreachable():
    step = machine.after_call(machine.CALLING, "busy", machine.Contact(phone="1"), T0, TIMING)
    assert (step.state, step.outcome) == (machine.CLOSED, machine.UNREACHABLE)


def test_late_call_results_change_nothing_and_unknown_results_are_refused():
    assert machine.after_call(machine.ANSWERED, "busy", ALL, T0, TIMING) is None
    assert machine.after_call(machine.MESSAGED, "no_answer", ALL, T0, TIMING) is None
    with pytest.raises(ValueError):
        machine.after_call(machine.CALLING, "on_fire", ALL, T0, TIMING)


def test_call_that_never_reports_back_counts_as_failed():
    step = machine.when_due(machine.CALLING, 0, ALL, T0, TIMING)
    assert (step.state, step.send) == (machine.MESSAGED, ("email", "sms"))


def test_one_resend_then_closed_no_reply():
    first = machine.when_due(machine.MESSAGED, 0, ALL, T0, TIMING)
    assert (first.state, first.resend, first.send) == (machine.RESENT, True, ("email", "sms"))
    last = machine.when_due(machine.RESENT, 1, ALL, T0, TIMING)
    assert (last.state, last.outcome, last.due_at, last.send) == (machine.CLOSED, machine.NO_REPLY, None, ())
    # More resends when configured.
    two = machine.Timing(TIMING.reply_wait, TIMING.call_guard, resends=2)
    assert machine.when_due(machine.RESENT, 1, ALL, T0, two).state == machine.RESENT


def test_nothing_is_due_in_final_states_and_a_reply_always_answers():
    assert machine.when_due(machine.ANSWERED, 0, ALL, T0, TIMING) is None
    assert machine.when_due(machine.CLOSED, 0, ALL, T0, TIMING) is None
    step = machine.after_reply()
    assert (step.state, step.outcome, step.due_at) == (machine.ANSWERED, machine.ANSWERED_OUTCOME, None)


# ---- answers and terms (pure) -------------------------------------------------------------

@pytest.mark.parametrize("answers, term", [
    ({"rating": 5}, terms.HIGH_SATISFACTION),
    ({"rating": 4}, terms.SIMPLE_SATISFACTION),
    ({"rating": 3}, terms.SIMPLE_SATISFACTION),
    ({"rating": 2}, terms.DISSATISFACTION),
    ({"rating": 1, "trouble_again": False}, terms.DISSATISFACTION),
    ({"rating": 5, "trouble_again": True}, terms.REPEATED_TROUBLE),
    ({}, ""),
])
def test_keyed_answers_map_directly_to_terms(answers, term):
    assert terms.term_of_answers(answers) == term


def test_clean_answers_and_their_errors():
    assert terms.clean_answers("4", "2", "1", "  good  ") == {"rating": 4, "trouble_again": False,
                                                               "staff_kind": True, "comment": "good"}
    assert terms.clean_answers(5)["trouble_again"] is None
    for bad in ("", "0", "6", "x", None):
        with pytest.raises(terms.InvalidAnswers) as exc:
            terms.clean_answers(bad)
        assert exc.value.field == "rating"
    with pytest.raises(terms.InvalidAnswers) as exc:
        terms.clean_answers(3, "maybe")
    assert exc.value.field == "trouble_again"
    with pytest.raises(terms.InvalidAnswers):
        terms.clean_answers(3, comment="x" * (terms.MAX_COMMENT + 1))


def test_most_actionable_term_wins_and_lone_ratings_are_read_from_text():
    assert terms.most_actionable(terms.HIGH_SATISFACTION, terms.ADDITIONAL_REQUEST) == terms.ADDITIONAL_REQUEST
    assert terms.most_actionable("", "nonsense") == ""
    assert [terms.rating_in_text(t) for t in ("5", " 4 thanks", "3.", "10 times", "rated 5", "")] == \
        [5, 4, 3, None, None, None]
    assert terms.fingerprint("sms", "5  Good") == terms.fingerprint("sms", "5 good")
    assert terms.fingerprint("sms", "5 good") != terms.fingerprint("email", "5 good")


# ---- signed links (pure) ------------------------------------------------------------------

def test_token_round_trip_tamper_and_expiry():
    signer = TokenSigner("k" * 32)
    token = signer.issue(7, T0 + dt.timedelta(days=7))
    claim = signer.verify(token, T0)
    assert (claim.survey_id, claim.expires_at) == (7, T0 + dt.timedelta(days=7))
    assert signer.issue(7, T0 + dt.timedelta(days=7)) != token          # a fresh nonce each time
    with pytest.raises(TokenError) as exc:
        signer.verify(token, T0 + dt.timedelta(days=7))
    assert exc.value.reason == "expired"
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "x" * 500, "abc.def"):
        with pytest.raises(TokenError) as exc:
            signer.verify(bad, T0)
        assert exc.value.reason == "invalid"
    with pytest.raises(TokenError):
        TokenSigner("other key").verify(token, T0)
    with pytest.raises(ValueError):
        TokenSigner("")


# ---- the service on a database -------------------------------------------------------------

class Stack:
    def __init__(self, db, bus, clock, config, mailer=None, classify=None):
        self.sessions, _ = db
        self.bus, self.clock, self.config = bus, clock, config
        self.mailer = mailer if mailer is not None else FakeMailer()
        self.sms = FakeSms()
        self.published: list[tuple[str, dict]] = []
        for topic in (SURVEY_CALL, SURVEY_DISSATISFIED, events.TICKET_UPDATED):
            bus.subscribe(topic, lambda t, p: self.published.append((t, p)))
        codes = iter(f"HC-{i:04d}" for i in range(1, 100))
        self.service = SurveyService(self.sessions, bus, config, signer=TokenSigner("test-key"), mailer=self.mailer,
                                     sms=self.sms, classify=classify, clock=clock, coupon=lambda: next(codes))

    def customer(self, pin):
        with self.sessions() as s:
            return s.scalar(select(Customer.id).where(Customer.pin == pin))

    def resolved_ticket(self, pin="100100", status="resolved", resolved_at=None, language="ko"):
        return resolved_ticket(self.sessions, self.clock, pin, status, resolved_at, language)

    def survey_row(self, ticket_id):
        with self.sessions() as s:
            return s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))

    def count(self, model, **where):
        with self.sessions() as s:
            stmt = select(func.count()).select_from(model)
            for key, value in where.items():
                stmt = stmt.where(getattr(model, key) == value)
            return s.scalar(stmt)

    def topics(self, topic):
        return [p for t, p in self.published if t == topic]

    def advance(self, seconds):
        self.clock.advance(seconds)
        return self.service.run_due()


@pytest.fixture
def stack(db, bus, clock, config):
    return Stack(db, bus, clock, config)


def test_seeded_centres_cover_the_customers_areas(stack):
    with stack.sessions() as s:
        centres = {c.code: c for c in s.scalars(select(ServiceCentre))}
        assert set(centres) >= {"SEL", "BSN"}
        assert centres["BSN"].reply_line and centres["BSN"].person_in_charge_id and centres["BSN"].queue_id
    seoul, busan = stack.resolved_ticket("100100"), stack.resolved_ticket("100200")
    stack.service.run_due()
    assert stack.survey_row(seoul).centre_id == centres["SEL"].id
    assert stack.survey_row(busan).centre_id == centres["BSN"].id


def test_resolved_ticket_gets_exactly_one_survey_after_the_delay(stack):
    ticket = stack.resolved_ticket()
    still_open = stack.resolved_ticket(status="in_progress")
    old = stack.resolved_ticket(resolved_at=T0 - dt.timedelta(hours=73))
    stack.service.run_due()
    stack.service.run_due()
    stack.service.schedule_resolved()
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.due_at) == (machine.SCHEDULED, T0 + dt.timedelta(minutes=60))
    assert stack.count(Survey, ticket_id=ticket) == 1
    assert stack.survey_row(still_open) is None and stack.survey_row(old) is None
    # Nothing happens before the delay.
    assert stack.advance(59 * 60) == []
    assert stack.survey_row(ticket).state == machine.SCHEDULED


def test_a_second_service_on_the_same_database_schedules_nothing_more(stack, bus, clock, config):
    ticket = stack.resolved_ticket()
    stack.service.run_due()
    other = SurveyService(stack.sessions, bus, config, signer=TokenSigner("k"), clock=clock)
    assert other.schedule_resolved() == []
    assert stack.count(Survey, ticket_id=ticket) == 1


def test_phone_first_then_busy_falls_back_to_email_and_sms(stack):
    ticket = stack.resolved_ticket("100100")
    stack.service.run_due()
    stack.advance(60 * 60)
    survey = stack.survey_row(ticket)
    assert survey.state == machine.CALLING
    [call] = stack.topics(SURVEY_CALL)
    assert call == {"survey_id": survey.id, "ticket_id": ticket, "number": "025550101", "language": "ko"}
    assert stack.service.call_result(survey.id, "busy") == machine.MESSAGED
    [mail] = stack.mailer.sent
    assert mail["to"] == "gildong.hong@example.com"
    assert mail["sender"] == "seoul-centre@happycall.local" and mail["sender_name"] == "서울 서비스센터"
    assert "http://127.0.0.1:5000/survey/" in mail["body"] and "1700" in mail["body"]
    assert "커피 쿠폰" in mail["body"] and "PC 무료 점검" in mail["body"]          # incentive, running campaign
    [(to, text, sender)] = stack.sms.sent
    assert (to, sender) == ("01055500101", "1700") and "1-5" in text
    got = stack.service.survey(survey.id)
    assert [(a["channel"], a["outcome"]) for a in got["attempts"]] == [("phone", "busy"), ("email", "sent"),
                                                                        ("sms", "sent")]
    assert stack.count(SurveyToken, survey_id=survey.id) == 1


def test_call_never_reporting_back_goes_to_messages_after_the_guard(stack):
    ticket = stack.resolved_ticket("100100")
    stack.service.run_due()
    stack.advance(60 * 60)
    stack.advance(10 * 60)
    assert stack.survey_row(ticket).state == machine.MESSAGED
    assert len(stack.mailer.sent) == 1 and len(stack.sms.sent) == 1


def test_only_the_channels_the_customer_has(stack, config):
    config["surveys"]["phone_first"] = False
    stack = Stack((stack.sessions, None), stack.bus, stack.clock, config)
    mail_only, sms_only = stack.resolved_ticket("100300"), stack.resolved_ticket("100400")
    stack.service.run_due()
    stack.advance(60 * 60)
    assert stack.topics(SURVEY_CALL) == []
    assert [m["to"] for m in stack.mailer.sent] == ["hoseok.jung@example.com"]
    assert [to for to, _, _ in stack.sms.sent] == ["01055500104"]
    assert stack.survey_row(mail_only).state == stack.survey_row(sms_only).state == machine.MESSAGED


def test_unknown_customer_is_closed_no_contact(stack):
    ticket = stack.resolved_ticket(pin=None)
    stack.service.run_due()
    stack.advance(60 * 60)
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.outcome, survey.due_at) == (machine.CLOSED, machine.NO_CONTACT, None)


def test_no_reply_one_resend_then_closed(stack):
    ticket = stack.resolved_ticket("100100")
    stack.service.run_due()
    stack.advance(60 * 60)
    stack.service.call_result(stack.survey_row(ticket).id, "no_answer")
    stack.advance(47 * HOUR)
    assert stack.survey_row(ticket).state == machine.MESSAGED
    stack.advance(1 * HOUR)
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.resends) == (machine.RESENT, 1)
    assert len(stack.mailer.sent) == 2 and stack.mailer.sent[1]["subject"].startswith("[다시 안내]")
    assert len(stack.sms.sent) == 2
    stack.advance(48 * HOUR)
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.outcome, survey.due_at) == (machine.CLOSED, machine.NO_REPLY, None)
    stack.advance(100 * HOUR)
    assert len(stack.mailer.sent) == 2     # closed: nothing more is sent
    rounds = [(a["channel"], a["round"]) for a in stack.service.survey(survey.id)["attempts"]]
    assert rounds == [("phone", 1), ("email", 1), ("sms", 1), ("email", 2), ("sms", 2)]


def _messaged_survey(stack, pin="100100"):
    ticket = stack.resolved_ticket(pin)
    stack.service.run_due()
    stack.advance(60 * 60)
    survey_id = stack.survey_row(ticket).id
    stack.service.call_result(survey_id, "rejected")
    return ticket, survey_id


def test_sms_reply_answers_grants_the_incentive_once_and_duplicates_change_nothing(stack):
    ticket, survey_id = _messaged_survey(stack)
    first = stack.service.record_reply(survey_id, "sms", "5")
    assert (first.term, first.duplicate, first.incentive_code) == (terms.HIGH_SATISFACTION, False, "HC-0001")
    survey = stack.survey_row(ticket)
    assert (survey.state, survey.rating, survey.channel, survey.due_at) == (machine.ANSWERED, 5, "sms", None)
    answered_at = survey.answered_at
    stack.clock.advance(60)
    again = stack.service.record_reply(survey_id, "sms", " 5 ")
    assert again.duplicate and again.term == terms.HIGH_SATISFACTION and again.incentive_code == ""
    other = stack.service.record_reply(survey_id, "email", "2 the printer is slow")
    assert not other.duplicate and other.incentive_code == "HC-0001"     # granted once
    survey = stack.survey_row(ticket)
    assert (survey.rating, survey.answered_at, survey.channel) == (5, answered_at, "sms")   # first answer stays
    assert stack.count(SurveyIncentive, survey_id=survey_id) == 1
    with stack.sessions() as s:
        replies = s.scalars(select(SurveyReply).where(SurveyReply.survey_id == survey_id)
                            .order_by(SurveyReply.id)).all()
        assert [r.duplicate_of_id for r in replies] == [None, replies[0].id, None]
    to_customer = [m for m in stack.mailer.sent if m["to"] == "gildong.hong@example.com"]
    assert len(to_customer) == 2 and "HC-0001" in to_customer[1]["body"]     # the survey, the coupon once
    stack.advance(200 * HOUR)
    assert len([m for m in stack.mailer.sent if m["to"] == "gildong.hong@example.com"]) == 2   # no resend


def test_late_reply_after_no_reply_still_answers(stack):
    ticket, survey_id = _messaged_survey(stack)
    stack.advance(48 * HOUR)
    stack.advance(48 * HOUR)
    assert stack.survey_row(ticket).outcome == machine.NO_REPLY
    assert stack.service.record_reply(survey_id, "sms", "4").term == terms.SIMPLE_SATISFACTION
    assert (stack.survey_row(ticket).state, stack.survey_row(ticket).outcome) == (machine.ANSWERED, "answered")


def test_repeated_trouble_opens_a_follow_up_ticket_once(stack):
    ticket, survey_id = _messaged_survey(stack, "100200")
    got = stack.service.record_reply(survey_id, "phone", answers=terms.clean_answers(4, "1", "1"))
    assert got.term == terms.REPEATED_TROUBLE and got.ticket_id
    with stack.sessions() as s:
        follow = s.get(Ticket, got.ticket_id)
        busan = s.scalar(select(ServiceCentre).where(ServiceCentre.code == "BSN"))
        assert (follow.channel, follow.status, follow.customer_id, follow.queue_id) == \
            ("survey", "queued", stack.customer("100200"), busan.queue_id)
        assert "Repeated trouble" in follow.request
        notes = s.scalars(select(TicketEvent.detail).where(TicketEvent.ticket_id == ticket,
                                                           TicketEvent.kind == "note")).all()
        assert notes and notes[0]["follow_up"] == follow.incident_id
    again = stack.service.record_reply(survey_id, "web", answers=terms.clean_answers(2, "yes"))
    assert again.term == terms.REPEATED_TROUBLE
    assert again.ticket_id == got.ticket_id      # noted on the same follow-up ticket
    assert stack.count(Ticket, channel="survey") == 1
    survey = stack.survey_row(ticket)
    assert (survey.rating, survey.trouble_again, survey.staff_kind, survey.reply_term) == \
        (4, True, True, terms.REPEATED_TROUBLE)


def test_free_text_goes_to_the_classifier_and_the_more_actionable_term_wins(db, bus, clock, config):
    heard = []

    def classify(text, language):
        heard.append((text, language))
        return terms.ADDITIONAL_REQUEST if "monitor" in text else terms.IMPRESSION

    stack = Stack(db, bus, clock, config, classify=classify)
    _, survey_id = _messaged_survey(stack)
    got = stack.service.record_reply(survey_id, "email", "5 thanks, could I also get a second monitor?")
    assert got.term == terms.ADDITIONAL_REQUEST and got.ticket_id
    assert heard == [("5 thanks, could I also get a second monitor?", "ko")]
    assert stack.service.survey(survey_id)["rating"] == 5
    # A lone rating is not sent to the classifier.
    stack.service.record_reply(survey_id, "sms", "4")
    assert len(heard) == 1


def test_dissatisfaction_goes_to_the_centres_person_in_charge(stack):
    ticket, survey_id = _messaged_survey(stack)
    got = stack.service.record_reply(survey_id, "sms", "1 nobody came")
    assert got.term == terms.DISSATISFACTION
    [notice] = stack.topics(SURVEY_DISSATISFIED)
    with stack.sessions() as s:
        seoul = s.scalar(select(ServiceCentre).where(ServiceCentre.code == "SEL"))
    assert (notice["person_id"], notice["centre_id"], notice["text"]) == \
        (seoul.person_in_charge_id, seoul.id, "1 nobody came")
    assert stack.mailer.sent[-1]["to"] == seoul.person_email and "nobody came" in stack.mailer.sent[-1]["body"]


def test_unknown_survey_and_channel_are_refused(stack):
    with pytest.raises(UnknownSurvey):
        stack.service.record_reply(9999, "sms", "5")
    _, survey_id = _messaged_survey(stack)
    with pytest.raises(ValueError):
        stack.service.record_reply(survey_id, "fax", "5")
    assert stack.count(SurveyReply) == 0


def test_pending_survey_is_found_by_number_or_address(stack):
    _, survey_id = _messaged_survey(stack)
    assert stack.service.pending_for(number="010-5550-0101") == survey_id
    assert stack.service.pending_for(number="02-555-0101") == survey_id
    assert stack.service.pending_for(email="GILDONG.hong@example.com") == survey_id
    assert stack.service.pending_for(number="0999") is None and stack.service.pending_for() is None


# ---- the form link through the service ----------------------------------------------------------

def _link(stack, survey_id):
    mail = next(m for m in stack.mailer.sent if m["to"] == "gildong.hong@example.com")
    return link_token(mail["body"])


def test_form_link_works_once(stack):
    ticket, survey_id = _messaged_survey(stack)
    token = _link(stack, survey_id)
    view = stack.service.open_form(token)
    assert (view["survey_id"], view["language"], view["centre_name"]) == (survey_id, "ko", "서울 서비스센터")
    got = stack.service.submit_form(token, terms.clean_answers(5, "2", "1", "great"))
    assert got.term == terms.HIGH_SATISFACTION and got.incentive_code == "HC-0001"
    for action in (lambda: stack.service.open_form(token),
                   lambda: stack.service.submit_form(token, terms.clean_answers(1))):
        with pytest.raises(TokenError) as exc:
            action()
        assert exc.value.reason == "used"
    survey = stack.survey_row(ticket)
    assert (survey.rating, survey.channel, survey.comment) == (5, "web", "great")
    assert stack.count(SurveyReply, survey_id=survey_id) == 1
    with stack.sessions() as s:
        row = s.scalar(select(SurveyToken).where(SurveyToken.survey_id == survey_id))
        assert row.token_hash == token_hash(token) and token not in row.token_hash and row.used_at == stack.clock.now


def test_form_link_expires_and_forged_links_are_refused(stack):
    _, survey_id = _messaged_survey(stack)
    token = _link(stack, survey_id)
    forged = TokenSigner("test-key").issue(survey_id, stack.clock.now + dt.timedelta(days=1))   # signed, never issued
    with pytest.raises(TokenError) as exc:
        stack.service.open_form(forged)
    assert exc.value.reason == "invalid"
    stack.clock.advance(7 * 24 * HOUR)
    with pytest.raises(TokenError) as exc:
        stack.service.submit_form(token, terms.clean_answers(4))
    assert exc.value.reason == "expired"
    assert stack.count(SurveyReply) == 0


def test_e_mail_through_a_real_smtp_server(db, bus, clock, config):
    with smtp_sink() as sink:
        mail = sink.mail_config()
        stack = Stack(db, bus, clock, config, mailer=SmtpMailer(mail["host"], mail["port"], mail["sender"]))
        _messaged_survey(stack, "100200")
        [msg] = sink.wait(1)
    assert msg["From"].addresses[0].addr_spec == "busan-centre@happycall.local"
    assert msg["From"].addresses[0].display_name == "부산 서비스센터"
    assert msg["Reply-To"].addresses[0].addr_spec == "busan-centre@happycall.local"
    assert msg["X-Envelope-To"] == "yuna.choi@example.com"
    body = msg.get_content()
    assert "/survey/" in body and "1701" in body and "1002" in body


def test_failing_sms_transport_is_recorded_not_raised(stack):
    stack.sms.ok = False
    _, survey_id = _messaged_survey(stack)
    outcomes = {a["channel"]: a["outcome"] for a in stack.service.survey(survey_id)["attempts"]}
    assert outcomes == {"phone": "rejected", "email": "sent", "sms": "not_sent"}


def test_spoken_comment_is_stored_with_its_keywords_and_classified(db, bus, clock, config):
    stack = Stack(db, bus, clock, config,
                  classify=lambda text, lang: terms.REPEATED_TROUBLE if "또" in text else terms.IMPRESSION)
    ticket, survey_id = _messaged_survey(stack)
    stack.service.record_reply(survey_id, "phone", "422", terms.clean_answers("4", "2", "2"))
    got = stack.service.record_spoken_comment(survey_id, "프린터가 또 고장 났어요", ["N01:고장", "N01:고장", "N02:또"])
    assert got.term == terms.REPEATED_TROUBLE and got.ticket_id and got.incentive_code == "HC-0001"
    survey = stack.survey_row(ticket)
    assert (survey.comment, survey.comment_keywords) == ("프린터가 또 고장 났어요", ["N01:고장", "N02:또"])
    assert (survey.rating, survey.reply_term) == (4, terms.REPEATED_TROUBLE)


def test_call_target_names_the_number_and_the_centres_staff_queue(stack):
    ticket = stack.resolved_ticket("100200")
    stack.service.run_due()
    target = stack.service.call_target(stack.survey_row(ticket).id)
    assert (target["number"], target["queue"], target["ticket_id"], target["language"]) == \
        ("025550102", "lan", ticket, "ko")


def test_runner_thread_polls_the_service_and_is_joined(stack):
    ticket = stack.resolved_ticket()
    runner = TimerRunner(stack.service, poll_seconds=0.05, clock=stack.clock, name="survey-runner")
    runner.start()
    try:
        stack.clock.advance(3600)
        runner.poke()
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while (stack.survey_row(ticket) is None or stack.survey_row(ticket).state != machine.CALLING) \
                and dt.datetime.now() < deadline:
            runner.poke()
            time.sleep(0.05)
        assert stack.survey_row(ticket).state == machine.CALLING
    finally:
        runner.stop()
    assert not runner.running


def test_migration_downgrades_and_upgrades_again(tmp_path):
    engine = make_engine({"url": f"sqlite:///{tmp_path / 'm.sqlite3'}", "echo": False})
    cfg = alembic_config(str(engine.url))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "a5e1c0f3b7d2")
    assert "survey_replies" not in inspect(engine).get_table_names()
    assert "due_at" not in {c["name"] for c in inspect(engine).get_columns("surveys")}
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    names = inspect(engine).get_table_names()
    assert {"service_centres", "survey_attempts", "survey_tokens", "survey_replies", "survey_incentives"} <= set(names)
    assert "uq_surveys_ticket" in {i["name"] for i in inspect(engine).get_indexes("surveys")}
    engine.dispose()
