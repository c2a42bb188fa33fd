"""Outgoing notification e-mail through SMTP (stdlib smtplib + email), config [mail].

Built once by the system factory and passed to the services that notify
people.  ``NullMailer`` (no ``[mail] host``) sends nothing and logs what it
would have sent, so a centre without a mail server still works.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

log = logging.getLogger(__name__)

MAX_SUBJECT = 200


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, *, sender: str = "", sender_name: str = "HappyCall",
             reply_to: str = "", message_id: str = "") -> bool: ...


def _header_text(text: str) -> str:
    """One line: customer text may carry line breaks meant to inject headers."""
    return " ".join(str(text).split())[:MAX_SUBJECT]


def build_message(sender: str, to: str, subject: str, body: str, sender_name: str = "HappyCall",
                  reply_to: str = "", message_id: str = "") -> EmailMessage:
    """``message_id``: the Message-ID to send with (a caller that keeps it to
    recognise replies, e.g. the survey e-mail); by default a new one."""
    msg = EmailMessage()
    msg["From"] = formataddr((_header_text(sender_name), _header_text(sender)))
    msg["To"] = _header_text(to)
    msg["Subject"] = _header_text(subject)
    if reply_to:
        msg["Reply-To"] = _header_text(reply_to)
    msg["Message-ID"] = _header_text(message_id) or make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content(body)   # text/plain, UTF-8: Korean text goes through as it is
    return msg


class NullMailer:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, to: str, subject: str, body: str, **_sender) -> bool:
        log.info("no [mail] host configured: not sending %r to %s", _header_text(subject), _header_text(to))
        return False


class SmtpMailer:
    """One SMTP connection per message (notices are few); failures are logged and
    reported as False, never raised into the caller's transaction."""

    def __init__(self, host: str, port: int = 25, sender: str = "happycall@localhost", *,
                 starttls: bool = False, user: str = "", password: str = "", timeout: float = 10.0):
        self.host, self.port, self.sender = host, int(port), sender
        self._starttls, self._user, self._password = starttls, user, password
        self._timeout = float(timeout)
        self.sent = 0

    @classmethod
    def from_config(cls, section: dict) -> "Mailer":
        if not section.get("host"):
            return NullMailer()
        return cls(section["host"], int(section["port"]), section["sender"], starttls=bool(section["starttls"]),
                   user=section["user"], password=section["password"], timeout=float(section["timeout"]))

    def send(self, to: str, subject: str, body: str, *, sender: str = "", sender_name: str = "HappyCall",
             reply_to: str = "", message_id: str = "") -> bool:
        """``sender``/``sender_name``: another From than ``[mail] sender`` (a service
        centre sending its survey); ``reply_to``: where replies should go;
        ``message_id``: the Message-ID the caller keeps (see ``build_message``)."""
        if not to or "@" not in to:
            log.info("no e-mail address: %r not sent", _header_text(subject))
            return False
        try:
            msg = build_message(sender or self.sender, to, subject, body, sender_name, reply_to, message_id)
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._user:
                    smtp.login(self._user, self._password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            log.warning("e-mail to %s (%r) not sent: %s", _header_text(to), _header_text(subject), exc)
            return False
        self.sent += 1
        return True
