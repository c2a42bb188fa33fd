"""The floor's services on a real (SQLite) database: queue settings, seats,
queue log-in, wrap-up, moving calls, reason codes and callbacks."""
import pytest
from sqlalchemy import select, update

from cti import agent_state
from cti.acd_service import AcdService
from cti.callbacks import CallbackError, CallbackService
from cti.routing import Strategy
from cti.services import CallCenter
from db.models import Callback, CallRecord, Queue, Ticket, TicketEvent, User

AGENT1, AGENT2 = 1, 2


@pytest.fixture
def acd(db, bus, clock):
    return AcdService(db[0], bus, clock)


@pytest.fixture
def callbacks(db, bus, clock):
    return CallbackService(db[0], bus, clock)


def start_call(cc, cid="ch-1", pin="100100", number="0105550000", queue="pc"):
    cc.call_started(cid, number, "Caller", "1600", "ko")
    customer = cc.find_customer_by_pin(pin) if pin else None
    cc.open_ticket(cid, customer, pin or "", "ko")
    return cc.enqueue(cid, queue)


def user(db, agent_id):
    with db[0]() as s:
        return s.get(User, agent_id)


def test_queues_carry_the_seeded_settings_and_the_menu(acd):
    queues = {q.name: q for q in acd.queues()}
    assert set(queues) == {"helpdesk", "pc", "lan", "apps", "office"}
    assert queues["lan"].spec.strategy == Strategy.SKILLS and queues["lan"].spec.priority == 2
    assert queues["pc"].label("en") == "PC and laptops" and queues["pc"].label("ko") == "PC·노트북"
    assert acd.menu() == {"1": "pc", "2": "lan", "3": "apps", "4": "office"}


def test_seats_list_logged_in_queues_with_penalties_and_calls_today(acd, call_center, clock):
    seats = {s.agent_id: s for s in acd.seats()}
    assert seats[AGENT1].queues == {"helpdesk": 0, "pc": 0, "apps": 0, "office": 1}
    assert seats[AGENT2].queues == {"helpdesk": 0, "lan": 0, "office": 0, "pc": 1}
    assert 3 not in seats, "the supervisor serves no queue"
    call_center.set_agent_state(AGENT1, "ready")
    start_call(call_center)
    call_center.offer("ch-1", AGENT1)
    call_center.answered("ch-1", AGENT1)
    assert {s.agent_id: s.calls_today for s in acd.seats()}[AGENT1] == 1


def test_agent_logs_in_to_some_of_their_queues_only(acd, bus):
    seen = []
    bus.subscribe("agent.state", lambda _t, p: seen.append(p))
    assert acd.set_agent_queues(AGENT1, ["pc"]) == ["pc"]
    assert {s.agent_id: s.queues for s in acd.seats()}[AGENT1] == {"pc": 0}
    assert [q["name"] for q in acd.agent_queues(AGENT1) if q["logged_in"]] == ["pc"]
    with pytest.raises(ValueError, match="lan"):
        acd.set_agent_queues(AGENT1, ["pc", "lan"])     # agent1 is no member of 'lan'
    assert {s.agent_id: s.queues for s in acd.seats()}[AGENT1] == {"pc": 0}, "nothing changed"
    assert seen and seen[-1]["agent_id"] == AGENT1
    acd.set_agent_queues(AGENT1, [])
    assert AGENT1 not in {s.agent_id for s in acd.seats()}


def test_wrap_up_after_a_call_then_ready_when_its_time_is_up(db, bus, clock, acd):
    cc = CallCenter(db[0], bus, clock, wrap_up_seconds=30)
    cc.set_agent_state(AGENT1, "ready")
    start_call(cc)
    cc.offer("ch-1", AGENT1)
    cc.answered("ch-1", AGENT1)
    clock.advance(100)
    cc.call_ended("ch-1")
    agent = user(db, AGENT1)
    assert agent.state == "wrap_up" and (agent.state_until - agent.state_since).total_seconds() == 30
    clock.advance(29)
    assert acd.end_wrap_ups() == [] and user(db, AGENT1).state == "wrap_up"
    clock.advance(1)
    assert acd.end_wrap_ups() == [AGENT1]
    agent = user(db, AGENT1)
    assert agent.state == "ready" and agent.state_until is None and agent.idle_since == clock()


