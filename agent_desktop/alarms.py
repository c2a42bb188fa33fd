"""Early warning on the desktop (docs/alarms.md).

* ``POST /hooks/alarms`` - the machine-to-machine webhook: the body is signed with
  HMAC-SHA256 under ``[alarms] secret`` (header ``X-HappyCall-Signature:
  sha256=<hex>``, compared in constant time; without a configured secret one is
  generated into ``<data dir>/alarm-secret``).  No signature: 401; a wrong one: 403; both logged with the client address and nothing stored.
  Too large: 413; malformed JSON or fields: 400 with the reason.  CSRF-exempt (no
  browser session is involved; the signature is the authentication).
* The banner: every logged-in page carries the open major alarms as JSON
  (``alarm_banner()`` in templates/base.html) and ``static/js/alarms.js`` renders them
  with textContent, so the banner survives a reload; ``AlarmNotifier`` pushes each
  change (Socket.IO event ``alarm``) to every connected desktop and wallboard.
* Supervisors acknowledge or close an alarm and call the customer's IT contact into
  the hot line (JSON posts with the CSRF header).

All logic is in ``cti.alarms.AlarmService``.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_socketio import SocketIO

from cti.alarms import (ALARM_CLOSED, ALARM_RAISED, ALARM_UPDATED, SIGNATURE_HEADER, AlarmInputError,
                        AlarmNotAllowed, AlarmNotFound, AlarmService, AlarmStateError, parse_payload,
                        shared_secret, signature_valid)
from cti.events import EventBus

log = logging.getLogger(__name__)

EXTENSION_KEY = "happycall_alarms"
ALARM_EVENT = "alarm"     # Socket.IO, to every connected user: {event: raised|updated|closed, alarm}

bp = Blueprint("alarms", __name__)


class AlarmDesk:
    """The app's alarm service, webhook settings and notifier (on app.extensions)."""

    def __init__(self, service: AlarmService, secret: str, max_bytes: int, notifier: "AlarmNotifier"):
        self.service = service
        self.secret = secret
        self.max_bytes = max_bytes
        self.notifier = notifier


def _desk() -> AlarmDesk:
    return current_app.extensions[EXTENSION_KEY]


# ---- webhook ------------------------------------------------------------------------------------
@bp.post("/hooks/alarms")
def webhook():
    desk = _desk()
    client = request.remote_addr or "?"
    body = _read_body(desk.max_bytes)
    if body is None:
        log.warning("alarm webhook: body over %d bytes from %s refused", desk.max_bytes, client)
        return _error(413, f"the body is larger than {desk.max_bytes} bytes")
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        log.warning("alarm webhook: request without %s from %s refused", SIGNATURE_HEADER, client)
        return _error(401, f"missing {SIGNATURE_HEADER}")
    if not signature_valid(desk.secret, body, header):
        log.warning("alarm webhook: wrong signature from %s; refused", client)
        return _error(403, "signature refused")
    try:
        alarm = parse_payload(body)
    except AlarmInputError as exc:
        log.info("alarm webhook: malformed payload from %s: %s", client, exc)
        return _error(400, str(exc))
    if alarm.cleared:
        closed = desk.service.clear(alarm)
        if closed is None:
            return _error(404, "no open alarm with this source and id")
        log.info("alarm %s cleared by %s (%s)", closed, client, alarm.source)
        return jsonify(id=closed, closed=True)
    received = desk.service.receive(alarm)
    log.info("alarm %s from %s (%s, %s): %s", received.alarm_id, client, alarm.source, alarm.severity,
             "merged" if received.merged else "new")
    return jsonify(id=received.alarm_id, merged=received.merged, raised=received.raised), \
        200 if received.merged else 201


