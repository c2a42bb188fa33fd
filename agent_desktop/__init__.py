"""Agent desktop: Flask + Flask-SocketIO web app for agents and supervisors.

``create_app(config, call_center, session_factory, bus)`` builds one independent
application: its extensions (Flask-Login, CSRFProtect, Flask-Babel, SocketIO, the
floor services) and its bus subscription are created inside the factory, so
several apps can live in one process (tests).  All contact-center logic lives in
``cti.services.CallCenter`` and the floor services (``cti.acd_service``,
``cti.callbacks``, ``cti.supervision``); this package is only the HTTP /
Socket.IO layer.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import Babel
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import sessionmaker

from agent_desktop import (alarms, analyzer, approvals, auth, consultations, desktop, errors, escalation, filters,
                           floor, helpdesk_admin, i18n, portal, security, sensitivity, sockets, supervisor,
                           survey_form, tickets, users, wallboard, wallboard_feed)
from agent_desktop import survey_desk
from agent_desktop.context import EXTENSION_KEY, DesktopContext
from agent_desktop.notifier import DesktopNotifier
from cti.acd_service import AcdService
from cti.alarms import AlarmService
from cti.analyzer import Analyzer
from cti.callbacks import CallbackService
from cti.escalation_service import EscalationService
from cti.events import EventBus
from cti.floor_service import FloorService
from cti.intake.service import IntakeService
from cti.sensitivity import SensitivityService
from cti.services import CallCenter
from cti.supervision import SupervisorService
from cti.surveys.service import SurveyService

__all__ = ["create_app", "close_app", "DesktopNotifier"]

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(config: dict[str, Any], call_center: CallCenter, session_factory: sessionmaker,
               bus: EventBus, sensitivity_service: SensitivityService | None = None,
               floor_service: FloorService | None = None, acd_service: AcdService | None = None,
               callback_service: CallbackService | None = None,
               supervisor_service: SupervisorService | None = None,
               escalation_service: EscalationService | None = None,
               intake_service: IntakeService | None = None,
               analyzer_service: Analyzer | None = None,
               survey_service: SurveyService | None = None,
               alarm_service: AlarmService | None = None) -> Flask:
    """Build the desktop app from the merged configuration (``cti.config.load()``).
    ``sensitivity_service`` defaults to one on the same sessions and bus,
    ``floor_service`` (wallboard figures) to one on the same sessions.
    The floor services are optional: without ``acd_service`` there is no queue
    log-in, without ``callback_service`` no abandoned-call list, without
    ``supervisor_service`` no live-call control (their routes answer 503), without
    ``intake_service`` no customer portal or approvals (docs/intake.md; 503).
    ``escalation_service`` (docs/escalation.md) defaults to one the app builds
    on the same sessions and bus (and closes in ``close_app``).
    ``analyzer_service`` (the reports) defaults to one with its own read-only
    database engine (``Analyzer.from_config``), closed by ``close_app``.
    ``survey_service`` (docs/surveys.md) serves the survey e-mail's web form
    (/survey/<link>); without it the form answers 503.
    ``alarm_service`` (early warning, docs/alarms.md) defaults to one on the same
    sessions and bus."""
    web = config["web"]
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=security.secret_key(web.get("secret_key", ""), config["data"]["dir"]),
        WTF_CSRF_ENABLED=bool(web.get("wtf_csrf_enabled", True)),
        # The desktop stays open all shift: the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        BABEL_DEFAULT_LOCALE=i18n.DEFAULT_LOCALE,
        BABEL_TRANSLATION_DIRECTORIES=str(i18n.TRANSLATIONS),
    )

    i18n.ensure_compiled()
    login_manager = LoginManager()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page explains itself
    login_manager.user_loader(users.load_user)
    login_manager.unauthorized_handler(auth.unauthorized)

    csrf = CSRFProtect()
    csrf.init_app(app)

    babel = Babel()
    babel.init_app(app, locale_selector=i18n.select_locale)

    socketio = SocketIO()
    # Same-origin Socket.IO only (engine.io's default origin check stays on).
    socketio.init_app(app, async_mode="threading")
    app.extensions["socketio"] = socketio

    notifier = DesktopNotifier(socketio, bus, role_of=lambda user_id: users.role_of(session_factory, user_id),
                               state_until_of=lambda user_id: users.state_until_of(session_factory, user_id))
    app.extensions[EXTENSION_KEY] = DesktopContext(
        call_center=call_center, sessions=session_factory, bus=bus, socketio=socketio,
        notifier=notifier, sensitivity=sensitivity_service or SensitivityService(session_factory, bus))

    # Queue log-in, abandoned calls and callbacks, live-call supervision (optional services).
    floor_desk = floor.FloorDesk()
    floor_desk.init_app(app, acd=acd_service, callbacks=callback_service, supervision=supervisor_service)

    app.register_blueprint(auth.bp)
    app.register_blueprint(desktop.bp)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(floor.bp)
    app.register_blueprint(sensitivity.bp)
    app.register_blueprint(consultations.bp)
    # Customer portal (no login) and one-stop approvals (docs/intake.md).
    portal.init_app(app, intake_service, config)
    app.register_blueprint(approvals.bp)
    # The web inquiry form of the satisfaction survey (docs/surveys.md; no login, signed link).
    survey_form.init_app(app, survey_service)
    # Surveys on the desktop: the person in charge's notices, the survey view of a ticket.
    survey_desk.init_app(app, socketio, bus, survey_service)
    # Wallboard and dashboard (docs/wallboard.md): pages, JSON and the live feed.
    wallboard_feed.init_app(app, socketio, bus, floor_service or FloorService(session_factory, config))
    app.register_blueprint(wallboard.bp)
    # Lifecycle and escalation (docs/escalation.md): ticket panel, group tickets, notices.
    escalation.init_app(app, socketio, bus, escalation_service, config, session_factory)
    # Admin pages for the help desk's tables: groups, SLA, approval lines (docs/escalation.md).
    helpdesk_admin.init_app(app, None, session_factory)
    # The analyzer (docs/analyzer.md): reports, charts and CSV for supervisors.
    analyzer.init_app(app, analyzer_service or Analyzer.from_config(config))
    # Early warning (docs/alarms.md): the alarm webhook, the banner and its live feed.
    alarms.init_app(app, socketio, bus, alarm_service, config, session_factory)
    sockets.register(socketio)
    errors.register(app)
    security.register(app)
    i18n.register(app)
    filters.register(app)
    return app


def close_app(app: Flask) -> None:
    """Unsubscribe the app's notifier and wallboard feed from the bus, stop
    the feed's thread and close the analyzer's database engine (call at shutdown)."""
    ctx: DesktopContext | None = app.extensions.get(EXTENSION_KEY)
    if ctx is not None:
        ctx.notifier.close()
    wallboard_feed.close_app(app)
    escalation.close_app(app)
    analyzer.close_app(app)
    alarms.close_app(app)
    survey_desk.close_app(app)
