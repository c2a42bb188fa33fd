"""Approvers decide one-stop requests (docs/intake.md): the requests whose
current step waits for the logged-in user, with approve / reject and a comment.
The rules (order, who may decide) are ``cti.intake.approval``'s."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from agent_desktop import portal, users
from agent_desktop.auth import roles_required
from agent_desktop.context import services
from cti.intake import approval
from cti.intake.service import NotFound
from db.models import User

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

DECISION_LABELS = {
    "pending": _l("Awaiting decision"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "skipped": _l("Skipped"),
}


def _intake():
    intake = portal.ext().intake
    if intake is None:
        abort(503)
    return intake


def _names() -> dict[int, str]:
    with services().sessions() as s:
        return {row.id: row.display_name for row in s.execute(select(User.id, User.display_name))}


@bp.get("/")
@roles_required(*users.APPROVER_ROLES)
def index():
    pending = _intake().pending_for(current_user.id)
    return render_template("approvals/index.html", pending=pending, names=_names(), kinds=portal.KIND_LABELS,
                           decisions=DECISION_LABELS)


@bp.post("/<int:request_id>")
@roles_required(*users.APPROVER_ROLES)
def decide(request_id: int):
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")[:2000]
    try:
        out = _intake().decide(request_id, current_user.id, decision, comment)
    except NotFound:
        abort(404)
    except approval.NotYourStep:
        flash(_("This request waits for another approver."))
        return redirect(url_for("approvals.index"), 303)
    except approval.AlreadyDecided:
        flash(_("This request was already decided."))
        return redirect(url_for("approvals.index"), 303)
    except approval.ApprovalError:
        abort(400)
    number = f"OS-{request_id:06d}"
    if out["status"] == approval.APPROVED:
        flash(_("%(number)s approved: ticket opened.", number=number))
    elif out["status"] == approval.REJECTED:
        flash(_("%(number)s rejected.", number=number))
    else:
        flash(_("%(number)s approved: sent to the next approver.", number=number))
    return redirect(url_for("approvals.index"), 303)
