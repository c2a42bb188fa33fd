"""How the survey service meets the SMS service, the reply classifier and the
survey reply line (built separately, each with its own small interface; the
system factory joins them with these adapters).

* ``SmsSenderAdapter``: the survey service's ``SmsSender`` (``send -> bool``) over
  ``cti.sms.SmsService`` (which stores every message and reports its status).
* ``survey_term``: the survey service's ``classify(text, language) -> term`` over
  ``cti.surveys.classify`` ('' when no term applies).
* ``SmsReplies``: an incoming SMS (bus ``sms.received``) from a customer with a
  pending survey is that survey's reply.
* ``reply_line_lookup`` / ``reply_line_rating``: what the reply line
  (ivr/flows/reply_line.py) asks about a caller, from the survey service.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from cti import events
from cti.surveys import answers, classify

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


def reply_line_lookup(surveys: Any) -> Callable[[str], Optional[dict]]:
    def find_pending_survey(number: str) -> Optional[dict]:
        survey_id = surveys.pending_for(number=number)
        return surveys.call_target(survey_id) if survey_id is not None else None
    return find_pending_survey


def reply_line_rating(surveys: Any) -> Callable[[int, int], Any]:
    def record_rating(survey_id: int, rating: int) -> Any:
        # channel "line" (not "phone", the survey call): the analyzer's reply rate per channel
        return surveys.record_reply(survey_id, "line", answers={"rating": int(rating)})
    return record_rating
