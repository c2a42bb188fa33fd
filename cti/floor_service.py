"""Wallboard and projection-dashboard figures read from the database.

``FloorService(session_factory, config, clock=utc_now)`` loads the rows of
"today" in a handful of queries and hands them to ``cti.floor_stats``, which
does all the arithmetic (service level, share, talk-time buckets, waiting calls,
agents by state, ticket counts).  No Flask or Asterisk imports: the desktop
(``agent_desktop.wallboard``) and any other front end call it.

Today
    From local midnight in ``[floor] timezone`` (default Asia/Seoul) until now.
    The database stores naive UTC, so midnight is converted to UTC first.  A
    call belongs to the day in which it entered a queue (``queued_at``); a call
    still waiting counts as waiting whenever it was queued.  A ticket belongs to
    the day it was created.

Which calls
    Only calls that reached a queue (``queued_at`` set); calls hung up in the
    IVR are not counted.  Waiting now = not answered, not ended, outcome
    ``queued`` or ``ringing`` (what ``cti.services.CallCenter`` writes while a
    caller waits or an agent's phone rings).

Which agents
    Active users with role agent or supervisor who are members of at least one
    queue.  Per queue: the members logged in to it (``QueueMember.logged_in``);
    in the total each agent once.  The site of an agent is ``User.site_id``.

Sites on the dashboard
    A ticket's site is the site of its queue; no queue or no site:
    ``"unspecified"`` (``cti.floor_stats.UNSPECIFIED``).

All times in the payloads are ISO 8601 UTC with "Z" and milliseconds.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import sessionmaker

from cti import floor_stats
from cti.agent_state import AgentState
from cti.clock import Clock, utc_now
from cti.floor_stats import UNSPECIFIED, CallRow, TicketRow
from cti.tickets import TicketStatus
from db.models import CallRecord, Queue, QueueMember, Site, Ticket, User

log = logging.getLogger(__name__)

# CallRecord.outcome while the caller waits for an agent (cti.services).
WAITING_OUTCOMES = ("queued", "ringing")
# Roles that take calls and are shown on the wallboard (when they are queue members).
AGENT_ROLES = ("agent", "supervisor")
# Ticket.channel values (the intake types); others still show under their own name.
INTAKE_TYPES = ("phone", "email", "web", "onestop")
# Incident progress grouped into intake/processing stages for the dashboard.
STAGES = ("waiting", "in_progress", "resolved", "abandoned")
STAGE_OF_STATUS = {
    TicketStatus.NEW.value: "waiting",
    TicketStatus.QUEUED.value: "waiting",
    TicketStatus.OFFERED.value: "waiting",
    TicketStatus.IN_PROGRESS.value: "in_progress",
    TicketStatus.RESOLVED.value: "resolved",
    TicketStatus.ABANDONED.value: "abandoned",
}
AGENT_STATES = tuple(s.value for s in AgentState)


def iso(value: Optional[dt.datetime]) -> Optional[str]:
    """Naive UTC (as stored) -> "2026-11-25T09:00:00.000Z"."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class FloorAgent:
    """An agent as ``cti.floor_stats`` wants it (``AgentLike``) plus what the board shows."""
    agent_id: int
    name: str
    state: AgentState
    reason: str
    since: Optional[dt.datetime]
    site: str
    queues: tuple[str, ...]        # queues the agent is logged in to


