"""FloorService: wallboard and dashboard figures read from the database.

Every figure is checked twice: against numbers worked out by hand below, and
against raw SQL counts over the same tables (a second, independent reading).

The clock (conftest.FakeClock) stands at 2026-11-25 09:00 UTC = 18:00 in Seoul,
so "today" began at 2026-11-24 15:00 UTC (midnight in Seoul).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import DateTime, bindparam, event, select, text, update
from werkzeug.security import generate_password_hash

from cti.floor_service import FloorService
from db.models import CallRecord, Queue, QueueMember, Site, Ticket, User

NOW = dt.datetime(2026, 11, 25, 9, 0, 0)
DAY_START = dt.datetime(2026, 11, 24, 15, 0, 0)     # 2026-11-25 00:00 Asia/Seoul
UTC_MIDNIGHT = dt.datetime(2026, 11, 25, 0, 0, 0)

_ids = itertools.count(1)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def add_call(s, queue_id, queued_at, *, wait=None, talk=None, ended_after=None, outcome="answered",
             agent_id=None):
    """A call queued at ``queued_at``; answered after ``wait`` s and ended after
    ``talk`` s more, or (not answered) ended ``ended_after`` s after queueing."""
    n = next(_ids)
    answered_at = queued_at + dt.timedelta(seconds=wait) if wait is not None else None
    if answered_at is not None and talk is not None:
        ended_at = answered_at + dt.timedelta(seconds=talk)
    elif ended_after is not None:
        ended_at = (queued_at or NOW) + dt.timedelta(seconds=ended_after)
    else:
        ended_at = None
    s.add(CallRecord(channel_id=f"floor-{n}", caller_number=f"0255500{n:03d}", queue_id=queue_id,
                     agent_id=agent_id, started_at=(queued_at or NOW) - dt.timedelta(seconds=30),
                     queued_at=queued_at, answered_at=answered_at, ended_at=ended_at, outcome=outcome))


def add_user(s, username, role, site_id, state, memberships=(), active=True):
    """``memberships``: (queue id, logged_in) pairs."""
    user = User(username=username, display_name=username.title(), role=role, site_id=site_id, state=state,
                active=active, password_hash=generate_password_hash("x", method="pbkdf2:sha256:1000"))
    s.add(user)
    s.flush()
    for queue_id, logged_in in memberships:
        s.add(QueueMember(queue_id=queue_id, user_id=user.id, logged_in=logged_in))
    return user


@pytest.fixture
def floor(db, config, clock):
    factory, _ = db
    clock.now = NOW
    return FloorService(factory, config, clock)


@pytest.fixture
def ids(db):
    factory, _ = db
    with factory() as s:
        queues = dict(s.execute(select(Queue.name, Queue.id)).all())
        sites = dict(s.execute(select(Site.code, Site.id)).all())
        users = dict(s.execute(select(User.username, User.id)).all())
    return {"q": queues, "site": sites, "user": users}


@pytest.fixture
def floor_day(db, ids):
    """The day described in the comments; returns the session factory."""
    factory, _ = db
    q, site, user = ids["q"], ids["site"], ids["user"]
    with factory.begin() as s:
        s.execute(update(Queue).where(Queue.name == "pc").values(service_level_seconds=20))
        s.execute(update(Queue).where(Queue.name == "lan").values(service_level_seconds=30))
        pc, lan, helpdesk = q["pc"], q["lan"], q["helpdesk"]
        # pc (SL 20 s)
        add_call(s, pc, ago(3600), wait=20, talk=180)         # exactly the SL: within; 180 s: <= 3 min
        add_call(s, pc, ago(3000), wait=21, talk=181)         # 1 s over the SL; 181 s: 3-5 min
        add_call(s, pc, ago(2000), wait=5, talk=300)          # within; 300 s: 3-5 min
        add_call(s, pc, ago(1500), wait=10, talk=601)         # within; > 10 min
        add_call(s, pc, ago(1000), ended_after=4, outcome="abandoned")    # short abandon (<= 5 s)
        add_call(s, pc, ago(900), ended_after=60, outcome="abandoned")
        add_call(s, pc, ago(120), outcome="queued")           # waiting 2 min
        add_call(s, pc, ago(45), outcome="ringing", agent_id=user["agent1"])   # waiting, ringing
        add_call(s, pc, ago(300), wait=15, outcome="talking")  # answered within, still talking
        add_call(s, pc, DAY_START, wait=2, talk=600)          # at local midnight: today; 600 s: 5-10 min
        add_call(s, pc, DAY_START - dt.timedelta(seconds=1), wait=2, talk=30)      # 23:59:59 yesterday
        add_call(s, pc, DAY_START - dt.timedelta(hours=3), ended_after=50, outcome="abandoned")  # yesterday
        add_call(s, pc, DAY_START + dt.timedelta(hours=1), ended_after=30, outcome="abandoned")
        # ^ 2026-11-24 16:00 UTC: yesterday in UTC, 01:00 today in Seoul -> counts
        add_call(s, None, None, ended_after=8, outcome="abandoned")   # hung up in the IVR
        # lan (SL 30 s)
        add_call(s, lan, ago(600), wait=30, talk=420)         # exactly the SL: within; 5-10 min
        add_call(s, lan, ago(500), wait=31, talk=60)          # over; <= 3 min
        add_call(s, lan, ago(400), ended_after=50, outcome="lost")
        add_call(s, lan, ago(600), outcome="queued")          # waiting 10 min: the floor's longest
        # helpdesk (SL 20 s)
        add_call(s, helpdesk, ago(100), wait=1, outcome="talking", agent_id=user["agent2"])

        # Agents: agent1 (SEL: helpdesk, pc, apps, office), agent2 (BSN: helpdesk, lan, office, pc).
        s.execute(update(User).where(User.username == "agent1").values(state="talking"))
        s.execute(update(User).where(User.username == "agent2").values(state="wrap_up"))
        add_user(s, "agent3", "agent", None, "ready", [(lan, True)])
        add_user(s, "lead4", "supervisor", site["BSN"], "not_ready", [(lan, False)])  # logged out of lan
        add_user(s, "trainee5", "trainee", site["SEL"], "ready", [(pc, True)])          # trainees don't count
        add_user(s, "gone6", "agent", site["SEL"], "ready", [(pc, True)], active=False)  # inactive
        add_user(s, "spare7", "agent", site["SEL"], "ready", [])                         # in no queue
    return factory


ZERO_STATES = {"logged_out": 0, "ready": 0, "not_ready": 0, "ringing": 0, "talking": 0, "wrap_up": 0}


def states(**counts):
    return {**ZERO_STATES, **counts}


def by_name(board):
    return {q["name"]: q for q in board["queues"]}


# ---- independent SQL ----------------------------------------------------------------------
def sql(factory, query, **params):
    stmt = text(query)
    for name, value in params.items():
        if isinstance(value, dt.datetime):
            stmt = stmt.bindparams(bindparam(name, type_=DateTime))
    with factory() as s:
        return s.execute(stmt, params).all()


SECONDS = "(CAST(strftime('%s', {a}) AS INTEGER) - CAST(strftime('%s', {b}) AS INTEGER))"


def sql_call_figures(factory, start):
    """Per queue name, straight from call_records with SQL only."""
    wait = SECONDS.format(a="c.answered_at", b="c.queued_at")
    talk = SECONDS.format(a="c.ended_at", b="c.answered_at")
    rows = sql(factory, f"""
        SELECT q.name,
               SUM(c.answered_at IS NOT NULL),
               SUM(c.answered_at IS NOT NULL AND {wait} <= q.service_level_seconds),
               SUM(c.answered_at IS NULL AND c.outcome = 'abandoned'),
               SUM(c.answered_at IS NULL AND c.outcome = 'abandoned'
                   AND {SECONDS.format(a="c.ended_at", b="c.queued_at")} <= 5),
               SUM(c.outcome = 'lost'),
               SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} <= 180),
               SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} > 180 AND {talk} <= 300),
               SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} > 300 AND {talk} <= 600),
               SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} > 600)
        FROM call_records c JOIN queues q ON q.id = c.queue_id
        WHERE c.queued_at >= :start
        GROUP BY q.name""", start=start)
    out = {}
    for name, answered, within, abandoned, short, lost, b3, b5, b10, b_more in rows:
        out[name] = {"answered": answered, "answered_within_sl": within, "abandoned": abandoned,
                     "short_abandoned": short, "lost": lost,
                     "talk_time": {"le_3m": b3, "le_5m": b5, "le_10m": b10, "gt_10m": b_more}}
    waiting = sql(factory, """
        SELECT q.name, COUNT(*), MIN(c.queued_at) FROM call_records c JOIN queues q ON q.id = c.queue_id
        WHERE c.answered_at IS NULL AND c.ended_at IS NULL AND c.outcome IN ('queued', 'ringing')
        GROUP BY q.name""")
    for name, count, oldest in waiting:
        out.setdefault(name, {})["waiting_now"] = count
        out[name]["oldest"] = oldest
    return out


# ---- wallboard ------------------------------------------------------------------------------
def test_day_starts_at_local_midnight(floor, config, db, clock):
    assert floor.day_start() == DAY_START
    # 14:59:59 UTC is still 23:59:59 of the 25th's eve in Seoul; 15:00 UTC starts the 26th.
    assert floor.day_start(dt.datetime(2026, 11, 25, 14, 59, 59)) == DAY_START
    assert floor.day_start(dt.datetime(2026, 11, 25, 15, 0, 0)) == dt.datetime(2026, 11, 25, 15, 0, 0)
    utc = FloorService(db[0], {"floor": {**config["floor"], "timezone": "UTC"}}, clock)
    assert utc.day_start() == UTC_MIDNIGHT
    new_york = FloorService(db[0], {"floor": {**config["floor"], "timezone": "America/New_York"}}, clock)
    assert new_york.day_start() == dt.datetime(2026, 11, 25, 5, 0, 0)   # EST, UTC-5


def test_wallboard_figures_per_queue_by_hand(floor, floor_day):
    board = floor.wallboard()
    q = by_name(board)
    pc, lan, helpdesk = q["pc"], q["lan"], q["helpdesk"]

    assert (pc["answered"], pc["answered_within_sl"]) == (6, 5)
    assert (pc["abandoned"], pc["short_abandoned"], pc["lost"]) == (3, 1, 0)
    assert pc["service_level_share"] == pytest.approx(5 / (6 + 3 - 1))
    assert pc["talk_time"] == {"le_3m": 1, "le_5m": 2, "le_10m": 1, "gt_10m": 1}
    assert pc["waiting_now"] == 2
    assert pc["longest_wait_s"] == pytest.approx(120)
    assert pc["longest_wait_since"] == "2026-11-25T08:58:00.000Z"
    assert pc["service_level_s"] == 20 and pc["site"] == "SEL"
    assert (pc["title"], pc["title_en"]) == ("PC·노트북", "PC and laptops")

    assert (lan["answered"], lan["answered_within_sl"]) == (2, 1)      # 30 s = SL 30 is within
    assert (lan["abandoned"], lan["lost"]) == (0, 1)
    assert lan["service_level_share"] == pytest.approx(0.5)
    assert lan["talk_time"] == {"le_3m": 1, "le_5m": 0, "le_10m": 1, "gt_10m": 0}
    assert (lan["waiting_now"], lan["longest_wait_s"]) == (1, pytest.approx(600))
    assert lan["site"] == "BSN" and lan["service_level_s"] == 30

    assert (helpdesk["answered"], helpdesk["answered_within_sl"]) == (1, 1)
    assert helpdesk["service_level_share"] == 1.0
    assert helpdesk["talk_time"] == {"le_3m": 0, "le_5m": 0, "le_10m": 0, "gt_10m": 0}   # still talking

    # Queues without calls are still on the board, with no share rather than 0 % or 100 %.
    assert q["apps"]["answered"] == 0 and q["apps"]["service_level_share"] is None
    assert q["apps"]["longest_wait_s"] is None and q["apps"]["longest_wait_since"] is None
    assert [x["name"] for x in board["queues"]] == ["helpdesk", "pc", "lan", "apps", "office"]

    total = board["total"]
    assert (total["answered"], total["answered_within_sl"]) == (9, 7)
    assert (total["abandoned"], total["short_abandoned"], total["lost"]) == (3, 1, 1)
    assert total["service_level_share"] == pytest.approx(7 / 11)
    assert total["talk_time"] == {"le_3m": 2, "le_5m": 2, "le_10m": 2, "gt_10m": 1}
    assert total["waiting_now"] == 3
    assert total["longest_wait_s"] == pytest.approx(600)
    assert total["longest_wait_since"] == "2026-11-25T08:50:00.000Z"
    assert board["server_time"] == "2026-11-25T09:00:00.000Z"
    assert board["day_start"] == "2026-11-24T15:00:00.000Z"
    assert board["timezone"] == "Asia/Seoul"
    json.dumps(board)   # JSON-able as it is


def test_wallboard_agents_by_state(floor, floor_day):
    board = floor.wallboard()
    q = by_name(board)
    # Per queue: the members logged in to it; trainees, inactive users and non-members never.
    assert q["pc"]["agents_by_state"] == states(talking=1, wrap_up=1)
    assert q["lan"]["agents_by_state"] == states(wrap_up=1, ready=1)      # lead4 is logged out of lan
    assert q["helpdesk"]["agents_by_state"] == states(talking=1, wrap_up=1)
    assert q["apps"]["agents_by_state"] == states(talking=1)
    # The total counts each agent once, lead4 included (a member, though logged out of it).
    assert board["total"]["agents_by_state"] == states(talking=1, wrap_up=1, ready=1, not_ready=1)
    assert {a["name"]: (a["state"], a["site"]) for a in board["agents"]} == {
        "Kim Jiwoo": ("talking", "SEL"), "Lee Minjun": ("wrap_up", "BSN"),
        "Agent3": ("ready", "unspecified"), "Lead4": ("not_ready", "BSN")}
    assert board["states"] == list(ZERO_STATES)


def test_wallboard_agrees_with_raw_sql(floor, floor_day):
    board = floor.wallboard()
    expected = sql_call_figures(floor_day, DAY_START)
    for q in board["queues"]:
        want = expected.get(q["name"], {})
        for key in ("answered", "answered_within_sl", "abandoned", "short_abandoned", "lost"):
            assert q[key] == (want.get(key) or 0), (q["name"], key)
        for bucket, count in q["talk_time"].items():
            assert count == ((want.get("talk_time") or {}).get(bucket) or 0), (q["name"], bucket)
        assert q["waiting_now"] == want.get("waiting_now", 0)
        if want.get("oldest"):
            oldest = dt.datetime.fromisoformat(str(want["oldest"]))
            assert q["longest_wait_s"] == pytest.approx((NOW - oldest).total_seconds())
    total = board["total"]
    (answered, abandoned), = sql(floor_day, """
        SELECT SUM(answered_at IS NOT NULL), SUM(answered_at IS NULL AND outcome = 'abandoned')
        FROM call_records WHERE queued_at >= :start""", start=DAY_START)
    assert (total["answered"], total["abandoned"]) == (answered, abandoned)
    # Agents: members with role agent/supervisor, active, per state; each once.
    rows = sql(floor_day, """
        SELECT u.state, COUNT(DISTINCT u.id) FROM users u JOIN queue_members m ON m.user_id = u.id
        WHERE u.role IN ('agent', 'supervisor') AND u.active GROUP BY u.state""")
    assert board["total"]["agents_by_state"] == states(**dict(rows))
    rows = sql(floor_day, """
        SELECT u.state, COUNT(*) FROM users u JOIN queue_members m ON m.user_id = u.id
        JOIN queues q ON q.id = m.queue_id
        WHERE u.role IN ('agent', 'supervisor') AND u.active AND m.logged_in AND q.name = 'lan'
        GROUP BY u.state""")
    assert by_name(board)["lan"]["agents_by_state"] == states(**dict(rows))


def test_yesterday_is_yesterday_in_the_floors_time_zone(floor_day, config, clock):
    """In UTC the day would start 9 hours later and drop the 16:00 UTC call."""
    seoul = FloorService(floor_day, config, clock).wallboard()
    utc = FloorService(floor_day, {"floor": {**config["floor"], "timezone": "UTC"}}, clock).wallboard()
    pc_seoul, pc_utc = by_name(seoul)["pc"], by_name(utc)["pc"]
    assert (pc_seoul["answered"], pc_seoul["abandoned"]) == (6, 3)
    assert (pc_utc["answered"], pc_utc["abandoned"]) == (5, 2)     # midnight-call and 16:00 UTC call gone
    expected = sql_call_figures(floor_day, UTC_MIDNIGHT)["pc"]
    assert (pc_utc["answered"], pc_utc["abandoned"]) == (expected["answered"], expected["abandoned"])
    # Waiting calls do not depend on the day.
    assert pc_utc["waiting_now"] == pc_seoul["waiting_now"] == 2


def test_a_caller_waiting_across_midnight_still_waits(db, config, clock, ids):
    factory, _ = db
    pc = ids["q"]["pc"]
    clock.now = dt.datetime(2026, 11, 25, 15, 0, 30)          # 00:00:30 in Seoul
    with factory.begin() as s:
        add_call(s, pc, dt.datetime(2026, 11, 25, 14, 59, 50), outcome="queued")       # since 23:59:50
        add_call(s, pc, dt.datetime(2026, 11, 25, 14, 59, 0), wait=5, talk=20)         # answered yesterday
        add_call(s, pc, dt.datetime(2026, 11, 25, 14, 0, 0), outcome="in_ivr")         # odd row: not waiting
    board = FloorService(factory, config, clock).wallboard()
    pc_row = by_name(board)["pc"]
    assert pc_row["waiting_now"] == 1 and pc_row["longest_wait_s"] == pytest.approx(40)
    assert pc_row["answered"] == 0 and board["total"]["answered"] == 0
    assert board["day_start"] == "2026-11-25T15:00:00.000Z"


def test_a_caller_who_asked_for_a_callback_does_not_wait(floor, db, ids):
    """cti.callbacks sets outcome "callback" while the caller still hears the
    confirmation: not waiting; once ended, a callback, left out of the share."""
    factory, _ = db
    pc = ids["q"]["pc"]
    with factory.begin() as s:
        add_call(s, pc, ago(60), outcome="callback")                      # still on the line
        add_call(s, pc, ago(200), ended_after=90, outcome="callback")
        s.add(CallRecord(channel_id="callback-attempt", line="callback", outcome="ringing",
                         started_at=ago(5)))                               # outbound: never queued
    pc_row = by_name(floor.wallboard())["pc"]
    assert (pc_row["waiting_now"], pc_row["callbacks"], pc_row["abandoned"]) == (0, 1, 0)
    assert pc_row["service_level_share"] is None
    assert floor.wallboard()["total"]["waiting_now"] == 0


def test_empty_floor(floor):
    board = floor.wallboard()
    total = board["total"]
    assert total["answered"] == total["abandoned"] == total["waiting_now"] == 0
    assert total["service_level_share"] is None and total["longest_wait_s"] is None
    assert total["talk_time"] == {"le_3m": 0, "le_5m": 0, "le_10m": 0, "gt_10m": 0}
    assert len(board["queues"]) == 5
    # The seeded agents (both logged out) are on the board.
    assert total["agents_by_state"] == states(logged_out=2)


def _count_statements(factory, fn):
    engine = factory.kw["bind"]
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])


def test_a_handful_of_queries_whatever_the_number_of_rows(floor, floor_day, ids):
    few_wallboard = _count_statements(floor_day, floor.wallboard)
    few_dashboard = _count_statements(floor_day, floor.dashboard)
    with floor_day.begin() as s:
        for i in range(60):
            add_call(s, ids["q"]["office"], ago(5000 + i), wait=3, talk=100)
            s.add(Ticket(incident_id=f"BULK-{i}", channel="web", status="new", queue_id=ids["q"]["apps"],
                         created_at=ago(10 + i)))
        for i in range(15):
            add_user(s, f"bulk{i}", "agent", ids["site"]["SEL"], "ready",
                     [(ids["q"]["office"], True), (ids["q"]["apps"], True)])
    assert _count_statements(floor_day, floor.wallboard) == few_wallboard <= 5
    assert _count_statements(floor_day, floor.dashboard) == few_dashboard <= 5
    assert by_name(floor.wallboard())["office"]["answered"] == 60


# ---- dashboard ------------------------------------------------------------------------------
@pytest.fixture
def ticket_day(floor_day, ids):
    q = ids["q"]
    with floor_day.begin() as s:
        nosite = Queue(name="nosite", title="No site", site_id=None)
        s.add(nosite)
        s.flush()
        rows = [
            # (channel, status, queue, created)
            ("phone", "in_progress", q["pc"], ago(100)), ("phone", "in_progress", q["apps"], ago(200)),
            ("web", "new", q["helpdesk"], ago(300)), ("email", "resolved", q["pc"], DAY_START),
            ("phone", "queued", q["lan"], ago(50)), ("onestop", "resolved", q["office"], ago(60)),
            ("phone", "abandoned", q["lan"], ago(70)),
            ("email", "new", None, ago(80)), ("web", "offered", nosite.id, ago(90)),
            ("phone", "resolved", q["pc"], DAY_START - dt.timedelta(seconds=1)),        # yesterday
            ("email", "new", q["lan"], DAY_START - dt.timedelta(hours=20)),             # yesterday
        ]
        for i, (channel, status, queue_id, created) in enumerate(rows):
            s.add(Ticket(incident_id=f"T-{i}", channel=channel, status=status, queue_id=queue_id,
                         created_at=created))
    return floor_day


def test_dashboard_per_site_by_hand(floor, ticket_day):
    d = floor.dashboard()
    assert [x["code"] for x in d["sites"]] == ["SEL", "BSN", "unspecified"]
    assert d["sites"][0]["name"] == "Seoul HQ"
    t = d["tickets"]
    assert t["total"]["total"] == 9
    assert t["total"]["by_intake_type"] == {"phone": 4, "email": 2, "web": 2, "onestop": 1}
    sel, bsn, none = t["by_site"]["SEL"], t["by_site"]["BSN"], t["by_site"]["unspecified"]
    assert sel["total"] == 4 and bsn["total"] == 3 and none["total"] == 2
    assert sel["by_intake_type"] == {"phone": 2, "email": 1, "web": 1, "onestop": 0}
    assert bsn["by_intake_type"] == {"phone": 2, "email": 0, "web": 0, "onestop": 1}
    assert none["by_intake_type"] == {"phone": 0, "email": 1, "web": 1, "onestop": 0}
    assert sel["by_status"] == {"new": 1, "queued": 0, "offered": 0, "in_progress": 2, "abandoned": 0,
                                "resolved": 1}
    assert bsn["by_status"] == {"new": 0, "queued": 1, "offered": 0, "in_progress": 0, "abandoned": 1,
                                "resolved": 1}
    assert none["by_status"]["new"] == 1 and none["by_status"]["offered"] == 1
    assert sel["by_stage"] == {"waiting": 1, "in_progress": 2, "resolved": 1, "abandoned": 0}
    assert bsn["by_stage"] == {"waiting": 1, "in_progress": 0, "resolved": 1, "abandoned": 1}
    assert none["by_stage"] == {"waiting": 2, "in_progress": 0, "resolved": 0, "abandoned": 0}
    assert t["total"]["by_site"] == {"BSN": 3, "SEL": 4, "unspecified": 2}
    a = d["agents"]
    assert a["by_site"]["SEL"] == states(talking=1)
    assert a["by_site"]["BSN"] == states(wrap_up=1, not_ready=1)
    assert a["by_site"]["unspecified"] == states(ready=1)
    assert a["total"] == states(talking=1, wrap_up=1, not_ready=1, ready=1)
    json.dumps(d)


def test_dashboard_agrees_with_raw_sql(floor, ticket_day):
    d = floor.dashboard()
    rows = sql(ticket_day, """
        SELECT COALESCE(s.code, 'unspecified'), t.channel, t.status, COUNT(*)
        FROM tickets t LEFT JOIN queues q ON q.id = t.queue_id LEFT JOIN sites s ON s.id = q.site_id
        WHERE t.created_at >= :start GROUP BY 1, 2, 3""", start=DAY_START)
    by_site_channel, by_site_status = {}, {}
    for site, channel, status, n in rows:
        by_site_channel[(site, channel)] = by_site_channel.get((site, channel), 0) + n
        by_site_status[(site, status)] = by_site_status.get((site, status), 0) + n
    seen = 0
    for site, block in d["tickets"]["by_site"].items():
        for channel, n in block["by_intake_type"].items():
            assert n == by_site_channel.get((site, channel), 0), (site, channel)
            seen += n
        for status, n in block["by_status"].items():
            assert n == by_site_status.get((site, status), 0), (site, status)
    assert seen == sum(n for *_, n in rows) == d["tickets"]["total"]["total"]
    agents = sql(ticket_day, """
        SELECT COALESCE(s.code, 'unspecified'), u.state, COUNT(DISTINCT u.id)
        FROM users u JOIN queue_members m ON m.user_id = u.id LEFT JOIN sites s ON s.id = u.site_id
        WHERE u.role IN ('agent', 'supervisor') AND u.active GROUP BY 1, 2""")
    for site, state, n in agents:
        assert d["agents"]["by_site"][site][state] == n
    assert sum(sum(v.values()) for v in d["agents"]["by_site"].values()) == sum(n for *_, n in agents)
