"""The web inquiry form of a survey (docs/surveys.md): reached by the signed,
single-use, expiring link in the survey e-mail; no login.

The link is the credential: ``SurveyService.open_form`` / ``submit_form`` check
its signature, expiry and single use (the answers are stored and the link used
up in one transaction).  CSRF on the post (the app's CSRFProtect); the page is
shown in the survey's language unless the visitor chose one (``lang`` cookie);
everything is escaped by Jinja.  Bad answers re-render the form with what was
typed and a message; nothing is stored and the link stays usable.
"""
from __future__ import annotations

import logging
from typing import Optional

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from agent_desktop import i18n
from cti.surveys.answers import InvalidAnswers, clean_answers
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenError

log = logging.getLogger(__name__)

bp = Blueprint("survey_form", __name__, url_prefix="/survey")

EXTENSION_KEY = "happycall_surveys"

REFUSALS = {
    "invalid": (_l("This link is not valid."), 404),
    "expired": (_l("This link has expired."), 410),
    "used": (_l("This survey was already answered with this link. Thank you!"), 410),
}

FIELD_ERRORS = {
    "rating": _l("Choose a rating from 1 to 5."),
    "trouble_again": _l("Answer yes or no."),
    "staff_kind": _l("Answer yes or no."),
    "comment": _l("The comment is too long (at most 2,000 characters)."),
}


def init_app(app, surveys: Optional[SurveyService]) -> None:
    app.extensions[EXTENSION_KEY] = surveys
    app.register_blueprint(bp)


def _service() -> SurveyService:
    service = current_app.extensions.get(EXTENSION_KEY)
    if service is None:
        abort(503)
    return service


def _render(language: str, template: str, status: int = 200, **values):
    """In the survey's language, unless the visitor picked one with the switcher."""
    if request.cookies.get(i18n.COOKIE) in i18n.LANGUAGES:
        return render_template(template, **values), status
    with force_locale(language if language in i18n.LANGUAGES else i18n.DEFAULT_LOCALE):
        return render_template(template, **values), status


def _refused(exc: TokenError):
    message, status = REFUSALS.get(exc.reason, REFUSALS["invalid"])
    log.info("survey form refused: %s from %s", exc.reason, request.remote_addr)
    language = i18n.select_locale()
    return _render(language, "survey_form/refused.html", status, message=message, reason=exc.reason)


@bp.get("/<token>")
def show(token: str):
    try:
        view = _service().open_form(token)
    except TokenError as exc:
        return _refused(exc)
    return _render(view["language"], "survey_form/form.html", view=view, token=token, values={}, errors={})


@bp.post("/<token>")
def submit(token: str):
    service = _service()
    values = {key: request.form.get(key, "") for key in ("rating", "trouble_again", "staff_kind", "comment")}
    try:
        view = service.open_form(token)
    except TokenError as exc:
        return _refused(exc)
    try:
        answers = clean_answers(**values)
    except InvalidAnswers as exc:
        errors = {exc.field: str(FIELD_ERRORS.get(exc.field, str(exc)))}
        return _render(view["language"], "survey_form/form.html", 400, view=view, token=token, values=values,
                       errors=errors)
    try:
        result = service.submit_form(token, answers)
    except TokenError as exc:      # used up by a parallel submit, or expired meanwhile
        return _refused(exc)
    return _render(view["language"], "survey_form/done.html", view=view, code=result.incentive_code)
