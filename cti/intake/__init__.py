"""Intake channels other than the phone (issue 5): e-mail through the project's
SMTP listener, the customer portal's web form, and one-stop requests that pass
an approval line before they become tickets.  See docs/intake.md.

- ``mail``: parsing an RFC 5322 message (stdlib ``email``) and the threading keys;
- ``approval``: the approval-line state machine (pure);
- ``forms``: validation of the portal's fields (pure);
- ``attachments``: files on disk under safe generated names;
- ``service``: ``IntakeService``, the logic between these, the database and the bus;
- ``smtp``: the aiosmtpd listener that hands messages to the service.
"""
