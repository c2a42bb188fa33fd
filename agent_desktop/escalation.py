"""Escalation on the desktop (docs/escalation.md): the escalation panel of the
ticket screen (first-level time, classification, escalate, re-assign, cause and
action, progress, 2nd-level resolve, the assignment timeline), the "My group's
tickets" page, and the Socket.IO notices (``EscalationNotifier``).

All logic is in ``cti.escalation_service.EscalationService`` (built once by the
system factory and passed to ``create_app``; when none is passed the app builds
and owns one).  Forms are Flask-WTF forms (CSRF token included); bad input
re-renders the ticket with the typed text and a message, and changes nothing.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_socketio import SocketIO
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional as OptionalValue, ValidationError

from cti import escalation as rules
from cti import tickets as ticket_rules
from cti.escalation_service import (ESCALATION_RESOLVED, TICKET_ESCALATED, TICKET_OVERDUE, EscalationService,
                                    NotAllowed, NotFound)
from cti.events import EventBus

log = logging.getLogger(__name__)

EXTENSION_KEY = "happycall_escalation"

# Socket.IO events sent to browsers.
ESCALATION_EVENT = "escalation"                 # a ticket was assigned to you or your group
ESCALATION_RESOLVED_EVENT = "escalation_resolved"   # a ticket you escalated was resolved
OVERDUE_EVENT = "ticket_overdue"                # severity 1/2 progress overdue (or cleared)

bp = Blueprint("escalation", __name__)

SEVERITY_LABELS = {
    1: _l("1 – critical"),
    2: _l("2 – high"),
    3: _l("3 – medium"),
    4: _l("4 – low"),
}


def _at_most(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters."))


# ---- forms --------------------------------------------------------------------------------
class ClassifyForm(FlaskForm):
    system = StringField(_l("System"), validators=[DataRequired(message=_l("Enter the system.")),
                                                   _at_most(rules.MAX_SYSTEM)])
    severity = SelectField(_l("Severity"), choices=[(str(k), v) for k, v in SEVERITY_LABELS.items()],
                           validate_choice=True)


class EscalateForm(FlaskForm):
    group = SelectField(_l("Support group"), choices=[], validate_choice=False)
    person = SelectField(_l("Person"), choices=[], validate_choice=False, validators=[OptionalValue()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Enter the reason.")),
                                                     _at_most(rules.MAX_REASON)])

    def __init__(self, *args, groups: list[dict] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self._groups = {str(g["id"]): g for g in groups}

    def validate_group(self, field):
        if field.data not in self._groups:
            raise ValidationError(_("Choose one of the support groups."))

    def validate_person(self, field):
        if not field.data:
            return
        group = self._groups.get(self.group.data)
        if group is None or field.data not in {str(m["user_id"]) for m in group["members"]}:
            raise ValidationError(_("The person is not a member of the chosen group."))


class ReassignForm(FlaskForm):
    person = SelectField(_l("Person"), choices=[], validate_choice=False)
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Enter the reason.")),
                                                     _at_most(rules.MAX_REASON)])

    def __init__(self, *args, members: list[dict] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self._members = {str(m["user_id"]) for m in members}

    def validate_person(self, field):
        if field.data not in self._members:
            raise ValidationError(_("The person is not a member of the group."))


class WorkForm(FlaskForm):
    cause = TextAreaField(_l("Cause"), validators=[_at_most(rules.MAX_TEXT)])
    action = TextAreaField(_l("Action"), validators=[_at_most(rules.MAX_TEXT)])


class ResolveForm(FlaskForm):
    cause = TextAreaField(_l("Cause"), validators=[DataRequired(message=_l("Enter the cause.")),
                                                   _at_most(rules.MAX_TEXT)])
    action = TextAreaField(_l("Action"), validators=[DataRequired(message=_l("Enter the action taken.")),
                                                     _at_most(rules.MAX_TEXT)])
    resolution = TextAreaField(_l("Resolution"), validators=[_at_most(ticket_rules.MAX_RESOLUTION_LENGTH)])


class ProgressForm(FlaskForm):
    text = TextAreaField(_l("Progress"), validators=[DataRequired(message=_l("Enter the progress.")),
                                                     _at_most(rules.MAX_REASON)])


FORMS = {"classify": ClassifyForm, "escalate": EscalateForm, "reassign": ReassignForm, "work": WorkForm,
         "resolve": ResolveForm, "progress": ProgressForm}


def client_strings() -> dict[str, str]:
    """Texts of the desktop's escalation notices ({group}, {by}, {severity} filled in by the script)."""
    return {
        "assigned_to_you": _("assigned to you ({group}) by {by}"),
        "assigned_to_group": _("assigned to your group {group} by {by}"),
        "auto_assigned": _("assigned to your group {group} automatically (first-level time limit)"),
        "resolved": _("resolved at the 2nd level by {by}"),
        "overdue": _("severity {severity}: progress update overdue"),
    }


