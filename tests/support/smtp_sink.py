"""An aiosmtpd SMTP server on a free loopback port that keeps what it receives
(for tests of outgoing notification e-mail)."""
from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
from typing import Iterator

from aiosmtpd.controller import Controller


class _Keep:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        with self.changed:
            self.messages.append(msg)
            self.changed.notify_all()
        return "250 OK"


class SmtpSink:
    def __init__(self, handler: _Keep, port: int):
        self._handler = handler
        self.host, self.port = "127.0.0.1", port

    @property
    def messages(self):
        with self._handler.changed:
            return list(self._handler.messages)

    def wait(self, count: int, timeout: float = 5.0):
        with self._handler.changed:
            assert self._handler.changed.wait_for(lambda: len(self._handler.messages) >= count, timeout), \
                self._handler.messages
            return list(self._handler.messages)

    def mail_config(self) -> dict:
        return {"host": self.host, "port": self.port, "sender": "helpdesk@example.com", "starttls": False,
                "user": "", "password": "", "timeout": 5.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    handler = _Keep()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(handler, port)
    finally:
        controller.stop()
