"""Surveys on the agent desktop (docs/surveys.md): the person in charge's notice of
a dissatisfied reply, and the survey view on the ticket screen.

* ``SurveyNotifier`` (bus -> Socket.IO): ``survey.dissatisfied`` goes at once to
  the person in charge's room (``agent:<id>``) as ``survey_dissatisfied``.  The
  notice is also kept (``user_notices``, written by the survey service with the
  reply), so the desktop lists the unread ones when it is opened
  (``survey_notices()`` in ``templates/desktop/_survey_notices.html``) until the
  person marks them read (``POST /notices/<id>/read``).
* ``ticket_surveys(ticket_id)`` feeds ``templates/tickets/_survey.html``
  (``SurveyService.ticket_surveys``).

Everything the customer wrote is data: Jinja escapes it, the script sets it with
``textContent``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from flask import Blueprint, Flask, current_app, jsonify
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_socketio import SocketIO

from agent_desktop import labels
from agent_desktop.context import services
from agent_desktop.notifier import agent_room
from cti import notices
from cti.clock import utc_now
from cti.events import EventBus
from cti.surveys.service import NOTICE_DISSATISFIED, SURVEY_DISSATISFIED, SurveyService

log = logging.getLogger(__name__)

EXTENSION_KEY = "happycall_survey_desk"
DISSATISFIED_EVENT = "survey_dissatisfied"      # Socket.IO event to the person in charge
NOTICE_FIELDS = ("notice_id", "ticket_id", "incident_id", "survey_id", "text", "rating", "channel", "centre", "at")

bp = Blueprint("survey_desk", __name__)

# The survey's step (cti/surveys/machine.py) and why it ended.
STATE_LABELS = {
    "scheduled": _l("Scheduled"),
    "calling": _l("Calling the customer"),
    "messaged": _l("Messages sent, waiting for a reply"),
    "resent": _l("Reminder sent, waiting for a reply"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
}

OUTCOME_LABELS = {
    "answered": _l("Answered"),
    "no_reply": _l("No reply"),
    "no_contact": _l("No phone, e-mail or mobile number"),
    "unreachable": _l("Not reached"),
}

# The result of one attempt: the survey call, or a message.
ATTEMPT_LABELS = {
    "answered": _l("Answered"),
    "busy": _l("Busy"),
    "no_answer": _l("No answer"),
    "rejected": _l("Rejected"),
    "machine": _l("Answering machine"),
    "no_input": _l("Answered, no answer keyed"),
    "failed": _l("Call failed"),
    "sent": _l("Sent"),
    "not_sent": _l("Not sent"),
}


class SurveyNotifier:
    """Subscribes on construction; ``close()`` unsubscribes (idempotent)."""

    def __init__(self, socketio: SocketIO, bus: EventBus):
        self._socketio = socketio
        self._unsubscribe: list[Callable[[], None]] = [bus.subscribe(SURVEY_DISSATISFIED, self._on_dissatisfied)]

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _on_dissatisfied(self, _topic: str, payload: dict[str, Any]) -> None:
        person_id = payload.get("person_id")
        if person_id is None:          # a centre without a person in charge: the e-mail only
            return
        data = {key: payload.get(key) for key in NOTICE_FIELDS}
        self._socketio.emit(DISSATISFIED_EVENT, data, to=[agent_room(int(person_id))], namespace="/")


@dataclass
class SurveyDesk:
    service: Optional[SurveyService]
    notifier: SurveyNotifier

    def close(self) -> None:
        self.notifier.close()


def init_app(app: Flask, socketio: SocketIO, bus: EventBus, service: Optional[SurveyService]) -> SurveyDesk:
    desk = SurveyDesk(service, SurveyNotifier(socketio, bus))
    app.extensions[EXTENSION_KEY] = desk
    app.register_blueprint(bp)
    app.add_template_global(ticket_surveys, "ticket_surveys")
    app.add_template_global(survey_notices, "survey_notices")
    app.add_template_global(notice_strings, "survey_notice_strings")
    app.add_template_filter(lambda v: labels.label(STATE_LABELS, v), "survey_state_label")
    app.add_template_filter(lambda v: labels.label(OUTCOME_LABELS, v), "survey_outcome_label")
    app.add_template_filter(lambda v: labels.label(ATTEMPT_LABELS, v), "survey_attempt_label")
    app.add_template_filter(lambda v: labels.label(labels.SURVEY_TERM_LABELS, v), "survey_term_label")
    app.add_template_filter(lambda v: labels.label(labels.SURVEY_CHANNEL_LABELS, v), "survey_channel_label")
    return desk


def close_app(app: Flask) -> None:
    desk: Optional[SurveyDesk] = app.extensions.get(EXTENSION_KEY)
    if desk is not None:
        desk.close()


def _service() -> Optional[SurveyService]:
    desk: Optional[SurveyDesk] = current_app.extensions.get(EXTENSION_KEY)
    return desk.service if desk is not None else None


def ticket_surveys(ticket_id: int) -> list[dict[str, Any]]:
    """The surveys of the ticket screen (none without the survey service)."""
    service = _service()
    if service is None:
        return []
    try:
        return service.ticket_surveys(int(ticket_id))
    except Exception:  # noqa: BLE001 - the ticket screen stays usable without its survey block
        log.exception("surveys of ticket %s could not be read", ticket_id)
        return []


def survey_notices() -> list[dict[str, Any]]:
    """The current user's unread survey notices, newest first."""
    if not current_user.is_authenticated:
        return []
    return notices.unread(services().sessions, current_user.id, kinds=(NOTICE_DISSATISFIED,))


def notice_strings() -> dict[str, Any]:
    """Labels the notice script needs, in the page's language."""
    return {
        "dissatisfied": _("Dissatisfied survey reply"),
        "rating": _("Rating"),
        "mark_read": _("Mark as read"),
        "read_failed": _("The notice could not be marked read. Try again."),
        "channels": labels.as_strings(labels.SURVEY_CHANNEL_LABELS),
    }


@bp.post("/notices/<int:notice_id>/read")
@login_required
def mark_read(notice_id: int):
    try:
        changed = notices.mark_read(services().sessions, current_user.id, notice_id, utc_now())
    except notices.NotFound:
        return jsonify(error=_("No such notice.")), 404
    return jsonify(notice_id=notice_id, read=True, changed=changed)
