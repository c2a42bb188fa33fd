"""Reading an inbound e-mail (RFC 5322, stdlib ``email`` with ``policy.default``).

``parse(raw)`` returns what the ticket keeps: the sender, subject, a plain-text
body (the text/plain part, else the HTML part reduced to text), the attachments
and the threading keys.  A message the centre cannot use raises
``MalformedMessage`` with the reason (the SMTP listener refuses it with 554):
no usable From address, or a multipart body whose parts cannot be found.
Everything here is data from outside: nothing is interpreted beyond parsing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from html.parser import HTMLParser

MAX_SUBJECT = 998
MAX_NAME = 200
MAX_ADDRESS = 254
MAX_BODY = 1_000_000

# Structural defects that lose the body: refuse rather than keep an empty ticket.
_FATAL_DEFECTS = (email_errors.StartBoundaryNotFoundDefect, email_errors.NoBoundaryInMultipartDefect,
                  email_errors.MultipartInvariantViolationDefect)
_MSGID = re.compile(r"<[^<>\s]{1,990}>")
_INCIDENT_TAG = re.compile(r"\[(INC-\d{6,9})\]", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MalformedMessage(ValueError):
    """The message cannot become a ticket; the text says why (safe to send back)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    from_address: str
    from_name: str
    to_address: str
    subject: str
    body_text: str
    size_bytes: int
    attachments: tuple[Attachment, ...] = field(default=())

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first (In-Reply-To, then References
        from the last one back)."""
        ids = list(_MSGID.findall(self.in_reply_to)) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))

    @property
    def incident_tag(self) -> str:
        """An incident ID written in the subject as ``[INC-000042]`` ('' if none)."""
        match = _INCIDENT_TAG.search(self.subject)
        return match.group(1).upper() if match else ""


def parse(raw: bytes) -> ParsedMail:
    if not raw or not raw.strip():
        raise MalformedMessage("empty message")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        return _read(msg, len(raw))
    except MalformedMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is the sender's problem, not a crash
        raise MalformedMessage(f"unreadable message ({type(exc).__name__})") from exc


def _read(msg: EmailMessage, size: int) -> ParsedMail:
    fatal = [d for d in _all_defects(msg) if isinstance(d, _FATAL_DEFECTS)]
    if fatal:
        raise MalformedMessage(f"broken MIME structure ({type(fatal[0]).__name__})")
    from_address, from_name = _sender(msg)
    message_id = _first_msgid(msg.get("Message-ID", "")) or make_msgid(domain="happycall.invalid")
    return ParsedMail(
        message_id=message_id,
        in_reply_to=_one_line(str(msg.get("In-Reply-To", "") or ""), MAX_SUBJECT),
        references=tuple(_MSGID.findall(str(msg.get("References", "") or ""))),
        from_address=from_address,
        from_name=from_name,
        to_address=_first_address(msg, "To"),
        subject=_one_line(str(msg.get("Subject", "") or ""), MAX_SUBJECT),
        body_text=_body(msg)[:MAX_BODY],
        size_bytes=size,
        attachments=tuple(_attachments(msg)),
    )


def _all_defects(msg: EmailMessage):
    for part in msg.walk():
        yield from part.defects


def _sender(msg: EmailMessage) -> tuple[str, str]:
    header = msg.get("From")
    if header is None:
        raise MalformedMessage("no From header")
    addresses = getattr(header, "addresses", ()) or ()
    for address in addresses:
        addr = (address.addr_spec or "").strip()
        if "@" in addr and address.domain and len(addr) <= MAX_ADDRESS and not _CONTROL.search(addr):
            return addr, _one_line(address.display_name or "", MAX_NAME)
    raise MalformedMessage("no usable address in the From header")


def _first_address(msg: EmailMessage, name: str) -> str:
    try:
        header = msg.get(name)
        for address in getattr(header, "addresses", ()) or ():
            if address.addr_spec:
                return address.addr_spec[:MAX_ADDRESS]
    except Exception:  # noqa: BLE001 - a broken To is not a reason to refuse
        pass
    return ""


def _first_msgid(value) -> str:
    found = _MSGID.findall(str(value or ""))
    return found[0] if found else ""


def _one_line(text: str, limit: int) -> str:
    return _CONTROL.sub("", " ".join(text.split()))[:limit]


def _text_of(part: EmailMessage) -> str:
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        # Unknown or lying charset: keep what can be read, never drop the body.
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", errors="replace")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return str(text)


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _text_of(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return _CONTROL.sub("", text.replace("\r\n", "\n")).strip()


def _attachments(msg: EmailMessage):
    if not msg.is_multipart():
        return
    for part in msg.iter_attachments():
        if part.get_content_maintype() == "message":
            data = part.as_bytes()
        elif part.is_multipart():
            continue
        else:
            data = part.get_payload(decode=True) or b""
        yield Attachment(filename=str(part.get_filename() or ""), content_type=part.get_content_type(),
                         data=data)


class _TextOnly(HTMLParser):
    """Keeps the text of an HTML body (no script or style content)."""

    _SKIP = {"script", "style", "head", "title"}
    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
