"""Consultations without a service request (patent 000 FIG. 9): find the
customer by employee number or name, note what was discussed, code their
sensitivity.  Needs the ``view_sensitivity`` permission."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agent_desktop import sensitivity as web
from agent_desktop.auth import permission_required
from agent_desktop.context import services
from cti import sensitivity as rules
from cti.services import NotFound as CallCenterNotFound

bp = Blueprint("consultations", __name__, url_prefix="/consultations")


@bp.get("/")
@permission_required(rules.VIEW_SENSITIVITY)
def index():
    query = request.args.get("q", "").strip()[:100]
    found = services().call_center.find_customers(query) if query else []
    return render_template("consultations/index.html", query=query, found=found,
                           recent=services().sensitivity.recent_consultations(30))


def _render_form(customer_id: int, *, notes: str = "", selected=(), error: str | None = None,
                 status: int = 200):
    try:
        customer = services().call_center.customer(customer_id)
    except CallCenterNotFound:
        abort(404)
    lang = web.page_language()
    profile = services().sensitivity.customer_profile(customer_id, "receptionist", lang)
    table = web.page_table(lang)
    return render_template("consultations/new.html", customer=customer, profile=profile, table=table,
                           groups=web.kind_groups(table), notes=notes, selected=set(selected), error=error,
                           strings=web.client_strings(), lang=lang,
                           max_notes=rules.MAX_NOTES), status


@bp.get("/new")
@permission_required(rules.VIEW_SENSITIVITY)
def new():
    try:
        customer_id = int(request.args.get("customer_id", ""))
    except ValueError:
        return redirect(url_for("consultations.index"))
    return _render_form(customer_id)


@bp.post("/")
@permission_required(rules.VIEW_SENSITIVITY)
def create():
    try:
        customer_id = int(request.form.get("customer_id", ""))
    except ValueError:
        abort(400)
    notes = request.form.get("notes", "")
    codes = request.form.getlist("codes")
    selected = [rules.normalize_code(c)[:8] for c in codes]
    if not notes.strip() and not any(c.strip() for c in codes):
        return _render_form(customer_id, notes=notes, status=400,
                            error=_("Write what was discussed or select codes."))
    try:
        consultation = services().sensitivity.create_consultation(customer_id, current_user.id, notes, codes)
    except rules.NotFound:
        abort(404)
    except rules.PermissionDenied:
        abort(403)
    except rules.SelectionError as exc:
        return _render_form(customer_id, notes=notes, selected=selected, error=web.selection_message(exc),
                            status=400)
    except rules.SensitivityError:
        return _render_form(customer_id, notes=notes, selected=selected, status=400,
                            error=_("The notes are too long (at most %(max)d characters).",
                                    max=rules.MAX_NOTES))
    flash(_("The consultation is recorded."))
    return redirect(url_for("consultations.view", consultation_id=consultation["id"]), code=303)


@bp.get("/<int:consultation_id>")
@permission_required(rules.VIEW_SENSITIVITY)
def view(consultation_id: int):
    try:
        consultation = services().sensitivity.consultation(consultation_id)
    except rules.NotFound:
        abort(404)
    lang = web.page_language()
    codes = [web.recorded_entry(r, lang) for r in consultation["codes"]]
    profile = services().sensitivity.customer_profile(consultation["customer_id"], "receptionist", lang)
    history = [web.recorded_entry(r, lang) for r in profile["history"]]
    return render_template("consultations/view.html", consultation=consultation, codes=codes, history=history,
                           lang=lang)
