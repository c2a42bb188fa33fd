"""The analyzer: help-desk reports over a date range, computed by SQL aggregates.

Each report is one function ``report(session, period, scope) -> Report``: it
builds one or two SQLAlchemy ``select``s with ``count``/``sum``/``avg``/
``group_by``/``case`` and reads back a handful of grouped rows; no ticket is
ever loaded into Python.  ``REPORTS`` lists them in page order: a new report
(the 2nd-level ones once support groups exist) is one function and one entry.
Definitions are in docs/analyzer.md; the essentials are repeated on each
function.

Period
    ``Period.from_local_dates(first, last, timezone)``: from local midnight of
    ``first`` to local midnight after ``last`` in the floor's time zone
    (``[floor] timezone``, Asia/Seoul by default), converted to naive UTC
    because the database stores naive UTC.  Filters are ``[start, end)``.
    A ticket belongs to the period in which it was created (``created_at``).

Local time of day
    Hours of the day are local hours in the floor's time zone.  Neither SQLite
    nor our schema knows time zones, so the UTC offset is applied by the query:
    the period is cut into the spans in which the zone's offset is constant
    (one span for Asia/Seoul, which has no daylight saving time; two or three
    for a zone that changes to or from summer time within the period) and the
    offset is a ``CASE`` over those spans.  SQLite shifts with
    ``strftime('%H', t, '<n> seconds')``, PostgreSQL with ``t + n * interval
    '1 second'``: the same numbers on both.

Durations
    Whole seconds between two timestamps, rounded half away from zero, from
    exact microseconds: SQLite ``strftime('%s', <date and time>) * 1e6 +
    <microsecond digits>``, PostgreSQL ``extract(epoch from b - a)`` (numeric).
    Whole seconds keep bucket edges exact on both (a handling time of exactly
    one hour is in the "<= 1 h" bucket everywhere; a wait of 20.5 s is 21 s).

Summary columns
    What would cost a look-up or a date calculation per row over a year of
    tickets is kept on the rows (db/ticket_summary.py, at every ORM flush):
    ``tickets.first_contact`` (the first-call resolution conditions),
    ``handling_s``, ``call_records.wait_s`` / ``talk_s`` (the durations above)
    and ``surveys.asked_on`` / ``replied_on`` (channel bit sets).  The reports
    sum them from covering indexes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, String, and_, case, cast, func, literal_column, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from cti.surveys import answers as survey_terms
from db import ticket_summary
from db.models import CallRecord, Queue, SupportGroup, Survey, Ticket, TicketAssignment, User
from db.session import make_engine, make_session_factory

MAX_DAYS = 400                 # longest period one request may ask for
CHANNELS = ("phone", "email", "web", "onestop")
RATINGS = (1, 2, 3, 4, 5)
# Handling time buckets: (key, upper bound in seconds, inclusive); the last has no bound.
HANDLING_BUCKETS: tuple[tuple[str, Optional[int]], ...] = (
    ("le_15m", 15 * 60), ("le_1h", 3600), ("le_3h", 3 * 3600), ("le_8h", 8 * 3600), ("le_24h", 24 * 3600),
    ("gt_24h", None))
ALL = "all"                    # the total row's key
MAX_CAUSE_ROWS = 100           # causes and resolutions: the most frequent combinations listed


class AnalyzerError(ValueError):
    """A request the analyzer cannot answer (bad dates, unknown report)."""


# ---- period and scope -------------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """[start, end) in naive UTC during which the zone is ``offset_s`` ahead of UTC."""
    start: dt.datetime
    end: dt.datetime
    offset_s: int


@dataclass(frozen=True)
class Period:
    first: dt.date              # local dates, both included
    last: dt.date
    timezone: str
    start: dt.datetime          # naive UTC, included
    end: dt.datetime            # naive UTC, excluded
    spans: tuple[Span, ...]

    @classmethod
    def from_local_dates(cls, first: dt.date, last: dt.date, timezone: str) -> "Period":
        if last < first:
            raise AnalyzerError("the last day is before the first day")
        if (last - first).days + 1 > MAX_DAYS:
            raise AnalyzerError(f"a period may be at most {MAX_DAYS} days")
        try:
            zone = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise AnalyzerError(f"unknown time zone {timezone!r}") from exc
        start = _utc(dt.datetime.combine(first, dt.time(), zone))
        end = _utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone))
        return cls(first, last, timezone, start, end, offset_spans(zone, start, end))

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "timezone": self.timezone,
                "start_utc": self.start.isoformat() + "Z", "end_utc": self.end.isoformat() + "Z"}


@dataclass(frozen=True)
class Scope:
    """Optional filters: one site (the site of the ticket's / call's queue) and/or one queue."""
    site_id: Optional[int] = None
    queue_id: Optional[int] = None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _offset(zone: ZoneInfo, utc: dt.datetime) -> int:
    return int(utc.replace(tzinfo=dt.timezone.utc).astimezone(zone).utcoffset().total_seconds())


def offset_spans(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> tuple[Span, ...]:
    """Cut [start, end) (naive UTC) where the zone's UTC offset changes.  Looks a
    day at a time, then to the quarter hour inside a day with a change (every
    zone changes offset on a quarter hour)."""
    current = _offset(zone, start)
    changes: list[tuple[dt.datetime, int]] = [(start, current)]
    day, quarter = dt.timedelta(days=1), dt.timedelta(minutes=15)
    t = start
    while t < end:
        nxt = min(t + day, end)
        if _offset(zone, nxt) != current:
            q = t
            while q < nxt:
                q = min(q + quarter, nxt)
                off = _offset(zone, q)
                if off != current and q < end:
                    changes.append((q, off))
                    current = off
        t = nxt
    bounds = [c[0] for c in changes[1:]] + [end]
    return tuple(Span(s, e, off) for (s, off), e in zip(changes, bounds))


# ---- dialect-aware expressions ----------------------------------------------------------------
class Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str):
        if dialect not in ("sqlite", "postgresql"):
            raise AnalyzerError(f"the analyzer supports SQLite and PostgreSQL, not {dialect}")
        self.dialect = dialect

    def seconds_between(self, earlier, later) -> ColumnElement:
        """Whole seconds from ``earlier`` to ``later``, rounded half away from zero
        (float-typed; ``db.ticket_summary.seconds_between``: the definition of the
        stored durations ``handling_s``, ``wait_s``, ``talk_s``)."""
        return ticket_summary.seconds_between(self.dialect, earlier, later)

    def plus_days(self, column, days: int) -> ColumnElement:
        return ticket_summary.plus_days(self.dialect, column, days)

    def local_hour(self, column, spans: Sequence[Span]) -> ColumnElement:
        """The hour of day (0-23) of ``column`` in the floor's zone."""
        offset = _offset_expression(column, spans)
        if self.dialect == "sqlite":
            return cast(func.strftime("%H", column, cast(offset, String).concat(" seconds")), Integer)
        shifted = column + literal_column("INTERVAL '1 second'") * offset
        return cast(func.extract("hour", shifted), Integer)

    def local_date(self, column, spans: Sequence[Span]) -> ColumnElement:
        """The day of ``column`` in the floor's zone, as 'YYYY-MM-DD' text."""
        offset = _offset_expression(column, spans)
        if self.dialect == "sqlite":
            return func.date(column, cast(offset, String).concat(" seconds"))
        shifted = column + literal_column("INTERVAL '1 second'") * offset
        return func.to_char(shifted, "YYYY-MM-DD")


