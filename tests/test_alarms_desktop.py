"""The alarm webhook and banner through the Flask test client (docs/alarms.md):
signed bodies only (wrong or missing signature refused and logged with the
client address, nothing stored), malformed JSON or fields answered 400 with the
reason, size limit, CSRF-exempt webhook but CSRF-protected supervisor actions,
the Socket.IO ``alarm`` event to every connected user, script in every field
kept as text on the pages, Korean texts."""
from __future__ import annotations

import json
import logging
import re

import pytest
import sqlalchemy as sa

from agent_desktop import close_app, create_app
from cti.alarms import SIGNATURE_HEADER, sign
from db.models import Alarm
from support.desktop import logged_in, make_stack

SECRET = "webhook-secret-for-tests"
XSS = '<script>window.__xss=1</script>"\'&'
CLIENT = {"REMOTE_ADDR": "203.0.113.9"}


def build(tmp_path, *, secret=SECRET, csrf=False, max_bytes=2048):
    stack = make_stack(tmp_path, csrf=csrf, app=False)
    stack.config["alarms"].update(secret=secret, max_bytes=max_bytes)
    stack.app = create_app(stack.config, stack.call_center, stack.sessions, stack.bus, acd_service=stack.acd,
                           callback_service=stack.callbacks, supervisor_service=stack.supervision)
    return stack


@pytest.fixture
def stack(tmp_path):
    s = build(tmp_path)
    yield s
    s.close()


def payload(**fields) -> bytes:
    base = {"source": "nms", "id": "core-1", "system": "network", "severity": "major",
            "title": "Core switch down", "detail": "Building A uplink lost"}
    base.update(fields)
    return json.dumps(base).encode()


def post_alarm(client, raw: bytes, signature: str | None = "auto", secret: str = SECRET):
    headers = {}
    if signature == "auto":
        headers[SIGNATURE_HEADER] = sign(secret, raw)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return client.post("/hooks/alarms", data=raw, headers=headers, content_type="application/json",
                       environ_base=CLIENT)


def alarm_count(stack) -> int:
    with stack.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Alarm))


def events_named(received, name):
    return [e["args"][0] for e in received if e["name"] == name]


def test_signed_alarm_is_stored_and_a_repeat_is_merged(stack):
    client = stack.app.test_client()
    first = post_alarm(client, payload())
    assert first.status_code == 201, first.get_data(as_text=True)
    assert first.get_json()["raised"] is True
    again = post_alarm(client, payload(detail="still down"))
    assert again.status_code == 200
    assert again.get_json() == {"id": first.get_json()["id"], "merged": True, "raised": False}
    assert alarm_count(stack) == 1


def test_the_source_clears_its_alarm_and_the_banner_goes(stack):
    agent = logged_in(stack, "agent1")
    sock = stack.socketio.test_client(stack.app, flask_test_client=agent)
    alarm_id = post_alarm(stack.app.test_client(), payload()).get_json()["id"]
    clear = json.dumps({"source": "nms", "id": "core-1", "status": "cleared"}).encode()
    sock.get_received()
    assert post_alarm(stack.app.test_client(), clear, signature="sha256=" + "1" * 64).status_code == 403
    answer = post_alarm(stack.app.test_client(), clear)
    assert answer.status_code == 200 and answer.get_json() == {"id": alarm_id, "closed": True}
    [msg] = events_named(sock.get_received(), "alarm")
    assert msg["event"] == "closed" and msg["alarm"]["id"] == alarm_id
    assert agent.get("/alarms/open").get_json() == {"alarms": []}
    again = post_alarm(stack.app.test_client(), clear)
    assert again.status_code == 404 and "no open alarm" in again.get_json()["error"]
    sock.disconnect()


