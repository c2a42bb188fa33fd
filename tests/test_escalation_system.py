"""The system factory builds the escalation service once, starts the timer
runner with the database and joins its thread at shutdown."""
from __future__ import annotations

import threading

from cti.config import load
from ivr.system import System


def test_timer_runner_started_with_the_database_and_joined_at_stop(tmp_path):
    config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "data")},
                                         "escalation": {"poll_seconds": 0.05}})
    system = System(config, echo=lambda *_: None)
    system.start_database()
    system.start_timers()
    runner = system.timers
    try:
        assert runner.running
        assert any(t.name == "escalation-timers" for t in threading.enumerate())
        assert system.escalation.groups()                       # the same database, seeded
    finally:
        system.stop()
    assert not runner.running and system.timers is None
    assert not any(t.name == "escalation-timers" for t in threading.enumerate())


def test_timers_can_be_switched_off(tmp_path):
    config = load(environ={}, overrides={"data": {"dir": str(tmp_path / "data")},
                                         "escalation": {"enabled": False}})
    system = System(config, echo=lambda *_: None)
    system.start_database()
    system.start_timers()
    try:
        assert system.timers is None
    finally:
        system.stop()
