"""Customer sensitivity on the desktop: the code table (JSON), codes on a ticket,
decisions on speech-analysis suggestions, and the admin pages that edit codes.

Every view needs the ``view_sensitivity`` permission (agent, supervisor, admin);
editing codes needs ``edit_sensitivity_codes`` (admin).  The rules live in
``cti.sensitivity``; this module only translates between HTTP and the service.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Optional

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from agent_desktop import labels
from agent_desktop.auth import permission_required
from agent_desktop.context import services
from cti import sensitivity as rules

log = logging.getLogger(__name__)

bp = Blueprint("sensitivity", __name__)

VIEW = rules.VIEW_SENSITIVITY
EDIT = rules.EDIT_SENSITIVITY_CODES
MAX_ECHO = 5  # codes repeated back in a 400 answer

# Names of the figures a suggestion's evidence may carry (others show their key).
FIGURE_LABELS = {
    "pitch": _l("Pitch"),
    "loudness": _l("Loudness"),
    "energy": _l("Loudness"),
    "rate": _l("Speech rate"),
    "speech_rate": _l("Speech rate"),
    "keywords": _l("Keywords"),
}
UNIT_SUFFIXES = {"_hz": "Hz", "_db": "dB", "_pct": "%", "_percent": "%", "_s": "s", "_ms": "ms",
                 "_wps": "words/s"}


def page_language() -> str:
    lang = str(get_locale() or "ko")
    return lang if lang in rules.LANGUAGES else "ko"


# ---- data for the pages' scripts ----------------------------------------------------------

def client_entry(view: Mapping[str, Any], lang: Optional[str] = None) -> dict[str, Any]:
    """A code version for the browser: the pop's entry shape (receptionist knacks,
    ``label``/``knack_*`` in the page language and ``*_ko``/``*_en``) plus the
    technician's knacks (``technician_primary*``, ``technician_auxiliary*``)."""
    lang = lang or page_language()
    entry = rules.audience_entry(view, "receptionist", lang)
    tech = view["knacks"]["technician"]
    entry["technician_primary"] = tech[f"primary_{lang}"]
    entry["technician_auxiliary"] = tech[f"auxiliary_{lang}"]
    for other in rules.LANGUAGES:
        entry[f"technician_primary_{other}"] = tech[f"primary_{other}"]
        entry[f"technician_auxiliary_{other}"] = tech[f"auxiliary_{other}"]
    return entry


def recorded_entry(rec: Mapping[str, Any], lang: Optional[str] = None) -> dict[str, Any]:
    entry = client_entry(rec["version"], lang)
    entry.update({"id": rec["id"], "at": rec["at"], "source": rec["source"],
                  "source_label": labels.label(labels.SOURCE_LABELS, rec["source"]),
                  "recorded_by_name": rec["recorded_by_name"], "ticket_id": rec["ticket_id"],
                  "incident_id": rec["incident_id"], "consultation_id": rec["consultation_id"]})
    return entry


def page_table(lang: Optional[str] = None) -> list[dict[str, Any]]:
    return [client_entry(v, lang) for v in services().sensitivity.current_table()]


def kind_groups(table: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    return [(kind, [e for e in table if e["kind"] == kind]) for kind in rules.KINDS]


def client_strings() -> dict[str, Any]:
    """Labels the sensitivity scripts need, in the page's language."""
    return {
        "lang": page_language(),
        "kinds": labels.as_strings(labels.KIND_LABELS),
        "sources": labels.as_strings(labels.SOURCE_LABELS),
        "suggestion_statuses": labels.as_strings(labels.SUGGESTION_STATUS_LABELS),
        "figures": labels.as_strings(FIGURE_LABELS),
        "primary": _("Words and behaviour"),
        "auxiliary": _("Also"),
        "technician": _("For the technician"),
        "last_codes": _("Last codes of this customer"),
        "no_codes": _("No codes recorded for this customer yet."),
        "call_codes": _("Codes of this call"),
        "suggestions": _("Suggested by speech analysis"),
        "no_suggestions": _("Speech analysis found no code to suggest."),
        "heard": _("Heard"),
        "words_heard": _("Words heard"),
        "figures_heading": _("Voice"),
        "score": _("Score"),
        "accept": _("Accept"),
        "reject": _("Reject"),
        "analysis_unavailable": _("speech analysis unavailable: %(reason)s", reason="{reason}"),
        "saved": _("Saved: %(codes)s", codes="{codes}"),
        "already": _("Already on the ticket: %(codes)s", codes="{codes}"),
        "select_first": _("Select at least one code."),
        "no_target": _("Codes are saved to the ticket of the latest call."),
        "save_to": _("Save codes to %(incident)s", incident="{incident}"),
        "request_failed": _("The request failed. Check the connection and try again."),
        "selected_count": _("%(count)s selected", count="{count}"),
    }


def evidence_parts(evidence: Any) -> dict[str, Any]:
    """A suggestion's evidence for display: words heard with their times, and
    every other figure (nested objects flattened: ``pitch.mean_hz``)."""
    if not isinstance(evidence, Mapping):
        return {"words": [], "figures": []}
    words = [w for w in rules.clean_words(evidence.get("words") or [])] \
        if isinstance(evidence.get("words"), list) else []
    figures: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, bool):
            figures.append((figure_name(prefix), _("yes") if value else _("no")))
        elif isinstance(value, (int, float)):
            figures.append((figure_name(prefix), f"{value:g}" if isinstance(value, float) else str(value)))
        elif isinstance(value, list):
            figures.append((figure_name(prefix), ", ".join(str(v) for v in value[:12])))
        elif value is not None:
            figures.append((figure_name(prefix), str(value)[:200]))

    for key, value in evidence.items():
        if key != "words":
            walk(str(key), value)
    return {"words": words, "figures": figures}


