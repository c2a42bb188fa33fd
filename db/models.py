"""SQLAlchemy 2 models.

Customers, agents, queues, tickets, their history and call records; the
customer-sensitivity codes (versioned), the codes recorded per contact,
consultations and speech analyses with their code suggestions.  Tables for what
comes next (service areas and technicians, surveys, campaigns) exist already so
later features add columns, not a new schema.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, false,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ServiceArea(Base):
    """A jurisdiction area covered by a service centre (patent 000, FIG. 17a)."""
    __tablename__ = "service_areas"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    centre_name: Mapped[str] = mapped_column(String(200), default="")
    centre_phone: Mapped[str] = mapped_column(String(64), default="")
    # The service centre covering this area (issue 6: survey sender and reply routing).
    centre_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_centres.id",
                                                                name="fk_service_areas_centre_id"))


class Customer(Base):
    """A caller known by a personal identification number (employee number)."""
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    pin: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    mobile: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    hardware: Mapped[str] = mapped_column(Text, default="")
    software: Mapped[str] = mapped_column(Text, default="")
    training_record: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="ko")
    area_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_areas.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    tickets: Mapped[list["Ticket"]] = relationship(back_populates="customer")


class User(Base):
    """A person who logs in to the desktop: agent, supervisor, admin or trainee."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="agent")  # agent|supervisor|admin|trainee
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Asterisk dial string for the agent's phone, e.g. "PJSIP/1001".
    phone: Mapped[str] = mapped_column(String(200), default="")
    extension: Mapped[str] = mapped_column(String(32), default="")
    # Persisted agent state so a restart recovers it.
    state: Mapped[str] = mapped_column(String(16), default="logged_out")
    state_reason: Mapped[str] = mapped_column(String(64), default="")
    state_since: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    idle_since: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    state_until: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)   # end of a timed state (wrap-up)
    site_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sites.id"))


class Site(Base):
    """A call-centre site (floor, building or city); queues and agents belong to one."""
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Queue(Base):
    """An inquiry type callers choose in the ARS menu (PC, LAN, applications, ...)."""
    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    menu_key: Mapped[str] = mapped_column(String(1), default="")   # ARS menu digit ('' = not in the menu)
    strategy: Mapped[str] = mapped_column(String(32), default="longest_idle")
    ring_timeout: Mapped[float] = mapped_column(Float, default=15.0)
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=20)
    priority: Mapped[int] = mapped_column(Integer, default=1)
    max_wait_seconds: Mapped[Optional[int]] = mapped_column(Integer)            # None: no limit
    overflow_queue_id: Mapped[Optional[int]] = mapped_column(ForeignKey("queues.id"))
    wrap_up_seconds: Mapped[Optional[int]] = mapped_column(Integer)             # None: the [acd] default
    announce_seconds: Mapped[int] = mapped_column(Integer, default=30)          # position/wait announcements
    music_class: Mapped[str] = mapped_column(String(64), default="default")
    site_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sites.id"))


class QueueMember(Base):
    """An agent allowed to serve a queue (with a penalty for the skills strategy);
    ``logged_in`` says whether they take its calls now."""
    __tablename__ = "queue_members"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    penalty: Mapped[int] = mapped_column(Integer, default=0)
    logged_in: Mapped[bool] = mapped_column(Boolean, default=True)


class Callback(Base):
    """A caller to ring back: one who hung up before an agent answered
    (kind 'abandoned', on the abandoned list until reached) or one who asked for a
    callback instead of waiting (kind 'requested', placed automatically in queue
    order; ``place_at`` is when they first queued, so they keep their place)."""
    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))                     # abandoned|requested
    status: Mapped[str] = mapped_column(String(16), default="open")   # open|dialing|done|cancelled
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("call_records.id"), index=True)
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"))
    queue_id: Mapped[Optional[int]] = mapped_column(ForeignKey("queues.id"))
    number: Mapped[str] = mapped_column(String(64), default="")       # what to dial back
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    place_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    wait_seconds: Mapped[Optional[float]] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="")      # reached|no_answer|busy|failed
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    last_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    done_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    __table_args__ = (Index("ix_callbacks_status_place", "status", "place_at"),)


