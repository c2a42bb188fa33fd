"""CallCenter on a real (SQLite) database: tickets, history, abandoned calls."""
import pytest
from sqlalchemy import select

from cti import events
from cti.agent_state import InvalidTransition
from cti.services import NotFound
from db.models import CallRecord, Ticket, TicketEvent, User

AGENT1, AGENT2 = 1, 2


def start_call(cc, cid="ch-1", pin="100100", name="Caller", number="0105550000"):
    cc.call_started(cid, number, name, "1600", "ko")
    customer = cc.find_customer_by_pin(pin) if pin else None
    return cc.open_ticket(cid, customer, pin or "", "ko")


def kinds(db, ticket_id):
    factory, _ = db
    with factory() as s:
        return [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                          .order_by(TicketEvent.id))]


def test_full_call_history_is_stored(call_center, db, clock, bus):
    pops = []
    bus.subscribe(events.SCREENPOP, lambda _t, p: pops.append(p))
    call_center.set_agent_state(AGENT1, "ready")
    info = start_call(call_center)
    assert info.customer_name.startswith("홍길동")
    call_center.enqueue("ch-1", "helpdesk")
    clock.advance(12)
    pop = call_center.offer("ch-1", AGENT1)
    assert pops == [{"agent_id": AGENT1, "pop": pop}]
    assert pop["waiting_seconds"] == 12.0 and pop["incident_id"] == info.incident_id
    assert pop["queue"] == "Help desk" and pop["phone"] == "0105550000"
    clock.advance(3)
    call_center.answered("ch-1", AGENT1)
    clock.advance(60)
    assert call_center.call_ended("ch-1") == "answered"
    call_center.resolve(info.ticket_id, AGENT1, "Reset the printer queue")
    assert kinds(db, info.ticket_id) == ["created", "identified", "queued", "offered", "answered",
                                          "call_ended", "resolved"]
    view = call_center.ticket_view(info.ticket_id)
    assert view["ticket"]["status"] == "resolved"
    assert view["agent"]["username"] == "agent1"
    factory, _ = db
    with factory() as s:
        call = s.scalar(select(CallRecord))
        assert call.wait_seconds == 15.0 and call.outcome == "answered"
        assert s.get(User, AGENT1).state == "ready"


def test_hangup_in_queue_is_abandoned_with_wait(call_center, db, clock):
    info = start_call(call_center, pin=None, name="<img src=x>")
    call_center.enqueue("ch-1", "helpdesk")
    clock.advance(42)
    assert call_center.call_ended("ch-1") == "abandoned"
    factory, _ = db
    with factory() as s:
        call = s.scalar(select(CallRecord))
        assert (call.outcome, call.wait_seconds, call.caller_name) == ("abandoned", 42.0, "<img src=x>")
        assert s.get(Ticket, info.ticket_id).status == "abandoned"
    assert "unidentified" in kinds(db, info.ticket_id)
    # A second report of the same hang-up changes nothing.
    assert call_center.call_ended("ch-1") == "abandoned"


def test_pbx_loss_is_recorded_as_lost(call_center, db):
    info = start_call(call_center)
    call_center.enqueue("ch-1", "helpdesk")
    assert call_center.call_ended("ch-1", "pbx_lost") == "lost"
    assert kinds(db, info.ticket_id)[-3:] == ["lost", "abandoned", "call_ended"]


def test_no_answer_sets_agent_not_ready_and_requeues(call_center, db):
    call_center.set_agent_state(AGENT1, "ready")
    info = start_call(call_center)
    call_center.enqueue("ch-1", "helpdesk")
    call_center.offer("ch-1", AGENT1)
    call_center.no_answer("ch-1", AGENT1)
    factory, _ = db
    with factory() as s:
        agent = s.get(User, AGENT1)
        assert (agent.state, agent.state_reason) == ("not_ready", "missed_call")
        assert s.get(Ticket, info.ticket_id).status == "queued"
    with pytest.raises(InvalidTransition):
        call_center.offer("ch-1", AGENT1)


def test_caller_hangs_up_while_agent_rings_frees_agent(call_center, db):
    call_center.set_agent_state(AGENT1, "ready")
    start_call(call_center)
    call_center.enqueue("ch-1", "helpdesk")
    call_center.offer("ch-1", AGENT1)
    assert call_center.call_ended("ch-1") == "abandoned"
    factory, _ = db
    with factory() as s:
        assert s.get(User, AGENT1).state == "ready"


def test_candidates_and_idle_order(call_center, clock):
    call_center.set_agent_state(AGENT2, "ready")
    clock.advance(5)
    call_center.set_agent_state(AGENT1, "ready")
    cands = {c.agent_id: c for c in call_center.agent_candidates("helpdesk")}
    assert set(cands) == {AGENT1, AGENT2}  # the supervisor is not a queue member
    assert cands[AGENT2].idle_since < cands[AGENT1].idle_since


def test_resolve_validation(call_center):
    info = start_call(call_center)
    with pytest.raises(ValueError):
        call_center.resolve(info.ticket_id, AGENT1, "  ")
    with pytest.raises(NotFound):
        call_center.resolve(9999, AGENT1, "x")


def test_open_ticket_and_call_started_are_idempotent(call_center):
    a = start_call(call_center)
    call_center.call_started("ch-1", "x", "y", "1600", "ko")
    b = call_center.open_ticket("ch-1", None, "", "ko")
    assert a.ticket_id == b.ticket_id
    assert call_center.open_calls() == {"ch-1": "in_ivr"}


def test_unresolved_tickets_of_the_customer_are_listed(call_center):
    first = start_call(call_center, cid="a")
    second = start_call(call_center, cid="b")
    view = call_center.ticket_view(second.ticket_id)
    assert [t["incident_id"] for t in view["unresolved"]] == [first.incident_id]
    assert view["customer"]["department"] == "Finance"


def test_startup_resets_ringing_and_talking(call_center, db):
    call_center.set_agent_state(AGENT1, "ready")
    start_call(call_center)
    call_center.enqueue("ch-1", "helpdesk")
    call_center.offer("ch-1", AGENT1)
    call_center.reset_transient_agent_states()
    factory, _ = db
    with factory() as s:
        assert s.get(User, AGENT1).state == "ready"