def figure_name(path: str) -> str:
    """``pitch.mean_hz`` -> "Pitch mean (Hz)"."""
    parts = path.split(".")
    head = str(FIGURE_LABELS.get(parts[0], parts[0].replace("_", " ")))
    rest = " ".join(parts[1:])
    unit = ""
    for suffix, name in UNIT_SUFFIXES.items():
        if rest.endswith(suffix) or (not rest and parts[0].endswith(suffix)):
            unit = name
            if rest:
                rest = rest[: -len(suffix)]
            else:
                base = parts[0][: -len(suffix)]
                head = str(FIGURE_LABELS.get(base, base.replace("_", " ")))
            break
    text = f"{head} {rest.replace('_', ' ')}".strip()
    return f"{text} ({unit})" if unit else text


def selection_message(exc: rules.SelectionError) -> str:
    codes = ", ".join(c[:12] for c in exc.codes[:5])
    if exc.reason == "unknown":
        return _("Unknown sensitivity code: %(codes)s.", codes=codes)
    if exc.reason == "duplicate":
        return _("Each code can be selected once: %(codes)s.", codes=codes)
    if exc.reason == "too_many":
        return _("At most %(max)d codes can be selected at once.", max=rules.MAX_SELECTION)
    return _("Select at least one code.")


def text_error_message(exc: rules.TextError) -> str:
    if exc.reason == "too_long":
        return _("%(field)s is too long (at most %(max)d characters).", field=field_label(exc.field),
                 max=exc.limit)
    return _("%(field)s must not be empty.", field=field_label(exc.field))


FIELD_LABELS = {
    "label_ko": _l("Label (Korean)"),
    "label_en": _l("Label (English)"),
    "receptionist_primary_ko": _l("Receptionist: words and behaviour (Korean)"),
    "receptionist_primary_en": _l("Receptionist: words and behaviour (English)"),
    "receptionist_auxiliary_ko": _l("Receptionist: auxiliary contents (Korean)"),
    "receptionist_auxiliary_en": _l("Receptionist: auxiliary contents (English)"),
    "technician_primary_ko": _l("Technician: words and behaviour (Korean)"),
    "technician_primary_en": _l("Technician: words and behaviour (English)"),
    "technician_auxiliary_ko": _l("Technician: auxiliary contents (Korean)"),
    "technician_auxiliary_en": _l("Technician: auxiliary contents (English)"),
}


def field_label(field: str) -> str:
    return str(FIELD_LABELS.get(field, field))


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


# ---- the table ------------------------------------------------------------------------------

@bp.get("/sensitivity/codes")
@permission_required(VIEW)
def codes():
    """``{"codes": [...]}``: the current table (``?q=`` filters by code or label)."""
    query = request.args.get("q", "")[:100]
    lang = page_language()
    return jsonify(codes=[client_entry(v, lang) for v in services().sensitivity.current_table(query)])


# ---- codes on a ticket ---------------------------------------------------------------------

@bp.get("/tickets/<int:ticket_id>/sensitivity")
@permission_required(VIEW)
def ticket_sensitivity(ticket_id: int):
    lang = page_language()
    try:
        data = services().sensitivity.ticket_sensitivity(ticket_id, lang)
    except rules.NotFound:
        abort(404)
    return jsonify(ticket_id=ticket_id, codes=[recorded_entry(r, lang) for r in data["codes"]],
                   analysis=data["analysis"], history=[recorded_entry(r, lang) for r in data["history"]])