class Ticket(Base):
    """An incident ticket (the "Remedy" record of patent 003)."""
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Human-facing incident ID, e.g. "INC-000042".
    incident_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="phone")  # phone|email|web|onestop
    status: Mapped[str] = mapped_column(String(16), default="new")
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"))
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    entered_pin: Mapped[str] = mapped_column(String(32), default="")
    queue_id: Mapped[Optional[int]] = mapped_column(ForeignKey("queues.id"))
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    language: Mapped[str] = mapped_column(String(8), default="ko")
    request: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # Lifecycle and escalation (issue 5, docs/escalation.md): the system the request is
    # about (SLA table key), when the first level started (the first pop delivered),
    # the 2nd-level group and person, their cause and action, and the progress clock.
    system: Mapped[str] = mapped_column(String(64), default="")
    first_level_started_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    level: Mapped[int] = mapped_column(Integer, default=1)
    group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_groups.id"), index=True)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    escalated_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    cause: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")
    last_progress_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    progress_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # Analyzer summary columns (db/ticket_summary.py keeps them at every flush; docs/analyzer.md):
    # settled at the first contact (the first-call resolution definition) and whole seconds
    # created -> resolved.
    first_contact: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    handling_s: Mapped[Optional[int]] = mapped_column(Integer)

    customer: Mapped[Optional[Customer]] = relationship(back_populates="tickets")
    queue: Mapped[Optional[Queue]] = relationship()
    agent: Mapped[Optional[User]] = relationship(foreign_keys=[agent_id])
    events: Mapped[list["TicketEvent"]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan")

    __table_args__ = (Index("ix_tickets_customer_status", "customer_id", "status"),)


class TicketEvent(Base):
    """One step of a ticket's history: created, queued, offered, answered, resolved..."""
    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class CallRecord(Base):
    """One inbound call: its queue wait and how it ended (answered, abandoned, ...)."""
    __tablename__ = "call_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(128), unique=True)
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id"), index=True)
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    line: Mapped[str] = mapped_column(String(32), default="")
    queue_id: Mapped[Optional[int]] = mapped_column(ForeignKey("queues.id"))
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    queued_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # in_ivr|queued|ringing|talking|answered|abandoned|lost
    outcome: Mapped[str] = mapped_column(String(16), default="in_ivr")
    wait_seconds: Mapped[Optional[float]] = mapped_column(Float)
    end_reason: Mapped[str] = mapped_column(String(64), default="")
    # Analyzer summary columns (db/ticket_summary.py): whole seconds queued -> answered, answered -> ended.
    wait_s: Mapped[Optional[int]] = mapped_column(Integer)
    talk_s: Mapped[Optional[int]] = mapped_column(Integer)

    ticket: Mapped[Optional[Ticket]] = relationship()


# --- Customer sensitivity (patent 000: FIG. 5a-c codes, FIG. 7a/7b and 11 knacks) ---

# The texts of one code version: the label and the reception knacks, each in
# Korean and English; knacks separately for the receptionist (agent) and the
# technician, each a primary part (words and behaviour) and auxiliary contents.
KNACK_AUDIENCES = ("receptionist", "technician")
KNACK_PARTS = ("primary", "auxiliary")
LANGUAGES = ("ko", "en")
KNACK_FIELDS = tuple(f"{audience}_{part}_{lang}" for audience in KNACK_AUDIENCES for part in KNACK_PARTS
                     for lang in LANGUAGES)
SENSITIVITY_TEXT_FIELDS = ("label_ko", "label_en") + KNACK_FIELDS


class SensitivityCode(Base):
    """One version of a coded particular of the customer's sensitivity (patent 000
    claims 12-14), e.g. ``N01`` version 2.  Rows are never changed: an edit adds
    the next version, and tickets and history rows keep pointing at the version
    they were saved with.  The current version of a code is its highest one."""
    __tablename__ = "sensitivity_codes"
    __table_args__ = (UniqueConstraint("code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))  # positive|expected|negative
    label_ko: Mapped[str] = mapped_column(Text, default="")
    label_en: Mapped[str] = mapped_column(Text, default="")
    receptionist_primary_ko: Mapped[str] = mapped_column(Text, default="")
    receptionist_primary_en: Mapped[str] = mapped_column(Text, default="")
    receptionist_auxiliary_ko: Mapped[str] = mapped_column(Text, default="")
    receptionist_auxiliary_en: Mapped[str] = mapped_column(Text, default="")
    technician_primary_ko: Mapped[str] = mapped_column(Text, default="")
    technician_primary_en: Mapped[str] = mapped_column(Text, default="")
    technician_auxiliary_ko: Mapped[str] = mapped_column(Text, default="")
    technician_auxiliary_en: Mapped[str] = mapped_column(Text, default="")
    # Where this version came from: "file" (db/data/sensitivity_codes.json) or "admin".
    source: Mapped[str] = mapped_column(String(16), default="file")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))


class Consultation(Base):
    """A contact without a service request (patent 000 FIG. 9): the receptionist
    consults, notes what was said and codes the customer's sensitivity."""
    __tablename__ = "consultations"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    customer: Mapped[Customer] = relationship()
    agent: Mapped[Optional[User]] = relationship()


class CustomerSensitivity(Base):
    """One code recorded for one contact (a ticket or a consultation): the codes
    of a ticket are its rows, the customer's sensitivity history is the rows with
    its ``customer_id`` (empty for a caller who was not identified)."""
    __tablename__ = "customer_sensitivities"
    __table_args__ = (
        UniqueConstraint("ticket_id", "code", name="uq_customer_sensitivities_ticket_code"),
        UniqueConstraint("consultation_id", "code", name="uq_customer_sensitivities_consultation_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id"), index=True)
    consultation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("consultations.id"), index=True)
    # The exact version recorded; ``code`` repeats its code ("N01") so one code
    # is recorded once per contact whatever its version.
    code_id: Mapped[int] = mapped_column(ForeignKey("sensitivity_codes.id"))
    code: Mapped[str] = mapped_column(String(8))
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16), default="agent")  # agent|technician|asr
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    code_version: Mapped[SensitivityCode] = relationship()


