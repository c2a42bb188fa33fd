"""The floor on the desktop without a browser: not-ready reasons, wrap-up, queue
log-in, the abandoned-call list with one-click callbacks, and the supervisor's
live calls (listen / whisper / barge, move) and agent-state changes."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select, update

from agent_desktop import close_app, create_app
from cti import callbacks as cb
from cti import supervision
from db.models import Callback, Queue, User
from support.client_fixtures import stack, csrf_stack  # noqa: F401 - pytest fixtures
from support.desktop import abandon_call, logged_in, login, make_stack, place_call

XSS = "<img src=x onerror=alert(1)>"


def published(stack, *topics):
    """Collect what is published on ``topics`` (list of (topic, payload))."""
    seen = []
    for topic in topics:
        stack.bus.subscribe(topic, lambda t, p: seen.append((t, p)))
    return seen


def events_named(received, name):
    return [m["args"][0] for m in received if m["name"] == name]


def queue_state(stack, username="agent1"):
    return {q["name"]: q["logged_in"] for q in stack.acd.agent_queues(stack.user_id(username))}


def user_row(stack, username):
    with stack.sessions() as s:
        return s.scalar(select(User).where(User.username == username))


def callback_status(stack, callback_id):
    with stack.sessions() as s:
        return s.get(Callback, callback_id).status


def json_block(html, block_id="i18n"):
    return json.loads(re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html,
                                re.S).group(1))


JSON = {"Accept": "application/json"}
REASON_MESSAGE = "Choose one of the listed reasons for not being ready."


# ---- who may do what ------------------------------------------------------------------------

def test_floor_apis_need_a_login(stack):
    anonymous = stack.app.test_client()
    for path in ("/agent/queues", "/callbacks", "/supervisor/calls"):
        response = anonymous.get(path, headers=JSON)
        assert response.status_code == 401, path
        assert "error" in response.get_json()
    for path, body in [("/agent/queues", {"queues": []}), ("/callbacks/1/call", {}),
                       ("/supervisor/calls/monitor", {"channel_id": "x", "mode": "listen"}),
                       ("/supervisor/agents/1/state", {"state": "ready"})]:
        assert anonymous.post(path, json=body).status_code == 401, path


def test_agents_cannot_use_the_supervisor_apis(stack):
    agent1, agent2 = stack.user_id("agent1"), stack.user_id("agent2")
    talking = place_call(stack.call_center, agent_id=agent2, answer=True)
    waiting = place_call(stack.call_center)
    seen = published(stack, supervision.MONITOR_REQUESTED, supervision.MOVE_REQUESTED)
    for username in ("agent1", "trainee1"):
        client = logged_in(stack, username)
        assert client.get("/supervisor/calls", headers=JSON).status_code == 403
        for path, body in [
            ("/supervisor/calls/monitor", {"channel_id": talking["channel_id"], "mode": "listen"}),
            ("/supervisor/calls/move", {"channel_id": waiting["channel_id"], "queue": "pc"}),
            (f"/supervisor/agents/{agent2}/state", {"state": "logged_out"}),
            (f"/supervisor/agents/{agent1}/state", {"state": "ready"}),
        ]:
            response = client.post(path, json=body)
            assert response.status_code == 403, (username, path)
            assert response.get_json()["error"] == "Your role does not give access to this page."
        # No state changer, live calls or supervisor script leaks into their pages.
        assert client.get("/supervisor/").status_code == 403
    assert seen == []
    assert stack.user_state("agent2") == "talking" and stack.user_state("agent1") == "logged_out"


def test_the_service_checks_the_role_too(stack):
    """Even past the desktop's check, SupervisorService refuses non-supervisors."""
    with pytest.raises(supervision.NotAllowed):
        stack.supervision.set_agent_state(stack.user_id("agent1"), stack.user_id("agent2"), "ready")


def test_trainees_do_not_get_the_abandoned_list(stack):
    call = abandon_call(stack)
    trainee = logged_in(stack, "trainee1")
    assert trainee.get("/callbacks", headers=JSON).status_code == 403
    assert trainee.post(f"/callbacks/{call['callback_id']}/call", json={}).status_code == 403
    assert 'id="callbacks-panel"' not in trainee.get("/").get_data(as_text=True)
    # Removing an entry is for supervisors and admins.
    agent = logged_in(stack, "agent1")
    assert agent.post(f"/callbacks/{call['callback_id']}/cancel", json={}).status_code == 403
    assert callback_status(stack, call["callback_id"]) == "open"