# ---- wiring -------------------------------------------------------------------------------
class EscalationDesk:
    """The app's escalation service and its Socket.IO notifier."""

    def __init__(self, service: EscalationService, notifier: "EscalationNotifier", owned: bool):
        self.service, self.notifier, self.owned = service, notifier, owned

    def close(self) -> None:
        self.notifier.close()
        if self.owned:
            self.service.close()


def init_app(app: Flask, socketio: SocketIO, bus: EventBus, service: Optional[EscalationService],
             config: dict, sessions) -> EscalationDesk:
    owned = service is None
    if service is None:
        from cti.mailer import SmtpMailer

        service = EscalationService(sessions, bus, config, mailer=SmtpMailer.from_config(config["mail"]))
    desk = EscalationDesk(service, EscalationNotifier(socketio, bus), owned)
    app.extensions[EXTENSION_KEY] = desk
    app.register_blueprint(bp)
    app.add_template_filter(lambda v: str(SEVERITY_LABELS.get(v, v or "—")), "severity_label")
    app.add_template_global(client_strings, "escalation_strings")
    return desk


def close_app(app: Flask) -> None:
    desk: Optional[EscalationDesk] = app.extensions.get(EXTENSION_KEY)
    if desk is not None:
        desk.close()


def service() -> EscalationService:
    return current_app.extensions[EXTENSION_KEY].service


# ---- the ticket panel -------------------------------------------------------------------------
def panel(ticket_id: int, forms: Optional[dict[str, FlaskForm]] = None, errors: Optional[dict] = None,
          open_form: str = "") -> dict[str, Any]:
    """What the ticket screen's escalation panel needs (``tickets/view.html``)."""
    svc = service()
    state = svc.ticket_escalation(ticket_id, current_user.id)
    groups = svc.groups()
    members = (state["group"] or {}).get("members", [])
    forms = dict(forms or {})
    if "classify" not in forms:
        forms["classify"] = ClassifyForm(prefix="cls", formdata=None,
                                         data={"system": state["system"], "severity": str(state["severity"] or 3)})
    forms.setdefault("escalate", EscalateForm(prefix="esc", formdata=None, groups=groups))
    forms.setdefault("reassign", ReassignForm(prefix="rea", formdata=None, members=members))
    if "work" not in forms:
        forms["work"] = WorkForm(prefix="work", formdata=None, data={"cause": state["cause"], "action": state["action"]})
    if "resolve" not in forms:
        forms["resolve"] = ResolveForm(prefix="res2", formdata=None,
                                       data={"cause": state["cause"], "action": state["action"]})
    forms.setdefault("progress", ProgressForm(prefix="prog", formdata=None))
    may_work = current_user.works_floor
    return {"state": state, "groups": groups, "members": members, "forms": forms, "errors": errors or {},
            "open_form": open_form, "systems": svc.systems(), "may_escalate": may_work,
            "may_work_group": state["viewer_in_group"] or state["viewer_supervises"]}


def _ticket_page(ticket_id: int, form_name: str, form: FlaskForm, message: Optional[str] = None, status=400):
    """The ticket screen again, with the typed text and the errors (nothing lost)."""
    from agent_desktop import tickets as ticket_web

    # keyed by the field's (prefixed) name, as the template looks them up
    errors = {form[name].name: [str(e) for e in errs] for name, errs in form.errors.items() if name in form}
    if message:
        errors["_"] = [message]
    esc = panel(ticket_id, forms={form_name: form}, errors=errors, open_form=form_name)
    return ticket_web.render_ticket(ticket_id, esc=esc, status=status)


def _handle(ticket_id: int, form_name: str, form: FlaskForm, action: Callable[[], None], done: str):
    try:
        service().ticket_escalation(ticket_id)
    except NotFound:
        abort(404)
    if not form.validate_on_submit():
        return _ticket_page(ticket_id, form_name, form)
    try:
        action()
    except NotAllowed:
        return _ticket_page(ticket_id, form_name, form, _("You may not do this for this ticket."), 403)
    except ticket_rules.InvalidTicketMove:
        return _ticket_page(ticket_id, form_name, form, _("The ticket cannot be resolved in its current status."),
                            409)
    except (rules.EscalationError, ValueError) as exc:
        log.info("escalation request refused: %s", exc)
        return _ticket_page(ticket_id, form_name, form, _("The request was refused: %(reason)s", reason=str(exc)))
    flash(done)
    return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#escalation", code=303)


