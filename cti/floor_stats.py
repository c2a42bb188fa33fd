"""Wallboard arithmetic: figures for the floor from plain call, agent and ticket rows.

The caller picks the period (usually "today") by the rows it passes; ``now`` is
only used for the calls still waiting.

Which calls count
    Only calls that reached a queue (``queued_at`` set).  A call hung up in the
    IVR never waited for an agent, so it is neither served nor abandoned here.

    answered      ``answered_at`` set (calls still being talked count too)
    abandoned     outcome "abandoned" and never answered
    short abandon an abandoned call whose wait was <= ``short_abandon_s``
                  (default 5 s): a misdial or a caller who changed their mind
                  before anyone could have answered
    lost          outcome "lost" (the PBX went away: the floor's fault, but not
                  a caller's choice, so shown apart and left out of the share)
    callback      outcome "callback" (the caller left the line to be called back;
                  served later, so left out of the share)
    waiting now   neither answered nor ended

Service level (per queue, each call judged by its own queue's threshold)::

    answered within SL = answered calls whose wait (answered_at - queued_at)
                         is <= the queue's service_level_s (exactly 20 s IS
                         within a 20 s service level)
    share = answered within SL / (answered + abandoned - short abandons)

    The share is None when the denominator is 0 (no calls yet), so an empty
    morning does not show as 0 % or 100 %.  Set ``short_abandon_s=0`` to count
    every abandoned call against the service level.

Talk time buckets (finished answered calls; ``talk_s``, else ended - answered)::

    le_3m   talk <= 180 s
    le_5m   180 < talk <= 300 s
    le_10m  300 < talk <= 600 s
    gt_10m  talk > 600 s

Agents by state: every AgentState value, 0 included so the JSON keys are
stable; per queue the agents logged in to it, in the total each agent once.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Optional, Protocol

from cti.agent_state import AgentState

DEFAULT_SERVICE_LEVEL_S = 20.0
DEFAULT_SHORT_ABANDON_S = 5.0

# (bucket name, upper bound in seconds, inclusive); the last bucket has no bound.
TALK_BUCKETS: tuple[tuple[str, Optional[float]], ...] = (
    ("le_3m", 180.0), ("le_5m", 300.0), ("le_10m", 600.0), ("gt_10m", None))

UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class CallRow:
    queue: Optional[str]
    queued_at: Optional[dt.datetime]
    answered_at: Optional[dt.datetime] = None
    ended_at: Optional[dt.datetime] = None
    outcome: str = ""            # answered | abandoned | lost | callback | queued | ringing | talking
    talk_s: Optional[float] = None


class AgentLike(Protocol):
    """Anything with these attributes, e.g. ``cti.routing.AgentSeat``."""
    agent_id: int
    state: AgentState
    queues: Iterable[str]        # names of the queues the agent is logged in to


def _seconds(later: dt.datetime, earlier: dt.datetime) -> float:
    # A clock step backwards must not produce a negative wait.
    return max(0.0, (later - earlier).total_seconds())


def talk_bucket(talk_s: float) -> str:
    """The bucket a talk time falls in (bounds inclusive, see module docstring)."""
    for name, bound in TALK_BUCKETS:
        if bound is None or talk_s <= bound:
            return name
    raise AssertionError("the last bucket has no bound")


def _talk_seconds(row: CallRow) -> Optional[float]:
    if row.talk_s is not None:
        return max(0.0, float(row.talk_s))
    if row.answered_at is not None and row.ended_at is not None:
        return _seconds(row.ended_at, row.answered_at)
    return None   # still talking: not finished, not bucketed


def _empty_buckets() -> dict[str, int]:
    return {name: 0 for name, _ in TALK_BUCKETS}


def _empty_states() -> dict[str, int]:
    return {s.value: 0 for s in AgentState}


@dataclass(frozen=True)
class QueueFigures:
    queue: Optional[str]                    # None for the floor total
    service_level_s: Optional[float]        # None for the total (queues differ)
    answered: int = 0
    answered_within_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    lost: int = 0
    callbacks: int = 0
    waiting_now: int = 0
    longest_wait_s: Optional[float] = None  # None when nobody waits
    talk_time: dict[str, int] = field(default_factory=_empty_buckets)
    agents_by_state: dict[str, int] = field(default_factory=_empty_states)

    @property
    def service_level_share(self) -> Optional[float]:
        counted = self.answered + self.abandoned - self.short_abandoned
        return self.answered_within_sl / counted if counted else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["service_level_share"] = self.service_level_share
        return d


@dataclass(frozen=True)
class FloorStats:
    total: QueueFigures
    queues: dict[str, QueueFigures]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total.as_dict(),
                "queues": {name: q.as_dict() for name, q in self.queues.items()}}


class _Tally:
    """Counts for one queue or the total while the rows are read."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.talk = _empty_buckets()
        self.longest_wait_s: Optional[float] = None

    def add(self, row: CallRow, service_level_s: float, short_abandon_s: float, now: dt.datetime) -> None:
        if row.answered_at is not None:
            self._add_answered(row, service_level_s)
        elif row.ended_at is None:
            self._add_waiting(_seconds(now, row.queued_at))
        elif row.outcome == "abandoned":
            self.counts["abandoned"] += 1
            if _seconds(row.ended_at, row.queued_at) <= short_abandon_s:
                self.counts["short_abandoned"] += 1
        elif row.outcome == "lost":
            self.counts["lost"] += 1
        elif row.outcome == "callback":
            self.counts["callbacks"] += 1

    def _add_answered(self, row: CallRow, service_level_s: float) -> None:
        self.counts["answered"] += 1
        if _seconds(row.answered_at, row.queued_at) <= service_level_s:
            self.counts["answered_within_sl"] += 1
        talk = _talk_seconds(row)
        if talk is not None:
            self.talk[talk_bucket(talk)] += 1

    def _add_waiting(self, wait_s: float) -> None:
        self.counts["waiting_now"] += 1
        self.longest_wait_s = wait_s if self.longest_wait_s is None else max(self.longest_wait_s, wait_s)

    def figures(self, queue: Optional[str], service_level_s: Optional[float],
                agents_by_state: dict[str, int]) -> QueueFigures:
        c = self.counts
        return QueueFigures(queue, service_level_s, answered=c["answered"],
                            answered_within_sl=c["answered_within_sl"], abandoned=c["abandoned"],
                            short_abandoned=c["short_abandoned"], lost=c["lost"], callbacks=c["callbacks"],
                            waiting_now=c["waiting_now"], longest_wait_s=self.longest_wait_s,
                            talk_time=dict(self.talk), agents_by_state=agents_by_state)


