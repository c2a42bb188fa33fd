"""Pure escalation rules (cti.escalation): SLA lookup, first-level and progress arithmetic."""
from __future__ import annotations

import datetime as dt

import pytest

from cti import escalation as rules
from cti.escalation import EscalationError, SlaDefaults, SlaRow

T0 = dt.datetime(2026, 11, 25, 9, 0, 0)
DEFAULTS = SlaDefaults(first_level=dt.timedelta(hours=3), progress_minutes=30, group_code="operations")
ROWS = [
    SlaRow("erp", 1, 15, 60, "database"),
    SlaRow("erp", 3, None, None, "database"),
    SlaRow("*", 1, None, None, "operations"),
    SlaRow("*", 2, 45, None, None),
]


def terms(system, severity):
    return rules.sla_terms(ROWS, system, severity, DEFAULTS)


def test_exact_row_wins():
    t = terms("erp", 1)
    assert t.progress == dt.timedelta(minutes=15)
    assert t.first_level == dt.timedelta(minutes=60)
    assert t.group_code == "database"


def test_any_system_row_then_defaults():
    t = terms("mail", 2)                      # "*" row: 45 min, no group -> default group
    assert t.progress == dt.timedelta(minutes=45)
    assert t.first_level == dt.timedelta(hours=3)
    assert t.group_code == "operations"
    t = terms("mail", 1)                      # "*" row without minutes: severity 1 -> 30 min default
    assert t.progress == dt.timedelta(minutes=30)


def test_severity_3_and_4_have_no_progress_rule_unless_the_table_says_so():
    assert terms("erp", 3).progress is None
    assert terms("erp", 3).group_code == "database"
    assert terms("mail", 4).progress is None
    assert rules.sla_terms([SlaRow("pc", 4, 120, None, "techsupport")], "pc", 4, DEFAULTS).progress == \
        dt.timedelta(minutes=120)


def test_no_severity_first_level_only():
    t = terms("erp", None)
    assert t.progress is None
    assert t.first_level == dt.timedelta(hours=3)
    assert t.group_code == "operations"


def test_first_level_due_exactly_at_the_limit():
    t = terms("mail", 3)
    just_before = T0 + dt.timedelta(hours=3) - dt.timedelta(seconds=1)
    at = T0 + dt.timedelta(hours=3)
    assert not rules.due_for_auto_assignment(is_open=True, level=1, started_at=T0, terms=t, now=just_before)
    assert rules.due_for_auto_assignment(is_open=True, level=1, started_at=T0, terms=t, now=at)
    # escalated already, resolved, or never popped: never due
    assert not rules.due_for_auto_assignment(is_open=True, level=2, started_at=T0, terms=t, now=at)
    assert not rules.due_for_auto_assignment(is_open=False, level=1, started_at=T0, terms=t, now=at)
    assert not rules.due_for_auto_assignment(is_open=True, level=1, started_at=None, terms=t, now=at)


def test_first_level_elapsed_stops_at_the_escalation():
    assert rules.first_level_elapsed(None, T0) is None
    assert rules.first_level_elapsed(T0, T0 + dt.timedelta(minutes=90)) == 5400
    assert rules.first_level_elapsed(T0, T0 + dt.timedelta(hours=5), T0 + dt.timedelta(minutes=10)) == 600


def test_progress_reference_and_overdue():
    t = terms("mail", 1)                      # 30 minutes
    escalated = T0 + dt.timedelta(minutes=20)
    assert rules.progress_reference(None, None, T0) == T0
    assert rules.progress_reference(None, escalated, T0) == escalated
    last = T0 + dt.timedelta(minutes=40)
    assert rules.progress_reference(last, escalated, T0) == last
    assert rules.progress_due_at(last, t) == T0 + dt.timedelta(minutes=70)
    assert not rules.progress_overdue(is_open=True, reference=last, terms=t, now=T0 + dt.timedelta(minutes=69))
    assert rules.progress_overdue(is_open=True, reference=last, terms=t, now=T0 + dt.timedelta(minutes=70))
    assert not rules.progress_overdue(is_open=False, reference=last, terms=t, now=T0 + dt.timedelta(hours=9))
    assert not rules.progress_overdue(is_open=True, reference=last, terms=terms("mail", 3),
                                      now=T0 + dt.timedelta(hours=9))
    assert rules.seconds_overdue(T0, T0 + dt.timedelta(minutes=2)) == 120
    assert rules.seconds_overdue(T0, T0 - dt.timedelta(minutes=2)) == 0


@pytest.mark.parametrize("value", ["0", "5", "x", None, "", "1.5"])
def test_bad_severity(value):
    with pytest.raises(EscalationError):
        rules.clean_severity(value)


def test_severity_and_text():
    assert rules.clean_severity(" 2 ") == 2
    assert rules.clean_text("  a <b> ", "reason") == "a <b>"   # kept as text; pages escape it
    with pytest.raises(EscalationError):
        rules.clean_text("  ", "reason", required=True)
    with pytest.raises(EscalationError):
        rules.clean_text("x" * 11, "reason", limit=10)
    with pytest.raises(EscalationError):
        rules.clean_text(["list"], "reason")


def test_assignee_must_be_a_member():
    rules.check_assignee([3, 4], 4)
    rules.check_assignee([3, 4], None)
    with pytest.raises(EscalationError):
        rules.check_assignee([3, 4], 5)


def test_defaults_from_config_are_checked():
    d = SlaDefaults.from_config({"first_level_hours": 3.0, "progress_minutes": 30, "default_group": "ops"})
    assert d.first_level == dt.timedelta(hours=3)
    with pytest.raises(ValueError):
        SlaDefaults.from_config({"first_level_hours": 0, "progress_minutes": 30, "default_group": "ops"})
