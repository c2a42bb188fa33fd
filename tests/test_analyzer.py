"""Analyzer reports against hand-computed figures of the fixed data set
(tests/support/analyzer_data.py), on SQLite and on PostgreSQL when a throwaway
cluster can be started."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from cti.analyzer import (REPORTS, Analyzer, AnalyzerError, Period, Scope, first_call_resolution, intake_by_hour,
                          offset_spans)
from db.migrate import upgrade
from db.session import make_engine, make_session_factory
from support import analyzer_data as data
from support.pg_cluster import cluster_url_or_skip

SEOUL = "Asia/Seoul"


@pytest.fixture(scope="module")
def pg_url():
    with cluster_url_or_skip() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request, tmp_path_factory):
    """(analyzer, ids of the named rows) on a migrated database holding the data set."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analyzer') / 'a.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine({"url": url})
    upgrade(engine)
    sessions = make_session_factory(engine)
    ids = data.load(sessions)
    yield Analyzer(sessions, SEOUL), ids
    engine.dispose()


@pytest.fixture
def analyzer(loaded):
    return loaded[0]


@pytest.fixture
def ids(loaded):
    return loaded[1]


@pytest.fixture
def period(analyzer):
    return analyzer.period(data.FIRST_DAY, data.LAST_DAY)


# ---- period ---------------------------------------------------------------------------------------
def test_period_is_local_midnight_to_midnight_in_utc():
    p = Period.from_local_dates(dt.date(2026, 11, 2), dt.date(2026, 11, 3), SEOUL)
    assert (p.start, p.end) == (dt.datetime(2026, 11, 1, 15), dt.datetime(2026, 11, 3, 15))
    assert [(s.start, s.end, s.offset_s) for s in p.spans] == [(p.start, p.end, 9 * 3600)]


def test_period_across_the_end_of_summer_time_has_two_offsets():
    from zoneinfo import ZoneInfo
    # New York leaves summer time on 2026-11-01 at 02:00 EDT = 06:00 UTC.
    p = Period.from_local_dates(dt.date(2026, 10, 31), dt.date(2026, 11, 1), "America/New_York")
    assert p.start == dt.datetime(2026, 10, 31, 4) and p.end == dt.datetime(2026, 11, 2, 5)
    assert [(s.start, s.end, s.offset_s) for s in p.spans] == [
        (dt.datetime(2026, 10, 31, 4), dt.datetime(2026, 11, 1, 6), -4 * 3600),
        (dt.datetime(2026, 11, 1, 6), dt.datetime(2026, 11, 2, 5), -5 * 3600)]
    assert offset_spans(ZoneInfo("UTC"), p.start, p.end)[0].offset_s == 0


@pytest.mark.parametrize("first,last,zone,message", [
    (dt.date(2026, 11, 3), dt.date(2026, 11, 2), SEOUL, "before the first"),
    (dt.date(2025, 1, 1), dt.date(2026, 11, 2), SEOUL, "at most"),
    (dt.date(2026, 11, 2), dt.date(2026, 11, 2), "Mars/Olympus", "time zone"),
])
def test_bad_periods_are_refused_clearly(first, last, zone, message):
    with pytest.raises(AnalyzerError, match=message):
        Period.from_local_dates(first, last, zone)


def test_unknown_report_is_refused(analyzer, period):
    with pytest.raises(AnalyzerError, match="unknown report"):
        analyzer.report("nope", period)


def test_migration_adds_the_report_indexes(analyzer):
    insp = inspect(analyzer._sessions.kw["bind"])
    tickets = {i["name"] for i in insp.get_indexes("tickets")}
    assert {"ix_tickets_report", "ix_tickets_customer_created"} <= tickets
    assert "ix_ticket_events_ticket_kind" in {i["name"] for i in insp.get_indexes("ticket_events")}
    assert "ix_call_records_report" in {i["name"] for i in insp.get_indexes("call_records")}
    assert "ix_surveys_report" in {i["name"] for i in insp.get_indexes("surveys")}


