"""SMS as SIP MESSAGE through Asterisk: the default gateway of cti/sms.py.

Out: ARI ``PUT /endpoints/sendMessage`` (res_pjsip_messaging sends a SIP MESSAGE),
to the customer's number on the same route as callbacks (``[acd] callback_dial``,
or ``[sms] sip_to``).  Asterisk answers 202 once the message is handed to PJSIP;
whether the far end took it is not reported back to ARI.

In: Asterisk hands a SIP MESSAGE to the dialplan of the endpoint's
``message_context`` and to any ARI application subscribed to the endpoint.  Our
endpoints' message context is empty (ivr/pbx/templates), and a second ARI
application, ``[sms] ari_app`` (its own websocket, so the call application never
sees the channel events an endpoint subscription brings), subscribes to
``[sms] event_source`` (``endpoint:PJSIP``: every PJSIP endpoint) and filters its
events down to ``TextMessageReceived``.  Each message goes to the inbound handler
(``cti.sms.SmsService.receive``) in arrival order, off the websocket reader.
tests/test_e2e_sms.py checks this on Asterisk 22 (docs/sms.md).
"""
from __future__ import annotations

import logging
import math
import re
import threading
from typing import Any, Optional

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx

from cti.sms import InboundHandler, InboundSms, SmsError, SmsSendError, clean_number
from ivr.ari_events import AriEvent
from ivr.connection import AriSupervisor

log = logging.getLogger(__name__)

TEXT_MESSAGE_RECEIVED = "TextMessageReceived"
_SIP_USER = re.compile(r"(?:sips?|pjsip|tel):\+?([^@;>]*)", re.IGNORECASE)


def message_destination(number: str, sip_to: str = "", callback_dial: str = "PJSIP/{number}") -> str:
    """Where a customer's number is sent (res_pjsip_messaging's ``to``).

    ``sip_to`` (e.g. ``pjsip:trunk/sip:{number}@sms.example``) wins; else the
    callback dial string is turned into its messaging form: ``PJSIP/{number}`` ->
    ``pjsip:{number}`` (an endpoint), ``PJSIP/phones/sip:{number}@host`` ->
    ``pjsip:phones/sip:{number}@host`` (endpoint/URI), ``PJSIP/{number}@trunk`` ->
    ``pjsip:PJSIP/{number}@trunk`` (Asterisk's dial-string form).  Only plain numbers
    are put in (cti.sms.clean_number)."""
    number = clean_number(number)
    if sip_to:
        return sip_to.format(number=number)
    if not callback_dial.upper().startswith("PJSIP/"):
        raise SmsError(f"cannot send SIP MESSAGEs on the route {callback_dial!r}: set [sms] sip_to")
    rest = callback_dial[len("PJSIP/"):].format(number=number)
    if "/" not in rest and "@" in rest:
        return "pjsip:PJSIP/" + rest
    return "pjsip:" + rest


def sender_number(from_header: str) -> str:
    """The customer's number from a MESSAGE's From (``"Kim" <sip:0101234@host>``,
    ``sip:+8210...@host``, ``pjsip:...``); '' when there is none."""
    match = _SIP_USER.search(from_header or "")
    if not match:
        return ""
    user = match.group(1)
    plus = "+" if re.search(r"(?:sips?|pjsip|tel):\+", from_header or "", re.IGNORECASE) else ""
    try:
        return clean_number(plus + user)
    except SmsError:
        return ""


