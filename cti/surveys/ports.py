"""What the survey service needs from the outside, as small interfaces.

* ``SmsSender`` — sends a text message to a mobile number.  The SIP MESSAGE
  transport through Asterisk (``ivr/sms.py``) and the gateways are built
  elsewhere; the system factory passes one in.  Without one, SMS is not sent
  (the attempt is stored as ``not_sent``).
* ``Classifier`` — ``classify(text, language) -> term`` for free-text replies
  (``cti/surveys/classify.py``, a lexicon/rule classifier).  Without one, free
  text is stored unclassified (term "") and keyed answers still map directly.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol


class SmsSender(Protocol):
    def send(self, to: str, text: str, sender: str = "") -> bool: ...


Classifier = Callable[[str, str], str]


def no_classifier(_text: str, _language: str) -> str:
    """Used when no classifier is wired: free text stays unclassified."""
    return ""


class NoSms:
    """No SMS transport wired: nothing is sent, the attempt says so."""

    def send(self, to: str, text: str, sender: str = "") -> bool:
        return False


def classifier_or_default(classify: Optional[Classifier]) -> Classifier:
    return classify or no_classifier