# ---- figures (worked out by hand from analyzer_data) ----------------------------------------------
def test_first_call_resolution(analyzer, period):
    # Resolved in the period: T1 T2 T5 T6 (pc), T3 T4 (lan).  First contact: T1 (c1's next
    # ticket 7 days + 1 s later) and T6 (caller unknown).  Not: T2 (c2 again after 2 h), T3
    # (moved), T4 (answered by a1, resolved by a2), T5 (c4 again exactly 7 days later).
    r = analyzer.report("first_call_resolution", period)
    assert r.rows == [{"queue": "lan", "resolved": 2, "first_contact": 0, "rate": 0.0},
                      {"queue": "pc", "resolved": 4, "first_contact": 2, "rate": 0.5}]
    assert r.summary == {"resolved": 6, "first_contact": 2, "rate": 0.3333}


def test_intake_by_hour_in_local_time(analyzer, period):
    # Local hours: T5 0, T1 8, T6 9, T2 10 (email), T9 11, T3 12, T10 19, T4 23 (web).
    r = analyzer.report("intake_by_hour", period)
    assert len(r.rows) == 24 and [row["hour"] for row in r.rows] == list(range(24))
    nonzero = {row["hour"]: {k: v for k, v in row.items() if k != "hour" and v}
               for row in r.rows if row["total"]}
    assert nonzero == {0: {"phone": 1, "total": 1}, 8: {"phone": 1, "total": 1}, 9: {"phone": 1, "total": 1},
                       10: {"email": 1, "total": 1}, 11: {"phone": 1, "total": 1}, 12: {"phone": 1, "total": 1},
                       19: {"phone": 1, "total": 1}, 23: {"web": 1, "total": 1}}
    assert r.summary == {"phone": 6, "email": 1, "web": 1, "onestop": 0, "total": 8}
    assert r.columns == ("hour", "phone", "email", "web", "onestop", "total")


def test_intake_by_day_in_local_days(analyzer, period):
    # Local 11-02: T1 08:30, T2 10:00 (email), T3 12:00, T4 23:59:59 (web).  Local 11-03: T5 00:00,
    # T6, T9, T10.  (In UTC, T5 is still on 11-02 and T1 on 11-01.)
    r = analyzer.report("intake_by_day", period)
    assert r.rows == [{"day": "2026-11-02", "phone": 2, "email": 1, "web": 1, "onestop": 0, "total": 4},
                      {"day": "2026-11-03", "phone": 4, "email": 0, "web": 0, "onestop": 0, "total": 4}]
    assert r.summary["total"] == 8


def test_intake_lists_other_channels_in_columns_of_their_own(analyzer):
    # local 11-10: T8 (phone, 00:00) and T15 (channel "survey", 10:00)
    day = analyzer.period(dt.date(2026, 11, 10), dt.date(2026, 11, 10))
    by_day = analyzer.report("intake_by_day", day)
    assert by_day.columns == ("day", "phone", "email", "web", "onestop", "survey", "total")
    assert by_day.rows == [{"day": "2026-11-10", "phone": 1, "email": 0, "web": 0, "onestop": 0, "survey": 1,
                            "total": 2}]
    by_hour = analyzer.report("intake_by_hour", day)
    assert (by_hour.rows[0]["phone"], by_hour.rows[10]["survey"], by_hour.summary["total"]) == (1, 1, 2)


def test_satisfaction(analyzer, period):
    # Answered surveys of tickets in the period: T1 5, T2 4, T3 2, T5 5 (T6 unanswered, T11 outside).
    r = analyzer.report("satisfaction", period)
    assert r.rows == [{"rating": 1, "responses": 0, "share": 0.0}, {"rating": 2, "responses": 1, "share": 0.25},
                      {"rating": 3, "responses": 0, "share": 0.0}, {"rating": 4, "responses": 1, "share": 0.25},
                      {"rating": 5, "responses": 2, "share": 0.5}]
    assert r.summary == {"responses": 4, "average": 4.0}