def test_without_the_floor_services_the_apis_answer_503(tmp_path):
    bare = make_stack(tmp_path, floor=False)
    try:
        agent = logged_in(bare, "agent1")
        response = agent.get("/agent/queues", headers=JSON)
        assert response.status_code == 503
        assert response.get_json()["error"] == \
            "Queue log-in is not available: the server runs without the ACD service."
        assert agent.post("/agent/queues", json={"queues": []}).status_code == 503
        response = agent.get("/callbacks", headers=JSON)
        assert response.status_code == 503 and "callback service" in response.get_json()["error"]
        assert agent.post("/callbacks/1/call", json={}).status_code == 503
        page = agent.get("/").get_data(as_text=True)
        assert 'id="queues-panel"' not in page and 'id="callbacks-panel"' not in page
        assert 'id="not-ready-reason"' in page  # reasons need no floor service
        sup = logged_in(bare, "super")
        response = sup.get("/supervisor/calls", headers=JSON)
        assert response.status_code == 503 and "supervision service" in response.get_json()["error"]
        response = sup.post("/supervisor/calls/monitor", json={"channel_id": "x", "mode": "listen"})
        assert response.status_code == 503
        assert sup.post(f"/supervisor/agents/{bare.user_id('agent1')}/state",
                        json={"state": "ready"}).status_code == 503
        html = sup.get("/supervisor/").get_data(as_text=True)
        assert 'id="calls-unavailable"' in html and "btn-set-state" not in html
        assert bare.user_state("agent1") == "logged_out"
    finally:
        bare.close()


# ---- not-ready reasons and the agent's state ----------------------------------------------------

