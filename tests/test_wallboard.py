"""Wallboard and dashboard over HTTP and Socket.IO (no browser), and the publisher."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlalchemy import text, update

from agent_desktop.wallboard_feed import EXTENSION_KEY, WALLBOARD_ROOM, WallboardPublisher
from cti import events
from cti.floor_service import FloorService
from db.models import Queue
from support.client_fixtures import stack  # noqa: F401 - pytest fixtures
from support.desktop import logged_in, login, make_stack, place_call

XSS = "<img src=x onerror=alert(1)>"
PAGES = ("/wallboard", "/dashboard")
APIS = ("/api/floor/wallboard", "/api/floor/dashboard")


def json_block(page: str, block_id: str):
    return json.loads(re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', page,
                                re.S).group(1))


def publisher(stack) -> WallboardPublisher:
    return stack.app.extensions[EXTENSION_KEY]


# ---- access ---------------------------------------------------------------------------------
def test_anonymous_gets_the_login_page_and_the_api_a_401(stack):
    client = stack.app.test_client()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next={url}"
    for url in APIS:
        response = client.get(url)   # no Accept header: still JSON, still 401
        assert response.status_code == 401
        assert response.is_json and "error" in response.get_json()
        assert "total" not in response.get_json() and "tickets" not in response.get_json()


@pytest.mark.parametrize("username", ["agent1", "super", "admin", "trainee1"])
def test_every_role_sees_both_boards(stack, username):
    client = logged_in(stack, username)
    for url in PAGES + APIS:
        assert client.get(url).status_code == 200, url
    page = client.get("/").get_data(as_text=True) if username != "super" else \
        client.get("/supervisor/").get_data(as_text=True)
    assert '<a href="/wallboard" id="nav-wallboard"' in page
    assert '<a href="/dashboard" id="nav-dashboard"' in page


def test_api_after_logout_is_401(stack):
    client = logged_in(stack)
    assert client.get("/api/floor/wallboard").status_code == 200
    client.post("/logout")
    assert client.get("/api/floor/wallboard").status_code == 401


# ---- JSON -----------------------------------------------------------------------------------
FIGURE_KEYS = {"answered", "answered_within_sl", "abandoned", "short_abandoned", "lost", "callbacks",
               "waiting_now", "longest_wait_s", "longest_wait_since", "talk_time", "agents_by_state",
               "service_level_share", "service_level_s"}


def test_wallboard_json_shape(stack):
    data = logged_in(stack).get("/api/floor/wallboard").get_json()
    assert {"server_time", "day_start", "timezone", "refresh_seconds", "short_abandon_seconds", "states",
            "total", "queues", "agents"} <= set(data)
    assert data["timezone"] == "Asia/Seoul" and data["refresh_seconds"] == 1.0
    assert data["states"] == ["logged_out", "ready", "not_ready", "ringing", "talking", "wrap_up"]
    # the floor total also counts tickets whose progress is overdue (docs/escalation.md)
    assert set(data["total"]) == FIGURE_KEYS | {"overdue_tickets"}
    assert data["total"]["overdue_tickets"] == 0
    assert [q["name"] for q in data["queues"]] == ["helpdesk", "pc", "lan", "apps", "office"]
    for q in data["queues"]:
        assert set(q) == FIGURE_KEYS | {"name", "title", "title_en", "site"}
        assert set(q["talk_time"]) == {"le_3m", "le_5m", "le_10m", "gt_10m"}
        assert set(q["agents_by_state"]) == set(data["states"])
    assert {a["name"] for a in data["agents"]} == {"Kim Jiwoo", "Lee Minjun"}
    assert data["server_time"].endswith("Z") and data["day_start"].endswith("Z")


def test_dashboard_json_shape(stack):
    data = logged_in(stack).get("/api/floor/dashboard").get_json()
    assert [s["code"] for s in data["sites"]] == ["SEL", "BSN"]
    assert data["intake_types"] == ["phone", "email", "web", "onestop"]
    assert data["stages"] == ["waiting", "in_progress", "resolved", "abandoned"]
    assert set(data["tickets"]["by_site"]) == set(data["agents"]["by_site"]) == {"SEL", "BSN"}
    for block in [data["tickets"]["total"], *data["tickets"]["by_site"].values()]:
        assert {"total", "by_intake_type", "by_status", "by_stage"} <= set(block)
    assert data["agents"]["by_site"]["SEL"]["logged_out"] == 1
    assert data["agents"]["by_site"]["BSN"]["logged_out"] == 1


def test_figures_follow_the_calls_and_match_the_database(stack):
    cc = stack.call_center
    agent1 = stack.user_id("agent1")
    answered = place_call(cc, agent_id=agent1, answer=True, queue="pc")
    cc.call_ended(answered["channel_id"])
    gone = place_call(cc, queue="lan")
    cc.call_ended(gone["channel_id"])
    place_call(cc, queue="lan")                      # still waiting
    data = logged_in(stack).get("/api/floor/wallboard").get_json()
    with stack.sessions() as s:
        per_queue = {name: (a, ab, w) for name, a, ab, w in s.execute(text("""
            SELECT q.name, SUM(c.answered_at IS NOT NULL),
                   SUM(c.outcome = 'abandoned'),
                   SUM(c.outcome IN ('queued', 'ringing') AND c.ended_at IS NULL)
            FROM call_records c JOIN queues q ON q.id = c.queue_id GROUP BY q.name""")).all()}
    assert per_queue == {"pc": (1, 0, 0), "lan": (0, 1, 1)}
    queues = {q["name"]: q for q in data["queues"]}
    for name, (a, ab, w) in per_queue.items():
        q = queues[name]
        assert (q["answered"], q["abandoned"], q["waiting_now"]) == (a, ab, w)
    assert (data["total"]["answered"], data["total"]["abandoned"], data["total"]["waiting_now"]) == (1, 1, 1)
    assert queues["lan"]["longest_wait_since"] is not None
    assert queues["pc"]["talk_time"]["le_3m"] == 1
    assert data["total"]["agents_by_state"]["ready"] == 1          # agent1 back after the call

    dash = logged_in(stack, "trainee1").get("/api/floor/dashboard").get_json()
    assert dash["tickets"]["by_site"]["SEL"]["by_status"]["in_progress"] == 1    # pc is in Seoul
    assert dash["tickets"]["by_site"]["BSN"]["by_status"]["abandoned"] == 1      # lan is in Busan
    assert dash["tickets"]["by_site"]["BSN"]["by_status"]["queued"] == 1
    assert dash["tickets"]["total"]["by_intake_type"]["phone"] == 3


# ---- escaping, headers, language --------------------------------------------------------------
def test_hostile_queue_title_is_data(stack):
    with stack.sessions.begin() as s:
        s.execute(update(Queue).where(Queue.name == "pc").values(title=XSS, title_en=XSS))
    client = logged_in(stack)
    data = client.get("/api/floor/wallboard").get_json()
    assert {q["name"]: q["title"] for q in data["queues"]}["pc"] == XSS
    assert {q["name"]: q["title_en"] for q in data["queues"]}["pc"] == XSS
    page = client.get("/wallboard").get_data(as_text=True)
    assert "<img src=x" not in page          # only inside the JSON block, escaped
    assert {q["name"]: q["title"] for q in json_block(page, "wallboard-data")["queues"]}["pc"] == XSS


def test_pages_have_no_inline_script_and_send_the_headers(stack):
    client = logged_in(stack)
    for url in PAGES:
        response = client.get(url)
        page = response.get_data(as_text=True)
        for tag in re.findall(r"<script[^>]*>", page):
            assert 'src="' in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"<[^>]+\son[a-z]+=", page)       # no inline event handlers
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert "https://" not in page and "http://" not in page      # no CDN
    assert client.get("/api/floor/wallboard").headers["Cache-Control"] == "no-store"


def test_korean_labels(stack):
    client = logged_in(stack, lang="ko")
    page = client.get("/wallboard").get_data(as_text=True)
    assert "상황판" in page and "서비스 레벨" in page and "최장 대기 시간" in page
    strings = json_block(page, "i18n")
    assert strings["states"]["wrap_up"] == "후처리"
    assert strings["talk"]["le_3m"] == "3분 이하"
    dash = client.get("/dashboard").get_data(as_text=True)
    assert "대시보드" in dash and "접수 유형별 티켓" in dash
    assert json_block(dash, "i18n")["stages"]["waiting"] == "접수 대기"
    english = logged_in(stack, lang="en").get("/wallboard").get_data(as_text=True)
    assert "Wallboard" in english and "상황판" not in english.replace('lang="ko"', "")


# ---- live: Socket.IO room ------------------------------------------------------------------------
def wallboards(received):
    return [m["args"][0] for m in received if m["name"] == "wallboard"]


def wait_for(sock, predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for payload in wallboards(sock.get_received()):
            if predicate(payload):
                return payload
        time.sleep(0.02)
    raise AssertionError("no matching wallboard push in time")


def test_joining_the_room_sends_the_figures_and_pushes_follow(stack):
    client = logged_in(stack, "trainee1")
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    assert sock.is_connected()
    sock.get_received()
    assert not publisher(stack).running          # nobody watched yet: no thread
    sock.emit("wallboard_join", {})
    (first,) = wallboards(sock.get_received())
    assert first["total"]["waiting_now"] == 0
    assert publisher(stack).running

    started = time.monotonic()
    place_call(stack.call_center, queue="office")
    pushed = wait_for(sock, lambda p: p["total"]["waiting_now"] == 1)
    assert time.monotonic() - started <= stack.config["floor"]["refresh_seconds"] + 0.2
    assert {q["name"]: q["waiting_now"] for q in pushed["queues"]}["office"] == 1

    # Another socket that did not join receives nothing of it.
    other = stack.socketio.test_client(stack.app, flask_test_client=logged_in(stack, "agent2"))
    other.get_received()
    place_call(stack.call_center, queue="office")
    wait_for(sock, lambda p: p["total"]["waiting_now"] == 2)
    assert wallboards(other.get_received()) == []
    sock.disconnect()
    other.disconnect()
    # The room is empty now: changes cause no reads and no pushes.
    pushes = publisher(stack).pushes
    place_call(stack.call_center, queue="office")
    time.sleep(0.5)
    assert publisher(stack).pushes == pushes


def test_close_app_stops_and_joins_the_publisher(tmp_path):
    s = make_stack(tmp_path)
    try:
        sock = s.socketio.test_client(s.app, flask_test_client=logged_in(s))
        sock.emit("wallboard_join", {})
        feed = publisher(s)
        assert feed.running and feed.subscribed
        thread = feed._thread
    finally:
        s.close()
    assert not feed.running and not feed.subscribed and not thread.is_alive()
    assert not [t for t in threading.enumerate() if t is thread]
    feed.close()   # idempotent


# ---- the publisher on its own ------------------------------------------------------------------
class FakeSocketIO:
    def __init__(self):
        self.sent = []
        self.server = None

    def emit(self, event, data, to=None, namespace=None):
        self.sent.append((time.monotonic(), event, to, data))


class CountingFloor:
    """FloorService stand-in that counts reads."""

    def __init__(self, refresh_s=1.0):
        self.refresh_s = refresh_s
        self.reads = 0

    def wallboard(self):
        self.reads += 1
        return {"read": self.reads}


def test_a_burst_of_events_gives_one_push_within_the_refresh_interval():
    bus, io, floor = events.EventBus(), FakeSocketIO(), CountingFloor()
    feed = WallboardPublisher(io, bus, floor, has_viewers=lambda: True)
    feed.start()
    try:
        started = time.monotonic()
        for i in range(300):
            bus.publish(events.CALL_UPDATED if i % 3 == 0 else
                        events.AGENT_STATE if i % 3 == 1 else events.TICKET_UPDATED, {"n": i})
        deadline = started + 2
        while not io.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert io.sent, "no push"
        first_at, event, room, _data = io.sent[0]
        assert (event, room) == ("wallboard", WALLBOARD_ROOM)
        assert first_at - started <= 1.0
        time.sleep(0.6)
        assert len(io.sent) == 1 and floor.reads == 1     # 300 events, one read, one push
    finally:
        feed.close()


def test_each_change_is_pushed_within_the_refresh_interval():
    bus, io, floor = events.EventBus(), FakeSocketIO(), CountingFloor()
    feed = WallboardPublisher(io, bus, floor, has_viewers=lambda: True)
    feed.start()
    try:
        for _ in range(5):
            before = len(io.sent)
            at = time.monotonic()
            bus.publish(events.AGENT_STATE, {"agent_id": 1, "state": "ready"})
            while len(io.sent) == before and time.monotonic() - at < 2:
                time.sleep(0.005)
            assert len(io.sent) > before and io.sent[-1][0] - at <= feed.refresh_seconds
            time.sleep(0.05)
    finally:
        feed.close()


def test_nobody_watching_means_no_database_read():
    bus, io, floor = events.EventBus(), FakeSocketIO(), CountingFloor()
    feed = WallboardPublisher(io, bus, floor, has_viewers=lambda: False, coalesce_seconds=0.01)
    feed.start()
    try:
        bus.publish(events.CALL_UPDATED, {})
        time.sleep(0.2)
        assert floor.reads == 0 and io.sent == []
    finally:
        feed.close()


def test_close_unsubscribes_and_joins():
    bus, io, floor = events.EventBus(), FakeSocketIO(), CountingFloor()
    feed = WallboardPublisher(io, bus, floor, has_viewers=lambda: True, coalesce_seconds=0.01)
    feed.start()
    thread = feed._thread
    feed.close()
    assert not thread.is_alive() and not feed.subscribed
    for topic in (events.CALL_UPDATED, events.AGENT_STATE, events.TICKET_UPDATED):
        bus.publish(topic, {})
    time.sleep(0.1)
    assert io.sent == [] and floor.reads == 0
    feed.start()                      # closed for good: no new thread
    assert not feed.running


def test_a_failing_read_does_not_stop_the_feed():
    bus, io = events.EventBus(), FakeSocketIO()

    class Flaky(CountingFloor):
        def wallboard(self):
            self.reads += 1
            if self.reads == 1:
                raise RuntimeError("database away")
            return {"read": self.reads}

    floor = Flaky()
    feed = WallboardPublisher(io, bus, floor, has_viewers=lambda: True, coalesce_seconds=0.01)
    feed.start()
    try:
        bus.publish(events.CALL_UPDATED, {})
        time.sleep(0.15)
        bus.publish(events.CALL_UPDATED, {})
        deadline = time.monotonic() + 2
        while not io.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [d for *_, d in io.sent] == [{"read": 2}]
    finally:
        feed.close()


def test_create_app_takes_a_floor_service(tmp_path, clock):
    from agent_desktop import close_app, create_app

    s = make_stack(tmp_path, app=False)
    try:
        floor = FloorService(s.sessions, s.config, clock)
        app = create_app(s.config, s.call_center, s.sessions, s.bus, floor_service=floor)
        try:
            assert app.extensions[EXTENSION_KEY].floor is floor
            client = app.test_client()
            login(client, "agent1", s.passwords["agent1"])
            assert client.get("/api/floor/wallboard").get_json()["server_time"] == "2026-11-25T09:00:00.000Z"
        finally:
            close_app(app)
    finally:
        s.engine.dispose()