def _read_body(limit: int) -> Optional[bytes]:
    """The raw body, or None when it is over ``limit`` bytes (read at most limit + 1)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def _error(status: int, reason: str):
    return jsonify(error=reason), status


# ---- supervisors ---------------------------------------------------------------------------------
@bp.get("/alarms/open")
@login_required
def open_alarms():
    return jsonify(alarms=_desk().service.open_alarms())


@bp.post("/alarms/<int:alarm_id>/acknowledge")
@login_required
def acknowledge(alarm_id: int):
    return _act(lambda: _desk().service.acknowledge(alarm_id, current_user.id))


@bp.post("/alarms/<int:alarm_id>/close")
@login_required
def close(alarm_id: int):
    return _act(lambda: _desk().service.close(alarm_id, current_user.id))


@bp.post("/alarms/<int:alarm_id>/call-contact")
@login_required
def call_contact(alarm_id: int):
    data = request.get_json(silent=True) or {}
    number = data.get("number", "")
    if not isinstance(number, str):
        return _error(400, _("Enter a phone number."))
    return _act(lambda: _desk().service.request_contact_call(alarm_id, current_user.id, number))


def _act(action):
    if not current_user.is_supervisor:
        return _error(403, _("Only supervisors may do this."))
    try:
        return jsonify(action())
    except AlarmNotFound:
        return _error(404, _("No such alarm."))
    except AlarmNotAllowed:
        return _error(403, _("Only supervisors may do this."))
    except AlarmInputError as exc:
        return _error(400, str(exc))
    except AlarmStateError as exc:
        return _error(409, str(exc))


def banner_strings() -> dict[str, str]:
    return {
        "minor": _("Minor"), "major": _("Major"), "critical": _("Critical"),
        "acknowledge": _("Acknowledge"), "close": _("Close alarm"),
        "acknowledged_by": _("Acknowledged by {name}"), "repeated": _("received {count} times"),
        "hotline_open": _("Hot line open: dial {extension}"),
        "call_contact": _("Call IT contact into the hot line"),
        "contact_placeholder": _("IT contact number"),
        "contact_calling": _("Calling {number}…"),
        "enable_sound": _("Enable alarm sound"),
        "alarm": _("Alarm"),
        "failed": _("Could not do that: {reason}"),
    }


def _banner() -> dict[str, Any]:
    """For templates/base.html: the open alarms and the texts of the banner."""
    desk = current_app.extensions.get(EXTENSION_KEY)
    if desk is None or not current_user.is_authenticated:
        return {"alarms": [], "strings": {}, "supervisor": False, "extension": ""}
    return {"alarms": desk.service.open_alarms(), "strings": banner_strings(),
            "supervisor": bool(current_user.is_supervisor),
            "extension": current_app.config.get("HAPPYCALL_HOTLINE_EXTENSION", "")}


# ---- Socket.IO -----------------------------------------------------------------------------------
class AlarmNotifier:
    """Bus -> Socket.IO: every alarm change goes to every connected socket (only
    logged-in users can connect, see agent_desktop.sockets), desktops and wallboards
    alike.  Payloads are data; the pages set them with textContent."""

    def __init__(self, socketio: SocketIO, bus: EventBus):
        self._socketio = socketio
        self._unsubscribe = [bus.subscribe(ALARM_RAISED, self._on_change),
                             bus.subscribe(ALARM_UPDATED, self._on_change),
                             bus.subscribe(ALARM_CLOSED, self._on_change)]

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _on_change(self, topic: str, payload: dict[str, Any]) -> None:
        event = topic.rsplit(".", 1)[-1]          # raised | updated | closed
        self._socketio.emit(ALARM_EVENT, {"event": event, "alarm": payload["alarm"]}, namespace="/")


# ---- wiring ----------------------------------------------------------------------------------------
def init_app(app: Flask, socketio: SocketIO, bus: EventBus, service: Optional[AlarmService],
             config: dict, sessions) -> None:
    section = config["alarms"]
    service = service or AlarmService.from_config(sessions, bus, config)
    secret = shared_secret(str(section["secret"]), config["data"]["dir"])
    app.extensions[EXTENSION_KEY] = AlarmDesk(service, secret, int(section["max_bytes"]),
                                              AlarmNotifier(socketio, bus))
    app.config["HAPPYCALL_HOTLINE_EXTENSION"] = str(section["hotline_extension"]) if section["hotline"] else ""
    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(webhook)     # machine-to-machine: the HMAC is the authentication
    app.context_processor(lambda: {"alarm_banner": _banner})


def close_app(app: Flask) -> None:
    desk: Optional[AlarmDesk] = app.extensions.get(EXTENSION_KEY)
    if desk is not None:
        desk.notifier.close()
