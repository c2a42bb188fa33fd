"""Early warning (issue 5, docs/alarms.md): infrastructure alarms.

An alarm arrives as JSON on an authenticated webhook (``agent_desktop.alarms``).
This module holds the pure rules (signature check, payload validation, what
"major" means, the merge window) and ``AlarmService``, which stores alarms and
publishes on the bus:

* ``alarm.raised``  - a new major/critical alarm (desktops: banner and sound;
  ARI application: voice alert to the agents' phones and the hot line bridge);
* ``alarm.updated`` - an open alarm was repeated, acknowledged, or its hot line
  changed (desktops refresh the banner);
* ``alarm.closed``  - the alarm is over (banner removed, hot line closed);
* ``alarm.contact_call`` - a supervisor asks to call the customer's IT contact
  into the hot line (carried out by the ARI application).

No Flask, no Asterisk here; the clock is passed in so tests move time.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cti.clock import Clock, utc_now
from cti.secret_files import kept_secret
from cti.events import EventBus
from db.models import Alarm, User

ALARM_RAISED = "alarm.raised"          # {alarm}: a new major/critical alarm
ALARM_UPDATED = "alarm.updated"        # {alarm}: repeated, acknowledged, hot line changed
ALARM_CLOSED = "alarm.closed"          # {alarm}
CONTACT_CALL = "alarm.contact_call"    # {alarm_id, bridge_id, number, by_user_id}

SEVERITIES = ("minor", "major", "critical")
ALERTING = frozenset({"major", "critical"})      # what alerts the floor and opens a hot line
SIGNATURE_HEADER = "X-HappyCall-Signature"       # "sha256=<hex of HMAC-SHA256(secret, body)>"

MAX_SOURCE = 64
MAX_EXTERNAL_ID = 128
MAX_SYSTEM = 100
MAX_TITLE = 200
MAX_DETAIL = 4000
MAX_CONTACT = 32
FIELDS = frozenset({"source", "id", "system", "severity", "title", "detail", "contact", "status"})
STATUSES = ("active", "cleared")     # "cleared": the source says the alarm is over (source + id only)
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_NUMBER = re.compile(r"^\+?[0-9*#]{2,31}$")
# Control characters (except tab / newline in the detail) are refused: they have no
# place in an alarm and would only hide text in logs and pages.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
# Agents whose phone may get the voice alert: logged in and not on a call.
ALERTABLE_STATES = ("ready", "not_ready", "wrap_up")


class AlarmInputError(ValueError):
    """A webhook payload that cannot become an alarm; the message says why."""


class AlarmNotFound(LookupError):
    pass


class AlarmNotAllowed(PermissionError):
    pass


class AlarmStateError(ValueError):
    """The alarm is not in a state for this (already closed, no hot line)."""


@dataclass(frozen=True)
class AlarmInput:
    source: str
    external_id: str
    system: str
    severity: str
    title: str
    detail: str
    contact_number: str
    cleared: bool = False

    @property
    def alerting(self) -> bool:
        return self.severity in ALERTING


# ---- signature ------------------------------------------------------------------------------
SECRET_FILE = "alarm-secret"


def shared_secret(configured: str, data_dir: str | os.PathLike) -> str:
    """The webhook secret: ``[alarms] secret`` when set, else one generated once and
    kept in ``<data dir>/alarm-secret`` (mode 600), like the other generated secrets,
    so the monitoring systems (and ``python -m ivr.demo alarm``) can read it there."""
    if configured:
        return configured
    return kept_secret(Path(data_dir) / SECRET_FILE, lambda: secrets.token_urlsafe(32), "alarm secret")


def sign(secret: str, body: bytes) -> str:
    """The header value a sender puts on ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: Optional[str]) -> bool:
    """Constant-time comparison of the sender's header with our own HMAC of the body.
    An empty secret accepts nothing (the webhook is then off)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


# ---- payload ---------------------------------------------------------------------------------
def parse_payload(body: bytes) -> AlarmInput:
    """JSON object -> AlarmInput, or AlarmInputError with the reason."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise AlarmInputError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise AlarmInputError(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise AlarmInputError("the body must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise AlarmInputError(f"unknown field(s): {', '.join(unknown)[:200]}")
    source = _text(data, "source", MAX_SOURCE, required=True)
    if not _SOURCE.match(source):
        raise AlarmInputError("source: letters, digits and . _ : - only")
    status = _text(data, "status", 16).lower() or "active"
    if status not in STATUSES:
        raise AlarmInputError(f"status: one of {', '.join(STATUSES)}")
    if status == "cleared":
        # The end of an alarm names it by source and id; nothing else is needed.
        return AlarmInput(source=source, external_id=_text(data, "id", MAX_EXTERNAL_ID, required=True),
                          system="", severity="minor", title="", detail="", contact_number="", cleared=True)
    severity = _text(data, "severity", 16, required=True).lower()
    if severity not in SEVERITIES:
        raise AlarmInputError(f"severity: one of {', '.join(SEVERITIES)}")
    contact = _text(data, "contact", MAX_CONTACT)
    if contact and not _NUMBER.match(contact):
        raise AlarmInputError("contact: a phone number (digits, optional leading +, * and #)")
    return AlarmInput(source=source, external_id=_text(data, "id", MAX_EXTERNAL_ID),
                      system=_text(data, "system", MAX_SYSTEM, required=True), severity=severity,
                      title=_text(data, "title", MAX_TITLE, required=True),
                      detail=_text(data, "detail", MAX_DETAIL, multiline=True), contact_number=contact)


