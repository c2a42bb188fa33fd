"""Languages: Korean (default) and English.

The language is the ``lang`` cookie (set by the switcher links), else the
browser's Accept-Language, else Korean.  Catalogs live in ``translations/``;
the compiled ``.mo`` files are committed, and rebuilt here at start-up when a
``.po`` file is newer (or the ``.mo`` is missing).
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, redirect, request, url_for
from flask_babel import get_locale

from agent_desktop.security import is_safe_next

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).with_name("translations")
LANGUAGES = {"ko": "한국어", "en": "English"}
DEFAULT_LOCALE = "ko"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LOCALE


@bp.get("/lang/<code>")
def switch(code: str):
    target = request.args.get("next", "")
    response = redirect(target if is_safe_next(target) else url_for("desktop.index"))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


def ensure_compiled(directory: Path = TRANSLATIONS) -> None:
    """Compile every ``messages.po`` whose ``.mo`` is missing or older."""
    for po_path in directory.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        try:
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            with open(po_path, "rb") as fh:
                catalog = read_po(fh)
            # Write next to the target and rename: a concurrent reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp, mo_path)
        except OSError as exc:  # read-only install: use whatever .mo is there
            log.warning("cannot compile %s: %s", po_path, exc)


def _template_globals() -> dict:
    return {"LANGUAGES": LANGUAGES, "current_locale": str(get_locale() or DEFAULT_LOCALE)}


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_template_globals)
