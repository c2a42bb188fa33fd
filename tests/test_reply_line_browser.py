"""The pop of a survey reply-line call in the agent desktop (headless Chromium):
its type says "Survey reply" (Korean: 만족도 조사 회신) and the survey it is about
-- the service, the questions with the answers received so far on every channel,
the rating and the terms -- with the customer's sensitivity codes; what the
survey side and the caller provided is shown as text, never as HTML."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from cti.surveys import links
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenSigner
from db.models import Customer, Ticket
from support.surveys import FakeMailer, FakeSms, messaged_survey
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


def survey_with_replies(stack, clock) -> dict:
    """Customer 100200's survey, answered by SMS (with markup) and by e-mail, as the
    reply line's lookup finds it for their mobile number (cti/surveys/links.py)."""
    service = SurveyService(stack.sessions, stack.bus, stack.config, signer=TokenSigner("k"), mailer=FakeMailer(),
                            sms=FakeSms(), classify=links.survey_term, clock=clock)
    ticket, survey_id = messaged_survey(service, stack.sessions, clock, pin="100200")
    service.record_reply(survey_id, "sms", XSS + " 또 고장났어요")
    service.record_email_reply(survey_id, "2 1 2 담당자가 불친절했어요\n\nOn Thu, Busan wrote:\n> 1. 만족도")
    with stack.sessions() as s:
        mobile = s.get(Ticket, ticket).customer.mobile
    return links.reply_line_lookup(service)(mobile)


@pytest.mark.parametrize("locale,strings", [
    ("en-US", {"title": "Satisfaction survey", "yes": "Yes", "no": "No", "sms": "Text message",
               "email": "E-mail", "trouble": "Repeated trouble",
               "keys": "Rating 2/5 · Trouble again Yes · Kind staff No"}),
    ("ko-KR", {"title": "만족도 조사", "yes": "예", "no": "아니오", "sms": "문자", "email": "이메일",
               "trouble": "재고장", "keys": "평점 2/5 · 재발 예 · 직원 친절 아니오"}),
])
def test_survey_reply_pop_shows_the_survey_answers_and_codes(stack, server, browser, clock, locale, strings):
    from playwright.sync_api import expect

    survey = survey_with_replies(stack, clock)
    problems = PageProblems()
    ctx, page = new_page(browser, locale=locale)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent2", stack.passwords["agent2"])
        wait_websocket(page)
        pop = reply_call(stack, stack.user_id("agent2"), survey)
        assert pop["survey"]["replies"] and "sensitivity" in pop
        wrapper = page.locator(".pop-card").first
        block = wrapper.locator('[data-block="survey"]')
        expect(block).to_be_visible()
        expect(block.locator("h3")).to_contain_text(strings["title"])
        expect(block.locator("h3 a.pop-survey-ticket")).to_have_text(survey["incident_id"])
        assert block.locator("h3 a.pop-survey-ticket").get_attribute("href").endswith(f"/{survey['ticket_id']}")
        expect(block.locator('[data-field="service"] dd')).to_have_text("printer jams")
        expect(block.locator('[data-field="resolution"] dd')).to_have_text("replaced the roller")
        # The first answer to each question stays: the rating 2 and the e-mail's yes/no keys.
        expect(block.locator('[data-field="rating"] dd')).to_have_text("2 / 5")
        expect(block.locator('[data-field="trouble_again"] dd')).to_have_text(strings["yes"])
        expect(block.locator('[data-field="staff_kind"] dd')).to_have_text(strings["no"])
        expect(block.locator('[data-field="comment"] dd')).to_have_text(XSS + " 또 고장났어요")
        expect(block.locator('[data-field="term"] dd')).to_have_text(strings["trouble"])
        replies = block.locator(".pop-survey-replies li")
        expect(replies).to_have_count(2)
        expect(replies.nth(0).locator(".reply-channel")).to_have_text(strings["sms"])
        expect(replies.nth(0).locator(".reply-term")).to_have_text(strings["trouble"])
        expect(replies.nth(0).locator(".reply-text")).to_have_text(XSS + " 또 고장났어요")
        expect(replies.nth(1).locator(".reply-channel")).to_have_text(strings["email"])
        expect(replies.nth(1).locator(".reply-keys")).to_have_text(strings["keys"])
        expect(replies.nth(1).locator(".reply-text")).to_have_text("담당자가 불친절했어요")
        expect(replies.nth(0).locator(".reply-keys")).to_have_count(0)          # the SMS keyed nothing
        # The customer's sensitivity codes are on the same pop.
        expect(wrapper.locator('[data-block="sensitivity"]')).to_be_visible()
        assert page.evaluate("window.__xss") is None
        assert page.locator(".pop-card img, .pop-card b").count() == 0
        assert problems.items == []
    finally:
        ctx.close()
