"""Time source passed to services so tests can control it."""
from __future__ import annotations

import datetime as dt
from typing import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Naive UTC, the form the database stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
