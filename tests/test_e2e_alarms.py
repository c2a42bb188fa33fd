"""Early warning end to end (docs/alarms.md): the whole System with a real
Asterisk and SIPp peers.  A signed major alarm posted to the running web server
rings a free agent's SIPp phone, which hears the voice alert; the hot line is an
ARI mixing bridge that a SIPp caller dialling 1690 joins and the customer's IT
contact is called into; closing the alarm empties and removes the bridge
(checked through the ARI bridges list)."""
from __future__ import annotations

import json
import urllib.request

import httpx
import pytest
from sqlalchemy import select, update

from cti.alarms import SIGNATURE_HEADER, sign
from cti.config import load
from db.models import Alarm, User
from ivr.system import System
from support.played import played  # noqa: F401 - pytest fixture
from support import asterisk as pbx_support
from support.sipp import SippCaller, SippPhone, free_port
from support.waiting import wait_for as _wait_for

pytestmark = [pytest.mark.e2e]

SECRET = "e2e-alarm-secret"


def wait_for(predicate, timeout=20.0, what="condition"):
    return _wait_for(predicate, timeout=timeout, what=what)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from ivr.pbx.provision import ensure_root

    ensure_root(pbx_support.test_root())
    data = tmp_path_factory.mktemp("e2e-alarms")
    contact_port = free_port(udp=True, tcp=False)
    config = load(environ={}, overrides={
        "data": {"dir": str(data)},
        "asterisk": pbx_support.asterisk_config(),
        "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
        # The customer's IT contact is a SIPp phone on the loopback.
        "acd": {"callback_dial": "PJSIP/phones/sip:{number}@127.0.0.1:%d" % contact_port,
                "callback_ring_seconds": 8.0},
        "alarms": {"secret": SECRET, "alert_ring_seconds": 8.0},
        "asr": {"enabled": False},
        "escalation": {"enabled": False},
        "mail_intake": {"enabled": False},
        "web": {"port": free_port(udp=False, tcp=True), "secret_key": "e2e-alarms"},
    })
    sys_ = System(config, echo=lambda *_: None, instance_name="test-e2e-alarms")
    sys_.contact_port = contact_port
    sys_.start()
    yield sys_
    sys_.stop()


def post_alarm(system, **fields) -> dict:
    data = {"source": "nms", "id": "core-sw-1", "system": "network", "severity": "major",
            "title": "Core switch down", "contact": "0255500123"}
    data.update(fields)
    raw = json.dumps(data).encode()
    request = urllib.request.Request(system.web.url + "/hooks/alarms", data=raw, method="POST",
                                     headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, raw)})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def bridges(system) -> dict[str, list[str]]:
    """Bridge id -> channel ids, from the ARI bridges list."""
    response = httpx.get(system.asterisk.ari_url + "ari/bridges", auth=system.asterisk.auth, timeout=5)
    response.raise_for_status()
    return {b["id"]: list(b.get("channels") or []) for b in response.json()}


def user_id(system, username):
    with system.sessions() as s:
        return s.scalar(select(User.id).where(User.username == username))


def test_voice_alert_rings_the_agent_phone_and_the_hot_line_bridge_is_joined(system, played):
    with system.sessions.begin() as s:
        s.execute(update(User).values(state="logged_out", state_reason=""))
    with SippPhone(mode="answer", ring_seconds=0.3, talk_seconds=20) as agent_phone:
        with system.sessions.begin() as s:
            s.execute(update(User).where(User.username == "agent1")
                      .values(state="not_ready", state_reason="", phone=agent_phone.dial_string("1001")))
        answer = post_alarm(system)
        assert answer["raised"] is True
        alarm_id = answer["id"]
        bridge_id = f"hotline-{alarm_id}"

        # the hot line bridge exists, empty
        wait_for(lambda: bridge_id in bridges(system), what="hot line bridge")
        # the agent's phone rang, answered and heard the voice alert
        wait_for(lambda: agent_phone.calls_received() == 1, what="voice alert call")
        wait_for(lambda: any(cid.startswith(f"alarm-{alarm_id}-alert-") and "happycall/ko/alarm_alert" in media
                             for cid, media in played), what="voice alert played")
        with system.sessions() as s:
            assert s.get(Alarm, alarm_id).voice_alert_calls == 1

        # a caller dialling the hot-line extension joins the bridge
        with SippCaller(system.asterisk.sip_uri("1690"), caller_number="0700000090", pause_before_digits=0.2,
                        hold_seconds=40):
            wait_for(lambda: len(bridges(system).get(bridge_id, [])) == 1, what="caller in the hot line")
            # the customer's IT contact is called into it from the desktop
            with SippPhone(port=system.contact_port, mode="answer", ring_seconds=0.3, talk_seconds=40) as contact:
                system.alarms.request_contact_call(alarm_id, user_id(system, "super"), "")
                wait_for(lambda: contact.calls_received() == 1, what="IT contact rung")
                wait_for(lambda: len(bridges(system).get(bridge_id, [])) == 2, what="IT contact in the hot line")

                # closing the alarm hangs everybody up and removes the bridge
                system.alarms.close(alarm_id, user_id(system, "super"))
                wait_for(lambda: bridge_id not in bridges(system), what="hot line bridge removed")
                wait_for(lambda: system.ari_app.call_count() == 0, what="hot line members hung up")
        with system.sessions() as s:
            assert s.get(Alarm, alarm_id).hotline_state == "closed"


def test_hot_line_extension_without_an_open_hot_line_says_so(system, played):
    with SippCaller(system.asterisk.sip_uri("1690"), caller_number="0700000091", pause_before_digits=0.2,
                    hold_seconds=20) as caller:
        wait_for(lambda: any("happycall/ko/hotline_none" in media for _cid, media in played),
                 what="no hot line prompt")
        wait_for(lambda: system.ari_app.call_count() == 0, what="caller hung up by the application")
        assert caller.wait(15) == 0
