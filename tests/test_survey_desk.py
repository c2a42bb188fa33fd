"""Surveys on the desktop (docs/surveys.md): the person in charge's notice of a
dissatisfied reply (kept until read, live on their Socket.IO room), the survey
view on the ticket screen, and the follow-up ticket of a repeated trouble popped
to a Ready agent of the centre's staff queue by the intake's pop delivery."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, select

from agent_desktop import create_app
from cti import events, notices
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.surveys import answers as terms
from cti.surveys import links
from cti.surveys.service import NOTICE_DISSATISFIED, SURVEY_DISSATISFIED, SurveyService
from cti.surveys.tokens import TokenSigner
from db.models import Queue, QueueMember, ServiceCentre, Ticket, TicketEvent, User, UserNotice
from db.migrate import alembic_config
from db.session import make_engine
from conftest import FakeClock
from support.desktop import logged_in, make_stack
from support.surveys import FakeMailer, FakeSms, messaged_survey

XSS = '<script>window.__xss=1</script>'


class Desk:
    """A desktop stack with the survey service (and the intake's pops joined to it)."""

    def __init__(self, tmp_path, csrf=False):
        self.stack = make_stack(tmp_path, csrf=csrf, app=False)
        self.clock = FakeClock()
        self.published: list[tuple[str, dict]] = []
        for topic in (SURVEY_DISSATISFIED, events.SCREENPOP):
            self.stack.bus.subscribe(topic, lambda t, p: self.published.append((t, p)))
        self.service = SurveyService(self.stack.sessions, self.stack.bus, self.stack.config,
                                     signer=TokenSigner("k"), mailer=FakeMailer(), sms=FakeSms(),
                                     classify=links.survey_term, clock=self.clock)
        self.intake = IntakeService(self.stack.sessions, self.stack.bus, AttachmentStore(tmp_path / "att"),
                                    clock=self.clock, also_pop=(links.FOLLOW_UP_CHANNEL,))
        self.pops = links.FollowUpPops(self.intake, self.stack.bus)
        self.app = create_app(self.stack.config, self.stack.call_center, self.stack.sessions, self.stack.bus,
                              survey_service=self.service, intake_service=self.intake)
        self.stack.app = self.app

    def survey(self, pin="100100", language="ko"):
        return messaged_survey(self.service, self.stack.sessions, self.clock, pin, language)

    def topics(self, topic):
        return [p for t, p in self.published if t == topic]

    def close(self):
        self.pops.close()
        self.intake.close()
        self.stack.close()


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path)
    yield d
    d.close()


def events_named(received, name):
    return [e["args"][0] for e in received if e["name"] == name]


# ---- the notice of a dissatisfied reply -----------------------------------------------------

def test_dissatisfied_reply_keeps_a_notice_for_the_person_in_charge(desk):
    ticket, survey_id = desk.survey("100200")          # Busan: person in charge agent2
    desk.service.record_reply(survey_id, "sms", "1 " + XSS + " 아무도 안 왔어요")
    agent2 = desk.stack.user_id("agent2")
    [payload] = desk.topics(SURVEY_DISSATISFIED)
    with desk.stack.sessions() as s:
        busan = s.scalar(select(ServiceCentre).where(ServiceCentre.code == "BSN"))
        [row] = s.scalars(select(UserNotice)).all()
        incident = s.get(Ticket, ticket).incident_id
    assert (payload["person_id"], payload["notice_id"], payload["ticket_id"]) == (agent2, row.id, ticket)
    assert (payload["incident_id"], payload["rating"], payload["channel"], payload["centre_id"]) == \
        (incident, 1, "sms", busan.id)
    assert (row.user_id, row.kind, row.ticket_id, row.read_at) == (agent2, NOTICE_DISSATISFIED, ticket, None)
    [listed] = notices.unread(desk.stack.sessions, agent2)
    assert listed["text"] == "1 " + XSS + " 아무도 안 왔어요" and listed["incident_id"] == incident
    assert notices.unread(desk.stack.sessions, desk.stack.user_id("super")) == []
    # A duplicate of the same SMS changes nothing: no second notice.
    desk.service.record_reply(survey_id, "sms", "1 " + XSS + " 아무도 안 왔어요")
    assert len(notices.unread(desk.stack.sessions, agent2)) == 1