class TicketAnalysis(Base):
    """Speech analysis of the caller's words for a ticket (status ok or failed)."""
    __tablename__ = "ticket_analyses"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(8))  # ok|failed
    reason: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[list] = mapped_column(JSON, default=list)  # [{word, start, end, conf}]
    model: Mapped[str] = mapped_column(String(200), default="")
    # The caller's voice in this utterance (asr_models.voice.VoiceProfile fields): the
    # customer's next calls are compared with their own earlier voice.
    voice: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    suggestions: Mapped[list["SensitivitySuggestion"]] = relationship(
        back_populates="analysis", order_by="SensitivitySuggestion.id")


class SensitivitySuggestion(Base):
    """A code the speech analysis suggested, and the agent's decision on it."""
    __tablename__ = "sensitivity_suggestions"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("ticket_analyses.id"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("sensitivity_codes.id"))
    code: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="suggested")  # suggested|accepted|rejected
    decided_by: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # The code recorded on the ticket when the suggestion was accepted.
    sensitivity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer_sensitivities.id"))

    analysis: Mapped[TicketAnalysis] = relationship(back_populates="suggestions")
    code_version: Mapped[SensitivityCode] = relationship()


# --- Lifecycle and escalation (issue 5, docs/escalation.md) ---

class SupportGroup(Base):
    """A 2nd-level support group (operations, technical support, a specialist
    group) that tickets are escalated to."""
    __tablename__ = "support_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), default="specialist")  # operations|technical|specialist
    skills: Mapped[str] = mapped_column(Text, default="")                 # what the group handles
    email: Mapped[str] = mapped_column(String(254), default="")           # group mailbox (optional)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    members: Mapped[list["SupportGroupMember"]] = relationship(
        back_populates="group", order_by="SupportGroupMember.id", cascade="all, delete-orphan")


