"""The fixed small data set of the analyzer tests (tests/test_analyzer*.py).

All times are naive UTC as stored; the floor is in Asia/Seoul (UTC+9, no
summer time).  The period of the tests is the local days 2026-11-02 and
2026-11-03, i.e. UTC [2026-11-01 15:00, 2026-11-03 15:00).  The expected
figures are worked out by hand in the tests from the rows below (comments give
each ticket's local hour and handling time).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from db.models import (CallRecord, Customer, Queue, Site, SupportGroup, Survey, SurveyAttempt, SurveyReply,
                       SurveyToken, Ticket, TicketAssignment, TicketEvent, User)

D = dt.datetime
FIRST_DAY = dt.date(2026, 11, 2)
LAST_DAY = dt.date(2026, 11, 3)

# name -> (channel, queue, customer, agent, created, resolved, [(event kind, user)])
TICKETS = {
    # local 11-02 08:30 (hour 8); 1800.4 s -> 1800; c1's next ticket T7 comes 7 days + 1 s later
    "T1": ("phone", "pc", "c1", "a1", D(2026, 11, 1, 23, 30), D(2026, 11, 2, 0, 0, 0, 400000),
           [("answered", "a1"), ("resolved", "a1")]),
    # local 10:00; 3600 s exactly; c2 calls again 2 h later (T3)
    "T2": ("email", "pc", "c2", "a1", D(2026, 11, 2, 1), D(2026, 11, 2, 2), [("resolved", "a1")]),
    # local 12:00; 10800 s; moved to another queue on the way
    "T3": ("phone", "lan", "c2", "a2", D(2026, 11, 2, 3), D(2026, 11, 2, 6),
           [("answered", "a2"), ("moved", "sup"), ("resolved", "a2")]),
    # local 23:59:59; 86400 s; answered by a1 but resolved (and owned) by a2
    "T4": ("web", "lan", "c3", "a2", D(2026, 11, 2, 14, 59, 59), D(2026, 11, 3, 14, 59, 59),
           [("answered", "a1"), ("resolved", "a2")]),
    # local 11-03 00:00 (hour 0); 600 s; c4's next ticket T8 exactly 7 days later
    "T5": ("phone", "pc", "c4", "a1", D(2026, 11, 2, 15), D(2026, 11, 2, 15, 10),
           [("answered", "a1"), ("resolved", "a1")]),
    # local 09:00; 18000 s; caller not identified
    "T6": ("phone", "pc", None, "a1", D(2026, 11, 3, 0), D(2026, 11, 3, 5),
           [("answered", "a1"), ("resolved", "a1")]),
    # outside the period (later): the customers' next tickets
    "T7": ("phone", "pc", "c1", "a2", D(2026, 11, 8, 23, 30, 1), None, []),
    "T8": ("phone", "pc", "c4", "a2", D(2026, 11, 9, 15), None, []),
    # local 11:00; still open
    "T9": ("phone", "pc", None, "a1", D(2026, 11, 3, 2), None, [("answered", "a1")]),
    # local 19:00; abandoned, nobody took it
    "T10": ("phone", "lan", None, None, D(2026, 11, 3, 10), None, [("abandoned", None)]),
    # local 11-01 23:59:59: the second before the period
    "T11": ("onestop", "pc", "c2", "a1", D(2026, 11, 1, 14, 59, 59), D(2026, 11, 1, 16), [("resolved", "a1")]),
    # local 11-04 00:00: the first second after the period
    "T12": ("phone", "pc", "c3", "a1", D(2026, 11, 3, 15), D(2026, 11, 3, 16), [("resolved", "a1")]),
    # before the period (Seoul 11-01 14:30 and 15:30); for the summer-time test: New York
    # 01:30 EDT and, an hour later, 01:30 EST again (summer time ends 2026-11-01 06:00 UTC)
    "T13": ("phone", "pc", None, "a1", D(2026, 11, 1, 5, 30), None, []),
    "T14": ("phone", "pc", None, "a1", D(2026, 11, 1, 6, 30), None, []),
    # after the period (local 11-10 10:00): a survey's follow-up ticket, a channel of its own
    "T15": ("survey", "pc", None, None, D(2026, 11, 10, 1), None, []),
}

# name -> (ticket, queue, agent, queued, answered, ended, outcome)
CALLS = {
    "C1": ("T1", "pc", "a1", D(2026, 11, 1, 23, 30), D(2026, 11, 1, 23, 30, 10), D(2026, 11, 1, 23, 35, 10),
           "answered"),                                     # wait 10, talk 300
    "C2": ("T3", "lan", "a2", D(2026, 11, 2, 3), D(2026, 11, 2, 3, 0, 40), D(2026, 11, 2, 3, 10, 40),
           "answered"),                                     # wait 40 (lan SL 30), talk 600
    "C3": ("T5", "pc", "a1", D(2026, 11, 2, 15), D(2026, 11, 2, 15, 0, 20), D(2026, 11, 2, 15, 2, 20),
           "answered"),                                     # wait 20 = pc SL 20, talk 120
    "C4": ("T6", "pc", "a1", D(2026, 11, 3, 0), D(2026, 11, 3, 0, 0, 6), D(2026, 11, 3, 0, 1, 6),
           "answered"),                                     # wait 6, talk 60
    "C5": ("T9", "pc", "a1", D(2026, 11, 3, 2), D(2026, 11, 3, 2, 0, 30), None, "talking"),  # wait 30, still on
    "C6": ("T10", "lan", None, D(2026, 11, 3, 10), None, D(2026, 11, 3, 10, 0, 50), "abandoned"),
    "C7": ("T11", "pc", "a1", D(2026, 11, 1, 14), D(2026, 11, 1, 14, 0, 5), D(2026, 11, 1, 14, 5), "answered"),
}

# The 2nd level: tickets resolved by a support group, with the recorded cause and action.
# name -> (group, cause, action); the ticket gets level 2 and the group.  T9 is open at
# level 2; T11 (before the period) is excluded everywhere.
LEVEL2 = {
    "T2": ("anet", "cable", "replaced cable"),
    "T3": ("anet", "cable", "replaced cable"),
    "T4": ("adb", "disk full", "cleaned logs"),
    "T5": ("adb", "disk full", "extended volume"),
    "T9": ("adb", "", ""),
    "T11": ("anet", "cable", "replaced cable"),
}

# (ticket, group, person or None (the whole group), at (UTC), automatic)
ASSIGNMENTS = [
    ("T2", "anet", "t1", D(2026, 11, 2, 1, 30), False),
    ("T3", "anet", "t1", D(2026, 11, 2, 4), False),
    ("T3", "anet", "a2", D(2026, 11, 2, 5), False),          # re-assigned inside the group
    ("T4", "adb", None, D(2026, 11, 2, 15, 30), True),        # the first-level rule, to the whole group
    ("T5", "adb", None, D(2026, 11, 2, 15, 5), True),
    ("T9", "adb", "t1", D(2026, 11, 3, 3), False),
    ("T11", "anet", "t1", D(2026, 11, 1, 14, 59), False),     # local 11-01 23:59: before the period
    ("T12", "adb", "t1", D(2026, 11, 3, 15), False),          # local 11-04 00:00: after the period
]

# (ticket, rating or None)
SURVEYS = [("T1", 5), ("T2", 4), ("T3", 2), ("T5", 5), ("T6", None), ("T11", 1), ("T4", None)]

# The person who resolved a level-2 ticket (tickets.assignee_id); T3 went to the whole group.
ASSIGNEES = {"T2": "t1", "T4": "t1", "T5": "t1"}

# The survey figures (issue 6): per surveyed ticket its term, trouble-again and staff-kind
# answers, outcome, the attempts (channel, outcome), whether a form link was issued, and
# the replies (channel, duplicate of the reply before it on that channel?).
SURVEY_DETAILS = {
    "T1": ("high_satisfaction", False, True, "answered", [("phone", "answered")], False, [("phone", False)]),
    "T2": ("repeated_trouble", True, True, "answered",
           [("phone", "no_answer"), ("email", "sent"), ("sms", "sent")], True, [("web", False), ("sms", False)]),
    "T3": ("dissatisfaction", None, False, "answered",
           [("phone", "busy"), ("email", "sent"), ("sms", "not_sent")], False, [("email", False), ("email", True)]),
    "T4": ("how_to_use", None, None, "answered", [("sms", "sent")], False, [("sms", False)]),
    "T5": ("impression", False, True, "answered", [("phone", "failed"), ("sms", "sent")], False,
           [("line", False), ("sms", False)]),
    "T6": ("", None, None, "no_reply",
           [("phone", "no_answer"), ("email", "sent"), ("sms", "sent"), ("email", "sent")], True, []),
    "T11": ("dissatisfaction", None, None, "answered", [("phone", "answered")], False, [("phone", False)]),
}


def load(sessions: sessionmaker) -> dict[str, int]:
    """Insert the data set; returns the ids of the named rows (sites, queues, users)."""
    with sessions.begin() as s:
        site_a, site_b = Site(code="A", name="Site A"), Site(code="B", name="Site B")
        s.add_all([site_a, site_b])
        s.flush()
        queues = {"pc": _queue(s, "pc", 20, site_a.id), "lan": _queue(s, "lan", 30, site_b.id)}
        users = {"a1": User(username="ana1", display_name="Agent One", password_hash="x", role="agent"),
                 "a2": User(username="ana2", display_name="Agent Two", password_hash="x", role="agent"),
                 "sup": User(username="anasup", display_name="Super", password_hash="x", role="supervisor"),
                 "t1": User(username="anatech1", display_name="Tech One", password_hash="x", role="agent")}
        customers = {f"c{i}": Customer(pin=f"9000{i}", name=f"Customer {i}") for i in range(1, 5)}
        groups = {"anet": SupportGroup(code="anet", name="네트워크(시험)", name_en="Network (test)"),
                  "adb": SupportGroup(code="adb", name="DB(시험)", name_en="Database (test)")}
        s.add_all([*users.values(), *customers.values(), *groups.values()])
        s.flush()
        tickets = {}
        for n, (name, (channel, queue, customer, agent, created, resolved, events)) in enumerate(TICKETS.items()):
            t = Ticket(incident_id=f"ANA-{n:04d}", channel=channel, queue_id=queues[queue].id,
                       customer_id=customers[customer].id if customer else None,
                       agent_id=users[agent].id if agent else None, created_at=created, resolved_at=resolved,
                       status="resolved" if resolved else ("abandoned" if agent is None else "in_progress"))
            s.add(t)
            s.flush()
            tickets[name] = t
            for i, (kind, user) in enumerate([("created", None), *events]):
                s.add(TicketEvent(ticket_id=t.id, kind=kind, user_id=users[user].id if user else None,
                                  at=created + dt.timedelta(seconds=i)))
        for name, (group, cause, action) in LEVEL2.items():
            t = tickets[name]
            t.level, t.group_id, t.cause, t.action = 2, groups[group].id, cause, action
        for ticket, group, person, at, automatic in ASSIGNMENTS:
            s.add(TicketAssignment(ticket_id=tickets[ticket].id, to_group_id=groups[group].id,
                                   to_user_id=users[person].id if person else None, at=at, automatic=automatic,
                                   reason="test"))
        for name, (ticket, queue, agent, queued, answered, ended, outcome) in CALLS.items():
            s.add(CallRecord(channel_id=f"ana-{name}", ticket_id=tickets[ticket].id, queue_id=queues[queue].id,
                             agent_id=users[agent].id if agent else None, started_at=queued, queued_at=queued,
                             answered_at=answered, ended_at=ended, outcome=outcome))
        for name, person in ASSIGNEES.items():
            tickets[name].assignee_id = users[person].id
        for ticket, rating in SURVEYS:
            _survey(s, tickets[ticket].id, ticket, rating)
        ids = {"site_a": site_a.id, "site_b": site_b.id, "pc": queues["pc"].id, "lan": queues["lan"].id,
               "anet": groups["anet"].id, "adb": groups["adb"].id}
    return ids


def _survey(s, ticket_id: int, name: str, rating) -> None:
    term, trouble, kind, outcome, attempts, link, replies = SURVEY_DETAILS[name]
    survey = Survey(ticket_id=ticket_id, state="answered" if outcome == "answered" else "closed", rating=rating,
                    reply_term=term, trouble_again=trouble, staff_kind=kind, outcome=outcome)
    s.add(survey)
    s.flush()
    for n, (channel, result) in enumerate(attempts):
        s.add(SurveyAttempt(survey_id=survey.id, channel=channel, round=1 + (n >= 3), outcome=result))
    if link:
        s.add(SurveyToken(survey_id=survey.id, token_hash=f"{name}-link".ljust(64, "0"),
                          expires_at=dt.datetime(2026, 12, 1)))
    last: dict[str, int] = {}
    for channel, duplicate in replies:
        reply = SurveyReply(survey_id=survey.id, channel=channel, raw=f"{name} {channel}", term=term,
                            duplicate_of_id=last.get(channel) if duplicate else None)
        s.add(reply)
        s.flush()
        last[channel] = reply.id


def _queue(s, name: str, service_level_s: int, site_id: int) -> Queue:
    """The queue of that name (the demo seed has "pc" and "lan" too), set up for the data set."""
    queue = s.scalar(select(Queue).where(Queue.name == name)) or Queue(name=name, title=name.upper())
    queue.service_level_seconds, queue.site_id = service_level_s, site_id
    s.add(queue)
    s.flush()
    return queue
