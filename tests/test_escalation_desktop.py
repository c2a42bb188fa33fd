"""The escalation on the desktop through the Flask test client: the ticket's
escalation panel and its forms (validation, script kept as text, nothing lost
on bad input, CSRF), the group member's page and Socket.IO notices, 2nd-level
resolution, and the overdue flag on the wallboard."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from agent_desktop.escalation import EXTENSION_KEY
from db.models import SupportGroup, Ticket, TicketAssignment
from support.client_fixtures import csrf_stack, stack  # noqa: F401 - pytest fixtures
from support.desktop import logged_in, place_call

XSS = '<script>window.__xss=1</script>"\'&'


def esc_service(stack):
    return stack.app.extensions[EXTENSION_KEY].service


def gid(stack, code):
    with stack.sessions() as s:
        return s.scalar(select(SupportGroup.id).where(SupportGroup.code == code))


def new_ticket(stack):
    """A call answered by agent1: the pop started the ticket's first level."""
    return place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)["ticket_id"]


def events_named(received, name):
    return [e["args"][0] for e in received if e["name"] == name]


def test_ticket_panel_shows_first_level_time_and_the_forms(stack):
    tid = new_ticket(stack)
    page = logged_in(stack).get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'id="escalation"' in page
    elapsed = re.search(r'id="first-level-elapsed" data-elapsed="([0-9.]+)"\s+data-running="true"', page)
    assert elapsed and float(elapsed.group(1)) < 60
    assert 'id="first-level-limit" data-seconds="10800.0"' in page           # 3 h default
    assert 'id="escalate-form"' in page and 'name="esc-reason"' in page
    assert 'name="esc-csrf_token"' in page or "csrf_token" in page
    assert re.search(r'<option value="\d+"[^>]*>Technical support', page)
    assert 'data-group="' in page                                              # people per group
    assert "js/escalation.js" in page


def test_escalate_keeps_script_as_text_and_builds_the_timeline(stack):
    tid = new_ticket(stack)
    agent = logged_in(stack, "agent1")
    r = agent.post(f"/tickets/{tid}/escalate", data={
        "esc-group": str(gid(stack, "techsupport")), "esc-person": str(stack.user_id("tech1")),
        "esc-reason": XSS})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/tickets/{tid}#escalation")
    with stack.sessions() as s:
        t = s.get(Ticket, tid)
        assert (t.level, t.assignee_id) == (2, stack.user_id("tech1"))
        assert s.scalar(select(TicketAssignment.reason)) == XSS.strip()
    page = agent.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "<script>window.__xss" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    timeline = page.split('id="assignment-timeline"', 1)[1].split("</ol>", 1)[0]
    assert "Kim Jiwoo" in timeline and "Technical support" in timeline and "Oh Jisoo" in timeline
    assert 'data-running="false"' in page                                     # the first level ended