def test_queue_wrap_up_overrides_the_floor_and_zero_means_none(db, bus, clock):
    with db[0].begin() as s:
        s.execute(update(Queue).where(Queue.name == "pc").values(wrap_up_seconds=0))
    cc = CallCenter(db[0], bus, clock, wrap_up_seconds=30)
    cc.set_agent_state(AGENT1, "ready")
    start_call(cc)
    cc.offer("ch-1", AGENT1)
    cc.answered("ch-1", AGENT1)
    cc.call_ended("ch-1")
    assert user(db, AGENT1).state == "ready"


def test_agent_ends_wrap_up_early_and_a_late_timer_is_harmless(db, bus, clock, acd):
    cc = CallCenter(db[0], bus, clock, wrap_up_seconds=30)
    cc.set_agent_state(AGENT1, "ready")
    start_call(cc)
    cc.offer("ch-1", AGENT1)
    cc.answered("ch-1", AGENT1)
    cc.call_ended("ch-1")
    assert cc.set_agent_state(AGENT1, "not_ready", "break") == agent_state.AgentState.NOT_READY
    clock.advance(60)
    assert acd.end_wrap_ups() == [] and user(db, AGENT1).state == "not_ready"


def test_not_ready_reasons_are_codes(call_center, db):
    call_center.set_agent_state(AGENT1, "not_ready", "lunch")
    assert user(db, AGENT1).state_reason == "lunch"
    call_center.set_agent_state(AGENT1, "ready")
    call_center.set_agent_state(AGENT1, "not_ready")
    assert user(db, AGENT1).state_reason == "other"
    with pytest.raises(agent_state.UnknownReason):
        call_center.set_agent_state(AGENT1, "ready", "lunch")
    with pytest.raises(agent_state.UnknownReason):
        call_center.set_agent_state(AGENT1, "not_ready", "missed_call")   # the system's code
    with pytest.raises(agent_state.UnknownReason):
        call_center.set_agent_state(AGENT1, "not_ready", "<script>")
    assert user(db, AGENT1).state == "not_ready" and user(db, AGENT1).state_reason == "other"


def test_move_call_keeps_the_first_queue_time_and_records_it(acd, call_center, db, clock):
    info = start_call(call_center, queue="pc")
    clock.advance(40)
    acd.move_call("ch-1", "helpdesk", "max_wait")
    with db[0]() as s:
        call = s.scalar(select(CallRecord))
        assert s.get(Queue, call.queue_id).name == "helpdesk" and call.queued_at == info.queued_at
        ticket = s.get(Ticket, info.ticket_id)
        assert s.get(Queue, ticket.queue_id).name == "helpdesk"
        moved = s.scalars(select(TicketEvent).where(TicketEvent.kind == "moved")).one()
        assert moved.detail == {"from": "pc", "to": "helpdesk", "why": "max_wait"}
    with pytest.raises(LookupError):
        acd.move_call("ch-1", "no-such-queue", "x")


def test_handle_times_are_the_talk_times_of_answered_calls(acd, call_center, clock):
    call_center.set_agent_state(AGENT1, "ready")
    for i, talk in enumerate((60, 120)):
        cid = f"ch-{i}"
        start_call(call_center, cid=cid)
        call_center.offer(cid, AGENT1)
        call_center.answered(cid, AGENT1)
        clock.advance(talk)
        call_center.call_ended(cid)
    assert sorted(acd.handle_times()["pc"]) == [60.0, 120.0]


