"""Wallboard (large screen) and projection dashboard pages, and their JSON.

Every logged-in user may see them (agent, supervisor, admin, trainee).  The
figures come from ``cti.floor_service.FloorService`` (docs/wallboard.md); the
pages draw them in the browser and follow the ``wallboard`` Socket.IO room
(``agent_desktop.wallboard_feed``).
"""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from agent_desktop import labels
from agent_desktop.desktop import client_strings
from agent_desktop.wallboard_feed import publisher

bp = Blueprint("wallboard", __name__)

STAGE_LABELS = {
    "waiting": _l("Waiting for an agent"),
    "in_progress": _l("Being processed"),
    "resolved": _l("Processed"),
    "abandoned": _l("Abandoned"),
}

TALK_LABELS = {
    "le_3m": _l("≤ 3 min"),
    "le_5m": _l("3–5 min"),
    "le_10m": _l("5–10 min"),
    "gt_10m": _l("> 10 min"),
}


# Agent states shown per queue in the wallboard's table (all states: the "Agents" panel).
QUEUE_STATE_COLUMNS = ("ready", "talking")


def board_strings() -> dict:
    """Labels the wallboard and dashboard scripts need, in the page's language."""
    strings = client_strings()
    strings.update({
        "states": labels.as_strings(labels.STATE_LABELS),
        "channels": labels.as_strings(labels.CHANNEL_LABELS),
        "stages": labels.as_strings(STAGE_LABELS),
        "talk": labels.as_strings(TALK_LABELS),
        "unspecified": _("Unspecified"),
        "chart_intake": _("Tickets by intake type"),
        "chart_status": _("Tickets by incident progress"),
        "chart_stage": _("Intake and processing"),
        "chart_agents": _("Agent status"),
    })
    return strings


def _floor():
    return publisher().floor


def _api_unauthorized():
    return jsonify(error=_("Your session has ended. Log in again.")), 401


@bp.get("/wallboard")
@login_required
def wallboard():
    return render_template("wallboard/wallboard.html", data=_floor().wallboard(), strings=board_strings(),
                           talk_labels=TALK_LABELS, queue_states=QUEUE_STATE_COLUMNS)


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template("wallboard/dashboard.html", data=_floor().dashboard(), strings=board_strings())


@bp.get("/api/floor/wallboard")
def api_wallboard():
    if not current_user.is_authenticated:
        return _api_unauthorized()
    response = jsonify(_floor().wallboard())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/floor/dashboard")
def api_dashboard():
    if not current_user.is_authenticated:
        return _api_unauthorized()
    response = jsonify(_floor().dashboard())
    response.headers["Cache-Control"] = "no-store"
    return response
