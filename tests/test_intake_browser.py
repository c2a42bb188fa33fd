"""End to end: an e-mail sent with smtplib over real SMTP to the listener becomes
a ticket and pops on the agent's desktop in Chromium; a reply threads onto it;
a portal form with script in every field pops escaped (docs/intake.md)."""
from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select

from db.models import Ticket, TicketMessage
from support.browser_fixtures import browser  # noqa: F401 - pytest fixture
from support.desktop import PageProblems, browser_login, new_page, wait_websocket
from support.intake import served_intake_stack
from test_intake import make_mail

pytestmark = pytest.mark.browser

CENTRE = "helpdesk@happycall.test"
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def intake_stack(tmp_path):
    with served_intake_stack(tmp_path, CENTRE) as served:
        yield served


def test_email_pops_on_the_desktop_and_a_reply_threads(intake_stack, browser):
    from playwright.sync_api import expect

    stack, _intake, listener, server = intake_stack
    problems = PageProblems()
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        page.click("#btn-ready")
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")

        with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
            client.sendmail("gildong.hong@example.com", [CENTRE],
                            make_mail(subject=f"Printer {XSS}", msgid="<root@example.com>"))
        card = page.locator(".screenpop")
        expect(card).to_have_count(1)
        with stack.sessions() as s:
            ticket = s.scalars(select(Ticket)).one()
        expect(card).to_have_attribute("data-channel", "email")
        expect(card.locator('[data-field="type"]')).to_have_text("E-mail")
        expect(card.locator('[data-field="incident_id"]')).to_have_text(ticket.incident_id)
        expect(card.locator('[data-field="customer_name"]')).to_have_text("홍길동 (Hong Gildong)")
        expect(card.locator('[data-field="subject"]')).to_have_text(f"Printer {XSS}")
        assert page.evaluate("window.__xss") is None
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")   # nothing rings

        with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
            client.sendmail("gildong.hong@example.com", [CENTRE],
                            make_mail(subject="Re: Printer", msgid="<reply@example.com>",
                                      in_reply_to="<root@example.com>", body="Still broken."))
        with stack.sessions() as s:
            assert s.scalars(select(TicketMessage.ticket_id)).all() == [ticket.id, ticket.id]
            assert s.scalar(select(Ticket.id).where(Ticket.id != ticket.id)) is None

        with ctx.expect_page() as opened:
            page.click(".screenpop")   # the card opens the ticket in a new tab
        ticket_page = opened.value
        expect(ticket_page.locator("#history")).to_contain_text("E-mail received")
        expect(ticket_page.locator("#history li[data-kind='message_received']")).to_have_count(2)
        assert problems.items == []
    finally:
        ctx.close()


def test_portal_form_with_script_pops_escaped(intake_stack, browser):
    from playwright.sync_api import expect

    stack, _intake, _listener, server = intake_stack
    ctx, agent = new_page(browser)
    cctx, customer = new_page(browser)
    try:
        browser_login(agent, server.url, "agent2", stack.passwords["agent2"])
        wait_websocket(agent)
        agent.click("#btn-ready")
        expect(agent.locator("#agent-state")).to_have_attribute("data-state", "ready")
        customer.goto(server.url + "/portal/")
        for field in ("name", "identifier", "phone", "subject", "description"):
            customer.fill(f"#f-{field}", XSS)
        customer.click("#btn-portal-submit")
        incident = customer.locator("#incident-id")
        expect(incident).to_contain_text("INC-")
        card = agent.locator(".screenpop")
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("data-channel", "web")
        expect(card.locator('[data-field="caller_name"]')).to_have_text(XSS)
        expect(card.locator('[data-field="incident_id"]')).to_have_text(incident.text_content())
        expect(card.locator('[data-field="customer_name"]')).to_have_text("unknown caller")
        assert agent.evaluate("window.__xss") is None and customer.evaluate("window.__xss") is None
    finally:
        ctx.close()
        cctx.close()
