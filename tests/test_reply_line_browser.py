"""The pop of a survey reply-line call in the agent desktop (headless Chromium):
its type says "Survey reply" (Korean: 만족도 조사 회신) and the survey it is about;
what the survey side and the caller provided is shown as text, never as HTML."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from db.models import Customer
from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import PageProblems, browser_login, new_page, wait_websocket

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'
_channels = itertools.count(1)


def reply_call(stack, agent_id: int, survey: dict) -> dict:
    """A reply-line caller who pressed 2, as ivr/flows/reply_line.py drives the services."""
    cc = stack.call_center
    channel = f"reply-channel-{next(_channels)}"
    with stack.sessions() as s:
        customer = s.scalar(select(Customer.id).where(Customer.pin == "100200"))
    cc.call_started(channel, "01055500102", XSS, "survey_reply", "ko")
    cc.open_ticket(channel, customer, "", "ko")
    cc.note_survey_reply(channel, survey)
    cc.enqueue(channel, survey["queue"])
    cc.set_agent_state(agent_id, "ready")
    return cc.offer(channel, agent_id)


@pytest.mark.parametrize("locale,label", [("en-US", "Survey reply"), ("ko-KR", "만족도 조사 회신")])
def test_survey_reply_pop(stack, server, browser, locale, label):
    from playwright.sync_api import expect

    problems = PageProblems()
    ctx, page = new_page(browser, locale=locale)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent2", stack.passwords["agent2"])
        wait_websocket(page)
        pop = reply_call(stack, stack.user_id("agent2"),
                         {"survey_id": 5, "queue": "lan", "incident_id": XSS, "centre": "Busan"})
        assert pop["type"] == "survey_reply" and pop["survey"]["centre"] == "Busan"
        card = page.locator(".screenpop.latest")
        expect(card.locator('[data-field="type"]')).to_have_text(label)
        expect(card.locator('[data-field="subject"]')).to_be_visible()
        expect(card.locator('[data-field="subject"]')).to_have_text(f"Survey reply ({XSS})")
        expect(card.locator('[data-field="caller_name"]')).to_have_text(XSS)
        expect(card.locator('[data-field="customer_name"]')).to_have_text("Choi Yuna")
        assert page.evaluate("window.__xss") is None
        assert page.locator(".screenpop img").count() == 0
        assert problems.items == []
    finally:
        ctx.close()
