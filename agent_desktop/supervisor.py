"""Supervisor screen: every agent and their live state, the live calls with
listen / whisper / barge and moving a waiting call, and changing an agent's state.

The actions go through ``cti.supervision.SupervisorService`` (which checks the
supervisor's role again and records them); the telephony side carries them out
from the bus.  Supervisors and admins only: other roles get 403.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from agent_desktop import floor, labels, users
from agent_desktop.auth import roles_required
from agent_desktop.context import services
from agent_desktop.desktop import client_strings, floor_strings
from agent_desktop.errors import ApiError
from cti.agent_state import AgentState, InvalidTransition, UnknownReason
from cti.supervision import MONITOR_MODES, NotAllowed, SupervisionError
from db.models import Queue

log = logging.getLogger(__name__)

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")

# What a supervisor may set an agent to.
SETTABLE = (AgentState.READY.value, AgentState.NOT_READY.value, AgentState.LOGGED_OUT.value)
MAX_CHANNEL_ID = 200

# SupervisionError messages of cti.supervision, in the page's language.
SERVICE_MESSAGES = {
    "you have no phone to listen on": _l("You have no phone to listen on."),
    "only a connected call can be joined": _l("Only a connected call can be joined."),
    "that call is over": _l("That call is over."),
    "only a waiting call can be moved": _l("Only a waiting call can be moved."),
}


def service_message(exc: Exception) -> str:
    return str(SERVICE_MESSAGES.get(str(exc), str(exc)))


def queue_options() -> list[dict[str, str]]:
    return [{"name": name, "label": label} for name, label in floor.queue_labels().items()]


def state_options() -> list[tuple[str, str]]:
    """(value, label) of the state changer: Ready, Not ready — <reason>…, Logged out."""
    not_ready = labels.label(labels.STATE_LABELS, AgentState.NOT_READY.value)
    return ([(AgentState.READY.value, labels.label(labels.STATE_LABELS, AgentState.READY.value))]
            + [(f"not_ready:{code}", f"{not_ready} — {label}") for code, label in labels.reason_options()]
            + [(AgentState.LOGGED_OUT.value, labels.label(labels.STATE_LABELS, AgentState.LOGGED_OUT.value))])


@bp.get("/")
@roles_required("supervisor", "admin")
def index():
    ext = floor.desk()
    strings = client_strings()
    strings.update(floor_strings())
    strings.update({
        "no_calls": _("No call is up now."),
        "monitor_asked": _("Your phone rings shortly: answer it to join the call."),
        "move_asked": _("The call is being moved."),
    })
    return render_template("supervisor/index.html", staff=users.staff_overview(), labels=labels,
                           strings=strings, ticket_base=url_for("tickets.view", ticket_id=0)[:-1],
                           state_options=state_options(),
                           live_calls=ext.supervision is not None,
                           show_callbacks=ext.callbacks is not None,
                           queues=queue_options() if ext.supervision is not None else [])


# ---- live calls ---------------------------------------------------------------------------

@bp.get("/calls")
@roles_required("supervisor", "admin")
def calls():
    """Calls up now (``SupervisorService.live_calls``) with the queue titles."""
    rows = floor.supervisor_service().live_calls()
    titles = floor.queue_labels()
    for row in rows:
        row["queue_label"] = titles.get(row["queue"], row["queue_title"]) if row["queue"] else ""
    response = jsonify(calls=rows, queues=queue_options(), server_time=floor.server_time())
    response.headers["Cache-Control"] = "no-store"
    return response


def _channel_id(data: dict) -> str:
    channel_id = data.get("channel_id")
    if not isinstance(channel_id, str) or not channel_id.strip() or len(channel_id) > MAX_CHANNEL_ID:
        raise ApiError(400, _("Choose a call."))
    return channel_id


@bp.post("/calls/monitor")
@roles_required("supervisor", "admin")
def monitor():
    """JSON ``{"channel_id", "mode": "listen"|"whisper"|"barge"}`` -> 202."""
    svc = floor.supervisor_service()
    data = floor.json_object()
    channel_id = _channel_id(data)
    mode = data.get("mode")
    if mode not in MONITOR_MODES:
        raise ApiError(400, _("Choose listen, whisper or barge in."))
    try:
        svc.monitor(current_user.id, channel_id, mode)
    except NotAllowed:
        raise ApiError(403, _("Your role does not give access to this page.")) from None
    except SupervisionError as exc:
        raise ApiError(409, service_message(exc)) from None
    log.info("%s asked to %s call %s", current_user.username, mode, channel_id)
    return jsonify(channel_id=channel_id, mode=mode,
                   message=_("Your phone rings shortly: answer it to join the call.")), 202


@bp.post("/calls/move")
@roles_required("supervisor", "admin")
def move():
    """JSON ``{"channel_id", "queue"}``: a waiting call goes to another queue -> 202."""
    svc = floor.supervisor_service()
    data = floor.json_object()
    channel_id = _channel_id(data)
    queue = data.get("queue")
    with services().sessions() as s:
        known = isinstance(queue, str) and s.scalar(select(Queue.id).where(Queue.name == queue)) is not None
    if not known:
        raise ApiError(400, _("Choose one of the queues."))
    try:
        svc.move_call(current_user.id, channel_id, queue)
    except NotAllowed:
        raise ApiError(403, _("Your role does not give access to this page.")) from None
    except SupervisionError as exc:
        raise ApiError(409, service_message(exc)) from None
    log.info("%s moved call %s to %s", current_user.username, channel_id, queue)
    return jsonify(channel_id=channel_id, queue=queue, message=_("The call is being moved.")), 202


# ---- agents' states -------------------------------------------------------------------------

@bp.post("/agents/<int:agent_id>/state")
@roles_required("supervisor", "admin")
def set_agent_state(agent_id: int):
    """JSON ``{"state": "ready"|"not_ready"|"logged_out", "reason": code}``."""
    svc = floor.supervisor_service()
    data = floor.json_object()
    target = data.get("state")
    reason = data.get("reason", "")
    if target not in SETTABLE:
        raise ApiError(400, _("Unknown state requested."))
    if not isinstance(reason, str):
        raise ApiError(400, _("Choose one of the listed reasons for not being ready."))
    reason = reason[:64] if target == AgentState.NOT_READY.value else ""
    agent = users.get_user(agent_id)
    if agent is None:
        raise ApiError(404, _("There is no such agent."))
    try:
        svc.set_agent_state(current_user.id, agent_id, target, reason)
    except NotAllowed:
        raise ApiError(403, _("Your role does not give access to this page.")) from None
    except UnknownReason:
        raise ApiError(400, _("Choose one of the listed reasons for not being ready.")) from None
    except InvalidTransition as exc:
        raise ApiError(409, _("%(name)s cannot change from %(current)s to %(target)s now.",
                              name=agent.display_name,
                              current=labels.label(labels.STATE_LABELS, exc.current.value),
                              target=labels.label(labels.STATE_LABELS, exc.target.value)),
                       state=exc.current.value) from None
    log.info("%s set %s %s %s", current_user.username, agent.username, target, reason)
    after = users.get_user(agent_id)
    return jsonify(agent_id=agent_id, state=after.state, reason=after.state_reason,
                   label=labels.label(labels.STATE_LABELS, after.state),
                   reason_label=labels.reason_label(after.state_reason))