def test_no_person_in_charge_no_notice_but_the_topic_still_goes_out(desk):
    with desk.stack.sessions.begin() as s:
        s.scalar(select(ServiceCentre).where(ServiceCentre.code == "SEL")).person_in_charge_id = None
    _, survey_id = desk.survey("100100")
    desk.service.record_reply(survey_id, "web", answers=terms.clean_answers(2))
    [payload] = desk.topics(SURVEY_DISSATISFIED)
    assert payload["person_id"] is None and payload["notice_id"] is None
    with desk.stack.sessions() as s:
        assert s.scalars(select(UserNotice)).all() == []


def test_satisfied_reply_makes_no_notice(desk):
    _, survey_id = desk.survey("100200")
    desk.service.record_reply(survey_id, "web", answers=terms.clean_answers(5))
    assert desk.topics(SURVEY_DISSATISFIED) == []
    assert notices.unread(desk.stack.sessions, desk.stack.user_id("agent2")) == []


def test_notice_reaches_the_person_in_charge_live_and_only_them(desk):
    agent2, agent1 = logged_in(desk.stack, "agent2"), logged_in(desk.stack, "agent1")
    s_agent2 = desk.stack.socketio.test_client(desk.app, flask_test_client=agent2)
    s_agent1 = desk.stack.socketio.test_client(desk.app, flask_test_client=agent1)
    for sock in (s_agent2, s_agent1):
        sock.get_received()
    ticket, survey_id = desk.survey("100200")
    desk.service.record_reply(survey_id, "email", "1 " + XSS)
    [live] = events_named(s_agent2.get_received(), "survey_dissatisfied")
    assert live["ticket_id"] == ticket and live["text"] == "1 " + XSS and live["rating"] == 1
    assert live["notice_id"] and live["incident_id"] and live["at"].endswith("Z")
    assert "person_id" not in live
    assert events_named(s_agent1.get_received(), "survey_dissatisfied") == []
    s_agent2.disconnect()
    s_agent1.disconnect()


@pytest.mark.parametrize("lang, heading, summary", [("en", "Survey notices", "Dissatisfied survey reply"),
                                                    ("ko", "설문 알림", "불만족 설문 응답")])
def test_unread_notices_are_listed_when_the_desktop_opens_escaped(desk, lang, heading, summary):
    ticket, survey_id = desk.survey("100200")
    desk.service.record_reply(survey_id, "sms", "1 " + XSS)          # while agent2 is logged out
    page = logged_in(desk.stack, "agent2", lang=lang).get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and heading in html and summary in html
    assert 'id="survey-notices"' in html and 'data-kind="survey_dissatisfied"' in html
    assert f'href="/tickets/{ticket}"' in html
    assert XSS not in html and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    # Someone else's desktop does not list it.
    other = logged_in(desk.stack, "agent1", lang=lang).get("/").get_data(as_text=True)
    assert 'data-kind="survey_dissatisfied"' not in other and 'id="survey-notices"' in other


def test_marking_a_notice_read_removes_it_and_only_its_owner_may(desk):
    _, survey_id = desk.survey("100200")
    desk.service.record_reply(survey_id, "sms", "1 slow")
    agent2 = logged_in(desk.stack, "agent2")
    [notice] = notices.unread(desk.stack.sessions, desk.stack.user_id("agent2"))
    other = logged_in(desk.stack, "agent1")
    refused = other.post(f"/notices/{notice['notice_id']}/read")
    assert refused.status_code == 404
    assert len(notices.unread(desk.stack.sessions, desk.stack.user_id("agent2"))) == 1
    assert agent2.post("/notices/99999/read").status_code == 404
    assert desk.app.test_client().post(f"/notices/{notice['notice_id']}/read").status_code in (302, 401)
    done = agent2.post(f"/notices/{notice['notice_id']}/read")
    assert done.status_code == 200 and done.get_json() == {"notice_id": notice["notice_id"], "read": True,
                                                           "changed": True}
    again = agent2.post(f"/notices/{notice['notice_id']}/read")
    assert again.status_code == 200 and again.get_json()["changed"] is False
    assert notices.unread(desk.stack.sessions, desk.stack.user_id("agent2")) == []
    assert 'data-kind="survey_dissatisfied"' not in agent2.get("/").get_data(as_text=True)


