"""Jinja filters for the desktop templates."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from flask import Flask

from agent_desktop import labels
from agent_desktop.sensitivity import evidence_parts


def local_time(value: str | dt.datetime | None, with_date: bool = True) -> str:
    """ISO time from the services (UTC, "...Z") or a naive UTC datetime -> the
    server's local time, e.g. "2026-03-02 14:05:09"."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    local = value.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def iso_utc(value: Optional[dt.datetime]) -> Optional[str]:
    """A naive UTC datetime from the database as ISO 8601 with "Z"."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def register(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(lambda v: labels.label(labels.STATE_LABELS, v), "state_label")
    app.add_template_filter(lambda v: labels.label(labels.TICKET_STATUS_LABELS, v), "status_label")
    app.add_template_filter(lambda v: labels.label(labels.HISTORY_LABELS, v), "history_label")
    app.add_template_filter(lambda v: labels.label(labels.ROLE_LABELS, v), "role_label")
    app.add_template_filter(labels.reason_label, "reason_label")
    app.add_template_filter(lambda v: labels.label(labels.CHANNEL_LABELS, v), "channel_label")
    app.add_template_filter(lambda v: labels.label(labels.KIND_LABELS, v), "kind_label")
    app.add_template_filter(lambda v: labels.label(labels.SOURCE_LABELS, v), "source_label")
    app.add_template_filter(lambda v: labels.label(labels.SUGGESTION_STATUS_LABELS, v),
                            "suggestion_status_label")
    app.add_template_global(evidence_parts, "evidence_parts")
