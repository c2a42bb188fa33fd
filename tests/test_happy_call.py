"""The happy call's outbox (cti/happy_call.py): the pure state machine, and the
service on a real (SQLite) database fed by the escalation service's progress
updates, with a controllable clock, a restart in the middle of a call and
e-mail that cannot be sent."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from cti import events
from cti.config import load
from cti.escalation_service import EscalationService
from cti.happy_call import (HAPPY_CALL_DONE, HAPPY_CALL_QUEUED, HappyCallError, HappyCallService, Settings,
                            Step, after_attempt, after_message, dialable, spoken_digits)
from cti.services import CallCenter
from db.migrate import upgrade
from db.models import Customer, HappyCall, SupportGroup, Ticket, TicketEvent, User
from db.seed import seed
from db.session import make_engine, make_session_factory
from conftest import FakeClock
from support.desktop import place_call

T0 = dt.datetime(2026, 11, 25, 9, 0, 0)
FIVE_MIN = dt.timedelta(minutes=5)


# ---- the state machine ------------------------------------------------------------------------------
def test_answered_is_final_at_any_attempt():
    assert after_attempt("answered", 1, 2, FIVE_MIN, T0) == Step("answered")
    assert after_attempt("answered", 2, 2, FIVE_MIN, T0) == Step("answered")


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "failed"])
def test_not_reached_is_retried_then_messaged(outcome):
    assert after_attempt(outcome, 1, 2, FIVE_MIN, T0) == Step("queued", due_at=T0 + FIVE_MIN)
    assert after_attempt(outcome, 2, 2, FIVE_MIN, T0) == Step(outcome, send_message=True)
    assert after_attempt(outcome, 1, 1, FIVE_MIN, T0) == Step(outcome, send_message=True)
    assert after_message(outcome, sent=True) == "messaged"
    assert after_message(outcome, sent=False) == outcome


def test_unknown_outcome_is_refused():
    with pytest.raises(HappyCallError):
        after_attempt("maybe", 1, 2, FIVE_MIN, T0)


def test_incident_numbers_are_said_without_padding():
    assert spoken_digits("INC-000042") == ["4", "2"]
    assert spoken_digits("INC-100200") == ["1", "0", "0", "2", "0", "0"]
    assert spoken_digits("INC-000000") == ["0"]
    assert spoken_digits("") == []


@pytest.mark.parametrize("number,ok", [("025550101", True), ("+821055500101", True), ("1", False),
                                       ("02-555-0101", False), ("0255&Local/x", False), ("", False)])
def test_only_plain_numbers_are_dialled(number, ok):
    assert dialable(number) is ok


# ---- the service -------------------------------------------------------------------------------------
class ListMailer:
    def __init__(self, works: bool = True):
        self.works = works
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to, subject, body):
        self.sent.append((to, subject, body))
        return self.works


class Stack:
    def __init__(self, data_dir, clock, mailer, max_attempts=2, new_db=True):
        self.config = load(environ={}, overrides={
            "data": {"dir": str(data_dir)},
            "happy_call": {"max_attempts": max_attempts, "retry_minutes": 5.0}})
        self.engine = make_engine(self.config["database"])
        if new_db:
            upgrade(self.engine)
        self.sessions = make_session_factory(self.engine)
        if new_db:
            seed(self.sessions, data_dir, echo=lambda *_: None)
        self.bus = events.EventBus()
        self.published: list[tuple[str, dict]] = []
        for topic in (HAPPY_CALL_QUEUED, HAPPY_CALL_DONE):
            self.bus.subscribe(topic, lambda t, p: self.published.append((t, p)))
        self.mailer = mailer
        self.cc = CallCenter(self.sessions, self.bus, clock)
        self.happy = HappyCallService(self.sessions, self.bus, Settings.from_config(self.config["happy_call"]),
                                      mailer=mailer, clock=clock)
        self.esc = EscalationService(self.sessions, self.bus, self.config, clock, mailer=mailer,
                                     relayed_by_call=self.happy.relays)

    def uid(self, username):
        with self.sessions() as s:
            return s.scalar(select(User.id).where(User.username == username))

    def ticket_for(self, pin, severity):
        with self.sessions() as s:
            customer_id = s.scalar(select(Customer.id).where(Customer.pin == pin))
        call = place_call(self.cc, agent_id=self.uid("agent1"), answer=True, customer_id=customer_id)
        self.cc.call_ended(call["channel_id"])
        self.esc.classify(call["ticket_id"], self.uid("agent1"), "erp", severity)
        return call["ticket_id"]

    def rows(self, ticket_id):
        return self.happy.for_ticket(ticket_id)

    def events(self, ticket_id, prefix="happy_call"):
        with self.sessions() as s:
            return [(e.kind, e.detail) for e in s.scalars(select(TicketEvent).where(
                TicketEvent.ticket_id == ticket_id, TicketEvent.kind.like(prefix + "%")).order_by(TicketEvent.id))]

    def close(self):
        self.happy.close()
        self.esc.close()
        self.engine.dispose()


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def st(tmp_path, clock):
    s = Stack(tmp_path / "data", clock, ListMailer())
    yield s
    s.close()


def test_a_severity_1_update_is_queued_for_a_call_not_mailed(st, clock):
    tid = st.ticket_for("100100", 1)
    st.esc.add_progress(tid, st.uid("agent1"), "The ERP server is being restarted.")
    [row] = st.rows(tid)
    assert {k: row[k] for k in ("kind", "text", "language", "number", "email", "state", "attempts")} == {
        "kind": "progress", "text": "The ERP server is being restarted.", "language": "ko",
        "number": "025550101", "email": "gildong.hong@example.com", "state": "queued", "attempts": 0}
    assert ("happy_call.queued", {"happy_call_id": row["id"]}) in st.published
    assert st.mailer.sent == []          # the call tells the customer; e-mail only if it is not answered


def test_severity_3_updates_are_not_called(st):
    tid = st.ticket_for("100100", 3)
    st.esc.add_progress(tid, st.uid("agent1"), "Looking into it")
    assert st.rows(tid) == []


def test_answered_on_the_first_attempt(st, clock):
    tid = st.ticket_for("100100", 2)
    st.esc.add_progress(tid, st.uid("agent1"), "Parts ordered")
    [claimed] = st.happy.claim_due(4)
    assert claimed["attempt"] == 1 and claimed["incident_id"].startswith("INC-") and claimed["kind"] == "progress"
    assert st.happy.claim_due(4) == []                      # claimed once
    clock.advance(20)
    assert st.happy.finish(claimed["id"], "answered") == "answered"
    row = st.happy.get(claimed["id"])
    assert (row["state"], row["attempts"], row["finished_at"]) == ("answered", 1, (T0 + dt.timedelta(seconds=20)).isoformat() + "Z")
    assert st.events(tid) == [("happy_call_attempt", {"happy_call_id": claimed["id"], "outcome": "answered", "attempt": 1}),
                              ("happy_call", {"happy_call_id": claimed["id"], "outcome": "answered", "attempts": 1})]
    assert ("happy_call.done", {"happy_call_id": claimed["id"], "ticket_id": tid, "state": "answered"}) in st.published
    with pytest.raises(HappyCallError):                     # reported twice
        st.happy.finish(claimed["id"], "no_answer")
    assert st.happy.get(claimed["id"])["state"] == "answered" and st.mailer.sent == []


def test_not_answered_is_retried_after_the_delay_then_mailed(st, clock):
    tid = st.ticket_for("100100", 1)
    st.esc.add_progress(tid, st.uid("agent1"), "Restart <b>tonight</b>\nBcc: x@example.com")
    [first] = st.happy.claim_due(4)
    assert st.happy.finish(first["id"], "no_answer", "no answer") == "queued"
    assert st.happy.claim_due(4) == []                       # not before the retry delay
    clock.advance(5 * 60 - 1)
    assert st.happy.claim_due(4) == []
    clock.advance(1)
    [second] = st.happy.claim_due(4)
    assert second["id"] == first["id"] and second["attempt"] == 2
    assert st.happy.finish(second["id"], "busy", "cause 17") == "messaged"
    [(to, subject, body)] = st.mailer.sent
    assert to == "gildong.hong@example.com" and subject.endswith(": progress") and "INC-" in subject
    assert "could not reach you" in body and "Restart <b>tonight</b> Bcc: x@example.com" in body
    kinds = [(k, d.get("outcome")) for k, d in st.events(tid)]
    assert kinds == [("happy_call_attempt", "no_answer"), ("happy_call_attempt", "busy"), ("happy_call", "messaged")]
    row = st.happy.get(first["id"])
    assert (row["state"], row["last_outcome"], row["attempts"]) == ("messaged", "busy", 2)


def test_resolution_of_a_severity_1_ticket_is_called_and_only_mailed_when_not_reached(tmp_path, clock):
    st = Stack(tmp_path / "data", clock, ListMailer(), max_attempts=1)
    try:
        tid = st.ticket_for("100100", 1)
        with st.sessions() as s:
            gid = s.scalar(select(SupportGroup.id).where(SupportGroup.code == "techsupport"))
        st.esc.escalate(tid, st.uid("agent1"), gid, st.uid("tech1"), "needs a technician")
        st.esc.resolve(tid, st.uid("tech1"), "bad cable", "replaced the cable")
        customer_mail = [m for m in st.mailer.sent if m[0] == "gildong.hong@example.com"]
        assert customer_mail == []                          # the escalation service left it to the call
        [claimed] = st.happy.claim_due(4)
        assert claimed["kind"] == "resolved" and claimed["text"] == "replaced the cable"
        assert st.happy.finish(claimed["id"], "failed", "cause 38") == "messaged"
        customer_mail = [m for m in st.mailer.sent if m[0] == "gildong.hong@example.com"]
        assert len(customer_mail) == 1 and customer_mail[0][1].endswith("resolved")
    finally:
        st.close()


def test_a_customer_without_a_phone_gets_the_message_at_once(st):
    with st.sessions.begin() as s:
        s.execute(update(Customer).where(Customer.pin == "100300").values(phone="", mobile=""))
    tid = st.ticket_for("100300", 1)
    with st.sessions.begin() as s:      # the caller's number is no help either
        s.execute(update(Ticket).where(Ticket.id == tid).values(caller_number="anonymous"))
    st.esc.add_progress(tid, st.uid("agent1"), "On it")
    [row] = st.rows(tid)
    assert (row["state"], row["attempts"], row["detail"]) == ("messaged", 0, "no number that can be dialled")
    assert [m[0] for m in st.mailer.sent] == ["hoseok.jung@example.com"]
    assert st.happy.claim_due(4) == []
    assert not [p for t, p in st.published if t == HAPPY_CALL_QUEUED]


def test_no_phone_and_no_address_is_recorded_as_failed(st):
    with st.sessions.begin() as s:
        s.execute(update(Customer).where(Customer.pin == "100400").values(phone="", mobile="", email=""))
    tid = st.ticket_for("100400", 1)
    with st.sessions.begin() as s:
        s.execute(update(Ticket).where(Ticket.id == tid).values(caller_number=""))
    st.esc.add_progress(tid, st.uid("agent1"), "On it")
    [row] = st.rows(tid)
    assert row["state"] == "failed" and "no e-mail address" in row["detail"]
    assert st.events(tid)[-1][1]["message"] == "no e-mail address"


def test_mail_that_cannot_be_sent_leaves_the_outcome(tmp_path, clock):
    st = Stack(tmp_path / "data", clock, ListMailer(works=False), max_attempts=1)
    try:
        tid = st.ticket_for("100100", 1)
        st.esc.add_progress(tid, st.uid("agent1"), "Update")
        [claimed] = st.happy.claim_due(4)
        assert st.happy.finish(claimed["id"], "no_answer") == "no_answer"
        row = st.happy.get(claimed["id"])
        assert row["state"] == "no_answer" and "e-mail not sent" in row["detail"]
        assert ("happy_call.done", {"happy_call_id": claimed["id"], "ticket_id": tid, "state": "no_answer"}) \
            in st.published
    finally:
        st.close()


def test_a_call_interrupted_by_a_restart_counts_as_a_failed_attempt(tmp_path, clock):
    data = tmp_path / "data"
    st = Stack(data, clock, ListMailer())
    tid = st.ticket_for("100100", 1)
    st.esc.add_progress(tid, st.uid("agent1"), "Update")
    [claimed] = st.happy.claim_due(4)
    st.close()                                   # the process dies while the phone rings
    clock.advance(60)
    st2 = Stack(data, clock, ListMailer(), new_db=False)
    try:
        assert st2.happy.reset_dialing() == 1
        row = st2.happy.get(claimed["id"])
        assert (row["state"], row["last_outcome"], row["detail"]) == ("queued", "failed", "interrupted by a restart")
        assert row["due_at"] == (T0 + dt.timedelta(seconds=60) + FIVE_MIN).isoformat() + "Z"
        clock.advance(5 * 60)
        [again] = st2.happy.claim_due(4)
        assert again["attempt"] == 2
        assert st2.happy.settle_unfinished(again["id"], "pbx lost") == "messaged"
        assert st2.happy.settle_unfinished(again["id"], "twice") is None     # settled already
    finally:
        st2.close()


def test_claims_respect_the_limit_and_the_order(st, clock):
    tids = [st.ticket_for("100100", 1), st.ticket_for("100200", 2)]
    for tid in tids:
        st.esc.add_progress(tid, st.uid("agent1"), "Update")
        clock.advance(1)
    assert st.happy.claim_due(0) == []
    [first] = st.happy.claim_due(1)
    assert first["ticket_id"] == tids[0]
    [second] = st.happy.claim_due(5)
    assert second["ticket_id"] == tids[1]


def test_one_number_is_called_once_at_a_time(st, clock):
    # Three tickets of one customer and one of another, all due: the customer's line
    # gets one call; their next waits until it ends, in order, the other customer's
    # is not held up.
    same = [st.ticket_for("100100", 1) for _ in range(3)]
    other = st.ticket_for("100200", 1)
    for tid in same + [other]:
        st.esc.add_progress(tid, st.uid("agent1"), "Update")
        clock.advance(1)
    claimed = st.happy.claim_due(4)
    assert [c["ticket_id"] for c in claimed] == [same[0], other]
    assert st.happy.claim_due(4) == []                 # the customer's line is still in use
    st.happy.finish(claimed[0]["id"], "answered")
    [nxt] = st.happy.claim_due(4)
    assert nxt["ticket_id"] == same[1]


def test_bad_input_changes_nothing(st):
    tid = st.ticket_for("100100", 1)
    with pytest.raises(HappyCallError):
        st.happy.enqueue(tid, "gossip", "text")
    with pytest.raises(LookupError):
        st.happy.enqueue(999999, "progress", "text")
    st.esc.add_progress(tid, st.uid("agent1"), "Update")
    [claimed] = st.happy.claim_due(4)
    with pytest.raises(HappyCallError):
        st.happy.finish(claimed["id"], "picked up by the dog")
    with pytest.raises(LookupError):
        st.happy.finish(424242, "answered")
    assert st.happy.get(claimed["id"])["state"] == "dialing"
    with st.sessions() as s:
        assert s.scalar(select(HappyCall.id).where(HappyCall.kind == "gossip")) is None


def test_disabled_happy_calls_leave_the_customer_mail_to_the_escalation_service(tmp_path, clock):
    mailer = ListMailer()
    st = Stack(tmp_path / "data", clock, mailer)
    st.happy.close()
    try:
        off = HappyCallService(st.sessions, st.bus, Settings(enabled=False), mailer=mailer, clock=clock)
        esc = EscalationService(st.sessions, st.bus, st.config, clock, mailer=mailer, relayed_by_call=off.relays)
        tid = st.ticket_for("100100", 1)
        esc.add_progress(tid, st.uid("agent1"), "Update")
        assert st.rows(tid) == []
        assert [m[0] for m in mailer.sent] == ["gildong.hong@example.com"]
        esc.close()
    finally:
        st.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_system_wires_the_outbox_to_the_escalation_service(tmp_path, enabled):
    from ivr.system import System

    config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "data")},
                                         "escalation": {"enabled": False},
                                         "happy_call": {"enabled": enabled}})
    system = System(config, echo=lambda *_: None)
    system.start_database()
    try:
        with system.sessions.begin() as s:
            customer = s.scalar(select(Customer).where(Customer.pin == "100100"))
            agent = s.scalar(select(User).where(User.username == "agent1"))
            ticket = Ticket(incident_id="INC-777001", status="in_progress", customer_id=customer.id,
                            agent_id=agent.id, severity=1)
            s.add(ticket)
            s.flush()
            tid, aid = ticket.id, agent.id
        system.escalation.add_progress(tid, aid, "Update")
        rows = system.happy_calls.for_ticket(tid)
        assert [r["state"] for r in rows] == (["queued"] if enabled else [])
    finally:
        system.stop()
    system.escalation.add_progress(tid, aid, "After the stop: nobody listens")
    assert len(system.happy_calls.for_ticket(tid)) == (1 if enabled else 0)
