"""Multi-queue routing: strategies, fairness across queues, ring-outs, positions,
estimated waits and max-wait decisions."""
import datetime as dt
import itertools

import pytest

from cti import routing
from cti.agent_state import AgentState as S
from cti.routing import AgentSeat, QueueSpec, Router, Strategy, WaitAction, WaitingCall, WaitingList

T0 = dt.datetime(2026, 11, 25, 9, 0)


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


NOW = at(100)


def seat(agent_id, queues, state=S.READY, idle=0, calls=0):
    if isinstance(queues, str):
        queues = [queues]
    if not isinstance(queues, dict):
        queues = {q: 0 for q in queues}
    return AgentSeat(agent_id, state, None if idle is None else at(idle), calls, queues)


def call(call_id, queue, waited, kind="call", tried=(), offered_to=None):
    return WaitingCall(call_id, queue, NOW - dt.timedelta(seconds=waited), kind, set(tried), offered_to)


def pairs(offers):
    return [(o.call.call_id, o.agent_id) for o in offers]


def router(*specs):
    return Router(specs or [QueueSpec("q")])


# ---- queue specs -------------------------------------------------------------------
def test_queue_spec_defaults_and_strategy_from_text():
    spec = QueueSpec("sales", strategy="skills")
    assert spec.strategy is Strategy.SKILLS
    assert (spec.priority, spec.service_level_s, spec.max_wait_s, spec.overflow_to) == (1, 20, None, None)
    assert spec.wrap_up_seconds(15) == 15
    assert QueueSpec("vip", wrap_up_s=0).wrap_up_seconds(15) == 0


@pytest.mark.parametrize("kwargs", [
    {"priority": 0}, {"priority": 1.5}, {"strategy": "random"}, {"service_level_s": 0},
    {"max_wait_s": 0}, {"overflow_to": "q"}, {"wrap_up_s": -1}, {"name": ""}])
def test_queue_spec_rejects(kwargs):
    with pytest.raises(ValueError):
        QueueSpec(**{"name": "q", **kwargs})


def test_router_rejects_duplicate_queues_unknown_overflow_and_loops():
    with pytest.raises(ValueError, match="twice"):
        Router([QueueSpec("a"), QueueSpec("a")])
    with pytest.raises(ValueError, match="unknown"):
        Router([QueueSpec("a", overflow_to="b")])
    with pytest.raises(ValueError, match="loops"):
        Router([QueueSpec("a", overflow_to="b"), QueueSpec("b", overflow_to="c"),
                QueueSpec("c", overflow_to="a")])
    assert Router([QueueSpec("a", overflow_to="b"), QueueSpec("b")]).spec("a").overflow_to == "b"


# ---- strategies ----------------------------------------------------------------------
def test_longest_idle_with_unknown_idle_first_and_ties_to_lower_id():
    r = router(QueueSpec("q"))
    assert r.next_agent_for_call("c", [call("c", "q", 5)], [seat(1, "q", idle=30), seat(2, "q", idle=10)],
                                 NOW) == 2
    assert r.next_agent_for_call("c", [call("c", "q", 5)], [seat(1, "q", idle=10), seat(2, "q", idle=None)],
                                 NOW) == 2
    assert r.next_agent_for_call("c", [call("c", "q", 5)], [seat(7, "q", idle=10), seat(3, "q", idle=10)],
                                 NOW) == 3


def test_round_robin_rotates_after_the_last_agent_of_the_queue():
    r = router(QueueSpec("q", strategy="round_robin"))
    seats = [seat(a, "q", idle=0) for a in (4, 1, 9)]
    calls = [call("c", "q", 5)]
    assert r.next_agent_for_call("c", calls, seats, NOW) == 1
    assert r.next_agent_for_call("c", calls, seats, NOW, {"q": 1}) == 4
    assert r.next_agent_for_call("c", calls, seats, NOW, {"q": 4}) == 9
    assert r.next_agent_for_call("c", calls, seats, NOW, {"q": 9}) == 1      # wraps around
    # The last agent left the queue: rotation goes on from their id.
    assert r.next_agent_for_call("c", calls, seats, NOW, {"q": 5}) == 9
    # Another queue's pointer does not move this one.
    assert r.next_agent_for_call("c", calls, seats, NOW, {"other": 4}) == 1


