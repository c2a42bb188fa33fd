"""The call-center floor on the desktop: an agent's queue log-in and the
abandoned-call list with its one-click callbacks (the supervisor's live-call
controls are in ``agent_desktop.supervisor``).

The services behind it are optional arguments of ``create_app``
(``acd_service``, ``callback_service``, ``supervisor_service``).  ``FloorDesk``
holds them: created unbound, bound to one app with ``init_app`` like the other
extensions.  Without a service its routes answer 503 with a clear message and
the pages leave the matching panel out, so callers that pass none keep working.

All answers are JSON for the pages' ``fetch()`` calls (CSRF token in the
``X-CSRFToken`` header, like every POST of the app); bad input is a 400 with a
message and changes nothing, a request that does not fit the current state of
the entry or the agent is a 409.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from agent_desktop import labels, users
from agent_desktop.auth import roles_required
from agent_desktop.context import services
from agent_desktop.errors import ApiError
from cti import callbacks as cb
from cti.agent_state import AgentState
from cti.clock import utc_now
from db.models import Queue

log = logging.getLogger(__name__)

EXTENSION_KEY = "happycall_floor"
MAX_QUEUE_NAMES = 100

#: States from which an agent's phone may ring for a callback (cti.agent_state "callback").
CALLBACK_FROM_STATES = (AgentState.READY.value, AgentState.NOT_READY.value, AgentState.WRAP_UP.value)

bp = Blueprint("floor", __name__)


class FloorDesk:
    """The floor services of one app (``cti.acd_service.AcdService``,
    ``cti.callbacks.CallbackService``, ``cti.supervision.SupervisorService``);
    each may be None."""

    def __init__(self) -> None:
        self.acd: Any = None
        self.callbacks: Any = None
        self.supervision: Any = None

    def init_app(self, app: Flask, *, acd: Any = None, callbacks: Any = None,
                 supervision: Any = None) -> None:
        self.acd, self.callbacks, self.supervision = acd, callbacks, supervision
        app.extensions[EXTENSION_KEY] = self


def desk() -> FloorDesk:
    """The current app's floor services (inside a request)."""
    return current_app.extensions[EXTENSION_KEY]


def acd_service():
    svc = desk().acd
    if svc is None:
        raise ApiError(503, _("Queue log-in is not available: the server runs without the ACD service."))
    return svc


def callback_service():
    svc = desk().callbacks
    if svc is None:
        raise ApiError(503, _("The abandoned-call list is not available: the server runs without the "
                              "callback service."))
    return svc


def supervisor_service():
    svc = desk().supervision
    if svc is None:
        raise ApiError(503, _("Live-call supervision is not available: the server runs without the "
                              "supervision service."))
    return svc


def json_object() -> dict[str, Any]:
    """The request's JSON object; anything else (no JSON, malformed JSON, a list)
    is a 400."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, _("The request must be a JSON object."))
    return data


def server_time() -> str:
    return utc_now().isoformat() + "Z"


def queue_labels() -> dict[str, str]:
    """Queue name -> title in the page's language (every queue)."""
    with services().sessions() as s:
        rows = s.execute(select(Queue.name, Queue.title, Queue.title_en).order_by(Queue.id)).all()
    return {r.name: labels.queue_label(r.title or "", r.title_en or "", r.name) for r in rows}


# ---- queue log-in (agents) ----------------------------------------------------------------

def agent_queue_rows(agent_id: int) -> list[dict[str, Any]]:
    """The agent's queues with their titles in the page's language."""
    return [{"name": q["name"], "title": labels.queue_label(q["title"], q["title_en"], q["name"]),
             "logged_in": bool(q["logged_in"]), "penalty": q["penalty"]}
            for q in acd_service().agent_queues(agent_id)]


@bp.get("/agent/queues")
@login_required
def get_queues():
    return jsonify(queues=agent_queue_rows(current_user.id))


