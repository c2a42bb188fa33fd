"""Wallboard figures: service level, talk-time buckets, waiting calls, agents, tickets."""
import datetime as dt
import json

import pytest

from cti import floor_stats as fs
from cti.agent_state import AgentState as S
from cti.floor_stats import CallRow, TicketRow
from cti.routing import AgentSeat

T0 = dt.datetime(2026, 11, 25, 9, 0)
NOW = T0 + dt.timedelta(seconds=1000)


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def answered(queue, wait, talk=60, start=0):
    return CallRow(queue, at(start), at(start + wait), at(start + wait + talk), "answered", talk)


def abandoned(queue, wait, start=0):
    return CallRow(queue, at(start), None, at(start + wait), "abandoned")


def waiting(queue, since):
    return CallRow(queue, at(since), outcome="queued")


def agent(agent_id, state, *queues):
    return AgentSeat(agent_id, state, queues={q: 0 for q in queues})


def day():
    return [
        answered("a", 20), answered("a", 21),              # SL 20: exactly 20 s is in, 21 s is out
        answered("b", 30),                                  # SL 30 for b: in
        abandoned("a", 3), abandoned("a", 5), abandoned("a", 40),
        CallRow("b", at(0), None, at(50), "lost"),
        CallRow("b", at(0), None, at(70), "callback"),
        waiting("a", 900), waiting("b", 950),
        CallRow("a", at(800), at(810), None, "talking"),    # answered, still talking
        CallRow(None, None, None, at(5), "abandoned"),      # hung up in the IVR
    ]


def stats(rows=None, agents=(), **kwargs):
    return fs.floor_stats(day() if rows is None else rows, agents, NOW,
                          service_levels={"a": 20, "b": 30}, **kwargs)


# ---- service level ----------------------------------------------------------------------
def test_service_level_counts_per_queue_threshold():
    s = stats()
    a, b = s.queues["a"], s.queues["b"]
    assert (a.answered, a.answered_within_sl) == (3, 2)         # 20 s and the 10 s talking call
    assert (b.answered, b.answered_within_sl) == (1, 1)
    assert (s.total.answered, s.total.answered_within_sl) == (4, 3)


def test_exactly_the_threshold_is_within_and_one_second_more_is_not():
    for wait, within in [(20, 1), (20.001, 0), (0, 1)]:
        s = fs.floor_stats([answered("q", wait)], [], NOW)
        assert s.queues["q"].answered_within_sl == within, wait


def test_share_leaves_out_short_abandons_lost_calls_and_callbacks():
    s = stats()
    a = s.queues["a"]
    assert (a.abandoned, a.short_abandoned) == (3, 2)           # 3 s and exactly 5 s are short
    assert a.service_level_share == pytest.approx(2 / (3 + 1))
    b = s.queues["b"]
    assert (b.lost, b.callbacks, b.service_level_share) == (1, 1, 1.0)
    assert s.total.service_level_share == pytest.approx(3 / (4 + 1))


def test_short_abandon_threshold_is_configurable():
    a = stats(short_abandon_s=0).queues["a"]
    assert a.short_abandoned == 0
    assert a.service_level_share == pytest.approx(2 / (3 + 3))


def test_no_calls_gives_no_share_rather_than_0_or_100_percent():
    assert stats([]).total.service_level_share is None
    only_short = stats([abandoned("a", 2)])
    assert only_short.queues["a"].service_level_share is None


def test_default_service_level_for_unlisted_queues():
    s = fs.floor_stats([answered("x", 25), answered("x", 20)], [], NOW, default_service_level_s=25)
    assert s.queues["x"].answered_within_sl == 2 and s.queues["x"].service_level_s == 25


# ---- talk time ----------------------------------------------------------------------------
@pytest.mark.parametrize("talk,bucket", [
    (0, "le_3m"), (180, "le_3m"), (180.5, "le_5m"), (300, "le_5m"), (301, "le_10m"),
    (600, "le_10m"), (600.01, "gt_10m"), (3600, "gt_10m")])
def test_talk_time_bucket_boundaries(talk, bucket):
    assert fs.talk_bucket(talk) == bucket
    s = fs.floor_stats([answered("q", 5, talk=talk)], [], NOW)
    assert s.queues["q"].talk_time[bucket] == 1 and sum(s.queues["q"].talk_time.values()) == 1


