"""Pure domain rules: agent states, ACD choice, PIN entry, ticket moves, config."""
import datetime as dt

import pytest

from cti import acd, agent_state, pin, tickets
from cti.agent_state import AgentState as S
from cti.config import ConfigError, load

T0 = dt.datetime(2026, 11, 25, 9, 0)


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


# ---- agent state machine -----------------------------------------------------
@pytest.mark.parametrize("current,target", [
    (S.LOGGED_OUT, S.READY), (S.READY, S.NOT_READY), (S.NOT_READY, S.READY), (S.READY, S.LOGGED_OUT),
    (S.TALKING, S.NOT_READY), (S.RINGING, S.NOT_READY)])
def test_agent_may_request(current, target):
    assert agent_state.request(current, target) == target


@pytest.mark.parametrize("current,target", [
    (S.TALKING, S.READY), (S.RINGING, S.READY), (S.LOGGED_OUT, S.TALKING), (S.READY, S.RINGING),
    (S.TALKING, S.LOGGED_OUT)])
def test_agent_may_not_request(current, target):
    with pytest.raises(agent_state.InvalidTransition):
        agent_state.request(current, target)


def test_call_events_move_the_agent():
    s = agent_state.on_call_event(S.READY, "offer")
    assert s == S.RINGING
    assert agent_state.on_call_event(s, "answer") == S.TALKING
    assert agent_state.on_call_event(S.TALKING, "call_end") == S.READY
    assert agent_state.on_call_event(S.RINGING, "no_answer") == S.NOT_READY
    assert agent_state.on_call_event(S.RINGING, "offer_cancelled") == S.READY


def test_not_ready_requested_during_a_call_survives_its_end():
    assert agent_state.on_call_event(S.NOT_READY, "call_end") == S.NOT_READY


def test_offer_needs_a_ready_agent():
    for state in (S.NOT_READY, S.TALKING, S.LOGGED_OUT, S.RINGING):
        with pytest.raises(agent_state.InvalidTransition):
            agent_state.on_call_event(state, "offer")


# ---- ACD ---------------------------------------------------------------------
def cand(agent_id, state=S.READY, idle=0):
    return acd.AgentCandidate(agent_id, state, None if idle is None else at(idle))


def test_longest_idle_ready_agent_wins():
    agents = [cand(1, idle=30), cand(2, idle=10), cand(3, S.NOT_READY, idle=0), cand(4, S.TALKING, idle=0)]
    assert acd.choose_agent(agents) == 2


def test_exclusion_and_no_agent():
    agents = [cand(1, idle=30), cand(2, idle=10)]
    assert acd.choose_agent(agents, exclude=[2]) == 1
    assert acd.choose_agent(agents, exclude=[1, 2]) is None
    assert acd.choose_agent([cand(1, S.NOT_READY)]) is None


def test_ties_are_stable_and_unknown_idle_goes_first():
    assert acd.choose_agent([cand(5, idle=10), cand(3, idle=10)]) == 3
    assert acd.choose_agent([cand(5, idle=10), cand(6, idle=None)]) == 6


def test_queue_serves_oldest_call_first_and_never_offers_twice():
    q = acd.CallQueue("helpdesk")
    q.add("late", at(20))
    q.add("early", at(5))
    pairs = q.match([cand(1, idle=0), cand(2, idle=50)])
    assert [(c.call_id, a) for c, a in pairs] == [("early", 1), ("late", 2)]
    for call, agent in pairs:
        call.offered_to = agent
    assert q.match([cand(3, idle=0)]) == []


def test_queue_skips_an_agent_who_let_the_call_ring_out():
    q = acd.CallQueue("helpdesk")
    call = q.add("c1", at(0))
    call.tried_agents.add(1)
    (pair,) = q.match([cand(1, idle=0), cand(2, idle=10)])
    assert pair[1] == 2


def test_tried_agent_gets_the_call_again_when_alone():
    q = acd.CallQueue("helpdesk")
    call = q.add("c1", at(0))
    call.tried_agents.add(1)
    (pair,) = q.match([cand(1, idle=0)])
    assert pair[1] == 1 and call.tried_agents == set()


def test_queue_rejects_duplicates_and_removes():
    q = acd.CallQueue("helpdesk")
    q.add("c1", at(0))
    with pytest.raises(ValueError):
        q.add("c1", at(1))
    assert q.remove("c1") is not None and len(q) == 0 and q.remove("c1") is None


