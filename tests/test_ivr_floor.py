"""The floor in the call flow, on a fake ARI port and the real services (SQLite):
the ARS menu, routing to the chosen queue's agents, the callback offer at the
queue's maximum wait, and what a hang-up in the queue leaves behind."""
from __future__ import annotations

import anyio
import pytest
from sqlalchemy import select, update

from cti.acd_service import AcdService
from cti.callbacks import CallbackService
from db.models import Callback, CallRecord, Queue, Ticket, User
from test_ivr_flows import Harness, rows

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def floor(db, bus, clock):
    factory, _ = db
    return AcdService(factory, bus, clock), CallbackService(factory, bus, clock)


@pytest.fixture
def floor_config(config):
    config["ivr"].update(pin_first_digit_timeout=0.3, pin_inter_digit_timeout=0.3)
    config["acd"].update(ring_timeout=5, menu_timeout=0.3)
    return config


async def choose_in_menu(h, key):
    """Dial in, key the PIN, and press ``key`` in the inquiry-type menu."""
    await h.dial_in()
    h.keys("c1", "100100#")
    await h.until(lambda: h.tel.last_playback()[2].endswith("/choose_queue"))
    h.keys("c1", key)


def user_id(db, username):
    return rows(db, User, username=username)[0].id


def queue_name_of_call(db, channel_id):
    (call,) = rows(db, CallRecord, channel_id=channel_id)
    return rows(db, Queue, id=call.queue_id)[0].name if call.queue_id else None


async def test_menu_key_routes_to_that_queue_and_only_its_members_are_offered(floor_config, call_center, db,
                                                                              floor):
    acd, callbacks = floor
    agent1, agent2 = user_id(db, "agent1"), user_id(db, "agent2")
    call_center.set_agent_state(agent1, "ready")   # agent1 has idled longest, but is not in 'lan'
    call_center.set_agent_state(agent2, "ready")
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "2")
        await h.until(lambda: h.tel.named("originate"))
        assert h.tel.named("originate")[0][2] == rows(db, User, id=agent2)[0].phone
        tg.cancel_scope.cancel()
    assert queue_name_of_call(db, "c1") == "lan"
    (ticket,) = rows(db, Ticket)
    assert rows(db, Queue, id=ticket.queue_id)[0].name == "lan"


async def test_no_menu_key_in_time_goes_to_the_default_queue(floor_config, call_center, db, floor):
    acd, callbacks = floor
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.finish_prompt("c1", "choose_queue")       # then 0.3 s without a key
        await h.until(lambda: "c1" in h.dispatcher.queue)
        tg.cancel_scope.cancel()
    assert queue_name_of_call(db, "c1") == "helpdesk"


async def test_unknown_menu_key_goes_to_the_default_queue(floor_config, call_center, db, floor):
    acd, callbacks = floor
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "9")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        tg.cancel_scope.cancel()
    assert queue_name_of_call(db, "c1") == "helpdesk"


async def test_callback_offer_at_max_wait_and_key_1_keeps_the_place(floor_config, call_center, db, floor):
    acd, callbacks = floor
    factory, _ = db
    with factory.begin() as s:
        s.execute(update(Queue).where(Queue.name == "apps").values(max_wait_seconds=1))
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "3")
        await h.finish_prompt("c1", "please_hold")
        await h.until(lambda: h.tel.last_playback()[2].endswith("/offer_callback"))
        assert ("hangup", "c1") not in [op[:2] for op in h.tel.ops]
        h.keys("c1", "1")
        await h.finish_prompt("c1", "callback_confirmed")
        await h.until(lambda: ("hangup", "c1") in [op[:2] for op in h.tel.ops])
        assert "c1" not in h.dispatcher.queue
        h.send("StasisEnd", "c1")
        await h.until(lambda: rows(db, CallRecord, channel_id="c1")[0].ended_at is not None)
        tg.cancel_scope.cancel()
    (call,) = rows(db, CallRecord, channel_id="c1")
    assert call.outcome == "callback"
    (entry,) = rows(db, Callback)
    assert (entry.kind, entry.status, entry.place_at) == ("requested", "open", call.queued_at)


async def test_key_1_without_a_callback_offer_does_nothing(floor_config, call_center, db, floor):
    acd, callbacks = floor
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "4")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        h.keys("c1", "1")
        await anyio.sleep(0.3)
        assert "c1" in h.dispatcher.queue and not rows(db, Callback)
        tg.cancel_scope.cancel()


async def test_hang_up_in_the_queue_is_abandoned_and_listed(floor_config, call_center, db, floor):
    acd, callbacks = floor
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await h.dial_in(number="0311112222")
        h.keys("c1", "100100#")
        await h.until(lambda: h.tel.last_playback()[2].endswith("/choose_queue"))
        h.keys("c1", "1")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        h.send("StasisEnd", "c1")
        await h.until(lambda: rows(db, CallRecord, channel_id="c1")[0].ended_at is not None)
        await h.until(lambda: "c1" not in h.dispatcher.queue)
        tg.cancel_scope.cancel()
    listed = callbacks.abandoned_list()
    assert [(e["number"], e["queue"], e["kind"], e["status"]) for e in listed] == \
        [("0311112222", "pc", "abandoned", "open")]


async def test_max_wait_with_an_overflow_queue_moves_the_caller(floor_config, call_center, db, floor):
    acd, callbacks = floor
    factory, _ = db
    with factory.begin() as s:
        helpdesk = s.scalar(select(Queue).where(Queue.name == "helpdesk"))
        s.execute(update(Queue).where(Queue.name == "pc").values(max_wait_seconds=1, overflow_queue_id=helpdesk.id))
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "1")
        await h.until(lambda: queue_name_of_call(db, "c1") == "helpdesk")
        assert h.dispatcher.queue.get("c1").queue == "helpdesk"
        assert not any(p[2].endswith("/offer_callback") for p in h.tel.named("play")), "overflow, not callback"
        tg.cancel_scope.cancel()


async def test_supervisor_move_updates_the_waiting_list_and_the_database(floor_config, call_center, db, floor):
    acd, callbacks = floor
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "4")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        await h.dispatcher.move("c1", "apps")
        assert h.dispatcher.queue.get("c1").queue == "apps" and queue_name_of_call(db, "c1") == "apps"
        with pytest.raises(LookupError):
            await h.dispatcher.move("nope", "apps")
        tg.cancel_scope.cancel()


async def test_hold_music_is_the_queues_class(floor_config, call_center, db, floor):
    acd, callbacks = floor
    factory, _ = db
    with factory.begin() as s:
        s.execute(update(Queue).where(Queue.name == "office").values(music_class="calm"))
    async with anyio.create_task_group() as tg:
        h = Harness(floor_config, call_center, tg, acd=acd, callbacks=callbacks)
        await choose_in_menu(h, "4")
        await h.finish_prompt("c1", "please_hold")
        await h.until(lambda: h.tel.named("start_moh"))
        assert h.tel.named("start_moh")[-1] == ("start_moh", "c1", "calm")
        tg.cancel_scope.cancel()
