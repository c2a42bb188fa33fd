"""Summary columns the analyzer reads instead of recomputing them over a year of rows.

A report over a million tickets cannot afford two index look-ups per ticket
(first-call resolution) or a time difference parsed from text per row (handling
time, waits): those cost 1.5-3.5 s on SQLite.  So each ticket and call record
carries the figures, kept up to date at the moment the facts change:

``tickets.first_contact``
    The ticket was settled at the first contact, by the analyzer's definition
    (docs/analyzer.md): (1) no history event in ``NOT_FIRST_CONTACT_EVENTS``;
    (2) nobody but the ticket's agent has an ``answered``/``resolved`` event on
    it; (3) the same (identified) customer opened no other ticket within
    ``REPEAT_WINDOW_DAYS`` after it.  Kept for every ticket, resolved or not
    (the report counts the resolved ones); it depends on the ticket's events,
    its agent and customer, and on the customer's *later* tickets.
``tickets.handling_s``
    Whole seconds from ``created_at`` to ``resolved_at`` (None while open).
``call_records.wait_s`` / ``talk_s``
    Whole seconds queued -> answered and answered -> ended (None until both ends are known).
``surveys.asked_on`` / ``replied_on``
    Bit sets (``SURVEY_CHANNEL_BITS``) of the channels the customer was asked on
    -- phone: a survey call was placed; email / sms: a message went out (attempt
    ``sent``); web: an e-mail went out and a form link was issued; line (the
    survey reply line, whose number every message carries): an e-mail or an SMS
    went out -- and of the channels a reply (not a duplicate) came in on.

Durations are rounded half away from zero from the exact microseconds, as the
analyzer always did in SQL (``seconds_between``), so the figures are unchanged.

Who keeps them: ``install(session_factory)`` (called by
``db.session.make_session_factory``, so every service's sessions have it)
hooks the ORM flush.  Before a flush the durations of new or changed tickets and
calls are set; after it, ``first_contact`` is recomputed in SQL, with the
definition above, for the tickets whose facts changed in that flush: a new
ticket (and the same customer's tickets of the 7 days before it that it turns
into "came back"), a change of agent, customer or creation time, a new or
changed history event of a kind the definition looks at, a deleted ticket's
predecessors; and the channel bit sets of the surveys whose attempts, form
links or replies were added, changed or removed.  No service has to remember
to call anything, whichever of them (calls, e-mail intake, escalation,
surveys, callbacks) writes the row.  The statements are built once per
session factory and database.

Rows written without the ORM (the migration's existing rows, the benchmark's
bulk load) are filled by ``refresh_all``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional

from sqlalchemy import (DateTime, Float, Integer, and_, bindparam, case, cast, event, false, func, inspect,
                        literal_column, not_, or_, select, true)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from db.models import CallRecord, Survey, SurveyAttempt, SurveyReply, SurveyToken, Ticket, TicketEvent, utcnow

REPEAT_WINDOW_DAYS = 7         # a new ticket from the same customer this soon: not solved at first contact
# History events that mean the ticket was not settled at the first contact: moved to
# another queue, the caller hung up and had to be called back, or (issue 5 lifecycle)
# escalated / assigned / transferred to someone else.
NOT_FIRST_CONTACT_EVENTS = ("moved", "abandoned", "callback", "callback_reached", "escalated", "reassigned",
                            "assigned", "transferred")
# Events whose user handled the ticket: someone other than the ticket's agent here
# means the first agent did not finish it.
HANDLER_EVENTS = ("answered", "resolved")
_WATCHED_EVENTS = frozenset(NOT_FIRST_CONTACT_EVENTS + HANDLER_EVENTS)
# The predecessors a new ticket may affect are looked up a second wider than the window
# (recomputing one ticket too many is harmless, missing one is not).
_LOOK_BACK = dt.timedelta(days=REPEAT_WINDOW_DAYS, seconds=1)

tickets_t = Ticket.__table__
events_t = TicketEvent.__table__
calls_t = CallRecord.__table__
surveys_t = Survey.__table__
attempts_t = SurveyAttempt.__table__
tokens_t = SurveyToken.__table__
replies_t = SurveyReply.__table__

# The channels of a survey (issue 6) and their bits in surveys.asked_on / replied_on.
SURVEY_CHANNEL_BITS = {"phone": 1, "email": 2, "sms": 4, "web": 8, "line": 16}


# ---- the definitions, in SQL (also used by the analyzer) ------------------------------------------
def seconds_between(dialect: str, earlier, later) -> ColumnElement:
    """Whole seconds from ``earlier`` to ``later``, rounded half away from zero
    (float-typed).  Both databases work in exact microseconds so an edge case (a
    wait of exactly 20.5 s, or 20.4999 s) lands the same way."""
    if dialect == "sqlite":
        raw = (_sqlite_epoch_us(later) - _sqlite_epoch_us(earlier)) / 1000000.0
    else:
        raw = func.extract("epoch", later - earlier)       # numeric, exact to the microsecond
    return cast(func.round(raw), Float)


def _sqlite_epoch_us(column) -> ColumnElement:
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'.  julianday() would keep only
    # milliseconds, as a float; whole seconds from strftime('%s') plus the
    # microsecond digits are exact integers.
    seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
    return seconds * 1000000 + cast(func.substr(column, 21, 6), Integer)


def plus_days(dialect: str, column, days: int) -> ColumnElement:
    if dialect == "sqlite":
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff'.  Whole days
        # leave the fraction alone, so it is copied: strftime's %f has milliseconds only,
        # and a ticket exactly 7 days later to the microsecond fell outside the window on
        # SQLite but inside on PostgreSQL.
        return func.strftime("%Y-%m-%d %H:%M:%S", column, f"+{int(days)} days").concat(func.substr(column, 20, 7))
    return column + literal_column(f"INTERVAL '{int(days)} days'")


def first_contact_definition(dialect: str, ticket=tickets_t) -> ColumnElement:
    """True when ``ticket`` (a tickets table or alias, correlated) was settled at the
    first contact: conditions (1)-(3) of the module docstring."""
    other = tickets_t.alias("later_ticket")
    # EXISTS (SELECT <an indexed column> ...), not SELECT *: SQLite then answers from
    # the covering index without reading the rows.
    passed_on = select(events_t.c.ticket_id).where(
        events_t.c.ticket_id == ticket.c.id,
        or_(events_t.c.kind.in_(NOT_FIRST_CONTACT_EVENTS),
            and_(events_t.c.kind.in_(HANDLER_EVENTS), events_t.c.user_id.is_not(None),
                 or_(ticket.c.agent_id.is_(None), events_t.c.user_id != ticket.c.agent_id)))).exists()
    came_back = select(other.c.id).where(
        # created strictly later: never the ticket itself (so no id test, and the
        # index on (customer_id, created_at) answers alone)
        other.c.customer_id == ticket.c.customer_id, other.c.created_at > ticket.c.created_at,
        other.c.created_at <= plus_days(dialect, ticket.c.created_at, REPEAT_WINDOW_DAYS)).exists()
    return and_(not_(passed_on), or_(ticket.c.customer_id.is_(None), not_(came_back)))


def asked_on_definition(survey=surveys_t) -> ColumnElement:
    """The bit set of the channels the customer of ``survey`` (correlated) was asked on."""
    def attempt(channel: str, *conds) -> ColumnElement:
        return select(attempts_t.c.id).where(attempts_t.c.survey_id == survey.c.id, attempts_t.c.channel == channel,
                                             *conds).exists()
    called = attempt("phone")
    emailed = attempt("email", attempts_t.c.outcome == "sent")
    texted = attempt("sms", attempts_t.c.outcome == "sent")
    linked = select(tokens_t.c.id).where(tokens_t.c.survey_id == survey.c.id).exists()
    bits = SURVEY_CHANNEL_BITS
    return (_bit(called, bits["phone"]) + _bit(emailed, bits["email"]) + _bit(texted, bits["sms"])
            + _bit(and_(emailed, linked), bits["web"]) + _bit(or_(emailed, texted), bits["line"]))


def replied_on_definition(survey=surveys_t) -> ColumnElement:
    """The bit set of the channels a reply (not a duplicate) of ``survey`` came in on."""
    total = None
    for channel, bit in SURVEY_CHANNEL_BITS.items():
        replied = select(replies_t.c.id).where(replies_t.c.survey_id == survey.c.id, replies_t.c.channel == channel,
                                               replies_t.c.duplicate_of_id.is_(None)).exists()
        total = _bit(replied, bit) if total is None else total + _bit(replied, bit)
    return total


def _bit(condition, bit: int) -> ColumnElement:
    return case((condition, bit), else_=0)


def whole_seconds(earlier: Optional[dt.datetime], later: Optional[dt.datetime]) -> Optional[int]:
    """``seconds_between`` in Python, exactly (integer microseconds, half away from zero)."""
    if earlier is None or later is None:
        return None
    us = (later - earlier) // dt.timedelta(microseconds=1)
    rounded = (abs(us) + 500_000) // 1_000_000
    return rounded if us >= 0 else -rounded


# ---- keeping them up to date ----------------------------------------------------------------------
def install(session_factory: sessionmaker) -> None:
    """Keep the summary columns of every session made by ``session_factory``."""
    keeper = _Keeper()
    event.listen(session_factory, "before_flush", _set_durations)
    event.listen(session_factory, "after_flush", keeper.after_flush)


class _Statements:
    """The SQL that keeps the columns, built once per database (building the
    definition's expression took ~2 ms, more than running it: done per flush it
    made a call's service work 70 % slower)."""

    def __init__(self, dialect: str):
        t = tickets_t
        ids = bindparam("ids", expanding=True)
        # (names unlike the columns': an UPDATE reserves those for its SET clause)
        customer, at = bindparam("customer"), bindparam("at", type_=DateTime())
        since = bindparam("since", type_=DateTime())
        self.refresh = (t.update().where(t.c.id.in_(ids))
                        .values(first_contact=case((first_contact_definition(dialect), true()), else_=false())))
        # A new ticket at ``at`` can only turn the customer's tickets of the window before
        # it false (condition 3): only those still true are touched, with the definition's
        # window -- not the whole definition for every ticket of the week, which grows with
        # every call of a customer who calls every few minutes (the load tests' demo caller).
        self.came_back = (t.update().where(
            t.c.customer_id == customer, t.c.created_at >= since, t.c.created_at < at, t.c.first_contact.is_(True),
            at <= plus_days(dialect, t.c.created_at, REPEAT_WINDOW_DAYS)).values(first_contact=False))
        self.predecessors = select(t.c.id).where(t.c.customer_id == customer, t.c.created_at >= since,
                                                 t.c.created_at < at)
        self.surveys = (surveys_t.update().where(surveys_t.c.id.in_(bindparam("ids", expanding=True)))
                        .values(asked_on=asked_on_definition(), replied_on=replied_on_definition()))


class _Keeper:
    """The after-flush hook of one session factory, with its statements per database."""

    def __init__(self) -> None:
        self._statements: dict[str, _Statements] = {}

    def statements(self, connection: Connection) -> _Statements:
        dialect = connection.dialect.name
        if dialect not in self._statements:
            self._statements[dialect] = _Statements(dialect)
        return self._statements[dialect]

    def after_flush(self, session: Session, _context: Any) -> None:
        _refresh_first_contact(session, self.statements)


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return state.pending or any(state.attrs[n].history.has_changes() for n in names)


def _set_durations(session: Session, _context: Any, _instances: Any) -> None:
    with session.no_autoflush:
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, Ticket) and _changed(obj, "created_at", "resolved_at"):
                if obj.created_at is None:
                    # the column default, set here so the handling time can be computed now
                    obj.created_at = utcnow()
                _assign(obj, "handling_s", whole_seconds(obj.created_at, obj.resolved_at))
            elif isinstance(obj, CallRecord) and _changed(obj, "queued_at", "answered_at", "ended_at"):
                _assign(obj, "wait_s", whole_seconds(obj.queued_at, obj.answered_at))
                _assign(obj, "talk_s", whole_seconds(obj.answered_at, obj.ended_at))