class SupportGroupMember(Base):
    """A user in a support group, with their skills and where they get e-mail notices."""
    __tablename__ = "support_group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("support_groups.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    skills: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(String(254), default="")

    group: Mapped[SupportGroup] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class SlaRule(Base):
    """The SLA of one system at one severity (1 highest .. 4): how often progress
    must be entered (None: no progress rule), how long the first level may keep
    the ticket (None: ``[escalation] first_level_hours``) and the preset group."""
    __tablename__ = "sla_rules"
    __table_args__ = (UniqueConstraint("system", "severity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(64))          # "*": any system not listed
    severity: Mapped[int] = mapped_column(Integer)
    progress_minutes: Mapped[Optional[int]] = mapped_column(Integer)
    first_level_minutes: Mapped[Optional[int]] = mapped_column(Integer)
    group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_groups.id"))


class TicketAssignment(Base):
    """One assignment of a ticket: who (user/group) handed it to whom, when, why,
    and whether a rule did it (automatic) or a person (manual)."""
    __tablename__ = "ticket_assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    from_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    from_group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_groups.id"))
    to_group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_groups.id"))
    to_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)


class ScheduledJob(Base):
    """A persisted timer: ``kind`` for ``ticket_id`` is due at ``due_at``.  The
    runner claims due pending jobs (status -> done) in the same transaction as
    their effect, so a job fires once, also across restarts."""
    __tablename__ = "scheduled_jobs"
    __table_args__ = (Index("ix_scheduled_jobs_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))             # first_level|progress
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|cancelled
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    fired_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    result: Mapped[str] = mapped_column(String(64), default="")


# --- Tables for later capabilities (schema only; features come in later issues) ---

class Technician(Base):
    __tablename__ = "technicians"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(64), default="")
    area_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_areas.id"))
    fields: Mapped[str] = mapped_column(Text, default="")
    introduction: Mapped[str] = mapped_column(Text, default="")


class Survey(Base):
    """The satisfaction survey of one resolved ticket (issue 6, docs/surveys.md).
    ``state`` is the step of cti/surveys/machine.py; ``due_at`` is when the runner
    acts on it next (the persisted timer); ``channel`` the channel of the reply
    that answered it; ``outcome`` why it ended (answered|no_reply|no_contact|unreachable)."""
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(primary_key=True)
    # One survey per ticket: the unique index makes "exactly once" hold also when
    # two runners look at the same resolved ticket.
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    channel: Mapped[str] = mapped_column(String(16), default="")
    rating: Mapped[Optional[int]] = mapped_column(Integer)
    reply_term: Mapped[str] = mapped_column(String(32), default="")
    scheduled_for: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id", name="fk_surveys_customer_id"))
    centre_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_centres.id",
                                                                name="fk_surveys_centre_id"))
    language: Mapped[str] = mapped_column(String(8), default="ko")
    due_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    resends: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="")
    trouble_again: Mapped[Optional[bool]] = mapped_column(Boolean)
    staff_kind: Mapped[Optional[bool]] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    comment_keywords: Mapped[list] = mapped_column(JSON, default=list)
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # Analyzer summary columns (db/ticket_summary.py keeps them at every flush): the channels
    # the customer was asked on and replied on, as bit sets (ticket_summary.SURVEY_CHANNEL_BITS).
    asked_on: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replied_on: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Campaign(Base):
    """An event or campaign running at the company; the running ones are appended
    briefly to survey messages (``message`` Korean, ``message_en`` English)."""
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ends_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    message_en: Mapped[str] = mapped_column(Text, default="")


