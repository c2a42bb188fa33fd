"""Login / logout and the ``roles_required`` / ``permission_required`` decorators."""
from __future__ import annotations

import functools
import logging

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from agent_desktop import users
from agent_desktop.context import services
from agent_desktop.errors import wants_json
from agent_desktop.notifier import agent_room
from agent_desktop.security import is_safe_next
from cti.agent_state import AgentState, InvalidTransition

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


def roles_required(*roles: str):
    """Allow the view only to logged-in users whose role is one of ``roles``
    (anonymous -> login page, other roles -> 403)."""
    unknown = set(roles) - set(users.ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def permission_required(permission: str):
    """Allow the view only to logged-in users whose role has ``permission``
    (anonymous -> login page, others -> 403)."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def unauthorized():
    """Not logged in: fetch() calls get a 401 JSON answer, pages the login form."""
    if wants_json():
        return jsonify(error=_("Your session has ended. Log in again.")), 401
    target = request.full_path.rstrip("?") if request.method == "GET" else ""
    return redirect(url_for("auth.login", next=target) if target else url_for("auth.login"))


def home_for(user: users.DesktopUser) -> str:
    return url_for("supervisor.index") if user.is_supervisor else url_for("desktop.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("next", "")
    if not is_safe_next(target):
        target = ""
    if current_user.is_authenticated:
        return redirect(target or home_for(current_user))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "")
        user = users.authenticate(username, request.form.get("password", ""))
        if user is None:
            # Same message whether the name or the password is wrong.
            error = _("Wrong user name or password.")
            log.info("desktop login failed for %r from %s", username[:64], request.remote_addr)
        else:
            session.clear()  # nothing from before the login survives (session fixation)
            login_user(user)
            log.info("desktop login: %s (%s)", user.username, user.role)
            return redirect(target or home_for(user))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, username=username, next=target), status


@bp.post("/logout")
@login_required
def logout():
    user_id, username = current_user.id, current_user.username
    try:
        services().call_center.set_agent_state(user_id, AgentState.LOGGED_OUT)
    except InvalidTransition:
        # Ringing or on a call: the call decides when that ends; take no new calls.
        services().call_center.set_agent_state(user_id, AgentState.NOT_READY, "logout", by_system=True)
    logout_user()
    session.clear()
    # The user's open desktop tabs must not keep receiving screen-pops.
    _disconnect_room(services().socketio, agent_room(user_id))
    log.info("desktop logout: %s", username)
    flash(_("You are logged out."))
    return redirect(url_for("auth.login"))


def _disconnect_room(socketio, room: str) -> None:
    server = socketio.server
    for sid, _eio_sid in list(server.manager.get_participants("/", room)):
        server.disconnect(sid, namespace="/")