def _assign(obj: Any, name: str, value: Optional[int]) -> None:
    if getattr(obj, name) != value:
        setattr(obj, name, value)


def _refresh_first_contact(session: Session, statements_for: Any) -> None:
    ids: set[int] = set()
    around: set[tuple[int, dt.datetime]] = set()      # (customer, created_at): their predecessors
    came: set[tuple[int, dt.datetime]] = set()        # a new ticket of the customer at that time
    deleted: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Ticket):
            ids.add(obj.id)
            _note_customer(came, obj.customer_id, obj.created_at)
        elif isinstance(obj, TicketEvent) and obj.kind in _WATCHED_EVENTS and not _by_its_agent(session, obj):
            ids.add(obj.ticket_id)
    for obj in session.dirty:
        if isinstance(obj, Ticket):
            _ticket_changed(obj, ids, around)
        elif isinstance(obj, TicketEvent):
            _event_changed(obj, ids)
    for obj in session.deleted:
        if isinstance(obj, Ticket):
            deleted.add(obj.id)
            _note_customer(around, obj.customer_id, obj.created_at)
        elif isinstance(obj, TicketEvent):
            ids.add(obj.ticket_id)
    surveys = _surveys_touched(session)
    if not ids and not around and not came and not surveys:
        return
    connection = session.connection()
    sql = statements_for(connection)
    if surveys:
        refresh_surveys(connection, surveys, sql)
    for customer_id, created_at in came:
        connection.execute(sql.came_back, {"customer": customer_id, "at": created_at,
                                           "since": created_at - _LOOK_BACK})
    for customer_id, created_at in around:
        ids.update(connection.execute(sql.predecessors, {"customer": customer_id, "at": created_at,
                                                         "since": created_at - _LOOK_BACK}).scalars())
    refresh(connection, ids - deleted - {None}, sql)


