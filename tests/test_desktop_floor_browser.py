"""The floor on the desktop in headless Chromium (no Asterisk: calls go through
the services): the not-ready reason survives a reload and a new browser, queue
log-in checkboxes, the wrap-up countdown, the abandoned-call list with a hostile
caller name shown as text and "Call back" reaching CallbackService.ask_to_place,
and the supervisor's buttons reaching SupervisorService.monitor / move_call and
an agent-state change showing on the agent's page live."""
from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select, update

from cti import callbacks as cb
from cti import supervision
from db.models import Callback, Queue, User
from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import (BROWSER_TIMEOUT_MS, PageProblems, abandon_call, browser_login, new_page,
                             place_call, wait_websocket)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

XSS = '<img src=x onerror="window.__xss=1">'
# 409s the tests provoke on purpose.
EXPECTED_ERRORS = r"Failed to load resource: .* status of 409 "


class Recorder:
    """Payloads published on bus topics (handlers run in the web server's threads)."""

    def __init__(self, bus, *topics):
        self.items: list[tuple[str, dict]] = []
        self._changed = threading.Condition()
        for topic in topics:
            bus.subscribe(topic, self._on)

    def _on(self, topic, payload):
        with self._changed:
            self.items.append((topic, dict(payload)))
            self._changed.notify_all()

    def wait(self, count: int, timeout: float = BROWSER_TIMEOUT_MS / 1000) -> list[tuple[str, dict]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


def db_reason(stack, username="agent1"):
    with stack.sessions() as s:
        row = s.scalar(select(User).where(User.username == username))
        return row.state, row.state_reason


def queue_state(stack, username="agent1"):
    return {q["name"]: q["logged_in"] for q in stack.acd.agent_queues(stack.user_id(username))}


def test_reason_survives_reload_and_queue_checkboxes(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems()
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        state = page.locator("#agent-state")
        reason = page.locator("#agent-state-reason")
        select = page.locator("#not-ready-reason")
        expect(select).to_have_value("other")
        assert select.locator("option").evaluate_all("os => os.map(o => o.value)") == \
            ["break", "lunch", "meeting", "training", "other"]

        select.select_option("lunch")
        assert db_reason(stack) == ("logged_out", "")  # choosing alone changes nothing
        page.click("#btn-not-ready")
        expect(state).to_have_attribute("data-state", "not_ready")
        expect(reason).to_have_text("Lunch")
        expect(reason).to_have_attribute("data-reason", "lunch")
        assert db_reason(stack) == ("not_ready", "lunch")
        # Already not ready: another reason applies at once.
        select.select_option("meeting")
        expect(reason).to_have_text("Meeting")
        assert db_reason(stack) == ("not_ready", "meeting")

        # The desktop restarts: reload, then a whole new browser session.
        page.reload()
        wait_websocket(page)
        expect(state).to_have_attribute("data-state", "not_ready")
        expect(reason).to_have_text("Meeting")
        expect(select).to_have_value("meeting")
        ctx2, page2 = new_page(browser)
        try:
            problems.watch(page2)
            browser_login(page2, server.url, "agent1", stack.passwords["agent1"])
            wait_websocket(page2)
            expect(page2.locator("#agent-state")).to_have_attribute("data-state", "not_ready")
            expect(page2.locator("#agent-state-reason")).to_have_text("Meeting")
            expect(page2.locator("#not-ready-reason")).to_have_value("meeting")
            # Ready from the other tab shows here live, without a reason.
            page2.click("#btn-ready")
            expect(state).to_have_attribute("data-state", "ready")
            expect(reason).to_have_text("")
        finally:
            ctx2.close()

        # Queue log-in.
        boxes = page.locator("#queues input[type=checkbox]")
        expect(boxes).to_have_count(4)
        apps = page.locator('#queues input[data-queue="apps"]')
        expect(apps).to_be_checked()
        apps.uncheck()
        expect(page.locator("#queues-status")).to_have_text("Queue log-in saved.")
        assert queue_state(stack) == {"helpdesk": True, "pc": True, "apps": False, "office": True}
        page.reload()
        wait_websocket(page)
        expect(apps).not_to_be_checked()
        expect(page.locator('#queues input[data-queue="pc"]')).to_be_checked()
        apps.check()
        expect(page.locator("#queues-status")).to_have_text("Queue log-in saved.")
        assert queue_state(stack)["apps"] is True
        # Changed elsewhere (another tab): the boxes follow live.
        stack.acd.set_agent_queues(stack.user_id("agent1"), ["helpdesk"])
        expect(page.locator("#queues input:checked")).to_have_count(1)
        expect(page.locator('#queues input[data-queue="helpdesk"]')).to_be_checked()
        page.screenshot(path="/tmp/desktop-floor-agent.png", full_page=True)
        assert problems.items == []
    finally:
        ctx.close()


def test_wrap_up_countdown(stack, server, browser):
    from playwright.sync_api import expect

    with stack.sessions.begin() as s:
        s.execute(update(Queue).where(Queue.name == "helpdesk").values(wrap_up_seconds=40))
    agent1 = stack.user_id("agent1")
    ctx, page = new_page(browser)
    try:
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        call = place_call(stack.call_center, agent_id=agent1, answer=True)
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "talking")
        timer = page.locator("#agent-state-timer")
        expect(timer).to_be_hidden()
        stack.call_center.call_ended(call["channel_id"])
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "wrap_up")
        expect(page.locator("#agent-state")).to_have_text("Wrap-up")
        expect(timer).to_be_visible()
        expect(timer).to_have_text(re.compile(r"^0:[34]\d left$"))
        first = int(timer.get_attribute("data-remaining"))
        expect(timer).not_to_have_attribute("data-remaining", str(first))   # it counts down
        assert int(timer.get_attribute("data-remaining")) < first
        # After a reload the countdown goes on from the stored end.
        page.reload()
        expect(timer).to_be_visible()
        assert int(timer.get_attribute("data-remaining")) <= first
        page.click("#btn-ready")   # the agent ends the wrap-up early
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")
        expect(timer).to_be_hidden()
    finally:
        ctx.close()


