"""Collecting the caller's personal identification number (employee number).

``PinEntry`` is a small immutable state: each key press or timeout returns the
next state.  Checking the number against the customer table is the service's
job; this module only decides when an attempt is complete and when the caller
has used up their tries.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

DIGITS = frozenset("0123456789")


class PinStatus(str, Enum):
    COLLECTING = "collecting"   # waiting for more digits
    SUBMITTED = "submitted"     # an attempt is complete: check it
    FAILED = "failed"           # no tries left: go to an agent as unknown caller


@dataclass(frozen=True)
class PinEntry:
    max_tries: int = 3
    max_length: int = 12
    tries_used: int = 0
    digits: str = ""
    status: PinStatus = PinStatus.COLLECTING

    @property
    def attempt(self) -> str:
        return self.digits

    def press(self, key: str) -> "PinEntry":
        """Feed one DTMF key.  ``#`` ends the attempt; ``*`` is not a PIN key."""
        if self.status != PinStatus.COLLECTING:
            return self
        if key == "#":
            return self._submit()
        if key in DIGITS:
            digits = self.digits + key
            if len(digits) > self.max_length:
                # Someone leaning on the keypad: count it as a wrong attempt.
                return self._reject()
            return replace(self, digits=digits)
        return self

    def timeout(self) -> "PinEntry":
        """No key within the allowed time: a typed number counts as submitted,
        silence counts as a failed try."""
        if self.status != PinStatus.COLLECTING:
            return self
        if self.digits:
            return self._submit()
        return self._reject()

    def rejected(self) -> "PinEntry":
        """The submitted number is not a known customer."""
        if self.status != PinStatus.SUBMITTED:
            raise ValueError("only a submitted PIN can be rejected")
        return self._reject()

    def _submit(self) -> "PinEntry":
        if not self.digits:
            return self._reject()
        return replace(self, status=PinStatus.SUBMITTED)

    def _reject(self) -> "PinEntry":
        used = self.tries_used + 1
        status = PinStatus.FAILED if used >= self.max_tries else PinStatus.COLLECTING
        return replace(self, tries_used=used, digits="", status=status)


def looks_like_pin(text: str, max_length: int = 12) -> bool:
    return 0 < len(text) <= max_length and set(text) <= DIGITS