@pytest.mark.parametrize("signature, status, logged", [
    (None, 401, "without X-HappyCall-Signature from 203.0.113.9"),
    ("sha256=" + "0" * 64, 403, "wrong signature from 203.0.113.9"),
    ("wrong-secret", 403, "wrong signature from 203.0.113.9"),
])
def test_missing_or_wrong_signature_is_refused_logged_and_nothing_stored(stack, caplog, signature, status, logged):
    raw = payload()
    if signature == "wrong-secret":
        signature = sign("another secret", raw)
    with caplog.at_level(logging.WARNING, logger="agent_desktop.alarms"):
        response = post_alarm(stack.app.test_client(), raw, signature)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert any(logged in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert alarm_count(stack) == 0


def test_without_a_configured_secret_one_is_generated_and_kept(tmp_path):
    stack = build(tmp_path, secret="")
    try:
        path = tmp_path / "alarm-secret"
        generated = path.read_text().strip()
        assert len(generated) >= 32 and path.stat().st_mode & 0o077 == 0
        client = stack.app.test_client()
        assert post_alarm(client, payload(), secret="").status_code == 403      # not an empty key
        assert post_alarm(client, payload(), secret=generated).status_code == 201
        # the next start (another app on the same data folder) keeps it
        again = create_app(stack.config, stack.call_center, stack.sessions, stack.bus)
        try:
            assert post_alarm(again.test_client(), payload(), secret=generated).status_code == 200
        finally:
            close_app(again)
    finally:
        stack.close()


def test_demo_command_sends_a_signed_alarm_to_the_running_server(tmp_path, capsys):
    from ivr.demo.__main__ import main as demo
    from support.desktop import running_server

    stack = build(tmp_path, secret="")
    try:
        with running_server(stack.app) as server:
            port = server.url.rsplit(":", 1)[1]
            conf = tmp_path / "demo.toml"
            conf.write_text(f'[data]\ndir = "{tmp_path}"\n[web]\nhost = "127.0.0.1"\nport = {port}\n')
            assert demo(["--config", str(conf), "alarm", "--title", "Demo outage", "--contact", "0255500123"]) == 0
            assert "201" in capsys.readouterr().out
        [alarm] = stack.app.extensions["happycall_alarms"].service.open_alarms()
        assert alarm["title"] == "Demo outage" and alarm["contact_number"] == "0255500123"
    finally:
        stack.close()


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "the body is not JSON"),
    (b'"just a string"', "the body must be a JSON object"),
    (payload(severity="apocalyptic"), "severity: one of minor, major, critical"),
    (payload(title=""), "title: required"),
    (payload(system=12), "system: must be a string"),
    (payload(extra="x"), "unknown field(s): extra"),
])
def test_malformed_payload_gets_400_with_the_reason(stack, raw, reason):
    response = post_alarm(stack.app.test_client(), raw)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert alarm_count(stack) == 0


def test_oversized_body_is_refused(stack):
    raw = payload(detail="x" * 3000)          # max_bytes 2048 in these tests
    response = post_alarm(stack.app.test_client(), raw)
    assert response.status_code == 413
    assert alarm_count(stack) == 0


def test_webhook_is_csrf_exempt_but_supervisor_actions_are_not(tmp_path):
    stack = build(tmp_path, csrf=True)
    try:
        created = post_alarm(stack.app.test_client(), payload())
        assert created.status_code == 201                      # no CSRF token needed: HMAC instead
        alarm_id = created.get_json()["id"]
        sup = stack.app.test_client()
        sup.set_cookie("lang", "en")
        page = sup.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        assert sup.post("/login", data={"username": "super", "password": stack.passwords["super"],
                                        "csrf_token": token}).status_code == 302
        assert sup.post(f"/alarms/{alarm_id}/acknowledge", json={}).status_code == 400   # no token
        desk = sup.get("/", follow_redirects=True).get_data(as_text=True)
        meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', desk).group(1)
        ok = sup.post(f"/alarms/{alarm_id}/acknowledge", json={}, headers={"X-CSRFToken": meta})
        assert ok.status_code == 200 and ok.get_json()["acknowledged_at"]
    finally:
        stack.close()


