"""Test helpers for the satisfaction surveys (docs/surveys.md): fake mail and SMS
transports that keep what they were given, and a resolved ticket taken to the
"messaged" step (its survey call was not answered)."""
from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Optional

from sqlalchemy import select

from db.models import Customer, Survey, Ticket

_numbers = itertools.count(1)


class FakeMailer:
    def __init__(self):
        self.sent: list[dict] = []

    def send(self, to, subject, body, *, sender="", sender_name="HappyCall", reply_to="", message_id=""):
        self.sent.append({"to": to, "subject": subject, "body": body, "sender": sender,
                          "sender_name": sender_name, "reply_to": reply_to, "message_id": message_id})
        return True


class FakeSms:
    def __init__(self, ok: bool = True):
        self.sent: list[tuple[str, str, str]] = []
        self.ok = ok

    def send(self, to, text, sender=""):
        self.sent.append((to, text, sender))
        return self.ok


def resolved_ticket(sessions, clock, pin: Optional[str] = "100100", status: str = "resolved",
                    resolved_at: Optional[dt.datetime] = None, language: str = "ko") -> int:
    with sessions.begin() as s:
        customer_id = s.scalar(select(Customer.id).where(Customer.pin == pin)) if pin else None
        t = Ticket(incident_id=f"SV-{next(_numbers):06d}", channel="phone", status=status, customer_id=customer_id,
                   language=language, request="printer jams", resolution="replaced the roller",
                   resolved_at=(resolved_at or clock()) if status == "resolved" else None)
        s.add(t)
        s.flush()
        return t.id


def messaged_survey(service, sessions, clock, pin: str = "100100", language: str = "ko") -> tuple[int, int]:
    """A resolved ticket whose survey call was rejected, so the messages went out.
    Returns (ticket id, survey id)."""
    ticket = resolved_ticket(sessions, clock, pin, language=language)
    service.run_due()
    clock.advance(float(service_delay_seconds(service)))
    service.run_due()
    with sessions() as s:
        survey_id = s.scalar(select(Survey.id).where(Survey.ticket_id == ticket))
    service.call_result(survey_id, "rejected")
    return ticket, survey_id


def service_delay_seconds(service) -> float:
    return service._delay.total_seconds()   # noqa: SLF001 - test helper reads the configured delay


def link_token(body: str) -> str:
    """The token of the form link in a survey e-mail body."""
    match = re.search(r"/survey/([A-Za-z0-9_.\-]+)", body)
    assert match, body
    return match.group(1)