def test_abandoned_call_is_listed_then_called_back(call_center, callbacks, db, clock):
    start_call(call_center, number="0311112222")
    clock.advance(25)
    call_center.call_ended("ch-1")
    (entry,) = callbacks.abandoned_list()
    assert (entry["number"], entry["queue"], entry["wait_seconds"], entry["status"]) == \
        ("0311112222", "pc", 25.0, "open")
    started = callbacks.start(entry["id"], AGENT1)
    assert started["agent_phone"] == user(db, AGENT1).phone and started["status"] == "dialing"
    with pytest.raises(CallbackError):
        callbacks.start(entry["id"], AGENT2)              # one attempt at a time
    callbacks.finish(entry["id"], "no_answer")
    assert [e["attempts"] for e in callbacks.abandoned_list()] == [1], "still listed after no answer"
    callbacks.start(entry["id"], AGENT1)
    done = callbacks.finish(entry["id"], "reached")
    assert done["status"] == "done" and callbacks.abandoned_list() == []
    with db[0]() as s:
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.kind == "callback"))]
        assert kinds == ["callback", "callback"]


def test_callback_errors_are_clear(call_center, callbacks, clock):
    start_call(call_center, number="0311112222")
    call_center.call_ended("ch-1")
    (entry,) = callbacks.abandoned_list()
    with pytest.raises(CallbackError, match="not being dialled"):
        callbacks.finish(entry["id"], "reached")
    callbacks.start(entry["id"], AGENT1)
    with pytest.raises(CallbackError, match="unknown outcome"):
        callbacks.finish(entry["id"], "teleported")
    with pytest.raises(CallbackError, match="being dialled"):
        callbacks.cancel(entry["id"])
    with pytest.raises(LookupError):
        callbacks.get(999)
    assert callbacks.reset_dialing() == 1 and callbacks.get(entry["id"])["status"] == "open"


def test_hang_up_before_the_queue_is_not_on_the_abandoned_list(call_center, callbacks):
    call_center.call_started("ch-9", "0300000000", "Caller", "1600", "ko")
    call_center.call_ended("ch-9")
    assert callbacks.abandoned_list() == []


def test_requested_callback_keeps_the_place_and_is_not_abandoned(call_center, callbacks, db, clock):
    info = start_call(call_center, number="0319990000")
    clock.advance(70)
    callback_id = callbacks.request("ch-1")
    assert call_center.call_ended("ch-1") == "callback"
    (waiting,) = callbacks.requested_waiting()
    assert waiting["id"] == callback_id and waiting["place_at"] == info.queued_at.isoformat() + "Z"
    assert callbacks.abandoned_list() == []
    with db[0]() as s:
        assert s.scalar(select(Callback)).wait_seconds == 70.0


def test_requested_callback_is_retried_later_and_then_left_to_an_agent(call_center, callbacks, clock):
    from cti.callbacks import MAX_AUTO_ATTEMPTS, RETRY_AFTER

    start_call(call_center, number="0319990000")
    callback_id = callbacks.request("ch-1")
    call_center.call_ended("ch-1")
    for attempt in range(MAX_AUTO_ATTEMPTS):
        assert [e["id"] for e in callbacks.requested_waiting()] == [callback_id]
        callbacks.start(callback_id, AGENT1)
        callbacks.finish(callback_id, "busy")
        assert callbacks.requested_waiting() == [], "not again at once"
        clock.advance(RETRY_AFTER.total_seconds())
    assert callbacks.requested_waiting() == []
    assert [(e["id"], e["kind"], e["attempts"]) for e in callbacks.abandoned_list()] == \
        [(callback_id, "requested", MAX_AUTO_ATTEMPTS)]


