"""Signed, single-use, expiring links to the web inquiry form.

The token is an itsdangerous signature (HMAC-SHA1 over a key derived from the
secret with a salt) of ``{"s": survey id, "n": random nonce, "e": expiry (Unix
seconds)}``.  Only its SHA-256 is stored (``survey_tokens.token_hash``), so the
database alone cannot produce a working link; ``used_at`` makes it single-use.
Expiry is checked against the service's clock, so tests can move time.

The survey e-mail also carries a **reply reference** in its subject,
``[S<id>-<16 hex>]``: the survey id and an HMAC-SHA256 of it (a separate key
derived from the same secret), so an e-mail reply names its survey and nobody
can make a message count as another customer's reply by typing an id.
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "happycall-survey-form"
REPLY_SALT = b"happycall-survey-reply"
MAX_TOKEN_LENGTH = 400
_REFERENCE = re.compile(r"\[S(\d{1,12})-([0-9a-f]{16})\]", re.IGNORECASE)


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
        self._reply_key = hmac.new(secret.encode("utf-8"), REPLY_SALT, hashlib.sha256).digest()

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

    # ---- the e-mail reply reference ---------------------------------------------------
    def _reference_mac(self, survey_id: int) -> str:
        return hmac.new(self._reply_key, str(int(survey_id)).encode(), hashlib.sha256).hexdigest()[:16]

    def reply_reference(self, survey_id: int) -> str:
        """The subject tag of a survey e-mail, e.g. ``[S42-0f3c9a1b2d4e5f60]``."""
        return f"[S{int(survey_id)}-{self._reference_mac(survey_id)}]"

    def survey_of_subject(self, subject: str) -> "int | None":
        """The survey a well-signed reference in ``subject`` names; None if there is
        none or every one is forged."""
        for match in _REFERENCE.finditer(subject or ""):
            survey_id = int(match.group(1))
            if hmac.compare_digest(match.group(2).lower(), self._reference_mac(survey_id)):
                return survey_id
        return None
