"""Signed, single-use, expiring links to the web inquiry form.

The token is an itsdangerous signature (HMAC-SHA1 over a key derived from the
secret with a salt) of ``{"s": survey id, "n": random nonce, "e": expiry (Unix
seconds)}``.  Only its SHA-256 is stored (``survey_tokens.token_hash``), so the
database alone cannot produce a working link; ``used_at`` makes it single-use.
Expiry is checked against the service's clock, so tests can move time.
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "happycall-survey-form"
MAX_TOKEN_LENGTH = 400


class TokenError(ValueError):
    """Why a link cannot be used: ``reason`` is invalid|expired|used."""

    def __init__(self, reason: str):
        super().__init__(f"survey link {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    survey_id: int
    expires_at: dt.datetime


def _epoch(when: dt.datetime) -> int:
    return calendar.timegm(when.utctimetuple())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenSigner:
    def __init__(self, secret: str):
        if not secret:
            raise ValueError("the survey link key must not be empty")
        self._serializer = URLSafeSerializer(secret, salt=SALT)

    def issue(self, survey_id: int, expires_at: dt.datetime) -> str:
        return self._serializer.dumps({"s": int(survey_id), "n": secrets.token_urlsafe(12),
                                       "e": _epoch(expires_at)})

    def verify(self, token: str, now: dt.datetime) -> Claim:
        """The claim of a well-signed, unexpired token; TokenError otherwise.
        (Single use is the database's part: ``survey_tokens.used_at``.)"""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("invalid")
        try:
            data = self._serializer.loads(token)
            survey_id, expires = int(data["s"]), int(data["e"])
        except (BadSignature, KeyError, TypeError, ValueError):
            raise TokenError("invalid") from None
        if expires <= _epoch(now):
            raise TokenError("expired")
        return Claim(survey_id, dt.datetime.fromtimestamp(expires, dt.timezone.utc).replace(tzinfo=None))
