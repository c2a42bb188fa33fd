"""Satisfaction surveys (issue 6, docs/surveys.md, docs/sms.md): the pure scheduling and
fallback state machine (``machine``), answers and terms (``answers``), the reply
classifier (``classify``), signed form links (``tokens``), message texts
(``messages``), the ports to the SMS transport and the classifier (``ports``) and the
service (``service``)."""
