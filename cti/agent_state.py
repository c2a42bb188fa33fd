"""Agent state machine.

Agents ask for READY, NOT_READY and LOGGED_OUT; the telephony side moves them
through RINGING, TALKING and WRAP_UP.  An agent who lets an offered call ring
out is set NOT_READY so the next caller is not offered to an empty desk.

Agent requests (``request``)::

    LOGGED_OUT -> READY | NOT_READY
    READY      -> NOT_READY | LOGGED_OUT
    NOT_READY  -> READY | LOGGED_OUT
    RINGING    -> NOT_READY          (keeps ringing; see below)
    TALKING    -> NOT_READY          (keeps talking; see below)
    WRAP_UP    -> READY | NOT_READY | LOGGED_OUT   (ends wrap-up early)

Call events (``on_call_event``)::

    offer              READY -> RINGING
    callback           READY, NOT_READY, WRAP_UP -> RINGING   (the agent calls a customer back)
    answer             RINGING, NOT_READY -> TALKING
    no_answer          RINGING, NOT_READY -> NOT_READY
    offer_cancelled    RINGING -> READY
    call_end           TALKING, RINGING -> READY
    call_end_wrap_up   TALKING -> WRAP_UP;  RINGING -> READY (nothing to wrap up)
    wrap_up_done       WRAP_UP -> READY

NOT_READY asked for while ringing, talking or wrapping up is how an agent says
"no more calls after this one": the events that end a call or a wrap-up
(offer_cancelled, call_end, call_end_wrap_up, wrap_up_done) leave such an agent
NOT_READY.  ``wrap_up_done`` is the wrap-up timer firing; an agent who already
left WRAP_UP by asking READY is no longer in a state for it and gets
InvalidTransition, which the caller ignores like any stale event.

Only READY agents take calls; WRAP_UP is after-call work, not availability.

NOT_READY carries a reason code (``NOT_READY_REASONS``).  Agents pick one of
the codes with ``agent_may_choose``; the others are set by the system (a missed
call, a logout requested while on a call).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class AgentState(str, Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"


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
    # Wrap-up is the agent's own after-call work, so the agent may cut it short,
    # including by going home.
    S.WRAP_UP: frozenset({S.READY, S.NOT_READY, S.LOGGED_OUT}),
}

# What call events do: event -> {state it may happen in: state afterwards}.
# The first entry is the event's usual move (named in InvalidTransition).
_SYSTEM: dict[str, dict[AgentState, AgentState]] = {
    "offer": {S.READY: S.RINGING},
    # An agent calls a customer back (one click, or the ACD's queued callback): their
    # phone rings first.  Agents not taking inbound calls may still call back.
    "callback": {S.READY: S.RINGING, S.NOT_READY: S.RINGING, S.WRAP_UP: S.RINGING},
    # An agent who asked for NOT_READY while ringing still answers or misses the call.
    "answer": {S.RINGING: S.TALKING, S.NOT_READY: S.TALKING},
    "no_answer": {S.RINGING: S.NOT_READY, S.NOT_READY: S.NOT_READY},
    # Caller hung up before the agent answered: the agent is free again.
    "offer_cancelled": {S.RINGING: S.READY, S.NOT_READY: S.NOT_READY},
    "call_end": {S.TALKING: S.READY, S.RINGING: S.READY, S.NOT_READY: S.NOT_READY},
    "call_end_wrap_up": {S.TALKING: S.WRAP_UP, S.RINGING: S.READY, S.NOT_READY: S.NOT_READY},
    "wrap_up_done": {S.WRAP_UP: S.READY, S.NOT_READY: S.NOT_READY},
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
    """State after a telephony event (see the module docstring for the table).

    ``call_end`` and ``offer_cancelled`` return the agent to READY unless the agent
    asked for NOT_READY meanwhile; ``call_end_wrap_up`` starts WRAP_UP instead.
    """
    current = AgentState(current)
    try:
        moves = _SYSTEM[event]
    except KeyError:
        raise ValueError(f"unknown call event {event!r}") from None
    if current not in moves:
        raise InvalidTransition(current, next(iter(moves.values())))
    return moves[current]


def call_end_event(wrap_up_s: Optional[float]) -> str:
    """The event to send when an answered call ends: with no wrap-up time
    configured the agent goes straight back to READY."""
    return "call_end_wrap_up" if wrap_up_s and wrap_up_s > 0 else "call_end"


def wrap_up_remaining_s(wrap_up_s: float, in_state_s: float) -> float:
    """Seconds of wrap-up left after ``in_state_s`` seconds in WRAP_UP (0 = send
    ``wrap_up_done`` now)."""
    return max(0.0, float(wrap_up_s) - float(in_state_s))


def takes_calls(state: AgentState) -> bool:
    return AgentState(state) == S.READY


# ---- NOT_READY reason codes ----------------------------------------------------
@dataclass(frozen=True)
class NotReadyReason:
    code: str
    label_ko: str
    label_en: str
    agent_may_choose: bool = True

    def label(self, language: str = "ko") -> str:
        """Korean for "ko", English for anything else (the IVR's two languages)."""
        return self.label_ko if language == "ko" else self.label_en


NOT_READY_REASONS: tuple[NotReadyReason, ...] = (
    NotReadyReason("break", "휴식", "Break"),
    NotReadyReason("lunch", "식사", "Lunch"),
    NotReadyReason("meeting", "회의", "Meeting"),
    NotReadyReason("training", "교육", "Training"),
    NotReadyReason("other", "기타", "Other"),
    # Set by the system: the agent let an offered call ring out.
    NotReadyReason("missed_call", "응답 없음", "Missed call", agent_may_choose=False),
    # Set by the system: the agent logged out while ringing or talking.
    NotReadyReason("logout", "로그아웃 중", "Logging out", agent_may_choose=False),
)

_REASONS_BY_CODE = {r.code: r for r in NOT_READY_REASONS}


class UnknownReason(ValueError):
    def __init__(self, code: str, why: str = "unknown"):
        super().__init__(f"{code!r} is not a NOT_READY reason an agent may use ({why})")
        self.code = code
        self.why = why


def not_ready_reason(code: str) -> NotReadyReason:
    """The reason for ``code``; raises UnknownReason."""
    try:
        return _REASONS_BY_CODE[code]
    except KeyError:
        raise UnknownReason(code) from None


def agent_reasons() -> tuple[NotReadyReason, ...]:
    """The reasons the desktop offers the agent, in display order."""
    return tuple(r for r in NOT_READY_REASONS if r.agent_may_choose)


def clean_reason(target: AgentState, code: Optional[str], *, by_system: bool = False) -> str:
    """The reason code to store with ``target``.

    NOT_READY needs a known code (surrounding blanks and case are forgiven);
    agents may not use the system's codes.  Other states carry no reason, so a
    code given with them is a mistake and raises UnknownReason too.
    """
    code = (code or "").strip().lower()
    if AgentState(target) != S.NOT_READY:
        if code:
            raise UnknownReason(code, f"{AgentState(target).value} takes no reason")
        return ""
    if not code:
        raise UnknownReason(code, "NOT_READY needs a reason")
    reason = not_ready_reason(code)
    if not by_system and not reason.agent_may_choose:
        raise UnknownReason(code, "set by the system only")
    return reason.code
