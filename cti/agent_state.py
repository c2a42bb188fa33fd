"""Agent state machine.

Agents ask for READY, NOT_READY and LOGGED_OUT; the telephony side moves them
through RINGING and TALKING.  An agent who lets an offered call ring out is set
NOT_READY so the next caller is not offered to an empty desk.
"""
from __future__ import annotations

from enum import Enum


class AgentState(str, Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RINGING = "ringing"
    TALKING = "talking"


class InvalidTransition(ValueError):
    def __init__(self, current: AgentState, target: AgentState):
        super().__init__(f"an agent cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


S = AgentState

# What the agent may ask for from the desktop.
_AGENT_REQUESTS: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.READY, S.NOT_READY}),
    S.READY: frozenset({S.NOT_READY, S.LOGGED_OUT}),
    S.NOT_READY: frozenset({S.READY, S.LOGGED_OUT}),
    # While the phone rings or a call is up the agent may only plan to stop
    # taking calls; the call itself decides when RINGING/TALKING end.
    S.RINGING: frozenset({S.NOT_READY}),
    S.TALKING: frozenset({S.NOT_READY}),
}

# What call events do.
_SYSTEM: dict[str, tuple[frozenset[AgentState], AgentState | None]] = {
    "offer": (frozenset({S.READY}), S.RINGING),
    # An agent who asked for NOT_READY while ringing still answers or misses the call.
    "answer": (frozenset({S.RINGING, S.NOT_READY}), S.TALKING),
    "no_answer": (frozenset({S.RINGING, S.NOT_READY}), S.NOT_READY),
    # Caller hung up before the agent answered: the agent is free again.
    "offer_cancelled": (frozenset({S.RINGING, S.NOT_READY}), None),
    "call_end": (frozenset({S.TALKING, S.NOT_READY, S.RINGING}), None),
}


def request(current: AgentState, target: AgentState) -> AgentState:
    """State after the agent asks for ``target``; raises InvalidTransition."""
    current, target = AgentState(current), AgentState(target)
    if target == current:
        return current
    if target not in _AGENT_REQUESTS[current]:
        raise InvalidTransition(current, target)
    return target


def on_call_event(current: AgentState, event: str) -> AgentState:
    """State after a telephony event.

    ``call_end`` and ``offer_cancelled`` return the agent to READY unless the agent
    asked for NOT_READY meanwhile.
    """
    current = AgentState(current)
    try:
        allowed, target = _SYSTEM[event]
    except KeyError:
        raise ValueError(f"unknown call event {event!r}") from None
    if current not in allowed:
        raise InvalidTransition(current, target or S.READY)
    if target is None:
        return S.NOT_READY if current == S.NOT_READY else S.READY
    return target


def takes_calls(state: AgentState) -> bool:
    return AgentState(state) == S.READY
