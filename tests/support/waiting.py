"""Bounded waiting for the end-to-end tests."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, step: float = 0.1,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true (returned) or ``timeout``
    seconds pass (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