def agents_by_state(agents: Iterable[AgentLike], queue: Optional[str] = None) -> dict[str, int]:
    """Agent count per state value; with ``queue`` only its logged-in agents."""
    counts = _empty_states()
    for agent in agents:
        if queue is None or queue in agent.queues:
            counts[AgentState(agent.state).value] += 1
    return counts


def floor_stats(calls: Iterable[CallRow], agents: Iterable[AgentLike], now: dt.datetime, *,
                service_levels: Optional[Mapping[str, float]] = None,
                default_service_level_s: float = DEFAULT_SERVICE_LEVEL_S,
                short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
                queues: Iterable[str] = ()) -> FloorStats:
    """Per-queue and total figures.  ``service_levels`` maps queue name to its
    threshold (others use ``default_service_level_s``); ``queues`` names queues
    to show even with no calls and no agents (as do the keys of ``service_levels``)."""
    agents = list(agents)
    service_levels = service_levels or {}
    rows = [r for r in calls if r.queued_at is not None and r.queue]
    names = sorted(set(queues) | set(service_levels) | {r.queue for r in rows}
                   | {q for a in agents for q in a.queues})

    def level(queue: str) -> float:
        return float(service_levels.get(queue, default_service_level_s))

    per_queue = {name: _Tally() for name in names}
    total = _Tally()
    for row in rows:
        for tally in (per_queue[row.queue], total):
            tally.add(row, level(row.queue), short_abandon_s, now)
    return FloorStats(
        total=total.figures(None, None, agents_by_state(agents)),
        queues={name: per_queue[name].figures(name, level(name), agents_by_state(agents, name))
                for name in names})


# ---- projection dashboard: tickets ----------------------------------------------------
@dataclass(frozen=True)
class TicketRow:
    intake_type: str        # phone | email | web | onestop ...
    status: str
    site: str = ""


@dataclass(frozen=True)
class TicketCounts:
    total: int
    by_intake_type: dict[str, int]
    by_status: dict[str, int]
    by_site: dict[str, int]
    by_site_and_status: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(value: Optional[str]) -> str:
    # A blank field still has to show up somewhere on the board.
    return (value or "").strip() or UNSPECIFIED


def _sorted(counter: Mapping[str, int]) -> dict[str, int]:
    return {k: counter[k] for k in sorted(counter)}


def ticket_counts(tickets: Iterable[TicketRow]) -> TicketCounts:
    """Ticket counts by intake type, by status, by site and by site and status;
    blank values count as "unspecified"; keys sorted."""
    intake, status, site = Counter(), Counter(), Counter()
    site_status: dict[str, Counter] = {}
    for t in tickets:
        s = _label(t.site)
        intake[_label(t.intake_type)] += 1
        status[_label(t.status)] += 1
        site[s] += 1
        site_status.setdefault(s, Counter())[_label(t.status)] += 1
    return TicketCounts(total=sum(site.values()), by_intake_type=_sorted(intake), by_status=_sorted(status),
                        by_site=_sorted(site),
                        by_site_and_status={k: _sorted(site_status[k]) for k in sorted(site_status)})