# --- Intake channels (issue 5): e-mail messages and attachments, one-stop requests ---

class TicketMessage(Base):
    """One e-mail kept with its ticket (inbound from the customer, outbound from the
    centre).  ``message_id`` / ``in_reply_to`` / ``references`` thread replies onto
    the ticket; ``sender_known`` is false when the sender matched no customer (the
    ticket is then flagged for an agent to identify them)."""
    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8), default="inbound")  # inbound|outbound
    message_id: Mapped[str] = mapped_column(String(998), default="", index=True)
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to_address: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sender_known: Mapped[bool] = mapped_column(Boolean, default=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    attachments: Mapped[list["TicketAttachment"]] = relationship(
        back_populates="message", order_by="TicketAttachment.id")


class TicketAttachment(Base):
    """A file that came with a message, stored on disk under the configured folder
    as ``stored_name`` (generated, never the sender's name)."""
    __tablename__ = "ticket_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    message: Mapped[TicketMessage] = relationship(back_populates="attachments")


class ApprovalLineStep(Base):
    """The approval line of a one-stop request kind: approvers in ``step`` order."""
    __tablename__ = "approval_line_steps"
    __table_args__ = (UniqueConstraint("kind", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))          # pc|app_improvement
    step: Mapped[int] = mapped_column(Integer)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class OneStopRequest(Base):
    """A one-stop request (PC request, application improvement request) from the
    customer portal.  It becomes a ticket (channel onestop) only when the last
    approver of its line approves; ``status`` pending|approved|rejected."""
    __tablename__ = "onestop_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"))
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    requester_id: Mapped[str] = mapped_column(String(254), default="")   # employee number or e-mail as typed
    phone: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="ko")
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    approvals: Mapped[list["OneStopApproval"]] = relationship(
        back_populates="request", order_by="OneStopApproval.step", cascade="all, delete-orphan")


class OneStopApproval(Base):
    """One step of a request's approval line, copied from the line when the
    request is made (a later change of the line does not move running requests).
    ``decision`` pending|approved|rejected|skipped (after an earlier rejection)."""
    __tablename__ = "onestop_approvals"
    __table_args__ = (UniqueConstraint("request_id", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("onestop_requests.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16), default="pending")
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    request: Mapped[OneStopRequest] = relationship(back_populates="approvals")
# --- Early warning (issue 5, docs/alarms.md): infrastructure alarms and the hot line ---

class Alarm(Base):
    """An infrastructure alarm received on the authenticated webhook (network,
    mainframe, database centre).  The same ``source`` + ``external_id`` received
    again within the merge window is merged into the open alarm (``repeat_count``,
    ``last_received_at``) instead of raising a second one.  A major or critical alarm
    alerts the floor and opens a hot line: an ARI mixing bridge ``hotline_bridge_id``
    (``hotline_state`` ''|open|closed|failed) closed with the alarm."""
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128), default="")
    system: Mapped[str] = mapped_column(String(100), default="")
    severity: Mapped[str] = mapped_column(String(16), default="minor")   # minor|major|critical
    title: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    contact_number: Mapped[str] = mapped_column(String(32), default="")  # the customer's IT contact
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", name="fk_alarms_ack_user"))
    acknowledged_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    hotline_bridge_id: Mapped[str] = mapped_column(String(64), default="")
    hotline_state: Mapped[str] = mapped_column(String(16), default="")
    voice_alert_calls: Mapped[int] = mapped_column(Integer, default=0)    # agent phones called
    closed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", name="fk_alarms_close_user"))
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, index=True)


Index("ix_alarms_source_external", Alarm.source, Alarm.external_id)