def test_abandoned_calls_and_call_back(stack, server, browser):
    from playwright.sync_api import expect

    agent1 = stack.user_id("agent1")
    placed = Recorder(stack.bus, cb.PLACE_REQUESTED)
    problems = PageProblems(EXPECTED_ERRORS)
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        panel = page.locator("#callbacks-panel")
        expect(panel).to_have_attribute("data-loaded", "true")
        expect(page.locator("#callbacks-empty")).to_be_visible()

        # Callers hang up in the queue while the desktop is open: the list follows live.
        first = abandon_call(stack, caller_name=XSS, number="0312345678")
        rows = page.locator("#callbacks tr.callback")
        expect(rows).to_have_count(1)
        row = page.locator(f'#callbacks tr[data-callback-id="{first["callback_id"]}"]')
        expect(row.locator('[data-field="caller_name"]')).to_have_text(XSS)
        expect(row.locator('[data-field="number"]')).to_have_text("0312345678")
        expect(row.locator('[data-field="queue"]')).to_have_text("Help desk")
        expect(row.locator('[data-field="customer_name"]')).to_have_text("unknown caller")
        assert page.locator("#callbacks img").count() == 0
        assert page.evaluate("window.__xss") is None
        expect(page.locator("#callbacks-count")).to_have_text("1")
        second = abandon_call(stack, caller_name="Second caller", number="0255500000")
        expect(rows).to_have_count(2)

        # Logged out: a clear message, nothing asked.
        row.locator(".btn-call-back").click()
        status = page.locator("#callbacks-status")
        expect(status).to_have_text(
            "You cannot call back while your state is Logged out. Go Ready or Not ready first.")
        expect(status).to_have_attribute("data-error", "true")
        assert placed.items == []

        page.click("#btn-ready")
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")
        button = row.locator(".btn-call-back")
        expect(button).to_be_enabled()
        button.click()
        ((topic, payload),) = placed.wait(1)
        assert topic == cb.PLACE_REQUESTED
        assert payload == {"callback_id": first["callback_id"], "agent_id": agent1}
        expect(status).to_have_text("Calling back: your phone rings first, then the customer's.")
        expect(button).to_be_disabled()
        expect(button).to_have_text("Calling…")

        # The telephony side takes the other entry (dialing): its button is disabled live.
        stack.callbacks.start(second["callback_id"], stack.user_id("agent2"))
        other = page.locator(f'#callbacks tr[data-callback-id="{second["callback_id"]}"]')
        expect(other).to_have_attribute("data-callback-status", "dialing")
        expect(other.locator(".btn-call-back")).to_be_disabled()
        # Reached: off the list.
        stack.callbacks.finish(second["callback_id"], "reached")
        expect(rows).to_have_count(1)
        page.screenshot(path="/tmp/desktop-floor-callbacks.png", full_page=True)
        assert page.evaluate("window.__xss") is None
        assert problems.items == []
        assert len(placed.items) == 1
    finally:
        ctx.close()


