"""The help desk's reference tables, edited by an admin (issue 5: "kept in the
database"): support groups with their members and skills, the SLA table per
system (severity -> progress interval, first-level limit, preset group) and the
approval lines of one-stop requests (docs/escalation.md, docs/intake.md).

Pure domain (no Flask).  Every write is one short transaction and checks what
the database alone cannot (a group code used twice, an approver who could not
open the approvals page, ...); a refusal is ``AdminError(field, message)`` so
the form shows it next to the field.  Nothing is cached: the escalation service
reads the SLA table and the groups, and the intake service the approval line,
at the moment they need them, so a change applies to the next ticket, timer or
request (a request already on its way keeps the line it copied).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cti import escalation as rules
from cti.intake.forms import ONESTOP_KINDS
from db.models import ApprovalLineStep, SlaRule, SupportGroup, SupportGroupMember, User

GROUP_KINDS = ("operations", "technical", "specialist")
# Who can decide a step: the roles that see the approvals page (agent_desktop.users.APPROVER_ROLES).
APPROVER_ROLES = ("approver", "supervisor", "admin")
MAX_CODE = 32
MAX_NAME = 200
MAX_SKILLS = 2_000
MAX_EMAIL = 254
MAX_MINUTES = 7 * 24 * 60          # a week: anything longer is a typing error
MAX_APPROVAL_STEPS = 5
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SYSTEM = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class AdminError(ValueError):
    """Input the tables do not accept; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(LookupError):
    pass


# ---- input checks (pure) -------------------------------------------------------------------
def clean_code(value: str) -> str:
    code = (value or "").strip().lower()
    if not _CODE.match(code):
        raise AdminError("code", "use 1-32 lower-case letters, digits, '-' or '_'")
    return code


def clean_name(value: str, field: str, *, required: bool = True, limit: int = MAX_NAME) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise AdminError(field, "must not be empty")
    if len(text) > limit:
        raise AdminError(field, f"at most {limit} characters")
    return text


def clean_email(value: str, field: str = "email") -> str:
    address = (value or "").strip()
    if not address:
        return ""
    if len(address) > MAX_EMAIL or not _EMAIL.match(address):
        raise AdminError(field, "not an e-mail address")
    return address


def clean_system(value: str) -> str:
    system = (value or "").strip()
    if not _SYSTEM.match(system):
        raise AdminError("system", "'*' or a system name of letters, digits, '.', '-' or '_' (at most 64)")
    return system


