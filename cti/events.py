"""In-process event bus.

Services publish plain dicts on named topics; the desktop notifier and the ARI
application subscribe.  Handlers run in the publisher's thread, in subscription
order; a failing handler is logged and does not stop the others.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable

Handler = Callable[[str, dict[str, Any]], None]

log = logging.getLogger(__name__)

# Topics, listed in one place.
SCREENPOP = "screenpop"            # {agent_id, pop}
AGENT_STATE = "agent.state"        # {agent_id, state, reason}
TICKET_UPDATED = "ticket.updated"  # {ticket_id, status, agent_id}
CALL_UPDATED = "call.updated"      # {channel_id, outcome, ticket_id, agent_id}


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        with self._lock:
            self._handlers[topic].append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers[topic]:
                    self._handlers[topic].remove(handler)
        return unsubscribe

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the rest
                log.exception("event handler %r failed for %s", handler, topic)
