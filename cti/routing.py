"""Multi-queue automatic call distribution for a call-center floor.

Who is served first
    Every waiting call has an *effective wait*::

        effective_wait_s = max(0, now - enqueued_at in seconds) * queue.priority

    ``priority`` is an integer weight >= 1 (default 1): a call in a priority-3
    queue that has waited 10 s ranks like a priority-1 call that has waited
    30 s.  ``match`` walks the waiting calls from the highest effective wait
    down (ties: earlier ``enqueued_at``, then higher priority, then the order
    the calls were given in) and gives each call the best free agent of its
    queue by that queue's strategy.  So when an agent becomes free, the caller
    with the highest effective wait across the agent's queues is served first
    -- by this agent, or in the same pass by another free agent of that queue.

Which agent a queue picks (``Strategy``)
    longest_idle  earliest ``idle_since`` (none recorded = idle the longest)
    round_robin   the next member by agent id after the agent who last got a
                  call from this queue, wrapping around
    fewest_calls  fewest ``calls_today``, then longest idle
    skills        lowest penalty for this queue, then longest idle
    Remaining ties go to the lower agent id.  Penalties only matter for
    ``skills``: that is the strategy to use to keep generalists free for the
    queues only they can serve.

Who counts as free
    READY agents logged in to the call's queue (a key in ``AgentSeat.queues``)
    who are not already being offered a call.  A call being offered
    (``offered_to`` set) is not handed out again, and keeps its place in case
    the agent does not answer.  An agent who let a call ring out is skipped for
    that call unless no other free agent of the queue is left (the same rule as
    ``cti.acd.CallQueue.match``).

Both directions agree
    ``next_agent_for_call`` (a call arrived) and ``next_call_for_agent`` (an
    agent became free) are both read off one ``match`` pass, so they can never
    disagree about a pair.

Position and estimated wait
    ``position`` is the 1-based place of a call among the entries of its queue
    (calls and callbacks, offered or not) ordered by ``enqueued_at``.
    ``estimated_wait_s`` = mean(recent handle times of the queue) * position
    / agents serving the queue; None when there is no handle-time history or
    nobody serves the queue.

Max wait
    The limit counts from when the call entered its *current* queue
    (``queue_since``), so an overflowed caller gets the overflow queue's full
    allowance, while ``enqueued_at`` -- the caller's real wait -- keeps deciding
    who is served first.  A queued callback keeps the ``enqueued_at`` of the
    call it replaces, so the caller keeps their place.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Hashable, Iterable, Mapping, Optional, Sequence

from cti.agent_state import AgentState

# An agent with no idle time recorded has been idle "forever".
_NEVER = dt.datetime.min


class Strategy(str, Enum):
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    SKILLS = "skills"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    priority: int = 1
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_s: float = 20
    max_wait_s: Optional[float] = None      # None: callers may wait for ever
    overflow_to: Optional[str] = None       # queue a caller moves to at max wait
    wrap_up_s: Optional[float] = None       # None: the floor's default wrap-up

    def __post_init__(self):
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        if not self.name:
            raise ValueError("a queue needs a name")
        # A weight below 1 would shrink (or, at 0, erase) a caller's wait.
        if not isinstance(self.priority, int) or self.priority < 1:
            raise ValueError(f"queue {self.name}: priority must be an integer >= 1")
        if self.service_level_s <= 0:
            raise ValueError(f"queue {self.name}: service_level_s must be > 0")
        if self.max_wait_s is not None and self.max_wait_s <= 0:
            raise ValueError(f"queue {self.name}: max_wait_s must be > 0 or None")
        if self.overflow_to == self.name:
            raise ValueError(f"queue {self.name} cannot overflow to itself")
        if self.wrap_up_s is not None and self.wrap_up_s < 0:
            raise ValueError(f"queue {self.name}: wrap_up_s must be >= 0 or None")

    def wrap_up_seconds(self, floor_default_s: float) -> float:
        """This queue's wrap-up time, falling back to the floor's."""
        return float(floor_default_s if self.wrap_up_s is None else self.wrap_up_s)


@dataclass(frozen=True)
class AgentSeat:
    agent_id: int
    state: AgentState
    idle_since: Optional[dt.datetime] = None
    calls_today: int = 0
    queues: Mapping[str, int] = field(default_factory=dict)   # queue name -> penalty, 0 best
    last_offered_at: Optional[dt.datetime] = None             # informational; not used to rank

    def serves(self, queue: str) -> bool:
        return queue in self.queues

    def penalty(self, queue: str) -> int:
        return self.queues[queue]


CALL = "call"
CALLBACK = "callback"
KINDS = (CALL, CALLBACK)


@dataclass
class WaitingCall:
    call_id: Hashable
    queue: str
    enqueued_at: dt.datetime                      # when the caller first queued
    kind: str = CALL
    tried_agents: set[int] = field(default_factory=set)
    offered_to: Optional[int] = None
    queue_since: Optional[dt.datetime] = None     # entered the current queue; None = enqueued_at
    callback_offered: bool = False                # the caller has heard "press 1 for a callback"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"a waiting entry is a call or a callback, not {self.kind!r}")

    @property
    def in_queue_since(self) -> dt.datetime:
        return self.queue_since or self.enqueued_at


@dataclass(frozen=True)
class Offer:
    call: WaitingCall
    agent_id: int

    @property
    def queue(self) -> str:
        return self.call.queue


def _seconds(delta: dt.timedelta) -> float:
    return max(0.0, delta.total_seconds())


def effective_wait_s(call: WaitingCall, spec: QueueSpec, now: dt.datetime) -> float:
    """The caller's wait weighted by the queue's priority (see module docstring)."""
    return _seconds(now - call.enqueued_at) * spec.priority


# ---- choosing an agent for one queue --------------------------------------------
def _idle_key(seat: AgentSeat):
    return seat.idle_since or _NEVER


def _round_robin_key(seat: AgentSeat, last_agent: Optional[int]):
    # Agents after the last served one come first (in id order), then the wrap-around.
    wrapped = last_agent is not None and seat.agent_id <= last_agent
    return (wrapped, seat.agent_id)


def rank_agents(spec: QueueSpec, seats: Iterable[AgentSeat],
                last_agent: Optional[int] = None) -> list[AgentSeat]:
    """``seats`` that may take a call of ``spec`` now (READY members), best first.

    ``last_agent`` is the agent who last got a call from this queue (round_robin)."""
    free = [s for s in seats if s.state == AgentState.READY and s.serves(spec.name)]
    if spec.strategy == Strategy.ROUND_ROBIN:
        return sorted(free, key=lambda s: _round_robin_key(s, last_agent))
    if spec.strategy == Strategy.FEWEST_CALLS:
        return sorted(free, key=lambda s: (s.calls_today, _idle_key(s), s.agent_id))
    if spec.strategy == Strategy.SKILLS:
        return sorted(free, key=lambda s: (s.penalty(spec.name), _idle_key(s), s.agent_id))
    return sorted(free, key=lambda s: (_idle_key(s), s.agent_id))


def _pick_agent(call: WaitingCall, ranked: Sequence[AgentSeat], taken: set[int]) -> Optional[int]:
    """The first ranked agent not taken, preferring those who have not let this
    call ring out; a ring-out agent only when nobody else is left."""
    available = [s.agent_id for s in ranked if s.agent_id not in taken]
    fresh = [a for a in available if a not in call.tried_agents]
    if fresh:
        return fresh[0]
    return available[0] if available else None


# ---- the floor-wide match -------------------------------------------------------
class Router:
    """The floor's queues and the matching of waiting calls to free agents.

    The router holds no call or agent state: everything is passed in, so a match
    is a pure function of its arguments."""

    def __init__(self, queues: Iterable[QueueSpec]):
        self._specs: dict[str, QueueSpec] = {}
        for spec in queues:
            if spec.name in self._specs:
                raise ValueError(f"queue {spec.name} is defined twice")
            self._specs[spec.name] = spec
        _check_overflows(self._specs)

    def spec(self, queue: str) -> QueueSpec:
        try:
            return self._specs[queue]
        except KeyError:
            raise KeyError(f"unknown queue {queue!r}") from None

    @property
    def queues(self) -> tuple[QueueSpec, ...]:
        return tuple(self._specs.values())

    def serving_order(self, calls: Iterable[WaitingCall], now: dt.datetime) -> list[WaitingCall]:
        """Calls not being offered, the one to serve first first."""
        pending = [c for c in calls if c.offered_to is None]
        order = {id(c): i for i, c in enumerate(pending)}

        def key(c: WaitingCall):
            spec = self.spec(c.queue)
            return (-effective_wait_s(c, spec, now), c.enqueued_at, -spec.priority, order[id(c)])

        return sorted(pending, key=key)

    def match(self, calls: Iterable[WaitingCall], seats: Iterable[AgentSeat], now: dt.datetime,
              last_agent_by_queue: Optional[Mapping[str, int]] = None) -> list[Offer]:
        """The offers to make now.  Does not change ``calls``: record each offer
        you actually make (``WaitingList.offer``)."""
        calls, seats = list(calls), list(seats)
        taken = {c.offered_to for c in calls if c.offered_to is not None}
        # Local copy: two calls of one round_robin queue in one pass must go to
        # two successive agents.
        last_agent = dict(last_agent_by_queue or {})
        offers = []
        for call in self.serving_order(calls, now):
            spec = self.spec(call.queue)
            agent_id = _pick_agent(call, rank_agents(spec, seats, last_agent.get(spec.name)), taken)
            if agent_id is None:
                continue
            taken.add(agent_id)
            last_agent[spec.name] = agent_id
            offers.append(Offer(call, agent_id))
        return offers

    def next_agent_for_call(self, call_id: Hashable, calls: Iterable[WaitingCall],
                            seats: Iterable[AgentSeat], now: dt.datetime,
                            last_agent_by_queue: Optional[Mapping[str, int]] = None) -> Optional[int]:
        """The agent ``match`` gives this call now, or None (the call waits)."""
        for offer in self.match(calls, seats, now, last_agent_by_queue):
            if offer.call.call_id == call_id:
                return offer.agent_id
        return None

    def next_call_for_agent(self, agent_id: int, calls: Iterable[WaitingCall],
                            seats: Iterable[AgentSeat], now: dt.datetime,
                            last_agent_by_queue: Optional[Mapping[str, int]] = None
                            ) -> Optional[WaitingCall]:
        """The call ``match`` gives this agent now, or None."""
        for offer in self.match(calls, seats, now, last_agent_by_queue):
            if offer.agent_id == agent_id:
                return offer.call
        return None

    def agents_serving(self, queue: str, seats: Iterable[AgentSeat]) -> int:
        """Agents working the queue now: logged in to it and READY or busy with a
        call (NOT_READY and LOGGED_OUT agents answer nobody)."""
        self.spec(queue)
        return sum(1 for s in seats if s.serves(queue) and s.state in _SERVING_STATES)


_SERVING_STATES = frozenset({AgentState.READY, AgentState.RINGING, AgentState.TALKING,
                             AgentState.WRAP_UP})


def _check_overflows(specs: Mapping[str, QueueSpec]) -> None:
    """Every overflow target exists and no chain comes back on itself (a caller
    would bounce between the queues for ever)."""
    for spec in specs.values():
        seen = {spec.name}
        target = spec.overflow_to
        while target is not None:
            if target not in specs:
                raise ValueError(f"queue {spec.name} overflows to unknown queue {target}")
            if target in seen:
                raise ValueError(f"queue {spec.name}: overflow chain loops back to {target}")
            seen.add(target)
            target = specs[target].overflow_to


# ---- position and estimated wait ------------------------------------------------
def queue_order(queue: str, calls: Iterable[WaitingCall]) -> list[WaitingCall]:
    """Entries of ``queue`` in line order: by ``enqueued_at``, then as given."""
    return sorted((c for c in calls if c.queue == queue), key=lambda c: c.enqueued_at)


def position(call: WaitingCall, calls: Iterable[WaitingCall]) -> int:
    """1-based place of ``call`` in its queue; callbacks and calls being offered
    count, because they are still ahead of the caller."""
    for place, other in enumerate(queue_order(call.queue, calls), start=1):
        if other is call or other.call_id == call.call_id:
            return place
    raise ValueError(f"call {call.call_id!r} is not in the list")


def estimated_wait_s(queue: str, position: int, recent_handle_times: Mapping[str, Sequence[float]],
                     agents_serving: int) -> Optional[float]:
    """mean(recent handle times of ``queue``) * position / agents_serving.

    ``recent_handle_times`` maps queue name to the handle times (talk + wrap-up,
    seconds) of its recently finished calls.  None when the queue has no such
    history or nobody serves it -- an honest "unknown" instead of a guess."""
    if position < 1:
        raise ValueError("position is 1-based")
    history = recent_handle_times.get(queue) or ()
    if not history or agents_serving < 1:
        return None
    average = sum(history) / len(history)
    return average * position / agents_serving


# ---- max wait -----------------------------------------------------------------------
class WaitAction(str, Enum):
    KEEP_WAITING = "keep_waiting"
    OFFER_CALLBACK = "offer_callback"   # play "press 1 to be called back"
    OVERFLOW = "overflow"               # move the call to spec.overflow_to


def max_wait_action(call: WaitingCall, spec: QueueSpec, now: dt.datetime) -> WaitAction:
    """What to do with a waiting caller at ``now``.

    Nothing before ``max_wait_s`` in the current queue (reaching it exactly
    counts as reached); then overflow if the queue has one, else offer a
    callback once.  Callbacks and calls ringing an agent are left alone: no
    caller is on the line / the call may be answered any second."""
    if spec.max_wait_s is None or call.kind == CALLBACK or call.offered_to is not None:
        return WaitAction.KEEP_WAITING
    if _seconds(now - call.in_queue_since) < spec.max_wait_s:
        return WaitAction.KEEP_WAITING
    if spec.overflow_to is not None:
        return WaitAction.OVERFLOW
    if call.callback_offered:
        return WaitAction.KEEP_WAITING
    return WaitAction.OFFER_CALLBACK


# ---- the waiting list ---------------------------------------------------------------
class WaitingList:
    """Calls and callbacks waiting on the whole floor, with the bookkeeping the
    router needs: offers, ring-outs and the last agent per queue (round_robin)."""

    def __init__(self):
        self._entries: dict[Hashable, WaitingCall] = {}
        self.last_agent_by_queue: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, call_id: Hashable) -> bool:
        return call_id in self._entries

    def calls(self) -> list[WaitingCall]:
        return list(self._entries.values())

    def get(self, call_id: Hashable) -> Optional[WaitingCall]:
        return self._entries.get(call_id)

    def add(self, call_id: Hashable, queue: str, enqueued_at: dt.datetime, kind: str = CALL) -> WaitingCall:
        """For a callback pass the time the caller first queued as ``enqueued_at``."""
        if call_id in self._entries:
            raise ValueError(f"call {call_id!r} is already waiting")
        entry = WaitingCall(call_id, queue, enqueued_at, kind)
        self._entries[call_id] = entry
        return entry

    def remove(self, call_id: Hashable) -> Optional[WaitingCall]:
        return self._entries.pop(call_id, None)

    def _entry(self, call_id: Hashable) -> WaitingCall:
        try:
            return self._entries[call_id]
        except KeyError:
            raise KeyError(f"call {call_id!r} is not waiting") from None

    def offer(self, call_id: Hashable, agent_id: int) -> WaitingCall:
        """The call now rings ``agent_id``."""
        call = self._entry(call_id)
        if call.offered_to is not None:
            raise ValueError(f"call {call_id!r} is already offered to agent {call.offered_to}")
        if any(c.offered_to == agent_id for c in self._entries.values()):
            raise ValueError(f"agent {agent_id} is already being offered a call")
        # Offering to an agent who rang out before means everyone free had
        # their turn: start a new round so the others are preferred again.
        if agent_id in call.tried_agents:
            call.tried_agents.clear()
        call.offered_to = agent_id
        self.last_agent_by_queue[call.queue] = agent_id
        return call

    def ring_out(self, call_id: Hashable) -> WaitingCall:
        """The offered agent did not answer: the call waits again, skipping them."""
        call = self._entry(call_id)
        if call.offered_to is not None:
            call.tried_agents.add(call.offered_to)
        call.offered_to = None
        return call

    def withdraw_offer(self, call_id: Hashable) -> WaitingCall:
        """The offer never reached the agent (no longer READY): wait again
        without holding it against them."""
        call = self._entry(call_id)
        call.offered_to = None
        return call

    def overflow(self, call_id: Hashable, to_queue: str, now: dt.datetime) -> WaitingCall:
        """Move a call to another queue; it keeps its enqueued_at (its place by
        real wait) and starts the new queue's max-wait clock."""
        call = self._entry(call_id)
        call.queue = to_queue
        call.queue_since = now
        call.offered_to = None
        # The new queue has other agents and its own callback prompt.
        call.tried_agents.clear()
        call.callback_offered = False
        return call

    def to_callback(self, call_id: Hashable, callback_id: Hashable) -> WaitingCall:
        """The caller asked to be called back: the live call leaves and a callback
        takes its place, keeping the caller's original enqueued_at."""
        call = self._entry(call_id)
        if callback_id != call_id and callback_id in self._entries:
            raise ValueError(f"call {callback_id!r} is already waiting")
        del self._entries[call_id]
        callback = WaitingCall(callback_id, call.queue, call.enqueued_at, CALLBACK,
                               queue_since=call.queue_since)
        self._entries[callback_id] = callback
        return callback

    def mark_callback_offered(self, call_id: Hashable) -> WaitingCall:
        call = self._entry(call_id)
        call.callback_offered = True
        return call

    def position(self, call_id: Hashable) -> int:
        return position(self._entry(call_id), self._entries.values())
