"""The SMTP listener for the centre's address (aiosmtpd).

aiosmtpd runs its own asyncio loop in one thread (its ``Controller``); ``stop()``
joins that thread and the small pool that runs the (blocking) database work, so
nothing is left running.  Only the centre's address (and the ``also_accept``
addresses: the service centres' own, where survey replies go) is accepted as a
recipient (550 for any other: this is not a relay).  Each message goes to
``IntakeService.receive_email``; a refusal comes back as its SMTP reply (552 too
big, 554 malformed); anything unexpected is logged and answered 451 (the sender
retries later), never crashing the listener.

Size: the service refuses above ``max_bytes`` with its own 552 and a log line;
aiosmtpd itself stops reading at twice that (``data_size_limit``, also advertised
as the EHLO SIZE), so a huge message never fills the memory.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from aiosmtpd.controller import Controller

from cti.intake.service import IntakeService, Refused

log = logging.getLogger(__name__)


class _Handler:
    def __init__(self, intake: IntakeService, addresses: frozenset[str], executor: ThreadPoolExecutor):
        self._intake = intake
        self._addresses = addresses
        self._executor = executor

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.strip().lower() not in self._addresses:
            log.info("SMTP recipient %r refused (not the centre's address)", address[:254])
            return "550 5.1.1 No such mailbox here; this server only accepts mail for the help desk"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, self._intake.receive_email, raw,
                                                envelope.mail_from or "")
        except Refused as exc:
            return exc.smtp_reply
        except Exception:  # noqa: BLE001 - the listener keeps serving; the sender retries
            log.exception("e-mail from %r could not be stored", (envelope.mail_from or "")[:254])
            return "451 4.3.0 Temporary failure storing the message; try again later"
        return f"250 2.0.0 OK: {result.incident_id}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SmtpListener:
    def __init__(self, intake: IntakeService, host: str, port: int, address: str, also_accept: tuple[str, ...] = ()):
        self.host = host
        self.port = int(port) or _free_port(host)   # 0: any free port (tests)
        self.address = address
        self.addresses = frozenset(a.strip().lower() for a in (address, *also_accept) if a and "@" in a)
        self._intake = intake
        self._executor: Optional[ThreadPoolExecutor] = None
        self._controller: Optional[Controller] = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smtp-intake")
        handler = _Handler(self._intake, self.addresses, self._executor)
        self._controller = Controller(handler, hostname=self.host, port=self.port,
                                      data_size_limit=2 * self._intake.max_bytes, server_hostname="happycall",
                                      ident="HappyCall help desk")
        try:
            self._controller.start()
        except BaseException:
            self._controller = None
            self._executor.shutdown(wait=True)
            self._executor = None
            raise
        log.info("SMTP intake for %s listening on %s:%d", self.address, self.host, self.port)

    def stop(self) -> None:
        """Stop accepting, end the loop thread and the worker pool (joined)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @property
    def running(self) -> bool:
        return self._controller is not None
