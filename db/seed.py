"""Demo data: two sites, a general help-desk queue and four inquiry-type queues
(PC, LAN, applications, office software) chosen in the ARS menu, two agents, a
supervisor, an admin, a trainee and a few customers; and the customer-sensitivity
code table.

Passwords are generated on first seeding, printed, and kept in
``<data dir>/demo-passwords.txt`` (mode 600) so they can be looked up later.
Seeding is idempotent: existing rows are left alone.  The sensitivity codes come
from ``db/data/sensitivity_codes.json``: new codes are added, and a code whose
entry in the file changed gets a new version (``cti.sensitivity.seed_codes``).
The trainee (``trainee1``) is not in the queue and has no permission to see
sensitivity codes (docs/sensitivity.md).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from werkzeug.security import generate_password_hash

from cti import sensitivity
from cti.clock import utc_now
from db.models import (ApprovalLineStep, Campaign, Customer, Queue, QueueMember, ServiceArea, ServiceCentre, Site,
                       SlaRule, SupportGroup, SupportGroupMember, User)

SITES = [("SEL", "Seoul HQ"), ("BSN", "Busan centre")]

QUEUES = [
    # name, title (ko), title (en), ARS menu key, site, priority, strategy
    ("helpdesk", "Help desk", "Help desk", "", "SEL", 1, "longest_idle"),
    ("pc", "PC·노트북", "PC and laptops", "1", "SEL", 1, "longest_idle"),
    ("lan", "네트워크(LAN)", "Network (LAN)", "2", "BSN", 2, "skills"),
    ("apps", "업무 애플리케이션", "Business applications", "3", "SEL", 1, "fewest_calls"),
    ("office", "오피스 소프트웨어", "Office software", "4", "BSN", 1, "round_robin"),
]

STAFF = [
    # username, display name, role, extension (phone PJSIP/<ext>), site, {queue: penalty}
    ("agent1", "Kim Jiwoo", "agent", "1001", "SEL", {"helpdesk": 0, "pc": 0, "apps": 0, "office": 1}),
    ("agent2", "Lee Minjun", "agent", "1002", "BSN", {"helpdesk": 0, "lan": 0, "office": 0, "pc": 1}),
    ("super", "Park Seoyeon", "supervisor", "1090", "SEL", {}),
    ("admin", "Administrator", "admin", "", "SEL", {}),
    # Learns on the desktop; not in a queue; does not see sensitivity codes.
    ("trainee1", "Yoon Haneul", "trainee", "", "SEL", {}),
    # Approves one-stop requests (PC, application improvement) in the desktop (docs/intake.md).
    ("approver1", "Han Sora", "approver", "", "SEL", {}),
]

# One-stop request kinds and their approval lines: approvers in order (docs/intake.md).
APPROVAL_LINES = {
    "pc": ["approver1"],
    "app_improvement": ["approver1", "super"],
}

CUSTOMERS = [
    dict(pin="100100", name="홍길동 (Hong Gildong)", department="Finance", phone="02-555-0101",
         mobile="010-5550-0101", email="gildong.hong@example.com", location="Seoul HQ 12F",
         hardware="LG Gram 16 laptop, HP LaserJet M404", software="Windows 11, MS Office 2021, SAP GUI",
         training_record="SAP basics (2025-03)"),
    dict(pin="100200", name="Choi Yuna", department="Sales", phone="02-555-0102",
         mobile="010-5550-0102", email="yuna.choi@example.com", location="Busan branch 3F",
         hardware="Dell OptiPlex 7010", software="Windows 11, CRM client", training_record=""),
    dict(pin="100300", name="Jung Hoseok", department="Engineering", phone="031-555-0103",
         mobile="", email="hoseok.jung@example.com", location="Pangyo lab B1",
         hardware="Workstation, 2 monitors", software="Ubuntu 24.04, CAD suite",
         training_record="Security awareness (2026-01)"),
    dict(pin="100400", name="Kang Mirae", department="HR", phone="02-555-0104",
         mobile="010-5550-0104", email="", location="Seoul HQ 7F",
         hardware="MacBook Air", software="macOS, HR system (web)", training_record=""),
]


def seed(session_factory: sessionmaker, data_dir: str | os.PathLike,
         phones: dict[str, str] | None = None, echo=print,
         codes_file: str | os.PathLike = sensitivity.DATA_FILE) -> dict[str, str]:
    """Insert the demo data where missing and load the sensitivity codes.
    Returns {username: password} for the accounts created now (empty when
    everything existed already).

    ``phones`` maps username -> Asterisk dial string (default ``PJSIP/<extension>``).
    """
    created: dict[str, str] = {}
    phones = phones or {}
    specs = sensitivity.load_code_file(codes_file)
    with session_factory.begin() as s:
        counts = sensitivity.seed_codes(s, specs, utc_now())
        area = s.scalar(select(ServiceArea).where(ServiceArea.code == "SEL"))
        if area is None:
            area = ServiceArea(code="SEL", name="Seoul", centre_name="Seoul service centre",
                               centre_phone="1600")
            s.add(area)
        sites = _sites(s)
        queues = _queues(s, sites)
        for username, display, role, ext, site, memberships in STAFF:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                password = secrets.token_urlsafe(9)
                user = User(username=username, display_name=display, role=role, extension=ext,
                            phone=phones.get(username, f"PJSIP/{ext}" if ext else ""),
                            password_hash=generate_password_hash(password), site_id=sites[site].id)
                s.add(user)
                s.flush()
                created[username] = password
            elif username in phones:
                user.phone = phones[username]
            if user.site_id is None:
                user.site_id = sites[site].id
            for queue_name, penalty in memberships.items():
                queue = queues[queue_name]
                if s.scalar(select(QueueMember.id).where(QueueMember.queue_id == queue.id,
                                                         QueueMember.user_id == user.id)) is None:
                    s.add(QueueMember(queue_id=queue.id, user_id=user.id, penalty=penalty))
        for data in CUSTOMERS:
            if s.scalar(select(Customer.id).where(Customer.pin == data["pin"])) is None:
                s.add(Customer(area_id=area.id, **data))
        created.update(_support_groups(s, sites))
        s.flush()
        _approval_lines(s)
        _service_centres(s)
    if counts["added"] or counts["versioned"]:
        echo(f"  sensitivity codes: {counts['added']} added, {counts['versioned']} new versions")
    if created:
        _remember(Path(data_dir), created)
        for username, password in created.items():
            echo(f"  demo login: {username} / {password}")
    return created


def _sites(s) -> dict[str, Site]:
    out = {}
    for code, name in SITES:
        site = s.scalar(select(Site).where(Site.code == code))
        if site is None:
            site = Site(code=code, name=name)
            s.add(site)
        out[code] = site
    s.flush()
    return out


def _queues(s, sites: dict[str, Site]) -> dict[str, Queue]:
    out = {}
    for name, title, title_en, key, site, priority, strategy in QUEUES:
        queue = s.scalar(select(Queue).where(Queue.name == name))
        if queue is None:
            queue = Queue(name=name, title=title, title_en=title_en, menu_key=key, site_id=sites[site].id,
                          priority=priority, strategy=strategy)
            s.add(queue)
        out[name] = queue
    s.flush()
    return out


# --- Lifecycle and escalation (issue 5, docs/escalation.md) ---

SUPPORT_GROUPS = [
    # code, name (ko), name (en), kind, skills
    ("operations", "운영팀", "Operations", "operations", "servers, batch jobs, backups, mainframe operation"),
    ("techsupport", "기술지원팀", "Technical support", "technical", "PC, office software, business applications"),
    ("network", "네트워크 전문그룹", "Network specialists", "specialist", "LAN, WAN, VPN, firewall"),
    ("database", "데이터베이스 전문그룹", "Database specialists", "specialist", "Oracle, PostgreSQL, SAP basis"),
]

# 2nd-level engineers: username, display name, site, {group: skills}.  They log in to
# the desktop like agents but are in no queue (no calls).  agent2 also helps technical support.
GROUP_STAFF = [
    ("ops1", "Han Seojun", "SEL", {"operations": "batch, backup"}),
    ("tech1", "Oh Jisoo", "SEL", {"techsupport": "PC, Office", "network": "LAN"}),
    ("dba1", "Song Yerin", "BSN", {"database": "Oracle, SAP basis"}),
    ("agent2", None, None, {"techsupport": "LAN, PC"}),
]

# system -> preset group; each system gets severities 1..4, 1 and 2 with a 30-minute
# progress rule.  First-level limits come from [escalation] first_level_hours.
SLA_SYSTEMS = [("*", "operations"), ("erp", "database"), ("mail", "operations"), ("network", "network"),
               ("pc", "techsupport")]
PROGRESS_MINUTES = {1: 30, 2: 30, 3: None, 4: None}


def _support_groups(s, sites: dict[str, Site]) -> dict[str, str]:
    """Support groups, their members (users created when missing) and the SLA table.
    Returns the passwords of users created now."""
    created: dict[str, str] = {}
    groups = {}
    for code, name, name_en, kind, skills in SUPPORT_GROUPS:
        group = s.scalar(select(SupportGroup).where(SupportGroup.code == code))
        if group is None:
            group = SupportGroup(code=code, name=name, name_en=name_en, kind=kind, skills=skills)
            s.add(group)
        groups[code] = group
    s.flush()
    for username, display, site, memberships in GROUP_STAFF:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            if display is None:
                continue  # an existing account only joins groups
            password = secrets.token_urlsafe(9)
            user = User(username=username, display_name=display, role="agent", extension="", phone="",
                        password_hash=generate_password_hash(password), site_id=sites[site].id)
            s.add(user)
            s.flush()
            created[username] = password
        for code, skills in memberships.items():
            group = groups[code]
            if s.scalar(select(SupportGroupMember.id).where(SupportGroupMember.group_id == group.id,
                                                           SupportGroupMember.user_id == user.id)) is None:
                s.add(SupportGroupMember(group_id=group.id, user_id=user.id, skills=skills,
                                         email=f"{username}@example.com"))
    for system, code in SLA_SYSTEMS:
        for severity, progress in PROGRESS_MINUTES.items():
            if s.scalar(select(SlaRule.id).where(SlaRule.system == system, SlaRule.severity == severity)) is None:
                s.add(SlaRule(system=system, severity=severity, progress_minutes=progress,
                              group_id=groups[code].id))
    return created
def _approval_lines(s) -> None:
    """The one-stop approval lines, for kinds that have none yet (an edited line is kept)."""
    for kind, approvers in APPROVAL_LINES.items():
        if s.scalar(select(ApprovalLineStep.id).where(ApprovalLineStep.kind == kind)) is not None:
            continue
        for step, username in enumerate(approvers):
            user_id = s.scalar(select(User.id).where(User.username == username))
            s.add(ApprovalLineStep(kind=kind, step=step, approver_id=user_id))


# --- Satisfaction surveys (issue 6, docs/surveys.md) ---

SERVICE_CENTRES = [
    # code, name (ko), name (en), sender e-mail, survey reply line, person in charge, their phone,
    # staff queue, areas (code, name) it covers
    ("SEL", "서울 서비스센터", "Seoul service centre", "seoul-centre@happycall.local", "1700", "super", "1090",
     "helpdesk", [("SEL", "Seoul")]),
    ("BSN", "부산 서비스센터", "Busan service centre", "busan-centre@happycall.local", "1701", "agent2", "1002",
     "lan", [("BSN", "Busan")]),
]

# Demo customers living in another area than Seoul (the default of CUSTOMERS).
CUSTOMER_AREAS = {"100200": "BSN"}

CAMPAIGNS = [
    ("Winter PC check-up", "12월 한 달간 PC 무료 점검 행사를 진행합니다.",
     "Free PC check-ups all through December."),
]


def _service_centres(s) -> None:
    """Service centres, the areas they cover, and a running campaign (existing rows are left alone)."""
    for code, name, name_en, email, line, person, person_phone, queue, areas in SERVICE_CENTRES:
        centre = s.scalar(select(ServiceCentre).where(ServiceCentre.code == code))
        if centre is None:
            centre = ServiceCentre(code=code, name=name, name_en=name_en, email=email, reply_line=line,
                                   person_in_charge_id=s.scalar(select(User.id).where(User.username == person)),
                                   person_phone=person_phone, person_email=f"{person}@example.com",
                                   queue_id=s.scalar(select(Queue.id).where(Queue.name == queue)))
            s.add(centre)
            s.flush()
        for area_code, area_name in areas:
            area = s.scalar(select(ServiceArea).where(ServiceArea.code == area_code))
            if area is None:
                area = ServiceArea(code=area_code, name=area_name, centre_name=name_en, centre_phone=line)
                s.add(area)
                s.flush()
                for pin, customer_area in CUSTOMER_AREAS.items():
                    customer = s.scalar(select(Customer).where(Customer.pin == pin))
                    if customer_area == area_code and customer is not None:
                        customer.area_id = area.id
            if area.centre_id is None:
                area.centre_id = centre.id
    for name, message, message_en in CAMPAIGNS:
        if s.scalar(select(Campaign.id).where(Campaign.name == name)) is None:
            s.add(Campaign(name=name, message=message, message_en=message_en))


def _remember(data_dir: Path, created: dict[str, str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-passwords.txt"
    with open(path, "a", encoding="utf-8") as fh:
        for username, password in created.items():
            fh.write(f"{username} {password}\n")
    path.chmod(0o600)


# --- Analyzer (issue 5): past tickets for a demo of the reports (opt-in) ---

HISTORY_INCIDENT_PREFIX = "DEMO-"


def seed_history(session_factory: sessionmaker, days: int = 28, per_day: int = 30, seed_value: int = 5,
                 now=None, echo=print) -> int:
    """Resolved (and a few abandoned) tickets of the ``days`` days before today,
    with their history, calls and survey ratings, so the analyzer has something
    to show on a fresh demo (``python -m db.seed --history``).  Never run by the
    normal seeding; does nothing if demo history exists already.  Returns the
    number of tickets added."""
    import datetime as dt
    import random

    from db.models import CallRecord, Survey, Ticket, TicketEvent

    rnd = random.Random(seed_value)
    # The 2nd level (escalations, cause and action) draws from its own stream, so the
    # first-level history stays what it was before it was added.
    rnd2 = random.Random(seed_value + 1)
    # ... and so do the surveys' calls, messages and replies (the analyzer's survey figures).
    rnd3 = random.Random(seed_value + 2)
    now = now or utc_now()
    with session_factory.begin() as s:
        if s.scalar(select(Ticket.id).where(Ticket.incident_id.like(HISTORY_INCIDENT_PREFIX + "%")).limit(1)):
            echo("  demo history exists already")
            return 0
        agents = list(s.scalars(select(User.id).where(User.role == "agent", User.username.like("agent%"))))
        queues = list(s.scalars(select(Queue.id)))
        customers = list(s.scalars(select(Customer.id)))
        members = _group_members(s)
        if not agents or not queues:
            raise RuntimeError("run the normal seeding first (no agents or queues)")
        added = 0
        for day in range(days, 0, -1):
            for _ in range(per_day):
                added += 1
                # Office hours in Seoul (UTC+9): 08:00-19:00 local = 23:00-10:00 UTC.
                created = (now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=day)
                           + dt.timedelta(hours=rnd.uniform(-1, 10)))
                channel = rnd.choices(("phone", "email", "web", "onestop"), (70, 15, 10, 5))[0]
                abandoned = channel == "phone" and rnd.random() < 0.07
                agent = None if abandoned else rnd.choice(agents)
                resolved = None if abandoned else created + dt.timedelta(minutes=min(rnd.lognormvariate(3.2, 1.2), 600))
                ticket = Ticket(incident_id=f"{HISTORY_INCIDENT_PREFIX}{added:06d}", channel=channel,
                                status="abandoned" if abandoned else "resolved", queue_id=rnd.choice(queues),
                                customer_id=rnd.choice(customers) if customers and rnd.random() < 0.85 else None,
                                agent_id=agent, created_at=created, resolved_at=resolved,
                                request="(demo history)", resolution="" if abandoned else "(demo history)")
                s.add(ticket)
                s.flush()
                events = [("created", created, None)]
                if channel == "phone":
                    wait = rnd.expovariate(1 / 18)
                    answered = None if abandoned else created + dt.timedelta(seconds=wait)
                    ended = (created + dt.timedelta(seconds=wait) if abandoned
                             else answered + dt.timedelta(seconds=rnd.expovariate(1 / 200)))
                    s.add(CallRecord(channel_id=f"demo-history-{ticket.id}", ticket_id=ticket.id, line="1600",
                                     queue_id=ticket.queue_id, agent_id=agent, started_at=created,
                                     queued_at=created, answered_at=answered, ended_at=ended, wait_seconds=wait,
                                     outcome="abandoned" if abandoned else "answered"))
                    events.append(("abandoned", ended, None) if abandoned else ("answered", answered, agent))
                if resolved is not None:
                    if rnd.random() < 0.05:
                        events.append(("moved", created + dt.timedelta(seconds=30), None))
                    if members and rnd2.random() < HISTORY_ESCALATED_SHARE:
                        events += _demo_escalation(s, rnd2, ticket, members, created, resolved)
                    events.append(("resolved", resolved, agent))
                    if rnd.random() < 0.4:
                        survey = Survey(ticket_id=ticket.id, state="answered", channel="sms",
                                        rating=rnd.choices((1, 2, 3, 4, 5), (2, 4, 14, 40, 40))[0],
                                        created_at=resolved)
                        s.add(survey)
                        _demo_survey_contacts(s, rnd3, survey, resolved)
                    elif rnd3.random() < 0.2:
                        survey = Survey(ticket_id=ticket.id, state="closed", outcome="no_reply", created_at=resolved)
                        s.add(survey)
                        _demo_survey_contacts(s, rnd3, survey, resolved)
                for kind, at, user in events:
                    s.add(TicketEvent(ticket_id=ticket.id, kind=kind, at=at, user_id=user, detail={}))
    echo(f"  demo history: {added} tickets over the {days} days before today")
    return added


def _demo_survey_contacts(s, rnd, survey, resolved) -> None:
    """The survey call and messages of a demo survey and, when it is answered (has a
    rating), its reply on one channel with the term the rating (or a little chance) gives."""
    import datetime as dt

    from db.models import SurveyAttempt, SurveyReply, SurveyToken

    s.flush()
    at = resolved + dt.timedelta(hours=1)
    channel = (rnd.choices(("phone", "web", "sms", "email", "line"), (50, 20, 15, 10, 5))[0]
               if survey.rating else "")
    s.add(SurveyAttempt(survey_id=survey.id, channel="phone", at=at,
                        outcome="answered" if channel == "phone" else rnd.choice(("busy", "no_answer", "failed"))))
    if channel != "phone":
        email = channel in ("email", "web") or rnd.random() < 0.6
        sms = channel == "sms" or not email or rnd.random() < 0.5
        for kind, on in (("email", email), ("sms", sms)):
            if on:
                s.add(SurveyAttempt(survey_id=survey.id, channel=kind, at=at, outcome="sent"))
        if email:
            s.add(SurveyToken(survey_id=survey.id, token_hash=f"demo-history-{survey.id}".ljust(64, "0"),
                              issued_at=at, expires_at=at + dt.timedelta(days=7)))
    if not survey.rating:
        return
    rating = survey.rating
    term = "dissatisfaction" if rating <= 2 else ("high_satisfaction" if rating == 5 else "simple_satisfaction")
    if rnd.random() < 0.08:
        term = rnd.choice(("repeated_trouble", "additional_request", "how_to_use", "impression"))
    survey.channel, survey.reply_term, survey.outcome = channel, term, "answered"
    survey.trouble_again = term == "repeated_trouble"
    survey.staff_kind = rnd.random() > 0.05
    survey.answered_at = survey.closed_at = at + dt.timedelta(hours=2)
    s.add(SurveyReply(survey_id=survey.id, channel=channel, raw="(demo history)", term=term,
                      received_at=survey.answered_at))


# Demo history: this share of the resolved tickets went to a support group, which
# recorded one of these causes and actions (analyzer: 2nd-level reports).
HISTORY_ESCALATED_SHARE = 0.15
HISTORY_CAUSES = {
    "network": [("switch port failure", "moved to a spare port"), ("DNS misconfiguration", "corrected the record")],
    "database": [("tablespace full", "extended the tablespace"), ("lock contention", "killed the blocking session")],
    "techsupport": [("driver corrupted", "reinstalled the driver"), ("disk failure", "replaced the disk")],
    "operations": [("batch job failed", "re-ran the job")],
}


def _group_members(s) -> dict[int, tuple[str, list[int]]]:
    """Support groups of the demo with their members: {group id: (code, [user ids])}."""
    from db.models import SupportGroup, SupportGroupMember

    out: dict[int, tuple[str, list[int]]] = {}
    for gid, code in s.execute(select(SupportGroup.id, SupportGroup.code).where(SupportGroup.active.is_(True))):
        out[gid] = (code, list(s.scalars(select(SupportGroupMember.user_id).where(
            SupportGroupMember.group_id == gid))))
    return out


def _demo_escalation(s, rnd, ticket, members, created, resolved) -> list:
    """Escalate a demo ticket: assignment row(s), level 2, cause and action; returns
    its history events."""
    import datetime as dt

    from db.models import TicketAssignment

    gid = rnd.choice(sorted(members))
    code, people = members[gid]
    automatic = rnd.random() < 0.25
    at = min(created + dt.timedelta(minutes=rnd.uniform(2, 30)), resolved)
    person = rnd.choice(people) if people and rnd.random() < 0.75 else None
    s.add(TicketAssignment(ticket_id=ticket.id, from_user_id=None if automatic else ticket.agent_id,
                           to_group_id=gid, to_user_id=person, at=at, automatic=automatic,
                           reason="(demo history)"))
    cause, action = rnd.choice(HISTORY_CAUSES.get(code, [("other", "fixed")]))
    ticket.level, ticket.group_id, ticket.assignee_id = 2, gid, person
    ticket.escalated_by_id = None if automatic else ticket.agent_id
    ticket.cause, ticket.action = cause, action
    return [("escalated", at, None if automatic else ticket.agent_id)]


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - developer tool
    import argparse

    from cti.config import load
    from db.migrate import upgrade
    from db.session import make_engine, make_session_factory

    parser = argparse.ArgumentParser(description="Seed the HappyCall demo data")
    parser.add_argument("--config")
    parser.add_argument("--history", action="store_true",
                        help="also add past tickets (the days before today) for the analyzer's reports")
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args(argv)
    config = load(args.config)
    engine = make_engine(config["database"])
    upgrade(engine)
    sessions = make_session_factory(engine)
    seed(sessions, config["data"]["dir"])
    if args.history:
        seed_history(sessions, days=args.days)
    engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    main()