def _text(data: dict, key: str, limit: int, *, required: bool = False, multiline: bool = False) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        value = str(value)       # numeric ids from monitoring systems are fine
    if not isinstance(value, str):
        raise AlarmInputError(f"{key}: must be a string")
    value = value.strip()
    if required and not value:
        raise AlarmInputError(f"{key}: required")
    if len(value) > limit:
        raise AlarmInputError(f"{key}: at most {limit} characters")
    if (_CONTROL if multiline else _CONTROL_LINE).search(value):
        raise AlarmInputError(f"{key}: control characters are not allowed")
    return value


def merges_with(existing_source: str, existing_external_id: str, last_received_at: dt.datetime,
                closed: bool, incoming: AlarmInput, now: dt.datetime, window: dt.timedelta) -> bool:
    """Is ``incoming`` a repeat of an existing alarm?  Same source and external id
    (both given), still open, last heard within the window."""
    return (bool(incoming.external_id) and not closed and existing_source == incoming.source
            and existing_external_id == incoming.external_id and now - last_received_at <= window)


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def hotline_bridge_id(alarm_id: int) -> str:
    return f"hotline-{int(alarm_id)}"


@dataclass(frozen=True)
class Received:
    alarm_id: int
    merged: bool          # a repeat of an open alarm
    raised: bool          # alarm.raised was published (floor alerted)


