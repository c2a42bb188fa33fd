"""The ARI application against a real Asterisk that is not there yet, and a
websocket that drops while a caller waits in the queue."""
from __future__ import annotations

import logging
import subprocess

import pytest
from sqlalchemy import select, update

from db.models import CallRecord, User
from ivr.app import load as load_ari_app
from ivr.pbx.instance import ManagedAsterisk
from ivr.pbx.provision import ensure_root
from support import asterisk as pbx_support
from support.waiting import wait_for as _wait_for
from support.sipp import SippCaller, SippPhone

pytestmark = pytest.mark.e2e


@pytest.fixture
def pbx(tmp_path):
    ensure_root(pbx_support.test_root())
    ast = ManagedAsterisk(pbx_support.asterisk_config(), instance_dir_name=f"test-resil-{tmp_path.name[-20:]}",
                          prompts_dir=pbx_support.test_prompts_dir())
    ast.stop()
    yield ast
    ast.stop()


@pytest.fixture
def ari_app(config, call_center, bus, pbx):
    config["acd"]["ring_timeout"] = 5.0
    app = load_ari_app(config, call_center, bus, pbx.ari_url, pbx.ari_user, pbx.ari_password)
    yield app
    app.stop()


def test_waits_for_asterisk_with_a_clear_message_then_connects(ari_app, pbx, caplog):
    caplog.set_level(logging.WARNING, logger="ivr.connection")
    ari_app.start()
    assert not ari_app.wait_connected(1.5)
    assert any("not reachable" in r.getMessage() and pbx.ari_url in r.getMessage() for r in caplog.records)
    pbx.start()
    assert ari_app.wait_connected(20), "the application must connect once Asterisk is up"


def test_dropped_websocket_reconnects_and_the_queued_caller_is_served(ari_app, pbx, call_center, db):
    factory, _ = db
    pbx.start()
    ari_app.start()
    assert ari_app.wait_connected(20)
    with SippPhone(mode="answer", ring_seconds=0.3, talk_seconds=10) as phone, \
            SippCaller(pbx.sip_uri("1600"), digits="100100#", display_name="Patient",
                       caller_number="0701231234", pause_before_digits=0.5, hold_seconds=25) as caller:
        with factory.begin() as s:
            s.execute(update(User).where(User.username == "agent1").values(phone=phone.dial_string("1001")))

        def call_row():
            with factory() as s:
                return s.scalar(select(CallRecord).where(CallRecord.caller_number == "0701231234"))
        wait_for(lambda: call_row() is not None and call_row().outcome == "queued", what="queued call")
        before = ari_app.supervisor.connections
        # Cut every TCP connection to Asterisk's HTTP port, as a slow consumer's
        # websocket being closed by Asterisk would look from our side.
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{pbx.http_port}"],
                       check=True, capture_output=True)
        wait_for(lambda: ari_app.supervisor.connections > before and ari_app.supervisor.connected.is_set(),
                 what="reconnection")
        assert ari_app.call_count() == 1, "the queued call is kept across the reconnection"
        call_center.set_agent_state(1, "ready")
        wait_for(lambda: call_row().outcome == "talking", what="the caller reaching agent1")
        assert phone.calls_received() == 1
        caller.stop()


def test_asterisk_killed_while_a_call_waits_the_call_is_stored_as_lost(ari_app, pbx, db):
    """A crash, not a clean stop: Asterisk gets no chance to hang anybody up.  The
    application notices the new start-up time on reconnection and ends the call."""
    import os
    import signal

    factory, _ = db
    pbx.start()
    ari_app.start()
    assert ari_app.wait_connected(20)
    with SippCaller(pbx.sip_uri("1600"), digits="100200#", display_name="Crash",
                    caller_number="0709990000", pause_before_digits=0.5, hold_seconds=25) as caller:
        def call_row():
            with factory() as s:
                return s.scalar(select(CallRecord).where(CallRecord.caller_number == "0709990000"))
        wait_for(lambda: call_row() is not None and call_row().outcome == "queued", what="queued call")
        before = ari_app.supervisor.connections
        os.kill(pbx.pid, signal.SIGKILL)
        pbx.stop()  # reaps the killed process
        pbx.start()
        wait_for(lambda: ari_app.supervisor.connections > before and ari_app.supervisor.connected.is_set(),
                 timeout=30, what="reconnection")
        wait_for(lambda: call_row().ended_at is not None, what="the call's end stored")
        caller.stop()
    row = call_row()
    assert (row.outcome, row.end_reason) == ("lost", "pbx_lost")
    assert ari_app.call_count() == 0


def wait_for(predicate, timeout=15.0, step=0.1, what="condition"):
    return _wait_for(predicate, timeout, step, what)
