"""Automatic call distribution: which caller goes to which agent.

The walking skeleton has one queue and the longest-idle strategy; the queue of
waiting calls is first-in first-out by enqueue time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Optional

from cti.agent_state import AgentState


@dataclass(frozen=True)
class AgentCandidate:
    agent_id: int
    state: AgentState
    idle_since: Optional[dt.datetime]


def choose_agent(candidates: Iterable[AgentCandidate],
                 exclude: Iterable[int] = ()) -> Optional[int]:
    """The READY agent idle the longest, skipping ``exclude`` (agents who already let
    this call ring out).  Ties go to the lower agent id so the choice is stable."""
    skip = set(exclude)
    ready = [c for c in candidates if c.state == AgentState.READY and c.agent_id not in skip]
    if not ready:
        return None
    # An agent with no idle time recorded has been idle "forever": serve them first.
    floor = dt.datetime.min
    best = min(ready, key=lambda c: (c.idle_since or floor, c.agent_id))
    return best.agent_id


@dataclass
class WaitingCall:
    call_id: Hashable
    enqueued_at: dt.datetime
    tried_agents: set[int] = field(default_factory=set)
    offered_to: Optional[int] = None


class CallQueue:
    """Calls waiting for an agent, oldest first.  A call being offered stays in
    the queue (so it keeps its place if the agent does not answer) but is not
    handed out twice."""

    def __init__(self, name: str):
        self.name = name
        self._calls: dict[Hashable, WaitingCall] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: Hashable) -> bool:
        return call_id in self._calls

    def add(self, call_id: Hashable, enqueued_at: dt.datetime) -> WaitingCall:
        if call_id in self._calls:
            raise ValueError(f"call {call_id!r} is already queued")
        call = WaitingCall(call_id, enqueued_at)
        self._calls[call_id] = call
        return call

    def get(self, call_id: Hashable) -> Optional[WaitingCall]:
        return self._calls.get(call_id)

    def remove(self, call_id: Hashable) -> Optional[WaitingCall]:
        return self._calls.pop(call_id, None)

    def waiting(self) -> list[WaitingCall]:
        """Calls not currently being offered, oldest first."""
        pending = [c for c in self._calls.values() if c.offered_to is None]
        return sorted(pending, key=lambda c: c.enqueued_at)

    def agents_busy_with_offers(self) -> set[int]:
        return {c.offered_to for c in self._calls.values() if c.offered_to is not None}

    def match(self, candidates: list[AgentCandidate]) -> list[tuple[WaitingCall, int]]:
        """Pair waiting calls (oldest first) with free agents (longest idle first)."""
        pairs = []
        taken = self.agents_busy_with_offers()
        for call in self.waiting():
            agent_id = choose_agent(candidates, exclude=taken | call.tried_agents)
            if agent_id is None and call.tried_agents:
                # Everyone free has let this call ring out once; an agent who has
                # made themselves READY again gets another chance.
                agent_id = choose_agent(candidates, exclude=taken)
                if agent_id is not None:
                    call.tried_agents.clear()
            if agent_id is None:
                continue
            taken.add(agent_id)
            pairs.append((call, agent_id))
        return pairs
