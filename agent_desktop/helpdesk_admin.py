"""Admin pages for the help desk's reference tables (docs/escalation.md,
docs/intake.md): support groups with their members and skills, the SLA table
per system, and the approval lines of one-stop requests.  A list and an edit
form per table, admin role only (others 403).

The rules are ``cti.helpdesk_admin.HelpdeskAdmin``'s; this module only turns
Flask-WTF forms (CSRF token in each) into its calls.  Bad input re-renders the
form with the message next to the field and everything typed kept; nothing is
written then.
"""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import sessionmaker
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from agent_desktop.auth import roles_required
from agent_desktop.escalation import SEVERITY_LABELS
from agent_desktop.portal import KIND_LABELS
from cti import helpdesk_admin as rules
from cti.helpdesk_admin import AdminError, HelpdeskAdmin, NotFound

EXTENSION_KEY = "happycall_helpdesk_admin"
ADMIN = "admin"

bp = Blueprint("helpdesk_admin", __name__, url_prefix="/admin")

GROUP_KIND_LABELS = {
    "operations": _l("Operations"),
    "technical": _l("Technical support"),
    "specialist": _l("Specialist group"),
}

# The service's refusals, as the form shows them (unknown ones are shown as they are).
SERVICE_MESSAGES = {
    "another group has this code": _l("Another group has this code."),
    "this system already has a row for this severity": _l("This system already has a row for this severity."),
    "no such support group": _l("Choose one of the support groups."),
    "no such active user": _l("Choose one of the active users."),
    "an approval line needs at least one approver": _l("An approval line needs at least one approver."),
    "the same person twice in one line": _l("The same person appears twice in the line."),
    "not an active approver, supervisor or admin": _l("Not an active approver, supervisor or admin."),
}


def _at_most(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters."))


def _checked_by(check, message):
    """A WTForms validator from one of the service's pure checks, with a clear message."""
    def validate(_form, field):
        try:
            check(field.data)
        except AdminError:
            raise ValidationError(str(message)) from None
    return validate


# ---- forms -----------------------------------------------------------------------------------
class GroupForm(FlaskForm):
    code = StringField(_l("Code"), validators=[
        DataRequired(message=_l("Enter a code.")),
        _checked_by(rules.clean_code, _l("Use 1-32 lower-case letters, digits, '-' or '_'."))])
    name = StringField(_l("Name (Korean)"), validators=[DataRequired(message=_l("Enter the name.")),
                                                        _at_most(rules.MAX_NAME)])
    name_en = StringField(_l("Name (English)"), validators=[_at_most(rules.MAX_NAME)])
    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in GROUP_KIND_LABELS.items()])
    skills = TextAreaField(_l("Skills"), validators=[_at_most(rules.MAX_SKILLS)])
    email = StringField(_l("Group mailbox"), validators=[
        _checked_by(rules.clean_email, _l("Enter an e-mail address, or nothing."))])
    active = BooleanField(_l("Active (may be chosen for escalation)"), default=True)


class MemberForm(FlaskForm):
    user = SelectField(_l("Person"), choices=[], validate_choice=False)
    skills = StringField(_l("Skills"), validators=[_at_most(rules.MAX_SKILLS)])
    email = StringField(_l("Notice address"), validators=[
        _checked_by(rules.clean_email, _l("Enter an e-mail address, or nothing."))])

    def validate_user(self, field):
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_("Choose one of the active users."))


MINUTES_MESSAGE = _l("Whole minutes between 1 and %(max)d, or empty.", max=rules.MAX_MINUTES)


class SlaForm(FlaskForm):
    system = StringField(_l("System"), validators=[
        DataRequired(message=_l("Enter the system, or * for any system not listed.")),
        _checked_by(rules.clean_system,
                    _l("Use * or a system name of letters, digits, '.', '-' or '_' (at most 64)."))])
    severity = SelectField(_l("Severity"), choices=[(str(k), v) for k, v in SEVERITY_LABELS.items()])
    progress_minutes = StringField(_l("Progress every (minutes)"), validators=[
        _checked_by(lambda v: rules.clean_minutes(v, "progress_minutes"), MINUTES_MESSAGE)])
    first_level_minutes = StringField(_l("First-level limit (minutes)"), validators=[
        _checked_by(lambda v: rules.clean_minutes(v, "first_level_minutes"), MINUTES_MESSAGE)])
    group = SelectField(_l("Preset group"), choices=[], validate_choice=False)

    def validate_group(self, field):
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_("Choose one of the support groups."))


