"""Desktop notices kept until read (table ``user_notices``).

A notice is written by the service that has something to tell, in the same
transaction as what it is about (``add``), and announced on the bus by that
service after the commit; the desktop shows it at once when the user is
logged in, and lists it again (``unread``) every time they open the desktop
until they mark it read.  So a notice sent while the user was away is not lost.

Functions over a session factory or an open session: no state of their own.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Ticket, UserNotice

MAX_LISTED = 50           # unread notices listed on the desktop (newest first)


class NotFound(LookupError):
    """No such notice for this user."""


def add(s: Session, user_id: int, kind: str, ticket_id: Optional[int], data: dict[str, Any],
        now: dt.datetime) -> UserNotice:
    notice = UserNotice(user_id=int(user_id), kind=kind[:32], ticket_id=ticket_id, data=dict(data), created_at=now)
    s.add(notice)
    s.flush()
    return notice


def view(notice: UserNotice, incident_id: str = "") -> dict[str, Any]:
    """What the desktop shows of a notice (the same shape as its live event)."""
    return {**dict(notice.data or {}), "notice_id": notice.id, "kind": notice.kind, "ticket_id": notice.ticket_id,
            "incident_id": (notice.data or {}).get("incident_id") or incident_id,
            "at": notice.created_at.isoformat() + "Z", "read": notice.read_at is not None}


def unread(sessions: sessionmaker, user_id: int, kinds: tuple[str, ...] = (),
           limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """The user's unread notices, newest first."""
    with sessions() as s:
        stmt = (select(UserNotice, Ticket.incident_id).outerjoin(Ticket, Ticket.id == UserNotice.ticket_id)
                .where(UserNotice.user_id == int(user_id), UserNotice.read_at.is_(None)))
        if kinds:
            stmt = stmt.where(UserNotice.kind.in_(kinds))
        rows = s.execute(stmt.order_by(UserNotice.created_at.desc(), UserNotice.id.desc()).limit(limit)).all()
        return [view(notice, incident or "") for notice, incident in rows]


def mark_read(sessions: sessionmaker, user_id: int, notice_id: int, now: dt.datetime) -> bool:
    """Mark one of the user's notices read.  True when it was unread; False when it
    was read already; ``NotFound`` when it is not theirs (or does not exist)."""
    with sessions.begin() as s:
        owner = s.scalar(select(UserNotice.user_id).where(UserNotice.id == int(notice_id)))
        if owner is None or owner != int(user_id):
            raise NotFound(f"notice {notice_id}")
        done = s.execute(update(UserNotice).where(UserNotice.id == int(notice_id), UserNotice.read_at.is_(None))
                         .values(read_at=now))
        return done.rowcount == 1
