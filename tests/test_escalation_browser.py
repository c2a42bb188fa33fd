"""Escalation in headless Chromium: an agent escalates from the ticket screen
(live first-level counter, person list of the chosen group) and the group
member's desktop, in a second browser context, shows the notice at once, as
text; the overdue flag reaches the escalating agent's desktop."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agent_desktop.escalation import EXTENSION_KEY
from db.models import SupportGroup, Ticket
from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import PageProblems, browser_login, new_page, place_call, wait_websocket

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

XSS = '<img src=x onerror="window.__xss=1">'


def test_escalation_reaches_the_group_members_desktop(stack, server, browser):
    from playwright.sync_api import expect

    tid = place_call(stack.call_center, agent_id=stack.user_id("agent1"), answer=True)["ticket_id"]
    with stack.sessions() as s:
        group_id = s.scalar(select(SupportGroup.id).where(SupportGroup.code == "techsupport"))
    problems = PageProblems()
    ctx_tech, tech = new_page(browser)
    ctx_agent, agent = new_page(browser)
    try:
        problems.watch(tech), problems.watch(agent)
        browser_login(tech, server.url, "tech1", stack.passwords["tech1"])
        wait_websocket(tech)
        expect(tech.locator("#escalation-notices-empty")).to_be_visible()

        browser_login(agent, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(agent)
        agent_desktop = agent
        ticket = ctx_agent.new_page()
        problems.watch(ticket)
        ticket.goto(f"{server.url}/tickets/{tid}")
        counter = ticket.locator("#first-level-elapsed")
        expect(counter).to_have_attribute("data-running", "true")
        first = int(counter.get_attribute("data-seconds"))
        expect(counter).not_to_have_attribute("data-seconds", str(first), timeout=3000)   # it ticks
        expect(ticket.locator("#first-level-limit")).to_have_text("3:00:00")

        ticket.select_option("#esc-group", str(group_id))
        # only technical support's members can be picked
        visible = ticket.locator("#esc-person option:not([hidden])").all_inner_texts()
        assert any("Oh Jisoo" in t for t in visible) and not any("Song Yerin" in t for t in visible)
        ticket.select_option("#esc-person", str(stack.user_id("tech1")))
        ticket.fill("#esc-reason", "Printer offline " + XSS)
        ticket.click("#btn-escalate")
        expect(ticket.locator("#ticket-level")).to_have_text("2nd level")
        expect(ticket.locator("#ticket-assignee")).to_have_text("Oh Jisoo")
        expect(ticket.locator("#assignment-timeline li")).to_have_count(1)
        expect(ticket.locator("#assignment-timeline .tl-detail")).to_have_text("Printer offline " + XSS)

        notice = tech.locator("#escalation-notices li[data-kind='escalation']")
        expect(notice).to_have_count(1)
        expect(notice).to_have_attribute("data-ticket-id", str(tid))
        expect(notice.locator(".notice-text")).to_contain_text("Kim Jiwoo")
        expect(notice.locator(".notice-reason")).to_have_text("Printer offline " + XSS)
        assert notice.locator("img").count() == 0
        assert tech.evaluate("window.__xss") is None and ticket.evaluate("window.__xss") is None

        # severity 1 without a progress update: the escalating agent's desktop gets the flag
        service = stack.app.extensions[EXTENSION_KEY].service
        service.classify(tid, stack.user_id("tech1"), "mail", 1)
        later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=31)
        assert service.run_due(later) == [("progress", tid, "flagged")]
        flag = agent_desktop.locator("#escalation-notices li[data-kind='overdue']")
        expect(flag).to_have_count(1)
        expect(flag).to_have_attribute("data-ticket-id", str(tid))
        ticket.reload()
        expect(ticket.locator("#overdue-flag")).to_be_visible()

        # the member resolves at the 2nd level: the agent is told at once
        tech_ticket = ctx_tech.new_page()
        problems.watch(tech_ticket)
        tech_ticket.goto(f"{server.url}/tickets/{tid}")
        tech_ticket.locator("#resolve2-form").evaluate("f => f.closest('details').open = true")
        tech_ticket.fill("#res2-cause", "driver crashed")
        tech_ticket.fill("#res2-action", "reinstalled the driver")
        tech_ticket.click("#btn-resolve2")
        expect(tech_ticket.locator("#ticket-status")).to_have_attribute("data-status", "resolved")
        expect(agent_desktop.locator("#escalation-notices li[data-kind='resolved']")).to_have_count(1)
        with stack.sessions() as s:
            assert s.get(Ticket, tid).status == "resolved"
        assert problems.items == []
    finally:
        ctx_agent.close()
        ctx_tech.close()
