"""SMS: the gateway plug-in point, the HTTP gateway, and the service that keeps
every message and recognises duplicates.

A gateway is anything with ``send(to, text, sender) -> reference`` (raising
:class:`SmsSendError` when the message did not leave) and
``set_inbound_handler(handler)``: it calls ``handler(InboundSms)`` for each message
a customer sends.  ``[sms] gateway`` chooses it:

* ``sip`` (default): SIP MESSAGE through Asterisk (``ivr/sms.py``; needs the ARI
  connection, so it is built on the telephony side);
* ``http``: :class:`HttpSmsGateway`, a POST of JSON to ``[sms] http_url``.

:class:`SmsService` is what the rest of the centre uses: ``send`` stores the
outgoing message with its result; ``receive`` (the gateways' inbound handler)
stores the incoming one and publishes ``sms.received`` {id, from, text,
received_at} - or, when the same sender sent the same text within
``[sms] duplicate_window_seconds``, marks it a duplicate and publishes
``sms.duplicate`` instead, so a reply counted once is never counted again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import unicodedata
from typing import Any, Callable, Optional, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cti import events
from cti.clock import Clock, utc_now
from db.models import SmsMessage

log = logging.getLogger(__name__)

SMS_RECEIVED = "sms.received"     # {id, from, text, received_at, gateway}
SMS_DUPLICATE = "sms.duplicate"   # {id, from, text, received_at, gateway, duplicate_of}
SMS_SENT = "sms.sent"             # {id, to, status, error}

MAX_TEXT = 2000            # longer texts are refused (send) or cut (receive): an SMS is short
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")


class SmsError(ValueError):
    """A message that cannot be sent as asked (bad number, empty text)."""


class SmsSendError(RuntimeError):
    """The gateway did not take the message."""


@dataclasses.dataclass(frozen=True)
class InboundSms:
    sender: str                       # the customer's number (plain digits, '+')
    text: str
    received_at: Optional[dt.datetime] = None
    gateway: str = ""
    raw_from: str = ""                # what the gateway said the sender was (for the log)


InboundHandler = Callable[[InboundSms], Any]


class SmsGateway(Protocol):
    name: str

    def send(self, to: str, text: str, sender: str) -> str: ...

    def set_inbound_handler(self, handler: InboundHandler) -> None: ...


def clean_number(number: str) -> str:
    """A phone number as gateways and dial strings take it: digits, '+', '*', '#'
    (spaces, dashes, dots and brackets dropped).  Raises SmsError otherwise."""
    text = re.sub(r"[\s\-.()]", "", str(number or ""))
    if not _NUMBER.match(text):
        raise SmsError(f"not a phone number: {number!r}")
    return text


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text or "")).strip()
    if not text:
        raise SmsError("the message is empty")
    if len(text) > MAX_TEXT:
        raise SmsError(f"the message is longer than {MAX_TEXT} characters")
    return text


class HttpSmsGateway:
    """An SMS provider reached over HTTP: ``POST url`` with JSON
    ``{"to", "text", "sender"}`` and ``Authorization: Bearer <token>``; any 2xx is
    accepted and the JSON answer's ``id`` (if any) is the reference.  Inbound
    messages come to :meth:`deliver` (a provider's webhook would call it)."""

    name = "http"

    def __init__(self, url: str, token: str = "", timeout: float = 10.0,
                 transport: Optional[httpx.BaseTransport] = None):
        if not url.startswith(("http://", "https://")):
            raise SmsError(f"[sms] http_url must be an http(s) URL, not {url!r}")
        self._url = url
        self._token = token
        self._timeout = timeout
        self._transport = transport
        self._handler: Optional[InboundHandler] = None

    def send(self, to: str, text: str, sender: str) -> str:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(self._url, json={"to": to, "text": text, "sender": sender},
                                       headers=headers)
        except httpx.HTTPError as exc:
            raise SmsSendError(f"SMS gateway {self._url} not reachable: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SmsSendError(f"SMS gateway answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        return str(body.get("id", "")) if isinstance(body, dict) else ""

    def set_inbound_handler(self, handler: InboundHandler) -> None:
        self._handler = handler

    def deliver(self, payload: dict) -> Any:
        """One inbound message as the provider posts it: ``{"from", "text"}``."""
        if self._handler is None:
            raise SmsSendError("no inbound handler registered")
        if not isinstance(payload, dict):
            raise SmsError("an inbound message is a JSON object")
        return self._handler(InboundSms(sender=str(payload.get("from", "")), text=str(payload.get("text", "")),
                                        gateway=self.name, raw_from=str(payload.get("from", ""))))


def http_gateway_from_config(section: dict) -> HttpSmsGateway:
    if not section.get("http_url"):
        raise SmsError("[sms] gateway = 'http' needs [sms] http_url")
    return HttpSmsGateway(section["http_url"], section.get("http_token", ""),
                          float(section.get("http_timeout", 10.0)))


class SmsService:
    """Every SMS in and out, stored; duplicates recognised; the bus told."""

    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, gateway: Optional[SmsGateway],
                 default_sender: str = "", duplicate_window_seconds: float = 600.0, clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self._now = clock
        self._sender = default_sender
        self._window = dt.timedelta(seconds=float(duplicate_window_seconds))
        self.gateway = None
        if gateway is not None:
            self.attach(gateway)

    def attach(self, gateway: SmsGateway) -> None:
        """Use ``gateway`` from now on (outgoing) and take its incoming messages."""
        self.gateway = gateway
        gateway.set_inbound_handler(self.receive)

    # --- out ------------------------------------------------------------------------
    def send(self, to: str, text: str, sender: str = "") -> dict[str, Any]:
        """Send one message; returns {id, status: sent|failed, reference, error}.
        A bad number or text raises SmsError and nothing is stored; a gateway
        failure is stored as ``failed`` with the reason (the caller decides whether
        to try again) and never raises."""
        to, text = clean_number(to), clean_text(text)
        sender = sender or self._sender
        status, reference, error = "sent", "", ""
        if self.gateway is None:
            status, error = "failed", "no SMS gateway is running"
        else:
            try:
                reference = self.gateway.send(to, text, sender)
            except SmsSendError as exc:
                status, error = "failed", str(exc)
        gateway_name = getattr(self.gateway, "name", "")
        with self._sessions.begin() as s:
            row = SmsMessage(direction="out", number=to, text=text, sender=sender[:64], gateway=gateway_name,
                             status=status, reference=reference[:128], error=error[:1000], at=self._now())
            s.add(row)
            s.flush()
            message_id = row.id
        if status == "failed":
            log.warning("SMS %s to %s not sent: %s", message_id, to, error)
        result = {"id": message_id, "to": to, "status": status, "reference": reference, "error": error}
        self._bus.publish(SMS_SENT, result)
        return result

    # --- in -------------------------------------------------------------------------
    def receive(self, message: InboundSms) -> dict[str, Any]:
        """Store one incoming message and publish it (``sms.received``), or mark it
        a duplicate of the same sender's same text within the window
        (``sms.duplicate``).  A message with no usable sender or no text is
        stored as ``rejected`` (nothing lost) and published nowhere."""
        now = self._now()
        at = message.received_at or now
        text = unicodedata.normalize("NFC", message.text or "").strip()[:MAX_TEXT]
        try:
            number = clean_number(message.sender)
        except SmsError:
            number = ""
        status = "received" if number and text else "rejected"
        with self._sessions.begin() as s:
            original = self._same_message(s, number, text, at) if status == "received" else None
            if original is not None:
                status = "duplicate"
            row = SmsMessage(direction="in", number=number or str(message.sender)[:64], text=text,
                             gateway=message.gateway[:16], status=status, at=at,
                             duplicate_of_id=original, error="" if number and text else
                             f"unusable sender {message.raw_from or message.sender!r} or empty text")
            s.add(row)
            s.flush()
            payload = {"id": row.id, "from": number, "text": text, "received_at": at.isoformat() + "Z",
                       "gateway": message.gateway}
        if status == "received":
            self._bus.publish(SMS_RECEIVED, payload)
        elif status == "duplicate":
            log.info("SMS %s from %s is a duplicate of %s", payload["id"], number, original)
            self._bus.publish(SMS_DUPLICATE, {**payload, "duplicate_of": original})
        else:
            log.warning("SMS %s rejected: sender %r, %d characters", payload["id"], message.sender, len(text))
        return {**payload, "status": status, "duplicate_of": original}

    def _same_message(self, s, number: str, text: str, at: dt.datetime) -> Optional[int]:
        """The first message this sender sent with this text within the window before ``at``."""
        return s.scalar(select(SmsMessage.id).where(
            SmsMessage.direction == "in", SmsMessage.number == number, SmsMessage.text == text,
            SmsMessage.status == "received", SmsMessage.at >= at - self._window, SmsMessage.at <= at)
            .order_by(SmsMessage.at).limit(1))

    def messages(self, number: Optional[str] = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest messages (of one number), newest first."""
        with self._sessions() as s:
            query = select(SmsMessage).order_by(SmsMessage.at.desc(), SmsMessage.id.desc()).limit(limit)
            if number:
                query = query.where(SmsMessage.number == clean_number(number))
            return [{"id": m.id, "direction": m.direction, "number": m.number, "text": m.text,
                     "status": m.status, "at": m.at.isoformat() + "Z", "duplicate_of": m.duplicate_of_id,
                     "gateway": m.gateway, "error": m.error} for m in s.scalars(query)]


def build_gateway(section: dict, sip_gateway: Optional[Callable[[], SmsGateway]] = None) -> SmsGateway:
    """The gateway ``[sms] gateway`` names.  ``sip_gateway`` makes the SIP MESSAGE
    one (the telephony side passes it; cti/ has no Asterisk imports)."""
    kind = section.get("gateway", "sip")
    if kind == "http":
        return http_gateway_from_config(section)
    if kind == "sip":
        if sip_gateway is None:
            raise SmsError("[sms] gateway = 'sip' needs the telephony side (ivr.sms)")
        return sip_gateway()
    raise SmsError(f"[sms] gateway must be 'sip' or 'http', not {kind!r}")