@pytest.mark.parametrize("form, message", [
    ({"esc-group": "", "esc-person": "", "esc-reason": "why"}, "Choose one of the support groups."),
    ({"esc-group": "999999", "esc-person": "", "esc-reason": "why"}, "Choose one of the support groups."),
    ({"esc-group": "GROUP", "esc-person": "DBA1", "esc-reason": "typed reason"},
     "The person is not a member of the chosen group."),
    ({"esc-group": "GROUP", "esc-person": "", "esc-reason": "   "}, "Enter the reason."),
    ({"esc-group": "GROUP", "esc-person": "", "esc-reason": "x" * 2001}, "At most 2000 characters."),
])
def test_bad_escalation_input_is_refused_and_nothing_is_lost(stack, form, message):
    tid = new_ticket(stack)
    data = {k: v.replace("GROUP", str(gid(stack, "techsupport"))).replace("DBA1", str(stack.user_id("dba1")))
            for k, v in form.items()}
    r = logged_in(stack).post(f"/tickets/{tid}/escalate", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert message.replace("'", "&#39;") in page or message in page
    if data["esc-reason"].strip() and len(data["esc-reason"]) < 100:
        assert data["esc-reason"] in page                                     # the typed text is still there
    with stack.sessions() as s:
        assert s.get(Ticket, tid).level == 1 and s.scalar(select(TicketAssignment.id)) is None


def test_csrf_is_required_and_the_forms_carry_the_token(csrf_stack):
    tid = new_ticket(csrf_stack)
    client = csrf_stack.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "agent1", "password": csrf_stack.passwords["agent1"],
                                       "csrf_token": token}).status_code == 302
    form = {"esc-group": str(gid(csrf_stack, "operations")), "esc-reason": "no token"}
    assert client.post(f"/tickets/{tid}/escalate", data=form).status_code == 400
    with csrf_stack.sessions() as s:
        assert s.get(Ticket, tid).level == 1
    page = client.get(f"/tickets/{tid}").get_data(as_text=True)
    form_html = page.split('id="escalate-form"', 1)[1].split("</form>", 1)[0]
    token = re.search(r'name="esc-csrf_token" type="hidden" value="([^"]+)"', form_html).group(1)
    assert client.post(f"/tickets/{tid}/escalate", data={**form, "esc-csrf_token": token}).status_code == 303
    with csrf_stack.sessions() as s:
        assert s.get(Ticket, tid).level == 2


def test_group_member_is_notified_sees_the_ticket_resolves_and_the_agent_is_told(stack):
    tid = new_ticket(stack)
    agent, tech, dba = logged_in(stack, "agent1"), logged_in(stack, "tech1"), logged_in(stack, "dba1")
    s_agent = stack.socketio.test_client(stack.app, flask_test_client=agent)
    s_tech = stack.socketio.test_client(stack.app, flask_test_client=tech)
    s_dba = stack.socketio.test_client(stack.app, flask_test_client=dba)
    for sock in (s_agent, s_tech, s_dba):
        sock.get_received()
    agent.post(f"/tickets/{tid}/escalate", data={"esc-group": str(gid(stack, "techsupport")),
                                                 "esc-person": str(stack.user_id("tech1")),
                                                 "esc-reason": "printer <b>offline</b>"})
    [notice] = events_named(s_tech.get_received(), "escalation")
    assert notice["ticket_id"] == tid and notice["by"] == "Kim Jiwoo" and notice["group_en"] == "Technical support"
    assert notice["reason"] == "printer <b>offline</b>"                        # the page sets it as text
    assert events_named(s_dba.get_received(), "escalation") == []              # not in the group

    listing = tech.get("/groups/tickets").get_data(as_text=True)
    assert f'data-ticket-id="{tid}"' in listing and 'data-mine="true"' in listing
    assert f'data-ticket-id="{tid}"' not in dba.get("/groups/tickets").get_data(as_text=True)

    # not a member: refused, nothing changes
    r = dba.post(f"/tickets/{tid}/resolve-escalated", data={"res2-cause": "c", "res2-action": "a"})
    assert r.status_code == 403 and "You may not do this for this ticket." in r.get_data(as_text=True)
    # missing action: 400, the cause typed is kept
    r = tech.post(f"/tickets/{tid}/resolve-escalated", data={"res2-cause": "toner <i>empty</i>",
                                                            "res2-action": ""})
    assert r.status_code == 400 and "toner &lt;i&gt;empty&lt;/i&gt;" in r.get_data(as_text=True)
    r = tech.post(f"/tickets/{tid}/resolve-escalated", data={"res2-cause": "toner empty",
                                                            "res2-action": "replaced the toner",
                                                            "res2-resolution": ""})
    assert r.status_code == 303
    with stack.sessions() as s:
        t = s.get(Ticket, tid)
        assert (t.status, t.cause, t.resolution) == ("resolved", "toner empty", "replaced the toner")
    [done] = events_named(s_agent.get_received(), "escalation_resolved")
    assert done == {"ticket_id": tid, "incident_id": t.incident_id, "by": "Oh Jisoo", "at": done["at"]}
    for sock in (s_agent, s_tech, s_dba):
        sock.disconnect()


