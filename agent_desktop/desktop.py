"""The agent's main page and agent-state changes."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from agent_desktop import labels, users
from agent_desktop import sensitivity as sens_web
from agent_desktop.context import services
from cti.agent_state import AgentState, InvalidTransition, UnknownReason

bp = Blueprint("desktop", __name__)

# What the desktop buttons may ask for (LOGGED_OUT happens through /logout).
REQUESTABLE = (AgentState.READY.value, AgentState.NOT_READY.value)


def client_strings() -> dict:
    """Labels the page's JavaScript needs, in the page's language."""
    return {
        "states": labels.as_strings(labels.STATE_LABELS),
        "types": labels.as_strings(labels.POP_TYPE_LABELS),
        "statuses": labels.as_strings(labels.TICKET_STATUS_LABELS),
        "unknown_caller": _("unknown caller"),
        "connected": _("Connected"),
        "disconnected": _("Disconnected — reconnecting…"),
        "logged_out_elsewhere": _("This session was closed. Log in again."),
        "request_failed": _("The request failed. Check the connection and try again."),
        "ticket": _("Ticket"),
        "missed": _("Not answered"),
    }


@bp.get("/")
@login_required
def index():
    me = users.get_user(current_user.id)
    sens = None
    if me.can_view_sensitivity:
        table = sens_web.page_table()
        sens = {"table": table, "groups": sens_web.kind_groups(table), "strings": sens_web.client_strings()}
    return render_template("desktop/index.html", me=me, strings=client_strings(), sens=sens,
                           ticket_base=url_for("tickets.view", ticket_id=0)[:-1])


@bp.get("/agent/state")
@login_required
def get_state():
    me = users.get_user(current_user.id)
    return jsonify(agent_id=me.id, state=me.state, reason=me.state_reason,
                   label=labels.label(labels.STATE_LABELS, me.state))


@bp.post("/agent/state")
@login_required
def set_state():
    data = request.get_json(silent=True) if request.is_json else request.form
    target = str((data or {}).get("state", ""))
    reason = str((data or {}).get("reason", ""))[:64]
    if target not in REQUESTABLE:
        return jsonify(error=_("Unknown state requested.")), 400
    try:
        new = services().call_center.set_agent_state(current_user.id, target, reason)
    except InvalidTransition as exc:
        message = _("You cannot change from %(current)s to %(target)s now.",
                    current=labels.label(labels.STATE_LABELS, exc.current.value),
                    target=labels.label(labels.STATE_LABELS, exc.target.value))
        return jsonify(error=message, state=exc.current.value), 409
    except UnknownReason:
        return jsonify(error=_("Choose a reason for not being ready.")), 400
    reason = services().call_center.agent_reason(current_user.id)
    return jsonify(agent_id=current_user.id, state=new.value, reason=reason,
                   label=labels.label(labels.STATE_LABELS, new.value))