def test_marking_read_needs_login_and_the_csrf_token(tmp_path):
    d = Desk(tmp_path, csrf=True)
    try:
        _, survey_id = d.survey("100200")
        d.service.record_reply(survey_id, "sms", "1 slow")
        [notice] = notices.unread(d.stack.sessions, d.stack.user_id("agent2"))
        client = d.app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "agent2", "password": d.stack.passwords["agent2"],
                                    "csrf_token": token})
        assert client.post(f"/notices/{notice['notice_id']}/read").status_code == 400    # no token
        assert len(notices.unread(d.stack.sessions, d.stack.user_id("agent2"))) == 1
        token = client.get("/").get_data(as_text=True).split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        ok = client.post(f"/notices/{notice['notice_id']}/read", headers={"X-CSRFToken": token})
        assert ok.status_code == 200
        assert notices.unread(d.stack.sessions, d.stack.user_id("agent2")) == []
    finally:
        d.close()


# ---- the survey view on the ticket screen ---------------------------------------------------

def test_ticket_surveys_read_method(desk):
    ticket, survey_id = desk.survey("100100")
    desk.service.record_reply(survey_id, "sms", "1 또 고장났어요 " + XSS)
    desk.service.record_reply(survey_id, "sms", "1 또 고장났어요 " + XSS)          # duplicate
    desk.service.record_reply(survey_id, "web", answers=terms.clean_answers(2, "yes", "no", "고쳐 주세요"))
    [view] = desk.service.ticket_surveys(ticket)
    assert (view["id"], view["relation"], view["state"], view["rating"], view["term"]) == \
        (survey_id, "own", "answered", 1, terms.REPEATED_TROUBLE)
    assert [(a["channel"], a["outcome"]) for a in view["attempts"]] == \
        [("phone", "rejected"), ("email", "sent"), ("sms", "sent")]
    assert [(r["channel"], r["duplicate"]) for r in view["replies"]] == [("sms", False), ("sms", True),
                                                                         ("web", False)]
    first, _, web = view["replies"]
    assert first["text"] == "1 또 고장났어요 " + XSS and first["rating"] == 1 and first["follow_up"]
    assert (web["rating"], web["trouble_again"], web["staff_kind"], web["text"]) == (2, True, False, "고쳐 주세요")
    assert view["incentive"]["code"].startswith("HC-")
    # The follow-up ticket shows the survey that opened it.
    [origin] = desk.service.ticket_surveys(first["follow_up_id"])
    assert (origin["id"], origin["relation"], origin["ticket_id"]) == (survey_id, "follow_up", ticket)
    assert desk.service.ticket_surveys(99999) == []


