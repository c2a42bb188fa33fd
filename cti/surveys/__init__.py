"""Satisfaction surveys (issue 6, docs/surveys.md): the pure scheduling and
fallback state machine (``machine``), answers and terms (``answers``), signed
form links (``tokens``), message texts (``messages``), the ports to the SMS
transport and the reply classifier (``ports``) and the service (``service``)."""
