"""The e-mail thread on the ticket page and attachment downloads, through the
Flask test client (docs/intake.md): every message of the ticket with its sender,
date, subject and body as escaped text; attachments listed with a download link
for the roles that work tickets, served as attachments that cannot run as a page."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from cti.intake.service import IntakeService
from db.models import Ticket
from support.desktop import logged_in
from support.intake import make_intake_stack
from agent_desktop.tickets import download_type

XSS = '<script>window.__xss=1</script>'
XSS_ESCAPED = "&lt;script&gt;window.__xss=1&lt;/script&gt;"


@pytest.fixture
def web(tmp_path):
    stack, intake = make_intake_stack(tmp_path)
    yield stack, intake
    intake.close()
    stack.close()


def mail(subject="Printer is broken", body="It jams.\nEvery morning.", msgid="<m1@example.com>",
         sender="Hong Gildong <gildong.hong@example.com>", in_reply_to=None, attachments=()) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "helpdesk@happycall.local"
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    msg["Date"] = "Tue, 24 Nov 2026 09:30:00 +0900"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    for name, maintype, subtype, data in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def e_mail_ticket(intake: IntakeService, **kw) -> int:
    return intake.receive_email(mail(**kw)).ticket_id


def test_the_ticket_page_shows_the_thread_with_attachments(web):
    stack, intake = web
    ticket_id = e_mail_ticket(intake, attachments=[("error log.txt", "text", "plain", b"E42 paper jam\n")])
    intake.receive_email(mail(subject="Re: Printer is broken", body="Still broken.", msgid="<m2@example.com>",
                              in_reply_to="<m1@example.com>"))
    thread = intake.thread(ticket_id)
    assert [m["subject"] for m in thread] == ["Printer is broken", "Re: Printer is broken"]
    html = logged_in(stack, "agent1").get(f"/tickets/{ticket_id}").get_data(as_text=True)
    section = html[html.index('id="email-thread"'):]
    assert section.index("Printer is broken") < section.index("Re: Printer is broken")
    assert "Hong Gildong &lt;gildong.hong@example.com&gt;" in section
    assert "It jams.\nEvery morning." in section and "Still broken." in section
    [att] = thread[0]["attachments"]
    assert f'href="/tickets/{ticket_id}/attachments/{att["id"]}"' in section
    assert "error log.txt" in section and "text/plain" in section
    assert 'E-mail thread <span class="count">2</span>' in section


def test_korean_page_names_the_thread(web):
    stack, intake = web
    ticket_id = e_mail_ticket(intake)
    html = logged_in(stack, "agent1", lang="ko").get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert "전자 메일 스레드" in html and "보낸 사람" in html


def test_a_ticket_without_e_mail_has_no_thread_section(web):
    stack, intake = web
    with stack.sessions.begin() as s:
        ticket = Ticket(incident_id="INC-PHONE1", channel="phone", status="in_progress")
        s.add(ticket)
        s.flush()
        ticket_id = ticket.id
    html = logged_in(stack, "agent1").get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert "INC-PHONE1" in html and 'id="email-thread"' not in html


def test_script_in_subject_body_and_file_name_is_shown_as_text(web):
    stack, intake = web
    ticket_id = e_mail_ticket(intake, subject=XSS, body=f"{XSS}\n<img src=x onerror=alert(1)>",
                              sender=f'"{XSS}" <gildong.hong@example.com>',
                              attachments=[(f"{XSS}.html", "text", "html", b"<script>alert(1)</script>")])
    html = logged_in(stack, "agent1").get(f"/tickets/{ticket_id}").get_data(as_text=True)
    section = html[html.index('id="email-thread"'):html.index("</section>", html.index('id="email-thread"'))]
    assert XSS not in html and "<img src=x" not in html
    assert section.count(XSS_ESCAPED) >= 3          # sender name, subject, body, file name
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    [att] = intake.thread(ticket_id)[0]["attachments"]
    response = logged_in(stack, "agent1").get(f"/tickets/{ticket_id}/attachments/{att['id']}")
    assert response.status_code == 200
    assert response.data == b"<script>alert(1)</script>"
    # Never a page: bytes, as an attachment, sandboxed, not sniffed.
    assert response.headers["Content-Type"] == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "<" not in disposition and "\n" not in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_download_keeps_the_declared_type_and_the_file_name(web):
    stack, intake = web
    data = bytes(range(256)) * 4
    ticket_id = e_mail_ticket(intake, attachments=[("보고서 1.pdf", "application", "pdf", data),
                                                   ("notes.txt", "text", "plain", b"plain words\n")])
    pdf, txt = intake.thread(ticket_id)[0]["attachments"]
    client = logged_in(stack, "agent1")
    response = client.get(f"/tickets/{ticket_id}/attachments/{pdf['id']}")
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%201.pdf" in response.headers["Content-Disposition"]
    plain = client.get(f"/tickets/{ticket_id}/attachments/{txt['id']}")
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.headers["Content-Disposition"] == 'attachment; filename=notes.txt'


def test_download_needs_login_and_a_ticket_working_role(web):
    stack, intake = web
    ticket_id = e_mail_ticket(intake, attachments=[("a.txt", "text", "plain", b"secret\n")])
    [att] = intake.thread(ticket_id)[0]["attachments"]
    url = f"/tickets/{ticket_id}/attachments/{att['id']}"
    anonymous = stack.app.test_client().get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for username in ("trainee1", "approver1"):
        client = logged_in(stack, username)
        assert client.get(url).status_code == 403
        page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
        assert "a.txt" in page and f'href="{url}"' not in page     # the name, without a link
    for username in ("agent1", "super", "admin"):
        assert logged_in(stack, username).get(url).data == b"secret\n"


def test_an_attachment_of_another_ticket_or_a_missing_file_is_404(web, tmp_path):
    stack, intake = web
    first = e_mail_ticket(intake, attachments=[("a.txt", "text", "plain", b"one\n")])
    second = e_mail_ticket(intake, msgid="<other@example.com>", subject="Other",
                           sender="Stranger <nobody@example.net>")
    [att] = intake.thread(first)[0]["attachments"]
    client = logged_in(stack, "agent1")
    assert client.get(f"/tickets/{second}/attachments/{att['id']}").status_code == 404
    assert client.get(f"/tickets/{first}/attachments/999999").status_code == 404
    for path in (tmp_path / "attachments").iterdir():
        path.unlink()
    assert client.get(f"/tickets/{first}/attachments/{att['id']}").status_code == 404


@pytest.mark.parametrize("declared, served", [
    ("text/plain", "text/plain"), ("application/pdf", "application/pdf"), ("image/png", "image/png"),
    ("text/html", "application/octet-stream"), ("image/svg+xml", "application/octet-stream"),
    ("application/xhtml+xml", "application/octet-stream"), ("text/javascript", "application/octet-stream"),
    ("TEXT/PLAIN; charset=utf-8", "text/plain"), ("text/plain\r\nX-Evil: 1", "application/octet-stream"),
    ("", "application/octet-stream"), ("nonsense", "application/octet-stream"),
])
def test_download_type(declared, served):
    assert download_type(declared) == served
