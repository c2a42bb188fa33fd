"""IntakeService: e-mail, portal form and one-stop requests become tickets, and
each new ticket reaches an agent as a screen-pop.

Every method opens its own short transaction (called from the SMTP listener's
thread and from web request threads).  New tickets of these channels wait in
the default queue (``[acd] queue``) with status ``queued``; the pop goes to a
Ready member of that queue (fewest open non-phone tickets, then longest idle)
on the bus topic ``SCREENPOP`` like a call's, without ringing anything or
changing the agent's state.  A ticket nobody was Ready for waits (``agent_id``
empty, so it survives a restart) and is popped when an agent becomes Ready.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from sqlalchemy import func, nulls_first, select
from sqlalchemy.orm import Session, sessionmaker

from cti import events, tickets
from cti.clock import Clock, utc_now
from cti.intake import approval, forms, mail
from cti.intake.attachments import AttachmentStore, clean_original_name
from db.models import (ApprovalLineStep, Customer, OneStopApproval, OneStopRequest, Queue, QueueMember, Ticket,
                       TicketAttachment, TicketEvent, TicketMessage, User)

log = logging.getLogger(__name__)

INTAKE_CHANNELS = ("email", "web", "onestop")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
WAITING_POPS_PER_READY = 5     # pops handed to one agent when they become Ready
# Bus topic: a one-stop request was made or decided.  {request_id, status, approver_id}
ONESTOP_UPDATED = "onestop.updated"

#: Something that may own an inbound e-mail before it becomes a ticket (a reply to a
#: survey e-mail: cti/surveys/links.py): takes the parsed message and returns a short
#: reference of what it became (named in the SMTP answer), or None to leave it to the
#: intake.  Joined by the system factory; the intake knows nothing of surveys.
MailClaim = Callable[[mail.ParsedMail], Optional[str]]


class Refused(Exception):
    """A message the listener refuses; ``smtp_reply`` is the full SMTP answer."""

    def __init__(self, smtp_reply: str):
        super().__init__(smtp_reply)
        self.smtp_reply = smtp_reply


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Received:
    ticket_id: Optional[int]        # None: a claim took the message (``claimed``)
    incident_id: str                # or the claim's reference
    threaded: bool
    customer_known: bool
    claimed: bool = False


class IntakeService:
    def __init__(self, session_factory: sessionmaker, bus: events.EventBus, attachments: AttachmentStore,
                 queue_name: str = "helpdesk", max_bytes: int = DEFAULT_MAX_BYTES, clock: Clock = utc_now,
                 claims: Sequence[MailClaim] = (), also_pop: Sequence[str] = ()):
        """``also_pop``: ticket channels made elsewhere whose waiting tickets this
        service pops too (the survey's follow-up tickets, channel ``survey``), so
        an agent who becomes Ready gets them like the intake's own."""
        self._sessions = session_factory
        self._claims = tuple(claims)
        self._pop_channels = tuple(dict.fromkeys((*INTAKE_CHANNELS, *also_pop)))
        self._bus = bus
        self._files = attachments
        self._queue_name = queue_name
        self.max_bytes = int(max_bytes)
        self._now = clock
        # Waiting intake tickets go to an agent who becomes Ready.
        self._unsubscribe: Optional[Callable[[], None]] = bus.subscribe(events.AGENT_STATE, self._on_agent_state)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- e-mail -----------------------------------------------------------------------
    def receive_email(self, raw: bytes, envelope_from: str = "") -> Received:
        """Keep one inbound message: a claim's when one takes it (a survey reply), else
        onto the ticket it answers, else a new ticket (channel email).  Raises
        ``Refused`` (oversized, malformed); nothing is stored then."""
        if len(raw) > self.max_bytes:
            log.warning("e-mail from %r refused: %d bytes over the limit of %d", envelope_from[:254],
                        len(raw), self.max_bytes)
            raise Refused(f"552 5.3.4 Message too big: at most {self.max_bytes} bytes are accepted")
        try:
            parsed = mail.parse(raw)
        except mail.MalformedMessage as exc:
            log.warning("e-mail from %r refused: %s", envelope_from[:254], exc)
            raise Refused(f"554 5.6.0 Malformed message refused: {exc}") from None
        for claim in self._claims:
            taken = claim(parsed)
            if taken:
                log.info("e-mail %s from %s -> %s", parsed.message_id, parsed.from_address, taken)
                return Received(None, str(taken), True, False, claimed=True)
        stored: list[str] = []
        try:
            with self._sessions.begin() as s:
                result = self._keep_message(s, parsed, stored)
        except Exception:
            for name in stored:   # the database said no: no orphan files
                self._files.remove(name)
            raise
        log.info("e-mail %s from %s -> %s (%s)", parsed.message_id, parsed.from_address, result.incident_id,
                 "reply" if result.threaded else "new ticket")
        if result.threaded:
            self._publish_ticket(result.ticket_id)
        else:
            self.deliver_pop(result.ticket_id)
        return result

    def _keep_message(self, s: Session, parsed: mail.ParsedMail, stored: list[str]) -> Received:
        now = self._now()
        customer = self._customer_by_email(s, parsed.from_address)
        ticket = self._thread_ticket(s, parsed, customer)
        threaded = ticket is not None
        if ticket is None:
            ticket = self._new_ticket(s, "email", customer, now, caller_name=parsed.from_name or parsed.from_address,
                                      request=_request_text(parsed.subject, parsed.body_text),
                                      detail={"from": parsed.from_address, "subject": parsed.subject})
        message = TicketMessage(ticket_id=ticket.id, direction="inbound", message_id=parsed.message_id[:998],
                                in_reply_to=parsed.in_reply_to, references=" ".join(parsed.references),
                                from_address=parsed.from_address, from_name=parsed.from_name,
                                to_address=parsed.to_address, subject=parsed.subject, body_text=parsed.body_text,
                                size_bytes=parsed.size_bytes, sender_known=customer is not None, received_at=now)
        s.add(message)
        s.flush()
        for item in parsed.attachments:
            name = self._files.save(item.data)
            stored.append(name)
            s.add(TicketAttachment(ticket_id=ticket.id, message_id=message.id,
                                   original_name=clean_original_name(item.filename), stored_name=name,
                                   content_type=item.content_type[:255], size_bytes=len(item.data), created_at=now))
        _record(s, ticket, "message_received", now, detail={"message": message.id, "from": parsed.from_address,
                                                              "attachments": len(parsed.attachments),
                                                              "reply": threaded})
        return Received(ticket.id, ticket.incident_id, threaded, customer is not None)

    @staticmethod
    def _customer_by_email(s: Session, address: str) -> Optional[Customer]:
        address = (address or "").strip().lower()
        if not address:
            return None
        return s.scalars(select(Customer).where(func.lower(Customer.email) == address)
                         .order_by(Customer.id).limit(1)).first()

    @staticmethod
    def _thread_ticket(s: Session, parsed: mail.ParsedMail, customer: Optional[Customer]) -> Optional[Ticket]:
        """The ticket a reply belongs to: by the Message-IDs it answers, else by an
        ``[INC-...]`` tag in the subject, but only when the sender is that ticket's
        customer or wrote on it before (an incident ID alone is easy to guess)."""
        for msgid in parsed.thread_ids:
            ticket_id = s.scalar(select(TicketMessage.ticket_id).where(TicketMessage.message_id == msgid)
                                 .order_by(TicketMessage.id).limit(1))
            if ticket_id is not None:
                return s.get(Ticket, ticket_id)
        tag = parsed.incident_tag
        if not tag:
            return None
        ticket = s.scalar(select(Ticket).where(Ticket.incident_id == tag))
        if ticket is None:
            return None
        if customer is not None and ticket.customer_id == customer.id:
            return ticket
        wrote_before = s.scalar(select(TicketMessage.id).where(
            TicketMessage.ticket_id == ticket.id,
            func.lower(TicketMessage.from_address) == parsed.from_address.lower()).limit(1))
        return ticket if wrote_before is not None else None

    # ---- the thread on the ticket -----------------------------------------------------
    def thread(self, ticket_id: int) -> list[dict[str, Any]]:
        """The e-mails kept with a ticket, oldest first, each with its attachments
        (names, types and sizes only; the files are read by ``attachment_file``)."""
        with self._sessions() as s:
            rows = s.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
                             .order_by(TicketMessage.received_at, TicketMessage.id)).all()
            return [_message_dict(m) for m in rows]

    def attachment_file(self, ticket_id: int, attachment_id: int) -> dict[str, Any]:
        """An attachment of ``ticket_id`` with the path of its file.  Raises
        ``NotFound`` for another ticket's attachment or a file gone from disk."""
        with self._sessions() as s:
            row = s.get(TicketAttachment, attachment_id)
            if row is None or row.ticket_id != ticket_id:
                raise NotFound(f"no attachment {attachment_id} on ticket {ticket_id}")
            out = _attachment_dict(row)
            stored_name = row.stored_name
        try:
            path = self._files.path(stored_name)
        except ValueError:
            raise NotFound(f"attachment {attachment_id} has no stored file") from None
        if not path.is_file():
            raise NotFound(f"the file of attachment {attachment_id} is gone")
        return {**out, "path": path}

    # ---- portal form ------------------------------------------------------------------
    def submit_web_form(self, submission: forms.Submission) -> Received:
        """The customer portal's form: a ticket (channel web) at once."""
        now = self._now()
        with self._sessions.begin() as s:
            customer = self._customer_by_identifier(s, submission.identifier)
            ticket = self._new_ticket(s, "web", customer, now, caller_name=submission.name,
                                      caller_number=submission.phone, language=submission.language,
                                      request=_request_text(submission.subject, submission.description),
                                      detail={"identifier": submission.identifier, "subject": submission.subject})
            result = Received(ticket.id, ticket.incident_id, False, customer is not None)
        self.deliver_pop(result.ticket_id)
        return result

    @staticmethod
    def _customer_by_identifier(s: Session, identifier: str) -> Optional[Customer]:
        if "@" in identifier:
            return IntakeService._customer_by_email(s, identifier)
        return s.scalar(select(Customer).where(Customer.pin == identifier))

    # ---- one-stop requests --------------------------------------------------------------
    def submit_onestop(self, kind: str, submission: forms.Submission) -> dict[str, Any]:
        """A one-stop request waits for its approval line; no ticket yet."""
        if kind not in forms.ONESTOP_KINDS:
            raise forms.InvalidSubmission("kind", "unknown request kind")
        now = self._now()
        with self._sessions.begin() as s:
            approvers = list(s.scalars(select(ApprovalLineStep.approver_id).where(ApprovalLineStep.kind == kind)
                                       .order_by(ApprovalLineStep.step)))
            line = approval.Line.start(approvers)
            customer = self._customer_by_identifier(s, submission.identifier)
            request = OneStopRequest(kind=kind, status=line.status, customer_id=customer.id if customer else None,
                                     requester_name=submission.name, requester_id=submission.identifier,
                                     phone=submission.phone, subject=submission.subject,
                                     description=submission.description, language=submission.language,
                                     created_at=now)
            request.approvals = [OneStopApproval(step=i, approver_id=a, decision=d)
                                 for i, (a, d) in enumerate(zip(line.approvers, line.decisions))]
            s.add(request)
            s.flush()
            out = {"request_id": request.id, "status": request.status, "approver_id": line.current_approver}
        self._bus.publish(ONESTOP_UPDATED, dict(out))
        return out

    def pending_for(self, user_id: int) -> list[dict[str, Any]]:
        """Requests whose current step waits for ``user_id``, oldest first."""
        with self._sessions() as s:
            rows = s.scalars(select(OneStopRequest).where(OneStopRequest.status == approval.PENDING)
                             .order_by(OneStopRequest.created_at, OneStopRequest.id)).all()
            return [_request_dict(r) for r in rows if _line_of(r).current_approver == user_id]

    def request_view(self, request_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            request = s.get(OneStopRequest, request_id)
            if request is None:
                raise NotFound(f"no one-stop request {request_id}")
            return _request_dict(request)

    def decide(self, request_id: int, approver_id: int, decision: str, comment: str = "") -> dict[str, Any]:
        """Record ``approver_id``'s decision on the current step (``approval.decide``
        rules).  The last approval opens the ticket (channel onestop) and pops it."""
        now = self._now()
        with self._sessions.begin() as s:
            request = s.get(OneStopRequest, request_id, with_for_update=True)
            if request is None:
                raise NotFound(f"no one-stop request {request_id}")
            before = _line_of(request)
            after = approval.decide(before, approver_id, decision)
            step = before.current_step
            for row in request.approvals:
                row.decision = after.decisions[row.step]
                if row.step == step:
                    row.comment = (comment or "").strip()[:2000]
                    row.decided_at = now
            request.status = after.status
            ticket_id = None
            if after.status != approval.PENDING:
                request.decided_at = now
            if after.status == approval.APPROVED:
                customer = s.get(Customer, request.customer_id) if request.customer_id else None
                ticket = self._new_ticket(s, "onestop", customer, now, caller_name=request.requester_name,
                                          caller_number=request.phone, language=request.language,
                                          request=_request_text(request.subject, request.description),
                                          detail={"onestop_request": request.id, "kind": request.kind})
                request.ticket_id = ticket_id = ticket.id
            out = _request_dict(request)
        self._bus.publish(ONESTOP_UPDATED, {"request_id": request_id, "status": out["status"],
                                            "approver_id": after.current_approver})
        if ticket_id is not None:
            self.deliver_pop(ticket_id)
        return out

    # ---- pops -------------------------------------------------------------------------
    def deliver_pop(self, ticket_id: int, agent_id: Optional[int] = None) -> Optional[dict[str, Any]]:
        """Offer a waiting intake ticket to ``agent_id`` (or the best Ready agent of the
        queue).  Returns the pop, or None when nobody is Ready (the ticket waits)."""
        now = self._now()
        with self._sessions.begin() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None or ticket.agent_id is not None or ticket.status != tickets.TicketStatus.QUEUED.value:
                return None
            agent = s.get(User, agent_id) if agent_id is not None else self._pick_agent(s, ticket.queue_id)
            if agent is None or agent.state != "ready":
                return None
            ticket.agent_id = agent.id
            _record(s, ticket, "popped", now, user_id=agent.id, detail={"agent": agent.username,
                                                                         "channel": ticket.channel})
            pop = _pop(ticket, now)
            target = agent.id
        self._bus.publish(events.SCREENPOP, {"agent_id": target, "pop": pop})
        return pop

    def deliver_waiting(self, agent_id: int, limit: int = WAITING_POPS_PER_READY) -> int:
        """Pop the oldest waiting tickets (intake channels and ``also_pop``) of the agent's
        queues to an agent who is Ready."""
        with self._sessions() as s:
            waiting = list(s.scalars(
                select(Ticket.id).join(Queue, Queue.id == Ticket.queue_id)
                .join(QueueMember, (QueueMember.queue_id == Queue.id) & (QueueMember.user_id == agent_id))
                .where(Ticket.channel.in_(self._pop_channels), Ticket.agent_id.is_(None),
                       Ticket.status == tickets.TicketStatus.QUEUED.value, QueueMember.logged_in.is_(True))
                .order_by(Ticket.created_at, Ticket.id).limit(limit)))
        return sum(1 for ticket_id in waiting if self.deliver_pop(ticket_id, agent_id) is not None)

    def _on_agent_state(self, _topic: str, payload: dict[str, Any]) -> None:
        if payload.get("state") == "ready" and payload.get("agent_id") is not None:
            self.deliver_waiting(int(payload["agent_id"]))

    def _pick_agent(self, s: Session, queue_id: Optional[int]) -> Optional[User]:
        """A Ready, logged-in member of the queue with the fewest open intake tickets,
        then the longest idle (so a batch of e-mails spreads over the agents)."""
        if queue_id is None:
            return None
        open_count = (select(func.count(Ticket.id))
                      .where(Ticket.agent_id == User.id, Ticket.channel.in_(self._pop_channels),
                             Ticket.status != tickets.TicketStatus.RESOLVED.value)
                      .correlate(User).scalar_subquery())
        return s.scalars(select(User).join(QueueMember, QueueMember.user_id == User.id)
                         .where(QueueMember.queue_id == queue_id, QueueMember.logged_in.is_(True),
                                User.active.is_(True), User.state == "ready")
                         .order_by(open_count, nulls_first(User.idle_since), User.id).limit(1)).first()

    # ---- internals ---------------------------------------------------------------------
    def _new_ticket(self, s: Session, channel: str, customer: Optional[Customer], now: dt.datetime,
                    caller_name: str = "", caller_number: str = "", language: str = "ko", request: str = "",
                    detail: Optional[dict] = None) -> Ticket:
        queue = s.scalar(select(Queue).where(Queue.name == self._queue_name))
        ticket = Ticket(incident_id="", channel=channel, status=tickets.TicketStatus.NEW.value,
                        customer_id=customer.id if customer else None, caller_name=caller_name[:200],
                        caller_number=caller_number[:64], language=language, request=request[:10_000],
                        queue_id=queue.id if queue else None, created_at=now)
        s.add(ticket)
        s.flush()
        ticket.incident_id = tickets.incident_id(ticket.id)
        _record(s, ticket, "created", now, detail={"channel": channel, **(detail or {})})
        # Unknown sender: the ticket is flagged for the agent to identify the customer.
        _record(s, ticket, "identified" if customer else "unidentified", now, detail={"channel": channel})
        ticket.status = tickets.next_status(ticket.status, "queued").value
        _record(s, ticket, "queued", now, detail={"queue": queue.name if queue else ""})
        return ticket

    def _publish_ticket(self, ticket_id: int) -> None:
        with self._sessions() as s:
            ticket = s.get(Ticket, ticket_id)
            status, agent_id = ticket.status, ticket.agent_id
        self._bus.publish(events.TICKET_UPDATED, {"ticket_id": ticket_id, "status": status, "agent_id": agent_id})


def _record(s: Session, ticket: Ticket, kind: str, now: dt.datetime, user_id: Optional[int] = None,
            detail: Optional[dict] = None) -> None:
    s.add(TicketEvent(ticket=ticket, kind=kind, at=now, user_id=user_id, detail=detail or {}))


def _request_text(subject: str, body: str) -> str:
    return f"{subject}\n\n{body}".strip() if subject else body.strip()


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


def _pop(ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
    """A pop shaped like a call's (agent_desktop/static/js/desktop.js shows both);
    ``type``/``channel`` say where the ticket came from."""
    customer = ticket.customer
    subject = ticket.request.split("\n", 1)[0][:200]
    return {"type": ticket.channel, "channel": ticket.channel,
            "queue": (ticket.queue.title or ticket.queue.name) if ticket.queue else "",
            "customer_name": customer.name if customer else "", "customer_known": customer is not None,
            "caller_name": ticket.caller_name, "phone": ticket.caller_number, "subject": subject,
            "waiting_seconds": round(max(0.0, (now - ticket.created_at).total_seconds()), 1),
            "incident_id": ticket.incident_id, "ticket_id": ticket.id, "channel_id": "",
            "offered_at": _iso(now)}


def _attachment_dict(a: TicketAttachment) -> dict[str, Any]:
    return {"id": a.id, "ticket_id": a.ticket_id, "message_id": a.message_id, "name": a.original_name,
            "content_type": a.content_type, "size_bytes": a.size_bytes}


def _message_dict(m: TicketMessage) -> dict[str, Any]:
    return {"id": m.id, "direction": m.direction, "from_address": m.from_address, "from_name": m.from_name,
            "to_address": m.to_address, "subject": m.subject, "body_text": m.body_text,
            "received_at": _iso(m.received_at), "sender_known": m.sender_known,
            "attachments": [_attachment_dict(a) for a in m.attachments]}


def _line_of(request: OneStopRequest) -> approval.Line:
    rows = sorted(request.approvals, key=lambda r: r.step)
    return approval.Line(tuple(r.approver_id for r in rows), tuple(r.decision for r in rows))


def _request_dict(r: OneStopRequest) -> dict[str, Any]:
    line = _line_of(r)
    return {"id": r.id, "kind": r.kind, "status": r.status, "requester_name": r.requester_name,
            "requester_id": r.requester_id, "phone": r.phone, "subject": r.subject, "description": r.description,
            "customer_known": r.customer_id is not None, "ticket_id": r.ticket_id,
            "created_at": _iso(r.created_at), "current_step": line.current_step,
            "current_approver": line.current_approver,
            "steps": [{"step": a.step, "approver_id": a.approver_id, "decision": a.decision, "comment": a.comment,
                       "decided_at": _iso(a.decided_at)} for a in sorted(r.approvals, key=lambda a: a.step)]}
