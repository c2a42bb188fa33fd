"""The survey service: schedules a survey for every resolved ticket, runs the
steps of ``cti.surveys.machine`` when they fall due, records call results and
replies from every channel, and serves the web inquiry form's links.

Timers are rows: ``surveys.due_at`` is when the runner (``cti.escalation_runner.
TimerRunner`` polling ``run_due``) acts next.  Each due survey is claimed and
moved in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); the
messages are sent and the bus told after the commit, then the attempts are
stored with what happened.  Completion is read from the database (tickets
resolved, no survey yet), so a ticket closed by any channel gets exactly one
survey (``uq_surveys_ticket``).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass, field
from email.utils import make_msgid
from typing import Any, Callable, Iterable, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cti import events, notices, tickets
from cti.clock import Clock, utc_now
from cti.mailer import Mailer, NullMailer
from cti.surveys import answers as terms
from cti.surveys import machine
from cti.surveys.messages import Inquiry, email_body, email_subject, sms_text
from cti.surveys.ports import Classifier, NoSms, SmsSender, classifier_or_default
from cti.surveys.tokens import TokenError, TokenSigner, token_hash
from db.models import (Campaign, Customer, Queue, ServiceArea, ServiceCentre, Survey, SurveyAttempt,
                       SurveyIncentive, SurveyReply, SurveyToken, Ticket, TicketEvent)

log = logging.getLogger(__name__)

# Bus topics.
SURVEY_CALL = "survey.call"              # {survey_id, ticket_id, number, language}: the IVR places the call
SURVEY_REPLY = "survey.reply"            # {survey_id, ticket_id, channel, term, duplicate}
# {survey_id, ticket_id, incident_id, centre_id, centre, person_id, notice_id, text, rating, channel, at}:
# the person in charge's desktop notice (kept in ``user_notices`` until read, cti/notices.py).
SURVEY_DISSATISFIED = "survey.dissatisfied"
SURVEY_FOLLOW_UP = "survey.follow_up"    # {survey_id, ticket_id, term}: a new follow-up ticket waits in its queue
NOTICE_DISSATISFIED = "survey_dissatisfied"   # user_notices.kind

MAX_SCHEDULED_PER_RUN = 200
MAX_DUE_PER_RUN = 100
MESSAGE_CHANNELS = ("email", "sms")
# "line": keyed on the survey reply line (the customer called back; the analyzer counts it apart
# from the survey call, "phone")
REPLY_CHANNELS = ("phone", "email", "sms", "web", "line")
MAX_RAW = 10_000
POP_REPLIES = 10          # the latest replies an agent's pop shows
POP_TEXT = 500            # characters of each customer text on the pop
TICKET_TEXT = 2000        # characters of each reply's words on the ticket screen
_DIAL_CHARS = re.compile(r"[^0-9+*#]")


class UnknownSurvey(LookupError):
    pass


@dataclass
class ReplyResult:
    survey_id: int
    reply_id: int
    term: str
    duplicate: bool
    incentive_code: str = ""
    ticket_id: Optional[int] = None          # the follow-up ticket a repeated trouble / request opened


@dataclass
class _Outgoing:
    """What to do after the commit: messages to send, topics to publish."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    publish: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mails: list[tuple[str, str, str]] = field(default_factory=list)   # (to, subject, body) notices
    texts: list[tuple[str, str]] = field(default_factory=list)        # (mobile, text) notices


def dial_number(text: str) -> str:
    """Only digits, '+', '*', '#' go into a dial string (numbers come from customer records)."""
    return _DIAL_CHARS.sub("", text or "")[:32]


