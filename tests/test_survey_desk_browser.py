"""Surveys on the desktop in headless Chromium (docs/surveys.md): the Busan centre's
person in charge (agent2) finds a dissatisfied reply received while logged out
listed on the desktop, gets a new one live, opens its ticket (link) and marks
notices read (gone after a reload too); the ticket screen shows the survey; a
repeated trouble's follow-up ticket pops on the Ready agent's desktop.  The
customer's words are text, never HTML."""
from __future__ import annotations

import pytest

from agent_desktop import create_app
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.surveys import answers as terms
from cti.surveys import links
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenSigner
from conftest import FakeClock
from support.browser_fixtures import browser, server  # noqa: F401 - pytest fixtures
from support.desktop import PageProblems, browser_login, make_stack, new_page, wait_websocket
from support.surveys import FakeMailer, FakeSms, messaged_survey

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path, csrf=True, app=False)
    s.clock = FakeClock()
    s.surveys = SurveyService(s.sessions, s.bus, s.config, signer=TokenSigner("k"), mailer=FakeMailer(),
                              sms=FakeSms(), classify=links.survey_term, clock=s.clock)
    s.intake = IntakeService(s.sessions, s.bus, AttachmentStore(tmp_path / "att"), clock=s.clock,
                             also_pop=(links.FOLLOW_UP_CHANNEL,))
    pops = links.FollowUpPops(s.intake, s.bus)
    s.app = create_app(s.config, s.call_center, s.sessions, s.bus, acd_service=s.acd, callback_service=s.callbacks,
                       supervisor_service=s.supervision, survey_service=s.surveys, intake_service=s.intake)
    yield s
    pops.close()
    s.intake.close()
    s.close()


@pytest.mark.parametrize("locale,strings", [
    ("en-US", {"summary": "Dissatisfied survey reply", "read": "Mark as read", "pop": "Survey follow-up",
               "title": "Satisfaction survey", "sms": "Text message"}),
    ("ko-KR", {"summary": "불만족 설문 응답", "read": "읽음 표시", "pop": "설문 후속 요청",
               "title": "만족도 조사", "sms": "문자"}),
])
def test_person_in_charge_notices_ticket_survey_and_follow_up_pop(stack, server, browser, locale, strings):
    from playwright.sync_api import expect

    # Received while agent2 was logged out: kept, listed when the desktop opens.
    old_ticket, old_survey = messaged_survey(stack.surveys, stack.sessions, stack.clock, "100200")
    stack.surveys.record_reply(old_survey, "sms", "1 " + XSS + " 아무도 안 왔어요")
    problems = PageProblems()
    ctx, page = new_page(browser, locale=locale)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent2", stack.passwords["agent2"])
        wait_websocket(page)
        panel = page.locator("#survey-notices-panel")
        items = panel.locator("li.notice")
        expect(items).to_have_count(1)
        expect(items.first.locator(".notice-words")).to_have_text("1 " + XSS + " 아무도 안 왔어요")
        expect(items.first.locator(".notice-text")).to_contain_text(strings["summary"])
        expect(items.first.locator(".notice-text")).to_contain_text(strings["sms"])
        expect(panel.locator("#survey-notices-empty")).to_be_hidden()

        # A new dissatisfied reply arrives while they are logged in: at once, on top.
        new_ticket, new_survey = messaged_survey(stack.surveys, stack.sessions, stack.clock, "100200")
        stack.surveys.record_reply(new_survey, "web", answers=terms.clean_answers(1, "no", "no", XSS))
        expect(items).to_have_count(2)
        live = items.first
        expect(live.locator(".notice-words")).to_have_text(XSS)
        expect(live.locator(".notice-text")).to_contain_text(strings["summary"])
        expect(live.locator("button.notice-read")).to_have_text(strings["read"])
        assert live.locator("a.notice-ticket").get_attribute("href").endswith(f"/tickets/{new_ticket}")
        expect(panel.locator("#survey-notices-count")).to_have_text("2")

        # Mark the old one read: gone now and after a reload.
        old = panel.locator(f'li.notice[data-ticket-id="{old_ticket}"]')
        old.locator("button.notice-read").click()
        expect(items).to_have_count(1)
        page.reload()
        wait_websocket(page)
        expect(items).to_have_count(1)
        assert items.first.get_attribute("data-ticket-id") == str(new_ticket)

        # The follow-up ticket of a repeated trouble pops on the Ready agent's desktop.
        stack.call_center.set_agent_state(stack.user_id("agent2"), "ready")
        got = stack.surveys.record_reply(new_survey, "sms", "또 고장났어요 프린터가 안 돼요")
        assert got.term == terms.REPEATED_TROUBLE and got.ticket_id
        card = page.locator(".screenpop.latest")
        expect(card.locator('[data-field="type"]')).to_have_text(strings["pop"])
        assert card.get_attribute("data-channel") == "survey"
        assert card.get_attribute("href").endswith(f"/tickets/{got.ticket_id}")

        # The surveyed ticket's screen shows the survey, the customer's words as text.
        page.goto(f"{server.url}/tickets/{new_ticket}")
        section = page.locator("#surveys")
        expect(section.locator("h2")).to_have_text(strings["title"])
        expect(section.locator(".survey-attempts tbody tr")).to_have_count(3)
        replies = section.locator(".survey-replies tbody tr")
        expect(replies).to_have_count(2)
        expect(replies.nth(0).locator(".reply-text")).to_have_text(XSS)
        expect(replies.nth(1).locator(".reply-text")).to_have_text("또 고장났어요 프린터가 안 돼요")
        expect(replies.nth(1).locator("a")).to_have_attribute("href", f"/tickets/{got.ticket_id}")
        assert page.evaluate("window.__xss") is None
        assert page.locator("#survey-notices img, #surveys img").count() == 0
        assert problems.items == []
    finally:
        ctx.close()
