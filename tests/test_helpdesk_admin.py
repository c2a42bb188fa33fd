"""Admin pages for the help desk's tables (support groups and members, the SLA
table, approval lines) through the Flask test client, and the rules of
``cti.helpdesk_admin``: admin only, CSRF, clear field errors that keep what was
typed, and changes that the next ticket, timer or request uses."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from agent_desktop import users
from agent_desktop.escalation import EXTENSION_KEY as ESC_KEY
from cti import helpdesk_admin as rules
from cti.helpdesk_admin import AdminError
from cti.intake import forms
from db.models import ApprovalLineStep, SlaRule, SupportGroup, SupportGroupMember, Ticket
from support.client_fixtures import csrf_stack, stack  # noqa: F401 - pytest fixtures
from support.desktop import logged_in, place_call
from support.intake import make_intake_stack

XSS = '<script>window.__xss=1</script>'
XSS_ESCAPED = "&lt;script&gt;window.__xss=1&lt;/script&gt;"
PAGES = ["/admin/groups", "/admin/groups/new", "/admin/groups/1", "/admin/sla", "/admin/sla/new", "/admin/sla/1",
         "/admin/approval-lines"]
POSTS = ["/admin/groups/new", "/admin/groups/1", "/admin/groups/1/members", "/admin/groups/1/members/1/remove",
         "/admin/sla/new", "/admin/sla/1", "/admin/sla/1/delete", "/admin/approval-lines/pc"]


def esc(stack):
    return stack.app.extensions[ESC_KEY].service


def group_id(stack, code):
    with stack.sessions() as s:
        return s.scalar(select(SupportGroup.id).where(SupportGroup.code == code))


def rule_id(stack, system, severity):
    with stack.sessions() as s:
        return s.scalar(select(SlaRule.id).where(SlaRule.system == system, SlaRule.severity == severity))


def count(stack, model):
    with stack.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


GROUP = {"group-code": "security", "group-name": "보안 전문그룹", "group-name_en": "Security specialists",
         "group-kind": "specialist", "group-skills": "firewall, certificates", "group-email": "sec@example.com",
         "group-active": "y"}


# ---- rules (pure) ---------------------------------------------------------------------------
def test_input_checks():
    assert rules.clean_code(" Net-2 ".lower()) == "net-2"
    for bad in ("", "Bad Code", "x" * 33, "-start", "<b>"):
        with pytest.raises(AdminError) as e:
            rules.clean_code(bad)
        assert e.value.field == "code"
    assert rules.clean_minutes("", "progress_minutes") is None and rules.clean_minutes(" 15 ", "p") == 15
    for bad in ("0", "-5", "1.5", "abc", str(rules.MAX_MINUTES + 1)):
        with pytest.raises(AdminError):
            rules.clean_minutes(bad, "progress_minutes")
    assert rules.clean_system("*") == "*" and rules.clean_system("erp.prod") == "erp.prod"
    for bad in ("", "two words", "<x>", "**"):
        with pytest.raises(AdminError):
            rules.clean_system(bad)
    assert rules.clean_email("") == "" and rules.clean_email("a@b.example") == "a@b.example"
    with pytest.raises(AdminError):
        rules.clean_email("a@b.example\r\nBcc: x@y.z")
    assert rules.clean_line([3, None, 5]) == [3, 5]
    for bad in ([], [None, None], [3, 3], list(range(1, 8))):
        with pytest.raises(AdminError):
            rules.clean_line(bad)
    assert rules.APPROVER_ROLES == users.APPROVER_ROLES


# ---- who may --------------------------------------------------------------------------------
@pytest.mark.parametrize("username", ["agent1", "super", "trainee1", "approver1"])
def test_only_admins(stack, username):
    client = logged_in(stack, username)
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    for url in POSTS:
        assert client.post(url, data={}).status_code == 403, url
    assert 'id="nav-helpdesk-admin"' not in client.get("/").get_data(as_text=True)


def test_anonymous_goes_to_the_login_page(stack):
    for url in PAGES:
        r = stack.app.test_client().get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_admin_sees_every_table_in_both_languages(stack):
    en = logged_in(stack, "admin")
    assert 'id="nav-helpdesk-admin"' in en.get("/").get_data(as_text=True)
    groups = en.get("/admin/groups").get_data(as_text=True)
    assert all(f'data-group="{code}"' in groups for code in ("operations", "techsupport", "network", "database"))
    sla = en.get("/admin/sla").get_data(as_text=True)
    assert 'data-rule="*/1"' in sla and 'data-rule="erp/4"' in sla
    lines = en.get("/admin/approval-lines").get_data(as_text=True)
    assert re.search(r'data-line="app_improvement">\s*<li data-user="approver1">.*?<li data-user="super">', lines, re.S)
    ko = logged_in(stack, "admin", lang="ko")
    assert "지원 그룹" in ko.get("/admin/groups").get_data(as_text=True)
    assert "진행 보고 주기(분)" in ko.get("/admin/sla").get_data(as_text=True)
    assert "결재 라인" in ko.get("/admin/approval-lines").get_data(as_text=True)


def test_csrf_is_required(csrf_stack):
    admin = csrf_stack.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/login").get_data(as_text=True)).group(1)
    assert admin.post("/login", data={"username": "admin", "password": csrf_stack.passwords["admin"],
                                      "csrf_token": token}).status_code == 302
    assert admin.post("/admin/groups/new", data=GROUP).status_code == 400
    assert group_id(csrf_stack, "security") is None
    page = admin.get("/admin/groups/new").get_data(as_text=True)
    token = re.search(r'name="group-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = admin.post("/admin/groups/new", data={**GROUP, "group-csrf_token": token})
    assert r.status_code == 303 and group_id(csrf_stack, "security") is not None


# ---- support groups -------------------------------------------------------------------------
def test_a_new_group_and_member_can_be_escalated_to_at_once(stack):
    admin = logged_in(stack, "admin")
    r = admin.post("/admin/groups/new", data=GROUP)
    assert r.status_code == 303
    gid = group_id(stack, "security")
    assert r.headers["Location"].endswith(f"/admin/groups/{gid}")
    tech1 = stack.user_id("tech1")
    r = admin.post(f"/admin/groups/{gid}/members", data={"member-user": str(tech1), "member-skills": "PKI",
                                                         "member-email": "tech1-sec@example.com"})
    assert r.status_code == 303
    page = admin.get(f"/admin/groups/{gid}").get_data(as_text=True)
    assert 'data-member="tech1"' in page and "PKI" in page and "tech1-sec@example.com" in page
    # The escalation form offers it, and a ticket goes to it.
    [offered] = [g for g in esc(stack).groups() if g["code"] == "security"]
    assert [m["user_id"] for m in offered["members"]] == [tech1]
    ticket = place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)["ticket_id"]
    esc(stack).escalate(ticket, stack.user_id("agent1"), gid, tech1, "certificate expired")
    assert esc(stack).ticket_escalation(ticket)["group"]["code"] == "security"
    # Saving the same person again changes their skills (no second row); removing takes them out.
    admin.post(f"/admin/groups/{gid}/members", data={"member-user": str(tech1), "member-skills": "PKI, TLS"})
    with stack.sessions() as s:
        [member] = s.scalars(select(SupportGroupMember).where(SupportGroupMember.group_id == gid)).all()
        assert member.skills == "PKI, TLS" and member.email == ""
    assert admin.post(f"/admin/groups/{gid}/members/{member.id}/remove").status_code == 303
    assert [g for g in esc(stack).groups() if g["code"] == "security"][0]["members"] == []


def test_an_inactive_group_is_no_longer_offered(stack):
    admin = logged_in(stack, "admin")
    gid = group_id(stack, "network")
    data = {**GROUP, "group-code": "network", "group-name": "네트워크", "group-name_en": "Network"}
    del data["group-active"]                               # unchecked
    assert admin.post(f"/admin/groups/{gid}", data=data).status_code == 303
    assert "network" not in [g["code"] for g in esc(stack).groups()]
    assert 'data-group="network"' in admin.get("/admin/groups").get_data(as_text=True)   # still listed


def test_bad_group_input_is_refused_keeps_the_typed_text_and_writes_nothing(stack):
    admin = logged_in(stack, "admin")
    before = count(stack, SupportGroup)
    data = {**GROUP, "group-code": "Bad Code!", "group-name": XSS, "group-email": "not an address",
            "group-skills": XSS + "\nsecond line"}
    r = admin.post("/admin/groups/new", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and count(stack, SupportGroup) == before
    assert XSS not in page
    assert 'value="Bad Code!"' in page and f'value="{XSS_ESCAPED}"' in page and "second line" in page
    assert re.search(r'data-error-for="group-code"[^>]*>Use 1-32 lower-case letters', page)
    assert re.search(r'data-error-for="group-email"[^>]*>Enter an e-mail address, or nothing.', page)
    # Empty name; a code another group has.
    r = admin.post("/admin/groups/new", data={**GROUP, "group-code": "operations", "group-name": " "})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and 'data-error-for="group-name"' in page
    r = admin.post("/admin/groups/new", data={**GROUP, "group-code": "operations"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and re.search(r'data-error-for="group-code"[^>]*>Another group has this code.', page)
    assert 'value="보안 전문그룹"' in page and count(stack, SupportGroup) == before
    # A member who is not a user; unknown group -> 404.
    gid = group_id(stack, "operations")
    r = admin.post(f"/admin/groups/{gid}/members", data={"member-user": "424242", "member-skills": XSS})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and 'data-error-for="member-user"' in page and XSS_ESCAPED in page
    assert admin.post("/admin/groups/9999/members", data={"member-user": "1"}).status_code == 404
    assert admin.get("/admin/groups/9999").status_code == 404


def test_script_in_a_group_is_shown_as_text(stack):
    admin = logged_in(stack, "admin")
    assert admin.post("/admin/groups/new", data={**GROUP, "group-name": XSS, "group-skills": XSS}).status_code == 303
    listing = admin.get("/admin/groups").get_data(as_text=True)
    assert XSS not in listing and listing.count(XSS_ESCAPED) >= 2


# ---- SLA table ------------------------------------------------------------------------------
def sla_form(system="*", severity="1", progress="", first_level="", group=""):
    return {"sla-system": system, "sla-severity": severity, "sla-progress_minutes": progress,
            "sla-first_level_minutes": first_level, "sla-group": group}


def test_a_changed_progress_interval_is_used_by_the_next_progress_timer(stack):
    admin = logged_in(stack, "admin")
    service = esc(stack)
    agent = stack.user_id("agent1")

    def progress_due(ticket):
        [job] = [j for j in service.pending_jobs(ticket) if j["kind"] == "progress"]
        return job["due_at"]

    before = place_call(stack.call_center, agent_id=agent, answer=True)["ticket_id"]
    service.classify(before, agent, "billing", 1)           # no row of its own: the * row (30 min)
    started = service.ticket_escalation(before)
    assert started["severity"] == 1
    base = progress_due(before)
    r = admin.post(f"/admin/sla/{rule_id(stack, '*', 1)}", data=sla_form(progress="10", first_level="45",
                                                                         group=str(group_id(stack, "network"))))
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/sla")
    after = place_call(stack.call_center, agent_id=stack.user_id("agent2"), answer=True)["ticket_id"]
    service.classify(after, agent, "billing", 1)
    terms = service.terms("billing", 1)
    assert terms.progress == dt.timedelta(minutes=10) and terms.first_level == dt.timedelta(minutes=45)
    assert terms.group_code == "network"
    with stack.sessions() as s:
        t_after, t_before = s.get(Ticket, after), s.get(Ticket, before)
        assert progress_due(after) == t_after.first_level_started_at + dt.timedelta(minutes=10)
        assert base == t_before.first_level_started_at + dt.timedelta(minutes=30)
    [first_level] = [j for j in service.pending_jobs(after) if j["kind"] == "first_level"]
    assert first_level["due_at"] == t_after.first_level_started_at + dt.timedelta(minutes=45)
    # The new interval is what fires: 11 minutes on, the new ticket is overdue.
    fired = service.run_due(t_after.first_level_started_at + dt.timedelta(minutes=11))
    assert ("progress", after, "flagged") in fired and ("progress", before, "flagged") not in fired


def test_a_new_row_for_a_system_and_its_deletion(stack):
    admin = logged_in(stack, "admin")
    r = admin.post("/admin/sla/new", data=sla_form(system="payroll", severity="2", progress="20"))
    assert r.status_code == 303
    assert esc(stack).terms("payroll", 2).progress == dt.timedelta(minutes=20)
    assert 'data-rule="payroll/2"' in admin.get("/admin/sla").get_data(as_text=True)
    assert "payroll" in esc(stack).systems()
    assert admin.post(f"/admin/sla/{rule_id(stack, 'payroll', 2)}/delete").status_code == 303
    assert rule_id(stack, "payroll", 2) is None
    assert esc(stack).terms("payroll", 2).progress == dt.timedelta(minutes=30)     # the * row again


def test_bad_sla_input_is_refused_and_keeps_the_typed_text(stack):
    admin = logged_in(stack, "admin")
    rid = rule_id(stack, "*", 1)
    r = admin.post(f"/admin/sla/{rid}", data=sla_form(system=XSS, progress="ten", first_level="-3",
                                                      group="9999"))
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and XSS not in page
    assert f'value="{XSS_ESCAPED}"' in page and 'value="ten"' in page and 'value="-3"' in page
    for field in ("sla-system", "sla-progress_minutes", "sla-first_level_minutes", "sla-group"):
        assert f'data-error-for="{field}"' in page, field
    assert "Whole minutes between 1 and 10080, or empty." in page
    # A second row for the same system and severity.
    r = admin.post("/admin/sla/new", data=sla_form(system="erp", severity="1", progress="15"))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert re.search(r'data-error-for="sla-severity"[^>]*>This system already has a row for this severity.', page)
    with stack.sessions() as s:
        assert s.get(SlaRule, rid).progress_minutes == 30 and s.get(SlaRule, rid).system == "*"
        assert s.get(SlaRule, rule_id(stack, "erp", 1)).progress_minutes == 30
    ko = logged_in(stack, "admin", lang="ko").post(f"/admin/sla/{rid}", data=sla_form(progress="x"))
    assert "1~10080 사이의 분(정수)을 입력하거나 비워 두세요." in ko.get_data(as_text=True)


# ---- approval lines -------------------------------------------------------------------------
@pytest.fixture
def intake_stack(tmp_path):
    stack, intake = make_intake_stack(tmp_path)
    yield stack, intake
    intake.close()
    stack.close()


def line_form(kind, *user_ids):
    data = {f"line-{kind}-step_{i}": "" for i in range(5)}
    data.update({f"line-{kind}-step_{i}": str(u) for i, u in enumerate(user_ids)})
    return data


SUBMISSION = dict(name="Kim", identifier="100100", phone="", subject="New laptop", description="Mine broke.")


def test_a_changed_approval_line_is_used_by_the_next_request_only(intake_stack):
    stack, intake = intake_stack
    admin = logged_in(stack, "admin")
    approver, sup = stack.user_id("approver1"), stack.user_id("super")
    running = intake.submit_onestop("pc", forms.clean(language="en", **SUBMISSION))
    r = admin.post("/admin/approval-lines/pc", data=line_form("pc", sup, approver))
    assert r.status_code == 303
    assert [s["username"] for s in rules.HelpdeskAdmin(stack.sessions).approval_lines()["pc"]] == ["super",
                                                                                                   "approver1"]
    new = intake.submit_onestop("pc", forms.clean(language="en", **SUBMISSION))
    assert new["approver_id"] == sup                                       # the new line's first step
    assert intake.request_view(running["request_id"])["current_approver"] == approver   # kept its copy
    assert [s["approver_id"] for s in intake.request_view(new["request_id"])["steps"]] == [sup, approver]


def test_bad_approval_lines_are_refused(intake_stack):
    stack, _ = intake_stack
    admin = logged_in(stack, "admin")
    approver, agent = stack.user_id("approver1"), stack.user_id("agent1")
    before = count(stack, ApprovalLineStep)
    for data, message in [
        (line_form("pc"), "An approval line needs at least one approver."),
        (line_form("pc", approver, approver), "The same person appears twice in the line."),
        (line_form("pc", approver, agent), "Choose one of the approvers."),       # an agent cannot approve
    ]:
        r = admin.post("/admin/approval-lines/pc", data=data)
        page = r.get_data(as_text=True)
        assert r.status_code == 400 and message in page, message
        assert re.search(r'data-error-for="line-pc-step_\d"', page)
    assert count(stack, ApprovalLineStep) == before
    assert admin.post("/admin/approval-lines/nonsense", data={}).status_code == 404
    # The refused choice is still selected in the form (nothing typed is lost).
    page = admin.post("/admin/approval-lines/pc", data=line_form("pc", approver, approver)).get_data(as_text=True)
    form = page.split('id="line-form-pc"', 1)[1].split("</form>", 1)[0]
    assert form.count(f'selected value="{approver}"') == 2 or form.count(f'value="{approver}" selected') == 2