def test_round_robin_hands_two_calls_in_one_pass_to_successive_agents():
    r = router(QueueSpec("q", strategy="round_robin"))
    seats = [seat(a, "q") for a in (1, 2, 3)]
    offers = r.match([call("a", "q", 50), call("b", "q", 40)], seats, NOW, {"q": 2})
    assert pairs(offers) == [("a", 3), ("b", 1)]
    # Agent 2 let call "a" ring out, so "a" skips to 3; the rotation then goes on after 3, not 1.
    offers = r.match([call("a", "q", 50, tried=[2]), call("b", "q", 40)], seats, NOW, {"q": 1})
    assert pairs(offers) == [("a", 3), ("b", 1)]


def test_fewest_calls_then_longest_idle():
    r = router(QueueSpec("q", strategy="fewest_calls"))
    calls = [call("c", "q", 5)]
    assert r.next_agent_for_call("c", calls, [seat(1, "q", idle=0, calls=7), seat(2, "q", idle=50, calls=3)],
                                 NOW) == 2
    assert r.next_agent_for_call("c", calls, [seat(1, "q", idle=40, calls=3), seat(2, "q", idle=20, calls=3)],
                                 NOW) == 2


def test_skills_lowest_penalty_then_longest_idle():
    r = router(QueueSpec("q", strategy="skills"))
    calls = [call("c", "q", 5)]
    seats = [seat(1, {"q": 2}, idle=0), seat(2, {"q": 1}, idle=50), seat(3, {"q": 1}, idle=30)]
    assert r.next_agent_for_call("c", calls, seats, NOW) == 3


def test_skills_keeps_the_generalist_for_the_queue_only_they_serve():
    r = router(QueueSpec("a", strategy="skills"), QueueSpec("b", strategy="skills"))
    generalist = seat(1, {"a": 5, "b": 0}, idle=0)
    specialist = seat(2, {"a": 0}, idle=50)
    offers = r.match([call("ca", "a", 60), call("cb", "b", 30)], [generalist, specialist], NOW)
    assert pairs(offers) == [("ca", 2), ("cb", 1)]


def test_penalty_is_ignored_outside_skills():
    r = router(QueueSpec("q"))
    seats = [seat(1, {"q": 9}, idle=0), seat(2, {"q": 0}, idle=50)]
    assert r.next_agent_for_call("c", [call("c", "q", 5)], seats, NOW) == 1


def test_only_ready_members_of_the_queue_get_its_calls():
    r = router(QueueSpec("a"), QueueSpec("b"))
    seats = [seat(1, "b", idle=0), seat(2, "a", S.WRAP_UP, idle=0), seat(3, "a", S.NOT_READY),
             seat(4, "a", S.TALKING), seat(5, "a", S.LOGGED_OUT)]
    assert r.match([call("c", "a", 5)], seats, NOW) == []
    assert pairs(r.match([call("c", "a", 5)], seats + [seat(6, "a", idle=90)], NOW)) == [("c", 6)]


def test_empty_inputs():
    r = router()
    assert r.match([], [seat(1, "q")], NOW) == []
    assert r.match([call("c", "q", 5)], [], NOW) == []
    assert r.next_call_for_agent(1, [], [seat(1, "q")], NOW) is None
    assert r.next_agent_for_call("c", [], [], NOW) is None


def test_unknown_queue_of_a_call_is_an_error():
    with pytest.raises(KeyError):
        router().match([call("c", "nowhere", 5)], [seat(1, "q")], NOW)


# ---- fairness across queues -------------------------------------------------------------
def test_effective_wait_is_wait_times_priority():
    spec = QueueSpec("vip", priority=3)
    assert routing.effective_wait_s(call("c", "vip", 10), spec, NOW) == 30
    # A call stamped in the future (clock step) has waited 0, not less.
    assert routing.effective_wait_s(call("c", "vip", -5), spec, NOW) == 0


def test_free_agent_takes_the_longest_waiting_caller_across_their_queues():
    r = router(QueueSpec("a"), QueueSpec("b"), QueueSpec("c"))
    calls = [call("a1", "a", 20), call("b1", "b", 45), call("c1", "c", 90)]
    assert r.next_call_for_agent(1, calls, [seat(1, ["a", "b"])], NOW).call_id == "b1"


@pytest.mark.parametrize("waited_normal,expected", [(25, "vip1"), (35, "n1")])
def test_priority_weights_the_wait(waited_normal, expected):
    r = router(QueueSpec("vip", priority=3), QueueSpec("normal"))
    calls = [call("n1", "normal", waited_normal), call("vip1", "vip", 10)]  # vip: 10 s * 3 = 30
    assert r.next_call_for_agent(1, calls, [seat(1, ["vip", "normal"])], NOW).call_id == expected


