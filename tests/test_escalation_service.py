"""EscalationService on a real (SQLite) database: escalation, re-assignment,
2nd-level resolution, progress, e-mail through a real SMTP server (aiosmtpd),
the SLA table, and the persisted timers across a restart with a moved clock."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cti import events
from cti.config import load
from cti.escalation import EscalationError
from cti.escalation_runner import TimerRunner
from cti.escalation_service import (ESCALATION_RESOLVED, TICKET_ESCALATED, TICKET_OVERDUE, TICKET_PROGRESS,
                                    EscalationService, NotAllowed)
from cti.mailer import SmtpMailer
from cti.services import CallCenter
from db.migrate import upgrade
from db.models import Customer, ScheduledJob, SupportGroup, Ticket, TicketAssignment, User
from db.seed import seed
from db.session import make_engine, make_session_factory
from conftest import FakeClock
from support.desktop import place_call
from support.smtp_sink import smtp_sink

T0 = dt.datetime(2026, 11, 25, 9, 0, 0)


class Stack:
    """Database + services, rebuilt from the same file for the restart tests."""

    def __init__(self, data_dir, clock, mailer=None):
        self.config = load(environ={}, overrides={"data": {"dir": str(data_dir)}})
        self.engine = make_engine(self.config["database"])
        upgrade(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.passwords = seed(self.sessions, data_dir, echo=lambda *_: None)
        self.bus = events.EventBus()
        self.published: list[tuple[str, dict]] = []
        for topic in (TICKET_ESCALATED, ESCALATION_RESOLVED, TICKET_OVERDUE, TICKET_PROGRESS, events.TICKET_UPDATED):
            self.bus.subscribe(topic, lambda t, p: self.published.append((t, p)))
        self.cc = CallCenter(self.sessions, self.bus, clock)
        self.esc = EscalationService(self.sessions, self.bus, self.config, clock, mailer=mailer)

    def uid(self, username):
        with self.sessions() as s:
            return s.scalar(select(User.id).where(User.username == username))

    def gid(self, code):
        with self.sessions() as s:
            return s.scalar(select(SupportGroup.id).where(SupportGroup.code == code))

    def ticket(self, ticket_id):
        with self.sessions() as s:
            return s.get(Ticket, ticket_id)

    def topics(self, topic):
        return [p for t, p in self.published if t == topic]

    def close(self):
        self.esc.close()
        self.engine.dispose()


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def st(tmp_path, clock):
    s = Stack(tmp_path / "data", clock)
    yield s
    s.close()


def answered_call(st, customer_pin="100100"):
    """A call answered by agent1 (who is then free again: the call ended, no wrap-up)."""
    with st.sessions() as s:
        customer_id = s.scalar(select(Customer.id).where(Customer.pin == customer_pin))
    call = place_call(st.cc, agent_id=st.uid("agent1"), answer=True, customer_id=customer_id)
    st.cc.call_ended(call["channel_id"])
    with st.sessions.begin() as s:
        s.scalar(select(User).where(User.username == "agent1")).state = "ready"
    return call["ticket_id"]


def test_seeded_groups_members_and_sla_table(st):
    groups = {g["code"]: g for g in st.esc.groups()}
    assert {"operations", "techsupport", "network", "database"} <= set(groups)
    assert {m["username"] for m in groups["techsupport"]["members"]} == {"tech1", "agent2"}
    table = {(r["system"], r["severity"]): r for r in st.esc.sla_table()}
    assert table[("erp", 1)] == {"system": "erp", "severity": 1, "progress_minutes": 30,
                                 "first_level_minutes": None, "group": "database"}
    assert table[("erp", 3)]["progress_minutes"] is None
    assert "*" not in st.esc.systems() and "erp" in st.esc.systems()
    assert st.esc.terms("erp", 2).group_code == "database"
    assert st.esc.terms("unknown-system", 1).group_code == "operations"   # the "*" row


def test_pop_starts_the_first_level_once(st, clock):
    tid = answered_call(st)
    assert st.ticket(tid).first_level_started_at == T0
    clock.advance(60)
    assert st.esc.start_first_level(tid) is False        # a second pop does not restart it
    assert st.ticket(tid).first_level_started_at == T0
    jobs = st.esc.pending_jobs(tid)
    assert jobs == [{"kind": "first_level", "ticket_id": tid, "due_at": T0 + dt.timedelta(hours=3)}]


def test_escalate_to_a_person_notifies_by_bus_and_real_smtp(tmp_path, clock):
    with smtp_sink() as sink:
        st = Stack(tmp_path / "data", clock, mailer=SmtpMailer.from_config(sink_config(sink)))
        try:
            tid = answered_call(st)
            clock.advance(600)
            st.esc.escalate(tid, st.uid("agent1"), st.gid("techsupport"), st.uid("tech1"),
                            "Printer driver\r\nBcc: victim@example.com <script>")
            t = st.ticket(tid)
            assert (t.level, t.group_id, t.assignee_id, t.escalated_by_id) == \
                (2, st.gid("techsupport"), st.uid("tech1"), st.uid("agent1"))
            [event] = st.topics(TICKET_ESCALATED)
            assert event["notify_user_ids"] == [st.uid("tech1")] and event["automatic"] is False
            [msg] = sink.wait(1)
            assert msg["X-Envelope-To"] == "tech1@example.com"
            assert "INC-" in msg["Subject"] and "Technical support" in msg["Subject"]
            assert msg["Bcc"] is None                               # no header injection from the reason
            assert "<script>" in msg.get_content()                   # plain text, kept as written
            assert not st.esc.pending_jobs(tid) or all(j["kind"] != "first_level" for j in st.esc.pending_jobs(tid))
            view = st.esc.ticket_escalation(tid, st.uid("tech1"))
            assert view["viewer_in_group"] and view["first_level"]["elapsed_seconds"] == 600
            assert view["first_level"]["running"] is False
            [row] = view["timeline"]
            assert row["from_user"]["username"] == "agent1" and row["to_user"]["username"] == "tech1"
            assert row["automatic"] is False and row["reason"].startswith("Printer driver")
        finally:
            st.close()


def sink_config(sink):
    return sink.mail_config()


def test_refused_escalations_change_nothing(st):
    tid = answered_call(st)
    with pytest.raises(EscalationError):      # dba1 is not in technical support
        st.esc.escalate(tid, st.uid("agent1"), st.gid("techsupport"), st.uid("dba1"), "why")
    with pytest.raises(EscalationError):
        st.esc.escalate(tid, st.uid("agent1"), st.gid("techsupport"), None, "   ")
    with pytest.raises(EscalationError):
        st.esc.escalate(tid, st.uid("agent1"), 9999, None, "why")
    with pytest.raises(NotAllowed):
        st.esc.escalate(tid, st.uid("trainee1"), st.gid("techsupport"), None, "why")
    t = st.ticket(tid)
    assert (t.level, t.group_id) == (1, None)
    with st.sessions() as s:
        assert s.scalar(select(TicketAssignment.id)) is None


def test_reassign_inside_the_group_and_resolve_at_second_level(tmp_path, clock):
    with smtp_sink() as sink:
        st = Stack(tmp_path / "data", clock, mailer=SmtpMailer.from_config(sink.mail_config()))
        try:
            tid = answered_call(st)                  # customer 100100 has an e-mail address
            st.esc.escalate(tid, st.uid("agent1"), st.gid("techsupport"), None, "needs a technician")
            assert st.topics(TICKET_ESCALATED)[0]["notify_user_ids"] == [st.uid("tech1"), st.uid("agent2")]
            with pytest.raises(NotAllowed):           # not a member
                st.esc.reassign(tid, st.uid("dba1"), st.uid("tech1"), "mine")
            with pytest.raises(EscalationError):      # to someone outside the group
                st.esc.reassign(tid, st.uid("tech1"), st.uid("dba1"), "yours")
            clock.advance(60)
            st.esc.reassign(tid, st.uid("tech1"), st.uid("agent2"), "agent2 knows this LAN")
            assert st.ticket(tid).assignee_id == st.uid("agent2")
            with pytest.raises(EscalationError):      # cause and action are required
                st.esc.resolve(tid, st.uid("agent2"), "", "replaced cable")
            assert st.ticket(tid).status == "in_progress"
            st.esc.record_work(tid, st.uid("agent2"), "broken cable", "")
            st.esc.resolve(tid, st.uid("agent2"), "broken cable", "replaced the patch cable")
            t = st.ticket(tid)
            assert (t.status, t.cause, t.action, t.resolution) == \
                ("resolved", "broken cable", "replaced the patch cable", "replaced the patch cable")
            [done] = st.topics(ESCALATION_RESOLVED)
            assert done["notify_user_ids"] == [st.uid("agent1")]
            assert st.topics(events.TICKET_UPDATED)[-1] == {"ticket_id": tid, "status": "resolved",
                                                            "agent_id": st.uid("agent1")}
            assert st.esc.pending_jobs(tid) == []
            timeline = st.esc.ticket_escalation(tid)["timeline"]
            assert [(r["from_user"]["username"], (r["to_user"] or {}).get("username"), r["from_group"])
                    for r in timeline] == [("agent1", None, None),
                                           ("tech1", "agent2", {"name": "기술지원팀", "name_en": "Technical support"})]
            # tech1 + agent2 (group escalation), agent2 (re-assigned), the customer (resolved)
            messages = sink.wait(4)
            to = sorted(m["X-Envelope-To"] for m in messages)
            assert to == ["agent2@example.com", "agent2@example.com", "gildong.hong@example.com",
                          "tech1@example.com"]
            with pytest.raises(EscalationError):
                st.esc.add_progress(tid, st.uid("agent2"), "too late")
        finally:
            st.close()


def test_first_level_rule_fires_once_across_a_restart(tmp_path, clock):
    data = tmp_path / "data"
    st = Stack(data, clock)
    tid = answered_call(st)
    st.esc.classify(tid, st.uid("agent1"), "erp", 3)          # erp -> database group, no progress rule
    clock.advance(3 * 3600 - 1)
    assert st.esc.run_due(clock()) == []
    st.close()                                               # "restart": nothing kept in memory

    clock.advance(3600)                                      # the process was down past the limit
    st2 = Stack(data, clock)
    try:
        assert st2.ticket(tid).level == 1
        assert st2.esc.run_due() == [("first_level", tid, "assigned")]
        assert st2.esc.run_due() == []                        # fired once
        t = st2.ticket(tid)
        assert (t.level, t.group_id, t.assignee_id) == (2, st2.gid("database"), None)
        [event] = st2.topics(TICKET_ESCALATED)
        assert event["automatic"] is True and event["by_user_id"] is None
        assert sorted(event["notify_user_ids"]) == [st2.uid("dba1")]
        [row] = st2.esc.ticket_escalation(tid)["timeline"]
        assert row["automatic"] and row["from_user"] is None and "3 h" in row["reason"]
        with st2.sessions() as s:
            assert [(j.kind, j.status, j.result) for j in s.scalars(select(ScheduledJob))] == \
                [("first_level", "done", "assigned")]
    finally:
        st2.close()


def test_no_auto_assignment_after_manual_escalation_or_resolution(st, clock):
    escalated = answered_call(st)
    resolved = answered_call(st, "100200")
    st.esc.escalate(escalated, st.uid("agent1"), st.gid("network"), None, "LAN down")
    st.cc.resolve(resolved, st.uid("agent1"), "fixed on the phone")
    clock.advance(4 * 3600)
    # the escalated ticket's timer was cancelled; the one resolved at the first level finds it closed
    assert st.esc.run_due() == [("first_level", resolved, "closed")]
    assert st.ticket(resolved).group_id is None
    assert st.ticket(escalated).group_id == st.gid("network")


def test_severity_1_without_progress_is_flagged_then_cleared(tmp_path, clock):
    with smtp_sink() as sink:
        st = Stack(tmp_path / "data", clock, mailer=SmtpMailer.from_config(sink.mail_config()))
        try:
            tid = answered_call(st)
            st.esc.classify(tid, st.uid("agent1"), "mail", 1)
            st.esc.escalate(tid, st.uid("agent1"), st.gid("operations"), st.uid("ops1"), "mail server down")
            escalated_at = clock()
            clock.advance(29 * 60 + 59)
            assert st.esc.run_due() == []
            clock.advance(1)
            assert st.esc.run_due() == [("progress", tid, "flagged")]
            assert st.ticket(tid).progress_overdue is True
            [flag] = st.topics(TICKET_OVERDUE)
            assert flag["overdue"] is True
            assert sorted(flag["notify_user_ids"]) == sorted([st.uid("ops1"), st.uid("agent1")])
            assert st.esc.overdue_count() == 1
            # The customer is told the work goes on (relayed by a happy call, docs/happy-call.md).
            [relay] = st.topics(TICKET_PROGRESS)
            assert (relay["ticket_id"], relay["kind"], relay["severity"]) == (tid, "overdue", 1)
            clock.advance(300)
            assert st.esc.run_due() == []                         # flagged once
            assert len(st.topics(TICKET_PROGRESS)) == 1
            st.esc.add_progress(tid, st.uid("ops1"), "restarting the mail server")
            assert st.ticket(tid).progress_overdue is False and st.esc.overdue_count() == 0
            assert st.topics(TICKET_OVERDUE)[-1]["overdue"] is False
            assert st.topics(TICKET_PROGRESS)[-1]["kind"] == "progress"
            assert st.esc.pending_jobs(tid) == [{"kind": "progress", "ticket_id": tid,
                                                 "due_at": escalated_at + dt.timedelta(minutes=65)}]
            [customer_mail] = [m for m in sink.wait(2) if m["X-Envelope-To"] == "gildong.hong@example.com"]
            assert "restarting the mail server" in customer_mail.get_content()
        finally:
            st.close()


def test_runner_thread_fires_due_timers_and_joins(st, clock):
    tid = answered_call(st)
    runner = TimerRunner(st.esc, poll_seconds=0.05, clock=clock)
    runner.start()
    try:
        clock.advance(3 * 3600)
        runner.poke()
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while st.ticket(tid).level != 2 and dt.datetime.now() < deadline:
            import time
            time.sleep(0.02)
        assert st.ticket(tid).level == 2
    finally:
        runner.stop()
    assert not runner.running
