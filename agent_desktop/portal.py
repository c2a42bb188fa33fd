"""The customer portal (no login; docs/intake.md): the help-desk web form
(ticket channel web) and the one-stop request forms (PC request, application
improvement request) that wait for their approval line.

Abuse: CSRF on every post (the app's CSRFProtect), a hidden honeypot field
that people leave empty, and at most ``[portal] max_posts_per_10min`` posts per
client address (``PortalLimiter``, one per app).  Everything typed is stored as
text and shown escaped (Jinja autoescape; the desktop uses textContent).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Optional

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from agent_desktop import labels
from cti.intake import forms
from cti.intake.service import IntakeService

log = logging.getLogger(__name__)

bp = Blueprint("portal", __name__, url_prefix="/portal")

EXTENSION_KEY = "happycall_intake"
HONEYPOT = "website"
WINDOW_SECONDS = 600

KIND_LABELS = {
    "web": _l("Help-desk request"),
    "pc": _l("PC request"),
    "app_improvement": _l("Application improvement request"),
}

FIELD_ERRORS = {
    "name": _l("Enter your name."),
    "identifier": _l("Enter your employee number or e-mail address."),
    "phone": _l("The phone number is too long."),
    "subject": _l("Enter a short subject (at most 200 characters)."),
    "description": _l("Describe the request (at most 10,000 characters)."),
}


class PortalLimiter:
    """Posts per client address in a sliding window (kept per app, in memory:
    a restart forgets it, which only ever lets a few more posts through)."""

    def __init__(self, max_posts: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._max = int(max_posts)
        self._window = window
        self._clock = clock
        self._seen: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(address, collections.deque())
            while times and now - times[0] > self._window:
                times.popleft()
            if len(times) >= self._max:
                return False
            times.append(now)
            if len(self._seen) > 10_000:   # bounded: forget addresses with no recent post
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
            return True


class PortalExtension:
    def __init__(self, intake: Optional[IntakeService], limiter: PortalLimiter, enabled: bool):
        self.intake = intake
        self.limiter = limiter
        self.enabled = enabled


def init_app(app, intake: Optional[IntakeService], config: dict) -> None:
    portal = config.get("portal", {})
    app.extensions[EXTENSION_KEY] = PortalExtension(
        intake, PortalLimiter(int(portal.get("max_posts_per_10min", 10))), bool(portal.get("enabled", True)))
    app.register_blueprint(bp)


def ext() -> PortalExtension:
    return current_app.extensions[EXTENSION_KEY]


def _service() -> IntakeService:
    e = ext()
    if e.intake is None or not e.enabled:
        abort(503)
    return e.intake


@bp.get("/")
def index():
    _service()
    return render_template("portal/form.html", kind="web", title=KIND_LABELS["web"], values={}, errors={},
                           kinds=KIND_LABELS)


@bp.post("/")
def submit():
    return _submit("web")


@bp.get("/onestop/<kind>")
def onestop(kind: str):
    _service()
    if kind not in forms.ONESTOP_KINDS:
        abort(404)
    return render_template("portal/form.html", kind=kind, title=KIND_LABELS[kind], values={}, errors={},
                           kinds=KIND_LABELS)


@bp.post("/onestop/<kind>")
def onestop_submit(kind: str):
    if kind not in forms.ONESTOP_KINDS:
        abort(404)
    return _submit(kind)


def _submit(kind: str):
    service = _service()
    values = {key: request.form.get(key, "") for key in ("name", "identifier", "phone", "subject", "description")}
    title = KIND_LABELS[kind]
    if request.form.get(HONEYPOT, ""):
        log.warning("portal post from %s refused: honeypot field filled", request.remote_addr)
        return render_template("portal/form.html", kind=kind, title=title, values=values, errors={},
                               kinds=KIND_LABELS, refused=_("The request could not be accepted.")), 400
    if not ext().limiter.allow(request.remote_addr or "?"):
        log.warning("portal post from %s refused: too many posts", request.remote_addr)
        return render_template("portal/form.html", kind=kind, title=title, values=values, errors={},
                               kinds=KIND_LABELS,
                               refused=_("Too many requests from your address. Try again in a few minutes.")), 429
    try:
        submission = forms.clean(language=labels.language(), **values)
    except forms.InvalidSubmission as exc:
        errors = {exc.field: str(FIELD_ERRORS.get(exc.field, exc.message))}
        return render_template("portal/form.html", kind=kind, title=title, values=values, errors=errors,
                               kinds=KIND_LABELS), 400
    if kind == "web":
        got = service.submit_web_form(submission)
        return render_template("portal/done.html", kind=kind, title=title, incident_id=got.incident_id,
                               request_number=None)
    made = service.submit_onestop(kind, submission)
    return render_template("portal/done.html", kind=kind, title=title, incident_id=None,
                           request_number=f"OS-{made['request_id']:06d}")
