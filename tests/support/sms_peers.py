"""SIPp peers for text messages: a customer phone that takes SIP MESSAGEs and a
customer who sends one (scenarios in ivr/demo/scenarios/message_*.xml)."""
from __future__ import annotations

import re

from ivr.demo.peers import _Sipp, render


class SippMessageReceiver(_Sipp):
    """Answers ``messages`` SIP MESSAGEs with 200 on ``127.0.0.1:port``, then ends."""

    name = "sms-receiver"

    def __init__(self, messages: int = 1, port: int | None = None, timeout: float = 60.0) -> None:
        self.count = messages
        super().__init__(port, None, timeout)

    @property
    def port(self) -> int:
        return self.local_port

    def _scenario(self) -> str:
        return render("message_receive.xml", {})

    def _args(self) -> list[str]:
        return ["-m", str(self.count)]

    def received(self) -> list[str]:
        """The MESSAGE requests seen so far (request line, headers and body)."""
        return [block for block in re.split(r"\n-{10,}.*\n", self.messages()) if "MESSAGE sip:" in block]


class SippMessageSender(_Sipp):
    """Sends one SIP MESSAGE with ``text`` from ``caller_number`` to ``target``
    (``sip:1650@127.0.0.1:5060``); succeeds on 200 or 202."""

    name = "sms-sender"

    def __init__(self, target: str, text: str, caller_number: str = "0101234567", timeout: float = 15.0) -> None:
        if any(c in text for c in "[]@\r\n") or "]]>" in text or not text:
            raise ValueError("the test text may not be empty nor contain [ ] @ or line breaks")
        if not re.match(r"^\+?[0-9]{1,32}$", caller_number):
            raise ValueError(f"bad caller number {caller_number!r}")
        user, _, host = target.removeprefix("sip:").partition("@")
        self.remote, self.service = host.split(";")[0], user
        self.text = text
        self.caller_number = caller_number
        super().__init__(None, None, timeout)

    def _scenario(self) -> str:
        return render("message_send.xml", {"TEXT": self.text})

    def _args(self) -> list[str]:
        return ["-s", self.service, "-m", "1", "-l", "1", "-set", "caller", self.caller_number, self.remote]