def test_talk_time_from_timestamps_when_not_given_and_unfinished_calls_not_bucketed():
    rows = [CallRow("q", at(0), at(10), at(10 + 300), "answered"),     # 300 s -> le_5m
            CallRow("q", at(0), at(10), None, "talking")]
    t = fs.floor_stats(rows, [], NOW).queues["q"].talk_time
    assert t == {"le_3m": 0, "le_5m": 1, "le_10m": 0, "gt_10m": 0}


def test_talk_buckets_sum_per_queue_into_the_total():
    s = stats()
    assert s.queues["a"].talk_time["le_3m"] == 2 and s.queues["b"].talk_time["le_3m"] == 1
    assert s.total.talk_time["le_3m"] == 3


# ---- waiting now ------------------------------------------------------------------------------
def test_calls_waiting_now_and_the_longest_wait():
    s = stats()
    assert (s.queues["a"].waiting_now, s.queues["a"].longest_wait_s) == (1, 100)
    assert (s.queues["b"].waiting_now, s.queues["b"].longest_wait_s) == (1, 50)
    assert (s.total.waiting_now, s.total.longest_wait_s) == (2, 100)


def test_nobody_waiting_has_no_longest_wait():
    assert stats([answered("a", 5)]).queues["a"].longest_wait_s is None


def test_ivr_hangups_are_not_queue_calls():
    s = stats([CallRow(None, None, None, at(5), "abandoned"), CallRow("a", None, None, at(5), "abandoned")])
    assert s.total.abandoned == 0


# ---- agents -----------------------------------------------------------------------------------
def test_agents_by_state_per_queue_and_once_in_the_total():
    agents = [agent(1, S.READY, "a", "b"), agent(2, S.TALKING, "a"), agent(3, S.WRAP_UP, "b"),
              agent(4, S.NOT_READY), agent(5, "ready", "c")]
    s = stats(agents=agents)
    assert s.queues["a"].agents_by_state["ready"] == 1 and s.queues["a"].agents_by_state["talking"] == 1
    assert s.queues["b"].agents_by_state["wrap_up"] == 1 and s.queues["b"].agents_by_state["ready"] == 1
    assert s.total.agents_by_state == {"logged_out": 0, "ready": 2, "not_ready": 1, "ringing": 0,
                                       "talking": 1, "wrap_up": 1}
    assert "c" in s.queues                                       # a queue known only from its agent


# ---- shapes -----------------------------------------------------------------------------------
def test_empty_floor():
    s = fs.floor_stats([], [], NOW)
    assert s.queues == {}
    t = s.total
    assert (t.answered, t.abandoned, t.waiting_now, t.longest_wait_s) == (0, 0, 0, None)
    assert set(t.talk_time.values()) == {0} and set(t.agents_by_state.values()) == {0}


def test_configured_queues_show_without_calls():
    s = fs.floor_stats([], [], NOW, queues=["x"], service_levels={"y": 15})
    assert sorted(s.queues) == ["x", "y"] and s.queues["y"].service_level_s == 15


def test_as_dict_is_json_and_carries_the_share():
    d = json.loads(json.dumps(stats().as_dict()))
    assert d["total"]["queue"] is None and d["total"]["service_level_share"] == pytest.approx(0.6)
    assert d["queues"]["a"]["talk_time"]["le_3m"] == 2
    assert list(d["queues"]) == ["a", "b"]


# ---- tickets for the projection dashboard ----------------------------------------------------
def test_ticket_counts():
    rows = [TicketRow("phone", "queued", "Seoul"), TicketRow("phone", "resolved", "Seoul"),
            TicketRow("email", "queued", "Busan"), TicketRow("web", "in_progress", ""),
            TicketRow("phone", "queued", " Seoul ")]
    c = fs.ticket_counts(rows)
    assert c.total == 5
    assert c.by_intake_type == {"email": 1, "phone": 3, "web": 1}
    assert c.by_status == {"in_progress": 1, "queued": 3, "resolved": 1}
    assert c.by_site == {"Busan": 1, "Seoul": 3, "unspecified": 1}
    assert c.by_site_and_status["Seoul"] == {"queued": 2, "resolved": 1}
    assert json.loads(json.dumps(c.as_dict()))["by_site"]["unspecified"] == 1


def test_ticket_counts_empty():
    c = fs.ticket_counts([])
    assert c.as_dict() == {"total": 0, "by_intake_type": {}, "by_status": {}, "by_site": {},
                           "by_site_and_status": {}}