def test_reassign_and_cause_action_by_a_member(stack):
    tid = new_ticket(stack)
    esc_service(stack).escalate(tid, stack.user_id("agent1"), gid(stack, "techsupport"), None, "to the group")
    tech = logged_in(stack, "tech1")
    page = tech.get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'id="reassign-form"' in page and 'id="resolve2-form"' in page
    assert 'id="reassign-form"' not in logged_in(stack, "dba1").get(f"/tickets/{tid}").get_data(as_text=True)
    r = tech.post(f"/tickets/{tid}/reassign", data={"rea-person": str(stack.user_id("dba1")), "rea-reason": "x"})
    assert r.status_code == 400 and "not a member of the group" in r.get_data(as_text=True)
    r = tech.post(f"/tickets/{tid}/reassign", data={"rea-person": str(stack.user_id("agent2")),
                                                    "rea-reason": "LAN skills"})
    assert r.status_code == 303
    r = tech.post(f"/tickets/{tid}/work", data={"work-cause": "<u>loose cable</u>", "work-action": "reseated"})
    assert r.status_code == 303
    page = tech.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "&lt;u&gt;loose cable&lt;/u&gt;" in page
    assert page.count("<li data-automatic=\"false\">") == 2


def test_overdue_progress_is_flagged_on_desktop_socket_and_wallboard(stack):
    tid = new_ticket(stack)
    agent = logged_in(stack, "agent1")
    assert agent.post(f"/tickets/{tid}/classify", data={"cls-system": "mail", "cls-severity": "1"}).status_code == 303
    r = agent.post(f"/tickets/{tid}/classify", data={"cls-system": "mail", "cls-severity": "7"})
    assert r.status_code == 400
    sup = logged_in(stack, "super")
    s_agent = stack.socketio.test_client(stack.app, flask_test_client=agent)
    s_sup = stack.socketio.test_client(stack.app, flask_test_client=sup)
    s_agent.get_received(), s_sup.get_received()
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=31)
    assert esc_service(stack).run_due(later) == [("progress", tid, "flagged")]
    for sock in (s_agent, s_sup):
        [flag] = events_named(sock.get_received(), "ticket_overdue")
        assert flag["ticket_id"] == tid and flag["overdue"] is True and flag["severity"] == 1
    assert agent.get("/api/floor/wallboard").get_json()["total"]["overdue_tickets"] == 1
    page = agent.get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'data-overdue="true"' in page and re.search(r'id="overdue-flag" class="overdue-flag">', page)
    assert agent.post(f"/tickets/{tid}/progress", data={"prog-text": "investigating"}).status_code == 303
    assert agent.get("/api/floor/wallboard").get_json()["total"]["overdue_tickets"] == 0
    [cleared] = events_named(s_agent.get_received(), "ticket_overdue")
    assert cleared["overdue"] is False
    s_agent.disconnect(), s_sup.disconnect()


def test_trainee_sees_no_forms_and_cannot_escalate(stack):
    tid = new_ticket(stack)
    trainee = logged_in(stack, "trainee1")
    page = trainee.get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'id="escalation"' in page and 'id="escalate-form"' not in page
    r = trainee.post(f"/tickets/{tid}/escalate", data={"esc-group": str(gid(stack, "operations")),
                                                       "esc-reason": "try"})
    assert r.status_code == 403


def test_panel_and_group_page_in_korean(stack):
    tid = new_ticket(stack)
    client = logged_in(stack, "tech1", lang="ko")
    page = client.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "지원 그룹으로 이관" in page and "1차 처리 경과 시간" in page
    assert "내 그룹의 티켓" in client.get("/groups/tickets").get_data(as_text=True)