def test_agents(analyzer, period):
    # a1: T1 T2 T5 T6 resolved (1800, 3600, 600, 18000 s -> 6000), T9 open; calls C1 C3 C4 C5,
    # talk 300, 120, 60 (C5 still on) -> 160.  a2: T3 T4 (10800, 86400 -> 48600); call C2 talk 600.
    r = analyzer.report("agents", period)
    assert r.rows == [
        {"agent": "Agent One", "taken": 5, "resolved": 4, "open": 1, "avg_handling_s": 6000.0, "calls_answered": 4,
         "avg_talk_s": 160.0},
        {"agent": "Agent Two", "taken": 2, "resolved": 2, "open": 0, "avg_handling_s": 48600.0, "calls_answered": 1,
         "avg_talk_s": 600.0}]
    assert r.summary == {"taken": 7, "resolved": 6, "calls_answered": 5}


def test_handling_time(analyzer, period):
    # 600 | 1800, 3600 (exactly 1 h) | 10800 (exactly 3 h) | 18000 | 86400 (exactly 24 h)
    r = analyzer.report("handling_time", period)
    assert [(row["bucket"], row["tickets"]) for row in r.rows] == [
        ("le_15m", 1), ("le_1h", 2), ("le_3h", 1), ("le_8h", 1), ("le_24h", 1), ("gt_24h", 0)]
    assert r.rows[1]["share"] == 0.3333
    # sorted: 600 1800 3600 10800 18000 86400; nearest rank ceil(.5*6)=3 -> 3600, ceil(.9*6)=6 -> 86400
    assert r.summary == {"resolved": 6, "avg_s": 20200.0, "max_s": 86400.0, "p50_s": 3600.0, "p90_s": 86400.0}


def test_calls_by_queue(analyzer, period):
    # pc: C1 C3 C4 C5 answered, waits 10 20 6 30; within SL 20: C1 C3 C4.  lan: C2 answered
    # after 40 s (SL 30), C6 abandoned.  C7 is before the period.
    r = analyzer.report("calls_by_queue", period)
    assert r.rows == [
        {"queue": "lan", "calls": 2, "answered": 1, "abandoned": 1, "within_sl": 0, "sl_share": 0.0,
         "avg_wait_s": 40.0, "max_wait_s": 40.0},
        {"queue": "pc", "calls": 4, "answered": 4, "abandoned": 0, "within_sl": 3, "sl_share": 0.75,
         "avg_wait_s": 16.5, "max_wait_s": 30.0}]
    assert r.summary == {"calls": 6, "answered": 5, "abandoned": 1}


def test_second_level_intake(analyzer, period):
    # Assignments in the period: T2 -> anet/Tech One, T3 -> anet/Tech One then anet/Agent Two,
    # T4 and T5 -> adb (whole group, automatic), T9 -> adb/Tech One.  T11's is one minute before
    # the period (local 23:59 the day before), T12's exactly at its end.
    r = analyzer.report("second_level_intake", period)
    assert r.rows == [
        {"group": "adb", "person": "", "assignments": 2, "automatic": 2, "manual": 0, "tickets": 2},
        {"group": "adb", "person": "Tech One", "assignments": 1, "automatic": 0, "manual": 1, "tickets": 1},
        {"group": "anet", "person": "Agent Two", "assignments": 1, "automatic": 0, "manual": 1, "tickets": 1},
        {"group": "anet", "person": "Tech One", "assignments": 2, "automatic": 0, "manual": 2, "tickets": 2}]
    assert r.summary == {"assignments": 6, "automatic": 2, "manual": 4, "tickets": 5}