def _offset_expression(column, spans: Sequence[Span]) -> ColumnElement:
    # Offsets are integers the analyzer computed: inlined, so a GROUP BY on the
    # expression is the same text as the SELECT on PostgreSQL.
    if len(spans) == 1:
        return literal_column(str(int(spans[0].offset_s)), Integer)
    whens = [(column < s.end, literal_column(str(int(s.offset_s)), Integer)) for s in spans[:-1]]
    return case(*whens, else_=literal_column(str(int(spans[-1].offset_s)), Integer))


# ---- report shape -----------------------------------------------------------------------------
@dataclass
class Report:
    """Rows (dicts with the keys of ``columns``) and a few key figures."""
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "columns": list(self.columns), "rows": self.rows, "summary": self.summary}


def _in_period(column, period: Period) -> ColumnElement:
    return and_(column >= period.start, column < period.end)


def _queue_filter(queue_column, scope: Scope) -> list[ColumnElement]:
    conds = []
    if scope.queue_id is not None:
        conds.append(queue_column == scope.queue_id)
    if scope.site_id is not None:
        conds.append(queue_column.in_(select(Queue.id).where(Queue.site_id == scope.site_id)))
    return conds


def _tickets_where(period: Period, scope: Scope) -> list[ColumnElement]:
    return [_in_period(Ticket.created_at, period), *_queue_filter(Ticket.queue_id, scope)]


def _count_if(condition) -> ColumnElement:
    return func.sum(case((condition, 1), else_=0))