class ApprovalLineForm(FlaskForm):
    """One select per step; empty steps are dropped, the order kept."""
    step_0 = SelectField(_l("Step 1"), choices=[], validate_choice=False)
    step_1 = SelectField(_l("Step 2"), choices=[], validate_choice=False)
    step_2 = SelectField(_l("Step 3"), choices=[], validate_choice=False)
    step_3 = SelectField(_l("Step 4"), choices=[], validate_choice=False)
    step_4 = SelectField(_l("Step 5"), choices=[], validate_choice=False)

    def steps(self):
        return [self.step_0, self.step_1, self.step_2, self.step_3, self.step_4]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        allowed = {value for value, _label in self.step_0.choices}
        for field in self.steps():
            if field.data not in allowed:
                field.errors.append(_("Choose one of the approvers."))
                ok = False
        return ok

    def approver_ids(self) -> list[Optional[int]]:
        return [int(f.data) if f.data else None for f in self.steps()]


# ---- wiring ----------------------------------------------------------------------------------
def init_app(app: Flask, service: Optional[HelpdeskAdmin], session_factory: sessionmaker) -> None:
    app.extensions[EXTENSION_KEY] = service or HelpdeskAdmin(session_factory)
    app.register_blueprint(bp)


def _admin() -> HelpdeskAdmin:
    return current_app.extensions[EXTENSION_KEY]


def _show_refusal(form: FlaskForm, exc: AdminError) -> None:
    """Put a refusal of the service next to its field (or the form's first field)."""
    field = getattr(form, exc.field, None)
    if field is None and exc.field == "approvers":
        field = form.step_0
    if field is None:
        field = next(iter(form))
    field.errors = list(field.errors or []) + [str(SERVICE_MESSAGES.get(exc.message, exc.message))]