def test_every_connected_user_gets_the_alarm_and_only_supervisors_act(stack):
    agent = logged_in(stack, "agent1")
    sup = logged_in(stack, "super")
    trainee = logged_in(stack, "trainee1")
    sockets = {name: stack.socketio.test_client(stack.app, flask_test_client=c)
               for name, c in (("agent", agent), ("sup", sup), ("trainee", trainee))}
    for sock in sockets.values():
        sock.get_received()
    alarm_id = post_alarm(stack.app.test_client(), payload()).get_json()["id"]
    for name, sock in sockets.items():
        [msg] = events_named(sock.get_received(), "alarm")
        assert msg["event"] == "raised" and msg["alarm"]["id"] == alarm_id, name
        assert msg["alarm"]["title"] == "Core switch down"

    assert agent.post(f"/alarms/{alarm_id}/acknowledge").status_code == 403
    assert agent.post(f"/alarms/{alarm_id}/close").status_code == 403
    assert sup.post("/alarms/9999/acknowledge").status_code == 404
    ack = sup.post(f"/alarms/{alarm_id}/acknowledge")
    assert ack.status_code == 200
    [msg] = events_named(sockets["agent"].get_received(), "alarm")
    assert msg["event"] == "updated" and msg["alarm"]["acknowledged_by"]
    # no hot line (no telephony in this test): calling the IT contact is refused with the reason
    refused = sup.post(f"/alarms/{alarm_id}/call-contact", json={"number": "0255500123"})
    assert refused.status_code == 409 and "hot line" in refused.get_json()["error"]
    bad = sup.post(f"/alarms/{alarm_id}/call-contact", json={"number": "PJSIP/anything"})
    assert bad.status_code == 400 and "phone number" in bad.get_json()["error"]
    assert sup.post(f"/alarms/{alarm_id}/call-contact", json={"number": 5}).status_code == 400
    assert sup.post(f"/alarms/{alarm_id}/close").status_code == 200
    seen = events_named(sockets["trainee"].get_received(), "alarm")
    assert [m["event"] for m in seen] == ["updated", "closed"] and seen[-1]["alarm"]["open"] is False
    assert agent.get("/alarms/open").get_json() == {"alarms": []}
    for sock in sockets.values():
        sock.disconnect()


def test_script_in_every_field_stays_text_on_the_desktop_and_wallboard(stack):
    raw = payload(id=XSS, system=XSS, title=XSS, detail=XSS + "\n" + XSS, contact=None)
    raw = json.dumps({k: v for k, v in json.loads(raw).items() if v is not None}).encode()
    assert post_alarm(stack.app.test_client(), raw).status_code == 201
    agent = logged_in(stack, "agent1")
    for path in ("/", "/wallboard", "/dashboard"):
        html = agent.get(path).get_data(as_text=True)
        assert "<script>window.__xss" not in html, path
        data = re.search(r'<script type="application/json" id="alarm-data">(.*?)</script>', html, re.S).group(1)
        [alarm] = json.loads(data)
        assert alarm["title"] == XSS and alarm["system"] == XSS and alarm["external_id"] == XSS
    # the JSON list for a reconnecting page carries the same text
    assert agent.get("/alarms/open").get_json()["alarms"][0]["detail"] == XSS + "\n" + XSS


def test_banner_texts_in_korean(stack):
    post_alarm(stack.app.test_client(), payload())
    html = logged_in(stack, "super", lang="ko").get("/", follow_redirects=True).get_data(as_text=True)
    strings = json.loads(re.search(r'id="alarm-strings">(.*?)</script>', html, re.S).group(1))
    assert strings["acknowledge"] == "확인" and strings["enable_sound"] == "경보음 켜기"
    assert 'data-supervisor="true"' in html and 'data-extension="1690"' in html
    assert "js/alarms.js" in html