@bp.post("/agent/queues")
@login_required
def set_queues():
    """JSON ``{"queues": [names]}``: log in to exactly these of my queues."""
    acd = acd_service()
    names = json_object().get("queues")
    if (not isinstance(names, list) or len(names) > MAX_QUEUE_NAMES
            or not all(isinstance(n, str) for n in names)):
        raise ApiError(400, _("Send the queues to log in to as a list of queue names."))
    mine = {q["name"] for q in acd.agent_queues(current_user.id)}
    unknown = sorted(set(names) - mine)
    if unknown:
        raise ApiError(400, _("You are not a member of these queues: %(names)s.",
                              names=", ".join(n[:64] for n in unknown[:10])),
                       queues=agent_queue_rows(current_user.id))
    try:
        acd.set_agent_queues(current_user.id, names)
    except ValueError as exc:  # membership changed meanwhile
        raise ApiError(400, str(exc), queues=agent_queue_rows(current_user.id)) from None
    log.info("queue log-in of %s: %s", current_user.username, sorted(set(names)))
    return jsonify(queues=agent_queue_rows(current_user.id))


# ---- abandoned calls and callbacks ---------------------------------------------------------

def callback_rows() -> list[dict[str, Any]]:
    """``CallbackService.abandoned_list()`` with the queue's title in the page's
    language and whether the number can be dialled.  Caller names and numbers
    come from SIP headers: the pages show them with ``textContent`` only."""
    titles = queue_labels()
    rows = []
    for row in callback_service().abandoned_list():
        row = dict(row)
        row["queue_label"] = titles.get(row.get("queue") or "", row.get("queue_title") or "")
        row["dialable"] = cb.dialable(row.get("number") or "")
        rows.append(row)
    return rows


@bp.get("/callbacks")
@roles_required(*users.FLOOR_ROLES)
def list_callbacks():
    response = jsonify(callbacks=callback_rows(), server_time=server_time())
    response.headers["Cache-Control"] = "no-store"
    return response


def _entry(callback_id: int) -> dict[str, Any]:
    try:
        return callback_service().get(callback_id)
    except LookupError:
        raise ApiError(404, _("There is no such entry on the abandoned-call list.")) from None


def _entry_conflict(entry: dict[str, Any]) -> Optional[ApiError]:
    """Why this entry cannot be called back now (None: it can)."""
    status = entry["status"]
    if status == cb.DIALING:
        message = _("This customer is being called back already.")
    elif status == cb.DONE:
        message = _("This customer was reached already.")
    elif status == cb.CANCELLED:
        message = _("This entry was removed from the list.")
    elif status != cb.OPEN:
        message = _("This entry cannot be called back now.")
    elif not cb.dialable(entry["number"]):
        message = _("There is no number that can be dialled for this entry.")
    else:
        return None
    return ApiError(409, message, status=status)


@bp.post("/callbacks/<int:callback_id>/call")
@roles_required(*users.FLOOR_ROLES)
def call_back(callback_id: int):
    """One click: ``CallbackService.ask_to_place``; the telephony side rings my
    phone, then the customer.  202: asked (the outcome comes later over
    ``callbacks_changed``)."""
    svc = callback_service()
    conflict = _entry_conflict(_entry(callback_id))
    if conflict is not None:
        raise conflict
    me = users.get_user(current_user.id)
    if not me.has_phone:
        raise ApiError(409, _("You have no phone to call back from."))
    if me.state not in CALLBACK_FROM_STATES:
        raise ApiError(409, _("You cannot call back while your state is %(state)s. Go Ready or Not ready "
                              "first.", state=labels.label(labels.STATE_LABELS, me.state)), state=me.state)
    try:
        svc.ask_to_place(callback_id, current_user.id)
    except cb.CallbackError as exc:  # changed since the check above
        raise (_entry_conflict(_entry(callback_id)) or ApiError(409, str(exc))) from None
    log.info("callback %s asked by %s", callback_id, current_user.username)
    return jsonify(callback_id=callback_id, status="requested",
                   message=_("Calling back: your phone rings first, then the customer's.")), 202


@bp.post("/callbacks/<int:callback_id>/cancel")
@roles_required(*users.SUPERVISOR_ROLES)
def cancel_callback(callback_id: int):
    """Supervisors take an entry off the abandoned-call list."""
    svc = callback_service()
    entry = _entry(callback_id)
    if entry["status"] == cb.CANCELLED:
        return jsonify(callback_id=callback_id, status=cb.CANCELLED)
    if entry["status"] != cb.OPEN:
        raise _entry_conflict(entry)
    try:
        svc.cancel(callback_id)
    except cb.CallbackError:
        raise _entry_conflict(_entry(callback_id)) or ApiError(409, _("This entry cannot be removed now.")) \
            from None
    log.info("callback %s removed by %s", callback_id, current_user.username)
    return jsonify(callback_id=callback_id, status=cb.CANCELLED)
