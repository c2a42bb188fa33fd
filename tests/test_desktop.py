"""Agent desktop (Flask + Flask-SocketIO) without a browser."""
from __future__ import annotations

import json
import os
import re
import stat
import threading

import pytest
from sqlalchemy import select

from agent_desktop import close_app, create_app
from agent_desktop.auth import roles_required
from agent_desktop.security import is_safe_next
from agent_desktop.server import WebServer
from db.models import Customer
from support.client_fixtures import stack, csrf_stack  # noqa: F401 - pytest fixtures
from support.desktop import logged_in, login, make_stack, place_call, running_server

XSS = "<img src=x onerror=alert(1)>"


def customer_id(stack, pin="100100"):
    with stack.sessions() as s:
        return s.scalar(select(Customer.id).where(Customer.pin == pin))


def events_named(received, name):
    return [m["args"][0] for m in received if m["name"] == name]


# ---- auth -------------------------------------------------------------------------

def test_anonymous_user_is_sent_to_login(stack):
    client = stack.app.test_client()
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/tickets/1").status_code == 302
    response = client.post("/agent/state", json={"state": "ready"})
    assert response.status_code == 401 and "error" in response.get_json()


def test_login_shows_desktop_and_logout_sets_logged_out(stack):
    client = logged_in(stack)
    page = client.get("/").get_data(as_text=True)
    assert "Kim Jiwoo" in page
    assert 'id="agent-state"' in page and 'data-state="logged_out"' in page
    assert client.post("/agent/state", json={"state": "ready"}).status_code == 200
    assert stack.user_state("agent1") == "ready"

    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert stack.user_state("agent1") == "logged_out"
    assert client.get("/").status_code == 302  # the session is gone


def test_logout_while_on_a_call_stops_new_calls(stack):
    client = logged_in(stack)
    place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)
    assert client.post("/logout").status_code == 302
    assert stack.user_state("agent1") == "not_ready"  # talking -> not_ready; the call ends it


@pytest.mark.parametrize("username,password", [("agent1", "wrong-password"), ("nobody", "whatever")])
def test_wrong_login_has_one_message(stack, username, password):
    client = stack.app.test_client()
    client.set_cookie("lang", "en")
    response = login(client, username, password)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Wrong user name or password." in page
    assert client.get("/").status_code == 302


def test_login_next_only_accepts_local_paths(stack):
    for target, expected in [("/tickets/7", "/tickets/7"), ("https://evil.example/x", "/"),
                             ("//evil.example/x", "/"), ("/\\evil.example", "/"),
                             ("javascript:alert(1)", "/")]:
        client = stack.app.test_client()
        response = login(client, "agent1", stack.passwords["agent1"], next=target)
        assert response.status_code == 302
        assert response.headers["Location"] == expected, target


def test_is_safe_next():
    assert is_safe_next("/") and is_safe_next("/tickets/1?x=1")
    for bad in ["", None, "http://x", "//x", "/\\x", "x/y", "/\nx", "https:/x"]:
        assert not is_safe_next(bad)


def test_supervisor_page_needs_supervisor_role(stack):
    assert stack.app.test_client().get("/supervisor/").status_code == 302
    agent = logged_in(stack, "agent1")
    response = agent.get("/supervisor/")
    assert response.status_code == 403
    assert "Lee Minjun" not in response.get_data(as_text=True)  # no staff list leaks
    for username in ("super", "admin"):
        page = logged_in(stack, username).get("/supervisor/")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Kim Jiwoo" in html and "Lee Minjun" in html
        assert f'data-agent-id="{stack.user_id("agent2")}"' in html


def test_roles_required_rejects_unknown_roles():
    with pytest.raises(ValueError):
        roles_required("king")


# ---- agent state ---------------------------------------------------------------------

def test_state_change_through_post(stack):
    client = logged_in(stack)
    response = client.post("/agent/state", json={"state": "ready"})
    assert response.status_code == 200
    assert response.get_json()["state"] == "ready"
    assert stack.user_state("agent1") == "ready"
    response = client.post("/agent/state", json={"state": "not_ready", "reason": "break"})
    assert response.get_json()["state"] == "not_ready"
    assert stack.user_state("agent1") == "not_ready"
    assert client.get("/agent/state").get_json()["state"] == "not_ready"