def test_equal_effective_wait_goes_to_the_earlier_call_then_higher_priority():
    r = router(QueueSpec("vip", priority=2), QueueSpec("normal"))
    calls = [call("vip1", "vip", 10), call("n1", "normal", 20)]  # both 20 effective
    assert r.next_call_for_agent(1, calls, [seat(1, ["vip", "normal"])], NOW).call_id == "n1"
    calls = [call("n1", "normal", 0), call("vip1", "vip", 0)]   # both just arrived
    assert r.next_call_for_agent(1, calls, [seat(1, ["vip", "normal"])], NOW).call_id == "vip1"
    calls = [call("x", "normal", 5), call("y", "normal", 5)]    # same everything: as given
    assert r.next_call_for_agent(1, calls, [seat(1, ["normal"])], NOW).call_id == "x"


def test_several_free_agents_serve_calls_in_effective_wait_order():
    r = router(QueueSpec("a"), QueueSpec("b", priority=2))
    calls = [call("a1", "a", 30), call("a2", "a", 10), call("b1", "b", 20)]
    seats = [seat(1, ["a", "b"], idle=0), seat(2, ["a"], idle=10)]
    assert pairs(r.match(calls, seats, NOW)) == [("b1", 1), ("a1", 2)]


def test_both_directions_agree():
    r = router(QueueSpec("a", strategy="fewest_calls"), QueueSpec("b", priority=2, strategy="skills"),
               QueueSpec("c", strategy="round_robin"))
    calls = [call("a1", "a", 70), call("a2", "a", 15), call("b1", "b", 40), call("b2", "b", 5),
             call("c1", "c", 55), call("c2", "c", 50, tried=[3])]
    seats = [seat(1, {"a": 0, "b": 1}, idle=10, calls=4), seat(2, {"b": 0, "c": 0}, idle=40),
             seat(3, {"a": 0, "c": 0}, idle=5, calls=1), seat(4, {"c": 0}, idle=20),
             seat(5, {"b": 2}, idle=0)]
    offers = r.match(calls, seats, NOW, {"c": 2})
    assert len(offers) == 5
    for o in offers:
        assert r.next_agent_for_call(o.call.call_id, calls, seats, NOW, {"c": 2}) == o.agent_id
        assert r.next_call_for_agent(o.agent_id, calls, seats, NOW, {"c": 2}) is o.call
    matched = {o.call.call_id for o in offers}
    for c in calls:
        if c.call_id not in matched:
            assert r.next_agent_for_call(c.call_id, calls, seats, NOW, {"c": 2}) is None
    assert len({o.agent_id for o in offers}) == len(offers)


def test_match_leaves_the_calls_unchanged():
    r = router()
    calls = [call("c", "q", 5, tried=[1])]
    r.match(calls, [seat(1, "q")], NOW)
    assert calls[0].offered_to is None and calls[0].tried_agents == {1}


# ---- offers and ring-outs ---------------------------------------------------------------
def test_a_call_being_offered_is_not_handed_out_twice_and_its_agent_gets_no_second_call():
    r = router()
    calls = [call("old", "q", 50, offered_to=1), call("new", "q", 10)]
    seats = [seat(1, "q", idle=0), seat(2, "q", idle=10)]
    assert pairs(r.match(calls, seats, NOW)) == [("new", 2)]


def test_agent_who_let_the_call_ring_out_is_skipped_while_someone_else_is_free():
    r = router()
    seats = [seat(1, "q", idle=0), seat(2, "q", idle=50)]
    assert r.next_agent_for_call("c", [call("c", "q", 30, tried=[1])], seats, NOW) == 2
    # ... but the skip is per call: agent 1 still takes the next caller.
    calls = [call("c", "q", 30, tried=[1]), call("d", "q", 20)]
    assert pairs(r.match(calls, seats, NOW)) == [("c", 2), ("d", 1)]


def test_agent_who_let_the_call_ring_out_gets_it_when_nobody_else_is_free():
    r = router()
    assert r.next_agent_for_call("c", [call("c", "q", 30, tried=[1])], [seat(1, "q")], NOW) == 1
    # "Nobody else" means nobody not already given a call in the same pass.
    calls = [call("first", "q", 90), call("c", "q", 30, tried=[1])]
    seats = [seat(1, "q", idle=50), seat(2, "q", idle=0)]
    assert pairs(r.match(calls, seats, NOW)) == [("first", 2), ("c", 1)]