# ---- PIN entry ---------------------------------------------------------------
def keys(entry, text):
    for k in text:
        entry = entry.press(k)
    return entry


def test_pin_submitted_with_hash():
    e = keys(pin.PinEntry(), "100100#")
    assert e.status == pin.PinStatus.SUBMITTED and e.attempt == "100100"


def test_three_wrong_pins_fail():
    e = pin.PinEntry(max_tries=3)
    for n in range(1, 4):
        e = keys(e, "999#").rejected()
        assert e.tries_used == n
    assert e.status == pin.PinStatus.FAILED


def test_silence_and_empty_hash_use_a_try_and_typed_digits_submit_on_timeout():
    e = pin.PinEntry().timeout()
    assert e.tries_used == 1 and e.status == pin.PinStatus.COLLECTING
    e = e.press("#")
    assert e.tries_used == 2
    e = keys(pin.PinEntry(), "1234").timeout()
    assert e.status == pin.PinStatus.SUBMITTED and e.attempt == "1234"


def test_overlong_pin_is_a_wrong_try_and_star_is_ignored():
    e = keys(pin.PinEntry(max_length=4), "12345")
    assert e.tries_used == 1 and e.digits == ""
    assert keys(pin.PinEntry(), "1*2").digits == "12"


def test_finished_entry_ignores_keys_and_only_submitted_can_be_rejected():
    e = keys(pin.PinEntry(), "1#")
    assert e.press("2") is e
    with pytest.raises(ValueError):
        pin.PinEntry().rejected()


def test_looks_like_pin():
    assert pin.looks_like_pin("100100")
    assert not pin.looks_like_pin("") and not pin.looks_like_pin("12a") and not pin.looks_like_pin("1" * 13)


# ---- ticket lifecycle ----------------------------------------------------------
def test_ticket_happy_path():
    status = tickets.TicketStatus.NEW
    for kind, expected in [("queued", "queued"), ("offered", "offered"), ("no_answer", "queued"),
                           ("offered", "offered"), ("answered", "in_progress"), ("resolved", "resolved")]:
        status = tickets.next_status(status, kind)
        assert status.value == expected
    assert not tickets.is_open(status)


def test_ticket_notes_do_not_move_and_bad_moves_raise():
    assert tickets.next_status("queued", "created") == tickets.TicketStatus.QUEUED
    with pytest.raises(tickets.InvalidTicketMove):
        tickets.next_status("resolved", "answered")
    with pytest.raises(tickets.InvalidTicketMove):
        tickets.next_status("in_progress", "abandoned")
    with pytest.raises(tickets.InvalidTicketMove):
        tickets.next_status("new", "exploded")


def test_abandoned_ticket_can_still_be_resolved():
    assert tickets.next_status("abandoned", "resolved") == tickets.TicketStatus.RESOLVED


def test_resolution_text_rules():
    assert tickets.clean_resolution("  fixed  ") == "fixed"
    with pytest.raises(ValueError):
        tickets.clean_resolution("   ")
    with pytest.raises(ValueError):
        tickets.clean_resolution("x" * (tickets.MAX_RESOLUTION_LENGTH + 1))
    assert tickets.incident_id(42) == "INC-000042"


# ---- configuration ---------------------------------------------------------------
def test_config_layers(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[acd]\nring_timeout = 7.5\n[web]\nport = 6000\n')
    cfg = load(f, environ={"HAPPYCALL_WEB_PORT": "6100", "HAPPYCALL_ASTERISK_ARS_LINES": '{"1700": "en"}'},
               overrides={"data": {"dir": str(tmp_path)}})
    assert cfg["acd"]["ring_timeout"] == 7.5
    assert cfg["web"]["port"] == 6100
    assert cfg["asterisk"]["ars_lines"] == {"1700": "en"}
    assert cfg["database"]["url"].startswith("sqlite:///") and str(tmp_path) in cfg["database"]["url"]


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        load(environ={}, overrides={"web": {"prot": 1}})
    with pytest.raises(ConfigError, match="HAPPYCALL_WEB_PORT"):
        load(environ={"HAPPYCALL_WEB_PORT": "eighty"})
    with pytest.raises(ConfigError, match="ari_url"):
        load(environ={"HAPPYCALL_ASTERISK_MODE": "external"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[web\n")
    with pytest.raises(ConfigError):
        load(bad, environ={})
