"""Error pages (HTML) and errors for fetch() calls (JSON)."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError


class ApiError(Exception):
    """A JSON error answer for fetch() calls: ``{"error": message, **extra}`` with
    HTTP status ``code`` (400 bad input, 403, 404, 409 conflict with the current
    state, 503 service not configured)."""

    def __init__(self, code: int, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.message = str(message)
        self.extra = extra


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _page(code: int, title: str, message: str):
    if wants_json():
        return jsonify(error=message), code
    return render_template("errors/error.html", code=code, title=title, message=message), code


def register(app: Flask) -> None:
    @app.errorhandler(403)
    def forbidden(_e):
        return _page(403, _("Not allowed"), _("Your role does not give access to this page."))

    @app.errorhandler(404)
    def not_found(_e):
        return _page(404, _("Not found"), _("There is no such page or ticket."))

    @app.errorhandler(413)
    def too_large(_e):
        return _page(413, _("Too large"), _("The data sent is too large."))

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        return jsonify(error=e.message, **e.extra), e.code

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        return _page(400, _("Form expired"),
                     _("The security token of the form is missing or expired. "
                       "Reload the page and try again."))
