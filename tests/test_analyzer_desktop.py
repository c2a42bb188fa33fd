"""The analyzer page and its CSV downloads over the Flask test client."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from agent_desktop.analyzer import report_csv, safe_cell
from cti.analyzer import Period, Report
from support import analyzer_data as data
from support.client_fixtures import stack  # noqa: F401 - pytest fixture
from support.desktop import logged_in

RANGE = "from=2026-11-02&to=2026-11-03"


@pytest.fixture
def loaded(stack):
    ids = data.load(stack.sessions)
    return stack, ids


def reports_json(page: str) -> list[dict]:
    return json.loads(re.search(r'<script type="application/json" id="analyzer-data">(.*?)</script>', page,
                                re.S).group(1))


def read_csv(response) -> list[list[str]]:
    text = response.get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


# ---- access -------------------------------------------------------------------------------------
def test_anonymous_goes_to_login(stack):
    client = stack.app.test_client()
    for url in ("/analyzer/", "/analyzer/agents.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("username,status", [("agent1", 403), ("trainee1", 403), ("super", 200), ("admin", 200)])
def test_supervisors_and_admins_only(stack, username, status):
    client = logged_in(stack, username)
    assert client.get("/analyzer/").status_code == status
    assert client.get(f"/analyzer/agents.csv?{RANGE}").status_code == status
    nav = client.get("/").get_data(as_text=True) if username != "super" else ""
    if username in ("agent1", "trainee1"):
        assert 'id="nav-analyzer"' not in nav


# ---- the page -----------------------------------------------------------------------------------
def test_page_shows_every_report_with_the_figures(loaded):
    stack, _ = loaded
    page = logged_in(stack, "super").get(f"/analyzer/?{RANGE}").get_data(as_text=True)
    assert 'id="nav-analyzer"' in page
    reports = {r["name"]: r for r in reports_json(page)}
    assert list(reports) == ["first_call_resolution", "intake_by_hour", "intake_by_day", "satisfaction",
                             "agents", "handling_time", "calls_by_queue", "second_level_intake",
                             "second_level_satisfaction", "causes_and_resolutions", "survey_channels",
                             "survey_terms", "survey_people"]
    fcr = {f["key"]: f["value"] for f in reports["first_call_resolution"]["summary"]}
    assert fcr == {"resolved": 6, "first_contact": 2, "rate": 0.3333}
    assert '<dd data-figure="rate">33.3%</dd>' in page
    assert "Period: 2026-11-02 – 2026-11-03 (Asia/Seoul)" in page
    # Queue names in the page's language (the seed's "pc" queue: "PC and laptops" in English).
    assert [r["queue"] for r in reports["calls_by_queue"]["rows"]] == ["Network (LAN)", "PC and laptops"]
    for name in reports:
        assert f'href="/analyzer/{name}.csv?from=2026-11-02&amp;to=2026-11-03"' in page


def test_second_level_reports_on_the_page_and_in_csv(loaded):
    stack, _ = loaded
    client = logged_in(stack, "super")
    reports = {r["name"]: r for r in reports_json(client.get(f"/analyzer/?{RANGE}").get_data(as_text=True))}
    intake = reports["second_level_intake"]
    # Group names in the page's language, "(whole group)" for an assignment to nobody in particular.
    assert [(r["group"], r["person"], r["assignments"]) for r in intake["rows"]] == [
        ("Database (test)", "(whole group)", 2), ("Database (test)", "Tech One", 1),
        ("Network (test)", "Agent Two", 1), ("Network (test)", "Tech One", 2)]
    assert [s["label"] for s in intake["chart"]["series"]] == ["Automatic", "Manual"]
    sat = {f["key"]: f["value"] for f in reports["second_level_satisfaction"]["summary"]}
    assert sat == {"responses": 3, "average": 3.67}
    rows = read_csv(client.get(f"/analyzer/causes_and_resolutions.csv?{RANGE}"))
    assert rows[:4] == [["Support group", "Cause", "Action", "Tickets"],
                        ["Network (test)", "cable", "replaced cable", "2"],
                        ["Database (test)", "disk full", "cleaned logs", "1"],
                        ["Database (test)", "disk full", "extended volume", "1"]]
    korean = logged_in(stack, "super", lang="ko")
    rows = read_csv(korean.get(f"/analyzer/second_level_intake.csv?{RANGE}"))
    assert rows[0][:3] == ["지원 그룹", "담당자", "배정 이력"]
    assert rows[1][:2] == ["DB(시험)", "(그룹 전체)"]


def test_survey_reports_on_the_page_and_in_csv(loaded):
    stack, _ = loaded
    client = logged_in(stack, "super")
    page = client.get(f"/analyzer/?{RANGE}").get_data(as_text=True)
    reports = {r["name"]: r for r in reports_json(page)}
    channels = reports["survey_channels"]
    assert [(r["channel"], r["asked"], r["replied"]) for r in channels["rows"]] == [
        ("Survey call", 5, 1), ("E-mail", 3, 1), ("SMS", 4, 3), ("Web form", 2, 1), ("Reply line", 5, 1)]
    assert '<dd data-figure="reply_rate">83.3%</dd>' in page
    assert [s["label"] for s in channels["chart"]["series"]] == ["Asked", "Replied on this channel"]
    terms = [(r["term"], r["surveys"]) for r in reports["survey_terms"]["rows"]]
    assert terms[0] == ("High satisfaction", 1) and terms[-1] == ("(no term)", 0)
    assert '<dd data-figure="repeated_rate">20.0%</dd>' in page
    rows = read_csv(client.get(f"/analyzer/survey_people.csv?{RANGE}"))
    assert rows[0] == ["Technician or agent", "Surveys", "Answered", "Reply rate", "Responses", "Average rating",
                       "Dissatisfied", "Repeated trouble", "Staff not kind"]
    assert rows[3] == ["Tech One", "3", "3", "1.0", "2", "4.5", "0", "1", "0"]
    korean = logged_in(stack, "super", lang="ko")
    rows = read_csv(korean.get(f"/analyzer/survey_channels.csv?{RANGE}"))
    assert rows[0] == ["설문 채널", "문의함", "이 채널로 응답", "비율"]
    assert [r[0] for r in rows[1:6]] == ["설문 전화", "이메일", "SMS", "웹 양식", "응답 전용 회선"]
    assert "반복 장애" in korean.get(f"/analyzer/?{RANGE}").get_data(as_text=True)


def test_page_in_korean(loaded):
    stack, _ = loaded
    page = logged_in(stack, "super", lang="ko").get(f"/analyzer/?{RANGE}").get_data(as_text=True)
    assert "첫 통화 해결" in page and "CSV 내려받기" in page and "일별 접수" in page


def test_filters_by_site_and_queue(loaded):
    stack, ids = loaded
    client = logged_in(stack, "admin")
    page = client.get(f"/analyzer/?{RANGE}&site={ids['site_a']}").get_data(as_text=True)
    intake = {r["name"]: r for r in reports_json(page)}["intake_by_hour"]
    assert {f["key"]: f["value"] for f in intake["summary"]}["total"] == 5
    assert f'href="/analyzer/agents.csv?from=2026-11-02&amp;to=2026-11-03&amp;site={ids["site_a"]}"' in page


@pytest.mark.parametrize("query,message", [
    ("from=2026-13-01&to=2026-11-03", "From: enter a date as YYYY-MM-DD."),
    ("from=2026-11-03&to=yesterday", "To: enter a date as YYYY-MM-DD."),
    ("from=2026-11-03&to=2026-11-02", "The last day is before the first day."),
    ("from=2020-01-01&to=2026-11-02", "at most 400 days"),
    ("from=2026-11-02&to=2026-11-03&site=99999", "Choose a site or queue from the list."),
    ("from=2026-11-02&to=2026-11-03&queue=1%20OR%201=1", "Choose a site or queue from the list."),
    ("from=2026-11-02&to=2026-11-03&site=%C2%B2", "Choose a site or queue from the list."),      # "²"
])
def test_bad_input_is_refused_with_a_reason(loaded, query, message):
    stack, _ = loaded
    client = logged_in(stack, "super")
    response = client.get(f"/analyzer/?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert reports_json(response.get_data(as_text=True)) == []
    csv_response = client.get(f"/analyzer/agents.csv?{query}")
    assert csv_response.status_code == 400 and message in csv_response.get_data(as_text=True)


def test_typed_input_is_shown_back_escaped(loaded):
    stack, _ = loaded
    response = logged_in(stack, "super").get('/analyzer/?from="><script>alert(1)</script>&to=2026-11-03')
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<script>alert(1)" not in page and "&#34;&gt;&lt;script&gt;" in page


# ---- CSV ----------------------------------------------------------------------------------------
def test_csv_download_of_a_report(loaded):
    stack, _ = loaded
    response = logged_in(stack, "super").get(f"/analyzer/agents.csv?{RANGE}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="agents_2026-11-02_2026-11-03.csv"'
    rows = read_csv(response)
    assert rows[0] == ["Agent", "Tickets taken", "Resolved", "Still open", "Average handling time (s)",
                       "Calls answered", "Average talk time (s)"]
    assert rows[1] == ["Agent One", "5", "4", "1", "6000.0", "4", "160.0"]
    assert rows[2] == ["Agent Two", "2", "2", "0", "48600.0", "1", "600.0"]
    assert rows[3] == []
    assert rows[4] == ["Period", "2026-11-02 – 2026-11-03", "Asia/Seoul"]


def test_unknown_report_csv_is_404(loaded):
    stack, _ = loaded
    assert logged_in(stack, "super").get(f"/analyzer/nope.csv?{RANGE}").status_code == 404


def test_csv_cells_never_become_formulas_and_are_quoted(loaded):
    stack, _ = loaded
    # An agent's display name is text someone typed: make it a formula with a comma and a quote.
    from sqlalchemy import update
    from db.models import User
    with stack.sessions.begin() as s:
        s.execute(update(User).where(User.username == "ana1").values(display_name='=HYPERLINK("x","y"),a'))
        s.execute(update(User).where(User.username == "ana2").values(display_name="@SUM(A1)\n+1"))
    response = logged_in(stack, "super").get(f"/analyzer/agents.csv?{RANGE}")
    raw = response.get_data().decode("utf-8-sig")
    assert '"\'=HYPERLINK(""x"",""y""),a"' in raw        # apostrophe, then RFC 4180 quoting
    names = sorted(r[0] for r in read_csv(response)[1:3])
    assert names == ["'=HYPERLINK(\"x\",\"y\"),a", "'@SUM(A1)\n+1"]


@pytest.mark.parametrize("value,expected", [("=1+1", "'=1+1"), ("+82", "'+82"), ("-5", "'-5"), ("@x", "'@x"),
                                            ("\tx", "'\tx"), ("ok", "ok"), (-5, -5), (0.5, 0.5), (None, "")])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_report_csv_is_utf8_with_bom_and_crlf(stack):
    with stack.app.test_request_context("/"):
        body = report_csv(Report("satisfaction", ("rating", "responses", "share"),
                                 [{"rating": 5, "responses": 2, "share": 0.5}], {"responses": 2, "average": 5.0}),
                          {}, Period.from_local_dates(data.FIRST_DAY, data.LAST_DAY, "Asia/Seoul"))
    # Korean is the default language; the labels are translated in the CSV too.
    assert body == ("\ufeff평점,응답 수,비중\r\n5,2,0.5\r\n\r\n기간,2026-11-02 – 2026-11-03,Asia/Seoul\r\n"
                    "응답 수,2\r\n평균 평점,5.0\r\n")


def test_demo_history_fills_the_reports_once(stack):
    from db.seed import seed_history
    assert seed_history(stack.sessions, days=3, per_day=10, echo=lambda *_: None) == 30
    assert seed_history(stack.sessions, days=3, per_day=10, echo=lambda *_: None) == 0     # idempotent
    page = logged_in(stack, "super").get("/analyzer/").get_data(as_text=True)   # default: the last 7 days
    reports = {r["name"]: r for r in reports_json(page)}
    assert {f["key"]: f["value"] for f in reports["intake_by_hour"]["summary"]}["total"] == 30
    # Some demo tickets went to a support group: one assignment each, each resolved with a cause.
    intake2 = {f["key"]: f["value"] for f in reports["second_level_intake"]["summary"]}
    causes = {f["key"]: f["value"] for f in reports["causes_and_resolutions"]["summary"]}
    assert intake2["assignments"] == intake2["tickets"] == causes["tickets"] > 0
    # Each rated demo survey was answered on some channel after the survey call / messages.
    rated = {f["key"]: f["value"] for f in reports["satisfaction"]["summary"]}["responses"]
    channels = {f["key"]: f["value"] for f in reports["survey_channels"]["summary"]}
    assert channels["answered"] == rated > 0 and channels["asked"] >= rated
    assert sum(r["replied"] for r in reports["survey_channels"]["rows"]) == rated


def test_a_long_report_does_not_hold_up_the_services_writes(stack):
    """On SQLite the services' engine lets one transaction in at a time
    (db.session); the analyzer reads through its own engine, so a report still
    reading does not stop a call being written."""
    import threading

    from sqlalchemy import select

    from agent_desktop.analyzer import EXTENSION_KEY
    from db.models import Ticket

    analyzer = stack.app.extensions[EXTENSION_KEY]
    done = threading.Event()

    def write():
        with stack.sessions.begin() as s:
            s.add(Ticket(incident_id="LOCK-1", channel="phone"))
        done.set()

    with analyzer._sessions() as reading:
        reading.execute(select(Ticket.id)).all()          # a read transaction is open now
        writer = threading.Thread(target=write)
        writer.start()
        assert done.wait(2.0), "the write waited for the analyzer's read"
    writer.join()