def test_waiting_list_offer_ring_out_and_withdraw():
    wl = WaitingList()
    wl.add("c", "q", at(0))
    wl.add("d", "q", at(1))
    wl.offer("c", 1)
    assert wl.last_agent_by_queue == {"q": 1}
    with pytest.raises(ValueError):
        wl.offer("c", 2)                 # already offered
    with pytest.raises(ValueError):
        wl.offer("d", 1)                 # agent 1 already has an offer
    assert wl.ring_out("c").tried_agents == {1} and wl.get("c").offered_to is None
    wl.offer("c", 2)
    assert wl.withdraw_offer("c").tried_agents == {1}
    wl.offer("c", 1)                     # back to the ring-out agent: a new round
    assert wl.get("c").tried_agents == set()
    with pytest.raises(ValueError):
        wl.add("c", "q", at(5))
    with pytest.raises(KeyError):
        wl.offer("zzz", 3)
    assert wl.remove("c") is not None and wl.remove("c") is None and len(wl) == 1


def test_waiting_list_drives_round_robin_through_the_router():
    r = router(QueueSpec("q", strategy="round_robin"))
    seats = [seat(a, "q") for a in (1, 2, 3)]
    wl = WaitingList()
    served = []
    for n in range(4):
        wl.add(n, "q", at(n))
        (offer,) = r.match(wl.calls(), seats, NOW, wl.last_agent_by_queue)
        wl.offer(offer.call.call_id, offer.agent_id)
        served.append(offer.agent_id)
        wl.remove(offer.call.call_id)
    assert served == [1, 2, 3, 1]


# ---- callbacks, position and estimated wait -------------------------------------------------
def test_callback_keeps_the_callers_place():
    wl = WaitingList()
    wl.add("early", "q", at(0))
    wl.add("mid", "q", at(10))
    wl.add("late", "q", at(20))
    assert wl.position("mid") == 2
    cb = wl.to_callback("mid", "cb-mid")
    assert cb.kind == "callback" and cb.enqueued_at == at(10)
    assert "mid" not in wl and wl.position("cb-mid") == 2 and wl.position("late") == 3
    r = router()
    offers = r.match(wl.calls(), [seat(1, "q", idle=0), seat(2, "q", idle=5)], NOW)
    assert pairs(offers) == [("early", 1), ("cb-mid", 2)]


def test_a_callback_added_later_with_the_original_time_goes_ahead():
    wl = WaitingList()
    wl.add("now", "q", at(50))
    wl.add("cb", "q", at(5), kind="callback")
    assert wl.position("cb") == 1 and wl.position("now") == 2
    assert router().next_call_for_agent(1, wl.calls(), [seat(1, "q")], NOW).call_id == "cb"


def test_position_counts_offered_calls_and_only_the_same_queue():
    calls = [call("x", "other", 99), call("a", "q", 60, offered_to=7), call("b", "q", 40, kind="callback"),
             call("c", "q", 10)]
    assert [routing.position(c, calls) for c in calls] == [1, 1, 2, 3]
    with pytest.raises(ValueError):
        routing.position(call("ghost", "q", 1), calls)


def test_waiting_entry_kind_is_checked():
    with pytest.raises(ValueError):
        WaitingCall("c", "q", NOW, kind="email")


def test_estimated_wait_formula():
    history = {"q": [100, 200, 300], "empty": []}
    assert routing.estimated_wait_s("q", 1, history, 1) == 200
    assert routing.estimated_wait_s("q", 3, history, 2) == 300
    assert routing.estimated_wait_s("q", 4, history, 4) == 200


def test_estimated_wait_unknown_without_history_or_agents():
    history = {"q": [120], "empty": []}
    assert routing.estimated_wait_s("empty", 1, history, 3) is None
    assert routing.estimated_wait_s("missing", 1, history, 3) is None
    assert routing.estimated_wait_s("q", 1, history, 0) is None
    with pytest.raises(ValueError):
        routing.estimated_wait_s("q", 0, history, 1)


def test_agents_serving_counts_working_members_only():
    r = router(QueueSpec("q"), QueueSpec("other"))
    seats = [seat(1, "q", S.READY), seat(2, "q", S.TALKING), seat(3, "q", S.WRAP_UP), seat(4, "q", S.RINGING),
             seat(5, "q", S.NOT_READY), seat(6, "q", S.LOGGED_OUT), seat(7, "other", S.READY)]
    assert r.agents_serving("q", seats) == 4
    assert r.agents_serving("other", []) == 0


# ---- max wait ---------------------------------------------------------------------------------
def test_no_limit_keeps_waiting_for_ever():
    assert routing.max_wait_action(call("c", "q", 10_000), QueueSpec("q"), NOW) == WaitAction.KEEP_WAITING


