"""Analyzer page: the help-desk reports for a date range, drawn as charts in the
browser, with a CSV download per report.  Supervisors and admins only.

The figures come from ``cti.analyzer`` (docs/analyzer.md); this module only
reads the form, translates labels and writes CSV.  The form is a GET (a report
is a bookmarkable, reloadable URL); bad input shows the form again with the
reason and a 400, nothing else.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Optional
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from agent_desktop import labels
from agent_desktop.auth import roles_required
from agent_desktop.context import services
from cti.analyzer import MAX_DAYS, REPORTS, Analyzer, AnalyzerError, Period, Report, Scope
from db.models import Queue, Site, SupportGroup

bp = Blueprint("analyzer", __name__, url_prefix="/analyzer")

EXTENSION_KEY = "happycall_analyzer"
DEFAULT_DAYS = 7
ROLES = ("supervisor", "admin")

TITLES = {
    "first_call_resolution": _l("First-call resolution"),
    "intake_by_hour": _l("Intake by hour of day"),
    "intake_by_day": _l("Intake by day"),
    "satisfaction": _l("Customer satisfaction"),
    "agents": _l("Intake and processing per agent"),
    "handling_time": _l("Handling time"),
    "calls_by_queue": _l("Calls per queue"),
    "second_level_intake": _l("2nd-level intake"),
    "second_level_satisfaction": _l("2nd-level group satisfaction"),
    "causes_and_resolutions": _l("Causes and resolutions"),
    "survey_channels": _l("Survey reply rate per channel"),
    "survey_terms": _l("Survey replies by term"),
    "survey_people": _l("Surveys per technician or agent"),
}

COLUMNS = {
    "queue": _l("Queue"),
    "resolved": _l("Resolved"),
    "first_contact": _l("Resolved at first contact"),
    "rate": _l("Rate"),
    "hour": _l("Hour"),
    "day": _l("Day"),
    "total": _l("Total"),
    "rating": _l("Rating"),
    "responses": _l("Responses"),
    "share": _l("Share"),
    "average": _l("Average rating"),
    "agent": _l("Agent"),
    "taken": _l("Tickets taken"),
    "open": _l("Still open"),
    "avg_handling_s": _l("Average handling time (s)"),
    "calls_answered": _l("Calls answered"),
    "avg_talk_s": _l("Average talk time (s)"),
    "bucket": _l("Handling time"),
    "tickets": _l("Tickets"),
    "avg_s": _l("Average (s)"),
    "max_s": _l("Longest (s)"),
    "p50_s": _l("Median (s)"),
    "p90_s": _l("90th percentile (s)"),
    "calls": _l("Calls"),
    "answered": _l("Answered"),
    "abandoned": _l("Abandoned"),
    "within_sl": _l("Answered within service level"),
    "sl_share": _l("Service level"),
    "avg_wait_s": _l("Average wait (s)"),
    "max_wait_s": _l("Longest wait (s)"),
    "group": _l("Support group"),
    "person": _l("Assigned to"),
    "assignments": _l("Assignments"),
    "automatic": _l("Automatic"),
    "manual": _l("Manual"),
    "cause": _l("Cause"),
    "action": _l("Action"),
    "causes": _l("Causes"),
    "rating_1": _l("Rating 1"),
    "rating_2": _l("Rating 2"),
    "rating_3": _l("Rating 3"),
    "rating_4": _l("Rating 4"),
    "rating_5": _l("Rating 5"),
    # survey figures
    "channel": _l("Survey channel"),
    "asked": _l("Asked"),
    "replied": _l("Replied on this channel"),
    "surveys": _l("Surveys"),
    "reply_rate": _l("Reply rate"),
    "no_reply": _l("Closed without a reply"),
    "term": _l("Reply term"),
    "repeated_trouble": _l("Repeated trouble"),
    "repeated_rate": _l("Repeated trouble rate"),
    "dissatisfied": _l("Dissatisfied"),
    "dissatisfied_rate": _l("Dissatisfied rate"),
    "unkind": _l("Staff not kind"),
    "served_by": _l("Technician or agent"),
}

# Survey channels: the survey call, the messages, the web form and the reply line.
SURVEY_CHANNEL_LABELS = {
    "phone": _l("Survey call"),
    "email": _l("E-mail"),
    "sms": _l("SMS"),
    "web": _l("Web form"),
    "line": _l("Reply line"),
}

SURVEY_TERM_LABELS = {
    "high_satisfaction": _l("High satisfaction"),
    "simple_satisfaction": _l("Simple satisfaction"),
    "impression": _l("Impression"),
    "how_to_use": _l("How-to-use question"),
    "additional_request": _l("Additional request"),
    "repeated_trouble": _l("Repeated trouble"),
    "dissatisfaction": _l("Dissatisfaction"),
    "": _l("(no term)"),
}

BUCKET_LABELS = {
    "le_15m": _l("≤ 15 min"),
    "le_1h": _l("15 min – 1 h"),
    "le_3h": _l("1–3 h"),
    "le_8h": _l("3–8 h"),
    "le_24h": _l("8–24 h"),
    "gt_24h": _l("> 24 h"),
}

# How each report is drawn: the category column, the series columns, stacked or side by side.
CHARTS = {
    "first_call_resolution": {"category": "queue", "series": ["resolved", "first_contact"], "stacked": False},
    "intake_by_hour": {"category": "hour", "series": None, "stacked": True},    # None: every channel column
    "intake_by_day": {"category": "day", "series": None, "stacked": True},
    "satisfaction": {"category": "rating", "series": ["responses"], "stacked": False},
    "agents": {"category": "agent", "series": ["taken", "resolved", "calls_answered"], "stacked": False},
    "handling_time": {"category": "bucket", "series": ["tickets"], "stacked": False},
    "calls_by_queue": {"category": "queue", "series": ["answered", "abandoned"], "stacked": True},
    # "who" / "what": chart labels made of several columns (display_rows)
    "second_level_intake": {"category": "who", "series": ["automatic", "manual"], "stacked": True},
    "second_level_satisfaction": {"category": "group", "series": [f"rating_{r}" for r in range(1, 6)],
                                  "stacked": True},
    "causes_and_resolutions": {"category": "what", "series": ["tickets"], "stacked": False},
    "survey_channels": {"category": "channel", "series": ["asked", "replied"], "stacked": False},
    "survey_terms": {"category": "term", "series": ["surveys"], "stacked": False},
    "survey_people": {"category": "served_by", "series": ["surveys", "answered", "dissatisfied"], "stacked": False},
}

# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class FormError(ValueError):
    pass


@dataclass
class Query:
    first: dt.date
    last: dt.date
    site_id: Optional[int]
    queue_id: Optional[int]

    @property
    def scope(self) -> Scope:
        return Scope(site_id=self.site_id, queue_id=self.queue_id)

    def args(self) -> dict[str, str]:
        out = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.site_id is not None:
            out["site"] = str(self.site_id)
        if self.queue_id is not None:
            out["queue"] = str(self.queue_id)
        return out


def init_app(app: Flask, analyzer: Analyzer) -> None:
    app.extensions[EXTENSION_KEY] = analyzer
    app.register_blueprint(bp)


def close_app(app: Flask) -> None:
    analyzer = app.extensions.pop(EXTENSION_KEY, None)
    if analyzer is not None:
        analyzer.close()


def _analyzer() -> Analyzer:
    return current_app.extensions[EXTENSION_KEY]


def _today(analyzer: Analyzer) -> dt.date:
    return dt.datetime.now(ZoneInfo(analyzer.timezone)).date()


def _date(name: str, default: dt.date) -> dt.date:
    text = (request.args.get(name) or "").strip()
    if not text:
        return default
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    field = _("From") if name == "from" else _("To")
    raise FormError(_("%(field)s: enter a date as YYYY-MM-DD.", field=field))


def _choice(name: str, known: set[int]) -> Optional[int]:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    # isascii: "²".isdigit() is true but int("²") fails
    if not (text.isascii() and text.isdigit()) or int(text) not in known:
        raise FormError(_("Choose a site or queue from the list."))
    return int(text)


def _options() -> dict[str, list[dict[str, Any]]]:
    with services().sessions() as s:
        sites = s.execute(select(Site.id, Site.name, Site.code).order_by(Site.name)).all()
        queues = s.execute(select(Queue.id, Queue.name, Queue.title, Queue.title_en).order_by(Queue.id)).all()
    return {"sites": [{"id": r.id, "label": r.name or r.code} for r in sites],
            "queues": [{"id": r.id, "label": labels.queue_label(r.title or "", r.title_en or "", r.name)}
                       for r in queues]}


def _read_query(options: dict[str, list[dict[str, Any]]]) -> Query:
    today = _today(_analyzer())
    last = _date("to", today)
    first = _date("from", last - dt.timedelta(days=DEFAULT_DAYS - 1))
    return Query(first, last, _choice("site", {o["id"] for o in options["sites"]}),
                 _choice("queue", {o["id"] for o in options["queues"]}))


def _period(query: Query) -> Period:
    try:
        return _analyzer().period(query.first, query.last)
    except AnalyzerError as exc:
        raise FormError(_period_message(exc)) from None


def _period_message(exc: AnalyzerError) -> str:
    text = str(exc)
    if "before the first" in text:
        return _("The last day is before the first day.")
    if "at most" in text:
        return _("Choose a period of at most %(days)d days.", days=MAX_DAYS)
    return text


# ---- labels -----------------------------------------------------------------------------------
def column_label(key: str) -> str:
    if key in COLUMNS:
        return str(COLUMNS[key])
    return labels.label(labels.CHANNEL_LABELS, key)


def _queue_titles() -> dict[str, str]:
    with services().sessions() as s:
        rows = s.execute(select(Queue.name, Queue.title, Queue.title_en)).all()
    return {r.name: labels.queue_label(r.title or "", r.title_en or "", r.name) for r in rows}


def _group_names() -> dict[str, str]:
    with services().sessions() as s:
        rows = s.execute(select(SupportGroup.code, SupportGroup.name, SupportGroup.name_en)).all()
    return {r.code: labels.queue_label(r.name or "", r.name_en or "", r.code) for r in rows}


def display_rows(report: Report, queue_titles: dict[str, str],
                 group_names: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    """The rows with queue and group names, buckets and empty texts in the page's language."""
    rows = []
    if group_names is None and "group" in report.columns:
        group_names = _group_names()
    for row in report.rows:
        row = dict(row)
        if "group" in row:
            row["group"] = (group_names or {}).get(row["group"], row["group"])
        if "person" in row and not row["person"]:
            row["person"] = _("(whole group)")
        for key in ("cause", "action"):
            if key in row and not row[key]:
                row[key] = _("(not recorded)")
        if "person" in row:
            row["who"] = f"{row['group']} · {row['person']}"
        if "cause" in row:
            row["what"] = f"{row['group']} · {row['cause']} → {row['action']}"
        if "queue" in row:
            row["queue"] = queue_titles.get(row["queue"], row["queue"]) or _("No queue")
        if "bucket" in row:
            row["bucket"] = str(BUCKET_LABELS.get(row["bucket"], row["bucket"]))
        if "hour" in row:
            row["hour"] = f"{row['hour']:02d}"
        if "channel" in row:
            row["channel"] = str(SURVEY_CHANNEL_LABELS.get(row["channel"], row["channel"]))
        if "term" in row:
            row["term"] = str(SURVEY_TERM_LABELS.get(row["term"], row["term"]))
        if "served_by" in row and not row["served_by"]:
            row["served_by"] = _("(nobody)")
        rows.append(row)
    return rows


