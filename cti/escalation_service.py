"""Ticket lifecycle after the first contact: first-level timer, escalation to
support groups, re-assignment, cause/action, progress and 2nd-level resolution
(docs/escalation.md).  The rules are in ``cti.escalation`` (pure); this service
reads and writes the database, keeps the persisted schedule
(``db.models.ScheduledJob``), publishes bus topics and sends notification
e-mail through the injected mailer.

Every assignment writes a ``TicketAssignment`` row (who, to whom, when, why,
automatic or manual) and a ticket history event.  Timers are rows with a due
time; ``run_due(now)`` (called by ``cti.escalation_runner.TimerRunner``) claims
the due ones, one transaction each, so each fires once, also after a restart.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cti import escalation as rules
from cti import events, tickets
from cti.clock import Clock, utc_now
from cti.escalation import EscalationError
from cti.mailer import Mailer, NullMailer
from db.models import (Customer, ScheduledJob, SlaRule, SupportGroup, SupportGroupMember, Ticket,
                       TicketAssignment, TicketEvent, User)

log = logging.getLogger(__name__)

# Bus topics of this feature.
TICKET_ESCALATED = "ticket.escalated"          # {ticket_id, incident_id, group_id, group, to_user_id,
#                                                 by_user_id, automatic, reason, notify_user_ids, kind}
ESCALATION_RESOLVED = "ticket.escalation_resolved"  # {ticket_id, incident_id, by_user_id, notify_user_ids}
TICKET_OVERDUE = "ticket.overdue"              # {ticket_id, incident_id, overdue, notify_user_ids}
TICKET_PROGRESS = "ticket.progress"            # {ticket_id, kind: progress|resolved|overdue, text, severity,
#                                                 customer_id, by_user_id} (the customer is to be told)

# Roles that may re-assign or resolve a group's ticket without being in the group.
SUPERVISING_ROLES = ("supervisor", "admin")
# Roles that may escalate and enter progress (everyone who works the floor, not trainees).
WORKING_ROLES = ("agent", "supervisor", "admin")
MAX_JOBS_PER_RUN = 200


class NotFound(LookupError):
    pass


class NotAllowed(PermissionError):
    pass


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


@dataclass
class _After:
    """What to do once the transaction committed: bus messages and e-mail."""
    publish: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mail: list[tuple[str, str, str]] = field(default_factory=list)


class EscalationService:
    """See the module docstring.  Subscribes to screen-pops on construction (the
    first pop of a ticket starts its first level); ``close()`` unsubscribes."""

    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, config: dict,
                 clock: Clock = utc_now, mailer: Optional[Mailer] = None,
                 relayed_by_call: Optional[Callable[[Optional[int]], bool]] = None):
        """``relayed_by_call(severity)``: True when the customer hears of a ticket's
        updates by happy call (cti.happy_call, which e-mails when the call is not
        answered), so this service does not e-mail them as well."""
        self._sessions = session_factory
        self._relayed_by_call = relayed_by_call or (lambda _severity: False)
        self._bus = bus
        self._now = clock
        self._mailer = mailer or NullMailer()
        self.defaults = rules.SlaDefaults.from_config(config["escalation"])
        self._unsubscribe: list[Callable[[], None]] = [bus.subscribe(events.SCREENPOP, self._on_screenpop)]

    def close(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()

    # ---- reference data ------------------------------------------------------------------
    def groups(self) -> list[dict[str, Any]]:
        """Active support groups with their members (for the escalate form)."""
        with self._sessions() as s:
            groups = s.scalars(select(SupportGroup).where(SupportGroup.active.is_(True))
                               .order_by(SupportGroup.id)).all()
            return [_group_dict(g, with_members=True) for g in groups]

    def sla_table(self) -> list[dict[str, Any]]:
        with self._sessions() as s:
            rows = s.execute(select(SlaRule, SupportGroup.code).outerjoin(SupportGroup, SupportGroup.id == SlaRule.group_id)
                             .order_by(SlaRule.system, SlaRule.severity)).all()
            return [{"system": r.system, "severity": r.severity, "progress_minutes": r.progress_minutes,
                     "first_level_minutes": r.first_level_minutes, "group": code} for r, code in rows]

    def systems(self) -> list[str]:
        """The systems named in the SLA table (not the ``*`` row)."""
        with self._sessions() as s:
            return [r for r in s.scalars(select(SlaRule.system).distinct().order_by(SlaRule.system))
                    if r != rules.ANY_SYSTEM]

    def terms(self, system: str, severity: Optional[int]) -> rules.SlaTerms:
        with self._sessions() as s:
            return self._terms(s, system, severity)

    # ---- first level -----------------------------------------------------------------------
    def start_first_level(self, ticket_id: int) -> bool:
        """The ticket's first pop was delivered: its first level starts now (once)
        and the first-level timer is set.  Returns False when it had started."""
        now = self._now()
        with self._sessions.begin() as s:
            ticket = self._ticket(s, ticket_id)
            if ticket.first_level_started_at is not None or not tickets.is_open(ticket.status):
                return False
            ticket.first_level_started_at = now   # on the ticket itself: the history keeps call events
            self._schedule_timers(s, ticket, now)
        return True

    def _on_screenpop(self, _topic: str, payload: dict[str, Any]) -> None:
        ticket_id = (payload.get("pop") or {}).get("ticket_id")
        if ticket_id is not None:
            self.start_first_level(int(ticket_id))

    def classify(self, ticket_id: int, user_id: int, system: str, severity) -> None:
        """Set the system and severity (SLA table key); progress timers follow."""
        system = rules.clean_text(system, "system", required=True, limit=rules.MAX_SYSTEM)
        severity = rules.clean_severity(severity)
        now = self._now()
        with self._sessions.begin() as s:
            self._user(s, user_id, WORKING_ROLES)
            ticket = self._open_ticket(s, ticket_id)
            ticket.system, ticket.severity = system, severity
            self._record(s, ticket, "classified", now, user_id, {"system": system, "severity": severity})
            self._schedule_timers(s, ticket, now)

    # ---- assignments -----------------------------------------------------------------------
    def escalate(self, ticket_id: int, by_user_id: int, group_id: int, to_user_id: Optional[int],
                 reason: str) -> None:
        """Hand the ticket to a support group and (optionally) a person in it."""
        reason = rules.clean_text(reason, "reason", required=True, limit=rules.MAX_REASON)
        now = self._now()
        with self._sessions.begin() as s:
            self._user(s, by_user_id, WORKING_ROLES)
            ticket = self._open_ticket(s, ticket_id)
            group = self._group(s, group_id)
            rules.check_assignee(self._member_ids(s, group.id), to_user_id)
            after = self._assign(s, ticket, group, to_user_id, by_user_id, reason, automatic=False, now=now,
                                 kind="escalated")
            ticket.escalated_by_id = by_user_id
        self._after(after)

    def reassign(self, ticket_id: int, by_user_id: int, to_user_id: int, reason: str) -> None:
        """Re-assignment inside the ticket's group, by a member (or a supervisor)."""
        reason = rules.clean_text(reason, "reason", required=True, limit=rules.MAX_REASON)
        now = self._now()
        with self._sessions.begin() as s:
            ticket = self._open_ticket(s, ticket_id)
            if ticket.group_id is None:
                raise EscalationError("the ticket is not assigned to a group")
            self._require_group_worker(s, ticket, by_user_id)
            group = self._group(s, ticket.group_id)
            rules.check_assignee(self._member_ids(s, group.id), to_user_id)
            after = self._assign(s, ticket, group, to_user_id, by_user_id, reason, automatic=False, now=now,
                                 kind="reassigned")
        self._after(after)

    def _assign(self, s: Session, ticket: Ticket, group: SupportGroup, to_user_id: Optional[int],
                by_user_id: Optional[int], reason: str, *, automatic: bool, now: dt.datetime,
                kind: str) -> _After:
        s.add(TicketAssignment(ticket_id=ticket.id, from_user_id=by_user_id, from_group_id=ticket.group_id,
                               to_group_id=group.id, to_user_id=to_user_id, at=now, reason=reason,
                               automatic=automatic))
        ticket.group_id, ticket.assignee_id, ticket.level = group.id, to_user_id, 2
        self._record(s, ticket, kind, now, by_user_id,
                     {"group": group.code, "to": self._username(s, to_user_id) or "", "automatic": automatic,
                      "reason": reason})
        s.flush()
        self._schedule_timers(s, ticket, now)
        notify = [to_user_id] if to_user_id is not None else self._member_ids(s, group.id)
        after = _After()
        after.publish.append((TICKET_ESCALATED, {
            "ticket_id": ticket.id, "incident_id": ticket.incident_id, "kind": kind, "group_id": group.id,
            "group": group.name, "group_en": group.name_en or group.name, "to_user_id": to_user_id,
            "by_user_id": by_user_id, "by": self._username(s, by_user_id, display=True) or "",
            "to": self._username(s, to_user_id, display=True) or "",
            "automatic": automatic, "reason": reason, "notify_user_ids": notify,
            "severity": ticket.severity, "at": _iso(now)}))
        subject = f"[HappyCall] {ticket.incident_id} assigned to {group.name_en or group.name}"
        body = (f"Ticket {ticket.incident_id} was assigned to {group.name_en or group.name}"
                f"{' (automatically: first-level time limit)' if automatic else ''}.\n\n"
                f"Severity: {ticket.severity or '-'}  System: {ticket.system or '-'}\n"
                f"Reason: {reason}\n\nRequest:\n{ticket.request or '-'}\n")
        for address in self._addresses(s, group, to_user_id):
            after.mail.append((address, subject, body))
        return after

    # ---- 2nd-level work ----------------------------------------------------------------------
    def record_work(self, ticket_id: int, user_id: int, cause: str, action: str) -> None:
        cause = rules.clean_text(cause, "cause")
        action = rules.clean_text(action, "action")
        now = self._now()
        with self._sessions.begin() as s:
            ticket = self._open_ticket(s, ticket_id)
            self._require_group_worker(s, ticket, user_id)
            ticket.cause, ticket.action = cause, action
            self._record(s, ticket, "cause_action", now, user_id)

    def add_progress(self, ticket_id: int, user_id: int, text: str) -> None:
        """A progress update: clears the overdue flag and restarts the progress clock."""
        text = rules.clean_text(text, "progress", required=True, limit=rules.MAX_REASON)
        now = self._now()
        after = _After()
        with self._sessions.begin() as s:
            self._user(s, user_id, WORKING_ROLES)
            ticket = self._open_ticket(s, ticket_id)
            was_overdue = ticket.progress_overdue
            ticket.last_progress_at, ticket.progress_overdue = now, False
            self._record(s, ticket, "progress", now, user_id, {"text": text})
            self._schedule_timers(s, ticket, now)
            if was_overdue:
                after.publish.append((TICKET_OVERDUE, self._overdue_payload(s, ticket, False)))
            after.publish.append((TICKET_PROGRESS, {
                "ticket_id": ticket.id, "kind": "progress", "text": text, "severity": ticket.severity,
                "customer_id": ticket.customer_id, "by_user_id": user_id}))
            if ticket.severity in rules.PROGRESS_SEVERITIES and not self._relayed_by_call(ticket.severity):
                self._mail_customer(s, ticket, after, f"[HappyCall] {ticket.incident_id}: progress",
                                    f"Progress on your request {ticket.incident_id}:\n\n{text}\n")
        self._after(after)

    def resolve(self, ticket_id: int, user_id: int, cause: str, action: str, resolution: str = "") -> None:
        """Resolve at the 2nd level: cause and action are required; the resolution
        defaults to the action.  The escalating agent and the customer are told."""
        cause = rules.clean_text(cause, "cause", required=True)
        action = rules.clean_text(action, "action", required=True)
        resolution = tickets.clean_resolution(resolution or action)
        now = self._now()
        after = _After()
        with self._sessions.begin() as s:
            ticket = self._open_ticket(s, ticket_id)
            if ticket.group_id is None:
                raise EscalationError("the ticket is not assigned to a group")
            self._require_group_worker(s, ticket, user_id)
            self._record(s, ticket, "resolved", now, user_id, {"level": 2})   # raises if it cannot be resolved
            ticket.cause, ticket.action, ticket.resolution, ticket.resolved_at = cause, action, resolution, now
            ticket.progress_overdue = False
            self._cancel_jobs(s, ticket.id, None)
            notify = sorted({u for u in (ticket.escalated_by_id, ticket.agent_id) if u is not None})
            after.publish.append((events.TICKET_UPDATED, {"ticket_id": ticket.id, "status": ticket.status,
                                                          "agent_id": ticket.escalated_by_id}))
            after.publish.append((ESCALATION_RESOLVED, {
                "ticket_id": ticket.id, "incident_id": ticket.incident_id, "by_user_id": user_id,
                "by": self._username(s, user_id, display=True), "notify_user_ids": notify, "at": _iso(now)}))
            after.publish.append((TICKET_PROGRESS, {
                "ticket_id": ticket.id, "kind": "resolved", "text": resolution, "severity": ticket.severity,
                "customer_id": ticket.customer_id, "by_user_id": user_id}))
            if not self._relayed_by_call(ticket.severity):
                self._mail_customer(s, ticket, after, f"[HappyCall] {ticket.incident_id} resolved",
                                    f"Your request {ticket.incident_id} is resolved.\n\n{resolution}\n")
        self._after(after)

    # ---- timers ----------------------------------------------------------------------------
    def run_due(self, now: Optional[dt.datetime] = None) -> list[tuple[str, int, str]]:
        """Fire every pending timer due at ``now``: one transaction per timer, which
        marks it done together with its effect.  Returns (kind, ticket id, result)."""
        now = self._now() if now is None else now
        fired: list[tuple[str, int, str]] = []
        for _ in range(MAX_JOBS_PER_RUN):
            with self._sessions.begin() as s:
                job = s.scalar(select(ScheduledJob)
                               .where(ScheduledJob.status == "pending", ScheduledJob.due_at <= now)
                               .order_by(ScheduledJob.due_at, ScheduledJob.id).limit(1)
                               .with_for_update(skip_locked=True))
                if job is None:
                    break
                job.status, job.fired_at = "done", now
                result, after = self._fire(s, job, now)
                job.result = result
                fired.append((job.kind, job.ticket_id, result))
            self._after(after)
        return fired

    def next_due(self) -> Optional[dt.datetime]:
        with self._sessions() as s:
            return s.scalar(select(func.min(ScheduledJob.due_at)).where(ScheduledJob.status == "pending"))

    def _fire(self, s: Session, job: ScheduledJob, now: dt.datetime) -> tuple[str, _After]:
        ticket = s.get(Ticket, job.ticket_id)
        if ticket is None or not tickets.is_open(ticket.status):
            return "closed", _After()
        terms = self._terms(s, ticket.system, ticket.severity)
        if job.kind == rules.FIRST_LEVEL_JOB:
            return self._fire_first_level(s, ticket, terms, now)
        if job.kind == rules.PROGRESS_JOB:
            return self._fire_progress(s, ticket, terms, now)
        log.warning("unknown timer kind %r for ticket %s", job.kind, job.ticket_id)
        return "unknown", _After()

    def _fire_first_level(self, s: Session, ticket: Ticket, terms: rules.SlaTerms,
                          now: dt.datetime) -> tuple[str, _After]:
        if ticket.level != 1:
            return "escalated_already", _After()
        if not rules.due_for_auto_assignment(is_open=True, level=ticket.level,
                                             started_at=ticket.first_level_started_at, terms=terms, now=now):
            self._schedule_timers(s, ticket, now)   # the limit moved (re-classified): wait for the new one
            return "rescheduled", _After()
        group = self._group_by_code(s, terms.group_code) or self._group_by_code(s, self.defaults.group_code)
        if group is None:
            log.error("ticket %s: no support group %r to assign to", ticket.incident_id, terms.group_code)
            return "no_group", _After()
        hours = terms.first_level.total_seconds() / 3600
        reason = f"not resolved at the first level within {hours:g} h"
        return "assigned", self._assign(s, ticket, group, None, None, reason, automatic=True, now=now,
                                        kind="escalated")

    def _fire_progress(self, s: Session, ticket: Ticket, terms: rules.SlaTerms,
                       now: dt.datetime) -> tuple[str, _After]:
        reference = self._progress_reference(s, ticket)
        if not rules.progress_overdue(is_open=True, reference=reference, terms=terms, now=now):
            self._schedule_timers(s, ticket, now)
            return "not_due", _After()
        if ticket.progress_overdue:
            return "flagged_already", _After()
        ticket.progress_overdue = True
        self._record(s, ticket, "progress_overdue", now, None,
                     {"due": _iso(rules.progress_due_at(reference, terms))})
        after = _After()
        after.publish.append((TICKET_OVERDUE, self._overdue_payload(s, ticket, True)))
        # The customer is told the work goes on (the happy call relays it: "still being
        # worked on"), so a missed update never leaves them without news.
        after.publish.append((TICKET_PROGRESS, {
            "ticket_id": ticket.id, "kind": "overdue", "text": "", "severity": ticket.severity,
            "customer_id": ticket.customer_id, "by_user_id": None}))
        return "flagged", after

    def _schedule_timers(self, s: Session, ticket: Ticket, now: dt.datetime) -> None:
        """(Re)set the ticket's timers from its current state: the first-level
        timer while at level 1, the progress timer when its severity has a rule."""
        if not tickets.is_open(ticket.status):
            self._cancel_jobs(s, ticket.id, None)
            return
        terms = self._terms(s, ticket.system, ticket.severity)
        if ticket.level == 1 and ticket.first_level_started_at is not None:
            self._schedule(s, ticket.id, rules.FIRST_LEVEL_JOB,
                           rules.first_level_due_at(ticket.first_level_started_at, terms), now)
        else:
            self._cancel_jobs(s, ticket.id, rules.FIRST_LEVEL_JOB)
        # Most tickets have no progress rule (severity 3/4 or none yet): then the
        # reference (a query on the assignments) is not needed.
        due = rules.progress_due_at(self._progress_reference(s, ticket), terms) if terms.progress else None
        if due is not None and not ticket.progress_overdue:
            self._schedule(s, ticket.id, rules.PROGRESS_JOB, due, now)
        else:
            self._cancel_jobs(s, ticket.id, rules.PROGRESS_JOB)

    @staticmethod
    def _schedule(s: Session, ticket_id: int, kind: str, due: dt.datetime, now: dt.datetime) -> None:
        """One pending timer per (ticket, kind): an existing one is moved."""
        job = s.scalar(select(ScheduledJob).where(ScheduledJob.ticket_id == ticket_id, ScheduledJob.kind == kind,
                                                  ScheduledJob.status == "pending"))
        if job is None:
            s.add(ScheduledJob(ticket_id=ticket_id, kind=kind, due_at=due, created_at=now))
        else:
            job.due_at = due

    @staticmethod
    def _cancel_jobs(s: Session, ticket_id: int, kind: Optional[str]) -> None:
        stmt = update(ScheduledJob).where(ScheduledJob.ticket_id == ticket_id, ScheduledJob.status == "pending")
        if kind is not None:
            stmt = stmt.where(ScheduledJob.kind == kind)
        s.execute(stmt.values(status="cancelled"))

    def pending_jobs(self, ticket_id: Optional[int] = None) -> list[dict[str, Any]]:
        with self._sessions() as s:
            q = select(ScheduledJob).where(ScheduledJob.status == "pending").order_by(ScheduledJob.due_at)
            if ticket_id is not None:
                q = q.where(ScheduledJob.ticket_id == ticket_id)
            return [{"kind": j.kind, "ticket_id": j.ticket_id, "due_at": j.due_at} for j in s.scalars(q)]

    # ---- views -----------------------------------------------------------------------------
    def ticket_escalation(self, ticket_id: int, viewer_id: Optional[int] = None) -> dict[str, Any]:
        """The escalation panel of the ticket screen."""
        now = self._now()
        with self._sessions() as s:
            ticket = self._ticket(s, ticket_id)
            terms = self._terms(s, ticket.system, ticket.severity)
            assignments = s.scalars(select(TicketAssignment).where(TicketAssignment.ticket_id == ticket.id)
                                    .order_by(TicketAssignment.at, TicketAssignment.id)).all()
            first_escalation = assignments[0].at if assignments else None
            ended = first_escalation or ticket.resolved_at
            reference = self._progress_reference(s, ticket)
            group = s.get(SupportGroup, ticket.group_id) if ticket.group_id else None
            open_ = tickets.is_open(ticket.status)
            viewer_role = s.scalar(select(User.role).where(User.id == viewer_id)) if viewer_id else None
            return {
                "level": ticket.level, "system": ticket.system, "severity": ticket.severity,
                "first_level": {
                    "started_at": _iso(ticket.first_level_started_at), "ended_at": _iso(ended),
                    "running": open_ and ticket.level == 1 and ticket.first_level_started_at is not None,
                    "elapsed_seconds": rules.first_level_elapsed(ticket.first_level_started_at, now, ended),
                    "limit_seconds": terms.first_level.total_seconds(),
                    "due_at": _iso(rules.first_level_due_at(ticket.first_level_started_at, terms)
                                   if ticket.first_level_started_at else None),
                },
                "group": _group_dict(group, with_members=True) if group else None,
                "assignee": self._person(s, ticket.assignee_id),
                "escalated_by": self._person(s, ticket.escalated_by_id),
                "cause": ticket.cause, "action": ticket.action,
                "progress": {
                    "minutes": terms.progress.total_seconds() / 60 if terms.progress else None,
                    "last_at": _iso(ticket.last_progress_at),
                    "due_at": _iso(rules.progress_due_at(reference, terms)) if open_ else None,
                    "overdue": bool(ticket.progress_overdue),
                },
                "preset_group": terms.group_code,
                "timeline": [self._assignment_dict(s, a) for a in assignments],
                "viewer_in_group": bool(group and viewer_id in self._member_ids(s, group.id)),
                "viewer_supervises": viewer_role in SUPERVISING_ROLES,
                "server_time": _iso(now),
            }

    def group_tickets(self, user_id: int) -> list[dict[str, Any]]:
        """Open tickets assigned to the groups the user is a member of (own first)."""
        now = self._now()
        with self._sessions() as s:
            group_ids = list(s.scalars(select(SupportGroupMember.group_id)
                                       .where(SupportGroupMember.user_id == user_id)))
            if not group_ids:
                return []
            rows = s.scalars(select(Ticket).where(Ticket.group_id.in_(group_ids),
                                                  Ticket.status != tickets.TicketStatus.RESOLVED.value)
                             .order_by(Ticket.progress_overdue.desc(), Ticket.severity.is_(None),
                                       Ticket.severity, Ticket.created_at)).all()
            groups = {g.id: g for g in s.scalars(select(SupportGroup).where(SupportGroup.id.in_(group_ids)))}
            out = []
            for t in rows:
                terms = self._terms(s, t.system, t.severity)
                out.append({
                    "id": t.id, "incident_id": t.incident_id, "status": t.status, "severity": t.severity,
                    "system": t.system, "request": t.request, "group": groups[t.group_id].name,
                    "group_en": groups[t.group_id].name_en or groups[t.group_id].name,
                    "assignee": self._person(s, t.assignee_id), "mine": t.assignee_id == user_id,
                    "overdue": bool(t.progress_overdue),
                    "progress_due_at": _iso(rules.progress_due_at(self._progress_reference(s, t), terms)),
                    "age_seconds": (now - t.created_at).total_seconds(),
                })
            out.sort(key=lambda r: not r["mine"])
            return out

    def overdue_count(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count(Ticket.id)).where(
                Ticket.progress_overdue.is_(True), Ticket.status != tickets.TicketStatus.RESOLVED.value)) or 0)

    # ---- internals ---------------------------------------------------------------------------
    def _after(self, after: _After) -> None:
        for topic, payload in after.publish:
            self._bus.publish(topic, payload)
        for to, subject, body in after.mail:
            self._mailer.send(to, subject, body)

    def _terms(self, s: Session, system: str, severity: Optional[int]) -> rules.SlaTerms:
        q = (select(SlaRule.system, SlaRule.severity, SlaRule.progress_minutes, SlaRule.first_level_minutes,
                    SupportGroup.code)
             .outerjoin(SupportGroup, SupportGroup.id == SlaRule.group_id)
             .where(SlaRule.system.in_([system or "", rules.ANY_SYSTEM])))
        rows = [rules.SlaRow(*r) for r in s.execute(q)]
        return rules.sla_terms(rows, system or "", severity, self.defaults)

    @staticmethod
    def _progress_reference(s: Session, ticket: Ticket) -> Optional[dt.datetime]:
        escalated_at = s.scalar(select(func.max(TicketAssignment.at)).where(TicketAssignment.ticket_id == ticket.id))
        return rules.progress_reference(ticket.last_progress_at, escalated_at, ticket.first_level_started_at)

    def _overdue_payload(self, s: Session, ticket: Ticket, overdue: bool) -> dict[str, Any]:
        notify = {u for u in (ticket.assignee_id, ticket.escalated_by_id, ticket.agent_id) if u is not None}
        if ticket.assignee_id is None and ticket.group_id is not None:
            notify.update(self._member_ids(s, ticket.group_id))
        return {"ticket_id": ticket.id, "incident_id": ticket.incident_id, "overdue": overdue,
                "severity": ticket.severity, "notify_user_ids": sorted(notify)}

    def _mail_customer(self, s: Session, ticket: Ticket, after: _After, subject: str, body: str) -> None:
        customer = s.get(Customer, ticket.customer_id) if ticket.customer_id else None
        if customer is not None and customer.email:
            after.mail.append((customer.email, subject, body))

    @staticmethod
    def _addresses(s: Session, group: SupportGroup, to_user_id: Optional[int]) -> list[str]:
        """The person's notice address; for a whole group its mailbox, else every member's."""
        q = select(SupportGroupMember.email).where(SupportGroupMember.group_id == group.id,
                                                   SupportGroupMember.email != "")
        if to_user_id is not None:
            return list(s.scalars(q.where(SupportGroupMember.user_id == to_user_id)))
        return [group.email] if group.email else list(s.scalars(q))

    def _require_group_worker(self, s: Session, ticket: Ticket, user_id: int) -> None:
        user = self._user(s, user_id, WORKING_ROLES)
        if user.role in SUPERVISING_ROLES:
            return
        if ticket.group_id is None or user_id not in self._member_ids(s, ticket.group_id):
            raise NotAllowed("only members of the ticket's group may do this")

    @staticmethod
    def _member_ids(s: Session, group_id: int) -> list[int]:
        return list(s.scalars(select(SupportGroupMember.user_id).where(SupportGroupMember.group_id == group_id)
                              .order_by(SupportGroupMember.id)))

    @staticmethod
    def _ticket(s: Session, ticket_id: int) -> Ticket:
        ticket = s.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id}")
        return ticket

    def _open_ticket(self, s: Session, ticket_id: int) -> Ticket:
        ticket = self._ticket(s, ticket_id)
        if not tickets.is_open(ticket.status):
            raise EscalationError("the ticket is resolved")
        return ticket

    @staticmethod
    def _group(s: Session, group_id) -> SupportGroup:
        try:
            group = s.get(SupportGroup, int(group_id))
        except (TypeError, ValueError):
            group = None
        if group is None or not group.active:
            raise EscalationError("unknown support group")
        return group

    @staticmethod
    def _group_by_code(s: Session, code: str) -> Optional[SupportGroup]:
        return s.scalar(select(SupportGroup).where(SupportGroup.code == code, SupportGroup.active.is_(True)))

    @staticmethod
    def _user(s: Session, user_id: int, roles: tuple[str, ...]) -> User:
        user = s.get(User, user_id)
        if user is None or not user.active:
            raise NotFound(f"no user {user_id}")
        if user.role not in roles:
            raise NotAllowed(f"a {user.role} may not do this")
        return user

    @staticmethod
    def _username(s: Session, user_id: Optional[int], display: bool = False) -> Optional[str]:
        if user_id is None:
            return None
        user = s.get(User, user_id)
        return (user.display_name if display else user.username) if user else None

    @staticmethod
    def _person(s: Session, user_id: Optional[int]) -> Optional[dict[str, Any]]:
        user = s.get(User, user_id) if user_id is not None else None
        return {"id": user.id, "name": user.display_name, "username": user.username} if user else None

    def _assignment_dict(self, s: Session, a: TicketAssignment) -> dict[str, Any]:
        groups = {g.id: g for g in s.scalars(select(SupportGroup).where(
            SupportGroup.id.in_([i for i in (a.from_group_id, a.to_group_id) if i is not None])))}

        def gname(gid):
            g = groups.get(gid)
            return {"name": g.name, "name_en": g.name_en or g.name} if g else None
        return {"at": _iso(a.at), "automatic": bool(a.automatic), "reason": a.reason,
                "from_user": self._person(s, a.from_user_id), "from_group": gname(a.from_group_id),
                "to_group": gname(a.to_group_id), "to_user": self._person(s, a.to_user_id)}

    @staticmethod
    def _record(s: Session, ticket: Ticket, kind: str, now: dt.datetime, user_id: Optional[int] = None,
                detail: Optional[dict] = None) -> None:
        ticket.status = tickets.next_status(ticket.status, kind).value
        s.add(TicketEvent(ticket=ticket, kind=kind, at=now, user_id=user_id, detail=detail or {}))


def _group_dict(g: SupportGroup, with_members: bool = False) -> dict[str, Any]:
    d = {"id": g.id, "code": g.code, "name": g.name, "name_en": g.name_en or g.name, "kind": g.kind,
         "skills": g.skills}
    if with_members:
        d["members"] = [{"user_id": m.user_id, "name": m.user.display_name, "username": m.user.username,
                         "skills": m.skills} for m in g.members if m.user.active]
    return d
