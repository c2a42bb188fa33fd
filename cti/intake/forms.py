"""The customer portal's fields, checked again on the domain side (the web layer
validates first; a second caller of the service gets the same rules).  Text is
kept as typed (escaped where shown), only trimmed and bounded."""
from __future__ import annotations

import re
from dataclasses import dataclass

LIMITS = {"name": 200, "identifier": 254, "phone": 64, "subject": 200, "description": 10_000}
REQUIRED = ("name", "identifier", "subject", "description")
ONESTOP_KINDS = ("pc", "app_improvement")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InvalidSubmission(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Submission:
    name: str
    identifier: str          # employee number (PIN) or e-mail address
    phone: str
    subject: str
    description: str
    language: str = "ko"

    @property
    def identifier_is_email(self) -> bool:
        return "@" in self.identifier


def clean(name: str, identifier: str, phone: str, subject: str, description: str,
          language: str = "ko") -> Submission:
    values = {"name": name, "identifier": identifier, "phone": phone, "subject": subject,
              "description": description}
    out = {}
    for key, value in values.items():
        text = _CONTROL.sub("", str(value or "")).strip()
        if key != "description":
            text = " ".join(text.split())
        if key in REQUIRED and not text:
            raise InvalidSubmission(key, "required")
        if len(text) > LIMITS[key]:
            raise InvalidSubmission(key, f"longer than {LIMITS[key]} characters")
        out[key] = text
    return Submission(language=language if language in ("ko", "en") else "ko", **out)
