"""The timer runner: one thread that asks ``EscalationService.run_due`` for the
due timers of the persisted schedule every ``poll_seconds``.

Nothing is kept in memory: the due times are rows (``db.models.ScheduledJob``),
so a restart loses no timer and fires the overdue ones at the first poll.
The clock is injected (tests move it and call ``poke()`` to poll at once).
Started and stopped (joined) by ``ivr.system.System``.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

from cti.clock import Clock, utc_now

log = logging.getLogger(__name__)


class TimerRunner:
    def __init__(self, service, poll_seconds: float = 5.0, clock: Clock = utc_now, name: str = "escalation-timers"):
        self._service = service
        self._poll_s = max(0.05, float(poll_seconds))
        self._now = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._name = name     # thread and log name: the survey runner reuses this class
        self.polls = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Poll now (the clock moved, or a timer was set that is due already)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # pragma: no cover - a database call hanging for ages
                log.warning("%s runner did not stop within %.0f s", self._name, timeout)

    def run_once(self) -> list:
        try:
            return self._service.run_due(self._now())
        except Exception:  # noqa: BLE001 - the next poll tries again; the timers stay pending
            log.exception("%s failed", self._name)
            return []
        finally:
            self.polls += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.run_once()
            self._wake.wait(self._poll_s)
            self._wake.clear()
