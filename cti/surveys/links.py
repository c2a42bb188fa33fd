"""How the survey service meets the SMS service, the reply classifier and the
survey reply line (built separately, each with its own small interface; the
system factory joins them with these adapters).

* ``SmsSenderAdapter``: the survey service's ``SmsSender`` (``send -> bool``) over
  ``cti.sms.SmsService`` (which stores every message and reports its status).
* ``survey_term``: the survey service's ``classify(text, language) -> term`` over
  ``cti.surveys.classify`` ('' when no term applies).
* ``SmsReplies``: an incoming SMS (bus ``sms.received``) from a customer with a
  pending survey is that survey's reply.
* ``EmailReplies``: an inbound e-mail (the SMTP intake's ``MailClaim``) that
  answers a survey e-mail -- its In-Reply-To / References name the Message-ID the
  survey was sent with, or its subject the survey's signed reference -- is that
  survey's reply instead of a new ticket; anything else stays with the intake.
* ``FollowUpPops``: the follow-up ticket of a repeated trouble / additional
  request (bus ``survey.follow_up``) is popped like an e-mail ticket by the
  intake's pop delivery (``IntakeService.deliver_pop``: a Ready agent of the
  centre's staff queue, else it waits until one becomes Ready -- the intake is
  built with ``also_pop=("survey",)`` for that).
* ``reply_line_lookup`` / ``reply_line_rating``: what the reply line
  (ivr/flows/reply_line.py) asks about a caller, from the survey service.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from cti import events
from cti.surveys import answers, classify
from cti.surveys.service import SURVEY_FOLLOW_UP

log = logging.getLogger(__name__)

SMS_RECEIVED = "sms.received"   # cti.sms.SMS_RECEIVED (not imported: cti.sms needs no survey)


class SmsSenderAdapter:
    def __init__(self, sms_service: Any):
        self._sms = sms_service

    def send(self, to: str, text: str, sender: str = "") -> bool:
        try:
            return self._sms.send(to, text, sender).get("status") == "sent"
        except ValueError as exc:   # cti.sms.SmsError: a number or text no gateway takes
            log.warning("survey SMS to %r not sent: %s", to, exc)
            return False


def survey_term(text: str, _language: str = "") -> str:
    """The survey term of a free-text reply (both languages at once), or ''."""
    term = classify.classify(text).term
    return term if term in answers.TERMS else ""


class SmsReplies:
    """Subscribes to incoming SMS; unsubscribes on ``close``."""

    def __init__(self, surveys: Any, bus: events.EventBus):
        self._surveys = surveys
        self._unsubscribe: Optional[Callable[[], None]] = bus.subscribe(SMS_RECEIVED, self._on_sms)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_sms(self, _topic: str, payload: dict[str, Any]) -> None:
        survey_id = self._surveys.pending_for(number=str(payload.get("from") or ""))
        if survey_id is None:
            log.info("SMS %s from %r: no survey waits for this number", payload.get("id"), payload.get("from"))
            return
        self._surveys.record_reply(survey_id, "sms", str(payload.get("text") or ""))


FOLLOW_UP_CHANNEL = "survey"            # tickets.channel of a follow-up ticket (IntakeService also_pop)


class FollowUpPops:
    """Subscribes to new follow-up tickets; unsubscribes on ``close``.  ``pops``:
    an ``IntakeService`` (``deliver_pop(ticket_id)``)."""

    def __init__(self, pops: Any, bus: events.EventBus):
        self._pops = pops
        self._unsubscribe: Optional[Callable[[], None]] = bus.subscribe(SURVEY_FOLLOW_UP, self._on_follow_up)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_follow_up(self, _topic: str, payload: dict[str, Any]) -> None:
        ticket_id = int(payload["ticket_id"])
        if self._pops.deliver_pop(ticket_id) is None:
            log.info("survey follow-up ticket %s waits in its queue: nobody is Ready", ticket_id)


class EmailReplies:
    """``claim`` is given to ``cti.intake.service.IntakeService(claims=...)``."""

    def __init__(self, surveys: Any):
        self._surveys = surveys

    def claim(self, parsed: Any) -> Optional[str]:
        """``parsed``: a ``cti.intake.mail.ParsedMail``.  The reference the SMTP answer
        names when it was a survey reply (stored and classified), else None."""
        survey_id = self._surveys.survey_of_email(parsed.subject, parsed.thread_ids)
        if survey_id is None:
            return None
        result = self._surveys.record_email_reply(survey_id, parsed.body_text)
        log.info("e-mail %s from %s is a reply to survey %s (%s%s)", parsed.message_id, parsed.from_address,
                 survey_id, result.term or "no term", ", duplicate" if result.duplicate else "")
        return f"survey S{survey_id}"


def reply_line_lookup(surveys: Any) -> Callable[[str], Optional[dict]]:
    """The caller's pending survey: what the call needs (queue, customer) and what
    the agent's pop shows (``SurveyService.pop_view``: the service, the answers)."""
    def find_pending_survey(number: str) -> Optional[dict]:
        survey_id = surveys.pending_for(number=number)
        if survey_id is None:
            return None
        return {**surveys.pop_view(survey_id), **surveys.call_target(survey_id)}
    return find_pending_survey


def reply_line_rating(surveys: Any) -> Callable[[int, int], Any]:
    def record_rating(survey_id: int, rating: int) -> Any:
        # channel "line" (not "phone", the survey call): the analyzer's reply rate per channel
        return surveys.record_reply(survey_id, "line", answers={"rating": int(rating)})
    return record_rating
