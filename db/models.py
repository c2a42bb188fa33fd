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

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
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

    customer: Mapped[Optional[Customer]] = relationship(back_populates="tickets")
    queue: Mapped[Optional[Queue]] = relationship()
    agent: Mapped[Optional[User]] = relationship()
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
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    channel: Mapped[str] = mapped_column(String(16), default="")
    rating: Mapped[Optional[int]] = mapped_column(Integer)
    reply_term: Mapped[str] = mapped_column(String(32), default="")
    scheduled_for: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ends_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


# --- Analyzer (issue 5): indexes for the reports (docs/analyzer.md#indexes) ---
# The report queries read a date range of tickets or calls and only these columns:
# covering indexes let SQLite and PostgreSQL answer from the index alone instead of
# one table lookup per row (7-15x faster on a year of tickets).  Also: the same
# customer's next ticket and a ticket's history events by kind (first-call
# resolution), the rating of a ticket's survey.
Index("ix_tickets_report", Ticket.created_at, Ticket.queue_id, Ticket.agent_id, Ticket.channel,
      Ticket.resolved_at, Ticket.customer_id)
Index("ix_tickets_customer_created", Ticket.customer_id, Ticket.created_at)
Index("ix_ticket_events_ticket_kind", TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.user_id)
Index("ix_call_records_report", CallRecord.queued_at, CallRecord.queue_id, CallRecord.agent_id,
      CallRecord.answered_at, CallRecord.ended_at, CallRecord.outcome)
Index("ix_surveys_ticket_rating", Survey.ticket_id, Survey.rating)