def test_invalid_state_change_is_a_clear_409(stack):
    client = logged_in(stack)
    place_call(stack.call_center, agent_id=stack.user_id("agent1"))  # agent1 is RINGING now
    response = client.post("/agent/state", json={"state": "ready"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "You cannot change from Ringing to Ready now."
    assert body["state"] == "ringing"
    assert stack.user_state("agent1") == "ringing"
    assert client.post("/agent/state", json={"state": "talking"}).status_code == 400
    assert client.post("/agent/state", json={"state": "logged_out"}).status_code == 400


def test_csrf_is_enforced(csrf_stack):
    client = csrf_stack.app.test_client()
    # A login without the form's token is refused.
    response = client.post("/login", data={"username": "agent1", "password": csrf_stack.passwords["agent1"]})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "agent1", "password": csrf_stack.passwords["agent1"],
                                           "csrf_token": token})
    assert response.status_code == 302
    # fetch() POSTs need the X-CSRFToken header.
    assert client.post("/agent/state", json={"state": "ready"}).status_code == 400
    assert csrf_stack.user_state("agent1") == "logged_out"
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/agent/state", json={"state": "ready"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert csrf_stack.user_state("agent1") == "ready"
    # Resolve and logout forms too.
    call = place_call(csrf_stack.call_center, agent_id=csrf_stack.user_id("agent2"), answer=True)
    response = client.post(f"/tickets/{call['ticket_id']}/resolve", data={"resolution": "done"})
    assert response.status_code == 400
    assert client.post("/logout").status_code == 400
    assert csrf_stack.user_state("agent1") == "ready"


# ---- Socket.IO -----------------------------------------------------------------------------

def test_socket_refused_without_login(stack):
    anonymous = stack.app.test_client()
    sock = stack.socketio.test_client(stack.app, flask_test_client=anonymous)
    assert not sock.is_connected()


def test_screenpop_reaches_only_its_agent(stack):
    a1, a2, sup = logged_in(stack, "agent1"), logged_in(stack, "agent2"), logged_in(stack, "super")
    s1 = stack.socketio.test_client(stack.app, flask_test_client=a1)
    s2 = stack.socketio.test_client(stack.app, flask_test_client=a2)
    ss = stack.socketio.test_client(stack.app, flask_test_client=sup)
    assert s1.is_connected() and s2.is_connected() and ss.is_connected()
    # Each connection starts with its own current state.
    (hello,) = events_named(s1.get_received(), "agent_state")
    assert hello["agent_id"] == stack.user_id("agent1") and hello["state"] == "logged_out"
    assert hello["since"].endswith("Z")
    s2.get_received(), ss.get_received()

    agent1 = stack.user_id("agent1")
    call = place_call(stack.call_center, caller_name=XSS, number="0312345678",
                      customer_id=customer_id(stack), agent_id=agent1)

    got1 = s1.get_received()
    pops = events_named(got1, "screenpop")
    assert len(pops) == 1
    pop = pops[0]
    assert pop["ticket_id"] == call["ticket_id"]
    assert pop["caller_name"] == XSS and pop["phone"] == "0312345678"
    assert pop["customer_known"] is True and pop["customer_name"].startswith("홍길동")
    assert pop["queue"] == "Help desk" and pop["incident_id"].startswith("INC-")
    assert [e["state"] for e in events_named(got1, "agent_state")] == ["ready", "ringing"]

    got2 = s2.get_received()
    assert events_named(got2, "screenpop") == []
    assert events_named(got2, "agent_state") == []  # nothing about agent1 either

    got_sup = ss.get_received()
    assert events_named(got_sup, "screenpop") == []
    assert [(e["agent_id"], e["state"]) for e in events_named(got_sup, "agent_state")] == [
        (agent1, "ready"), (agent1, "ringing")]

    stack.call_center.answered(call["channel_id"], agent1)
    updates = events_named(s1.get_received(), "ticket_updated")
    assert updates == [{"ticket_id": call["ticket_id"], "status": "in_progress", "agent_id": agent1}]
    assert events_named(ss.get_received(), "ticket_updated") == updates
    assert events_named(s2.get_received(), "ticket_updated") == []
    for sock in (s1, s2, ss):
        sock.disconnect()


def test_logout_disconnects_the_users_sockets(stack):
    client = logged_in(stack)
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    assert sock.is_connected()
    client.post("/logout")
    assert not sock.is_connected()