def page_report(report: Report, queue_titles: dict[str, str]) -> dict[str, Any]:
    chart = dict(CHARTS[report.name])
    if chart["series"] is None:
        chart["series"] = [c for c in report.columns if c not in (chart["category"], "total")]
    return {"name": report.name, "title": str(TITLES[report.name]),
            "columns": [{"key": c, "label": column_label(c)} for c in report.columns],
            "rows": display_rows(report, queue_titles),
            "summary": [{"key": k, "label": column_label(k), "value": v} for k, v in report.summary.items()],
            "chart": {**chart, "series": [{"key": k, "label": column_label(k)} for k in chart["series"]]}}


RATE_KEYS = ("rate", "share", "sl_share", "reply_rate", "repeated_rate", "dissatisfied_rate")


@bp.app_template_filter("analyzer_value")
def analyzer_value(value: Any, key: str) -> str:
    """A figure for the page: shares as percentages, nothing as a dash."""
    if value is None:
        return "—"
    if key in RATE_KEYS:
        return f"{float(value) * 100:.1f}%"
    return str(value)


# ---- views ------------------------------------------------------------------------------------
@bp.get("/")
@roles_required(*ROLES)
def index():
    options = _options()
    try:
        query = _read_query(options)
        period = _period(query)
    except FormError as exc:
        return render_template("analyzer/index.html", error=str(exc), reports=[], options=options,
                               form=_raw_form(), timezone=_analyzer().timezone, period=None), 400
    titles = _queue_titles()
    reports = [page_report(r, titles) for r in _analyzer().all_reports(period, query.scope).values()]
    return render_template("analyzer/index.html", error=None, reports=reports, options=options,
                           form=query.args(), csv_args=query.args(), timezone=_analyzer().timezone,
                           period=period.as_dict())