def test_second_level_group_satisfaction(analyzer, period):
    # Resolved at level 2 in the period: T2 (anet, 4), T3 (anet, 2), T4 (adb, no survey),
    # T5 (adb, 5).  T9 is still open; T11 (anet, 1) was created before the period.
    r = analyzer.report("second_level_satisfaction", period)
    assert r.rows == [
        {"group": "adb", "responses": 1, "average": 5.0, "rating_1": 0, "rating_2": 0, "rating_3": 0,
         "rating_4": 0, "rating_5": 1},
        {"group": "anet", "responses": 2, "average": 3.0, "rating_1": 0, "rating_2": 1, "rating_3": 0,
         "rating_4": 1, "rating_5": 0}]
    assert r.summary == {"responses": 3, "average": 3.67}          # 11 / 3


def test_causes_and_resolutions(analyzer, period):
    # T2 and T3: anet, cable, replaced cable; T4: adb, disk full, cleaned logs; T5: adb, disk
    # full, extended volume.  T9 (open) and T11 (before the period) are not counted.
    r = analyzer.report("causes_and_resolutions", period)
    assert r.rows == [
        {"group": "anet", "cause": "cable", "action": "replaced cable", "tickets": 2},
        {"group": "adb", "cause": "disk full", "action": "cleaned logs", "tickets": 1},
        {"group": "adb", "cause": "disk full", "action": "extended volume", "tickets": 1}]
    assert r.summary == {"tickets": 4, "causes": 2}


def test_second_level_reports_follow_the_scope(analyzer, period, ids):
    lan = Scope(queue_id=ids["lan"])        # T3 and T4
    assert analyzer.report("second_level_intake", period, lan).summary == {
        "assignments": 3, "automatic": 1, "manual": 2, "tickets": 2}
    assert analyzer.report("second_level_satisfaction", period, lan).summary == {"responses": 1, "average": 2.0}
    assert analyzer.report("causes_and_resolutions", period, lan).rows == [
        {"group": "adb", "cause": "disk full", "action": "cleaned logs", "tickets": 1},
        {"group": "anet", "cause": "cable", "action": "replaced cable", "tickets": 1}]
    site_a = Scope(site_id=ids["site_a"])   # pc: T2, T5, T9
    assert analyzer.report("second_level_intake", period, site_a).summary == {
        "assignments": 3, "automatic": 1, "manual": 2, "tickets": 3}


# ---- survey figures (issue 6) --------------------------------------------------------------------
def test_survey_reply_rate_per_channel(analyzer, period):
    # Surveys of tickets in the period: T1..T6 (T11 before).  Asked on -- phone: a call placed
    # (T1 T2 T3 T5 T6); e-mail sent (T2 T3 T6); SMS sent (T2 T4 T5 T6; T3's was not sent); web:
    # an e-mail with a form link (T2 T6); reply line: any message sent (T2 T3 T4 T5 T6).
    # Replied on -- T1 phone, T2 web + sms, T3 e-mail (+ a duplicate, not counted), T4 sms,
    # T5 line + sms; T6 never (closed no_reply).
    r = analyzer.report("survey_channels", period)
    assert r.rows == [{"channel": "phone", "asked": 5, "replied": 1, "rate": 0.2},
                      {"channel": "email", "asked": 3, "replied": 1, "rate": 0.3333},
                      {"channel": "sms", "asked": 4, "replied": 3, "rate": 0.75},
                      {"channel": "web", "asked": 2, "replied": 1, "rate": 0.5},
                      {"channel": "line", "asked": 5, "replied": 1, "rate": 0.2}]
    assert r.summary == {"surveys": 6, "asked": 6, "answered": 5, "reply_rate": 0.8333, "no_reply": 1}