def _surveys_touched(session: Session) -> set[int]:
    found: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (SurveyAttempt, SurveyToken, SurveyReply)):
            found.add(obj.survey_id)
            found.update(inspect(obj).attrs.survey_id.history.deleted or ())
    return found - {None}


def refresh_surveys(connection: Connection, survey_ids: Iterable[int], sql: Optional[_Statements] = None) -> None:
    """Recompute the channel bit sets of these surveys from the definitions."""
    ids = sorted(survey_ids)
    sql = sql or _Statements(connection.dialect.name)
    for i in range(0, len(ids), 500):
        connection.execute(sql.surveys, {"ids": ids[i:i + 500]})


def _by_its_agent(session: Session, ev: TicketEvent) -> bool:
    """An answered/resolved event by nobody or by the ticket's own agent (as this flush
    leaves it) cannot change the flag: no statement for the two events of every call.
    (A later change of the ticket's agent recomputes it anyway.)"""
    if ev.kind not in HANDLER_EVENTS:
        return False
    if ev.user_id is None:
        return True
    ticket = session.identity_map.get(identity_key(Ticket, ev.ticket_id))
    return ticket is not None and ticket.agent_id == ev.user_id


def _note_customer(around: set, customer_id: Optional[int], created_at: Optional[dt.datetime]) -> None:
    if customer_id is not None and created_at is not None:
        around.add((customer_id, created_at))