class SipMessageGateway:
    """cti.sms.SmsGateway over Asterisk.  ``start()`` opens the receiving ARI
    application on its own event-loop thread; ``stop()`` closes it and joins the
    thread.  ``send`` is a plain HTTP request and may be called from any thread."""

    name = "sip"

    def __init__(self, ari_url: str, ari_user: str, ari_password: str, sms_config: dict,
                 callback_dial: str = "PJSIP/{number}", backoff_max: float = 10.0, timeout: float = 10.0):
        self._url = ari_url if ari_url.endswith("/") else ari_url + "/"
        self._auth = (ari_user, ari_password)
        self._cfg = sms_config
        self._callback_dial = callback_dial
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._handler: Optional[InboundHandler] = None
        self._portal_cm = None
        self._portal: Optional[anyio.from_thread.BlockingPortal] = None
        self._main_future = None
        self._stop_event: Optional[anyio.Event] = None
        self.supervisor: Optional[AriSupervisor] = None
        self.subscribed = threading.Event()   # set once the subscription is in place (tests wait for it)

    @property
    def app_name(self) -> str:
        return self._cfg.get("ari_app") or "happycall-sms"

    # --- out ------------------------------------------------------------------------
    def send(self, to: str, text: str, sender: str) -> str:
        destination = message_destination(to, self._cfg.get("sip_to", ""), self._callback_dial)
        from_uri = (self._cfg.get("sip_from") or "sip:{sender}@127.0.0.1").format(sender=clean_number(sender))
        try:
            response = httpx.put(f"{self._url}ari/endpoints/sendMessage", auth=self._auth, timeout=self._timeout,
                                 params={"to": destination, "from": from_uri, "body": text})
        except httpx.HTTPError as exc:
            raise SmsSendError(f"Asterisk ARI at {self._url} not reachable: {exc}") from exc
        if response.status_code not in (200, 202, 204):
            raise SmsSendError(f"Asterisk refused the message to {destination}: HTTP {response.status_code} "
                               f"{response.text[:200]}")
        return destination

    # --- in -------------------------------------------------------------------------
    def set_inbound_handler(self, handler: InboundHandler) -> None:
        self._handler = handler

    def start(self) -> None:
        if self._portal is not None:
            return
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        ready = threading.Event()
        self._main_future = self._portal.start_task_soon(self._main, ready)
        ready.wait(10)

    def stop(self) -> None:
        if self._portal is None:
            return
        try:
            self._portal.call(self._stop_event.set)
            self._main_future.result(timeout=15)
        except Exception:
            log.exception("the SMS receiver did not stop cleanly")
        finally:
            self._portal_cm.__exit__(None, None, None)   # joins the loop thread
            self._portal = None

    def wait_subscribed(self, timeout: float = 30.0) -> bool:
        return self.subscribed.wait(timeout)

    async def _main(self, ready: threading.Event) -> None:
        self._stop_event = anyio.Event()
        send, receive = anyio.create_memory_object_stream[InboundSms](math.inf)

        def on_event(event: AriEvent) -> None:
            inbound = self._inbound(event.raw)
            if inbound is not None:
                send.send_nowait(inbound)

        async with anyio.create_task_group() as tg:
            self.supervisor = AriSupervisor(
                self._url, self._auth[0], self._auth[1], self.app_name, on_connected=self._on_connected,
                on_event=on_event, on_disconnected=self.subscribed.clear,
                backoff_max=self._backoff_max, event_types=frozenset({TEXT_MESSAGE_RECEIVED}))
            tg.start_soon(self.supervisor.run)
            tg.start_soon(self._deliver, receive)
            ready.set()
            await self._stop_event.wait()
            tg.cancel_scope.cancel()

    async def _on_connected(self, _telephony: Any) -> None:
        """On every (re)connection: subscribe to the endpoints' messages and keep
        only text-message events (the endpoint subscription would also bring every
        channel event of those endpoints)."""
        await anyio.to_thread.run_sync(self._subscribe)
        self.subscribed.set()

    def _subscribe(self) -> None:
        base = f"{self._url}ari/applications/{self.app_name}"
        source = self._cfg.get("event_source") or "endpoint:PJSIP"
        response = httpx.post(f"{base}/subscription", params={"eventSource": source}, auth=self._auth,
                              timeout=self._timeout)
        response.raise_for_status()
        response = httpx.put(f"{base}/eventFilter", json={"allowed": [{"type": TEXT_MESSAGE_RECEIVED}]},
                             auth=self._auth, timeout=self._timeout)
        if response.status_code >= 300:
            # Older Asterisk (< 16): no filters; the extra events are dropped unread.
            log.info("ARI event filter not set (HTTP %s); extra events are dropped", response.status_code)
        log.info("SMS: ARI application %r subscribed to %s", self.app_name, source)

    def _inbound(self, raw: dict) -> Optional[InboundSms]:
        message = raw.get("message") or {}
        raw_from = str(message.get("from") or "")
        return InboundSms(sender=sender_number(raw_from) or raw_from, text=str(message.get("body") or ""),
                          gateway=self.name, raw_from=raw_from)

    async def _deliver(self, receive) -> None:
        """One message at a time, in arrival order (a duplicate is recognised against
        the one stored just before it), in a worker thread (the handler writes to the
        database)."""
        async with receive:
            async for inbound in receive:
                if self._handler is None:
                    log.warning("SMS from %s dropped: no inbound handler", inbound.raw_from)
                    continue
                try:
                    await anyio.to_thread.run_sync(self._handler, inbound)
                except Exception:
                    log.exception("SMS from %s could not be stored", inbound.raw_from)