def test_survey_terms(analyzer, period):
    # Answered: T1 high, T2 repeated trouble (trouble came back), T3 dissatisfaction (rating 2,
    # staff not kind), T4 how-to-use, T5 impression; T6 unanswered, T11 before the period.
    r = analyzer.report("survey_terms", period)
    assert r.rows == [{"term": "high_satisfaction", "surveys": 1, "share": 0.2},
                      {"term": "simple_satisfaction", "surveys": 0, "share": 0.0},
                      {"term": "impression", "surveys": 1, "share": 0.2},
                      {"term": "how_to_use", "surveys": 1, "share": 0.2},
                      {"term": "additional_request", "surveys": 0, "share": 0.0},
                      {"term": "repeated_trouble", "surveys": 1, "share": 0.2},
                      {"term": "dissatisfaction", "surveys": 1, "share": 0.2},
                      {"term": "", "surveys": 0, "share": 0.0}]
    assert r.summary == {"answered": 5, "repeated_trouble": 1, "repeated_rate": 0.2, "dissatisfied": 1,
                         "dissatisfied_rate": 0.2, "unkind": 1}


def test_survey_per_technician_or_agent(analyzer, period):
    # The 2nd-level person when resolved at level 2 with one (T2 T4 T5: Tech One), else the
    # ticket's agent (T1 T6: Agent One; T3, assigned to the whole group: Agent Two).
    r = analyzer.report("survey_people", period)
    assert r.rows == [
        {"served_by": "Agent One", "surveys": 2, "answered": 1, "reply_rate": 0.5, "responses": 1, "average": 5.0,
         "dissatisfied": 0, "repeated_trouble": 0, "unkind": 0},
        {"served_by": "Agent Two", "surveys": 1, "answered": 1, "reply_rate": 1.0, "responses": 1, "average": 2.0,
         "dissatisfied": 1, "repeated_trouble": 0, "unkind": 1},
        {"served_by": "Tech One", "surveys": 3, "answered": 3, "reply_rate": 1.0, "responses": 2, "average": 4.5,
         "dissatisfied": 0, "repeated_trouble": 1, "unkind": 0}]
    assert r.summary == {"surveys": 6, "answered": 5, "average": 4.0}       # (5 + 2 + 4 + 5) / 4


def test_survey_figures_follow_the_scope(analyzer, period, ids):
    lan = Scope(queue_id=ids["lan"])        # T3 (phone busy, e-mail; replied by e-mail) and T4 (SMS)
    r = analyzer.report("survey_channels", period, lan)
    assert [(row["channel"], row["asked"], row["replied"]) for row in r.rows] == [
        ("phone", 1, 0), ("email", 1, 1), ("sms", 1, 1), ("web", 0, 0), ("line", 2, 0)]
    assert r.rows[3]["rate"] is None
    assert r.summary == {"surveys": 2, "asked": 2, "answered": 2, "reply_rate": 1.0, "no_reply": 0}
    assert [row["served_by"] for row in analyzer.report("survey_people", period, lan).rows] == [
        "Agent Two", "Tech One"]


# ---- scope ---------------------------------------------------------------------------------------
def test_site_and_queue_filters(analyzer, period, ids):
    site_a = Scope(site_id=ids["site_a"])
    assert analyzer.report("first_call_resolution", period, site_a).summary == {
        "resolved": 4, "first_contact": 2, "rate": 0.5}
    assert analyzer.report("intake_by_hour", period, site_a).summary["total"] == 5       # T1 T2 T5 T6 T9
    lan = Scope(queue_id=ids["lan"])
    # T3 10800 s, T4 86400 s: median = rank ceil(.5*2)=1, 90th percentile = rank ceil(.9*2)=2
    assert analyzer.report("handling_time", period, lan).summary == {
        "resolved": 2, "avg_s": 48600.0, "max_s": 86400.0, "p50_s": 10800.0, "p90_s": 86400.0}
    assert [r["agent"] for r in analyzer.report("agents", period, lan).rows] == ["Agent Two"]
    assert analyzer.report("calls_by_queue", period, lan).summary == {"calls": 2, "answered": 1, "abandoned": 1}
    nothing = Scope(site_id=ids["site_a"], queue_id=ids["lan"])
    assert analyzer.report("satisfaction", period, nothing).summary == {"responses": 0, "average": None}


