"""Agent desktop in headless Chromium: login, state, screen-pop, ticket, resolve."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.models import Customer
from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import (PageProblems, browser_login, new_page, place_call, wait_websocket)

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'


# The 409 of "Ready while ringing" and the 400 of an empty resolution are expected.
EXPECTED_ERRORS = r"Failed to load resource: .* status of (409|400) "


def card_fields(card) -> dict[str, str]:
    return {name: card.locator(f'[data-field="{name}"]').text_content()
            for name in ("type", "queue", "customer_name", "caller_name", "waiting", "incident_id", "phone")}


def test_screenpop_ticket_and_resolve(stack, server, browser):
    from playwright.sync_api import expect

    cc = stack.call_center
    agent1 = stack.user_id("agent1")
    problems = PageProblems(EXPECTED_ERRORS)
    ctx1, page1 = new_page(browser)
    ctx2, page2 = new_page(browser)
    try:
        problems.watch(page1)
        problems.watch(page2)
        browser_login(page1, server.url, "agent1", stack.passwords["agent1"])
        browser_login(page2, server.url, "agent2", stack.passwords["agent2"])
        wait_websocket(page1)
        wait_websocket(page2)
        state = page1.locator("#agent-state")
        expect(state).to_have_attribute("data-state", "logged_out")

        page1.click("#btn-ready")
        expect(state).to_have_attribute("data-state", "ready")
        expect(state).to_have_text("Ready")
        assert stack.user_state("agent1") == "ready"
        page2.click("#btn-ready")
        expect(page2.locator("#agent-state")).to_have_attribute("data-state", "ready")

        # 1. An unidentified caller; agent1 lets it ring out -> NOT_READY, shown live.
        missed = place_call(cc, caller_name="Pay phone", number="0299990000", agent_id=agent1,
                            make_ready=False)
        cards = page1.locator(".screenpop")
        expect(cards).to_have_count(1)
        expect(cards.first.locator('[data-field="customer_name"]')).to_have_text("unknown caller")
        expect(state).to_have_attribute("data-state", "ringing")
        cc.no_answer(missed["channel_id"], agent1)
        expect(state).to_have_attribute("data-state", "not_ready")
        expect(state).to_have_text("Not ready")
        expect(cards.first).to_have_attribute("data-status", "missed")
        expect(cards.first.locator('[data-field="status"]')).to_have_text("Not answered")
        cc.call_ended(missed["channel_id"])

        # 2. A known customer whose SIP display name is an XSS attempt.
        page1.click("#btn-ready")
        expect(state).to_have_attribute("data-state", "ready")
        with stack.sessions() as s:
            choi = s.scalar(select(Customer.id).where(Customer.pin == "100200"))
        call = place_call(cc, caller_name=XSS, number="0312345678", customer_id=choi, agent_id=agent1,
                          make_ready=False)
        expect(cards).to_have_count(2)
        latest = page1.locator(".screenpop.latest")
        expect(latest).to_have_count(1)
        incident = stack.ticket(call["ticket_id"]).incident_id
        expect(latest.locator('[data-field="incident_id"]')).to_have_text(incident)
        fields = card_fields(latest)
        assert fields == {"type": "Inbound call", "queue": "Help desk", "customer_name": "Choi Yuna",
                          "caller_name": XSS, "waiting": fields["waiting"], "incident_id": incident,
                          "phone": "0312345678"}
        assert re.fullmatch(r"\d+:\d\d", fields["waiting"])
        assert latest.get_attribute("href") == f"/tickets/{call['ticket_id']}"
        assert page1.evaluate("window.__xss") is None
        assert page1.locator("img[src='x']").count() == 0
        expect(state).to_have_attribute("data-state", "ringing")

        # Ready while ringing is not allowed: a clear message on the page.
        page1.click("#btn-ready")
        error = page1.locator("#state-error")
        expect(error).to_be_visible()
        expect(error).to_have_text("You cannot change from Ringing to Ready now.")
        expect(state).to_have_attribute("data-state", "ringing")

        cc.answered(call["channel_id"], agent1)
        expect(state).to_have_attribute("data-state", "talking")

        # agent2 saw none of it.
        assert page2.locator(".screenpop").count() == 0
        expect(page2.locator("#agent-state")).to_have_attribute("data-state", "ready")
        page1.screenshot(path="/tmp/desktop-pop.png", full_page=True)

        # 3. The card opens the ticket screen (in a new tab, the desktop stays live).
        with ctx1.expect_page() as opened:
            latest.click()
        ticket_page = problems.watch(opened.value)
        ticket_page.wait_for_load_state()
        expect(ticket_page.locator("#incident-id")).to_have_text(incident)
        expect(ticket_page.locator("#caller-name")).to_have_text(XSS)
        expect(ticket_page.locator("#customer-name")).to_have_text("Choi Yuna")
        expect(ticket_page.locator('#customer [data-field="department"]')).to_have_text("Sales")
        expect(ticket_page.locator("#agent-name")).to_have_text("Kim Jiwoo")
        assert ticket_page.evaluate("window.__xss") is None
        kinds = ticket_page.locator("#history li").evaluate_all("els => els.map(e => e.dataset.kind)")
        assert kinds == ["created", "identified", "queued", "offered", "answered"]

        # An empty resolution is refused and what was typed stays.
        ticket_page.fill("#request", "Cannot log in to the CRM client")
        ticket_page.fill("#resolution", "   ")
        ticket_page.click("#btn-resolve")
        expect(ticket_page.locator("#resolve-error")).to_have_text(
            "Enter the resolution before closing the ticket.")
        expect(ticket_page.locator("#request")).to_have_value("Cannot log in to the CRM client")
        assert stack.ticket(call["ticket_id"]).status == "in_progress"

        ticket_page.fill("#resolution", "Reset the CRM password and cleared the cached credentials.")
        ticket_page.click("#btn-resolve")
        expect(ticket_page.locator("#ticket-status")).to_have_attribute("data-status", "resolved")
        expect(ticket_page.locator("#resolved-note")).to_be_visible()
        expect(ticket_page.locator("#history li").last).to_have_attribute("data-kind", "resolved")
        ticket_page.screenshot(path="/tmp/desktop-ticket.png", full_page=True)

        ticket = stack.ticket(call["ticket_id"])
        assert ticket.status == "resolved"
        assert ticket.request == "Cannot log in to the CRM client"
        assert ticket.resolution == "Reset the CRM password and cleared the cached credentials."
        history = [e.kind for e in ticket.events]
        assert history == ["created", "identified", "queued", "offered", "answered", "resolved"]
        # The desktop's card follows the ticket.
        expect(latest.locator('[data-field="status"]')).to_have_text("Resolved")

        assert page1.evaluate("window.__xss") is None
        assert page2.locator(".screenpop").count() == 0
        assert problems.items == []

        # Logging out ends the agent's availability.
        cc.call_ended(call["channel_id"])
        expect(state).to_have_attribute("data-state", "ready")
        page1.click("#btn-logout")
        page1.wait_for_selector("#login-form")
        assert stack.user_state("agent1") == "logged_out"
    finally:
        ctx1.close()
        ctx2.close()


def test_supervisor_sees_states_live(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems(EXPECTED_ERRORS)
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "super", stack.passwords["super"])
        assert page.url.endswith("/supervisor/")
        wait_websocket(page)
        agent1 = stack.user_id("agent1")
        badge = page.locator(f'#agents-table tr[data-agent-id="{agent1}"] .state-badge')
        expect(badge).to_have_attribute("data-state", "logged_out")
        stack.call_center.set_agent_state(agent1, "ready")
        expect(badge).to_have_attribute("data-state", "ready")
        expect(page.locator('[data-count-for="ready"]')).to_have_text("1")
        call = place_call(stack.call_center, agent_id=agent1, make_ready=False, answer=True)
        expect(badge).to_have_attribute("data-state", "talking")
        stack.call_center.resolve(call["ticket_id"], agent1, "done")
        expect(page.locator("#activity li")).to_have_count(2)  # in_progress, resolved
        expect(page.locator("#activity li").first.locator(".status-badge")).to_have_attribute(
            "data-status", "resolved")
        page.screenshot(path="/tmp/desktop-supervisor.png", full_page=True)
        assert problems.items == []
    finally:
        ctx.close()


def test_korean_desktop(stack, server, browser):
    from playwright.sync_api import expect

    ctx, page = new_page(browser, locale="ko-KR")
    try:
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        expect(page.locator("#btn-ready")).to_have_text("대기")
        wait_websocket(page)
        place_call(stack.call_center, caller_name="Hong", customer_id=None, agent_id=stack.user_id("agent1"))
        expect(page.locator('.screenpop [data-field="customer_name"]')).to_have_text("미확인 발신자")
        expect(page.locator("#agent-state")).to_have_text("벨 울림")
        page.screenshot(path="/tmp/desktop-ko.png")
        page.click("#lang-en")
        expect(page.locator("#btn-ready")).to_have_text("Ready")
    finally:
        ctx.close()
