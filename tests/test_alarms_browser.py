"""The alarm banner in headless Chromium (docs/alarms.md): a signed webhook
alarm appears at once on two agent desktops and on the wallboard, as text
(script in the title stays text), with the alarm sound; it is still there after
a reload; a supervisor acknowledges it from the wallboard and closes it, and
the banner goes away everywhere."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from agent_desktop import create_app
from cti.alarms import CONTACT_CALL, SIGNATURE_HEADER, sign
from support.browser_fixtures import browser, server  # noqa: F401 - pytest fixtures
from support.desktop import PageProblems, browser_login, make_stack, new_page, wait_websocket

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SECRET = "browser-webhook-secret"
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path, csrf=True, app=False)
    s.config["alarms"]["secret"] = SECRET
    s.app = create_app(s.config, s.call_center, s.sessions, s.bus, acd_service=s.acd,
                       callback_service=s.callbacks, supervisor_service=s.supervision)
    yield s
    s.close()


def send_alarm(base_url: str, **fields) -> dict:
    data = {"source": "dbmon", "id": "db-7", "system": "Database centre", "severity": "critical",
            "title": "Primary database down " + XSS, "detail": "Replica lag " + XSS}
    data.update(fields)
    raw = json.dumps(data).encode()
    request = urllib.request.Request(base_url + "/hooks/alarms", data=raw, method="POST",
                                     headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, raw)})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status in (200, 201)
        return json.loads(response.read())


def test_alarm_banner_on_two_desktops_and_the_wallboard(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems(expected=r"status of 400 \(BAD REQUEST\)")   # the refused phone number
    contexts = []
    pages = {}
    try:
        for name, user, path in (("agent1", "agent1", "/"), ("agent2", "agent2", "/"),
                                 ("board", "super", "/wallboard")):
            ctx, page = new_page(browser)
            contexts.append(ctx)
            problems.watch(page)
            browser_login(page, server.url, user, stack.passwords[user])
            if path != "/":
                page.goto(server.url + path)
            wait_websocket(page)
            pages[name] = page
        expect(pages["agent1"].locator("#alarm-banner")).to_be_hidden()
        pages["agent1"].click("#current-user")          # the agent has used the page: sound allowed

        alarm_id = send_alarm(server.url)["id"]
        for name, page in pages.items():
            item = page.locator(f'#alarm-list li[data-alarm-id="{alarm_id}"]')
            expect(item).to_be_visible()
            expect(item.locator(".alarm-title")).to_have_text("Primary database down " + XSS)
            expect(item.locator(".alarm-detail")).to_have_text("Replica lag " + XSS)
            expect(item.locator(".alarm-severity")).to_have_text("Critical")
            assert page.evaluate("window.__xss") is None, name
            assert page.locator("#alarm-list img").count() == 0, name
        # the sound: played on the desktop the agent used; where the browser blocked audio,
        # the "enable sound" button plays it
        expect(pages["agent1"].locator("#alarm-banner")).to_have_attribute("data-sound", "played")
        board = pages["board"]
        expect(board.locator("#alarm-banner")).to_have_attribute("data-sound", re.compile("^(played|blocked)$"))
        if board.locator("#alarm-banner").get_attribute("data-sound") == "blocked":
            board.click("#alarm-sound-enable")
            expect(board.locator("#alarm-banner")).to_have_attribute("data-sound", "played")
        # agents have no supervisor buttons
        expect(pages["agent1"].locator(".alarm-ack")).to_have_count(0)

        # a repeat is merged: still one alarm, with its count
        send_alarm(server.url)
        expect(pages["agent2"].locator("#alarm-list li")).to_have_count(1)
        expect(pages["agent2"].locator(".alarm-repeat")).to_have_text("received 2 times")

        # still there after a reload
        pages["agent2"].reload()
        expect(pages["agent2"].locator(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-title')) \
            .to_have_text("Primary database down " + XSS)

        # the supervisor acknowledges on the wallboard; the agents see who did
        board.click(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-ack')
        expect(pages["agent1"].locator(".alarm-acked")).to_contain_text("Acknowledged by")

        # the hot line opens (the ARI side records it): agents see the extension, the
        # supervisor calls the customer's IT contact into it from the banner
        calls = []
        stack.bus.subscribe(CONTACT_CALL, lambda _t, p: calls.append(p))
        service = stack.app.extensions["happycall_alarms"].service
        service.hotline_state(alarm_id, "open", f"hotline-{alarm_id}")
        expect(pages["agent1"].locator(".alarm-hotline")).to_have_text("Hot line open: dial 1690")
        number = board.locator(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-contact-number')
        number.fill("02 555")                                     # not a phone number: refused with the reason
        board.click(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-call-contact')
        expect(board.locator(".alarm-status")).to_contain_text("phone number")
        number.fill("0255500123")
        board.click(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-call-contact')
        expect(board.locator(".alarm-status")).to_have_text("Calling 0255500123…")
        assert [c["number"] for c in calls] == ["0255500123"]
        assert calls[0]["bridge_id"] == f"hotline-{alarm_id}"
        board.click(f'#alarm-list li[data-alarm-id="{alarm_id}"] .alarm-close')
        for page in pages.values():
            expect(page.locator("#alarm-banner")).to_be_hidden()
        assert problems.items == []
    finally:
        for ctx in contexts:
            ctx.close()