def clean_minutes(value: Any, field: str) -> Optional[int]:
    """Empty: no value (the defaults apply); else whole minutes 1..a week."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        minutes = int(str(value).strip())
    except ValueError:
        raise AdminError(field, "whole minutes") from None
    if not 1 <= minutes <= MAX_MINUTES:
        raise AdminError(field, f"between 1 and {MAX_MINUTES} minutes")
    return minutes


def clean_severity(value: Any) -> int:
    try:
        return rules.clean_severity(value)
    except rules.EscalationError:
        raise AdminError("severity", "1, 2, 3 or 4") from None


def clean_line(approver_ids: Iterable[Optional[int]]) -> list[int]:
    """The steps in order, blanks dropped; at least one, nobody twice."""
    line = [int(a) for a in approver_ids if a is not None]
    if not line:
        raise AdminError("approvers", "an approval line needs at least one approver")
    if len(line) > MAX_APPROVAL_STEPS:
        raise AdminError("approvers", f"at most {MAX_APPROVAL_STEPS} steps")
    if len(set(line)) != len(line):
        raise AdminError("approvers", "the same person twice in one line")
    return line


# ---- the service ---------------------------------------------------------------------------
class HelpdeskAdmin:
    def __init__(self, session_factory: sessionmaker):
        self._sessions = session_factory

    # ---- support groups ---------------------------------------------------------------------
    def groups(self) -> list[dict[str, Any]]:
        """Every group (inactive ones too) with its number of members."""
        with self._sessions() as s:
            counts = dict(s.execute(select(SupportGroupMember.group_id, func.count(SupportGroupMember.id))
                                    .group_by(SupportGroupMember.group_id)).all())
            return [{**_group(g), "member_count": counts.get(g.id, 0)}
                    for g in s.scalars(select(SupportGroup).order_by(SupportGroup.id))]

    def group(self, group_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            g = _get(s, SupportGroup, group_id)
            return {**_group(g), "members": [_member(m) for m in g.members]}

    def save_group(self, group_id: Optional[int], *, code: str, name: str, name_en: str = "", kind: str,
                   skills: str = "", email: str = "", active: bool = True) -> int:
        """Create (``group_id`` None) or change a group; returns its id."""
        code = clean_code(code)
        values = dict(code=code, name=clean_name(name, "name"), name_en=clean_name(name_en, "name_en", required=False),
                      kind=kind, skills=clean_name(skills, "skills", required=False, limit=MAX_SKILLS),
                      email=clean_email(email), active=bool(active))
        if kind not in GROUP_KINDS:
            raise AdminError("kind", "operations, technical or specialist")
        with self._sessions.begin() as s:
            clash = s.scalar(select(SupportGroup.id).where(SupportGroup.code == code))
            if clash is not None and clash != group_id:
                raise AdminError("code", "another group has this code")
            group = SupportGroup() if group_id is None else _get(s, SupportGroup, group_id)
            for key, value in values.items():
                setattr(group, key, value)
            s.add(group)
            s.flush()
            return group.id

    def save_member(self, group_id: int, user_id: int, *, skills: str = "", email: str = "") -> int:
        """Add a user to a group, or change their skills and address if they are in it."""
        skills = clean_name(skills, "skills", required=False, limit=MAX_SKILLS)
        email = clean_email(email)
        with self._sessions.begin() as s:
            _get(s, SupportGroup, group_id)
            user = s.get(User, user_id)
            if user is None or not user.active:
                raise AdminError("user", "no such active user")
            member = s.scalar(select(SupportGroupMember).where(SupportGroupMember.group_id == group_id,
                                                               SupportGroupMember.user_id == user_id))
            if member is None:
                member = SupportGroupMember(group_id=group_id, user_id=user_id)
                s.add(member)
            member.skills, member.email = skills, email
            s.flush()
            return member.id

    def remove_member(self, group_id: int, member_id: int) -> None:
        """Tickets already assigned to the person keep them (the timeline keeps who it was)."""
        with self._sessions.begin() as s:
            member = s.get(SupportGroupMember, member_id)
            if member is None or member.group_id != group_id:
                raise NotFound(f"no member {member_id} in group {group_id}")
            s.delete(member)

    # ---- SLA table -----------------------------------------------------------------------------
    def sla_rules(self) -> list[dict[str, Any]]:
        with self._sessions() as s:
            codes = dict(s.execute(select(SupportGroup.id, SupportGroup.code)).all())
            return [_rule(r, codes) for r in s.scalars(select(SlaRule).order_by(
                SlaRule.system != rules.ANY_SYSTEM, SlaRule.system, SlaRule.severity))]

    def sla_rule(self, rule_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            codes = dict(s.execute(select(SupportGroup.id, SupportGroup.code)).all())
            return _rule(_get(s, SlaRule, rule_id), codes)

    def save_sla_rule(self, rule_id: Optional[int], *, system: str, severity: Any, progress_minutes: Any,
                      first_level_minutes: Any, group_id: Optional[int]) -> int:
        """Create or change one row of the SLA table; returns its id.  Empty minutes
        mean the configured defaults ([escalation] progress_minutes for severity 1/2,
        first_level_hours)."""
        values = dict(system=clean_system(system), severity=clean_severity(severity),
                      progress_minutes=clean_minutes(progress_minutes, "progress_minutes"),
                      first_level_minutes=clean_minutes(first_level_minutes, "first_level_minutes"),
                      group_id=group_id)
        try:
            with self._sessions.begin() as s:
                if group_id is not None and s.get(SupportGroup, group_id) is None:
                    raise AdminError("group", "no such support group")
                clash = s.scalar(select(SlaRule.id).where(SlaRule.system == values["system"],
                                                          SlaRule.severity == values["severity"]))
                if clash is not None and clash != rule_id:
                    raise AdminError("severity", "this system already has a row for this severity")
                rule = SlaRule() if rule_id is None else _get(s, SlaRule, rule_id)
                for key, value in values.items():
                    setattr(rule, key, value)
                s.add(rule)
                s.flush()
                return rule.id
        except IntegrityError:   # two admins saved the same key at once
            raise AdminError("severity", "this system already has a row for this severity") from None

    def delete_sla_rule(self, rule_id: int) -> None:
        with self._sessions.begin() as s:
            s.delete(_get(s, SlaRule, rule_id))

    # ---- approval lines --------------------------------------------------------------------------
    def approval_lines(self) -> dict[str, list[dict[str, Any]]]:
        """{kind: [{step, user_id, username, display_name}]} for every one-stop kind."""
        with self._sessions() as s:
            rows = s.execute(select(ApprovalLineStep, User).join(User, User.id == ApprovalLineStep.approver_id)
                             .order_by(ApprovalLineStep.kind, ApprovalLineStep.step)).all()
            lines: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ONESTOP_KINDS}
            for step, user in rows:
                lines.setdefault(step.kind, []).append({"step": step.step, "user_id": user.id,
                                                        "username": user.username,
                                                        "display_name": user.display_name})
            return lines

    def save_approval_line(self, kind: str, approver_ids: Iterable[Optional[int]]) -> list[int]:
        """Replace a kind's line.  Requests already made keep the line they copied."""
        if kind not in ONESTOP_KINDS:
            raise NotFound(f"no one-stop kind {kind!r}")
        line = clean_line(approver_ids)
        with self._sessions.begin() as s:
            for position, user_id in enumerate(line):
                user = s.get(User, user_id)
                if user is None or not user.active or user.role not in APPROVER_ROLES:
                    raise AdminError(f"step_{position}", "not an active approver, supervisor or admin")
            for old in s.scalars(select(ApprovalLineStep).where(ApprovalLineStep.kind == kind)):
                s.delete(old)
            s.flush()       # the (kind, step) rows are unique: the old ones go first
            s.add_all(ApprovalLineStep(kind=kind, step=i, approver_id=u) for i, u in enumerate(line))
        return line

    # ---- people for the forms --------------------------------------------------------------------
    def users(self, roles: Optional[Iterable[str]] = None) -> list[dict[str, Any]]:
        with self._sessions() as s:
            stmt = select(User).where(User.active.is_(True)).order_by(User.display_name, User.id)
            if roles is not None:
                stmt = stmt.where(User.role.in_(tuple(roles)))
            return [{"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role}
                    for u in s.scalars(stmt)]


def _get(s: Session, model, row_id: Optional[int]):
    row = s.get(model, row_id) if row_id is not None else None
    if row is None:
        raise NotFound(f"no {model.__tablename__} row {row_id}")
    return row


def _group(g: SupportGroup) -> dict[str, Any]:
    return {"id": g.id, "code": g.code, "name": g.name, "name_en": g.name_en, "kind": g.kind, "skills": g.skills,
            "email": g.email, "active": g.active}


def _member(m: SupportGroupMember) -> dict[str, Any]:
    return {"id": m.id, "user_id": m.user_id, "username": m.user.username, "display_name": m.user.display_name,
            "skills": m.skills, "email": m.email}


def _rule(r: SlaRule, codes: dict[int, str]) -> dict[str, Any]:
    return {"id": r.id, "system": r.system, "severity": r.severity, "progress_minutes": r.progress_minutes,
            "first_level_minutes": r.first_level_minutes, "group_id": r.group_id,
            "group": codes.get(r.group_id) if r.group_id is not None else None}