class FloorService:
    """Figures for the wallboard and the projection dashboard (see the module docstring).

    ``config`` is the merged configuration (``cti.config.load()``); only its
    ``[floor]`` section is read.  ``clock`` returns naive UTC."""

    def __init__(self, session_factory: sessionmaker, config: Mapping[str, Any], clock: Clock = utc_now):
        floor = config["floor"]
        self._sessions = session_factory
        self._now = clock
        self.timezone_name = str(floor["timezone"])
        self._tz = ZoneInfo(self.timezone_name)
        self.short_abandon_s = float(floor["short_abandon_seconds"])
        self.refresh_s = float(floor["refresh_seconds"])

    # ---- "today" -------------------------------------------------------------------
    def day_start(self, now: Optional[dt.datetime] = None) -> dt.datetime:
        """Local midnight of ``now``'s day in the floor's time zone, as naive UTC."""
        now = self._now() if now is None else now
        local = now.replace(tzinfo=dt.timezone.utc).astimezone(self._tz)
        midnight = dt.datetime(local.year, local.month, local.day, tzinfo=self._tz)
        return midnight.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def _period(self) -> dict[str, Any]:
        now = self._now()
        start = self.day_start(now)
        return {"now": now, "start": start,
                "meta": {"server_time": iso(now), "day_start": iso(start), "timezone": self.timezone_name}}

    # ---- wallboard -----------------------------------------------------------------
    def wallboard(self) -> dict[str, Any]:
        """Per queue and total: service level and share, talk-time buckets, calls
        waiting now and the longest wait, abandoned calls, agents by state; and
        the agents with their states.  JSON-able."""
        period = self._period()
        now, start = period["now"], period["start"]
        with self._sessions() as s:
            queues = self._queues(s)
            sites = self._site_codes(s)
            calls = s.execute(
                select(CallRecord.queue_id, CallRecord.queued_at, CallRecord.answered_at,
                       CallRecord.ended_at, CallRecord.outcome)
                .where(CallRecord.queued_at.is_not(None), CallRecord.queue_id.is_not(None),
                       or_(CallRecord.queued_at >= start,
                           and_(CallRecord.answered_at.is_(None), CallRecord.ended_at.is_(None),
                                CallRecord.outcome.in_(WAITING_OUTCOMES))))).all()
            agents = self._agents(s, {q["id"]: q["name"] for q in queues}, sites)
            # Severity 1/2 tickets whose progress update is overdue (docs/escalation.md).
            overdue = s.scalar(select(func.count(Ticket.id)).where(
                Ticket.progress_overdue.is_(True), Ticket.status != TicketStatus.RESOLVED.value)) or 0

        names = {q["id"]: q["name"] for q in queues}
        rows: list[CallRow] = []
        oldest: dict[str, dt.datetime] = {}
        for c in calls:
            name = names.get(c.queue_id)
            if name is None:
                continue
            waiting = c.answered_at is None and c.ended_at is None
            if waiting and c.outcome not in WAITING_OUTCOMES:
                continue  # not a caller waiting for an agent (and not finished either)
            if not waiting and c.queued_at < start:
                continue  # answered or ended, but queued before today
            rows.append(CallRow(name, c.queued_at, c.answered_at, c.ended_at, c.outcome))
            if waiting and (name not in oldest or c.queued_at < oldest[name]):
                oldest[name] = c.queued_at

        stats = floor_stats.floor_stats(
            rows, agents, now, service_levels={q["name"]: q["service_level_s"] for q in queues},
            short_abandon_s=self.short_abandon_s, queues=[q["name"] for q in queues])

        def figures(f: floor_stats.QueueFigures, since: Optional[dt.datetime]) -> dict[str, Any]:
            d = f.as_dict()
            d.pop("queue")
            d["longest_wait_since"] = iso(since)
            return d

        queue_rows = []
        for q in queues:
            entry = {"name": q["name"], "title": q["title"], "title_en": q["title_en"], "site": q["site"]}
            entry.update(figures(stats.queues[q["name"]], oldest.get(q["name"])))
            queue_rows.append(entry)
        total = figures(stats.total, min(oldest.values()) if oldest else None)
        total["overdue_tickets"] = int(overdue)
        return {
            **period["meta"],
            "refresh_seconds": self.refresh_s,
            "short_abandon_seconds": self.short_abandon_s,
            "states": list(AGENT_STATES),
            "total": total,
            "queues": queue_rows,
            "agents": [{"id": a.agent_id, "name": a.name, "state": a.state.value, "reason": a.reason,
                        "since": iso(a.since), "site": a.site, "queues": list(a.queues)}
                       for a in sorted(agents, key=lambda a: (a.name, a.agent_id))],
        }

    # ---- projection dashboard --------------------------------------------------------
    def dashboard(self) -> dict[str, Any]:
        """Today's tickets by intake type, by status and by stage, and the agents
        by state, each in total and per site.  JSON-able."""
        period = self._period()
        with self._sessions() as s:
            site_rows = s.execute(select(Site.id, Site.code, Site.name).order_by(Site.id)).all()
            sites = {r.id: r.code for r in site_rows}
            counted = s.execute(
                select(Ticket.channel, Ticket.status, Site.code, func.count(Ticket.id))
                .select_from(Ticket)
                .outerjoin(Queue, Queue.id == Ticket.queue_id)
                .outerjoin(Site, Site.id == Queue.site_id)
                .where(Ticket.created_at >= period["start"])
                .group_by(Ticket.channel, Ticket.status, Site.code)).all()
            queue_names = dict(s.execute(select(Queue.id, Queue.name)).all())
            agents = self._agents(s, queue_names, sites)

        tickets = list(itertools.chain.from_iterable(
            itertools.repeat(TicketRow(channel, status, code or UNSPECIFIED), n)
            for channel, status, code, n in counted))
        site_codes = [r.code for r in site_rows]
        extra = sorted(({t.site for t in tickets} | {a.site for a in agents}) - set(site_codes))
        order = site_codes + extra
        names = {r.code: r.name for r in site_rows}

        def ticket_block(rows: list[TicketRow]) -> dict[str, Any]:
            d = floor_stats.ticket_counts(rows).as_dict()
            d["by_intake_type"] = _with_zeros(INTAKE_TYPES, d["by_intake_type"])
            d["by_status"] = _with_zeros([st.value for st in TicketStatus], d["by_status"])
            d["by_stage"] = _stages(d["by_status"])
            return d

        return {
            **period["meta"],
            "sites": [{"code": c, "name": names.get(c, "")} for c in order],
            "intake_types": list(INTAKE_TYPES),
            "statuses": [st.value for st in TicketStatus],
            "stages": list(STAGES),
            "states": list(AGENT_STATES),
            "tickets": {"total": ticket_block(tickets),
                        "by_site": {c: ticket_block([t for t in tickets if t.site == c]) for c in order}},
            "agents": {"total": floor_stats.agents_by_state(agents),
                       "by_site": {c: floor_stats.agents_by_state([a for a in agents if a.site == c])
                                   for c in order}},
        }

    # ---- queries ---------------------------------------------------------------------
    @staticmethod
    def _queues(s) -> list[dict[str, Any]]:
        rows = s.execute(select(Queue.id, Queue.name, Queue.title, Queue.title_en,
                                Queue.service_level_seconds, Site.code)
                         .outerjoin(Site, Site.id == Queue.site_id).order_by(Queue.id)).all()
        return [{"id": r.id, "name": r.name, "title": r.title or r.name,
                 "title_en": r.title_en or r.title or r.name,
                 "service_level_s": float(r.service_level_seconds if r.service_level_seconds is not None
                                          else floor_stats.DEFAULT_SERVICE_LEVEL_S),
                 "site": r.code or UNSPECIFIED} for r in rows]

    @staticmethod
    def _site_codes(s) -> dict[int, str]:
        return dict(s.execute(select(Site.id, Site.code)).all())

    @staticmethod
    def _agents(s, queue_names: Mapping[int, str], sites: Mapping[int, str]) -> list[FloorAgent]:
        """Queue members with role agent/supervisor, one query (a row per membership)."""
        rows = s.execute(
            select(User.id, User.display_name, User.state, User.state_reason, User.state_since, User.site_id,
                   QueueMember.queue_id, QueueMember.logged_in)
            .join(QueueMember, QueueMember.user_id == User.id)
            .where(User.role.in_(AGENT_ROLES), User.active.is_(True))
            .order_by(User.id, QueueMember.queue_id)).all()
        agents = []
        for user_id, group in itertools.groupby(rows, key=lambda r: r.id):
            group = list(group)
            first = group[0]
            try:
                state = AgentState(first.state)
            except ValueError:
                log.warning("agent %s has an unknown state %r: left off the wallboard", user_id, first.state)
                continue
            logged_in = tuple(queue_names[r.queue_id] for r in group
                              if r.logged_in and r.queue_id in queue_names)
            agents.append(FloorAgent(user_id, first.display_name, state, first.state_reason or "",
                                     first.state_since, sites.get(first.site_id, UNSPECIFIED), logged_in))
        return agents


def _with_zeros(keys, counts: Mapping[str, int]) -> dict[str, int]:
    """Known keys first (0 when absent, so charts keep their shape), then any others."""
    out = {k: int(counts.get(k, 0)) for k in keys}
    out.update({k: v for k, v in counts.items() if k not in out})
    return out


def _stages(by_status: Mapping[str, int]) -> dict[str, int]:
    out = {stage: 0 for stage in STAGES}
    for status, n in by_status.items():
        stage = STAGE_OF_STATUS.get(status, UNSPECIFIED)
        out[stage] = out.get(stage, 0) + n
    return out