def _rate(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def _round(value, digits: int = 1) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def _sql(s: Session) -> Sql:
    return Sql(s.get_bind().dialect.name)


# ---- reports ----------------------------------------------------------------------------------
def first_call_resolution(s: Session, period: Period, scope: Scope) -> Report:
    """Resolved tickets created in the period, per queue, and how many of them
    were resolved at the first contact: (1) no history event in
    ``db.ticket_summary.NOT_FIRST_CONTACT_EVENTS`` (moved, abandoned and called
    back, escalated, assigned, transferred); (2) nobody but the ticket's agent
    answered or resolved it; (3) no other ticket from the same (identified)
    customer was created within ``REPEAT_WINDOW_DAYS`` (7) after it.  Rate = first-contact / resolved.

    The three conditions are ``tickets.first_contact``, kept by
    db/ticket_summary.py whenever one of those facts changes (two index look-ups
    per ticket here took 3.4 s for a year of tickets); the count is read from
    the covering index ``ix_tickets_report``."""
    stmt = (select(Ticket.queue_id, func.count().label("resolved"),
                   func.sum(case((Ticket.first_contact.is_(True), 1), else_=0)).label("first_contact"))
            .where(*_tickets_where(period, scope), Ticket.resolved_at.is_not(None))
            .group_by(Ticket.queue_id))
    names = _queue_names(s)
    rows = [{"queue": names.get(qid, ""), "resolved": n, "first_contact": int(fc or 0),
             "rate": _rate(int(fc or 0), n)} for qid, n, fc in s.execute(stmt)]
    rows.sort(key=lambda r: r["queue"])
    resolved = sum(r["resolved"] for r in rows)
    first = sum(r["first_contact"] for r in rows)
    summary = {"resolved": resolved, "first_contact": first, "rate": _rate(first, resolved)}
    return Report("first_call_resolution", ("queue", "resolved", "first_contact", "rate"), rows, summary)


def intake_by_hour(s: Session, period: Period, scope: Scope) -> Report:
    """Tickets created in the period by local hour of day (floor time zone) and
    channel; every hour 0-23 and every known channel present, zeros included."""
    hour = _sql(s).local_hour(Ticket.created_at, period.spans)
    return _intake_by(s, period, scope, "intake_by_hour", "hour", hour, list(range(24)), int)


def intake_by_day(s: Session, period: Period, scope: Scope) -> Report:
    """Tickets created in the period by local day (floor time zone) and channel;
    every day of the period and every known channel present, zeros included."""
    day = _sql(s).local_date(Ticket.created_at, period.spans)
    days = [(period.first + dt.timedelta(days=i)).isoformat() for i in range((period.last - period.first).days + 1)]
    return _intake_by(s, period, scope, "intake_by_day", "day", day, days, lambda v: str(v)[:10])


def _intake_by(s: Session, period: Period, scope: Scope, name: str, key: str, key_expr, keys: list,
               normalize: Callable[[Any], Any]) -> Report:
    """Ticket counts per (``key_expr``, channel), one row per value of ``keys``.

    Grouped by the key only, with one ``sum(case channel = ...)`` per known channel
    and the total: a GROUP BY on (key, channel) sorted a million rows on two keys
    and took 2.5x as long on SQLite.  Tickets of other channels (the difference
    between the total and the known ones: a survey's follow-up ticket, say) are
    counted by a second query over those tickets only, when there are any."""
    inner = (select(key_expr.label("k"), Ticket.channel.label("channel"))
             .where(*_tickets_where(period, scope)).subquery())
    known = [_count_if(inner.c.channel == c) for c in CHANNELS]
    stmt = select(inner.c.k, func.count(), *known).group_by(inner.c.k)
    counts: dict[tuple[Any, str], int] = {}
    channels = list(CHANNELS)
    others = False
    for value, total, *per_channel in s.execute(stmt):
        for channel, n in zip(CHANNELS, per_channel):
            _add(counts, (normalize(value), channel), int(n or 0))
        others = others or total > sum(int(n or 0) for n in per_channel)
    if others:
        rest = (select(inner.c.k, inner.c.channel, func.count())
                .where(or_(inner.c.channel.not_in(CHANNELS), inner.c.channel.is_(None)))
                .group_by(inner.c.k, inner.c.channel))
        for value, channel, n in s.execute(rest):
            channel = channel or "unspecified"
            _add(counts, (normalize(value), channel), n)
            if channel not in channels:
                channels.append(channel)
    rows = []
    for k in keys:
        row: dict[str, Any] = {key: k}
        row.update({c: counts.get((k, c), 0) for c in channels})
        row["total"] = sum(row[c] for c in channels)
        rows.append(row)
    totals = {c: sum(r[c] for r in rows) for c in channels}
    totals["total"] = sum(totals[c] for c in channels)
    return Report(name, (key, *channels, "total"), rows, totals)


def _add(counts: dict, key: Any, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def satisfaction(s: Session, period: Period, scope: Scope) -> Report:
    """Answered surveys (rating set) of tickets created in the period: responses
    per rating (1-5 always listed) with their share, and the average rating
    (sum of rating x responses over the responses: from the grouped counts)."""
    # Surveys are far fewer than tickets: read the surveys and look each ticket up
    # by its key (EXISTS), rather than every ticket of the period and its survey.
    of_period = select(Ticket.id).where(Ticket.id == Survey.ticket_id, *_tickets_where(period, scope)).exists()
    stmt = (select(Survey.rating, func.count()).where(Survey.rating.is_not(None), of_period)
            .group_by(Survey.rating))
    counts = {int(r): n for r, n in s.execute(stmt)}
    total = sum(counts.values())
    average = sum(r * n for r, n in counts.items()) / total if total else None
    rows = [{"rating": r, "responses": counts.get(r, 0), "share": _rate(counts.get(r, 0), total)}
            for r in sorted(set(RATINGS) | set(counts))]
    return Report("satisfaction", ("rating", "responses", "share"), rows,
                  {"responses": total, "average": _round(average, 2)})


def agents(s: Session, period: Period, scope: Scope) -> Report:
    """Per agent (the ticket's agent): tickets taken (created in the period with
    this agent), resolved, still open, average handling time of the resolved
    ones (created -> resolved, s); calls answered (call records queued in the
    period and answered by the agent) and their average talk time (answered ->
    ended, s).  Durations are the stored whole seconds (``handling_s``,
    ``talk_s``, db/ticket_summary.py); averages are their sums over their counts
    (integers from SQL, so the same on both databases)."""
    ticket_stmt = (select(Ticket.agent_id, func.count(), func.count(Ticket.resolved_at),
                          func.sum(Ticket.handling_s), func.count(Ticket.handling_s))
                   .where(*_tickets_where(period, scope), Ticket.agent_id.is_not(None))
                   .group_by(Ticket.agent_id))
    call_stmt = (select(CallRecord.agent_id, func.count(), func.sum(CallRecord.talk_s), func.count(CallRecord.talk_s))
                 .where(_in_period(CallRecord.queued_at, period), CallRecord.answered_at.is_not(None),
                        CallRecord.agent_id.is_not(None), *_queue_filter(CallRecord.queue_id, scope))
                 .group_by(CallRecord.agent_id))
    per: dict[int, dict[str, Any]] = {}

    def row(agent_id: int) -> dict[str, Any]:
        return per.setdefault(agent_id, {"taken": 0, "resolved": 0, "open": 0, "avg_handling_s": None,
                                         "calls_answered": 0, "avg_talk_s": None})

    for agent_id, taken, done, handling, timed in s.execute(ticket_stmt):
        r = row(agent_id)
        r.update(taken=taken, resolved=int(done or 0), open=taken - int(done or 0),
                 avg_handling_s=_mean(handling, timed))
    for agent_id, calls, talk, timed in s.execute(call_stmt):
        row(agent_id).update(calls_answered=calls, avg_talk_s=_mean(talk, timed))
    people = dict(s.execute(select(User.id, User.display_name).where(User.id.in_(list(per)))).all()) if per else {}
    rows = [{"agent": people.get(aid, str(aid)), **vals} for aid, vals in per.items()]
    rows.sort(key=lambda r: r["agent"])
    return Report("agents", ("agent", "taken", "resolved", "open", "avg_handling_s", "calls_answered",
                             "avg_talk_s"), rows,
                  {"taken": sum(r["taken"] for r in rows), "resolved": sum(r["resolved"] for r in rows),
                   "calls_answered": sum(r["calls_answered"] for r in rows)})


def _mean(total, count, digits: int = 1) -> Optional[float]:
    """An average from an integer sum and count (exact on both databases)."""
    return round(int(total) / int(count), digits) if count else None


def handling_time(s: Session, period: Period, scope: Scope) -> Report:
    """Resolved tickets created in the period by handling time (created ->
    resolved, whole seconds: ``tickets.handling_s``) in HANDLING_BUCKETS (upper
    bounds inclusive), with count, average, longest and the median and 90th
    percentile (nearest rank: the value at position ceil(p * n) in ascending
    order).

    The tickets are counted per distinct handling time (a GROUP BY over the
    covering index), and every figure is an aggregate over those few thousand
    groups: a running total in ascending order (``sum(...) over (order by
    ...)``, both databases) finds the percentiles -- the smallest time whose
    running total reaches ceil(p * n) -- without sorting every ticket."""
    counted = (select(Ticket.handling_s.label("s"), func.count().label("c"))
               .where(*_tickets_where(period, scope), Ticket.resolved_at.is_not(None))
               .group_by(Ticket.handling_s).subquery())
    # PostgreSQL sums bigint counts to numeric: cast back so the rank arithmetic stays integer
    running = select(counted.c.s, counted.c.c,
                     cast(func.sum(counted.c.c).over(order_by=counted.c.s), BigInteger).label("cum"),
                     cast(func.sum(counted.c.c).over(), BigInteger).label("n")).subquery()
    value, c, cum, n = running.c.s, running.c.c, running.c.cum, running.c.n
    bucket_cols = []
    lower = None
    for key, bound in HANDLING_BUCKETS:
        cond = []
        if lower is not None:
            cond.append(value > lower)
        if bound is not None:
            cond.append(value <= bound)
        bucket_cols.append(func.sum(case((and_(*cond), c), else_=0)).label(key))
        lower = bound
    stmt = select(func.sum(c), func.sum(value * c), func.max(value),
                  func.min(case((cum >= _ceil_rank(n, 500), value))),
                  func.min(case((cum >= _ceil_rank(n, 900), value))), *bucket_cols)
    count, total, longest, p50, p90, *buckets = s.execute(stmt).one()
    count = int(count or 0)
    rows = [{"bucket": key, "tickets": int(b or 0), "share": _rate(int(b or 0), count)}
            for (key, _), b in zip(HANDLING_BUCKETS, buckets)]
    summary = {"resolved": count, "avg_s": _mean(total, count), "max_s": _round(longest, 0),
               "p50_s": _round(p50, 0), "p90_s": _round(p90, 0)}
    return Report("handling_time", ("bucket", "tickets", "share"), rows, summary)


def _ceil_rank(n, per_mille: int) -> ColumnElement:
    """ceil(n * per_mille / 1000) in integer arithmetic (no float error)."""
    return (n * per_mille + 999) // 1000


def calls_by_queue(s: Session, period: Period, scope: Scope) -> Report:
    """Inbound calls that reached a queue in the period (``queued_at``), per
    queue: answered, abandoned (hung up before an agent answered), answered
    within the queue's service level (wait <= its service_level_seconds),
    average and longest wait of the answered ones (queued -> answered, whole
    seconds: ``call_records.wait_s``)."""
    answered = CallRecord.answered_at.is_not(None)
    per_queue = (select(CallRecord.queue_id, func.count(), func.count(CallRecord.answered_at),
                        func.sum(case((and_(CallRecord.answered_at.is_(None), CallRecord.outcome == "abandoned"), 1),
                                      else_=0)),
                        func.sum(case((answered, CallRecord.wait_s))), func.count(case((answered, CallRecord.wait_s))),
                        func.max(case((answered, CallRecord.wait_s))))
                 .where(_in_period(CallRecord.queued_at, period), *_queue_filter(CallRecord.queue_id, scope))
                 .group_by(CallRecord.queue_id))
    # Within the service level: counted per queue against that queue's threshold
    # (a join on the few queues, not one look-up per call).
    within_stmt = (select(CallRecord.queue_id, func.count())
                   .select_from(CallRecord).join(Queue, Queue.id == CallRecord.queue_id)
                   .where(_in_period(CallRecord.queued_at, period), *_queue_filter(CallRecord.queue_id, scope),
                          answered, CallRecord.wait_s <= Queue.service_level_seconds)
                   .group_by(CallRecord.queue_id))
    within = dict(s.execute(within_stmt).all())
    names = _queue_names(s)
    rows = []
    for qid, n, ans, abandoned, waited, timed, longest in s.execute(per_queue):
        ans, abandoned, inside = int(ans or 0), int(abandoned or 0), int(within.get(qid, 0))
        rows.append({"queue": names.get(qid, ""), "calls": n, "answered": ans, "abandoned": abandoned,
                     "within_sl": inside, "sl_share": _rate(inside, ans + abandoned),
                     "avg_wait_s": _mean(waited, timed), "max_wait_s": _round(longest, 0)})
    rows.sort(key=lambda r: r["queue"])
    return Report("calls_by_queue", ("queue", "calls", "answered", "abandoned", "within_sl", "sl_share",
                                     "avg_wait_s", "max_wait_s"), rows,
                  {"calls": sum(r["calls"] for r in rows), "answered": sum(r["answered"] for r in rows),
                   "abandoned": sum(r["abandoned"] for r in rows)})


def second_level_intake(s: Session, period: Period, scope: Scope) -> Report:
    """Assignments to 2nd-level support groups made in the period
    (``ticket_assignments.at``), per group and person (no person: to the whole
    group): assignments, of which automatic (the first-level time rule) and
    manual (escalations and re-assignments), and distinct tickets.  Scope: the
    assigned ticket's queue."""
    a = TicketAssignment
    where = [_in_period(a.at, period), a.to_group_id.is_not(None)]
    if scope.site_id is not None or scope.queue_id is not None:
        where.append(select(Ticket.id).where(Ticket.id == a.ticket_id,
                                             *_queue_filter(Ticket.queue_id, scope)).exists())
    automatic = case((a.automatic.is_(True), 1), else_=0)
    stmt = (select(a.to_group_id, a.to_user_id, func.count(), func.sum(automatic),
                   func.count(func.distinct(a.ticket_id)))
            .where(*where).group_by(a.to_group_id, a.to_user_id))
    total_stmt = select(func.count(), func.sum(automatic), func.count(func.distinct(a.ticket_id))).where(*where)
    groups = _group_codes(s)
    rows = []
    found = s.execute(stmt).all()
    people = _people(s, [uid for _, uid, *_ in found if uid is not None])
    for gid, uid, n, auto, tickets in found:
        rows.append({"group": groups.get(gid, str(gid)), "person": people.get(uid, "") if uid is not None else "",
                     "assignments": n, "automatic": int(auto or 0), "manual": n - int(auto or 0),
                     "tickets": tickets})
    rows.sort(key=lambda r: (r["group"], r["person"]))
    n, auto, tickets = s.execute(total_stmt).one()
    summary = {"assignments": int(n or 0), "automatic": int(auto or 0), "manual": int(n or 0) - int(auto or 0),
               "tickets": int(tickets or 0)}
    return Report("second_level_intake", ("group", "person", "assignments", "automatic", "manual", "tickets"),
                  rows, summary)


def _level2_resolved_where(period: Period, scope: Scope) -> list[ColumnElement]:
    """Tickets created in the period and resolved at the 2nd level (by a support group)."""
    return [Ticket.level == 2, *_tickets_where(period, scope), Ticket.group_id.is_not(None),
            Ticket.resolved_at.is_not(None)]


def second_level_satisfaction(s: Session, period: Period, scope: Scope) -> Report:
    """Answered surveys (rating set) of tickets created in the period and
    resolved at the 2nd level, per support group (the ticket's group when it was
    resolved): responses, average rating, responses per rating 1-5.  Averages
    are sums of the grouped counts over the responses (the same on both databases)."""
    stmt = (select(Ticket.group_id, Survey.rating, func.count())
            .select_from(Survey).join(Ticket, Ticket.id == Survey.ticket_id)
            .where(Survey.rating.is_not(None), *_level2_resolved_where(period, scope))
            .group_by(Ticket.group_id, Survey.rating))
    per: dict[int, dict[int, int]] = {}
    for gid, rating, n in s.execute(stmt):
        per.setdefault(gid, {})[int(rating)] = n
    groups = _group_codes(s)
    rows = []
    for gid, counts in per.items():
        responses = sum(counts.values())
        row: dict[str, Any] = {"group": groups.get(gid, str(gid)), "responses": responses,
                               "average": _round(sum(r * n for r, n in counts.items()) / responses, 2)}
        row.update({f"rating_{r}": counts.get(r, 0) for r in RATINGS})
        rows.append(row)
    rows.sort(key=lambda r: r["group"])
    responses = sum(r["responses"] for r in rows)
    total = sum(r * n for counts in per.values() for r, n in counts.items())
    return Report("second_level_satisfaction",
                  ("group", "responses", "average", *(f"rating_{r}" for r in RATINGS)), rows,
                  {"responses": responses, "average": _round(total / responses, 2) if responses else None})


def causes_and_resolutions(s: Session, period: Period, scope: Scope) -> Report:
    """Tickets created in the period and resolved at the 2nd level, per support
    group, recorded cause and action (as entered: the same words count
    together), most frequent first; at most MAX_CAUSE_ROWS combinations are
    listed, the summary counts them all."""
    count = func.count()
    stmt = (select(Ticket.group_id, Ticket.cause, Ticket.action, count.label("n"))
            .where(*_level2_resolved_where(period, scope))
            .group_by(Ticket.group_id, Ticket.cause, Ticket.action)
            # ties broken by the first ticket's id, not by text: PostgreSQL's collation
            # orders text differently from SQLite, and the cut must be the same on both
            .order_by(count.desc(), func.min(Ticket.id))
            .limit(MAX_CAUSE_ROWS))
    groups = _group_codes(s)
    rows = [{"group": groups.get(gid, str(gid)), "cause": cause or "", "action": action or "", "tickets": n}
            for gid, cause, action, n in s.execute(stmt)]
    # ties in the count are listed by group code, cause, action (not by group id)
    rows.sort(key=lambda r: (-r["tickets"], r["group"], r["cause"], r["action"]))
    total, causes = s.execute(select(func.count(), func.count(func.distinct(Ticket.cause)))
                              .where(*_level2_resolved_where(period, scope))).one()
    return Report("causes_and_resolutions", ("group", "cause", "action", "tickets"), rows,
                  {"tickets": int(total or 0), "causes": int(causes or 0)})


# ---- survey figures (issue 6) -----------------------------------------------------------------
# A survey belongs to the period in which its ticket was created (as for ``satisfaction``);
# the scope is its ticket's queue / site.  What the customer was asked on and replied on
# are the bit sets surveys.asked_on / replied_on (db/ticket_summary.py), so each report
# is one pass over the period's surveys with sums of conditions.
SURVEY_CHANNELS = tuple(ticket_summary.SURVEY_CHANNEL_BITS)
# Terms listed from the most satisfied to the most actionable; "" = no term (a reply the
# classifier could not place).
SURVEY_TERM_ORDER = (survey_terms.HIGH_SATISFACTION, survey_terms.SIMPLE_SATISFACTION, survey_terms.IMPRESSION,
                     survey_terms.HOW_TO_USE, survey_terms.ADDITIONAL_REQUEST, survey_terms.REPEATED_TROUBLE,
                     survey_terms.DISSATISFACTION, "")


def _on(bits_column, channel: str) -> ColumnElement:
    return bits_column.op("&")(ticket_summary.SURVEY_CHANNEL_BITS[channel]) != 0


def _survey_answered() -> ColumnElement:
    """Answered: a reply (not a duplicate) came in on some channel."""
    return Survey.replied_on != 0


def _survey_repeated() -> ColumnElement:
    """The trouble came back: the answer to that question, or the term of a reply."""
    return or_(Survey.trouble_again.is_(True), Survey.reply_term == survey_terms.REPEATED_TROUBLE)


def _survey_dissatisfied() -> ColumnElement:
    """A rating of 1-2 or a reply classified as dissatisfaction."""
    return or_(Survey.rating <= 2, Survey.reply_term == survey_terms.DISSATISFACTION)


def _surveys_of(dialect: str, stmt, period: Period, scope: Scope):
    """``stmt`` over the surveys of the period's tickets.  SQLite: as EXISTS, so the
    surveys (a third of the tickets) are read from their covering index and each
    ticket looked up by its key (as a join SQLite read every ticket of the period
    from its index and looked each one's survey up: 1.9-2.9 s instead of ~0.3 s
    for a year).  PostgreSQL: a join, which it hashes (twice as fast there as the
    look-ups)."""
    if dialect == "postgresql":
        return (stmt.select_from(Survey).join(Ticket, Ticket.id == Survey.ticket_id)
                .where(*_tickets_where(period, scope)))
    of_period = select(Ticket.id).where(Ticket.id == Survey.ticket_id, *_tickets_where(period, scope)).exists()
    return stmt.select_from(Survey).where(of_period)


def survey_channels(s: Session, period: Period, scope: Scope) -> Report:
    """Reply rate per channel: for each channel, the surveys whose customer was
    asked on it (phone: the survey call placed; email / sms: a message sent; web:
    an e-mail with the form link sent; line: the reply line's number sent in an
    e-mail or SMS), how many of those were answered on that channel (a reply, not
    a duplicate), and the rate = replied / asked.  Key figures: surveys, asked on
    any channel, answered (on any channel), reply rate = answered / asked, closed
    without a reply."""
    asked, answered = Survey.asked_on != 0, _survey_answered()
    per_channel = []
    for channel in SURVEY_CHANNELS:
        per_channel += [_count_if(_on(Survey.asked_on, channel)),
                        _count_if(and_(_on(Survey.asked_on, channel), _on(Survey.replied_on, channel)))]
    figures = select(func.count(), _count_if(asked), _count_if(answered), _count_if(and_(asked, answered)),
                     _count_if(Survey.outcome == "no_reply"), *per_channel)
    stmt = _surveys_of(_sql(s).dialect, figures, period, scope)
    total, n_asked, n_answered, answered_asked, no_reply, *figures = s.execute(stmt).one()
    rows = []
    for i, channel in enumerate(SURVEY_CHANNELS):
        a, r = int(figures[2 * i] or 0), int(figures[2 * i + 1] or 0)
        rows.append({"channel": channel, "asked": a, "replied": r, "rate": _rate(r, a)})
    summary = {"surveys": int(total or 0), "asked": int(n_asked or 0), "answered": int(n_answered or 0),
               "reply_rate": _rate(int(answered_asked or 0), int(n_asked or 0)), "no_reply": int(no_reply or 0)}
    return Report("survey_channels", ("channel", "asked", "replied", "rate"), rows, summary)


def survey_terms_report(s: Session, period: Period, scope: Scope) -> Report:
    """Answered surveys by the term their replies were classified as (the most
    actionable of them: surveys.reply_term), every term listed; key figures:
    answered, repeated trouble (the trouble came back, by the question or the
    term) and its rate, dissatisfied (rating 1-2 or the term) and its rate,
    staff not kind."""
    # One pass: per term, its surveys and the key figures' counts, summed here over the
    # few terms (two passes, one for the terms and one for the totals, took twice as long).
    stmt = (_surveys_of(_sql(s).dialect, select(Survey.reply_term, func.count(), _count_if(_survey_repeated()),
                                                _count_if(_survey_dissatisfied()),
                                                _count_if(Survey.staff_kind.is_(False))), period, scope)
            .where(_survey_answered()).group_by(Survey.reply_term))
    counts: dict[str, int] = {}
    n = repeated = dissatisfied = unkind = 0
    for term, surveys, term_repeated, term_dissatisfied, term_unkind in s.execute(stmt):
        _add(counts, term or "", surveys)
        n, repeated = n + surveys, repeated + int(term_repeated or 0)
        dissatisfied, unkind = dissatisfied + int(term_dissatisfied or 0), unkind + int(term_unkind or 0)
    terms = list(SURVEY_TERM_ORDER) + sorted(t for t in counts if t not in SURVEY_TERM_ORDER)
    rows = [{"term": t, "surveys": counts.get(t, 0), "share": _rate(counts.get(t, 0), n)} for t in terms]
    summary = {"answered": n, "repeated_trouble": repeated, "repeated_rate": _rate(repeated, n),
               "dissatisfied": dissatisfied, "dissatisfied_rate": _rate(dissatisfied, n), "unkind": unkind}
    return Report("survey_terms", ("term", "surveys", "share"), rows, summary)


def _per_survey_person(dialect: str, period: Period, scope: Scope):
    """A subquery: each survey of the period with who served its customer and its figures.

    Shaped per database as in ``_surveys_of``: PostgreSQL joins (the look-up per
    survey took 1.0 s there for a year); SQLite looks the ticket up by its key for
    the period and again for the person, fenced with OFFSET 0 so that happens once
    per survey, not again for the GROUP BY."""
    person = case((and_(Ticket.level == literal_column("2"), Ticket.assignee_id.is_not(None)), Ticket.assignee_id),
                  else_=Ticket.agent_id)
    figures = (_survey_answered().label("answered"), Survey.rating.label("rating"),
               _survey_dissatisfied().label("dissatisfied"), _survey_repeated().label("repeated"),
               Survey.staff_kind.is_(False).label("unkind"))
    if dialect == "postgresql":
        return _surveys_of(dialect, select(person.label("who"), *figures), period, scope).subquery()
    served_by = select(person).where(Ticket.id == Survey.ticket_id).scalar_subquery()
    return _surveys_of(dialect, select(served_by.label("who"), *figures), period, scope).offset(0).subquery()


def survey_people(s: Session, period: Period, scope: Scope) -> Report:
    """Per technician / agent -- the 2nd-level person when the ticket was
    resolved at the 2nd level (``tickets.assignee_id``), else the ticket's
    agent: surveys, answered, reply rate, ratings given, average rating (sum over
    count: the same on both databases), dissatisfied, repeated trouble, staff
    not kind."""
    per_survey = _per_survey_person(_sql(s).dialect, period, scope)
    q = per_survey.c
    stmt = (select(q.who, func.count(), _count_if(q.answered), func.count(q.rating), func.sum(q.rating),
                   _count_if(and_(q.answered, q.dissatisfied)), _count_if(and_(q.answered, q.repeated)),
                   _count_if(q.unkind))
            .group_by(q.who))
    found = s.execute(stmt).all()
    people = _people(s, [who for who, *_ in found if who is not None])
    rows = []
    for who, n, replied, rated, rating_sum, dissatisfied, repeated, unkind in found:
        rows.append({"served_by": people.get(who, str(who)) if who is not None else "", "surveys": n,
                     "answered": int(replied or 0), "reply_rate": _rate(int(replied or 0), n),
                     "responses": int(rated or 0), "average": _mean(rating_sum or 0, rated, 2),
                     "dissatisfied": int(dissatisfied or 0), "repeated_trouble": int(repeated or 0),
                     "unkind": int(unkind or 0)})
    rows.sort(key=lambda r: (r["served_by"] == "", r["served_by"]))
    rated = sum(r["responses"] for r in rows)
    rating_total = sum(int(rating_sum or 0) for _, _, _, _, rating_sum, *_ in found)
    summary = {"surveys": sum(r["surveys"] for r in rows), "answered": sum(r["answered"] for r in rows),
               "average": _mean(rating_total, rated, 2)}
    return Report("survey_people", ("served_by", "surveys", "answered", "reply_rate", "responses", "average",
                                    "dissatisfied", "repeated_trouble", "unkind"), rows, summary)


def _group_codes(s: Session) -> dict[Optional[int], str]:
    return dict(s.execute(select(SupportGroup.id, SupportGroup.code)).all())


def _people(s: Session, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(set(user_ids)))).all())