def test_notifier_close_unsubscribes(stack):
    client = logged_in(stack)
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    sock.get_received()
    close_app(stack.app)
    close_app(stack.app)  # idempotent
    place_call(stack.call_center, agent_id=stack.user_id("agent1"))
    assert sock.get_received() == []
    sock.disconnect()


def test_two_apps_in_one_process_are_independent(tmp_path):
    first = make_stack(tmp_path / "a")
    second = make_stack(tmp_path / "b")
    try:
        assert first.socketio is not second.socketio
        c1, c2 = logged_in(first), logged_in(second)
        s1 = first.socketio.test_client(first.app, flask_test_client=c1)
        s2 = second.socketio.test_client(second.app, flask_test_client=c2)
        s1.get_received(), s2.get_received()
        place_call(first.call_center, agent_id=first.user_id("agent1"))
        assert events_named(s1.get_received(), "screenpop")
        assert events_named(s2.get_received(), "screenpop") == []
    finally:
        first.close()
        second.close()


# ---- tickets -----------------------------------------------------------------------------

def test_ticket_view_shows_customer_history_and_other_tickets(stack):
    agent1 = stack.user_id("agent1")
    cid = customer_id(stack)
    old = place_call(stack.call_center, customer_id=cid, agent_id=agent1, answer=True)
    stack.call_center.resolve(old["ticket_id"], agent1, "Replaced the toner", request="Printer streaks")
    stack.call_center.call_ended(old["channel_id"])
    pending = place_call(stack.call_center, customer_id=cid)  # queued, nobody answered yet
    current = place_call(stack.call_center, customer_id=cid, agent_id=agent1, answer=True)

    client = logged_in(stack)
    response = client.get(f"/tickets/{current['ticket_id']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ["홍길동 (Hong Gildong)", "Finance", "02-555-0101", "Seoul HQ 12F", "LG Gram 16 laptop",
                 "SAP GUI", "SAP basics (2025-03)", "Kim Jiwoo"]:
        assert text in html, text
    incidents = {t: stack.ticket(x["ticket_id"]).incident_id for t, x in
                 [("old", old), ("pending", pending), ("current", current)]}
    unresolved = html.split('id="unresolved"')[1].split('id="past"')[0]
    past = html.split('id="past"')[1].split('id="history"')[0]
    assert incidents["pending"] in unresolved and incidents["old"] not in unresolved
    assert incidents["old"] in past and "Replaced the toner" in past
    history = html.split('id="history"')[1]
    kinds = re.findall(r'data-kind="([a-z_]+)"', history)
    assert kinds == ["created", "identified", "queued", "offered", "answered"]
    assert '<textarea id="request"' in html and 'id="btn-resolve"' in html


def test_unknown_ticket_is_404(stack):
    response = logged_in(stack).get("/tickets/9999")
    assert response.status_code == 404
    assert "There is no such page or ticket." in response.get_data(as_text=True)


def test_resolve_closes_the_ticket(stack):
    agent1 = stack.user_id("agent1")
    call = place_call(stack.call_center, agent_id=agent1, answer=True)
    client = logged_in(stack)
    response = client.post(f"/tickets/{call['ticket_id']}/resolve",
                           data={"request": "VPN drops every hour",
                                 "resolution": "  Updated the VPN client  "})
    assert response.status_code == 303
    ticket = stack.ticket(call["ticket_id"])
    assert ticket.status == "resolved"
    assert ticket.resolution == "Updated the VPN client" and ticket.request == "VPN drops every hour"
    assert [e.kind for e in ticket.events][-1] == "resolved"
    assert ticket.events[-1].user_id == agent1
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="ticket-status" class="status-badge" data-status="resolved"' in html
    assert "This ticket is resolved." in html and 'id="btn-resolve"' not in html
    assert f"Ticket {ticket.incident_id} is resolved." in html
    # Resolving twice is refused with a message, not a crash.
    again = client.post(f"/tickets/{call['ticket_id']}/resolve", data={"resolution": "again"})
    assert again.status_code == 409
    assert "cannot be resolved" in again.get_data(as_text=True)