def _ticket_changed(ticket: Ticket, ids: set[int], around: set) -> None:
    state = inspect(ticket)
    agent, customer, created = (state.attrs[n].history for n in ("agent_id", "customer_id", "created_at"))
    if not (agent.has_changes() or customer.has_changes() or created.has_changes()):
        return
    ids.add(ticket.id)
    if not (customer.has_changes() or created.has_changes()):
        # A new agent changes this ticket's flag only: the customer's earlier tickets
        # depend on *when* and *for whom* this one was opened, not on who took it.
        # (Refreshing them for every answered call made each call cost O(tickets of the
        # customer's week): the load bench's one demo caller has thousands.)
        return
    customers = set(customer.deleted or ()) | {ticket.customer_id}
    times = set(created.deleted or ()) | {ticket.created_at}
    for c in customers:
        for t in times:
            _note_customer(around, c, t)


def _event_changed(ev: TicketEvent, ids: set[int]) -> None:
    state = inspect(ev)
    hist = [state.attrs[n].history for n in ("ticket_id", "kind", "user_id")]
    if any(h.has_changes() for h in hist):
        ids.add(ev.ticket_id)
        ids.update(hist[0].deleted or ())


def refresh(connection: Connection, ticket_ids: Iterable[int], sql: Optional[_Statements] = None) -> None:
    """Recompute ``first_contact`` of these tickets from the definition."""
    ids = sorted(ticket_ids)
    if not ids:
        return
    sql = sql or _Statements(connection.dialect.name)
    for i in range(0, len(ids), 500):
        connection.execute(sql.refresh, {"ids": ids[i:i + 500]})


def refresh_all(connection: Connection) -> None:
    """Every row's summary columns from the definitions, in SQL (after a bulk load,
    and the migration that adds the columns)."""
    dialect = connection.dialect.name

    def seconds(earlier, later) -> ColumnElement:
        return case((and_(earlier.is_not(None), later.is_not(None)),
                     cast(seconds_between(dialect, earlier, later), Integer)), else_=None)

    connection.execute(tickets_t.update().values(
        first_contact=case((first_contact_definition(dialect), true()), else_=false()),
        handling_s=seconds(tickets_t.c.created_at, tickets_t.c.resolved_at)))
    connection.execute(calls_t.update().values(
        wait_s=seconds(calls_t.c.queued_at, calls_t.c.answered_at),
        talk_s=seconds(calls_t.c.answered_at, calls_t.c.ended_at)))
    connection.execute(surveys_t.update().values(asked_on=asked_on_definition(), replied_on=replied_on_definition()))