@pytest.mark.parametrize("lang, strings", [
    ("en", {"title": "Satisfaction survey", "state": "Answered", "rejected": "Rejected", "sent": "Sent",
            "sms": "Text message", "email": "E-mail", "phone": "Phone call", "term": "Repeated trouble",
            "keys": "Rating 2/5 · Trouble again Yes · Kind staff No", "dup": "Duplicate, ignored",
            "incentive": "Granted", "origin": "This ticket was opened by a reply to the survey of"}),
    ("ko", {"title": "만족도 조사", "state": "응답", "rejected": "거절", "sent": "발송",
            "sms": "문자", "email": "이메일", "phone": "전화", "term": "재고장",
            "keys": "평점 2/5 · 재발 예 · 직원 친절 아니오", "dup": "중복, 무시됨",
            "incentive": "지급", "origin": "이 티켓은 다음 티켓의 설문 응답으로 열렸습니다"}),
])
def test_ticket_page_shows_the_survey(desk, lang, strings):
    ticket, survey_id = desk.survey("100100")
    desk.service.record_reply(survey_id, "sms", "1 또 고장났어요 " + XSS)
    desk.service.record_reply(survey_id, "sms", "1 또 고장났어요 " + XSS)
    desk.service.record_reply(survey_id, "web", answers=terms.clean_answers(2, "yes", "no"))
    client = logged_in(desk.stack, "agent1", lang=lang)
    html = client.get(f"/tickets/{ticket}").get_data(as_text=True)
    assert 'id="surveys"' in html and strings["title"] in html
    assert f'data-survey-id="{survey_id}"' in html and 'data-relation="own"' in html
    section = html.split('id="surveys"', 1)[1]
    for text in ("state", "rejected", "sent", "sms", "email", "phone", "term", "keys", "dup", "incentive"):
        assert strings[text] in section, text
    assert 'data-outcome="rejected"' in section and section.count('data-outcome="sent"') == 2
    assert XSS not in html and "또 고장났어요 &lt;script&gt;" in section
    # The follow-up ticket: its page shows the survey that opened it, with a link back.
    follow = desk.service.ticket_surveys(ticket)[0]["replies"][0]["follow_up_id"]
    page = client.get(f"/tickets/{follow}").get_data(as_text=True)
    assert 'data-relation="follow_up"' in page and strings["origin"] in page
    assert f'href="/tickets/{ticket}" data-field="surveyed-ticket"' in page


def test_ticket_without_a_survey_has_no_survey_section(desk):
    with desk.stack.sessions.begin() as s:
        t = Ticket(incident_id="INC-PLAIN", channel="phone", status="queued", request="x")
        s.add(t)
        s.flush()
        plain = t.id
    html = logged_in(desk.stack, "agent1").get(f"/tickets/{plain}").get_data(as_text=True)
    assert 'id="surveys"' not in html and 'id="resolve-form"' in html


# ---- the follow-up ticket is popped ----------------------------------------------------------

def _lan_members(desk):
    with desk.stack.sessions() as s:
        return s.scalars(select(QueueMember.user_id).join(Queue, Queue.id == QueueMember.queue_id)
                         .where(Queue.name == "lan")).all()


def _state(desk, user_id):
    with desk.stack.sessions() as s:
        return s.get(User, user_id).state


def test_follow_up_ticket_pops_to_a_ready_agent_of_the_centres_staff_queue(desk):
    agent2 = desk.stack.user_id("agent2")
    assert all(_state(desk, m) != "ready" for m in _lan_members(desk))
    desk.stack.call_center.set_agent_state(agent2, "ready")
    _, survey_id = desk.survey("100200")              # Busan: staff queue lan
    got = desk.service.record_reply(survey_id, "phone", answers=terms.clean_answers(4, "1", "1"))
    assert got.term == terms.REPEATED_TROUBLE
    pops = desk.topics(events.SCREENPOP)
    assert [p["pop"]["ticket_id"] for p in pops] == [got.ticket_id]
    [pop] = pops
    assert pop["agent_id"] == agent2
    assert (pop["pop"]["type"], pop["pop"]["channel"], pop["pop"]["queue"]) == ("survey", "survey", "네트워크(LAN)")
    assert pop["pop"]["subject"].startswith("Repeated trouble (survey of ")
    assert desk.stack.history(got.ticket_id)[-1] == "popped"
    with desk.stack.sessions() as s:
        assert s.get(Ticket, got.ticket_id).agent_id == agent2
    # A later repeated trouble is noted on the same ticket: no second pop.
    desk.service.record_reply(survey_id, "sms", "또 고장났어요")
    assert len(desk.topics(events.SCREENPOP)) == 1


