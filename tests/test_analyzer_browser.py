"""The analyzer page in headless Chromium: every report's chart is drawn as SVG
from the data set's figures (bar heights follow the values), a hostile agent name
stays text, the form reloads the page for another period, the CSV link downloads
the report, and the page raises no script or CSP error."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import update

from db.models import User
from support import analyzer_data as data
from support import browser_fixtures
from support.desktop import PageProblems, browser_login, make_stack, new_page

browser, server = browser_fixtures.browser, browser_fixtures.server   # the shared fixtures, with this stack

pytestmark = [pytest.mark.browser]

XSS = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path, csrf=True)
    data.load(s.sessions)
    with s.sessions.begin() as session:
        session.execute(update(User).where(User.username == "ana2").values(display_name=XSS))
    yield s
    s.close()


def test_charts_render(browser, server, stack):
    from playwright.sync_api import expect

    context, page = new_page(browser)
    problems = PageProblems()
    problems.watch(page)
    try:
        browser_login(page, server.url, "super", stack.passwords["super"])
        page.click("#nav-analyzer")
        page.fill("#form-from", "2026-11-02")
        page.fill("#form-to", "2026-11-03")
        page.click("#btn-analyze")
        expect(page).to_have_url(server.url + "/analyzer/?from=2026-11-02&to=2026-11-03&site=&queue=")
        # Every report has its chart; bars carry the values of the hand-computed figures.
        for name, bars in [("first_call_resolution", 4), ("intake_by_hour", 24 * 4), ("intake_by_day", 2 * 4),
                           ("satisfaction", 5),
                           ("agents", 6), ("handling_time", 6), ("calls_by_queue", 4),
                           ("survey_channels", 5 * 2), ("survey_terms", 8), ("survey_people", 3 * 3)]:
            expect(page.locator(f'figure[data-chart="{name}"]')).to_have_attribute("data-drawn", str(bars))
            expect(page.locator(f'figure[data-chart="{name}"] svg rect.bar')).to_have_count(bars)
        hours = page.locator('figure[data-chart="intake_by_hour"] rect.bar[data-series="phone"]')
        assert [hours.nth(h).get_attribute("data-value") for h in (0, 8, 9, 11, 12, 19)] == ["1"] * 6
        ratings = page.locator('figure[data-chart="satisfaction"] rect.bar')
        heights = [float(ratings.nth(i).get_attribute("height")) for i in range(5)]
        assert heights[4] == pytest.approx(2 * heights[1]) and heights[0] == heights[2] == 0   # 2 fives, 1 two
        # The hostile name is text in the table and in the chart's tooltip, never markup.
        names = page.locator("#report-agents td[data-col=agent]")
        assert sorted(names.all_inner_texts()) == sorted(["Agent One", XSS])
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#report-agents img").count() == 0
        people = page.locator("#report-survey_people td[data-col=served_by]")
        assert sorted(people.all_inner_texts()) == sorted(["Agent One", XSS, "Tech One"])
        assert page.locator("#report-survey_people img").count() == 0
        replied = page.locator('figure[data-chart="survey_channels"] rect.bar[data-series="replied"]')
        assert [replied.nth(i).get_attribute("data-value") for i in range(5)] == ["1", "1", "3", "1", "1"]
        # The CSV link downloads the report as a file.
        with page.expect_download() as info:
            page.click("#csv-first_call_resolution")
        download = info.value
        assert download.suggested_filename == "first_call_resolution_2026-11-02_2026-11-03.csv"
        rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
        assert rows[:3] == [["Queue", "Resolved", "Resolved at first contact", "Rate"],
                            ["Network (LAN)", "2", "0", "0.0"], ["PC and laptops", "4", "2", "0.5"]]
        # An empty period draws the "no data" chart.
        page.fill("#form-from", "2020-01-01")
        page.fill("#form-to", "2020-01-02")
        page.click("#btn-analyze")
        expect(page.locator('figure[data-chart="agents"]')).to_have_attribute("data-drawn", "empty")
        assert problems.items == []
    finally:
        context.close()