def _or_404(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except NotFound:
        abort(404)


# ---- support groups --------------------------------------------------------------------------
@bp.get("/groups")
@roles_required(ADMIN)
def groups():
    return render_template("helpdesk_admin/groups.html", groups=_admin().groups(), kinds=GROUP_KIND_LABELS)


@bp.route("/groups/new", methods=["GET", "POST"])
@roles_required(ADMIN)
def group_new():
    return _group_page(None)


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@roles_required(ADMIN)
def group_edit(group_id: int):
    return _group_page(group_id)


def _group_page(group_id: Optional[int], member_form: Optional[MemberForm] = None, status: int = 200):
    """The group form (and, for an existing group, its members).  ``member_form``:
    a refused member form to show again; the group form then shows the stored values."""
    group = _or_404(_admin().group, group_id) if group_id is not None else None
    from_request = member_form is None
    form = GroupForm(prefix="group", data=group, **({} if from_request else {"formdata": None}))
    if from_request and form.is_submitted():
        if form.validate():
            try:
                saved = _admin().save_group(group_id, code=form.code.data, name=form.name.data,
                                            name_en=form.name_en.data, kind=form.kind.data,
                                            skills=form.skills.data, email=form.email.data,
                                            active=form.active.data)
            except AdminError as exc:
                _show_refusal(form, exc)
            else:
                flash(_("Support group %(code)s saved.", code=rules.clean_code(form.code.data)))
                return redirect(url_for("helpdesk_admin.group_edit", group_id=saved), 303)
        status = 400
    if group is not None and member_form is None:
        member_form = _member_form(formdata=None)
    return render_template("helpdesk_admin/group_edit.html", group=group, form=form, member_form=member_form,
                           kinds=GROUP_KIND_LABELS), status


def _member_form(**kwargs) -> MemberForm:
    form = MemberForm(prefix="member", **kwargs)
    form.user.choices = [("", "—")] + [(str(u["id"]), f'{u["display_name"]} ({u["username"]})')
                                       for u in _admin().users()]
    return form


@bp.post("/groups/<int:group_id>/members")
@roles_required(ADMIN)
def member_save(group_id: int):
    _or_404(_admin().group, group_id)
    form = _member_form()
    if form.validate():
        try:
            _or_404(_admin().save_member, group_id, int(form.user.data), skills=form.skills.data,
                    email=form.email.data)
        except AdminError as exc:
            _show_refusal(form, exc)
        else:
            flash(_("Member saved."))
            return redirect(url_for("helpdesk_admin.group_edit", group_id=group_id), 303)
    return _group_page(group_id, member_form=form, status=400)


@bp.post("/groups/<int:group_id>/members/<int:member_id>/remove")
@roles_required(ADMIN)
def member_remove(group_id: int, member_id: int):
    _or_404(_admin().remove_member, group_id, member_id)
    flash(_("Member removed from the group."))
    return redirect(url_for("helpdesk_admin.group_edit", group_id=group_id), 303)


# ---- SLA table -------------------------------------------------------------------------------
@bp.get("/sla")
@roles_required(ADMIN)
def sla():
    return render_template("helpdesk_admin/sla.html", rules=_admin().sla_rules(), severities=SEVERITY_LABELS)


@bp.route("/sla/new", methods=["GET", "POST"])
@roles_required(ADMIN)
def sla_new():
    return _sla_page(None)


@bp.route("/sla/<int:rule_id>", methods=["GET", "POST"])
@roles_required(ADMIN)
def sla_edit(rule_id: int):
    return _sla_page(rule_id)


def _sla_page(rule_id: Optional[int]):
    rule = _or_404(_admin().sla_rule, rule_id) if rule_id is not None else None
    data = None
    if rule is not None:
        data = {"system": rule["system"], "severity": str(rule["severity"]),
                "progress_minutes": "" if rule["progress_minutes"] is None else str(rule["progress_minutes"]),
                "first_level_minutes": "" if rule["first_level_minutes"] is None else str(rule["first_level_minutes"]),
                "group": "" if rule["group_id"] is None else str(rule["group_id"])}
    form = SlaForm(prefix="sla", data=data)
    form.group.choices = [("", _("Default ([escalation] default_group)"))] + [
        (str(g["id"]), f'{g["name"]} ({g["code"]})') for g in _admin().groups()]
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                _admin().save_sla_rule(rule_id, system=form.system.data, severity=form.severity.data,
                                       progress_minutes=form.progress_minutes.data,
                                       first_level_minutes=form.first_level_minutes.data,
                                       group_id=int(form.group.data) if form.group.data else None)
            except AdminError as exc:
                _show_refusal(form, exc)
            else:
                flash(_("SLA row %(system)s / %(severity)s saved.", system=form.system.data.strip(),
                        severity=form.severity.data))
                return redirect(url_for("helpdesk_admin.sla"), 303)
        status = 400
    return render_template("helpdesk_admin/sla_edit.html", rule=rule, form=form), status


@bp.post("/sla/<int:rule_id>/delete")
@roles_required(ADMIN)
def sla_delete(rule_id: int):
    _or_404(_admin().delete_sla_rule, rule_id)
    flash(_("SLA row deleted."))
    return redirect(url_for("helpdesk_admin.sla"), 303)


# ---- approval lines --------------------------------------------------------------------------
def _line_form(kind: str, line: list[dict], from_request: bool) -> ApprovalLineForm:
    """A kind's line form: the stored line, or what was posted (``from_request``)."""
    data = {f"step_{i}": str(step["user_id"]) for i, step in enumerate(line)}
    form = ApprovalLineForm(prefix=f"line-{kind}", data=data, **({} if from_request else {"formdata": None}))
    choices = [("", "—")] + [(str(u["id"]), f'{u["display_name"]} ({u["username"]})')
                             for u in _admin().users(rules.APPROVER_ROLES)]
    for field in form.steps():
        field.choices = choices
    return form


@bp.get("/approval-lines")
@roles_required(ADMIN)
def approval_lines():
    lines = _admin().approval_lines()
    forms = {kind: _line_form(kind, line, from_request=False) for kind, line in lines.items()}
    return render_template("helpdesk_admin/approval_lines.html", lines=lines, forms=forms, kinds=KIND_LABELS)


@bp.post("/approval-lines/<kind>")
@roles_required(ADMIN)
def approval_line_save(kind: str):
    lines = _admin().approval_lines()
    if kind not in lines:
        abort(404)
    form = _line_form(kind, lines[kind], from_request=True)
    if form.validate():
        try:
            _or_404(_admin().save_approval_line, kind, form.approver_ids())
        except AdminError as exc:
            _show_refusal(form, exc)
        else:
            flash(_("Approval line of %(kind)s saved.", kind=KIND_LABELS[kind]))
            return redirect(url_for("helpdesk_admin.approval_lines"), 303)
    forms = {k: (form if k == kind else _line_form(k, line, from_request=False)) for k, line in lines.items()}
    return render_template("helpdesk_admin/approval_lines.html", lines=lines, forms=forms, kinds=KIND_LABELS), 400
