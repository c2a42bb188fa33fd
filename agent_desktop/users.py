"""Who is logged in: read-only lookups of ``db.models.User`` for Flask-Login.

Roles: agent, supervisor, admin, trainee, approver (one-stop requests).  What a role may do beyond that is a
permission (``DesktopUser.can``): ``view_sensitivity`` (agent, supervisor,
admin) and ``edit_sensitivity_codes`` (admin).

Passwords are werkzeug hashes (``User.password_hash``, seeded by ``db.seed``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from agent_desktop.context import services
from cti import sensitivity
from db.models import User

ROLES = ("agent", "supervisor", "admin", "trainee", "approver")
# Who decides one-stop requests on their approval line (docs/intake.md).
APPROVER_ROLES = ("approver", "supervisor", "admin")
SUPERVISOR_ROLES = ("supervisor", "admin")
# Who works the floor: sees the abandoned-call list and may call back (not trainees).
FLOOR_ROLES = ("agent", "supervisor", "admin")

# Checked when the user name is unknown so that a wrong name and a wrong password
# take the same time (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("not a password, only here to spend the same time")


@dataclass(frozen=True)
class DesktopUser(UserMixin):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    state: str
    state_reason: str
    extension: str
    state_since: Optional[dt.datetime] = None
    state_until: Optional[dt.datetime] = None   # end of a timed state (wrap-up)
    has_phone: bool = False

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_supervisor(self) -> bool:
        return self.role in SUPERVISOR_ROLES

    @property
    def works_floor(self) -> bool:
        """Sees the abandoned-call list and may call customers back."""
        return self.role in FLOOR_ROLES

    def can(self, permission: str) -> bool:
        """Role permissions (``cti.sensitivity.ROLE_PERMISSIONS``)."""
        return sensitivity.role_has(self.role, permission)

    @property
    def can_view_sensitivity(self) -> bool:
        return self.can(sensitivity.VIEW_SENSITIVITY)

    @property
    def can_edit_codes(self) -> bool:
        return self.can(sensitivity.EDIT_SENSITIVITY_CODES)

    def get_id(self) -> str:
        return str(self.id)


def _to_user(row: User) -> DesktopUser:
    return DesktopUser(row.id, row.username, row.display_name, row.role, bool(row.active), row.state,
                       row.state_reason, row.extension, row.state_since, row.state_until, bool(row.phone))


def get_user(user_id: int) -> Optional[DesktopUser]:
    with services().sessions() as s:
        row = s.get(User, user_id)
        return _to_user(row) if row is not None else None


def role_of(session_factory, user_id: int) -> Optional[str]:
    """The role of an active user (None if unknown or inactive)."""
    with session_factory() as s:
        return s.scalar(select(User.role).where(User.id == int(user_id), User.active.is_(True)))


def state_until_of(session_factory, user_id: int) -> Optional[dt.datetime]:
    """When the user's timed state (wrap-up) ends (naive UTC), or None."""
    with session_factory() as s:
        return s.scalar(select(User.state_until).where(User.id == int(user_id)))


def load_user(user_id: str) -> Optional[DesktopUser]:
    """Flask-Login user loader."""
    try:
        return get_user(int(user_id))
    except (TypeError, ValueError):
        return None


def authenticate(username: str, password: str) -> Optional[DesktopUser]:
    """The user if the name and password match an active account, else None."""
    username = (username or "").strip()[:64]
    with services().sessions() as s:
        row = s.scalar(select(User).where(User.username == username)) if username else None
        if row is None:
            check_password_hash(_DUMMY_HASH, password or "")
            return None
        if not check_password_hash(row.password_hash, password or "") or not row.active:
            return None
        return _to_user(row)


def staff_overview() -> list[dict]:
    """Everyone who can log in, with their current state (supervisor screen)."""
    with services().sessions() as s:
        rows = s.scalars(select(User).order_by(User.role, User.display_name)).all()
        return [{"id": r.id, "username": r.username, "name": r.display_name, "role": r.role,
                 "extension": r.extension, "active": bool(r.active), "state": r.state,
                 "reason": r.state_reason, "since": r.state_since} for r in rows]