def test_supervisor_floor_controls(stack, server, browser):
    from playwright.sync_api import expect

    agent1 = stack.user_id("agent1")
    super_id = stack.user_id("super")
    asked = Recorder(stack.bus, supervision.MONITOR_REQUESTED, supervision.MOVE_REQUESTED)
    problems = PageProblems(EXPECTED_ERRORS)
    sup_ctx, sup = new_page(browser)
    agent_ctx, agent = new_page(browser)
    try:
        problems.watch(sup)
        problems.watch(agent)
        browser_login(sup, server.url, "super", stack.passwords["super"])
        assert sup.url.endswith("/supervisor/")
        browser_login(agent, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(sup)
        wait_websocket(agent)
        expect(sup.locator("#calls-panel")).to_have_attribute("data-loaded", "true")
        expect(sup.locator("#calls-empty")).to_be_visible()

        # Calls come up while the page is open.
        talking = place_call(stack.call_center, caller_name=XSS, agent_id=agent1, answer=True)
        waiting = place_call(stack.call_center, caller_name="Waiting caller", queue="pc")
        calls = sup.locator("#calls tr.live-call")
        expect(calls).to_have_count(2)
        talking_row = calls.filter(has=sup.locator(".call-state[data-outcome=talking]"))
        waiting_row = calls.filter(has=sup.locator(".call-state[data-outcome=queued]"))
        expect(talking_row.locator(".call-caller")).to_have_text(XSS)
        expect(talking_row.locator(".call-agent")).to_have_text("Kim Jiwoo")
        expect(talking_row.locator(".btn-monitor")).to_have_count(3)
        expect(talking_row.locator(".move-target")).to_have_count(0)
        expect(waiting_row.locator(".call-queue")).to_have_text("PC and laptops")
        expect(waiting_row.locator(".btn-monitor")).to_have_count(0)
        expect(waiting_row.locator(".call-wait")).to_have_text(re.compile(r"^\d+:\d\d$"))
        assert sup.evaluate("window.__xss") is None

        talking_row.locator('.btn-monitor[data-mode="listen"]').click()
        ((topic, payload),) = asked.wait(1)
        assert (topic, payload) == (supervision.MONITOR_REQUESTED, {
            "channel_id": talking["channel_id"], "mode": "listen", "supervisor_id": super_id})
        expect(sup.locator("#calls-status")).to_have_text(
            "Your phone rings shortly: answer it to join the call.")
        talking_row.locator('.btn-monitor[data-mode="barge"]').click()
        assert asked.wait(2)[1][1]["mode"] == "barge"

        options = waiting_row.locator(".move-target option").evaluate_all("os => os.map(o => o.value)")
        assert options == ["helpdesk", "lan", "apps", "office"]   # not the queue it waits in
        waiting_row.locator(".move-target").select_option("lan")
        waiting_row.locator(".btn-move").click()
        assert asked.wait(3)[2] == (supervision.MOVE_REQUESTED, {
            "channel_id": waiting["channel_id"], "queue": "lan", "supervisor_id": super_id})
        expect(sup.locator("#calls-status")).to_have_text("The call is being moved.")
        sup.screenshot(path="/tmp/desktop-floor-supervisor.png", full_page=True)

        # Agent state changer while the agent talks: a clear 409 in the row.
        agent_row = sup.locator(f'#agents-table tr[data-agent-id="{agent1}"]')
        agent_row.locator(".state-target").select_option("logged_out")
        agent_row.locator(".btn-set-state").click()
        expect(agent_row.locator(".row-error")).to_have_text(
            "Kim Jiwoo cannot change from Talking to Logged out now.")

        # The calls end: off the table live; the agent is free.
        stack.call_center.call_ended(talking["channel_id"])
        stack.call_center.call_ended(waiting["channel_id"])
        expect(calls).to_have_count(0)
        expect(sup.locator("#calls-empty")).to_be_visible()
        expect(agent.locator("#agent-state")).to_have_attribute("data-state", "ready")

        # Not ready for training, set by the supervisor: live on both pages.
        agent_row.locator(".state-target").select_option("not_ready:training")
        agent_row.locator(".btn-set-state").click()
        expect(agent_row.locator(".state-badge")).to_have_attribute("data-state", "not_ready")
        expect(agent_row.locator(".state-reason")).to_have_text("Training")
        expect(agent_row.locator(".row-error")).to_be_hidden()
        expect(agent.locator("#agent-state")).to_have_attribute("data-state", "not_ready")
        expect(agent.locator("#agent-state-reason")).to_have_text("Training")
        expect(agent.locator("#not-ready-reason")).to_have_value("training")
        assert stack.user_state("agent1") == "not_ready"
        agent_row.locator(".state-target").select_option("ready")
        agent_row.locator(".btn-set-state").click()
        expect(agent.locator("#agent-state")).to_have_attribute("data-state", "ready")
        expect(sup.locator('[data-count-for="ready"]')).to_have_text("1")

        # The abandoned list is on the supervisor's screen too, with Remove (the
        # waiting caller who hung up above is on it already).
        expect(sup.locator("#callbacks tr.callback")).to_have_count(1)
        entry = abandon_call(stack, caller_name="Gone caller")
        cb_row = sup.locator(f'#callbacks tr[data-callback-id="{entry["callback_id"]}"]')
        expect(cb_row).to_have_count(1)
        expect(agent.locator(f'#callbacks tr[data-callback-id="{entry["callback_id"]}"]')).to_have_count(1)
        assert agent.locator(".btn-remove-callback").count() == 0   # agents cannot remove entries
        cb_row.locator(".btn-remove-callback").click()
        expect(cb_row).to_have_count(0)
        # Gone for the agent too (live); the other entry stays.
        expect(agent.locator(f'#callbacks tr[data-callback-id="{entry["callback_id"]}"]')).to_have_count(0)
        expect(agent.locator("#callbacks tr.callback")).to_have_count(1)
        with stack.sessions() as s:
            assert s.get(Callback, entry["callback_id"]).status == "cancelled"
        assert problems.items == []
    finally:
        sup_ctx.close()
        agent_ctx.close()


def test_korean_floor(stack, server, browser):
    from playwright.sync_api import expect

    ctx, page = new_page(browser, locale="ko-KR")
    try:
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        page.locator("#not-ready-reason").select_option("break")
        page.click("#btn-not-ready")
        expect(page.locator("#agent-state")).to_have_text("이석")
        expect(page.locator("#agent-state-reason")).to_have_text("휴식")
        expect(page.locator("#queues-heading")).to_have_text("내 대기열")
        expect(page.locator('#queues input[data-queue="pc"] + .queue-title')).to_have_text("PC·노트북")
        abandon_call(stack, caller_name="홍길동")
        expect(page.locator("#callbacks .btn-call-back")).to_have_text("콜백")
        expect(page.locator("#callbacks-heading")).to_contain_text("포기 호")
        page.screenshot(path="/tmp/desktop-floor-ko.png", full_page=True)
    finally:
        ctx.close()
