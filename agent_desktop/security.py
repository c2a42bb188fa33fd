"""Secret key, security headers and safe redirects."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response

from cti.secret_files import kept_secret

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def secret_key(configured: str, data_dir: str | os.PathLike) -> str:
    """The configured key, else the one kept in ``<data dir>/secret_key`` (created
    on first use, mode 600)."""
    if configured:
        return configured
    return kept_secret(Path(data_dir) / "secret_key", lambda: secrets.token_hex(32), "key")


def is_safe_next(target: str | None) -> bool:
    """Only local paths ("/tickets/3"), never another host ("//evil", "https://...")."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        # Pages show customer data: do not keep them in shared caches or history.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def register(app: Flask) -> None:
    app.after_request(_headers)
