"""The agent's main page and agent-state changes."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from agent_desktop import floor, labels, users
from agent_desktop import sensitivity as sens_web
from agent_desktop.context import services
from agent_desktop.filters import iso_utc
from agent_desktop.notifier import timing
from cti.agent_state import AgentState, InvalidTransition, UnknownReason

bp = Blueprint("desktop", __name__)

# What the desktop buttons may ask for (LOGGED_OUT happens through /logout).
REQUESTABLE = (AgentState.READY.value, AgentState.NOT_READY.value)


def client_strings() -> dict:
    """Labels the page's JavaScript needs, in the page's language."""
    return {
        "states": labels.as_strings(labels.STATE_LABELS),
        "reasons": labels.reason_strings(),
        "types": labels.as_strings(labels.POP_TYPE_LABELS),
        "statuses": labels.as_strings(labels.TICKET_STATUS_LABELS),
        "unknown_caller": _("unknown caller"),
        "connected": _("Connected"),
        "disconnected": _("Disconnected — reconnecting…"),
        "logged_out_elsewhere": _("This session was closed. Log in again."),
        "request_failed": _("The request failed. Check the connection and try again."),
        "ticket": _("Ticket"),
        "missed": _("Not answered"),
        # {time} is replaced by the script with m:ss.
        "wrap_up_left": _("{time} left"),
        "survey": survey_strings(),
    }


def survey_strings() -> dict:
    """The survey block of a reply-line pop (docs/surveys.md): the questions as the
    customer was asked them, the terms, the channels."""
    return {
        "title": _("Satisfaction survey"),
        "service": _("Service"),
        "resolution": _("Resolution"),
        "centre": _("Service centre"),
        "q_rating": _("How satisfied are you with the service? (1 very dissatisfied, 5 very satisfied)"),
        "q_trouble": _("Did the trouble come back?"),
        "q_kind": _("Was our agent or technician kind?"),
        "q_comment": _("Anything else you would like to tell us?"),
        "term": _("Reply term"),
        "rating": _("Rating"),
        "trouble_short": _("Trouble again"),
        "kind_short": _("Kind staff"),
        "keywords": _("Keywords heard"),
        "replies": _("Replies so far"),
        "no_replies": _("No reply yet."),
        "yes": _("Yes"),
        "no": _("No"),
        "none": "—",
        "terms": labels.as_strings(labels.SURVEY_TERM_LABELS),
        "channels": labels.as_strings(labels.SURVEY_CHANNEL_LABELS),
    }


def floor_strings() -> dict:
    """Labels of the floor panels (queues, abandoned calls, live calls)."""
    return {
        "outcomes": labels.as_strings(labels.CALL_OUTCOME_LABELS),
        "monitor": labels.as_strings(labels.MONITOR_LABELS),
        "callback_statuses": labels.as_strings(labels.CALLBACK_STATUS_LABELS),
        "callback_kinds": labels.as_strings(labels.CALLBACK_KIND_LABELS),
        "callback_outcomes": labels.as_strings(labels.CALLBACK_OUTCOME_LABELS),
        "call_back": _("Call back"),
        "calling_back": _("Calling…"),
        "remove": _("Remove"),
        "no_number": _("No number to dial"),
        "move": _("Move"),
        "move_to": _("Move to queue"),
        "removed": _("Removed from the list."),
        "queues_saved": _("Queue log-in saved."),
    }


def state_payload(me: users.DesktopUser) -> dict[str, Any]:
    """What ``GET /agent/state`` answers: the state, its reason code and labels,
    since when, and for wrap-up when it ends (``until``, ``remaining_seconds``)."""
    data = {"agent_id": me.id, "state": me.state, "reason": me.state_reason,
            "label": labels.label(labels.STATE_LABELS, me.state),
            "reason_label": labels.reason_label(me.state_reason), "since": iso_utc(me.state_since)}
    data.update(timing(me.state_until if me.state == AgentState.WRAP_UP.value else None))
    return data


@bp.get("/")
@login_required
def index():
    me = users.get_user(current_user.id)
    sens = None
    if me.can_view_sensitivity:
        table = sens_web.page_table()
        sens = {"table": table, "groups": sens_web.kind_groups(table), "strings": sens_web.client_strings()}
    ext = floor.desk()
    queues = floor.agent_queue_rows(me.id) if ext.acd is not None else None
    strings = client_strings()
    strings.update(floor_strings())
    return render_template("desktop/index.html", me=me, strings=strings, sens=sens,
                           ticket_base=url_for("tickets.view", ticket_id=0)[:-1],
                           state=state_payload(me), reasons=labels.reason_options(), queues=queues,
                           show_callbacks=ext.callbacks is not None and me.works_floor)


@bp.get("/agent/state")
@login_required
def get_state():
    return jsonify(state_payload(users.get_user(current_user.id)))


@bp.post("/agent/state")
@login_required
def set_state():
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return jsonify(error=_("The request must be a JSON object.")), 400
    target = str(data.get("state", ""))
    reason = data.get("reason", "")
    if target not in REQUESTABLE:
        return jsonify(error=_("Unknown state requested.")), 400
    if not isinstance(reason, str):
        return jsonify(error=_("Choose one of the listed reasons for not being ready.")), 400
    # Only NOT_READY carries a reason: one sent along with READY is ignored.
    reason = reason[:64] if target == AgentState.NOT_READY.value else ""
    try:
        services().call_center.set_agent_state(current_user.id, target, reason)
    except InvalidTransition as exc:
        message = _("You cannot change from %(current)s to %(target)s now.",
                    current=labels.label(labels.STATE_LABELS, exc.current.value),
                    target=labels.label(labels.STATE_LABELS, exc.target.value))
        return jsonify(error=message, state=exc.current.value), 409
    except UnknownReason:
        return jsonify(error=_("Choose one of the listed reasons for not being ready.")), 400
    return jsonify(state_payload(users.get_user(current_user.id)))