def test_numbers_that_are_not_plain_digits_are_never_dialled(call_center, callbacks):
    start_call(call_center, number="1234@evil;transport=tcp")
    call_center.call_ended("ch-1")
    (entry,) = callbacks.abandoned_list()
    with pytest.raises(CallbackError, match="dialled"):
        callbacks.start(entry["id"], AGENT1)
    with pytest.raises(CallbackError, match="dialled"):
        callbacks.ask_to_place(entry["id"], AGENT1)


SUPER = 3


@pytest.fixture
def supervision(db, bus, call_center, clock):
    from cti.supervision import SupervisorService
    return SupervisorService(db[0], bus, call_center, clock)


def test_supervisor_joins_only_connected_calls_and_it_is_recorded(supervision, call_center, bus, db):
    from cti.supervision import MONITOR_REQUESTED, NotAllowed, SupervisionError

    asked = []
    bus.subscribe(MONITOR_REQUESTED, lambda _t, p: asked.append(p))
    info = start_call(call_center)
    with pytest.raises(SupervisionError, match="connected"):
        supervision.monitor(SUPER, "ch-1", "listen")
    call_center.set_agent_state(AGENT1, "ready")
    call_center.offer("ch-1", AGENT1)
    call_center.answered("ch-1", AGENT1)
    with pytest.raises(NotAllowed):
        supervision.monitor(AGENT2, "ch-1", "listen")
    with pytest.raises(SupervisionError, match="mode"):
        supervision.monitor(SUPER, "ch-1", "eavesdrop")
    supervision.monitor(SUPER, "ch-1", "whisper")
    assert asked == [{"channel_id": "ch-1", "mode": "whisper", "supervisor_id": SUPER}]
    with db[0]() as s:
        notes = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == info.ticket_id,
                                                    TicketEvent.kind == "note")).all()
        assert [(n.user_id, n.detail) for n in notes] == [(SUPER, {"supervisor": "whisper"})]
    call_center.call_ended("ch-1")
    with pytest.raises(SupervisionError, match="over"):
        supervision.monitor(SUPER, "ch-1", "listen")


def test_supervisor_moves_only_waiting_calls_to_known_queues(supervision, call_center, bus):
    from cti.supervision import MOVE_REQUESTED, SupervisionError

    asked = []
    bus.subscribe(MOVE_REQUESTED, lambda _t, p: asked.append(p))
    start_call(call_center)
    with pytest.raises(SupervisionError, match="no queue"):
        supervision.move_call(SUPER, "ch-1", "nowhere")
    supervision.move_call(SUPER, "ch-1", "lan")
    assert asked == [{"channel_id": "ch-1", "queue": "lan", "supervisor_id": SUPER}]
    call_center.set_agent_state(AGENT1, "ready")
    call_center.offer("ch-1", AGENT1)
    with pytest.raises(SupervisionError, match="waiting"):
        supervision.move_call(SUPER, "ch-1", "lan")


def test_supervisor_changes_an_agents_state_by_the_agents_rules(supervision, db):
    from cti.supervision import NotAllowed

    assert supervision.set_agent_state(SUPER, AGENT1, "not_ready", "meeting").value == "not_ready"
    assert user(db, AGENT1).state_reason == "meeting"
    with pytest.raises(NotAllowed):
        supervision.set_agent_state(AGENT2, AGENT1, "ready")
    with pytest.raises(agent_state.UnknownReason):
        supervision.set_agent_state(SUPER, AGENT1, "not_ready", "missed_call")
    assert supervision.live_calls() == []


def test_a_new_abandoned_entry_is_announced(call_center, bus):
    from cti.callbacks import CALLBACK_UPDATED

    seen = []
    bus.subscribe(CALLBACK_UPDATED, lambda _t, p: seen.append(p))
    start_call(call_center, number="0311112222")
    call_center.call_ended("ch-1")
    assert seen == [{"callback_id": None, "status": "open"}]
    call_center.call_started("ch-2", "0300000000", "Caller", "1600", "ko")
    call_center.call_ended("ch-2")                      # never queued: not listed, not announced
    assert len(seen) == 1