@pytest.mark.parametrize("resolution,message", [
    ("   ", "Enter the resolution before closing the ticket."),
    ("x" * 10_001, "The resolution is too long (at most 10000 characters)."),
])
def test_bad_resolution_is_refused_and_keeps_the_text(stack, resolution, message):
    call = place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)
    client = logged_in(stack)
    typed = "Outlook crashes when opening attachments & <b>PDFs</b>"
    response = client.post(f"/tickets/{call['ticket_id']}/resolve",
                           data={"request": typed, "resolution": resolution})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "Outlook crashes when opening attachments &amp; &lt;b&gt;PDFs&lt;/b&gt;" in html
    assert resolution in html  # what the agent typed is still in the form
    assert stack.ticket(call["ticket_id"]).status == "in_progress"


def test_resolving_an_unanswered_ticket_is_a_conflict(stack):
    call = place_call(stack.call_center, agent_id=stack.user_id("agent1"))  # offered, not answered
    response = logged_in(stack).post(f"/tickets/{call['ticket_id']}/resolve",
                                     data={"request": "r", "resolution": "done"})
    assert response.status_code == 409
    html = response.get_data(as_text=True).replace("&#34;", '"')
    assert 'A ticket in status "Offered" cannot be resolved.' in html
    assert stack.ticket(call["ticket_id"]).status == "offered"


def test_caller_name_is_escaped_on_the_ticket_page(stack):
    call = place_call(stack.call_center, caller_name=XSS, agent_id=stack.user_id("agent1"), answer=True)
    html = logged_in(stack).get(f"/tickets/{call['ticket_id']}").get_data(as_text=True)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "unknown caller" in html


# ---- security headers, language, secret key ------------------------------------------------

def test_security_headers_and_no_inline_script(stack):
    client = logged_in(stack)
    call = place_call(stack.call_center, agent_id=stack.user_id("agent2"), answer=True)
    for path in ["/login", "/", f"/tickets/{call['ticket_id']}"]:
        response = client.get(path) if path != "/login" else stack.app.test_client().get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = response.get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
        assert "http://" not in html and "https://" not in html  # no CDN or external font


def test_language_cookie_accept_language_and_default(stack):
    client = stack.app.test_client()
    assert "비밀번호" in client.get("/login").get_data(as_text=True)  # Korean by default
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Password" in english and '<html lang="en">' in english
    response = client.get("/lang/en?next=/login")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Password" in client.get("/login", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    response = client.get("/lang/ko?next=https://evil.example/")
    assert response.headers["Location"] == "/"
    assert "비밀번호" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # Strings the JavaScript shows come translated too.
    korean = logged_in(stack, lang="ko").get("/").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', korean, re.S).group(1)
    strings = json.loads(block)
    assert strings["unknown_caller"] == "미확인 발신자"
    assert strings["states"]["ready"] == "대기"


def test_korean_catalog_is_compiled(stack):
    from agent_desktop.i18n import TRANSLATIONS
    po = TRANSLATIONS / "ko" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime


def test_secret_key_generated_once_with_mode_600(tmp_path):
    s = make_stack(tmp_path, secret_key="")
    try:
        path = tmp_path / "secret_key"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key = path.read_text().strip()
        assert len(key) >= 32 and s.app.secret_key == key
        again = create_app(s.config, s.call_center, s.sessions, s.bus)
        assert again.secret_key == key
        close_app(again)
    finally:
        s.close()


# ---- the real server: websocket upgrade, clean stop ---------------------------------------

def test_web_server_upgrades_to_websocket_and_stops_cleanly(stack):
    import requests
    import socketio as sio_client

    before = set(threading.enumerate())
    with running_server(stack.app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        http = requests.Session()
        page = http.get(server.url + "/login", timeout=5)
        assert page.status_code == 200
        response = http.post(server.url + "/login", timeout=5, allow_redirects=False,
                             data={"username": "agent1", "password": stack.passwords["agent1"]})
        assert response.status_code == 302
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

        # Socket.IO from another site's page (cross-site websocket hijacking) is refused.
        foreign = http.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5,
                           headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 400
        assert http.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5,
                        headers={"Origin": server.url}).status_code == 200

        refused = sio_client.Client(reconnection=False)
        with pytest.raises(sio_client.exceptions.ConnectionError):
            refused.connect(server.url, wait_timeout=5)

        received = []
        got_pop = threading.Event()
        client = sio_client.Client(reconnection=False)
        client.on("screenpop", lambda data: (received.append(data), got_pop.set()))
        # Default transports: long-polling first, then the upgrade to websocket.
        client.connect(server.url, headers={"Cookie": cookie}, wait_timeout=5)
        assert client.transport() == "websocket"
        call = place_call(stack.call_center, agent_id=stack.user_id("agent1"))
        assert got_pop.wait(5)
        assert received[0]["ticket_id"] == call["ticket_id"]
        # Still connected when the server stops: stop() must end the connection itself.
    assert not server.running
    client.disconnect()
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert leftover == []