# --- Analyzer (issue 5): indexes for the reports (docs/analyzer.md#indexes) ---
# The report queries read a date range of tickets or calls and only these columns:
# covering indexes let SQLite and PostgreSQL answer from the index alone instead of
# one table lookup per row (7-15x faster on a year of tickets).  Also: the same
# customer's next ticket and a ticket's history events by kind (first-call
# resolution), the rating of a ticket's survey.
# (migration f3a8c61d2b94 replaced customer_id / ended_at by the summary columns)
Index("ix_tickets_report", Ticket.created_at, Ticket.queue_id, Ticket.agent_id, Ticket.channel,
      Ticket.resolved_at, Ticket.first_contact, Ticket.handling_s)
Index("ix_tickets_customer_created", Ticket.customer_id, Ticket.created_at)
# a new ticket turns the customer's earlier, still first-contact tickets false (db/ticket_summary.py)
Index("ix_tickets_customer_first_contact", Ticket.customer_id, Ticket.first_contact, Ticket.created_at)
Index("ix_ticket_events_ticket_kind", TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.user_id)
Index("ix_call_records_report", CallRecord.queued_at, CallRecord.queue_id, CallRecord.agent_id,
      CallRecord.answered_at, CallRecord.outcome, CallRecord.wait_s, CallRecord.talk_s)
# (migration f3a8c61d2b94 widened ix_surveys_ticket_rating into ix_surveys_report for the survey figures)
Index("ix_surveys_report", Survey.ticket_id, Survey.rating, Survey.asked_on, Survey.replied_on, Survey.outcome,
      Survey.reply_term, Survey.trouble_again, Survey.staff_kind)

# --- Hot paths of calls and agents (indexes only) ---
# Every agent going Ready looks for e-mail/web tickets waiting for an agent (intake), and
# the fewest-calls strategy counts each agent's calls answered today: without these,
# both read the whole table, once per call, holding the database's one writer slot.
Index("ix_tickets_status_created", Ticket.status, Ticket.created_at)
Index("ix_call_records_answered", CallRecord.answered_at, CallRecord.agent_id)

# --- Satisfaction surveys (issue 6, docs/surveys.md) ---