@pytest.mark.parametrize("waited,expected", [(59.9, WaitAction.KEEP_WAITING), (60, WaitAction.OFFER_CALLBACK),
                                             (61, WaitAction.OFFER_CALLBACK)])
def test_max_wait_without_overflow_offers_a_callback(waited, expected):
    spec = QueueSpec("q", max_wait_s=60)
    assert routing.max_wait_action(call("c", "q", waited), spec, NOW) == expected


def test_callback_is_offered_once():
    spec = QueueSpec("q", max_wait_s=60)
    c = call("c", "q", 90)
    c.callback_offered = True
    assert routing.max_wait_action(c, spec, NOW) == WaitAction.KEEP_WAITING


def test_max_wait_with_overflow_moves_the_call():
    spec = QueueSpec("q", max_wait_s=60, overflow_to="backup")
    assert routing.max_wait_action(call("c", "q", 60), spec, NOW) == WaitAction.OVERFLOW
    assert routing.max_wait_action(call("c", "q", 30), spec, NOW) == WaitAction.KEEP_WAITING


def test_callbacks_and_ringing_calls_are_left_alone():
    spec = QueueSpec("q", max_wait_s=60, overflow_to="backup")
    assert routing.max_wait_action(call("c", "q", 90, kind="callback"), spec, NOW) == WaitAction.KEEP_WAITING
    assert routing.max_wait_action(call("c", "q", 90, offered_to=3), spec, NOW) == WaitAction.KEEP_WAITING


def test_overflowed_call_keeps_its_place_but_restarts_the_max_wait_clock():
    r = Router([QueueSpec("q", max_wait_s=60, overflow_to="backup"), QueueSpec("backup", max_wait_s=120)])
    wl = WaitingList()
    wl.add("moved", "q", at(0))
    wl.add("local", "backup", at(30))
    wl.ring_out(wl.offer("moved", 9).call_id)
    when = at(60)
    assert routing.max_wait_action(wl.get("moved"), r.spec("q"), when) == WaitAction.OVERFLOW
    moved = wl.overflow("moved", "backup", when)
    assert moved.enqueued_at == at(0) and moved.tried_agents == set()
    assert wl.position("moved") == 1 and wl.position("local") == 2
    assert routing.max_wait_action(moved, r.spec("backup"), at(179)) == WaitAction.KEEP_WAITING
    assert routing.max_wait_action(moved, r.spec("backup"), at(180)) == WaitAction.OFFER_CALLBACK
    assert r.next_call_for_agent(1, wl.calls(), [seat(1, "backup")], at(61)).call_id == "moved"


def test_overflow_resets_the_callback_prompt_and_to_callback_keeps_the_queue_clock():
    wl = WaitingList()
    wl.add("c", "q", at(0))
    wl.mark_callback_offered("c")
    assert wl.get("c").callback_offered
    wl.overflow("c", "backup", at(40))
    assert not wl.get("c").callback_offered
    cb = wl.to_callback("c", "cb")
    assert (cb.queue, cb.enqueued_at, cb.in_queue_since) == ("backup", at(0), at(40))


def test_to_callback_refuses_an_id_already_waiting():
    wl = WaitingList()
    wl.add("a", "q", at(0))
    wl.add("b", "q", at(1))
    with pytest.raises(ValueError):
        wl.to_callback("a", "b")
    assert "a" in wl and wl.to_callback("a", "a").kind == "callback"


# ---- compatibility: the old single-queue ACD still works alongside --------------------------------
def test_single_queue_router_matches_the_old_call_queue():
    from cti import acd

    q = acd.CallQueue("q")
    q.add("late", at(20))
    q.add("early", at(5))
    old = q.match([acd.AgentCandidate(1, S.READY, at(0)), acd.AgentCandidate(2, S.READY, at(50))])
    new = router().match([WaitingCall("late", "q", at(20)), WaitingCall("early", "q", at(5))],
                         [seat(1, "q", idle=0), seat(2, "q", idle=50)], NOW)
    assert [(c.call_id, a) for c, a in old] == pairs(new)


def test_round_robin_cycles_fairly_over_many_calls():
    r = router(QueueSpec("q", strategy="round_robin"))
    seats = [seat(a, "q") for a in (2, 5, 8)]
    last = {}
    served = []
    for n in itertools.count():
        if n == 9:
            break
        agent = r.next_agent_for_call(n, [call(n, "q", 1)], seats, NOW, last)
        last["q"] = agent
        served.append(agent)
    assert served == [2, 5, 8] * 3
