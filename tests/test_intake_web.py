"""Customer portal and approvals through the Flask test client (docs/intake.md)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.models import OneStopRequest, Ticket
from support.desktop import logged_in
from support.intake import make_intake_stack

XSS = '<script>window.__xss=1</script>'
FIELDS = dict(name="Kim Portal", identifier="100100", phone="010-1234", subject="Monitor flickers",
              description="Since this morning.\nSecond line.")


@pytest.fixture
def web(tmp_path):
    stack, intake = make_intake_stack(tmp_path, max_posts=3)
    yield stack, intake
    intake.close()
    stack.close()


def tickets(stack):
    with stack.sessions() as s:
        return s.scalars(select(Ticket).order_by(Ticket.id)).all()


def test_form_makes_a_web_ticket_and_confirms_the_incident_id(web):
    stack, _ = web
    client = stack.app.test_client()
    client.set_cookie("lang", "en")
    page = client.get("/portal/")
    assert page.status_code == 200 and b'name="website"' in page.data
    done = client.post("/portal/", data=FIELDS)
    assert done.status_code == 200
    (t,) = tickets(stack)
    assert (t.channel, t.status, t.caller_name, t.caller_number) == ("web", "queued", "Kim Portal", "010-1234")
    assert t.customer_id is not None
    assert re.search(rf'id="incident-id">{t.incident_id}<', done.get_data(as_text=True))


def test_korean_page(web):
    stack, _ = web
    client = stack.app.test_client()
    client.set_cookie("lang", "ko")
    assert "보내기" in client.get("/portal/").get_data(as_text=True)


def test_script_in_every_field_is_stored_as_text_and_shown_escaped(web):
    stack, intake = web
    client = stack.app.test_client()
    data = {key: XSS for key in FIELDS}
    data["identifier"] = XSS            # no customer has it: the ticket is unidentified
    done = client.post("/portal/", data=data)
    assert done.status_code == 200
    (t,) = tickets(stack)
    assert t.caller_name == XSS and t.caller_number == XSS and t.request == f"{XSS}\n\n{XSS}"
    assert t.customer_id is None
    agent = logged_in(stack, "agent1")
    html = agent.get(f"/tickets/{t.id}").get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    # A one-stop request with script everywhere, on the approver's page.
    client.post("/portal/onestop/pc", data={key: XSS for key in FIELDS})
    approver = logged_in(stack, "approver1")
    page = approver.get("/approvals/").get_data(as_text=True)
    assert XSS not in page and page.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") >= 4


def test_bad_form_input_is_refused_and_kept_in_the_form(web):
    stack, _ = web
    client = stack.app.test_client()
    client.set_cookie("lang", "en")
    missing = client.post("/portal/", data={**FIELDS, "subject": "  "})
    assert missing.status_code == 400 and b"Enter a short subject" in missing.data
    assert b"Since this morning." in missing.data          # nothing typed is lost
    too_long = client.post("/portal/", data={**FIELDS, "description": "x" * 10_001})
    assert too_long.status_code == 400
    bot = client.post("/portal/", data={**FIELDS, "website": "http://spam.example"})
    assert bot.status_code == 400
    assert tickets(stack) == []


def test_rate_limit_per_address(web):
    stack, _ = web
    client = stack.app.test_client()
    codes = [client.post("/portal/", data=FIELDS).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert len(tickets(stack)) == 3


def test_csrf_is_required(tmp_path):
    stack, intake = make_intake_stack(tmp_path, csrf=True)
    try:
        client = stack.app.test_client()
        assert client.post("/portal/", data=FIELDS).status_code == 400
        page = client.get("/portal/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/portal/", data={**FIELDS, "csrf_token": token}).status_code == 200
        assert len(tickets(stack)) == 1
    finally:
        intake.close()
        stack.close()


def test_onestop_goes_through_the_approval_line_in_the_desktop(web):
    stack, _ = web
    portal = stack.app.test_client()
    portal.set_cookie("lang", "en")
    done = portal.post("/portal/onestop/app_improvement", data={**FIELDS, "subject": "CSV export"})
    assert done.status_code == 200 and b"OS-000001" in done.data
    assert tickets(stack) == []
    agent = logged_in(stack, "agent1")
    assert agent.get("/approvals/").status_code == 403          # agents do not approve
    supervisor = logged_in(stack, "super")
    assert b"CSV export" not in supervisor.get("/approvals/").data   # step 2: not yet
    out = supervisor.post("/approvals/1", data={"decision": "approved"})
    assert out.status_code == 303
    assert b"waits for another approver" in supervisor.get("/approvals/").data
    approver = logged_in(stack, "approver1")
    page = approver.get("/approvals/").get_data(as_text=True)
    assert "CSV export" in page and 'id="nav-approvals"' in page
    approver.post("/approvals/1", data={"decision": "approved", "comment": "fine"})
    assert tickets(stack) == []
    supervisor.post("/approvals/1", data={"decision": "approved"})
    (t,) = tickets(stack)
    assert t.channel == "onestop"
    with stack.sessions() as s:
        assert s.get(OneStopRequest, 1).ticket_id == t.id
    assert approver.post("/approvals/1", data={"decision": "maybe"}).status_code in (303, 400)
    assert approver.post("/approvals/99", data={"decision": "approved"}).status_code == 404


def test_portal_without_intake_service_answers_503(tmp_path):
    from support.desktop import make_stack

    stack = make_stack(tmp_path)
    try:
        assert stack.app.test_client().get("/portal/").status_code == 503
    finally:
        stack.close()