def test_one_day_period(analyzer):
    # Local 2026-11-03 only: T5 T6 T9 T10 created; T5 T6 resolved, both a1.
    day = analyzer.period(dt.date(2026, 11, 3), dt.date(2026, 11, 3))
    assert analyzer.report("intake_by_hour", day).summary["total"] == 4
    assert analyzer.report("first_call_resolution", day).summary == {"resolved": 2, "first_contact": 1, "rate": 0.5}


def test_hours_across_a_summer_time_change(loaded):
    # New York, local 2026-10-31 .. 11-01 = UTC [10-31 04:00, 11-02 05:00); summer time ends
    # 11-01 06:00 UTC.  T13 05:30 UTC = 01:30 EDT, T14 06:30 UTC = 01:30 EST, T11 14:59:59 UTC =
    # 09:59:59 EST, T1 23:30 UTC = 18:30 EST, T2 11-02 01:00 UTC = 20:00 EST, T3 03:00 UTC =
    # 22:00 EST.  (One fixed offset, EDT, would give 1, 2, 10, 19, 21, 23.)
    analyzer = Analyzer(loaded[0]._sessions, "America/New_York")
    p = analyzer.period(dt.date(2026, 10, 31), dt.date(2026, 11, 1))
    r = analyzer.report("intake_by_hour", p)
    assert {row["hour"]: row["total"] for row in r.rows if row["total"]} == {1: 2, 9: 1, 18: 1, 20: 1, 22: 1}


@pytest.mark.parametrize("later,seconds", [
    (dt.datetime(2026, 11, 2, 9, 0, 20, 500000), 21.0),       # exactly half: away from zero
    (dt.datetime(2026, 11, 2, 9, 0, 20, 499999), 20.0),
    (dt.datetime(2026, 11, 2, 9, 0, 20, 500500), 21.0),       # half a millisecond past the half
    (dt.datetime(2026, 11, 3, 9, 0, 0, 1), 86400.0),
    (dt.datetime(2026, 11, 2, 9, 0, 0), 0.0),
])
def test_seconds_between_rounds_the_same_on_both_databases(loaded, later, seconds):
    from sqlalchemy import literal, select
    from sqlalchemy.types import DateTime

    from cti.analyzer import Sql
    earlier = dt.datetime(2026, 11, 2, 9, 0, 0)
    with loaded[0]._sessions() as s:
        sql = Sql(s.get_bind().dialect.name)
        value = s.execute(select(sql.seconds_between(literal(earlier, DateTime()), literal(later, DateTime())))).scalar()
    assert value == seconds


def test_every_report_runs_on_an_empty_period(analyzer):
    empty = analyzer.period(dt.date(2020, 1, 1), dt.date(2020, 1, 2))
    reports = analyzer.all_reports(empty)
    assert list(reports) == list(REPORTS)
    assert [row["total"] for row in reports["intake_by_day"].rows] == [0, 0]
    assert reports["first_call_resolution"].summary == {"resolved": 0, "first_contact": 0, "rate": None}
    assert reports["handling_time"].summary["p50_s"] is None
    assert reports["agents"].rows == [] and reports["calls_by_queue"].rows == []
    assert reports["second_level_intake"].summary == {"assignments": 0, "automatic": 0, "manual": 0, "tickets": 0}
    assert reports["second_level_satisfaction"].summary == {"responses": 0, "average": None}
    assert reports["causes_and_resolutions"].rows == []
    assert reports["survey_channels"].summary == {"surveys": 0, "asked": 0, "answered": 0, "reply_rate": None,
                                                  "no_reply": 0}
    assert [row["asked"] for row in reports["survey_channels"].rows] == [0] * 5
    assert reports["survey_terms"].summary["repeated_rate"] is None
    assert reports["survey_people"].rows == [] and reports["survey_people"].summary["average"] is None


def test_report_functions_take_a_session(analyzer, period):
    # The contract for the reports to come: (session, period, scope) -> Report.
    with analyzer._sessions() as s:
        assert first_call_resolution(s, period, Scope()).summary["resolved"] == 6
        assert intake_by_hour(s, period, Scope()).summary["total"] == 8