class ServiceCentre(Base):
    """A service centre: covers areas (``service_areas.centre_id``), sends the
    survey messages of their customers (``email``, ``name``), answers survey
    calls on ``reply_line`` (the ARS survey line) and has a person in charge who
    gets dissatisfied replies; ``queue_id`` is the staff queue a customer who
    wants a person is put in."""
    __tablename__ = "service_centres"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    reply_line: Mapped[str] = mapped_column(String(64), default="")
    person_in_charge_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    person_phone: Mapped[str] = mapped_column(String(64), default="")
    person_email: Mapped[str] = mapped_column(String(254), default="")
    queue_id: Mapped[Optional[int]] = mapped_column(ForeignKey("queues.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SurveyAttempt(Base):
    """One try to reach the customer: a phone call (outcome answered|busy|no_answer|
    rejected|machine|failed) or a message (e-mail/SMS: sent|not_sent); ``round``
    is 1 for the first messages, 2 for the resend."""
    __tablename__ = "survey_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))          # phone|email|sms
    round: Mapped[int] = mapped_column(Integer, default=1)
    address: Mapped[str] = mapped_column(String(254), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # Survey e-mail replies (issue 6): the Message-ID the survey e-mail was sent with,
    # so a reply's In-Reply-To / References find the survey.
    message_id: Mapped[Optional[str]] = mapped_column(String(255), nullable=True, index=True)


class SurveyToken(Base):
    """A link to the web inquiry form: only the SHA-256 of the signed token is
    kept; ``used_at`` makes it single-use, ``expires_at`` bounds it."""
    __tablename__ = "survey_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


class SurveyReply(Base):
    """One reply on any channel (phone DTMF, e-mail, SMS, web form): the raw text
    or keys, the parsed answers and the term it was classified as.  A reply equal
    to an earlier one of the same survey (same channel and ``fingerprint``) is
    kept with ``duplicate_of_id`` and changes nothing."""
    __tablename__ = "survey_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))          # phone|email|sms|web|line (the reply line)
    raw: Mapped[str] = mapped_column(Text, default="")
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    term: Mapped[str] = mapped_column(String(32), default="")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    duplicate_of_id: Mapped[Optional[int]] = mapped_column(ForeignKey("survey_replies.id"))
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id"))   # ticket it opened


class SurveyIncentive(Base):
    """The incentive (coupon code) granted on a survey's first reply; unique per survey."""
    __tablename__ = "survey_incentives"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    reply_id: Mapped[Optional[int]] = mapped_column(ForeignKey("survey_replies.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


Index("uq_surveys_ticket", Survey.ticket_id, unique=True)
Index("ix_surveys_state_due", Survey.state, Survey.due_at)
Index("ix_survey_replies_survey_fp", SurveyReply.survey_id, SurveyReply.channel, SurveyReply.fingerprint)

# --- SMS (issue 6): every text message in and out, whatever the gateway ---

class SmsMessage(Base):
    """One SMS: ``direction`` out (to a customer; status sent|failed with the
    gateway's reference or error) or in (from a customer; status received,
    duplicate - the same sender's same text within ``[sms] duplicate_window_seconds``
    of ``duplicate_of_id`` - or rejected: no usable sender or text).  cti/sms.py."""
    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_lookup", "direction", "number", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))                # in|out
    number: Mapped[str] = mapped_column(String(64))                  # the customer's number
    text: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(64), default="")      # out: the number shown to the customer
    gateway: Mapped[str] = mapped_column(String(16), default="")     # sip|http
    status: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    duplicate_of_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sms_messages.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

# --- Happy call (issue 5): the persisted outbox of status calls to customers ---

class HappyCall(Base):
    """One status update to relay to a customer by an automated outbound call
    (``ivr/flows/happy_call.py``), or by e-mail when the call is not answered.

    ``state``: queued (waiting for ``due_at``) -> dialing -> answered, or after
    the last attempt no_answer / busy / failed -> messaged (e-mail sent) or left
    at that outcome when no message could be sent.  Nothing is kept in memory:
    after a restart, queued rows are dialled and a row left ``dialing`` counts as
    a failed attempt (cti/happy_call.py)."""
    __tablename__ = "happy_calls"
    __table_args__ = (Index("ix_happy_calls_state_due", "state", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))                       # progress|resolved
    text: Mapped[str] = mapped_column(Text, default="")                 # the update, as entered
    language: Mapped[str] = mapped_column(String(8), default="ko")
    number: Mapped[str] = mapped_column(String(64), default="")         # the customer's phone ('' : none)
    email: Mapped[str] = mapped_column(String(254), default="")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    last_outcome: Mapped[str] = mapped_column(String(16), default="")   # of the last attempt
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(String(200), default="")        # why it ended as it did
    by_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


# The analyzer's 2nd-level reports (docs/analyzer.md): assignments by time with the
# group and person (2nd-level intake), level-2 tickets by creation time.
Index("ix_ticket_assignments_report", TicketAssignment.at, TicketAssignment.to_group_id,
      TicketAssignment.to_user_id, TicketAssignment.automatic, TicketAssignment.ticket_id)
Index("ix_tickets_level_created", Ticket.level, Ticket.created_at, Ticket.group_id, Ticket.resolved_at)


# --- Desktop notices (issue 6, docs/surveys.md): what a user is told on the desktop, kept
# until they mark it read, so a notice sent while they were logged out still reaches them ---

class UserNotice(Base):
    """A notice for one user's desktop (``kind`` e.g. survey_dissatisfied): the
    ticket it is about and what the notice shows (``data``: short texts as data,
    the desktop shows them as text).  ``read_at`` empty: still listed."""
    __tablename__ = "user_notices"
    __table_args__ = (Index("ix_user_notices_user_read", "user_id", "read_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", name="fk_user_notices_user_id"))
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id", name="fk_user_notices_ticket_id"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
