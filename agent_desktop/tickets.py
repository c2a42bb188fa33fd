"""Ticket screen and resolving a ticket."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from agent_desktop import escalation as esc_web
from agent_desktop import labels, portal, users
from agent_desktop.auth import roles_required
from agent_desktop import sensitivity as sens_web
from agent_desktop.context import services
from cti import sensitivity as sens_rules
from cti import tickets as ticket_rules
from cti.intake.service import NotFound as IntakeNotFound
from cti.services import NotFound

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

# Who may download a ticket's attachments: the roles that work tickets (not
# trainees or approvers, who only see the names).
ATTACHMENT_ROLES = users.FLOOR_ROLES
# A sender's declared type is served only when it is a plain ``type/subtype`` that
# no browser runs as a page; anything else (HTML, SVG, XML, scripts) is served as
# bytes.  The download is an attachment in any case (never shown inline).
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ACTIVE_TYPES = ("html", "xhtml", "svg", "xml", "javascript", "ecmascript", "x-shockwave-flash")
SAFE_FALLBACK_TYPE = "application/octet-stream"


def _view_or_404(ticket_id: int) -> dict:
    try:
        return services().call_center.ticket_view(ticket_id)
    except NotFound:
        abort(404)


def _sensitivity(ticket_id: int) -> dict | None:
    """The sensitivity panels, only for roles that may see codes."""
    if not current_user.can_view_sensitivity:
        return None
    lang = sens_web.page_language()
    try:
        data = services().sensitivity.ticket_sensitivity(ticket_id, lang)
    except sens_rules.NotFound:
        abort(404)
    table = sens_web.page_table(lang)
    return {"codes": [sens_web.recorded_entry(r, lang) for r in data["codes"]], "analysis": data["analysis"],
            "history": [sens_web.recorded_entry(r, lang) for r in data["history"]], "table": table,
            "groups": sens_web.kind_groups(table), "strings": sens_web.client_strings()}


def _escalation_panel(ticket_id: int) -> dict | None:
    """The escalation panel (agent_desktop.escalation), when the app has the service."""
    if esc_web.EXTENSION_KEY not in current_app.extensions:
        return None
    return esc_web.panel(ticket_id)


def _thread(ticket_id: int) -> list[dict] | None:
    """The ticket's e-mail thread (docs/intake.md), when the app has the intake service."""
    intake = portal.ext().intake
    if intake is None:
        return None
    return intake.thread(ticket_id)


def download_type(declared: str) -> str:
    """The Content-Type an attachment is served with (see ``_ACTIVE_TYPES``)."""
    mimetype = (declared or "").split(";", 1)[0].strip().lower()
    if not _MIME.match(mimetype) or any(word in mimetype for word in _ACTIVE_TYPES):
        return SAFE_FALLBACK_TYPE
    return mimetype


def render_ticket(ticket_id: int, *, esc: dict | None = None, status: int = 200):
    """The ticket screen with a given escalation panel (its forms re-shown with errors)."""
    return _render(_view_or_404(ticket_id), esc=esc, status=status)


def _render(view: dict, *, request_text: str | None = None, resolution_text: str | None = None,
            error: str | None = None, status: int = 200, esc: dict | None = None):
    ticket = view["ticket"]
    return render_template(
        "tickets/view.html", esc=esc or _escalation_panel(ticket["id"]), view=view, ticket=ticket,
        customer=view["customer"],
        request_text=ticket["request"] if request_text is None else request_text,
        resolution_text=ticket["resolution"] if resolution_text is None else resolution_text,
        error=error, is_open=ticket_rules.is_open(ticket["status"]),
        max_length=ticket_rules.MAX_RESOLUTION_LENGTH, sens=_sensitivity(ticket["id"]),
        thread=_thread(ticket["id"]), may_download=current_user.role in ATTACHMENT_ROLES,
        lang_next=url_for("tickets.view", ticket_id=ticket["id"])), status


@bp.get("/<int:ticket_id>")
@login_required
def view(ticket_id: int):
    return _render(_view_or_404(ticket_id))


@bp.post("/<int:ticket_id>/resolve")
@login_required
def resolve(ticket_id: int):
    view_data = _view_or_404(ticket_id)
    request_text = request.form.get("request", "")
    resolution = request.form.get("resolution", "")
    try:
        services().call_center.resolve(ticket_id, current_user.id, resolution, request=request_text)
    except ticket_rules.InvalidTicketMove:
        status = labels.label(labels.TICKET_STATUS_LABELS, view_data["ticket"]["status"])
        return _render(view_data, request_text=request_text, resolution_text=resolution, status=409,
                       error=_("A ticket in status \"%(status)s\" cannot be resolved.", status=status))
    except ValueError:
        if not resolution.strip():
            error = _("Enter the resolution before closing the ticket.")
        else:
            error = _("The resolution is too long (at most %(max)d characters).",
                      max=ticket_rules.MAX_RESOLUTION_LENGTH)
        return _render(view_data, request_text=request_text, resolution_text=resolution, status=400,
                       error=error)
    except NotFound:
        abort(404)
    flash(_("Ticket %(incident)s is resolved.", incident=view_data["ticket"]["incident_id"]))
    return redirect(url_for("tickets.view", ticket_id=ticket_id), code=303)


@bp.get("/<int:ticket_id>/attachments/<int:attachment_id>")
@roles_required(*ATTACHMENT_ROLES)
def attachment(ticket_id: int, attachment_id: int):
    """One attachment as a download: always ``Content-Disposition: attachment``
    with the sender's (cleaned) file name, a type that cannot run as a page, and a
    sandbox policy in case a browser opens it anyway."""
    intake = portal.ext().intake
    if intake is None:
        abort(404)
    try:
        item = intake.attachment_file(ticket_id, attachment_id)
    except IntakeNotFound:
        abort(404)
    response = send_file(item["path"], mimetype=download_type(item["content_type"]), as_attachment=True,
                         download_name=item["name"], conditional=False, etag=False, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response
