#!/usr/bin/env python3
"""Analyzer benchmark: every report of ``cti.analyzer`` on 1 million tickets.

Generates ``--tickets`` tickets (1 000 000 by default) spread over ``--days``
days (365) with their history events (created, answered, resolved, some moved
or abandoned), the call records of the phone tickets, the surveys of part
of the resolved ones and the 2nd level (escalated tickets' groups, assignments,
causes and actions), into a fresh migrated SQLite database (executemany on the
DB-API cursor, one transaction per chunk) and, when a throwaway PostgreSQL
cluster can be started (``tests/support/pg_cluster.py``), into PostgreSQL
(``COPY``).  The same random seed gives the same rows in both.  Then each report
runs ``--repeat`` times (3) over the whole span and over its last 30 days, and
the median wall time is kept.  Target: <= 1 s per report.

    python bench/analyzer.py                      # 1 million tickets, SQLite and PostgreSQL
    python bench/analyzer.py --tickets 100000 --no-write
    python bench/analyzer.py --no-postgres

Prints the table and writes it, with the machine, date and command, to
``docs/performance.md`` between ``<!-- analyzer:begin -->`` and
``<!-- analyzer:end -->`` (the rest of the file is kept).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests", REPO / "bench"):  # the project, tests/support, bench/screenpop
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import screenpop as sp  # noqa: E402  (shared bench helpers: machine, tables, the doc writer)
from screenpop import say  # noqa: E402

from cti.analyzer import REPORTS, Analyzer, Scope  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.ticket_summary import refresh_all  # noqa: E402
from db.session import make_engine, make_session_factory  # noqa: E402

DOC = sp.DOC
BEGIN = "<!-- analyzer:begin -->"
END = "<!-- analyzer:end -->"
TARGET_S = 1.0
TIMEZONE = "Asia/Seoul"
SEED = 20261125
CHUNK = 50_000
N_AGENTS = 50
N_CUSTOMERS = 20_000
QUEUES = ("helpdesk", "pc", "lan", "apps", "office")
CHANNELS = (("phone", 0.70), ("email", 0.15), ("web", 0.10), ("onestop", 0.05))
# Busier in office hours (local): weight per local hour 0..23.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 12, 16, 16, 14, 9, 14, 16, 15, 13, 10, 6, 4, 3, 2, 1, 1)

TICKET_COLS = ("id", "incident_id", "channel", "status", "customer_id", "caller_number", "caller_name",
               "entered_pin", "queue_id", "agent_id", "language", "request", "resolution", "severity",
               "created_at", "resolved_at", "level", "group_id", "cause", "action")
ASSIGNMENT_COLS = ("ticket_id", "from_user_id", "from_group_id", "to_group_id", "to_user_id", "at", "reason",
                   "automatic")
GROUPS = ("operations", "techsupport", "network", "database", "erp")
# The 2nd level: this share of the tickets an agent took is escalated; a resolved one gets
# a cause and an action from this vocabulary (15 causes x 3 actions).
ESCALATED_SHARE = 0.12
CAUSES = tuple(f"cause {i:02d}" for i in range(15))
ACTIONS = ("restarted the service", "replaced the part", "changed the configuration")
EVENT_COLS = ("ticket_id", "kind", "at", "user_id", "detail")
CALL_COLS = ("channel_id", "ticket_id", "caller_number", "caller_name", "line", "queue_id", "agent_id",
             "started_at", "queued_at", "answered_at", "ended_at", "outcome", "wait_seconds", "end_reason")
SURVEY_COLS = ("id", "ticket_id", "state", "channel", "rating", "reply_term", "outcome", "trouble_again",
               "staff_kind", "scheduled_for", "created_at", "answered_at", "closed_at")
ATTEMPT_COLS = ("survey_id", "channel", "round", "address", "at", "outcome", "detail")
TOKEN_COLS = ("survey_id", "token_hash", "issued_at", "expires_at")
REPLY_COLS = ("id", "survey_id", "channel", "raw", "answers", "term", "fingerprint", "received_at", "duplicate_of_id")
# Surveys (issue 6): 30 % of the resolved tickets have an answered one (drawn with the
# first-level rows, as before); this share of the others an unanswered one.  The answered
# ones' reply channel, and the terms beyond what the rating says:
UNANSWERED_SURVEY_SHARE = 0.15
REPLY_CHANNELS = (("phone", 50), ("web", 20), ("sms", 15), ("email", 10), ("line", 5))
EXTRA_TERMS = (("repeated_trouble", 0.07), ("additional_request", 0.03), ("how_to_use", 0.04), ("impression", 0.04))
CALL_FAILURES = ("busy", "no_answer", "rejected", "failed")


# --------------------------------------------------------------------------- data

def _ts(value: Optional[dt.datetime]) -> Optional[str]:
    # SQLAlchemy's SQLite storage format for DateTime; PostgreSQL's COPY reads it too.
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")


class Generator:
    """The rows, chunk by chunk, always the same for the same seed and size."""

    def __init__(self, tickets: int, days: int, end: dt.datetime, queue_ids: list[int], agent_ids: list[int],
                 customer_ids: list[int], group_ids: list[int]):
        self.tickets, self.days, self.end = tickets, days, end
        self.start = end - dt.timedelta(days=days)
        self.queue_ids, self.agent_ids, self.customer_ids = queue_ids, agent_ids, customer_ids
        self.group_ids = group_ids

    def chunks(self) -> Iterator[dict[str, list]]:
        rnd = random.Random(SEED)
        # The 2nd level and the surveys' contacts draw from their own streams: the
        # first-level rows stay what they were before they were added (figures comparable
        # with earlier runs).
        self._rnd2 = random.Random(SEED + 2)
        self._rnd3 = random.Random(SEED + 3)
        self._survey_id = self._reply_id = 0
        channels = [c for c, _ in CHANNELS]
        channel_w = [w for _, w in CHANNELS]
        hours = list(range(24))
        ticket_id = 0
        while ticket_id < self.tickets:
            rows: dict[str, list] = {t: [] for t in TABLES}
            for _ in range(min(CHUNK, self.tickets - ticket_id)):
                ticket_id += 1
                self._one(rnd, ticket_id, channels, channel_w, hours, rows)
                self._second_level(rows["tickets"], rows["ticket_assignments"])
            yield rows

    def _second_level(self, tickets: list, assignments: list) -> None:
        """Escalate the ticket just made (the last row) with ESCALATED_SHARE: level 2, a
        group, one or two assignments (some automatic, some to the whole group), and for
        a resolved one a cause and an action."""
        rnd = self._rnd2
        row = tickets[-1]
        tid, agent, created, resolved = row[0], row[9], row[14], row[15]
        if agent is None or rnd.random() >= ESCALATED_SHARE:
            tickets[-1] = row + (1, None, "", "")
            return
        group = rnd.choice(self.group_ids)
        created_at = dt.datetime.strptime(created, "%Y-%m-%d %H:%M:%S.%f")
        automatic = rnd.random() < 0.3
        at = created_at + (dt.timedelta(hours=3) if automatic else
                           dt.timedelta(seconds=min(rnd.lognormvariate(6.5, 1.2), 3 * 3600)))
        person = None if rnd.random() < 0.25 else rnd.choice(self.agent_ids)
        assignments.append((tid, None if automatic else agent, None, group, person, _ts(at), "", automatic))
        if rnd.random() < 0.2:
            assignments.append((tid, person, group, group, rnd.choice(self.agent_ids),
                                _ts(at + dt.timedelta(minutes=rnd.randrange(5, 120))), "", False))
        cause, action = ("", "")
        if resolved is not None:
            cause, action = rnd.choice(CAUSES), rnd.choice(ACTIONS)
        tickets[-1] = row + (2, group, cause, action)

    def _one(self, rnd, tid, channels, channel_w, hours, rows: dict[str, list]) -> None:
        tickets, events, calls = rows["tickets"], rows["ticket_events"], rows["call_records"]
        day = rnd.randrange(self.days)
        local_hour = rnd.choices(hours, HOUR_WEIGHTS)[0]
        # self.start is a local midnight (in UTC), so adding the local hour gives the UTC time.
        created = (self.start + dt.timedelta(days=day, hours=local_hour, seconds=rnd.randrange(3600),
                                             microseconds=rnd.randrange(1_000_000)))
        channel = rnd.choices(channels, channel_w)[0]
        queue = rnd.choice(self.queue_ids)
        customer = rnd.choice(self.customer_ids) if rnd.random() < 0.8 else None
        abandoned = channel == "phone" and rnd.random() < 0.06
        agent = None if abandoned else rnd.choice(self.agent_ids)
        resolved_at = None
        if agent is not None and rnd.random() < 0.88:
            # Handling time: mostly minutes, a tail of hours and days.
            resolved_at = created + dt.timedelta(seconds=min(rnd.lognormvariate(7.3, 1.6), 20 * 86400))
        status = "resolved" if resolved_at else ("abandoned" if abandoned else "in_progress")
        tickets.append((tid, f"B{tid:07d}", channel, status, customer, "", "", "", queue, agent, "ko", "", "",
                        None, _ts(created), _ts(resolved_at)))
        events.append((tid, "created", _ts(created), None, "{}"))
        wait = rnd.expovariate(1 / 25.0)
        if channel == "phone":
            answered = None if abandoned else created + dt.timedelta(seconds=wait)
            ended = created + dt.timedelta(seconds=wait) if abandoned else \
                answered + dt.timedelta(seconds=rnd.expovariate(1 / 240.0))
            calls.append((f"bench-{tid}", tid, "", "", "1600", queue, agent, _ts(created), _ts(created),
                          _ts(answered), _ts(ended), "abandoned" if abandoned else "answered", wait, ""))
            if abandoned:
                events.append((tid, "abandoned", _ts(ended), None, "{}"))
            else:
                events.append((tid, "answered", _ts(answered), agent, "{}"))
        if agent is not None and rnd.random() < 0.03:
            events.append((tid, "moved", _ts(created + dt.timedelta(seconds=wait + 1)), None, "{}"))
        if resolved_at is not None:
            by = agent if rnd.random() < 0.95 else rnd.choice(self.agent_ids)
            events.append((tid, "resolved", _ts(resolved_at), by, "{}"))
            if rnd.random() < 0.3:
                rating = rnd.choices((1, 2, 3, 4, 5), (3, 5, 15, 37, 40))[0]
                self._survey(tid, resolved_at, rating, rows)
            elif self._rnd3.random() < UNANSWERED_SURVEY_SHARE:
                self._survey(tid, resolved_at, None, rows)

    def _survey(self, tid: int, resolved_at: dt.datetime, rating: Optional[int], rows: dict[str, list]) -> None:
        """A survey an hour after the resolution: the survey call (when the customer has a
        phone), then e-mail (with the form link) and/or SMS, a resend for some; for an
        answered one (``rating``) the reply on its channel, sometimes a duplicate or a
        second reply; an unanswered one is closed no_reply (unreachable without messages)."""
        rnd = self._rnd3
        self._survey_id += 1
        sid, at = self._survey_id, resolved_at + dt.timedelta(hours=1)
        channel = rnd.choices([c for c, _ in REPLY_CHANNELS], [w for _, w in REPLY_CHANNELS])[0] if rating else ""
        attempts = rows["survey_attempts"]
        if channel == "phone" or rnd.random() < 0.9:
            attempts.append((sid, "phone", 1, "", _ts(at), "answered" if channel == "phone" else
                             rnd.choice(CALL_FAILURES), ""))
        asked: list[str] = []
        if channel != "phone":
            email = channel in ("email", "web") or rnd.random() < 0.6
            sms = channel == "sms" or (channel == "line" and not email) or rnd.random() < 0.5
            asked = [c for c, on in (("email", email), ("sms", sms)) if on]
            for round_no in ((1, 2) if rnd.random() < 0.25 or not rating else (1,)):
                sent = at + dt.timedelta(minutes=5, days=2 * (round_no - 1))
                for c in asked:
                    attempts.append((sid, c, round_no, "", _ts(sent), "sent", ""))
                if email:
                    rows["survey_tokens"].append((sid, f"bench-{sid}-{round_no}".ljust(64, "0"), _ts(sent),
                                                  _ts(sent + dt.timedelta(days=7))))
        term, trouble, kind = "", None, None
        if rating:
            term = "dissatisfaction" if rating <= 2 else ("high_satisfaction" if rating == 5 else "simple_satisfaction")
            draw = rnd.random()
            for extra, share in EXTRA_TERMS:
                if draw < share:
                    term = extra
                    break
                draw -= share
            trouble = True if term == "repeated_trouble" else (False if rnd.random() < 0.7 else None)
            kind = rnd.choices((True, False, None), (76, 4, 20))[0]
            answered = at + dt.timedelta(minutes=rnd.randrange(1, 3000))
            self._reply(sid, channel, term, answered, rows)
            if rnd.random() < 0.05:
                self._reply(sid, channel, term, answered + dt.timedelta(minutes=1), rows, duplicate=True)
            others = [c for c in asked if c != channel]
            if others and rnd.random() < 0.1:
                self._reply(sid, others[0], term, answered + dt.timedelta(hours=1), rows)
            rows["surveys"].append((sid, tid, "answered", channel, rating, term, "answered", trouble, kind, _ts(at),
                                    _ts(at), _ts(answered), _ts(answered)))
        else:
            outcome = "no_reply" if asked else "unreachable"
            closed = at + dt.timedelta(days=4 if asked else 0)
            rows["surveys"].append((sid, tid, "closed", "", None, "", outcome, None, None, _ts(at), _ts(at), None,
                                    _ts(closed)))

    def _reply(self, sid: int, channel: str, term: str, at: dt.datetime, rows: dict[str, list],
               duplicate: bool = False) -> None:
        self._reply_id += 1
        rows["survey_replies"].append((self._reply_id, sid, channel, f"reply {sid}", "{}", term, f"fp-{sid}-{channel}",
                                       _ts(at), self._reply_id - 1 if duplicate else None))


# --------------------------------------------------------------------------- loading

def _reference_rows(engine) -> tuple[list[int], list[int], list[int], list[int]]:
    """Sites, queues, agents, customers and support groups through the ORM-free Core: small."""
    from sqlalchemy import insert, select

    from db.models import Customer, Queue, Site, SupportGroup, User
    with engine.begin() as c:
        c.execute(insert(Site), [{"code": "SEL", "name": "Seoul HQ"}, {"code": "BSN", "name": "Busan centre"}])
        sites = list(c.execute(select(Site.id).order_by(Site.id)).scalars())
        c.execute(insert(Queue), [{"name": q, "title": q, "title_en": q, "site_id": sites[i % 2]}
                                  for i, q in enumerate(QUEUES)])
        c.execute(insert(User), [{"username": f"bench{i}", "display_name": f"Bench agent {i:02d}",
                                  "password_hash": "x", "role": "agent", "site_id": sites[i % 2]}
                                 for i in range(N_AGENTS)])
        c.execute(insert(Customer), [{"pin": f"7{i:06d}", "name": f"Customer {i}"} for i in range(N_CUSTOMERS)])
        queues = list(c.execute(select(Queue.id).order_by(Queue.id)).scalars())
        agents = list(c.execute(select(User.id).order_by(User.id)).scalars())
        customers = list(c.execute(select(Customer.id).order_by(Customer.id)).scalars())
        c.execute(insert(SupportGroup), [{"code": g, "name": g, "name_en": g, "kind": "specialist", "skills": "",
                                          "email": "", "active": True} for g in GROUPS])
        groups = list(c.execute(select(SupportGroup.id).order_by(SupportGroup.id)).scalars())
    return queues, agents, customers, groups


def _insert_sql(table: str, cols: tuple[str, ...], style: str) -> str:
    marks = ", ".join("?" if style == "qmark" else "%s" for _ in cols)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"


# Table -> its columns, in loading order (a survey before its attempts, links and replies).
TABLES = {"tickets": TICKET_COLS, "ticket_assignments": ASSIGNMENT_COLS, "ticket_events": EVENT_COLS,
          "call_records": CALL_COLS, "surveys": SURVEY_COLS, "survey_attempts": ATTEMPT_COLS,
          "survey_tokens": TOKEN_COLS, "survey_replies": REPLY_COLS}


def fill_summary_columns(engine) -> float:
    """The bulk load bypasses the ORM flush that keeps the analyzer's summary columns
    (db/ticket_summary.py): fill them from their definitions, as the migration does.
    Returns the seconds it took."""
    t0 = time.perf_counter()
    with engine.begin() as c:
        refresh_all(c)
    return time.perf_counter() - t0


def load_sqlite(engine, gen: Generator) -> float:
    """Load, fill the summary columns, ANALYZE; returns the seconds the summary columns took."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for rows in gen.chunks():
            for table, cols in TABLES.items():
                cur.executemany(_insert_sql(table, cols, "qmark"), rows[table])
            raw.commit()
    finally:
        raw.close()
    summary_s = fill_summary_columns(engine)
    with engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return summary_s


