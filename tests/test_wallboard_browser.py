"""Wallboard and dashboard in headless Chromium: the figures on screen follow the
calls made through cti.services.CallCenter and equal a fresh SQL count of the
database within 2 seconds; hostile queue titles stay text; the dashboard's SVG
charts carry the per-site numbers of the database."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text, update

from cti.clock import utc_now
from cti.services import CallCenter
from db.models import Queue
from support.browser_fixtures import browser, server  # noqa: F401 - pytest fixtures
from support.desktop import (PageProblems, browser_login, make_stack, new_page, wait_websocket)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
WITHIN_S = 2.0          # the page must show the database's figures this soon after a change
TALK = ("le_3m", "le_5m", "le_10m", "gt_10m")


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path, csrf=True)
    with s.sessions.begin() as session:
        session.execute(update(Queue).where(Queue.name == "lan").values(title=XSS, title_en=XSS))
    yield s
    s.close()


class ShiftedClock:
    """Real time minus ``back`` seconds: calls can be queued "30 s ago"."""

    def __init__(self):
        self.back = 0.0

    def __call__(self) -> dt.datetime:
        return utc_now() - dt.timedelta(seconds=self.back)


# ---- a fresh reading of the database, in SQL only -------------------------------------------
def db_figures(stack) -> dict:
    wait = "(julianday(c.answered_at) - julianday(c.queued_at)) * 86400.0"
    talk = "(julianday(c.ended_at) - julianday(c.answered_at)) * 86400.0"
    with stack.sessions() as s:
        rows = s.execute(text(f"""
            SELECT q.name,
                   COALESCE(SUM(c.answered_at IS NOT NULL), 0),
                   COALESCE(SUM(c.answered_at IS NOT NULL AND {wait} <= q.service_level_seconds), 0),
                   COALESCE(SUM(c.answered_at IS NULL AND c.outcome = 'abandoned'), 0),
                   COALESCE(SUM(c.answered_at IS NULL AND c.outcome = 'abandoned'
                                AND (julianday(c.ended_at) - julianday(c.queued_at)) * 86400.0 <= 5), 0),
                   COALESCE(SUM(c.answered_at IS NULL AND c.ended_at IS NULL
                                AND c.outcome IN ('queued', 'ringing')), 0),
                   COALESCE(SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} <= 180), 0),
                   COALESCE(SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL
                                AND {talk} > 180 AND {talk} <= 300), 0),
                   COALESCE(SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL
                                AND {talk} > 300 AND {talk} <= 600), 0),
                   COALESCE(SUM(c.ended_at IS NOT NULL AND c.answered_at IS NOT NULL AND {talk} > 600), 0)
            FROM queues q LEFT JOIN call_records c ON c.queue_id = q.id AND c.queued_at IS NOT NULL
            GROUP BY q.name""")).all()
        states = dict(s.execute(text("""
            SELECT u.state, COUNT(DISTINCT u.id) FROM users u JOIN queue_members m ON m.user_id = u.id
            WHERE u.role IN ('agent', 'supervisor') AND u.active GROUP BY u.state""")).all())
    queues = {}
    for name, answered, within, abandoned, short, waiting, *talk_counts in rows:
        queues[name] = {"answered": answered, "answered_within_sl": within, "abandoned": abandoned,
                        "short_abandoned": short, "waiting_now": waiting,
                        **{f"talk_time.{b}": n for b, n in zip(TALK, talk_counts)}}
    total = {key: sum(q[key] for q in queues.values()) for key in next(iter(queues.values()))}
    for figures in [total, *queues.values()]:
        counted = figures["answered"] + figures["abandoned"] - figures["short_abandoned"]
        figures["service_level_share"] = (f"{int(figures['answered_within_sl'] * 100 / counted + 0.5)}%"
                                          if counted else "—")
    return {"total": total, "queues": queues, "states": states}


NUMERIC = ("answered", "answered_within_sl", "abandoned", "waiting_now") + tuple(
    f"talk_time.{b}" for b in TALK)


def page_figures(page) -> dict:
    """What the wallboard shows (read from the DOM in one go)."""
    return page.evaluate("""(keys) => {
        const read = (root) => {
            const out = {};
            for (const k of keys) {
                const el = root.querySelector(`[data-figure="${k}"]`);
                out[k] = el ? Number(el.textContent) : null;
            }
            const share = root.querySelector('[data-figure="service_level_share"]');
            if (share) { out.service_level_share = share.textContent; }
            return out;
        };
        const queues = {};
        for (const tr of document.querySelectorAll('#queues-table tbody tr')) {
            queues[tr.dataset.queue] = read(tr);
        }
        const total = read(document.getElementById('total'));
        Object.assign(total, Object.fromEntries(Object.entries(read(document.getElementById('talk-total')))
                                                .filter(([k, v]) => k.startsWith('talk_time.'))));
        total.short_abandoned = Number(
            document.querySelector('#total [data-figure="short_abandoned"]').textContent);
        const states = {};
        for (const el of document.querySelectorAll('[data-state-count]')) {
            const n = Number(el.textContent);
            if (n) { states[el.dataset.stateCount] = n; }
        }
        return {total, queues, states};
    }""", list(NUMERIC))


def expected_view(db: dict) -> dict:
    keys = NUMERIC + ("service_level_share",)
    total = {k: db["total"][k] for k in keys}
    total["short_abandoned"] = db["total"]["short_abandoned"]
    return {"total": total,
            "queues": {name: {k: q[k] for k in keys} for name, q in db["queues"].items()},
            "states": {state: n for state, n in db["states"].items() if n}}


def assert_board_matches_db(page, stack, since: float) -> dict:
    """Poll until the page equals a fresh SQL reading; fail if that takes more than
    WITHIN_S seconds after ``since`` (the moment of the change)."""
    shown = None
    while True:
        want = expected_view(db_figures(stack))
        shown = page_figures(page)
        if shown == want:
            return want
        if time.monotonic() - since > WITHIN_S:
            break
        time.sleep(0.05)
    assert shown == want, "wallboard differs from the database after %.1f s" % WITHIN_S


def longest_wait_seconds(page) -> int:
    return int(page.locator('#total [data-figure="longest_wait"]').get_attribute("data-seconds") or -1)


def test_wallboard_follows_the_calls(stack, server, browser):
    from playwright.sync_api import expect

    clock = ShiftedClock()
    cc = CallCenter(stack.sessions, stack.bus, clock)        # same database and bus as the app
    agent1, agent2 = stack.user_id("agent1"), stack.user_id("agent2")
    problems = PageProblems()
    dialogs: list[str] = []
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        browser_login(page, server.url, "trainee1", stack.passwords["trainee1"])
        page.click("#nav-wallboard")
        expect(page).to_have_url(server.url + "/wallboard")
        wait_websocket(page)
        assert_board_matches_db(page, stack, time.monotonic())
        expect(page.locator('#total [data-figure="service_level_share"]')).to_have_text("—")

        # The hostile title is text: no element, no dialog.
        lan_title = page.locator('#queues-table tr[data-queue="lan"] .queue-title')
        expect(lan_title).to_contain_text(XSS)
        assert page.locator("#wallboard img").count() == 0

        # 1. agent2 goes ready: the agents by state follow.
        started = time.monotonic()
        cc.set_agent_state(agent2, "ready")
        assert_board_matches_db(page, stack, started)
        expect(page.locator('[data-state-count="ready"]')).to_have_text("1")

        # 2. pc: queued 30 s ago, answered now (over the 20 s service level), ended.
        clock.back = 30
        cc.call_started("wb-a", "0255501000", "Caller A", "1600", "ko")
        cc.open_ticket("wb-a", None, "", "ko")
        cc.enqueue("wb-a", "pc")
        clock.back = 0
        started = time.monotonic()
        cc.set_agent_state(agent1, "ready")
        cc.offer("wb-a", agent1)
        cc.answered("wb-a", agent1)
        want = assert_board_matches_db(page, stack, started)
        assert want["total"]["answered"] == 1 and want["total"]["answered_within_sl"] == 0
        started = time.monotonic()
        cc.call_ended("wb-a")
        want = assert_board_matches_db(page, stack, started)
        assert want["total"]["talk_time.le_3m"] == 1 and want["total"]["service_level_share"] == "0%"

        # 3. pc: answered at once (within), still talking.
        started = time.monotonic()
        cc.call_started("wb-b", "0255501001", "Caller B", "1600", "ko")
        cc.open_ticket("wb-b", None, "", "ko")
        cc.enqueue("wb-b", "pc")
        cc.offer("wb-b", agent2)
        cc.answered("wb-b", agent2)
        want = assert_board_matches_db(page, stack, started)
        assert want["queues"]["pc"]["service_level_share"] == "50%"

        # 4. lan (the hostile title): queued 10 s ago, the caller hangs up -> abandoned.
        clock.back = 10
        cc.call_started("wb-c", "0255501002", XSS, "1600", "ko")
        cc.open_ticket("wb-c", None, "", "ko")
        cc.enqueue("wb-c", "lan")
        clock.back = 0
        started = time.monotonic()
        cc.call_ended("wb-c")
        want = assert_board_matches_db(page, stack, started)
        assert want["queues"]["lan"]["abandoned"] == 1 and want["total"]["service_level_share"] == "33%"

        # 5. office: queued 3 s ago and still waiting; the longest wait ticks in the page.
        clock.back = 3
        started = time.monotonic()
        cc.call_started("wb-d", "0255501003", "Caller D", "1600", "ko")
        cc.open_ticket("wb-d", None, "", "ko")
        cc.enqueue("wb-d", "office")
        clock.back = 0
        want = assert_board_matches_db(page, stack, started)
        assert want["total"]["waiting_now"] == 1
        first = longest_wait_seconds(page)
        assert 2 <= first <= 3 + WITHIN_S + 1
        time.sleep(3.2)
        second = longest_wait_seconds(page)
        # Ticked locally (no server push needed); the shown value may lag by up to one tick.
        assert second >= first + 2
        with stack.sessions() as s:
            oldest = s.execute(text("SELECT MIN(queued_at) FROM call_records WHERE answered_at IS NULL "
                                    "AND ended_at IS NULL AND outcome IN ('queued', 'ringing')")).scalar()
        db_wait = (utc_now() - dt.datetime.fromisoformat(str(oldest))).total_seconds()
        assert db_wait - 2.5 <= second <= db_wait + 0.5
        office_wait = page.locator('#queues-table tr[data-queue="office"] [data-figure="longest_wait"]')
        expect(office_wait).not_to_have_text("—")

        page.screenshot(path="/tmp/wallboard.png", full_page=True)
        assert dialogs == [] and page.locator("#wallboard img").count() == 0
        assert problems.items == []
    finally:
        ctx.close()


def db_dashboard(stack) -> tuple[dict, dict, dict]:
    """(site, channel) -> n, (site, status) -> n, (site, state) -> n, in SQL only."""
    with stack.sessions() as s:
        tickets = s.execute(text("""
            SELECT COALESCE(si.code, 'unspecified'), t.channel, t.status, COUNT(*)
            FROM tickets t LEFT JOIN queues q ON q.id = t.queue_id LEFT JOIN sites si ON si.id = q.site_id
            GROUP BY 1, 2, 3""")).all()
        agents = s.execute(text("""
            SELECT COALESCE(si.code, 'unspecified'), u.state, COUNT(DISTINCT u.id)
            FROM users u JOIN queue_members m ON m.user_id = u.id LEFT JOIN sites si ON si.id = u.site_id
            WHERE u.role IN ('agent', 'supervisor') AND u.active GROUP BY 1, 2""")).all()
    channels, statuses = {}, {}
    for site, channel, status, n in tickets:
        channels[(site, channel)] = channels.get((site, channel), 0) + n
        statuses[(site, status)] = statuses.get((site, status), 0) + n
    return channels, statuses, {(site, state): n for site, state, n in agents}


def chart_values(page, chart_id: str) -> dict:
    script = """(id) => Array.from(document.querySelectorAll(`#${id} svg rect.bar`)).map(r => {
        const sel = `#${id} text.bar-value[data-site="${r.dataset.site}"][data-key="${r.dataset.key}"]`;
        return [r.dataset.site, r.dataset.key, Number(r.dataset.value),
                Number(document.querySelector(sel).textContent)];
    })"""
    bars = page.evaluate(script, chart_id)
    out = {}
    for site, key, value, label in bars:
        assert value == label, (chart_id, site, key)
        out[(site, key)] = value
    return out


def nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}


def test_dashboard_charts_equal_the_database(stack, server, browser):
    from playwright.sync_api import expect

    cc = stack.call_center
    agent1, agent2 = stack.user_id("agent1"), stack.user_id("agent2")
    # Seoul (pc): answered and resolved; Busan (lan): abandoned, and one waiting.
    cc.set_agent_state(agent1, "ready")
    for channel, queue in (("d-1", "pc"), ("d-2", "lan"), ("d-3", "lan"), ("d-4", "apps")):
        cc.call_started(channel, "0255500000", "Caller", "1600", "ko")
        cc.open_ticket(channel, None, "", "ko")
        cc.enqueue(channel, queue)
    cc.offer("d-1", agent1)
    cc.answered("d-1", agent1)
    cc.call_ended("d-1")
    cc.resolve(stack.call_center.call_info("d-1").ticket_id, agent1, "fixed")
    cc.call_ended("d-2")
    cc.set_agent_state(agent2, "not_ready", "break")

    problems = PageProblems()
    dialogs: list[str] = []
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        page.click("#nav-dashboard")
        expect(page).to_have_url(server.url + "/dashboard")
        wait_websocket(page)
        for chart in ("#chart-intake", "#chart-status", "#chart-stage", "#chart-agents"):
            expect(page.locator(f"{chart} svg rect.bar").first).to_be_attached()

        channels, statuses, agents = db_dashboard(stack)
        assert nonzero(chart_values(page, "chart-intake")) == channels
        assert nonzero(chart_values(page, "chart-status")) == statuses
        assert nonzero(chart_values(page, "chart-agents")) == agents
        assert channels == {("SEL", "phone"): 2, ("BSN", "phone"): 2}
        assert statuses == {("SEL", "resolved"): 1, ("SEL", "queued"): 1, ("BSN", "abandoned"): 1,
                            ("BSN", "queued"): 1}
        stages = nonzero(chart_values(page, "chart-stage"))
        assert stages == {("SEL", "resolved"): 1, ("SEL", "waiting"): 1, ("BSN", "abandoned"): 1,
                          ("BSN", "waiting"): 1}
        expect(page.locator("#tickets-total")).to_have_text("4")
        expect(page.locator('#site-legend li[data-site="SEL"] .site-count')).to_have_text("2")
        expect(page.locator('#site-legend li[data-site="BSN"] .site-name')).to_have_text("Busan centre")

        # Live: a new Busan call shows up without reloading.
        started = time.monotonic()
        cc.call_started("d-5", "0255500005", "Caller", "1600", "ko")
        cc.open_ticket("d-5", None, "", "ko")
        cc.enqueue("d-5", "office")
        bar = page.locator('#chart-status rect.bar[data-site="BSN"][data-key="queued"]')
        expect(bar).to_have_attribute("data-value", "2", timeout=int(WITHIN_S * 1000))
        assert time.monotonic() - started <= WITHIN_S + 0.5
        _, statuses, _ = db_dashboard(stack)
        assert nonzero(chart_values(page, "chart-status")) == statuses

        page.screenshot(path="/tmp/dashboard.png", full_page=True)
        assert dialogs == [] and problems.items == []
    finally:
        ctx.close()


def test_korean_wallboard(stack, server, browser):
    from playwright.sync_api import expect

    ctx, page = new_page(browser, locale="ko-KR")
    try:
        browser_login(page, server.url, "agent2", stack.passwords["agent2"])
        page.goto(server.url + "/wallboard")
        wait_websocket(page)
        expect(page.locator("h1")).to_have_text("상황판")
        expect(page.locator('[data-tile="service_level_share"] .tile-label')).to_have_text("서비스 레벨")
        pc_title = page.locator('#queues-table tr[data-queue="pc"] .queue-title')
        expect(pc_title).to_contain_text("PC·노트북")
        expect(page.locator('#agent-list li[data-agent-id] .state-badge').first).to_have_text("로그아웃")
        expect(page.locator("#nav-dashboard")).to_have_text("대시보드")
    finally:
        ctx.close()
