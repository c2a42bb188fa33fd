"""The analyzer's summary columns (db/ticket_summary.py): kept at every flush, they
must always equal their definitions evaluated afresh, through the changes that
move them (a later ticket of the same customer, the customer identified late,
another agent, history events added and removed, tickets deleted or re-dated),
on SQLite and PostgreSQL; the migration fills existing rows the same way; and
first-call resolution from the column equals the report's previous query."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import Integer, and_, case, cast, create_engine, func, insert, not_, or_, select, text
from sqlalchemy.orm import aliased

from cti.analyzer import Analyzer, Scope
from db import ticket_summary as ts
from db.migrate import upgrade
from db.models import CallRecord, Customer, Queue, Ticket, TicketEvent, User
from db.session import make_engine, make_session_factory
from support import analyzer_data
from support.pg_cluster import cluster_url_or_skip

D = dt.datetime
T0 = D(2026, 11, 2, 1, 0, 0, 123456)
WEEK = dt.timedelta(days=7)
_NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def pg_url():
    with cluster_url_or_skip() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.sqlite3'}"
    pg = request.getfixturevalue("pg_url")
    engine = create_engine(pg)
    with engine.begin() as c:        # a fresh schema for each test on the module's cluster
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return pg


@pytest.fixture
def sessions(url):
    engine = make_engine({"url": url})
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _mismatches(sessions) -> list:
    """Tickets whose stored first_contact / handling_s differ from the definitions now,
    and calls whose wait_s / talk_s do."""
    with sessions() as s:
        dialect = s.get_bind().dialect.name
        t = Ticket.__table__
        fresh = case((ts.first_contact_definition(dialect), True), else_=False)
        handling = cast(ts.seconds_between(dialect, t.c.created_at, t.c.resolved_at), Integer)
        bad = [("ticket", r.id, r.first_contact, r.fresh, r.handling_s, r.handling)
               for r in s.execute(select(t.c.id, t.c.first_contact, fresh.label("fresh"), t.c.handling_s,
                                         handling.label("handling")))
               if bool(r.first_contact) != bool(r.fresh) or r.handling_s != r.handling]
        c = CallRecord.__table__
        wait = cast(ts.seconds_between(dialect, c.c.queued_at, c.c.answered_at), Integer)
        talk = cast(ts.seconds_between(dialect, c.c.answered_at, c.c.ended_at), Integer)
        bad += [("call", r.id, r.wait_s, r.wait, r.talk_s, r.talk)
                for r in s.execute(select(c.c.id, c.c.wait_s, wait.label("wait"), c.c.talk_s, talk.label("talk")))
                if r.wait_s != r.wait or r.talk_s != r.talk]
    return bad


def _first_contact(sessions, ticket_id: int) -> bool:
    with sessions() as s:
        return bool(s.scalar(select(Ticket.first_contact).where(Ticket.id == ticket_id)))


def _people(sessions) -> dict[str, int]:
    with sessions.begin() as s:
        users = {n: User(username=f"ts-{n}", display_name=n, password_hash="x", role="agent") for n in ("a1", "a2")}
        customers = {n: Customer(pin=f"ts-{n}", name=n) for n in ("c1", "c2", "c3")}
        queue = Queue(name="ts-q", title="q")
        s.add_all([*users.values(), *customers.values(), queue])
        s.flush()
        return {**{k: v.id for k, v in users.items()}, **{k: v.id for k, v in customers.items()}, "q": queue.id}


def _ticket(sessions, ids, customer=None, agent="a1", created=T0, resolved=None, events=()) -> int:
    with sessions.begin() as s:
        t = Ticket(incident_id=f"TS-{next(_NUMBERS)}",
                   customer_id=ids[customer] if customer else None, agent_id=ids[agent] if agent else None,
                   queue_id=ids["q"], created_at=created, resolved_at=resolved,
                   status="resolved" if resolved else "in_progress")
        s.add(t)
        s.flush()
        for kind, user in events:
            s.add(TicketEvent(ticket_id=t.id, kind=kind, user_id=ids[user] if user else None, at=created))
        return t.id


def test_a_later_ticket_of_the_same_customer_within_7_days(sessions):
    ids = _people(sessions)
    first = _ticket(sessions, ids, "c1", resolved=T0 + dt.timedelta(minutes=5),
                    events=[("answered", "a1"), ("resolved", "a1")])
    assert _first_contact(sessions, first)
    # exactly 7 days later (the window is inclusive): the first one was not settled
    second = _ticket(sessions, ids, "c1", created=T0 + WEEK)
    assert not _first_contact(sessions, first) and _first_contact(sessions, second)
    # 7 days and 1 s after the second: the second becomes "came back" too
    third = _ticket(sessions, ids, "c1", created=T0 + 2 * WEEK + dt.timedelta(seconds=1))
    assert _first_contact(sessions, second) and _first_contact(sessions, third)
    # the same instant as another ticket of the customer: neither is "later"
    twin = _ticket(sessions, ids, "c1", created=T0 + 2 * WEEK + dt.timedelta(seconds=1))
    assert _first_contact(sessions, third) and _first_contact(sessions, twin)
    # another customer's ticket changes nothing
    _ticket(sessions, ids, "c2", created=T0 + dt.timedelta(hours=1))
    assert _first_contact(sessions, second)
    assert _mismatches(sessions) == []


def test_changes_after_the_fact_move_the_column(sessions):
    ids = _people(sessions)
    earlier = _ticket(sessions, ids, "c2", resolved=T0 + dt.timedelta(hours=1),
                      events=[("answered", "a1"), ("resolved", "a1")])
    unknown = _ticket(sessions, ids, None, created=T0 + dt.timedelta(days=2))   # e-mail from an unknown sender
    assert _first_contact(sessions, earlier)
    with sessions.begin() as s:          # the agent identifies the sender as c2
        s.get(Ticket, unknown).customer_id = ids["c2"]
    assert not _first_contact(sessions, earlier)
    with sessions.begin() as s:          # ... no, as c3: c2's ticket is settled again
        s.get(Ticket, unknown).customer_id = ids["c3"]
    assert _first_contact(sessions, earlier)
    with sessions.begin() as s:          # re-dated two days earlier than c3's... nothing of c3 before it
        s.get(Ticket, unknown).created_at = T0 - dt.timedelta(days=1)
    assert _first_contact(sessions, earlier) and _first_contact(sessions, unknown)
    with sessions.begin() as s:          # another agent takes the ticket a1 answered
        s.get(Ticket, earlier).agent_id = ids["a2"]
    assert not _first_contact(sessions, earlier)
    with sessions.begin() as s:
        s.get(Ticket, earlier).agent_id = ids["a1"]
    assert _first_contact(sessions, earlier)
    with sessions.begin() as s:          # escalated after it was resolved
        s.add(TicketEvent(ticket_id=earlier, kind="escalated", at=T0 + dt.timedelta(hours=2)))
    assert not _first_contact(sessions, earlier)
    with sessions.begin() as s:          # the event was a mistake and is removed
        s.delete(s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == earlier,
                                                    TicketEvent.kind == "escalated")))
    assert _first_contact(sessions, earlier)
    with sessions.begin() as s:          # an event re-labelled as a move
        ev = s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == earlier, TicketEvent.kind == "answered"))
        ev.kind = "moved"
    assert not _first_contact(sessions, earlier)
    later = _ticket(sessions, ids, "c1", created=T0 + dt.timedelta(days=3))
    first_c1 = _ticket(sessions, ids, "c1", created=T0, resolved=T0 + dt.timedelta(seconds=30))
    assert not _first_contact(sessions, first_c1)
    with sessions.begin() as s:          # the later ticket is deleted: the first is settled again
        s.delete(s.get(Ticket, later))
    assert _first_contact(sessions, first_c1)
    assert _mismatches(sessions) == []


def test_handler_events_by_the_own_agent_or_another(sessions):
    """An answered/resolved event by the ticket's own agent needs no statement; by
    someone else (with the ticket loaded in the session or not) it turns the flag."""
    ids = _people(sessions)
    tid = _ticket(sessions, ids, "c1", events=[("answered", "a1")])
    with sessions.begin() as s:
        ticket = s.get(Ticket, tid)                 # loaded: the agent is known in the flush
        s.add(TicketEvent(ticket_id=tid, kind="resolved", user_id=ids["a1"], at=T0))
        ticket.resolved_at = T0 + dt.timedelta(minutes=1)
    assert _first_contact(sessions, tid)
    with sessions.begin() as s:                     # not loaded: looked up in SQL
        s.add(TicketEvent(ticket_id=tid, kind="answered", user_id=ids["a2"], at=T0))
    assert not _first_contact(sessions, tid)
    other = _ticket(sessions, ids, "c2", events=[("answered", "a1")])
    with sessions.begin() as s:
        s.get(Ticket, other)
        s.add(TicketEvent(ticket_id=other, kind="resolved", user_id=ids["a2"], at=T0))
    assert not _first_contact(sessions, other)
    assert _mismatches(sessions) == []


def test_durations_are_the_rounded_seconds_and_follow_changes(sessions):
    ids = _people(sessions)
    tid = _ticket(sessions, ids, "c1", created=D(2026, 11, 2, 9), resolved=D(2026, 11, 2, 9, 0, 20, 500000))
    with sessions() as s:
        assert s.get(Ticket, tid).handling_s == 21                  # half a second: away from zero
    with sessions.begin() as s:
        t = s.get(Ticket, tid)
        t.resolved_at = None                                        # reopened
    with sessions() as s:
        assert s.get(Ticket, tid).handling_s is None
    with sessions.begin() as s:
        s.get(Ticket, tid).resolved_at = D(2026, 11, 2, 9, 0, 20, 499999)
        s.add(CallRecord(channel_id="ts-1", ticket_id=tid, queued_at=D(2026, 11, 2, 9),
                         answered_at=D(2026, 11, 2, 9, 0, 20, 500500)))
        s.add(CallRecord(channel_id="ts-2", ticket_id=tid, queued_at=D(2026, 11, 2, 9)))
    with sessions.begin() as s:
        assert s.get(Ticket, tid).handling_s == 20
        call = s.scalar(select(CallRecord).where(CallRecord.channel_id == "ts-1"))
        assert (call.wait_s, call.talk_s) == (21, None)
        call.ended_at = D(2026, 11, 2, 9, 5, 20, 500500)
    with sessions() as s:
        call = s.scalar(select(CallRecord).where(CallRecord.channel_id == "ts-1"))
        assert (call.wait_s, call.talk_s) == (21, 300)
    # a ticket made without a creation time gets the column default before its duration
    with sessions.begin() as s:
        t = Ticket(incident_id="TS-default", resolved_at=dt.datetime.utcnow() + dt.timedelta(hours=1))
        s.add(t)
    assert _mismatches(sessions) == []


def test_the_call_centre_path_keeps_the_columns(db, call_center, clock):
    """The phone path end to end through CallCenter (call, ticket, queue, offer,
    answer, hang-up, resolve), twice for the same customer a minute apart."""
    sessions, _ = db
    agent = 1
    made = []
    for n in range(2):
        channel = f"ts-ch-{n}"
        call_center.set_agent_state(agent, "ready")
        call_center.call_started(channel, "0105550000", "Caller", "1600", "ko")
        info = call_center.open_ticket(channel, call_center.find_customer_by_pin("100100"), "100100", "ko")
        call_center.enqueue(channel, "helpdesk")
        clock.advance(12)
        call_center.offer(channel, agent)
        clock.advance(3)
        call_center.answered(channel, agent)
        clock.advance(60)
        call_center.call_ended(channel)
        call_center.resolve(info.ticket_id, agent, "done")
        made.append(info.ticket_id)
        clock.advance(60)
    with sessions() as s:
        rows = {t.id: (t.first_contact, t.handling_s) for t in s.scalars(select(Ticket).where(Ticket.id.in_(made)))}
        waits = [(c.wait_s, c.talk_s) for c in s.scalars(select(CallRecord).where(CallRecord.ticket_id.in_(made)))]
    # the first: the same customer called again two minutes later; the second: settled
    assert rows == {made[0]: (False, 75), made[1]: (True, 75)}
    assert waits == [(15, 60), (15, 60)]
    assert _mismatches(sessions) == []


# ---- the report keeps its definition ---------------------------------------------------------------
def _old_first_call_resolution(s, period) -> dict:
    """The report's query before the column (PR history: two correlated EXISTS per
    resolved ticket), kept here as the reference."""
    dialect = s.get_bind().dialect.name
    other = aliased(Ticket)
    passed_on = select(TicketEvent.ticket_id).where(
        TicketEvent.ticket_id == Ticket.id,
        or_(TicketEvent.kind.in_(ts.NOT_FIRST_CONTACT_EVENTS),
            and_(TicketEvent.kind.in_(ts.HANDLER_EVENTS), TicketEvent.user_id.is_not(None),
                 or_(Ticket.agent_id.is_(None), TicketEvent.user_id != Ticket.agent_id)))).exists()
    came_back = select(other.id).where(
        other.customer_id == Ticket.customer_id, other.created_at > Ticket.created_at,
        other.created_at <= ts.plus_days(dialect, Ticket.created_at, ts.REPEAT_WINDOW_DAYS)).exists()
    first_contact = and_(not_(passed_on), or_(Ticket.customer_id.is_(None), not_(came_back)))
    stmt = (select(Ticket.queue_id, func.count(), func.sum(case((first_contact, 1), else_=0)))
            .where(Ticket.created_at >= period.start, Ticket.created_at < period.end, Ticket.resolved_at.is_not(None))
            .group_by(Ticket.queue_id))
    return {qid: (n, int(fc or 0)) for qid, n, fc in s.execute(stmt)}


def _new_first_call_resolution(analyzer, period, names) -> dict:
    rows = analyzer.report("first_call_resolution", period, Scope()).rows
    return {names[r["queue"]]: (r["resolved"], r["first_contact"]) for r in rows}


def test_report_equals_the_previous_query_on_the_fixed_data_set(sessions):
    analyzer_data.load(sessions)
    analyzer = Analyzer(sessions, "Asia/Seoul")
    with sessions() as s:
        names = dict(s.execute(select(Queue.name, Queue.id)).all())
        for first, last in ((analyzer_data.FIRST_DAY, analyzer_data.LAST_DAY),
                            (dt.date(2026, 10, 1), dt.date(2026, 11, 30))):
            period = analyzer.period(first, last)
            assert _new_first_call_resolution(analyzer, period, names) == _old_first_call_resolution(s, period)
    assert _mismatches(sessions) == []


def test_migration_fills_existing_rows_from_the_definitions(tmp_path):
    """Rows written before the columns existed (plain SQL at the previous revision)
    get the same values as the flush hook gives."""
    engine = make_engine({"url": f"sqlite:///{tmp_path / 'm.sqlite3'}"})
    upgrade(engine, "d4a7c2e91f03")
    with engine.begin() as c:
        c.execute(insert(User.__table__.c.id.table).values(id=1, username="m1", display_name="m1",
                                                           password_hash="x", role="agent", active=True,
                                                           phone="", extension="", state="ready",
                                                           state_reason="", state_since=T0))
        c.execute(text("INSERT INTO customers (id, pin, name, department, phone, mobile, email, location, hardware,"
                       " software, training_record, language, created_at) VALUES (1, 'p', 'n', '', '', '', '', '',"
                       " '', '', '', 'ko', :t)"), {"t": T0})
        cols = ("id, incident_id, channel, status, customer_id, caller_number, caller_name, entered_pin, agent_id,"
                " language, request, resolution, created_at, resolved_at, system, level, cause, action,"
                " progress_overdue")
        for tid, created, resolved, customer in ((1, T0, T0 + dt.timedelta(seconds=90.5), 1),
                                                 (2, T0 + WEEK, None, 1), (3, T0, T0 + dt.timedelta(hours=1), None)):
            c.execute(text(f"INSERT INTO tickets ({cols}) VALUES (:id, :inc, 'phone', 's', :cu, '', '', '', 1,"
                           " 'ko', '', '', :cr, :re, '', 1, '', '', 0)"),
                      {"id": tid, "inc": f"M{tid}", "cu": customer, "cr": created, "re": resolved})
        c.execute(text("INSERT INTO ticket_events (ticket_id, kind, at, user_id, detail) VALUES (3, 'moved', :t,"
                       " NULL, '{}')"), {"t": T0})
        c.execute(text("INSERT INTO call_records (channel_id, ticket_id, caller_number, caller_name, line,"
                       " started_at, queued_at, answered_at, ended_at, outcome, end_reason) VALUES ('m', 1, '', '',"
                       " '', :q, :q, :a, :e, 'answered', '')"),
                  {"q": T0, "a": T0 + dt.timedelta(seconds=20, microseconds=500000),
                   "e": T0 + dt.timedelta(minutes=2)})
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT id, first_contact, handling_s FROM tickets ORDER BY id")).all() == [
            (1, 0, 91), (2, 1, None), (3, 0, 3600)]
        # 20.5 s and 99.5 s: half away from zero
        assert c.execute(text("SELECT wait_s, talk_s FROM call_records")).one() == (21, 100)
    assert _mismatches(make_session_factory(engine)) == []
    engine.dispose()


def test_report_uses_the_covering_index(sessions):
    """The date-range aggregate is answered from ix_tickets_report (no table rows)."""
    analyzer = Analyzer(sessions, "Asia/Seoul")
    with sessions() as s:
        if s.get_bind().dialect.name != "sqlite":
            pytest.skip("SQLite's plan; PostgreSQL chooses by its statistics")
        period = analyzer.period(analyzer_data.FIRST_DAY, analyzer_data.LAST_DAY)
        stmt = (select(Ticket.queue_id, func.count(), func.sum(case((Ticket.first_contact.is_(True), 1), else_=0)))
                .where(Ticket.created_at >= period.start, Ticket.created_at < period.end,
                       Ticket.resolved_at.is_not(None)).group_by(Ticket.queue_id))
        compiled = stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        plan = " ".join(r[-1] for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "COVERING INDEX ix_tickets_report" in plan