def _raw_form() -> dict[str, str]:
    # What the user typed, shown again as it was (Jinja escapes it).
    return {k: (request.args.get(k) or "")[:40] for k in ("from", "to", "site", "queue")}


@bp.get("/<name>.csv")
@roles_required(*ROLES)
def download(name: str):
    if name not in REPORTS:
        return Response(_("There is no such report."), status=404, mimetype="text/plain")
    options = _options()
    try:
        query = _read_query(options)
        period = _period(query)
    except FormError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    report = _analyzer().report(name, period, query.scope)
    body = report_csv(report, _queue_titles(), period)
    filename = f"{name}_{query.first.isoformat()}_{query.last.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


# ---- CSV --------------------------------------------------------------------------------------
def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: names and queue titles that start
    like a formula get a leading apostrophe.  Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def report_csv(report: Report, queue_titles: dict[str, str], period: Period) -> str:
    """The report's table (header: the column labels), then an empty line and
    the key figures as label, value.  UTF-8 with a BOM so spreadsheet programs
    read Korean correctly; RFC 4180 quoting (csv module, CRLF)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([safe_cell(column_label(c)) for c in report.columns])
    for row in display_rows(report, queue_titles):
        writer.writerow([safe_cell(row.get(c)) for c in report.columns])
    writer.writerow([])
    writer.writerow([_("Period"), f"{period.first.isoformat()} – {period.last.isoformat()}", period.timezone])
    for key, value in report.summary.items():
        writer.writerow([safe_cell(column_label(key)), safe_cell(value)])
    return out.getvalue()