def load_postgres(engine, gen: Generator) -> float:
    """Load (COPY), fill the summary columns, VACUUM ANALYZE; returns the seconds the summary columns took."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for rows in gen.chunks():
            for table, cols in TABLES.items():
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
            raw.commit()
        for table in ("tickets", "surveys", "survey_replies"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
    finally:
        raw.close()
    summary_s = fill_summary_columns(engine)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection       # psycopg's own connection: VACUUM needs autocommit
        driver.autocommit = True
        driver.execute("VACUUM ANALYZE")
        driver.autocommit = False
    finally:
        raw.close()
    return summary_s


def counts(engine) -> dict[str, int]:
    from sqlalchemy import text
    with engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("tickets", "ticket_events", "call_records", "surveys", "ticket_assignments",
                          "survey_attempts", "survey_replies")}


# --------------------------------------------------------------------------- timing

def time_reports(analyzer: Analyzer, ranges: dict[str, tuple[dt.date, dt.date]], repeat: int
                 ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], dict]]:
    """Median seconds per (report, range), and what each report returned."""
    out, figures = {}, {}
    for range_name, (first, last) in ranges.items():
        period = analyzer.period(first, last)
        for name in REPORTS:
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                report = analyzer.report(name, period, Scope())
                times.append(time.perf_counter() - t0)
            out[(name, range_name)] = statistics.median(times)
            figures[(name, range_name)] = report.as_dict()
            say(f"    {name:<24} {range_name:<14} {out[(name, range_name)]:.3f} s")
    return out, figures


def differences(a: dict, b: dict) -> list[str]:
    """Reports whose figures differ between the two databases."""
    return [f"{name} ({range_name})" for (name, range_name) in a if a[(name, range_name)] != b.get((name, range_name))]


def build(label: str, url: str, gen_factory: Callable[[list, list, list, list], Generator],
          loader: Callable) -> tuple[Any, dict[str, Any]]:
    engine = make_engine({"url": url})
    upgrade(engine)
    queues, agents, customers, groups = _reference_rows(engine)
    t0 = time.perf_counter()
    summary_s = loader(engine, gen_factory(queues, agents, customers, groups))
    load_s = time.perf_counter() - t0
    info = {"load_s": load_s, "rows": counts(engine), "summary_s": summary_s}
    say(f"  {label}: loaded in {load_s:.0f} s (of which summary columns {info['summary_s']:.0f} s): {info['rows']}")
    return engine, info


# --------------------------------------------------------------------------- report

HEADER = ["report", "period", "SQLite s", "PostgreSQL s", "≤ 1 s"]


def table_rows(results: dict[str, dict], ranges: dict[str, Any]) -> list[list[str]]:
    rows = []
    for range_name in ranges:
        for name in REPORTS:
            cells = []
            met = True
            for db in ("sqlite", "postgresql"):
                t = results.get(db, {}).get((name, range_name))
                cells.append("—" if t is None else f"{t:.3f}")
                met = met and (t is None or t <= TARGET_S)
            rows.append([name, range_name, *cells, "yes" if met else "**no**"])
    return rows


def render_section(results, infos, ranges, args, info, command, started, duration, load, pg_note) -> str:
    rows = table_rows(results, ranges)
    over = [r for r in rows if r[-1] != "yes"]
    sizes = next(iter(infos.values()))["rows"] if infos else {}
    lines = [
        BEGIN,
        "## Analyzer reports on 1 million tickets (`bench/analyzer.py`)",
        "",
        "Written by `bench/analyzer.py`; do not edit by hand between the markers (the next run replaces it).",
        "",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')} (run took {duration:.0f} s)",
        f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM; {info['os']}; "
        f"Python {info['python']}",
        f"- **Load average** (1, 5, 15 min) at the start: {load['start']}, at the end: {load['end']} "
        "(anything else running on the machine shows here)",
        f"- **Command:** `{command}`",
        f"- **Data:** {sizes.get('tickets', 0):,} tickets over {args.days} days, {sizes.get('ticket_events', 0):,} "
        f"history events, {sizes.get('call_records', 0):,} call records, {sizes.get('surveys', 0):,} surveys "
        f"({sizes.get('survey_attempts', 0):,} calls and messages to customers, {sizes.get('survey_replies', 0):,} "
        f"replies), {sizes.get('ticket_assignments', 0):,} 2nd-level assignments ({ESCALATED_SHARE:.0%} of the "
        f"tickets taken escalated to {len(GROUPS)} support groups, {len(CAUSES)} causes x {len(ACTIONS)} actions); "
        f"{N_AGENTS} agents, {N_CUSTOMERS:,} customers, {len(QUEUES)} queues on 2 sites.  Load time: "
        + ", ".join(f"{db} {i['load_s']:.0f} s (summary columns {i['summary_s']:.0f} s)" for db, i in infos.items())
        + " (SQLite: executemany on the DB-API cursor; PostgreSQL: COPY; the report indexes in place; then the "
        "summary columns filled from their definitions by `db.ticket_summary.refresh_all`, as migration "
        "f3a8c61d2b94 does, then ANALYZE).",
        f"- **PostgreSQL:** {pg_note}",
        f"- **Target:** ≤ {TARGET_S:g} s per report — "
        + ("**met for every report and period**" if not over else
           f"**not met for {len(over)} of {len(rows)}** (marked **no**)"),
        "",
        f"Median of {args.repeat} runs of each report through `cti.analyzer.Analyzer.report` (a new session each "
        "time; all sites and queues), in the floor's time zone (Asia/Seoul).  *whole span*: every ticket; "
        "*last 30 days*: the last 30 local days of the span, the size of a monthly report.",
        "",
        sp.md_table(HEADER, rows, left=2),
        "",
    ]
    busy = _busy(load)
    if busy:
        lines += ["Notes:", "", f"- {busy}", ""]
    lines.append(END)
    return "\n".join(lines)


def _busy(load: dict[str, str]) -> str:
    """A note when the machine was not quiet (load average above half its CPUs)."""
    try:
        worst = max(float(load[k].split()[0]) for k in ("start", "end"))
    except (KeyError, ValueError, IndexError):
        return ""
    ncpu = os.cpu_count() or 1
    if worst <= ncpu / 2:
        return ""
    return (f"the 1-minute load average reached {worst:.2f} on {ncpu} CPUs: other sessions were running on "
            "the machine at the same time, so these times are longer than on a quiet machine.")


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=1_000_000, help="tickets to generate (default 1000000)")
    p.add_argument("--days", type=int, default=365, help="days the tickets are spread over (default 365)")
    p.add_argument("--repeat", type=int, default=3, help="runs per report; the median is kept (default 3)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--no-write", action="store_true", help=f"print only; do not update {DOC.relative_to(REPO)}")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.perf_counter()
    load = {"start": sp.loadavg()}
    work = Path(tempfile.mkdtemp(prefix="happycall-bench-analyzer-"))
    work.chmod(0o711)   # PostgreSQL runs as its own user (when we are root) in work/postgres
    try:
        return run(args, started, t_start, load, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, started: dt.datetime, t_start: float, load: dict[str, str], work: Path) -> int:
    # The span ends at a fixed local midnight (same data every run): whole local days.
    end_day = dt.date(2026, 11, 1)
    end_utc = dt.datetime.combine(end_day, dt.time()) - dt.timedelta(hours=9)
    first_day = end_day - dt.timedelta(days=args.days)
    ranges = {"whole span": (first_day, end_day - dt.timedelta(days=1)),
              "last 30 days": (end_day - dt.timedelta(days=30), end_day - dt.timedelta(days=1))}

    def gen_factory(queues, agents, customers, groups):
        return Generator(args.tickets, args.days, end_utc, queues, agents, customers, groups)

    results: dict[str, dict] = {}
    infos: dict[str, dict] = {}
    say(f"SQLite in {work}")
    engine, infos["SQLite"] = build("SQLite", f"sqlite:///{work / 'bench.sqlite3'}", gen_factory, load_sqlite)
    results["sqlite"], sqlite_figures = time_reports(Analyzer(make_session_factory(engine), TIMEZONE), ranges,
                                                     args.repeat)
    engine.dispose()

    pg_note = "not measured (--no-postgres)"
    if not args.no_postgres:
        from support.pg_cluster import PgUnavailable, start_cluster
        try:
            cluster = start_cluster(work / "postgres")
        except PgUnavailable as exc:
            pg_note = f"not measured: {exc}"
            say(f"PostgreSQL skipped: {exc}")
        else:
            try:
                engine, infos["PostgreSQL"] = build("PostgreSQL", cluster.url, gen_factory, load_postgres)
                with engine.connect() as c:
                    from sqlalchemy import text
                    version = c.execute(text("SHOW server_version")).scalar()
                pg_note = (f"{version}, a throwaway cluster on 127.0.0.1 (default settings but fsync off), "
                           "psycopg 3")
                results["postgresql"], pg_figures = time_reports(Analyzer(make_session_factory(engine), TIMEZONE),
                                                                 ranges, args.repeat)
                diff = differences(sqlite_figures, pg_figures)
                pg_note += ("; every report gave the same figures as SQLite" if not diff else
                            "; figures differing from SQLite's: " + ", ".join(diff))
                say(pg_note)
                engine.dispose()
            finally:
                cluster.stop()

    load["end"] = sp.loadavg()
    rows = table_rows(results, ranges)
    say()
    say(sp.text_table(HEADER, rows))
    command = "python bench/analyzer.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    section = render_section(results, infos, ranges, args, sp.machine(), command, started,
                             time.perf_counter() - t_start, load, pg_note)
    if not args.no_write:
        sp.write_doc(section, DOC, BEGIN, END)
        say(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