# ---- service ---------------------------------------------------------------------------------
class AlarmService:
    """Stores alarms and publishes their changes (see the module docstring)."""

    def __init__(self, sessions: sessionmaker, bus: EventBus, *, merge_minutes: float = 10.0,
                 clock: Clock = utc_now):
        self._sessions = sessions
        self._bus = bus
        self._window = dt.timedelta(minutes=float(merge_minutes))
        self._now: Callable[[], dt.datetime] = clock

    @classmethod
    def from_config(cls, sessions: sessionmaker, bus: EventBus, config: dict, clock: Clock = utc_now
                    ) -> "AlarmService":
        return cls(sessions, bus, merge_minutes=float(config["alarms"]["merge_minutes"]), clock=clock)

    # -- intake ----------------------------------------------------------------------------
    def receive(self, alarm: AlarmInput) -> Received:
        """Store an alarm, or merge it into the open one it repeats.  The floor is
        alerted once per alarm: when a major one arrives, or when a repeat makes a
        minor one major."""
        now = self._now()
        with self._sessions.begin() as s:
            row = self._repeat_of(s, alarm, now)
            merged = row is not None
            was_alerting = merged and row.severity in ALERTING
            if merged:
                row.repeat_count += 1
                row.last_received_at = now
                row.severity = worse(row.severity, alarm.severity)
                if alarm.detail:
                    row.detail = alarm.detail
                if alarm.contact_number and not row.contact_number:
                    row.contact_number = alarm.contact_number
            else:
                row = Alarm(source=alarm.source, external_id=alarm.external_id, system=alarm.system,
                            severity=alarm.severity, title=alarm.title, detail=alarm.detail,
                            contact_number=alarm.contact_number, received_at=now, last_received_at=now)
                s.add(row)
            s.flush()
            raised = row.severity in ALERTING and not was_alerting
            view = _view(row, s)
        if raised:
            self._bus.publish(ALARM_RAISED, {"alarm": view})
        elif merged:
            self._bus.publish(ALARM_UPDATED, {"alarm": view})
        return Received(view["id"], merged, raised)

    def clear(self, alarm: AlarmInput) -> Optional[int]:
        """The source says its alarm (source + id) is over: the open alarm is closed
        (by nobody: ``closed_by_id`` stays empty), its hot line with it.  Returns its id,
        or None when no open alarm has that source and id."""
        with self._sessions.begin() as s:
            row = s.scalars(select(Alarm).where(Alarm.source == alarm.source,
                                                Alarm.external_id == alarm.external_id,
                                                Alarm.closed_at.is_(None))
                            .order_by(Alarm.id.desc()).limit(1)).first()
            if row is None:
                return None
            row.closed_at = self._now()
            view = _view(row, s)
        self._bus.publish(ALARM_CLOSED, {"alarm": view})
        return view["id"]

    def _repeat_of(self, s, alarm: AlarmInput, now: dt.datetime) -> Optional[Alarm]:
        if not alarm.external_id:
            return None
        row = s.scalars(select(Alarm).where(Alarm.source == alarm.source,
                                            Alarm.external_id == alarm.external_id,
                                            Alarm.closed_at.is_(None))
                        .order_by(Alarm.id.desc()).limit(1)).first()
        if row is None or not merges_with(row.source, row.external_id, row.last_received_at, False,
                                          alarm, now, self._window):
            return None
        return row

    # -- supervisors -------------------------------------------------------------------------
    def acknowledge(self, alarm_id: int, user_id: int) -> dict[str, Any]:
        now = self._now()
        with self._sessions.begin() as s:
            row, user = self._row_for_supervisor(s, alarm_id, user_id)
            if row.acknowledged_at is None:
                row.acknowledged_at = now
                row.acknowledged_by_id = user.id
            view = _view(row, s)
        self._bus.publish(ALARM_UPDATED, {"alarm": view})
        return view

    def close(self, alarm_id: int, user_id: int) -> dict[str, Any]:
        """A supervisor closes an alarm (and so its hot line)."""
        now = self._now()
        with self._sessions.begin() as s:
            row, _user = self._row_for_supervisor(s, alarm_id, user_id)
            row.closed_by_id = user_id
            row.closed_at = now
            view = _view(row, s)
        self._bus.publish(ALARM_CLOSED, {"alarm": view})
        return view

    def request_contact_call(self, alarm_id: int, user_id: int, number: str) -> dict[str, Any]:
        """Ask the telephony side to call ``number`` (the customer's IT contact; the
        alarm's contact when empty) into the alarm's hot line."""
        number = (number or "").strip()
        with self._sessions() as s:
            row, _user = self._row_for_supervisor(s, alarm_id, user_id)
            number = number or row.contact_number
            if not number or not _NUMBER.match(number):
                raise AlarmInputError("a phone number: digits, optional leading +, * and #")
            if row.hotline_state != "open":
                raise AlarmStateError("the alarm has no open hot line")
            request = {"alarm_id": row.id, "bridge_id": row.hotline_bridge_id, "number": number,
                       "by_user_id": int(user_id)}
        self._bus.publish(CONTACT_CALL, request)
        return request

    def _row_for_supervisor(self, s, alarm_id: int, user_id: int) -> tuple[Alarm, User]:
        user = s.get(User, int(user_id))
        if user is None or not user.active or user.role not in SUPERVISOR_ROLES:
            raise AlarmNotAllowed("only supervisors and admins may do this")
        row = s.get(Alarm, int(alarm_id))
        if row is None:
            raise AlarmNotFound(alarm_id)
        if row.closed_at is not None:
            raise AlarmStateError("the alarm is already closed")
        return row, user

    # -- telephony side (ivr.alarms) -----------------------------------------------------------
    def hotline_state(self, alarm_id: int, state: str, bridge_id: str = "") -> dict[str, Any]:
        """Record the hot line of an alarm: open (with its bridge), closed or failed."""
        with self._sessions.begin() as s:
            row = s.get(Alarm, int(alarm_id))
            if row is None:
                raise AlarmNotFound(alarm_id)
            row.hotline_state = state
            if bridge_id:
                row.hotline_bridge_id = bridge_id
            view = _view(row, s)
        self._bus.publish(ALARM_UPDATED, {"alarm": view})
        return view

    def active_hotline(self) -> Optional[dict[str, Any]]:
        """The newest open alarm whose hot line is open: where a caller of the hot-line
        extension goes (None: no hot line now)."""
        with self._sessions() as s:
            row = s.scalars(select(Alarm).where(Alarm.closed_at.is_(None), Alarm.hotline_state == "open")
                            .order_by(Alarm.id.desc()).limit(1)).first()
            return _view(row, s) if row is not None else None

    def voice_alert_targets(self) -> list[dict[str, Any]]:
        """Logged-in agents with a phone who are not on a call (state ready,
        not_ready or wrap_up): their phones get the voice alert."""
        with self._sessions() as s:
            rows = s.execute(select(User.id, User.phone).where(
                User.active.is_(True), User.phone != "", User.state.in_(ALERTABLE_STATES),
                User.role.in_(("agent", "supervisor", "admin", "trainee"))).order_by(User.id)).all()
        return [{"user_id": r.id, "phone": r.phone} for r in rows]

    def voice_alert_placed(self, alarm_id: int, calls: int) -> None:
        with self._sessions.begin() as s:
            row = s.get(Alarm, int(alarm_id))
            if row is not None:
                row.voice_alert_calls += int(calls)

    # -- views -----------------------------------------------------------------------------------
    def open_alarms(self) -> list[dict[str, Any]]:
        """Open alarms that alert the floor, newest first (the banner)."""
        with self._sessions() as s:
            rows = s.scalars(select(Alarm).where(Alarm.closed_at.is_(None), Alarm.severity.in_(ALERTING))
                             .order_by(Alarm.id.desc()).limit(20)).all()
            return [_view(r, s) for r in rows]

    def get(self, alarm_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            row = s.get(Alarm, int(alarm_id))
            if row is None:
                raise AlarmNotFound(alarm_id)
            return _view(row, s)


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value is not None else None


def _view(row: Alarm, s=None) -> dict[str, Any]:
    acked_by = ""
    if s is not None and row.acknowledged_by_id:
        acked_by = s.scalar(select(User.display_name).where(User.id == row.acknowledged_by_id)) or ""
    return {"id": row.id, "source": row.source, "external_id": row.external_id, "system": row.system,
            "severity": row.severity, "title": row.title, "detail": row.detail,
            "contact_number": row.contact_number, "received_at": _iso(row.received_at),
            "last_received_at": _iso(row.last_received_at), "repeat_count": row.repeat_count,
            "acknowledged_at": _iso(row.acknowledged_at), "acknowledged_by": acked_by,
            "hotline_state": row.hotline_state, "hotline_bridge_id": row.hotline_bridge_id,
            "closed_at": _iso(row.closed_at), "open": row.closed_at is None}
