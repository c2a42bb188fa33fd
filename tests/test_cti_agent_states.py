"""Agent states beyond the skeleton: wrap-up after a call and NOT_READY reason codes."""
import pytest

from cti import agent_state
from cti.agent_state import AgentState as S


# ---- wrap-up -------------------------------------------------------------------
def test_plain_call_end_still_returns_ready():
    assert agent_state.on_call_event(S.TALKING, "call_end") == S.READY


def test_call_end_with_wrap_up_then_timer_returns_ready():
    s = agent_state.on_call_event(S.TALKING, "call_end_wrap_up")
    assert s == S.WRAP_UP
    assert agent_state.on_call_event(s, "wrap_up_done") == S.READY


def test_not_ready_asked_during_the_call_skips_wrap_up_and_survives_it():
    s = agent_state.request(S.TALKING, S.NOT_READY)
    assert agent_state.on_call_event(s, "call_end_wrap_up") == S.NOT_READY
    assert agent_state.on_call_event(S.NOT_READY, "wrap_up_done") == S.NOT_READY


def test_ringing_agent_whose_call_ends_has_nothing_to_wrap_up():
    assert agent_state.on_call_event(S.RINGING, "call_end_wrap_up") == S.READY


@pytest.mark.parametrize("target", [S.READY, S.NOT_READY, S.LOGGED_OUT])
def test_agent_may_end_wrap_up_early(target):
    assert agent_state.request(S.WRAP_UP, target) == target


def test_stale_wrap_up_timer_after_early_ready_is_an_invalid_transition():
    s = agent_state.request(S.WRAP_UP, S.READY)
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.on_call_event(s, "wrap_up_done")


@pytest.mark.parametrize("current", [S.READY, S.LOGGED_OUT, S.WRAP_UP])
def test_call_end_with_wrap_up_needs_a_call(current):
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.on_call_event(current, "call_end_wrap_up")


@pytest.mark.parametrize("target", [S.RINGING, S.TALKING])
def test_agent_cannot_ask_for_call_states_from_wrap_up(target):
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.request(S.WRAP_UP, target)


@pytest.mark.parametrize("current", [S.READY, S.NOT_READY, S.TALKING, S.LOGGED_OUT])
def test_nobody_asks_for_wrap_up(current):
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.request(current, S.WRAP_UP)


def test_wrap_up_agent_takes_no_calls():
    assert not agent_state.takes_calls(S.WRAP_UP)
    assert agent_state.takes_calls(S.READY)
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.on_call_event(S.WRAP_UP, "offer")


def test_call_end_event_follows_the_configured_wrap_up():
    assert agent_state.call_end_event(30) == "call_end_wrap_up"
    assert agent_state.call_end_event(0) == "call_end"
    assert agent_state.call_end_event(None) == "call_end"


def test_wrap_up_remaining():
    assert agent_state.wrap_up_remaining_s(30, 12) == 18
    assert agent_state.wrap_up_remaining_s(30, 30) == 0
    assert agent_state.wrap_up_remaining_s(30, 45) == 0


def test_unknown_event_is_a_value_error_not_a_transition_error():
    with pytest.raises(ValueError) as err:
        agent_state.on_call_event(S.TALKING, "wrap_up_started")
    assert not isinstance(err.value, agent_state.InvalidTransition)


# ---- NOT_READY reason codes ---------------------------------------------------------
def test_reason_labels_in_both_languages():
    lunch = agent_state.not_ready_reason("lunch")
    assert lunch.label("ko") == "식사" and lunch.label("en") == "Lunch"
    assert agent_state.not_ready_reason("missed_call").label("en") == "Missed call"


def test_every_reason_has_a_unique_code_and_both_labels():
    codes = [r.code for r in agent_state.NOT_READY_REASONS]
    assert len(codes) == len(set(codes))
    assert {"break", "lunch", "meeting", "training", "missed_call", "other"} <= set(codes)
    assert all(r.label_ko and r.label_en for r in agent_state.NOT_READY_REASONS)


def test_agents_choose_only_their_own_reasons():
    offered = [r.code for r in agent_state.agent_reasons()]
    assert offered == ["break", "lunch", "meeting", "training", "other"]


def test_clean_reason_accepts_known_codes_for_not_ready():
    assert agent_state.clean_reason(S.NOT_READY, " Break ") == "break"
    assert agent_state.clean_reason(S.NOT_READY, "missed_call", by_system=True) == "missed_call"
    assert agent_state.clean_reason(S.READY, "") == ""
    assert agent_state.clean_reason("logged_out", None) == ""


@pytest.mark.parametrize("target,code,by_system", [
    (S.NOT_READY, "nap", False),            # unknown
    (S.NOT_READY, "", False),               # NOT_READY needs a reason
    (S.NOT_READY, None, True),
    (S.NOT_READY, "missed_call", False),    # system-only
    (S.NOT_READY, "logout", False),
    (S.READY, "lunch", False),              # READY carries no reason
])
def test_clean_reason_rejects(target, code, by_system):
    with pytest.raises(agent_state.UnknownReason):
        agent_state.clean_reason(target, code, by_system=by_system)


def test_unknown_reason_code_lookup():
    with pytest.raises(agent_state.UnknownReason) as err:
        agent_state.not_ready_reason("coffee")
    assert err.value.code == "coffee"
