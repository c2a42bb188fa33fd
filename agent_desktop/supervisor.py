"""Supervisor screen: every agent and their live state."""
from __future__ import annotations

from flask import Blueprint, render_template, url_for

from agent_desktop import labels, users
from agent_desktop.auth import roles_required
from agent_desktop.desktop import client_strings

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")


@bp.get("/")
@roles_required("supervisor", "admin")
def index():
    return render_template("supervisor/index.html", staff=users.staff_overview(), labels=labels,
                           strings=client_strings(),
                           ticket_base=url_for("tickets.view", ticket_id=0)[:-1])