def _queue_names(s: Session) -> dict[Optional[int], str]:
    return dict(s.execute(select(Queue.id, Queue.name)).all())


ReportFunction = Callable[[Session, Period, Scope], Report]

# Page order.
REPORTS: dict[str, ReportFunction] = {
    "first_call_resolution": first_call_resolution,
    "intake_by_hour": intake_by_hour,
    "intake_by_day": intake_by_day,
    "satisfaction": satisfaction,
    "agents": agents,
    "handling_time": handling_time,
    "calls_by_queue": calls_by_queue,
    "second_level_intake": second_level_intake,
    "second_level_satisfaction": second_level_satisfaction,
    "causes_and_resolutions": causes_and_resolutions,
    "survey_channels": survey_channels,
    "survey_terms": survey_terms_report,
    "survey_people": survey_people,
}


class Analyzer:
    """Runs the reports for the desktop (or any front end) on its own sessions."""

    def __init__(self, session_factory: sessionmaker, timezone: str = "Asia/Seoul",
                 engine: Optional[Engine] = None):
        self._sessions = session_factory
        self.timezone = timezone
        self._engine = engine            # owned (from_config): disposed by close()

    @classmethod
    def from_config(cls, config: dict) -> "Analyzer":
        """An analyzer with a database engine of its own that only reads: a
        report over a year of tickets may take seconds, and on SQLite the
        services' engine lets one transaction at a time in (db.session), so the
        reports must not run there while calls are being written."""
        engine = make_engine(config["database"], serialize_transactions=False)
        return cls(make_session_factory(engine), config["floor"]["timezone"], engine=engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def period(self, first: dt.date, last: dt.date) -> Period:
        return Period.from_local_dates(first, last, self.timezone)

    def report(self, name: str, period: Period, scope: Scope = Scope()) -> Report:
        try:
            function = REPORTS[name]
        except KeyError:
            raise AnalyzerError(f"unknown report {name!r}") from None
        with self._sessions() as s:
            _tune(s)
            return function(s, period, scope)

    def all_reports(self, period: Period, scope: Scope = Scope()) -> dict[str, Report]:
        with self._sessions() as s:
            _tune(s)
            return {name: function(s, period, scope) for name, function in REPORTS.items()}


def _tune(s: Session) -> None:
    """PostgreSQL's JIT compiles these short aggregates for ~0.2 s before running
    them in less (measured on 200 000 tickets): off for the analyzer's own
    transaction only."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SET LOCAL jit = off"))