def test_not_ready_reason_is_stored_and_shown(stack):
    client = logged_in(stack)
    response = client.post("/agent/state", json={"state": "not_ready", "reason": "lunch"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["state"], body["reason"], body["reason_label"], body["label"]) == \
        ("not_ready", "lunch", "Lunch", "Not ready")
    assert body["until"] is None and body["remaining_seconds"] is None
    row = user_row(stack, "agent1")
    assert (row.state, row.state_reason) == ("not_ready", "lunch")
    assert client.get("/agent/state").get_json()["reason_label"] == "Lunch"
    # Another reason while not ready: applied at once.
    assert client.post("/agent/state", json={"state": "not_ready", "reason": "meeting"}).status_code == 200
    assert user_row(stack, "agent1").state_reason == "meeting"
    # No reason: the service's default, "other".
    assert client.post("/agent/state", json={"state": "not_ready"}).get_json()["reason"] == "other"
    # A reason sent along with Ready is ignored; Ready carries none.
    response = client.post("/agent/state", json={"state": "ready", "reason": "break"})
    assert response.status_code == 200 and response.get_json()["reason"] == ""


def test_reason_selector_offers_the_agent_codes_in_both_languages(stack):
    html = logged_in(stack).get("/").get_data(as_text=True)
    select_html = html.split('id="not-ready-reason"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([a-z_]+)"', select_html) == ["break", "lunch", "meeting", "training",
                                                                    "other"]
    assert ">Lunch<" in select_html and "missed_call" not in select_html  # the system's codes are not offered
    assert re.search(r'<option value="other" selected>', select_html)
    strings = json_block(html)
    assert strings["reasons"]["missed_call"] == "Missed call"  # shown when the system sets it
    korean = logged_in(stack, lang="ko").get("/").get_data(as_text=True)
    assert ">식사<" in korean and "이석 사유" in korean
    assert json_block(korean)["reasons"]["lunch"] == "식사"


@pytest.mark.parametrize("body,kwargs", [
    ({"state": "not_ready", "reason": "coffee"}, {}),
    ({"state": "not_ready", "reason": "missed_call"}, {}),       # the system's code
    ({"state": "not_ready", "reason": ["break"]}, {}),
    (None, {"data": "{not json", "content_type": "application/json"}),
    (None, {"data": "[1, 2]", "content_type": "application/json"}),
    ({"state": "wrap_up"}, {}),
])
def test_bad_state_requests_are_400_and_change_nothing(stack, body, kwargs):
    client = logged_in(stack)
    assert client.post("/agent/state", json={"state": "not_ready", "reason": "break"}).status_code == 200
    response = client.post("/agent/state", json=body) if body is not None else client.post("/agent/state",
                                                                                          **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("Choose one of the listed reasons for not being ready.",
                                            "The request must be a JSON object.", "Unknown state requested.")
    row = user_row(stack, "agent1")
    assert (row.state, row.state_reason) == ("not_ready", "break")


def test_the_state_survives_a_new_session_and_a_new_app(stack):
    """Restarting the desktop (new browser session) or the server keeps the state:
    it lives in the database."""
    client = logged_in(stack)
    client.post("/agent/state", json={"state": "not_ready", "reason": "training"})
    fresh = logged_in(stack)
    page = fresh.get("/").get_data(as_text=True)
    assert 'data-state="not_ready"' in page and 'data-reason="training"' in page
    assert ">Training</span>" in page
    assert re.search(r'<option value="training" selected>', page)
    again = create_app(stack.config, stack.call_center, stack.sessions, stack.bus, acd_service=stack.acd)
    try:
        other = again.test_client()
        other.set_cookie("lang", "en")
        login(other, "agent1", stack.passwords["agent1"])
        body = other.get("/agent/state").get_json()
        assert (body["state"], body["reason"], body["reason_label"]) == ("not_ready", "training", "Training")
    finally:
        close_app(again)


def test_wrap_up_is_shown_with_its_countdown(stack):
    with stack.sessions.begin() as s:
        s.execute(update(Queue).where(Queue.name == "helpdesk").values(wrap_up_seconds=30))
    agent1 = stack.user_id("agent1")
    client = logged_in(stack)
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    call = place_call(stack.call_center, agent_id=agent1, answer=True)
    sock.get_received()
    stack.call_center.call_ended(call["channel_id"])
    (event,) = [e for e in events_named(sock.get_received(), "agent_state") if e["state"] == "wrap_up"]
    assert 25 < event["remaining_seconds"] <= 30 and event["until"].endswith("Z")
    body = client.get("/agent/state").get_json()
    assert body["state"] == "wrap_up" and body["label"] == "Wrap-up"
    assert 25 < body["remaining_seconds"] <= 30 and body["until"] == event["until"]
    assert user_row(stack, "agent1").state_until is not None
    page = client.get("/").get_data(as_text=True)
    remaining = float(re.search(r'id="agent-state-timer" class="state-timer" data-remaining="([0-9.]+)"',
                                page).group(1))
    assert 25 < remaining <= 30
    # A reconnecting desktop gets the countdown too.
    sock.disconnect()
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    (hello,) = events_named(sock.get_received(), "agent_state")
    assert hello["state"] == "wrap_up" and 25 < hello["remaining_seconds"] <= 30
    # The agent may end it early.
    assert client.post("/agent/state", json={"state": "ready"}).get_json()["remaining_seconds"] is None
    sock.disconnect()


# ---- queue log-in ----------------------------------------------------------------------------------

def test_queue_login(stack):
    client = logged_in(stack)
    queues = client.get("/agent/queues").get_json()["queues"]
    assert [(q["name"], q["title"], q["logged_in"]) for q in queues] == [
        ("helpdesk", "Help desk", True), ("pc", "PC and laptops", True),
        ("apps", "Business applications", True), ("office", "Office software", True)]
    seen = published(stack, "agent.state")
    response = client.post("/agent/queues", json={"queues": ["helpdesk", "pc"]})
    assert response.status_code == 200
    assert {q["name"]: q["logged_in"] for q in response.get_json()["queues"]} == \
        {"helpdesk": True, "pc": True, "apps": False, "office": False}
    assert queue_state(stack) == {"helpdesk": True, "pc": True, "apps": False, "office": False}
    assert seen and seen[-1][1]["queues"] == ["helpdesk", "pc"]  # the ACD looks again
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'value="pc" data-queue="pc" checked', page)
    assert re.search(r'value="apps" data-queue="apps">', page)
    korean = logged_in(stack, lang="ko").get("/agent/queues").get_json()["queues"]
    assert korean[1]["title"] == "PC·노트북"
    assert client.post("/agent/queues", json={"queues": []}).status_code == 200
    assert set(queue_state(stack).values()) == {False}


@pytest.mark.parametrize("kwargs,message", [
    ({"json": {"queues": ["helpdesk", "lan"]}}, "You are not a member of these queues: lan."),
    ({"json": {"queues": ["helpdesk", XSS]}}, f"You are not a member of these queues: {XSS}."),
    ({"json": {"queues": "helpdesk"}}, "Send the queues to log in to as a list of queue names."),
    ({"json": {"queues": [1, 2]}}, "Send the queues to log in to as a list of queue names."),
    ({"json": {}}, "Send the queues to log in to as a list of queue names."),
    ({"data": "{\"queues\": [", "content_type": "application/json"}, "The request must be a JSON object."),
    ({"data": {"queues": "pc"}}, "The request must be a JSON object."),
])
def test_bad_queue_login_is_400_and_changes_nothing(stack, kwargs, message):
    client = logged_in(stack)
    before = queue_state(stack)
    response = client.post("/agent/queues", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"] == message
    assert queue_state(stack) == before


def test_supervisor_without_queues_has_an_empty_list(stack):
    client = logged_in(stack, "super")
    assert client.get("/agent/queues").get_json() == {"queues": []}
    assert "You are not a member of any queue." in client.get("/").get_data(as_text=True)
    assert client.post("/agent/queues", json={"queues": ["pc"]}).status_code == 400


# ---- abandoned calls and callbacks --------------------------------------------------------------

def test_abandoned_list_returns_hostile_names_as_data(stack):
    call = abandon_call(stack, caller_name=XSS, number="0312345678")
    client = logged_in(stack)
    response = client.get("/callbacks", headers=JSON)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    (entry,) = response.get_json()["callbacks"]
    assert entry["id"] == call["callback_id"] and entry["caller_name"] == XSS
    assert (entry["number"], entry["kind"], entry["status"], entry["queue"], entry["queue_label"]) == \
        ("0312345678", "abandoned", "open", "helpdesk", "Help desk")
    assert entry["dialable"] is True and entry["incident_id"].startswith("INC-")
    # The page never carries it in HTML: the list is drawn by the script from this JSON.
    assert XSS not in client.get("/").get_data(as_text=True)


def test_call_back_asks_the_service_and_answers_202(stack):
    call = abandon_call(stack, caller_name=XSS)
    agent1 = stack.user_id("agent1")
    seen = published(stack, cb.PLACE_REQUESTED)
    client = logged_in(stack)
    url = f"/callbacks/{call['callback_id']}/call"
    # Logged out: the phone could not take the callback.
    response = client.post(url, json={})
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "You cannot call back while your state is Logged out. Go Ready or Not ready first.",
        "state": "logged_out"}
    assert seen == []
    client.post("/agent/state", json={"state": "not_ready", "reason": "other"})
    response = client.post(url, json={})
    assert response.status_code == 202
    assert response.get_json()["status"] == "requested"
    assert seen == [(cb.PLACE_REQUESTED, {"callback_id": call["callback_id"], "agent_id": agent1})]
    assert callback_status(stack, call["callback_id"]) == "open"  # the telephony side starts it


def test_call_back_conflicts_are_409_with_a_message(stack):
    seen = published(stack, cb.PLACE_REQUESTED)
    client = logged_in(stack)
    client.post("/agent/state", json={"state": "ready"})
    agent2 = stack.user_id("agent2")

    dialing = abandon_call(stack)
    stack.callbacks.start(dialing["callback_id"], agent2)
    cancelled = abandon_call(stack)
    stack.callbacks.cancel(cancelled["callback_id"])
    reached = abandon_call(stack)
    stack.callbacks.start(reached["callback_id"], agent2)
    stack.callbacks.finish(reached["callback_id"], "reached")
    hostile_number = abandon_call(stack, number="<script>")

    for call, status, message in [
        (dialing, "dialing", "This customer is being called back already."),
        (cancelled, "cancelled", "This entry was removed from the list."),
        (reached, "done", "This customer was reached already."),
        (hostile_number, "open", "There is no number that can be dialled for this entry."),
    ]:
        response = client.post(f"/callbacks/{call['callback_id']}/call", json={})
        assert response.status_code == 409, status
        assert response.get_json() == {"error": message, "status": status}
    response = client.post("/callbacks/9999/call", json={})
    assert response.status_code == 404
    assert response.get_json()["error"] == "There is no such entry on the abandoned-call list."
    # An admin has no phone to call from.
    admin = logged_in(stack, "admin")
    fine = abandon_call(stack)
    response = admin.post(f"/callbacks/{fine['callback_id']}/call", json={})
    assert response.status_code == 409
    assert response.get_json()["error"] == "You have no phone to call back from."
    assert seen == []
    # Korean messages.
    korean = logged_in(stack, lang="ko")
    response = korean.post(f"/callbacks/{cancelled['callback_id']}/call", json={})
    assert response.get_json()["error"] == "이 항목은 목록에서 삭제되었습니다."


def test_supervisor_removes_an_entry(stack):
    call = abandon_call(stack)
    busy = abandon_call(stack)
    stack.callbacks.start(busy["callback_id"], stack.user_id("agent1"))
    sup = logged_in(stack, "super")
    assert [e["id"] for e in sup.get("/callbacks", headers=JSON).get_json()["callbacks"]] == \
        [call["callback_id"], busy["callback_id"]]
    response = sup.post(f"/callbacks/{call['callback_id']}/cancel", json={})
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert callback_status(stack, call["callback_id"]) == "cancelled"
    assert sup.post(f"/callbacks/{call['callback_id']}/cancel", json={}).status_code == 200  # idempotent
    response = sup.post(f"/callbacks/{busy['callback_id']}/cancel", json={})
    assert response.status_code == 409
    assert response.get_json()["error"] == "This customer is being called back already."
    assert callback_status(stack, busy["callback_id"]) == "dialing"
    listed = sup.get("/callbacks", headers=JSON).get_json()["callbacks"]
    assert [e["id"] for e in listed] == [busy["callback_id"]]
    assert sup.post("/callbacks/9999/cancel", json={}).status_code == 404


def test_list_changes_reach_agents_and_supervisors_only(stack):
    sockets = {}
    for username in ("agent1", "super", "trainee1"):
        client = logged_in(stack, username)
        sockets[username] = stack.socketio.test_client(stack.app, flask_test_client=client)
        sockets[username].get_received()
    call = abandon_call(stack, caller_name=XSS)
    for username in ("agent1", "super"):
        changes = events_named(sockets[username].get_received(), "callbacks_changed")
        assert changes == [{"callback_id": None, "status": "open"}], username
    assert events_named(sockets["trainee1"].get_received(), "callbacks_changed") == []
    stack.callbacks.cancel(call["callback_id"])
    for username in ("agent1", "super"):
        assert events_named(sockets[username].get_received(), "callbacks_changed") == [
            {"callback_id": call["callback_id"], "status": "cancelled"}]
    assert sockets["trainee1"].get_received() == []
    # Live calls: supervisors only.
    place_call(stack.call_center)
    assert events_named(sockets["super"].get_received(), "call_updated")
    assert events_named(sockets["agent1"].get_received(), "call_updated") == []
    for sock in sockets.values():
        sock.disconnect()


# ---- the supervisor's live calls ----------------------------------------------------------------

def test_live_calls_and_monitoring(stack):
    agent1 = stack.user_id("agent1")
    talking = place_call(stack.call_center, caller_name=XSS, number="0311112222", agent_id=agent1,
                         answer=True)
    waiting = place_call(stack.call_center, caller_name="Waiting caller", queue="pc")
    seen = published(stack, supervision.MONITOR_REQUESTED)
    sup = logged_in(stack, "super")
    body = sup.get("/supervisor/calls", headers=JSON).get_json()
    calls = {c["channel_id"]: c for c in body["calls"]}
    assert calls[talking["channel_id"]]["outcome"] == "talking"
    assert calls[talking["channel_id"]]["caller_name"] == XSS
    assert calls[talking["channel_id"]]["agent"] == "Kim Jiwoo"
    assert calls[waiting["channel_id"]]["outcome"] == "queued"
    assert calls[waiting["channel_id"]]["queue_label"] == "PC and laptops"
    assert [q["name"] for q in body["queues"]] == ["helpdesk", "pc", "lan", "apps", "office"]
    assert body["server_time"].endswith("Z")

    for mode in ("listen", "whisper", "barge"):
        response = sup.post("/supervisor/calls/monitor",
                            json={"channel_id": talking["channel_id"], "mode": mode})
        assert response.status_code == 202, mode
    super_id = stack.user_id("super")
    assert seen == [(supervision.MONITOR_REQUESTED, {"channel_id": talking["channel_id"], "mode": m,
                                                     "supervisor_id": super_id})
                    for m in ("listen", "whisper", "barge")]
    seen.clear()
    for body, status, message in [
        ({"channel_id": waiting["channel_id"], "mode": "listen"}, 409,
         "Only a connected call can be joined."),
        ({"channel_id": "no-such-call", "mode": "listen"}, 409, "That call is over."),
        ({"channel_id": talking["channel_id"], "mode": "record"}, 400, "Choose listen, whisper or barge in."),
        ({"mode": "listen"}, 400, "Choose a call."),
        ({"channel_id": ["x"], "mode": "listen"}, 400, "Choose a call."),
    ]:
        response = sup.post("/supervisor/calls/monitor", json=body)
        assert response.status_code == status, body
        assert response.get_json()["error"] == message
    response = sup.post("/supervisor/calls/monitor", data="{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "The request must be a JSON object."
    # The admin has no phone to listen on.
    response = logged_in(stack, "admin").post("/supervisor/calls/monitor",
                                              json={"channel_id": talking["channel_id"], "mode": "listen"})
    assert response.status_code == 409 and response.get_json()["error"] == "You have no phone to listen on."
    assert seen == []


def test_moving_a_waiting_call(stack):
    waiting = place_call(stack.call_center)
    talking = place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)
    seen = published(stack, supervision.MOVE_REQUESTED)
    sup = logged_in(stack, "super")
    response = sup.post("/supervisor/calls/move", json={"channel_id": waiting["channel_id"], "queue": "lan"})
    assert response.status_code == 202
    assert seen == [(supervision.MOVE_REQUESTED, {"channel_id": waiting["channel_id"], "queue": "lan",
                                                  "supervisor_id": stack.user_id("super")})]
    seen.clear()
    for body, status, message in [
        ({"channel_id": waiting["channel_id"], "queue": "nowhere"}, 400, "Choose one of the queues."),
        ({"channel_id": waiting["channel_id"], "queue": None}, 400, "Choose one of the queues."),
        ({"channel_id": talking["channel_id"], "queue": "pc"}, 409, "Only a waiting call can be moved."),
        ({"queue": "pc"}, 400, "Choose a call."),
    ]:
        response = sup.post("/supervisor/calls/move", json=body)
        assert response.status_code == status, body
        assert response.get_json()["error"] == message
    assert seen == []


def test_supervisor_changes_an_agents_state(stack):
    agent1 = stack.user_id("agent1")
    a1 = logged_in(stack)
    sock = stack.socketio.test_client(stack.app, flask_test_client=a1)
    sock.get_received()
    sup = logged_in(stack, "super")
    url = f"/supervisor/agents/{agent1}/state"
    response = sup.post(url, json={"state": "not_ready", "reason": "meeting"})
    assert response.status_code == 200
    assert response.get_json() == {"agent_id": agent1, "state": "not_ready", "reason": "meeting",
                                   "label": "Not ready", "reason_label": "Meeting"}
    assert events_named(sock.get_received(), "agent_state") == [
        {"agent_id": agent1, "state": "not_ready", "reason": "meeting"}]
    assert a1.get("/agent/state").get_json()["reason_label"] == "Meeting"
    assert sup.post(url, json={"state": "ready"}).get_json()["state"] == "ready"
    assert sup.post(url, json={"state": "logged_out"}).get_json()["state"] == "logged_out"

    sup.post(url, json={"state": "not_ready", "reason": "break"})
    for body, status, message in [
        ({"state": "not_ready", "reason": "nap"}, 400, REASON_MESSAGE),
        ({"state": "not_ready", "reason": "logout"}, 400, REASON_MESSAGE),
        ({"state": "talking"}, 400, "Unknown state requested."),
        ({"state": "not_ready", "reason": 3}, 400, REASON_MESSAGE),
    ]:
        response = sup.post(url, json=body)
        assert response.status_code == status, body
        assert response.get_json()["error"] == message
    response = sup.post(url, data="[]", content_type="application/json")
    assert response.status_code == 400
    assert sup.post("/supervisor/agents/9999/state", json={"state": "ready"}).status_code == 404
    row = user_row(stack, "agent1")
    assert (row.state, row.state_reason) == ("not_ready", "break")

    # Ringing: the call decides; the supervisor gets a clear 409.
    place_call(stack.call_center, agent_id=agent1)
    response = sup.post(url, json={"state": "logged_out"})
    assert response.status_code == 409
    assert response.get_json() == {"error": "Kim Jiwoo cannot change from Ringing to Logged out now.",
                                   "state": "ringing"}
    assert stack.user_state("agent1") == "ringing"
    sock.disconnect()


def test_supervisor_page_has_the_floor_controls(stack):
    html = logged_in(stack, "super").get("/supervisor/").get_data(as_text=True)
    assert 'id="calls-panel"' in html and 'data-calls-url="/supervisor/calls"' in html
    assert 'id="callbacks-panel"' in html and 'data-can-remove="true"' in html
    assert 'data-count-for="wrap_up"' in html
    agent_row = html.split(f'data-agent-id="{stack.user_id("agent1")}"')[1].split("</tr>")[0]
    assert re.findall(r'<option value="([a-z_:]+)"', agent_row) == [
        "ready", "not_ready:break", "not_ready:lunch", "not_ready:meeting", "not_ready:training",
        "not_ready:other", "logged_out"]
    assert "btn-set-state" in agent_row
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    korean = logged_in(stack, "super", lang="ko").get("/supervisor/").get_data(as_text=True)
    assert "실시간 통화" in korean and "포기 호" in korean and "이석 — 식사" in korean
    strings = json_block(korean)
    assert strings["monitor"] == {"listen": "청취", "whisper": "코칭", "barge": "통화 개입"}


# ---- CSRF ---------------------------------------------------------------------------------------

def csrf_login(stack, username):
    client = stack.app.test_client()
    client.set_cookie("lang", "en")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": stack.passwords[username],
                                           "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    return client, re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def test_floor_posts_need_the_csrf_token(csrf_stack):
    stack = csrf_stack
    call = abandon_call(stack)
    waiting = place_call(stack.call_center, queue="pc")
    seen = published(stack, cb.PLACE_REQUESTED, supervision.MOVE_REQUESTED)
    agent, token = csrf_login(stack, "agent1")
    sup, sup_token = csrf_login(stack, "super")
    before = queue_state(stack)
    agent1 = stack.user_id("agent1")
    posts = [
        (agent, token, "/agent/queues", {"queues": ["pc"]}),
        (agent, token, "/agent/state", {"state": "not_ready", "reason": "lunch"}),
        (agent, token, f"/callbacks/{call['callback_id']}/call", {}),
        (sup, sup_token, "/supervisor/calls/move", {"channel_id": waiting["channel_id"], "queue": "lan"}),
        (sup, sup_token, f"/supervisor/agents/{agent1}/state", {"state": "not_ready", "reason": "lunch"}),
        (sup, sup_token, f"/callbacks/{call['callback_id']}/cancel", {}),
    ]
    for client, _token, path, body in posts:
        response = client.post(path, json=body)
        assert response.status_code == 400, path
        assert "security token" in response.get_json()["error"]
    assert queue_state(stack) == before and seen == []
    assert stack.user_state("agent1") == "logged_out"
    assert callback_status(stack, call["callback_id"]) == "open"
    # With the token from the page, the same requests go through.
    with_token = {"X-CSRFToken": token}
    assert agent.post("/agent/queues", json={"queues": ["pc"]}, headers=with_token).status_code == 200
    assert agent.post("/agent/state", json={"state": "ready"}, headers=with_token).status_code == 200
    assert agent.post(f"/callbacks/{call['callback_id']}/call", json={},
                      headers={"X-CSRFToken": token}).status_code == 202
    assert sup.post("/supervisor/calls/move", json={"channel_id": waiting["channel_id"], "queue": "lan"},
                    headers={"X-CSRFToken": sup_token}).status_code == 202
    assert [t for t, _p in seen] == [cb.PLACE_REQUESTED, supervision.MOVE_REQUESTED]