class SurveyService:
    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, config: dict, *,
                 signer: TokenSigner, mailer: Optional[Mailer] = None, sms: Optional[SmsSender] = None,
                 classify: Optional[Classifier] = None, clock: Clock = utc_now,
                 coupon: Callable[[], str] = lambda: "HC-" + secrets.token_hex(4).upper()):
        section = config["surveys"]
        self._sessions = session_factory
        self._bus = bus
        self._now = clock
        self._signer = signer
        self._mailer = mailer or NullMailer()
        self._sms = sms or NoSms()
        self._classify = classifier_or_default(classify)
        self._coupon = coupon
        self._delay = dt.timedelta(minutes=float(section["delay_minutes"]))
        self._lookback = dt.timedelta(hours=float(section["lookback_hours"]))
        self._timing = machine.Timing(reply_wait=dt.timedelta(hours=float(section["reply_wait_hours"])),
                                      call_guard=dt.timedelta(minutes=float(section["call_guard_minutes"])),
                                      resends=int(section["resends"]))
        self._phone_first = bool(section["phone_first"])
        self._link_life = dt.timedelta(days=float(section["link_days"]))
        self._form_url = section["form_url"].rstrip("/")
        self._incentive = {"ko": section["incentive_ko"], "en": section["incentive_en"]}
        self._default_sender = config["mail"]["sender"]
        self._fallback_queue = config["acd"]["queue"]

    # ---- scheduling -------------------------------------------------------------------
    def schedule_resolved(self, now: Optional[dt.datetime] = None) -> list[int]:
        """A survey for every ticket resolved within ``lookback_hours`` that has none,
        due ``delay_minutes`` after its resolution.  Returns the new survey ids."""
        now = self._now() if now is None else now
        try:
            with self._sessions.begin() as s:
                rows = s.execute(
                    select(Ticket.id, Ticket.customer_id, Ticket.resolved_at, Ticket.language)
                    .outerjoin(Survey, Survey.ticket_id == Ticket.id)
                    .where(Ticket.status == tickets.TicketStatus.RESOLVED.value, Ticket.resolved_at.is_not(None),
                           Ticket.resolved_at >= now - self._lookback, Survey.id.is_(None))
                    .order_by(Ticket.resolved_at, Ticket.id).limit(MAX_SCHEDULED_PER_RUN)).all()
                made = []
                for ticket_id, customer_id, resolved_at, language in rows:
                    due = resolved_at + self._delay
                    survey = Survey(ticket_id=ticket_id, customer_id=customer_id, language=language or "ko",
                                    centre_id=self._centre_id(s, customer_id), state=machine.SCHEDULED,
                                    scheduled_for=due, due_at=due, created_at=now)
                    s.add(survey)
                    s.flush()
                    made.append(survey.id)
                return made
        except IntegrityError:
            # Another runner scheduled one of these tickets at the same moment: the
            # unique index kept it to one survey; the rest are picked up next poll.
            log.info("survey scheduling raced with another runner; retrying at the next poll")
            return []

    # ---- the runner's step ------------------------------------------------------------
    def run_due(self, now: Optional[dt.datetime] = None) -> list[tuple[int, str]]:
        """Schedule new surveys, then move every due survey one step (one transaction
        each).  Returns (survey id, new state) for the surveys moved."""
        now = self._now() if now is None else now
        self.schedule_resolved(now)
        moved: list[tuple[int, str]] = []
        for _ in range(MAX_DUE_PER_RUN):
            out = _Outgoing()
            with self._sessions.begin() as s:
                survey = s.scalar(select(Survey)
                                  .where(Survey.state.in_(machine.WAITING), Survey.due_at.is_not(None),
                                         Survey.due_at <= now)
                                  .order_by(Survey.due_at, Survey.id).limit(1)
                                  .with_for_update(skip_locked=True))
                if survey is None:
                    break
                contact = self._contact(s, survey)
                step = machine.when_due(survey.state, survey.resends, contact, now, self._timing)
                if step is None:
                    survey.due_at = None
                    continue
                self._apply(s, survey, step, contact, now, out)
                moved.append((survey.id, survey.state))
            self._carry_out(out, now)
        return moved

    def next_due(self) -> Optional[dt.datetime]:
        with self._sessions() as s:
            return s.scalar(select(Survey.due_at).where(Survey.state.in_(machine.WAITING),
                                                        Survey.due_at.is_not(None))
                            .order_by(Survey.due_at).limit(1))

    def call_result(self, survey_id: int, result: str, detail: str = "",
                    now: Optional[dt.datetime] = None) -> str:
        """The survey call ended (answered, busy, no_answer, rejected, machine, failed,
        no_input).  Returns the survey's state afterwards."""
        now = self._now() if now is None else now
        out = _Outgoing()
        with self._sessions.begin() as s:
            survey = self._survey(s, survey_id)
            contact = self._contact(s, survey)
            s.add(SurveyAttempt(survey_id=survey.id, channel="phone", round=1, address=contact.phone, at=now,
                                outcome=result, detail=detail[:500]))
            step = machine.after_call(survey.state, result, contact, now, self._timing)
            if step is not None:
                self._apply(s, survey, step, contact, now, out)
            state = survey.state
        self._carry_out(out, now)
        return state

    # ---- replies ----------------------------------------------------------------------
    def record_reply(self, survey_id: int, channel: str, raw: str = "", answers: Optional[dict] = None,
                     now: Optional[dt.datetime] = None) -> ReplyResult:
        """A reply on any channel: keyed ``answers`` (phone, web; see
        ``answers.clean_answers``) and/or free text ``raw`` (e-mail, SMS).  A reply
        equal to an earlier one of the same survey and channel is stored as a
        duplicate and changes nothing."""
        now = self._now() if now is None else now
        out = _Outgoing()
        with self._sessions.begin() as s:
            result = self._record_reply(s, self._survey(s, survey_id), channel, raw, answers, now, out)
        self._carry_out(out, now)
        return result

    def _record_reply(self, s: Session, survey: Survey, channel: str, raw: str, answers: Optional[dict],
                      now: dt.datetime, out: _Outgoing) -> ReplyResult:
        if channel not in REPLY_CHANNELS:
            raise ValueError(f"unknown reply channel {channel!r}")
        raw = (raw or "")[:MAX_RAW]
        keyed = bool(answers)          # keys or a form (raw is then the keys, not words)
        answers = dict(answers or {})
        if not keyed and terms.rating_in_text(raw) is not None:
            answers = {"rating": terms.rating_in_text(raw)}
        fp = terms.fingerprint(channel, raw if raw.strip() else terms.raw_of_answers(answers))
        first = s.scalar(select(SurveyReply).where(SurveyReply.survey_id == survey.id, SurveyReply.channel == channel,
                                                   SurveyReply.fingerprint == fp,
                                                   SurveyReply.duplicate_of_id.is_(None)).limit(1))
        if first is not None:
            dup = SurveyReply(survey_id=survey.id, channel=channel, raw=raw, answers=answers, term=first.term,
                              fingerprint=fp, received_at=now, duplicate_of_id=first.id)
            s.add(dup)
            s.flush()
            out.publish.append((SURVEY_REPLY, {"survey_id": survey.id, "ticket_id": survey.ticket_id,
                                               "channel": channel, "term": first.term, "duplicate": True}))
            return ReplyResult(survey.id, dup.id, first.term, True)
        comment = str(answers.get("comment") or "") if keyed else _comment_of(raw)
        comment_term = self._classify(comment, survey.language) if comment.strip() else ""
        term = terms.most_actionable(terms.term_of_answers(answers), comment_term)
        reply = SurveyReply(survey_id=survey.id, channel=channel, raw=raw or terms.raw_of_answers(answers),
                            answers=answers, term=term, fingerprint=fp, received_at=now)
        s.add(reply)
        s.flush()
        self._fill_survey(survey, channel, answers, comment, term, now)
        code, granted_now = self._grant_incentive(s, survey, reply, now)
        if granted_now and channel != "web":      # the web form shows the code on its page
            self._send_incentive(s, survey, code, out)
        said = comment or (terms.raw_of_answers(answers) if keyed else raw)
        ticket_id = self._follow_up(s, survey, reply, said, now, out)
        if term == terms.DISSATISFACTION:
            self._tell_person_in_charge(s, survey, said, channel, now, out)
        out.publish.append((SURVEY_REPLY, {"survey_id": survey.id, "ticket_id": survey.ticket_id,
                                           "channel": channel, "term": term, "duplicate": False}))
        return ReplyResult(survey.id, reply.id, term, False, code, ticket_id)

    def _fill_survey(self, survey: Survey, channel: str, answers: dict, comment: str, term: str,
                     now: dt.datetime) -> None:
        """The first answer to each question stays; later replies fill what is missing;
        the survey's term is the most actionable of its replies."""
        step = machine.after_reply()
        if survey.state != machine.ANSWERED:
            survey.state, survey.outcome, survey.due_at = step.state, step.outcome, None
            survey.answered_at = survey.closed_at = now
            survey.channel = channel
        if survey.rating is None and answers.get("rating") is not None:
            survey.rating = int(answers["rating"])
        if survey.trouble_again is None and answers.get("trouble_again") is not None:
            survey.trouble_again = bool(answers["trouble_again"])
        if survey.staff_kind is None and answers.get("staff_kind") is not None:
            survey.staff_kind = bool(answers["staff_kind"])
        if comment and not survey.comment:
            survey.comment = comment[:terms.MAX_COMMENT]
        survey.reply_term = terms.most_actionable(survey.reply_term, term) or survey.reply_term

    def _grant_incentive(self, s: Session, survey: Survey, reply: SurveyReply,
                         now: dt.datetime) -> tuple[str, bool]:
        """Once per survey (``survey_incentives.survey_id`` is unique).  Returns the code
        and whether it was granted now."""
        existing = s.scalar(select(SurveyIncentive).where(SurveyIncentive.survey_id == survey.id))
        if existing is not None:
            return existing.code, False
        incentive = SurveyIncentive(survey_id=survey.id, reply_id=reply.id, code=self._coupon(), granted_at=now)
        s.add(incentive)
        s.flush()
        return incentive.code, True

    def _send_incentive(self, s: Session, survey: Survey, code: str, out: _Outgoing) -> None:
        """The coupon code of a phone, e-mail or SMS reply goes to the customer by e-mail,
        else by SMS."""
        contact = self._contact(s, survey)
        english = survey.language == "en"
        text = (f"Thank you for answering our survey. Your coupon code: {code}" if english
                else f"설문에 응답해 주셔서 감사합니다. 쿠폰 번호: {code}")
        if contact.email:
            out.mails.append((contact.email, "Your coupon" if english else "쿠폰 번호 안내", text + "\n"))
        elif contact.mobile:
            out.texts.append((contact.mobile, text))

    def _follow_up(self, s: Session, survey: Survey, reply: SurveyReply, text: str, now: dt.datetime,
                   out: _Outgoing) -> Optional[int]:
        """Repeated trouble or an additional request opens a new ticket referring to the
        surveyed one (one per survey: later such replies are noted on it)."""
        if reply.term not in terms.TICKET_TERMS:
            return None
        earlier = s.scalar(select(SurveyReply.ticket_id).where(SurveyReply.survey_id == survey.id,
                                                               SurveyReply.ticket_id.is_not(None)).limit(1))
        original = s.get(Ticket, survey.ticket_id)
        if earlier is not None:
            s.add(TicketEvent(ticket_id=earlier, kind="note", at=now,
                              detail={"survey_id": survey.id, "term": reply.term, "text": text[:2000]}))
            reply.ticket_id = earlier
            return earlier
        queue_id = self._staff_queue(s, survey)
        label = "Repeated trouble" if reply.term == terms.REPEATED_TROUBLE else "Additional request"
        ticket = Ticket(incident_id="", channel="survey", status=tickets.TicketStatus.NEW.value,
                        customer_id=survey.customer_id, language=survey.language, queue_id=queue_id,
                        request=f"{label} (survey of {original.incident_id}): {text}"[:10_000], created_at=now)
        s.add(ticket)
        s.flush()
        ticket.incident_id = tickets.incident_id(ticket.id)
        s.add(TicketEvent(ticket_id=ticket.id, kind="created", at=now,
                          detail={"channel": "survey", "survey_id": survey.id, "from_ticket": original.incident_id}))
        ticket.status = tickets.next_status(ticket.status, "queued").value
        s.add(TicketEvent(ticket_id=ticket.id, kind="queued", at=now, detail={"queue_id": queue_id}))
        s.add(TicketEvent(ticket_id=original.id, kind="note", at=now,
                          detail={"survey_id": survey.id, "term": reply.term, "follow_up": ticket.incident_id}))
        reply.ticket_id = ticket.id
        out.publish.append((events.TICKET_UPDATED, {"ticket_id": ticket.id, "status": ticket.status,
                                                    "agent_id": None}))
        # The system joins this to the intake's pop delivery (cti/surveys/links.FollowUpPops):
        # a Ready agent of the staff queue gets it like an e-mail ticket, else it waits.
        out.publish.append((SURVEY_FOLLOW_UP, {"survey_id": survey.id, "ticket_id": ticket.id, "term": reply.term}))
        return ticket.id

    def _tell_person_in_charge(self, s: Session, survey: Survey, text: str, channel: str, now: dt.datetime,
                               out: _Outgoing) -> None:
        """The centre's person in charge is told on the desktop (a notice kept until
        read, in this transaction, announced after the commit) and by e-mail."""
        centre = s.get(ServiceCentre, survey.centre_id) if survey.centre_id else None
        ticket = s.get(Ticket, survey.ticket_id)
        person_id = centre.person_in_charge_id if centre else None
        # The centre is named in the survey's language, as on the pop and the ticket screen.
        data = {"survey_id": survey.id, "incident_id": ticket.incident_id, "text": text[:2000],
                "rating": survey.rating, "channel": channel,
                "centre": _centre_name(centre, survey.language) if centre else "",
                "centre_id": centre.id if centre else None}
        notice_id = None
        if person_id is not None:
            notice_id = notices.add(s, person_id, NOTICE_DISSATISFIED, survey.ticket_id, data, now).id
        out.publish.append((SURVEY_DISSATISFIED, {**data, "ticket_id": survey.ticket_id, "person_id": person_id,
                                                  "notice_id": notice_id, "at": now.isoformat() + "Z"}))
        if centre is not None and centre.person_email:
            out.mails.append((centre.person_email, f"Dissatisfied survey reply: {ticket.incident_id}",
                              f"A customer answered the survey of {ticket.incident_id} dissatisfied "
                              f"(rating {survey.rating if survey.rating is not None else '-'}).\n\n"
                              f"Their words:\n{text}\n"))

    # ---- e-mail replies ---------------------------------------------------------------
    def survey_of_email(self, subject: str, thread_ids: Iterable[str]) -> Optional[int]:
        """The survey an inbound e-mail answers: one of the Message-IDs it replies to
        (In-Reply-To / References) is a survey e-mail's, or its subject carries a
        well-signed reference (``TokenSigner.reply_reference``).  None: not a survey
        reply (a forged or unknown reference included) -- the e-mail intake keeps it."""
        ids = [str(i)[:255] for i in thread_ids if i][:50]
        with self._sessions() as s:
            if ids:
                found = s.scalar(select(SurveyAttempt.survey_id).where(SurveyAttempt.message_id.in_(ids))
                                 .order_by(SurveyAttempt.id.desc()).limit(1))
                if found is not None:
                    return found
            survey_id = self._signer.survey_of_subject(subject)
            if survey_id is not None and s.get(Survey, survey_id) is not None:
                return survey_id
        return None

    def record_email_reply(self, survey_id: int, body: str, now: Optional[dt.datetime] = None) -> ReplyResult:
        """An e-mail reply: the customer's words (the quoted survey left out); keys
        at its start ("5 2 1 ...", the format the survey e-mail suggests) answer the
        questions, the words are the comment (classified)."""
        text = terms.email_reply_text(body)
        answers, words = terms.keyed_text(text)
        if answers or not text:
            # Keys, or no words of their own at all (only the quoted survey, whose
            # words must not be classified as theirs): the comment is what they wrote.
            answers["comment"] = words[:terms.MAX_COMMENT]
        now = self._now() if now is None else now
        out = _Outgoing()
        with self._sessions.begin() as s:
            result = self._record_reply(s, self._survey(s, survey_id), "email", text or (body or "").strip(),
                                        answers, now, out)
        self._carry_out(out, now)
        return result

    # ---- the web inquiry form ---------------------------------------------------------
    def open_form(self, token: str, now: Optional[dt.datetime] = None) -> dict[str, Any]:
        """What the form shows for a valid, unused, unexpired link; TokenError otherwise."""
        now = self._now() if now is None else now
        claim = self._signer.verify(token, now)
        with self._sessions() as s:
            row = self._token_row(s, token, claim.survey_id)
            if row.used_at is not None:
                raise TokenError("used")
            return self._form_view(s, self._survey(s, claim.survey_id))

    def submit_form(self, token: str, answers: dict, now: Optional[dt.datetime] = None) -> ReplyResult:
        """Store the form's (cleaned) answers as a web reply and use the link up, in one
        transaction: a second submit (another click, a reload) gets TokenError('used')."""
        now = self._now() if now is None else now
        claim = self._signer.verify(token, now)
        out = _Outgoing()
        with self._sessions.begin() as s:
            row = self._token_row(s, token, claim.survey_id)
            claimed = s.execute(update(SurveyToken).where(SurveyToken.id == row.id, SurveyToken.used_at.is_(None))
                                .values(used_at=now))
            if claimed.rowcount != 1:
                raise TokenError("used")
            result = self._record_reply(s, self._survey(s, claim.survey_id), "web", "", answers, now, out)
        self._carry_out(out, now)
        return result

    def _token_row(self, s: Session, token: str, survey_id: int) -> SurveyToken:
        row = s.scalar(select(SurveyToken).where(SurveyToken.token_hash == token_hash(token)))
        if row is None or row.survey_id != survey_id:
            raise TokenError("invalid")
        return row

    def _form_view(self, s: Session, survey: Survey) -> dict[str, Any]:
        ticket = s.get(Ticket, survey.ticket_id)
        centre = s.get(ServiceCentre, survey.centre_id) if survey.centre_id else None
        customer = s.get(Customer, survey.customer_id) if survey.customer_id else None
        return {"survey_id": survey.id, "incident_id": ticket.incident_id, "language": survey.language,
                "customer_name": customer.name if customer else "",
                "centre_name": _centre_name(centre, survey.language),
                "incentive": self._incentive.get(survey.language, "")}

    # ---- looking surveys up -------------------------------------------------------------
    def survey(self, survey_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            sv = self._survey(s, survey_id)
            replies = s.scalars(select(SurveyReply).where(SurveyReply.survey_id == sv.id)
                                .order_by(SurveyReply.id)).all()
            attempts = s.scalars(select(SurveyAttempt).where(SurveyAttempt.survey_id == sv.id)
                                 .order_by(SurveyAttempt.id)).all()
            incentive = s.scalar(select(SurveyIncentive.code).where(SurveyIncentive.survey_id == sv.id))
            return {"id": sv.id, "ticket_id": sv.ticket_id, "state": sv.state, "outcome": sv.outcome,
                    "channel": sv.channel, "rating": sv.rating, "trouble_again": sv.trouble_again,
                    "staff_kind": sv.staff_kind, "comment": sv.comment, "term": sv.reply_term,
                    "comment_keywords": list(sv.comment_keywords or []), "due_at": sv.due_at,
                    "resends": sv.resends, "centre_id": sv.centre_id, "language": sv.language,
                    "incentive_code": incentive or "",
                    "attempts": [{"channel": a.channel, "round": a.round, "outcome": a.outcome,
                                  "address": a.address, "at": a.at} for a in attempts],
                    "replies": [{"id": r.id, "channel": r.channel, "term": r.term, "raw": r.raw,
                                 "answers": dict(r.answers or {}), "duplicate_of": r.duplicate_of_id,
                                 "ticket_id": r.ticket_id} for r in replies]}

    def ticket_surveys(self, ticket_id: int) -> list[dict[str, Any]]:
        """The surveys the ticket screen shows: the survey of this ticket, and for a
        follow-up ticket the survey whose reply opened it (``relation`` own |
        follow_up).  Every attempt (channel, round, time, result) and every reply
        (channel, time, keyed answers, term, the customer's words, duplicates
        marked), the incentive.  Customer text is data (the page escapes it)."""
        with self._sessions() as s:
            own = s.scalars(select(Survey).where(Survey.ticket_id == ticket_id)).all()
            origin_ids = s.scalars(select(SurveyReply.survey_id).where(SurveyReply.ticket_id == ticket_id)
                                   .distinct()).all()
            origins = [s.get(Survey, i) for i in sorted(origin_ids) if i not in {o.id for o in own}]
            return ([self._ticket_survey(s, sv, "own") for sv in own]
                    + [self._ticket_survey(s, sv, "follow_up") for sv in origins])

    def _ticket_survey(self, s: Session, sv: Survey, relation: str) -> dict[str, Any]:
        ticket = s.get(Ticket, sv.ticket_id)
        centre = s.get(ServiceCentre, sv.centre_id) if sv.centre_id else None
        attempts = s.scalars(select(SurveyAttempt).where(SurveyAttempt.survey_id == sv.id)
                             .order_by(SurveyAttempt.at, SurveyAttempt.id)).all()
        replies = s.scalars(select(SurveyReply).where(SurveyReply.survey_id == sv.id)
                            .order_by(SurveyReply.received_at, SurveyReply.id)).all()
        opened = {t.id: t.incident_id for t in s.scalars(select(Ticket).where(
            Ticket.id.in_({r.ticket_id for r in replies if r.ticket_id is not None})))}
        incentive = s.scalar(select(SurveyIncentive).where(SurveyIncentive.survey_id == sv.id))
        return {"id": sv.id, "relation": relation, "ticket_id": sv.ticket_id, "incident_id": ticket.incident_id,
                "state": sv.state, "outcome": sv.outcome, "language": sv.language,
                "centre": _centre_name(centre, sv.language) if centre else "",
                "created_at": sv.created_at, "scheduled_for": sv.scheduled_for, "due_at": sv.due_at,
                "answered_at": sv.answered_at, "closed_at": sv.closed_at, "resends": sv.resends,
                "channel": sv.channel, "rating": sv.rating, "trouble_again": sv.trouble_again,
                "staff_kind": sv.staff_kind, "comment": sv.comment or "", "term": sv.reply_term or "",
                "keywords": list(sv.comment_keywords or []),
                "attempts": [{"channel": a.channel, "round": a.round, "outcome": a.outcome, "address": a.address,
                              "detail": a.detail or "", "at": a.at} for a in attempts],
                "replies": [{"id": r.id, "channel": r.channel, "at": r.received_at, "term": r.term or "",
                             "text": _reply_words(r)[:TICKET_TEXT], "duplicate": r.duplicate_of_id is not None,
                             "follow_up": opened.get(r.ticket_id, ""), "follow_up_id": r.ticket_id,
                             **{k: v for k, v in dict(r.answers or {}).items()
                                if k in ("rating", "trouble_again", "staff_kind") and v is not None}}
                            for r in replies],
                "incentive": ({"code": incentive.code, "granted_at": incentive.granted_at}
                              if incentive is not None else None)}

    def pop_view(self, survey_id: int) -> dict[str, Any]:
        """What an agent sees of a survey when its customer calls the reply line and
        asks for a person: the service it is about, the answers so far (every
        channel, duplicates left out), the rating and the terms.  Customer text is
        passed as data (the desktop shows it as text) and bounded in size."""
        with self._sessions() as s:
            sv = self._survey(s, survey_id)
            ticket = s.get(Ticket, sv.ticket_id)
            centre = s.get(ServiceCentre, sv.centre_id) if sv.centre_id else None
            replies = s.scalars(select(SurveyReply).where(SurveyReply.survey_id == sv.id,
                                                          SurveyReply.duplicate_of_id.is_(None))
                                .order_by(SurveyReply.id.desc()).limit(POP_REPLIES)).all()
            return {"survey_id": sv.id, "ticket_id": sv.ticket_id, "incident_id": ticket.incident_id,
                    "service": (ticket.request or "")[:POP_TEXT], "resolution": (ticket.resolution or "")[:POP_TEXT],
                    "centre": _centre_name(centre, sv.language), "rating": sv.rating,
                    "trouble_again": sv.trouble_again, "staff_kind": sv.staff_kind,
                    "comment": (sv.comment or "")[:POP_TEXT], "term": sv.reply_term or "",
                    "keywords": list(sv.comment_keywords or [])[:20], "state": sv.state,
                    "replies": [_pop_reply(r) for r in reversed(replies)]}

    def reply_addresses(self) -> tuple[str, ...]:
        """The addresses survey e-mails ask replies to (the centres'; else ``[mail] sender``):
        the SMTP intake accepts them too."""
        with self._sessions() as s:
            found = s.scalars(select(ServiceCentre.email).where(ServiceCentre.email.is_not(None))).all()
        return tuple(dict.fromkeys(a.strip() for a in (*found, self._default_sender) if a and "@" in a))

    def survey_of_ticket(self, ticket_id: int) -> Optional[int]:
        with self._sessions() as s:
            return s.scalar(select(Survey.id).where(Survey.ticket_id == ticket_id))

    def pending_for(self, number: str = "", email: str = "", now: Optional[dt.datetime] = None) -> Optional[int]:
        """The latest survey waiting for (or closed without) a reply of the customer
        with this phone/mobile number or e-mail address, or answered within the last
        ``reply_wait_hours`` (a customer may add to their answer, or call the reply
        line to talk about it): how an SMS or a call to the reply line finds its survey."""
        digits = dial_number(number)
        address = (email or "").strip().casefold()
        if not digits and not address:
            return None
        now = self._now() if now is None else now
        open_states = (machine.CALLING, machine.MESSAGED, machine.RESENT, machine.CLOSED)
        with self._sessions() as s:
            rows = s.execute(select(Survey.id, Customer.phone, Customer.mobile, Customer.email)
                             .join(Customer, Customer.id == Survey.customer_id)
                             .where(Survey.state.in_(open_states)
                                    | ((Survey.state == machine.ANSWERED)
                                       & (Survey.answered_at >= now - self._timing.reply_wait)))
                             .order_by(Survey.id.desc()).limit(500)).all()
        for survey_id, phone, mobile, mail in rows:
            if digits and digits in (dial_number(phone), dial_number(mobile)):
                return survey_id
            if address and address == (mail or "").strip().casefold():
                return survey_id
        return None

    def record_spoken_comment(self, survey_id: int, transcript: str, keywords: list[str],
                              now: Optional[dt.datetime] = None) -> ReplyResult:
        """The spoken comment of a phone survey as the recogniser heard it, with the
        sensitivity keywords found in it: kept with the survey, and a phone reply of
        its own (so the classifier's term and its consequences apply)."""
        now = self._now() if now is None else now
        out = _Outgoing()
        text = (transcript or "").strip()[:terms.MAX_COMMENT]
        with self._sessions.begin() as s:
            survey = self._survey(s, survey_id)
            survey.comment_keywords = list(dict.fromkeys(str(k) for k in keywords))[:50]
            result = self._record_reply(s, survey, "phone", text, {"comment": text}, now, out)
        self._carry_out(out, now)
        return result

    def call_target(self, survey_id: int) -> dict[str, Any]:
        """What the survey call needs: the number, the language, the customer and the
        staff queue of their centre (for 0: talk to a person)."""
        with self._sessions() as s:
            survey = self._survey(s, survey_id)
            contact = self._contact(s, survey)
            queue_id = self._staff_queue(s, survey)
            return {"survey_id": survey.id, "ticket_id": survey.ticket_id, "customer_id": survey.customer_id,
                    "language": survey.language, "number": contact.phone,
                    "queue": s.scalar(select(Queue.name).where(Queue.id == queue_id)) if queue_id else ""}

    # ---- internals ----------------------------------------------------------------------
    def _apply(self, s: Session, survey: Survey, step: machine.Step, contact: machine.Contact,
               now: dt.datetime, out: _Outgoing) -> None:
        survey.state, survey.due_at = step.state, step.due_at
        if step.closed:
            survey.outcome, survey.closed_at = step.outcome, now
        if step.resend:
            survey.resends += 1
        if step.call:
            out.publish.append((SURVEY_CALL, {"survey_id": survey.id, "ticket_id": survey.ticket_id,
                                              "number": contact.phone, "language": survey.language}))
        if step.send:
            self._compose(s, survey, step, contact, now, out)

    def _compose(self, s: Session, survey: Survey, step: machine.Step, contact: machine.Contact,
                 now: dt.datetime, out: _Outgoing) -> None:
        ticket = s.get(Ticket, survey.ticket_id)
        customer = s.get(Customer, survey.customer_id) if survey.customer_id else None
        centre = s.get(ServiceCentre, survey.centre_id) if survey.centre_id else None
        round_no = survey.resends + 1
        form_url = None
        if "email" in step.send and self._form_url:
            token = self._signer.issue(survey.id, now + self._link_life)
            s.add(SurveyToken(survey_id=survey.id, token_hash=token_hash(token), issued_at=now,
                              expires_at=now + self._link_life))
            form_url = f"{self._form_url}/{token}"
        inquiry = Inquiry(language=survey.language, customer_name=customer.name if customer else "",
                          incident_id=ticket.incident_id, centre_name=_centre_name(centre, survey.language),
                          reply_line=centre.reply_line if centre else "",
                          person_phone=centre.person_phone if centre else "",
                          reply_address=(centre.email if centre and centre.email else self._default_sender),
                          incentive=self._incentive.get(survey.language, ""), form_url=form_url,
                          campaigns=self._campaigns(s, survey.language, now), resend=step.resend,
                          reference=self._signer.reply_reference(survey.id))
        sender = centre.email if centre and centre.email else ""
        for channel in step.send:
            if channel == "email":
                out.messages.append({"survey_id": survey.id, "channel": "email", "round": round_no,
                                     "to": contact.email, "subject": email_subject(inquiry),
                                     "body": email_body(inquiry), "sender": sender,
                                     "sender_name": inquiry.centre_name, "reply_to": inquiry.reply_address,
                                     # kept on the attempt: a reply's In-Reply-To finds the survey
                                     "message_id": make_msgid(domain=_mail_domain(sender or self._default_sender))})
            elif channel == "sms":
                out.messages.append({"survey_id": survey.id, "channel": "sms", "round": round_no,
                                     "to": contact.mobile, "text": sms_text(inquiry),
                                     "sender": centre.reply_line if centre else ""})

    def _carry_out(self, out: _Outgoing, now: dt.datetime) -> None:
        """After the commit: send, then store each attempt with what happened."""
        attempts = []
        for msg in out.messages:
            try:
                if msg["channel"] == "email":
                    ok = self._mailer.send(msg["to"], msg["subject"], msg["body"], sender=msg["sender"],
                                           sender_name=msg["sender_name"], reply_to=msg["reply_to"],
                                           message_id=msg["message_id"])
                else:
                    ok = self._sms.send(msg["to"], msg["text"], msg["sender"])
            except Exception:  # noqa: BLE001 - a broken transport must not stop the runner
                log.exception("survey %s: %s to %s failed", msg["survey_id"], msg["channel"], msg["to"])
                ok = False
            attempts.append(SurveyAttempt(survey_id=msg["survey_id"], channel=msg["channel"], round=msg["round"],
                                          address=str(msg["to"])[:254], at=now,
                                          outcome="sent" if ok else "not_sent",
                                          message_id=msg.get("message_id") if ok else None))
        if attempts:
            with self._sessions.begin() as s:
                s.add_all(attempts)
        for to, subject, body in out.mails:
            self._mailer.send(to, subject, body)
        for to, text in out.texts:
            try:
                self._sms.send(to, text, "")
            except Exception:  # noqa: BLE001 - a notice, not worth failing the reply for
                log.exception("SMS notice to %s failed", to)
        for topic, payload in out.publish:
            self._bus.publish(topic, payload)

    def _contact(self, s: Session, survey: Survey) -> machine.Contact:
        customer = s.get(Customer, survey.customer_id) if survey.customer_id else None
        if customer is None:
            return machine.Contact()
        phone = dial_number(customer.phone or customer.mobile) if self._phone_first else ""
        email = customer.email.strip() if customer.email and "@" in customer.email else ""
        return machine.Contact(phone=phone, email=email, mobile=dial_number(customer.mobile))

    @staticmethod
    def _centre_id(s: Session, customer_id: Optional[int]) -> Optional[int]:
        """The centre whose area covers the customer (None: no area or no centre)."""
        if customer_id is None:
            return None
        return s.scalar(select(ServiceArea.centre_id).join(Customer, Customer.area_id == ServiceArea.id)
                        .where(Customer.id == customer_id))

    def _staff_queue(self, s: Session, survey: Survey) -> Optional[int]:
        centre = s.get(ServiceCentre, survey.centre_id) if survey.centre_id else None
        if centre is not None and centre.queue_id is not None:
            return centre.queue_id
        return s.scalar(select(Queue.id).where(Queue.name == self._fallback_queue))

    @staticmethod
    def _campaigns(s: Session, language: str, now: dt.datetime) -> tuple[str, ...]:
        rows = s.scalars(select(Campaign).where((Campaign.starts_at.is_(None)) | (Campaign.starts_at <= now),
                                                (Campaign.ends_at.is_(None)) | (Campaign.ends_at > now))
                         .order_by(Campaign.id).limit(3)).all()
        return tuple((c.message_en if language == "en" and c.message_en else c.message) or c.name for c in rows)

    @staticmethod
    def _survey(s: Session, survey_id: int) -> Survey:
        survey = s.get(Survey, int(survey_id))
        if survey is None:
            raise UnknownSurvey(f"survey {survey_id} does not exist")
        return survey


def _centre_name(centre: Optional[ServiceCentre], language: str) -> str:
    if centre is None:
        return "HappyCall"
    return (centre.name_en or centre.name) if language == "en" else centre.name


def _pop_reply(reply: SurveyReply) -> dict[str, Any]:
    """One reply as the agent's pop shows it: the keyed answers it gave and the
    customer's words (a comment, or the text of an e-mail / SMS; keys have none)."""
    answers = dict(reply.answers or {})
    view = {"channel": reply.channel, "term": reply.term or "", "at": reply.received_at.isoformat() + "Z",
            "text": _reply_words(reply)[:POP_TEXT]}
    view.update({name: answers[name] for name in ("rating", "trouble_again", "staff_kind")
                 if answers.get(name) is not None})
    return view


def _reply_words(reply: SurveyReply) -> str:
    """The customer's own words in a reply: its comment, or the text of an e-mail /
    SMS (keys and form answers have none)."""
    answers = dict(reply.answers or {})
    if "comment" in answers:
        return str(answers.get("comment") or "")
    return reply.raw if reply.channel in ("email", "sms") else ""


def _mail_domain(address: str) -> str:
    domain = (address or "").rpartition("@")[2]
    return domain if re.fullmatch(r"[A-Za-z0-9.-]{1,200}", domain or "") else "happycall.local"


def _comment_of(raw: str) -> str:
    """The free words of an e-mail or SMS reply: its text, unless it is only the rating digit."""
    text = raw.strip()
    return "" if re.fullmatch(r"[1-5]", text) else text


__all__ = ["SurveyService", "ReplyResult", "UnknownSurvey", "TokenError", "dial_number", "SURVEY_CALL",
           "SURVEY_REPLY", "SURVEY_DISSATISFIED", "SURVEY_FOLLOW_UP", "NOTICE_DISSATISFIED"]
