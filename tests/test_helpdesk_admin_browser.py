"""In Chromium: the admin opens the help-desk tables from the top bar, a bad SLA
value is refused next to its field with the typed text kept, the corrected value
is saved and listed, and a new support group is added (docs/escalation.md)."""
from __future__ import annotations

import pytest

from support.browser_fixtures import browser, server, stack  # noqa: F401 - pytest fixtures
from support.desktop import PageProblems, browser_login, new_page

pytestmark = pytest.mark.browser


def test_admin_edits_the_sla_table_and_adds_a_group(stack, server, browser):
    from playwright.sync_api import expect

    problems = PageProblems(expected=r"status of 400")     # the refused form answers 400, on purpose
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "admin", stack.passwords["admin"])
        page.click("#nav-helpdesk-admin")
        expect(page.locator("#groups-table tr[data-group='operations']")).to_be_visible()
        page.click("text=SLA table")
        row = page.locator("#sla-table tr[data-rule='*/1']")
        expect(row.locator("[data-field='progress_minutes']")).to_have_text("30")
        row.locator("a").click()
        page.fill("#sla-progress_minutes", "half an hour")
        page.click("#btn-save-rule")
        expect(page.locator("[data-error-for='sla-progress_minutes']")).to_contain_text("Whole minutes")
        expect(page.locator("#sla-progress_minutes")).to_have_value("half an hour")
        page.fill("#sla-progress_minutes", "15")
        page.click("#btn-save-rule")
        expect(page.locator(".flash")).to_contain_text("saved")
        expect(page.locator("#sla-table tr[data-rule='*/1'] [data-field='progress_minutes']")).to_have_text("15")

        page.click("text=Support groups")
        page.click("#btn-new-group")
        page.fill("#group-code", "security")
        page.fill("#group-name", "보안 전문그룹")
        page.fill("#group-name_en", "<b>Security</b>")
        page.select_option("#group-kind", "specialist")
        page.click("#btn-save-group")
        expect(page.locator(".flash")).to_contain_text("security")
        page.select_option("#member-user", label="Oh Jisoo (tech1)")
        page.fill("#member-skills", "PKI")
        page.click("#btn-save-member")
        expect(page.locator("#members-table tr[data-member='tech1']")).to_contain_text("PKI")
        page.click("text=All groups")
        expect(page.locator("#groups-table tr[data-group='security']")).to_contain_text("<b>Security</b>")
        assert problems.items == []
    finally:
        ctx.close()