@bp.post("/tickets/<int:ticket_id>/classify")
@login_required
def classify(ticket_id: int):
    form = ClassifyForm(prefix="cls")
    return _handle(ticket_id, "classify", form,
                   lambda: service().classify(ticket_id, current_user.id, form.system.data, form.severity.data),
                   _("Classification saved."))


@bp.post("/tickets/<int:ticket_id>/escalate")
@login_required
def escalate(ticket_id: int):
    form = EscalateForm(prefix="esc", groups=service().groups())
    return _handle(ticket_id, "escalate", form,
                   lambda: service().escalate(ticket_id, current_user.id, int(form.group.data),
                                              int(form.person.data) if form.person.data else None,
                                              form.reason.data),
                   _("The ticket was escalated."))


@bp.post("/tickets/<int:ticket_id>/reassign")
@login_required
def reassign(ticket_id: int):
    state = _state_or_404(ticket_id)
    form = ReassignForm(prefix="rea", members=(state["group"] or {}).get("members", []))
    return _handle(ticket_id, "reassign", form,
                   lambda: service().reassign(ticket_id, current_user.id, int(form.person.data), form.reason.data),
                   _("The ticket was re-assigned."))


@bp.post("/tickets/<int:ticket_id>/work")
@login_required
def work(ticket_id: int):
    form = WorkForm(prefix="work")
    return _handle(ticket_id, "work", form,
                   lambda: service().record_work(ticket_id, current_user.id, form.cause.data, form.action.data),
                   _("Cause and action saved."))


@bp.post("/tickets/<int:ticket_id>/progress")
@login_required
def progress(ticket_id: int):
    form = ProgressForm(prefix="prog")
    return _handle(ticket_id, "progress", form,
                   lambda: service().add_progress(ticket_id, current_user.id, form.text.data),
                   _("Progress saved."))


@bp.post("/tickets/<int:ticket_id>/resolve-escalated")
@login_required
def resolve(ticket_id: int):
    form = ResolveForm(prefix="res2")
    return _handle(ticket_id, "resolve", form,
                   lambda: service().resolve(ticket_id, current_user.id, form.cause.data, form.action.data,
                                             form.resolution.data),
                   _("The ticket is resolved."))


def _state_or_404(ticket_id: int) -> dict:
    try:
        return service().ticket_escalation(ticket_id, current_user.id)
    except NotFound:
        abort(404)


@bp.get("/groups/tickets")
@login_required
def group_tickets():
    return render_template("escalation/group_tickets.html", rows=service().group_tickets(current_user.id))


# ---- Socket.IO notices ------------------------------------------------------------------------
class EscalationNotifier:
    """Bus -> Socket.IO for escalation topics (rooms of ``agent_desktop.notifier``):
    the people to tell are named in each payload (``notify_user_ids``); overdue
    flags also go to the supervisors.  Payloads carry ids and short texts; the
    pages set them with textContent."""

    def __init__(self, socketio: SocketIO, bus: EventBus):
        self._socketio = socketio
        self._unsubscribe = [bus.subscribe(TICKET_ESCALATED, self._on_escalated),
                             bus.subscribe(ESCALATION_RESOLVED, self._on_resolved),
                             bus.subscribe(TICKET_OVERDUE, self._on_overdue)]

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _on_escalated(self, _topic: str, p: dict[str, Any]) -> None:
        data = {k: p.get(k) for k in ("ticket_id", "incident_id", "kind", "group", "group_en", "to_user_id",
                                      "to", "by", "automatic", "reason", "severity", "at")}
        self._emit(ESCALATION_EVENT, data, p.get("notify_user_ids") or [])

    def _on_resolved(self, _topic: str, p: dict[str, Any]) -> None:
        data = {k: p.get(k) for k in ("ticket_id", "incident_id", "by", "at")}
        self._emit(ESCALATION_RESOLVED_EVENT, data, p.get("notify_user_ids") or [])

    def _on_overdue(self, _topic: str, p: dict[str, Any]) -> None:
        from agent_desktop.notifier import SUPERVISORS_ROOM

        data = {k: p.get(k) for k in ("ticket_id", "incident_id", "overdue", "severity")}
        self._emit(OVERDUE_EVENT, data, p.get("notify_user_ids") or [], extra_rooms=[SUPERVISORS_ROOM])

    def _emit(self, event: str, data: dict, user_ids: list[int], extra_rooms: list[str] = ()) -> None:
        from agent_desktop.notifier import agent_room

        rooms = [agent_room(u) for u in user_ids] + list(extra_rooms)
        if rooms:
            self._socketio.emit(event, data, to=rooms, namespace="/")