def test_web_server_refuses_a_busy_port(stack):
    with running_server(stack.app) as server:
        other = WebServer(stack.app, "127.0.0.1", server.port)
        with pytest.raises(OSError):
            other.start()


# ---- customer sensitivity (docs/sensitivity.md) ------------------------------------------------

SCRIPT = "<script>window.__xss=1</script>"


def sens_service(stack):
    return stack.sensitivity


def csrf_token_of(client, path="/"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def test_code_table_json_and_search(stack):
    client = logged_in(stack)
    codes = client.get("/sensitivity/codes").get_json()["codes"]
    assert len(codes) == 35 and codes[0]["code"] == "P01" and codes[-1]["code"] == "N15"
    n01 = next(c for c in codes if c["code"] == "N01")
    assert n01["label"] == "Was not visited at the requested time"  # the page language (en)
    assert n01["knack_primary"] == "I am very sorry we could not visit you at the time you desired."
    assert n01["technician_primary"] == "I am very sorry I could not visit you at the time you desired."
    found = client.get("/sensitivity/codes?q=방문").get_json()["codes"]
    assert [c["code"] for c in found] == ["P01", "E01", "E12", "E14", "N01"]
    korean = logged_in(stack, lang="ko").get("/sensitivity/codes?q=n01").get_json()["codes"]
    assert korean[0]["label"] == "요청한 시간에 방문 받지 못함"


def test_sensitivity_routes_need_the_permission(stack):
    call = place_call(stack.call_center, customer_id=customer_id(stack), agent_id=stack.user_id("agent1"),
                      answer=True)
    sens_service(stack).record_analysis(call["ticket_id"], status="ok", transcript="t",
                                        suggestions=[{"code": "N02", "score": 0.8, "evidence": {}}])
    suggestion = sens_service(stack).ticket_analysis(call["ticket_id"])["suggestions"][0]["id"]
    anonymous = stack.app.test_client()
    assert anonymous.get("/sensitivity/codes", headers={"Accept": "application/json"}).status_code == 401
    response = anonymous.post(f"/tickets/{call['ticket_id']}/sensitivity", json={"codes": ["N01"]})
    assert response.status_code == 401
    trainee = logged_in(stack, "trainee1")
    for method, path, body in [
        ("get", "/sensitivity/codes", None),
        ("get", f"/tickets/{call['ticket_id']}/sensitivity", None),
        ("post", f"/tickets/{call['ticket_id']}/sensitivity", {"codes": ["N01"]}),
        ("post", f"/sensitivity/suggestions/{suggestion}", {"accept": True}),
        ("get", "/consultations/", None),
        ("get", f"/consultations/new?customer_id={customer_id(stack)}", None),
        ("get", "/sensitivity/admin/", None),
        ("get", "/sensitivity/admin/N01", None),
    ]:
        response = getattr(trainee, method)(path, json=body) if body else getattr(trainee, method)(path)
        assert response.status_code == 403, path
    assert sens_service(stack).ticket_codes(call["ticket_id"]) == []
    # The admin pages are for admins only.
    for username in ("agent1", "super"):
        client = logged_in(stack, username)
        assert client.get("/sensitivity/admin/").status_code == 403
        assert client.post("/sensitivity/admin/N01", data={"label_en": "x"}).status_code == 403
        assert client.get("/consultations/").status_code == 200


def test_save_codes_on_a_ticket(stack):
    call = place_call(stack.call_center, customer_id=customer_id(stack), agent_id=stack.user_id("agent1"),
                      answer=True)
    client = logged_in(stack)
    url = f"/tickets/{call['ticket_id']}/sensitivity"
    response = client.post(url, json={"codes": ["N01", "E07", "P03"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["added"] == ["P03", "E07", "N01"] and body["already"] == []
    assert [c["code"] for c in body["codes"]] == ["P03", "E07", "N01"]
    assert body["codes"][2]["knack_primary"].startswith("I am very sorry")
    assert body["codes"][2]["recorded_by_name"] == "Kim Jiwoo"
    again = client.post(url, json={"codes": ["N01", "N08"]}).get_json()
    assert again["added"] == ["N08"] and again["already"] == ["N01"]

    for codes, message in [(["N01", "N01"], "Each code can be selected once: N01."),
                           (["N99", "x<b>"], "Unknown sensitivity code: N99, X<B>."),
                           ([], "Select at least one code."), ("N02", None),
                           (42, "Select at least one code.")]:
        response = client.post(url, json={"codes": codes})
        if message is None:
            assert response.status_code == 200
            continue
        assert response.status_code == 400, codes
        assert response.get_json()["error"] == message
    assert client.post("/tickets/9999/sensitivity", json={"codes": ["N01"]}).status_code == 404
    view = client.get(url).get_json()
    assert [c["code"] for c in view["codes"]] == ["P03", "E07", "N01", "N02", "N08"]
    assert [h["code"] for h in view["history"]][:2] in (["N02", "N08"], ["N08", "N02"])

    # Without JavaScript: a form post and a redirect back to the ticket.
    response = client.post(url, data={"codes": ["E12", "P01"]})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/tickets/{call['ticket_id']}#sensitivity")
    assert "Saved: P01, E12" in client.get(f"/tickets/{call['ticket_id']}").get_data(as_text=True)


def test_ticket_screen_shows_codes_history_and_suggestions_to_permitted_roles(stack):
    agent1 = stack.user_id("agent1")
    hong = customer_id(stack)
    old = place_call(stack.call_center, customer_id=hong, agent_id=agent1, answer=True)
    sens_service(stack).record_codes(ticket_id=old["ticket_id"], codes=["N02"], user_id=agent1)
    stack.call_center.call_ended(old["channel_id"])
    call = place_call(stack.call_center, customer_id=hong, agent_id=agent1, answer=True)
    sens_service(stack).record_analysis(
        call["ticket_id"], status="ok", transcript=f"printer broken again {SCRIPT}",
        suggestions=[{"code": "N08", "score": 0.66,
                      "evidence": {"words": [{"word": SCRIPT, "start": 0.5, "end": 0.9}],
                                   "pitch": {"mean_hz": 231.4}, "note": "<b>loud</b>"}}])
    for username in ("agent1", "super"):
        html = logged_in(stack, username).get(f"/tickets/{call['ticket_id']}").get_data(as_text=True)
        history = html.split('id="sensitivity-history"')[1].split("</table>")[0]
        assert 'data-code="N02"' in history and "Has the same trouble again" in history
        assert stack.ticket(old["ticket_id"]).incident_id in history
        analysis = html.split('id="analysis"')[1]
        assert 'data-code="N08"' in analysis and "66%" in analysis and "Pitch mean (Hz): 231.4" in analysis
        assert 'data-decision="accept"' in analysis and 'id="code-picker"' in html
        # The transcript and the evidence are attacker-controlled: escaped everywhere.
        assert SCRIPT not in html and "<b>loud</b>" not in html
        assert "printer broken again &lt;script&gt;window.__xss=1&lt;/script&gt;" in html
        table = json.loads(re.search(r'<script type="application/json" id="sensitivity-table">(.*?)</script>',
                                     html, re.S).group(1))
        assert len(table) == 35


def test_trainee_ticket_screen_has_no_codes(stack):
    agent1 = stack.user_id("agent1")
    call = place_call(stack.call_center, customer_id=customer_id(stack), agent_id=agent1, answer=True)
    sens_service(stack).record_codes(ticket_id=call["ticket_id"], codes=["N02"], user_id=agent1)
    sens_service(stack).record_analysis(call["ticket_id"], status="failed", reason="model missing")
    response = logged_in(stack, "trainee1").get(f"/tickets/{call['ticket_id']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "홍길동" in html  # the ticket itself is visible
    for secret in ('id="sensitivity"', "sensitivity-table", "N02", "Has the same trouble again",
                   "model missing", 'id="code-picker"', "nav-consultations"):
        assert secret not in html, secret
    desktop = logged_in(stack, "trainee1").get("/").get_data(as_text=True)
    assert 'id="codes-panel"' not in desktop and "sensitivity-table" not in desktop


def test_decide_a_suggestion(stack):
    agent1 = stack.user_id("agent1")
    hong = customer_id(stack)
    call = place_call(stack.call_center, customer_id=hong, agent_id=agent1, answer=True)
    sens_service(stack).record_analysis(call["ticket_id"], status="ok", transcript="t", suggestions=[
        {"code": "N02", "score": 0.8, "evidence": {}}, {"code": "N08", "score": 0.4, "evidence": {}}])
    n02, n08 = sens_service(stack).ticket_analysis(call["ticket_id"])["suggestions"]
    client = logged_in(stack)
    response = client.post(f"/sensitivity/suggestions/{n02['id']}", json={"accept": True})
    assert response.status_code == 200
    body = response.get_json()
    assert body["suggestion"]["status"] == "accepted" and body["suggestion"]["decided_by_name"] == "Kim Jiwoo"
    assert [(c["code"], c["source"]) for c in body["codes"]] == [("N02", "asr")]
    assert client.post(f"/sensitivity/suggestions/{n02['id']}", json={"accept": True}).status_code == 200
    assert client.post(f"/sensitivity/suggestions/{n02['id']}", json={"accept": False}).status_code == 409
    assert client.post(f"/sensitivity/suggestions/{n08['id']}", json={"accept": "yes"}).status_code == 400
    assert client.post("/sensitivity/suggestions/9999", json={"accept": True}).status_code == 404
    # The form of the ticket screen (no JavaScript).
    response = client.post(f"/sensitivity/suggestions/{n08['id']}",
                           data={"decision": "reject", "ticket_id": str(call["ticket_id"])})
    assert response.status_code == 303 and response.headers["Location"].endswith("#analysis")
    analysis = sens_service(stack).ticket_analysis(call["ticket_id"])
    statuses = {s["code"]: s["status"] for s in analysis["suggestions"]}
    assert statuses == {"N02": "accepted", "N08": "rejected"}
    profile = sens_service(stack).customer_profile(hong)
    assert [(h["code"], h["source"]) for h in profile["history"]] == [("N02", "asr")]


def test_sensitivity_posts_need_the_csrf_token(csrf_stack):
    stack = csrf_stack
    call = place_call(stack.call_center, customer_id=customer_id(stack), agent_id=stack.user_id("agent1"),
                      answer=True)
    sens_service(stack).record_analysis(call["ticket_id"], status="ok",
                                        suggestions=[{"code": "N02", "score": 0.8}])
    suggestion = sens_service(stack).ticket_analysis(call["ticket_id"])["suggestions"][0]["id"]
    client = stack.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "agent1", "password": stack.passwords["agent1"],
                                "csrf_token": token})
    url = f"/tickets/{call['ticket_id']}/sensitivity"
    assert client.post(url, json={"codes": ["N01"]}).status_code == 400
    assert client.post(f"/sensitivity/suggestions/{suggestion}", json={"accept": True}).status_code == 400
    assert client.post(url, data={"codes": ["N01"]}).status_code == 400
    assert sens_service(stack).ticket_codes(call["ticket_id"]) == []
    token = csrf_token_of(client)
    assert client.post(url, json={"codes": ["N01"]}, headers={"X-CSRFToken": token}).status_code == 200
    assert client.post(f"/sensitivity/suggestions/{suggestion}", json={"accept": True},
                       headers={"X-CSRFToken": token}).status_code == 200
    assert [c["code"] for c in sens_service(stack).ticket_codes(call["ticket_id"])] == ["N01", "N02"]


def test_admin_edits_codes_as_versions(stack):
    admin = logged_in(stack, "admin")
    page = admin.get("/sensitivity/admin/").get_data(as_text=True)
    assert page.count("<tr data-code=") == 35 and 'href="/sensitivity/admin/N01"' in page
    form = admin.get("/sensitivity/admin/N01").get_data(as_text=True)
    assert 'name="base_version" value="1"' in form and 'id="versions"' in form
    current = sens_service(stack).code("N01")
    fields = {"label_ko": current["label_ko"], "label_en": "Missed the agreed visit <time>",
              "base_version": "1", "note": "clearer"}
    for audience, parts in current["knacks"].items():
        for key, value in parts.items():
            fields[f"{audience}_{key}"] = value
    response = admin.post("/sensitivity/admin/N01", data=fields)
    assert response.status_code == 303
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "N01 saved as version 2." in html
    assert 'data-version="2"' in html and 'data-version="1"' in html
    assert "Missed the agreed visit &lt;time&gt;" in html and "Was not visited at the requested time" in html
    # The same form again (base version 1 is old now): a conflict, nothing saved.
    response = admin.post("/sensitivity/admin/N01", data=dict(fields, label_en="Another text"))
    assert response.status_code == 409
    assert "Someone else changed this code meanwhile" in response.get_data(as_text=True)
    response = admin.post("/sensitivity/admin/N01",
                          data=dict(fields, base_version="2", technician_primary_en=" "))
    assert response.status_code == 400
    assert "Technician: words and behaviour (English) must not be empty." in response.get_data(as_text=True)
    response = admin.post("/sensitivity/admin/N01", data=dict(fields, base_version="2"))
    assert response.status_code == 303
    page = admin.get("/sensitivity/admin/N01").get_data(as_text=True)
    assert "Nothing changed: N01 stays at version 2." in page
    assert sens_service(stack).code("N01")["version"] == 2
    assert admin.get("/sensitivity/admin/Z99").status_code == 404


def test_consultation_pages(stack):
    client = logged_in(stack)
    results = client.get("/consultations/?q=100200").get_data(as_text=True)
    choi = customer_id(stack, "100200")
    assert f'href="/consultations/new?customer_id={choi}"' in results and "Choi Yuna" in results
    assert "Choi Yuna" in client.get("/consultations/?q=choi").get_data(as_text=True)
    assert "No customer matches." in client.get("/consultations/?q=nobody%25").get_data(as_text=True)
    form = client.get(f"/consultations/new?customer_id={choi}").get_data(as_text=True)
    assert 'id="code-picker"' in form and "No codes recorded for this customer yet." in form

    response = client.post("/consultations/", data={"customer_id": str(choi), "notes": "",
                                                     "codes": []})
    assert response.status_code == 400
    assert "Write what was discussed or select codes." in response.get_data(as_text=True)
    response = client.post("/consultations/", data={"customer_id": str(choi), "notes": "typed <b>text</b>",
                                                     "codes": ["E10", "Q77"]})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Unknown sensitivity code: Q77." in html and "typed &lt;b&gt;text&lt;/b&gt;" in html
    assert re.search(r'value="E10" checked', html)  # the selection is kept

    response = client.post("/consultations/", data={"customer_id": str(choi),
                                                     "notes": "Asked about <b>warranty</b>",
                                                     "codes": ["E10", "P05"]})
    assert response.status_code == 303
    view = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The consultation is recorded." in view
    assert "Asked about &lt;b&gt;warranty&lt;/b&gt;" in view
    codes = view.split('id="consultation-codes"')[1].split("</ol>")[0]
    assert re.findall(r'data-code="([A-Z0-9]+)"', codes) == ["P05", "E10"]
    assert "Asks about the warranty period" in codes
    # The next form for this customer shows these codes as the last ones.
    form = client.get(f"/consultations/new?customer_id={choi}").get_data(as_text=True)
    last = form.split('id="last-codes"')[1].split("</ol>")[0]
    assert re.findall(r'data-code="([A-Z0-9]+)"', last) == ["P05", "E10"]
    assert client.get("/consultations/9999").status_code == 404
    assert client.get("/consultations/new?customer_id=9999").status_code == 404


def test_sensitivity_pages_have_no_inline_script_and_korean_labels(stack):
    call = place_call(stack.call_center, customer_id=customer_id(stack), agent_id=stack.user_id("agent1"),
                      answer=True)
    admin = logged_in(stack, "admin", lang="ko")
    for path in ["/", f"/tickets/{call['ticket_id']}", "/consultations/?q=100100",
                 f"/consultations/new?customer_id={customer_id(stack)}", "/sensitivity/admin/",
                 "/sensitivity/admin/N01"]:
        response = admin.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\son[a-z]+=", html), path
        assert "http://" not in html and "https://" not in html
    desktop = admin.get("/").get_data(as_text=True)
    assert "요청한 시간에 방문 받지 못함" in desktop and "부정" in desktop
    strings = json.loads(re.search(r'<script type="application/json" id="sensitivity-strings">(.*?)</script>',
                                   desktop, re.S).group(1))
    assert strings["lang"] == "ko" and strings["accept"] == "수락"
    assert strings["analysis_unavailable"] == "음성 분석 불가: {reason}"