def test_follow_up_ticket_waits_until_an_agent_becomes_ready(desk):
    cc = desk.stack.call_center
    agent2 = desk.stack.user_id("agent2")
    assert agent2 in _lan_members(desk)
    assert all(_state(desk, m) != "ready" for m in _lan_members(desk))
    _, survey_id = desk.survey("100200")
    got = desk.service.record_reply(survey_id, "email", "추가로 모니터도 요청합니다")
    assert got.term in terms.TICKET_TERMS and got.ticket_id
    assert desk.topics(events.SCREENPOP) == []
    with desk.stack.sessions() as s:
        waiting = s.get(Ticket, got.ticket_id)
        assert (waiting.status, waiting.agent_id) == ("queued", None)
    cc.set_agent_state(agent2, "ready")
    [pop] = desk.topics(events.SCREENPOP)
    assert (pop["agent_id"], pop["pop"]["ticket_id"], pop["pop"]["type"]) == (agent2, got.ticket_id, "survey")


def test_without_also_pop_the_intake_leaves_survey_tickets_alone(tmp_path, desk):
    desk.pops.close()
    plain = IntakeService(desk.stack.sessions, desk.stack.bus, AttachmentStore(tmp_path / "att2"), clock=desk.clock)
    desk.intake.close()
    try:
        _, survey_id = desk.survey("100200")
        got = desk.service.record_reply(survey_id, "phone", answers=terms.clean_answers(4, "1", "1"))
        desk.stack.call_center.set_agent_state(desk.stack.user_id("agent2"), "ready")
        assert desk.topics(events.SCREENPOP) == []
        with desk.stack.sessions() as s:
            assert s.get(Ticket, got.ticket_id).agent_id is None
            events_of = s.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == got.ticket_id)).all()
        assert "popped" not in events_of
    finally:
        plain.close()


def test_notices_migration_downgrades_and_upgrades_again(tmp_path):
    engine = make_engine({"url": f"sqlite:///{tmp_path / 'm.sqlite3'}", "echo": False})
    cfg = alembic_config(str(engine.url))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "e3b5a7c9d1f2")
    assert "user_notices" not in inspect(engine).get_table_names()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    assert "ix_user_notices_user_read" in {i["name"] for i in inspect(engine).get_indexes("user_notices")}
    engine.dispose()


def test_the_system_joins_follow_up_tickets_to_the_intakes_pops(tmp_path):
    from cti.config import load
    from db.models import Customer, Survey
    from ivr.system import System

    config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "data")}})
    system = System(config, echo=lambda *_: None)
    system.start_database()
    pops: list[dict] = []
    system.bus.subscribe(events.SCREENPOP, lambda _t, p: pops.append(p))
    try:
        with system.sessions.begin() as s:
            customer = s.scalar(select(Customer).where(Customer.pin == "100200"))
            ticket = Ticket(incident_id="SYS-1", channel="phone", status="resolved", customer_id=customer.id,
                            request="printer", resolution="fixed")
            s.add(ticket)
            s.flush()
            centre = s.scalar(select(ServiceCentre).where(ServiceCentre.code == "BSN"))
            survey = Survey(ticket_id=ticket.id, customer_id=customer.id, centre_id=centre.id, state="messaged")
            s.add(survey)
            s.flush()
            survey_id = survey.id
            agent2 = s.scalar(select(User.id).where(User.username == "agent2"))
        system.call_center.set_agent_state(agent2, "ready")
        got = system.surveys.record_reply(survey_id, "sms", "또 고장났어요")
        assert got.term == terms.REPEATED_TROUBLE
        assert [(p["agent_id"], p["pop"]["ticket_id"]) for p in pops] == [(agent2, got.ticket_id)]
        follow_up_pops = system.follow_up_pops
    finally:
        system.stop()
    assert system.follow_up_pops is None
    assert follow_up_pops._unsubscribe is None      # noqa: SLF001 - unsubscribed from the bus at stop