@bp.post("/tickets/<int:ticket_id>/sensitivity")
@permission_required(VIEW)
def record_ticket_codes(ticket_id: int):
    """Save the selected codes on the ticket (and in the customer's history).
    JSON ``{"codes": ["N01", "E07"]}`` -> ``{"added", "already", "codes"}``;
    a form post (field ``codes``, repeated) redirects back to the ticket."""
    as_json = request.is_json
    if as_json:
        raw = _json_body().get("codes")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            return jsonify(error=_("Select at least one code.")), 400
    else:
        raw = request.form.getlist("codes")
    lang = page_language()
    try:
        result = services().sensitivity.record_codes(ticket_id=ticket_id, codes=raw, user_id=current_user.id,
                                                     source="agent")
    except rules.NotFound:
        abort(404)
    except rules.PermissionDenied:
        abort(403)
    except rules.SelectionError as exc:
        if as_json:
            return jsonify(error=selection_message(exc), codes=exc.codes[:MAX_ECHO]), 400
        flash(selection_message(exc))
        return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#sensitivity", code=303)
    except rules.ConflictError:
        message = _("The codes changed meanwhile. Reload the page and try again.")
        if as_json:
            return jsonify(error=message), 409
        flash(message)
        return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#sensitivity", code=303)
    if as_json:
        return jsonify(ticket_id=ticket_id, added=result["added"], already=result["already"],
                       codes=[recorded_entry(r, lang) for r in result["codes"]])
    if result["added"]:
        flash(_("Saved: %(codes)s", codes=", ".join(result["added"])))
    return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#sensitivity", code=303)


# ---- suggestions ------------------------------------------------------------------------------

@bp.post("/sensitivity/suggestions/<int:suggestion_id>")
@permission_required(VIEW)
def decide(suggestion_id: int):
    """Accept or reject a suggested code.  JSON ``{"accept": true|false}`` ->
    ``{"suggestion", "codes"}`` (the ticket's codes); a form post (``decision`` =
    ``accept``/``reject``, ``ticket_id``) redirects back to the ticket."""
    as_json = request.is_json
    if as_json:
        accept = _json_body().get("accept")
        if not isinstance(accept, bool):
            return jsonify(error=_("Accept or reject the suggestion.")), 400
    else:
        decision = request.form.get("decision", "")
        if decision not in ("accept", "reject"):
            abort(400)
        accept = decision == "accept"
    lang = page_language()
    svc = services().sensitivity
    try:
        result = svc.decide_suggestion(suggestion_id, current_user.id, accept)
    except rules.NotFound:
        abort(404)
    except rules.PermissionDenied:
        abort(403)
    except rules.ConflictError:
        message = _("This suggestion was already decided.")
        if as_json:
            return jsonify(error=message), 409
        flash(message)
        return _back_to_ticket()
    suggestion = result["suggestion"]
    if as_json:
        return jsonify(suggestion=suggestion, codes=[recorded_entry(r, lang) for r in result["codes"]])
    return _back_to_ticket()


def _back_to_ticket():
    try:
        ticket_id = int(request.form.get("ticket_id", ""))
    except ValueError:
        return redirect(url_for("desktop.index"), code=303)
    return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#analysis", code=303)


# ---- admin: edit codes and knacks ---------------------------------------------------------

@bp.get("/sensitivity/admin/")
@permission_required(EDIT)
def admin_index():
    lang = page_language()
    table = services().sensitivity.current_table()
    return render_template("sensitivity/admin_index.html", groups=kind_groups(table), lang=lang,
                           stats=services().sensitivity.suggestion_stats())


@bp.route("/sensitivity/admin/<code>", methods=["GET", "POST"])
@permission_required(EDIT)
def admin_edit(code: str):
    svc = services().sensitivity
    code = rules.normalize_code(code)[:8]
    try:
        current = svc.code(code)
    except rules.NotFound:
        abort(404)
    error = None
    status = 200
    values = _form_values(current)
    if request.method == "POST":
        values = {f: request.form.get(f, "") for f in rules.TEXT_FIELDS}
        note = request.form.get("note", "")
        try:
            base = int(request.form.get("base_version", ""))
        except ValueError:
            base = None
        try:
            saved = svc.edit_code(code, current_user.id, values, base_version=base, note=note)
        except rules.TextError as exc:
            error, status = text_error_message(exc), 400
        except rules.ConflictError:
            error, status = _("Someone else changed this code meanwhile. Reload the page to see the new "
                              "version, then make your change again."), 409
        except rules.PermissionDenied:
            abort(403)
        else:
            if saved["version"] == current["version"]:
                flash(_("Nothing changed: %(code)s stays at version %(version)d.", code=code,
                        version=saved["version"]))
            else:
                flash(_("%(code)s saved as version %(version)d.", code=code, version=saved["version"]))
            return redirect(url_for("sensitivity.admin_edit", code=code), code=303)
    return render_template("sensitivity/admin_edit.html", current=current, values=values,
                           versions=svc.versions(code), fields=rules.TEXT_FIELDS, field_label=field_label,
                           error=error, lang=page_language(), max_label=rules.MAX_LABEL,
                           max_knack=rules.MAX_KNACK), status


def _form_values(view: Mapping[str, Any]) -> dict[str, str]:
    texts = {"label_ko": view["label_ko"], "label_en": view["label_en"]}
    for audience, parts in view["knacks"].items():
        for key, value in parts.items():
            texts[f"{audience}_{key}"] = value
    return texts
