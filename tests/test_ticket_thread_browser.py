"""In Chromium: an e-mail sent over real SMTP, and its reply with an attachment,
show as the ticket's e-mail thread (sender, subject, body as text, never run),
and the attachment link downloads the file (docs/intake.md)."""
from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select

from db.models import Ticket
from support.browser_fixtures import browser  # noqa: F401 - pytest fixture
from support.desktop import PageProblems, browser_login, new_page
from support.intake import served_intake_stack
from test_ticket_thread import mail

pytestmark = pytest.mark.browser

CENTRE = "helpdesk@happycall.test"
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def intake_stack(tmp_path):
    with served_intake_stack(tmp_path, CENTRE) as served:
        yield served


def send(listener, raw: bytes) -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        client.sendmail("gildong.hong@example.com", [CENTRE], raw)


def test_an_e_mail_ticket_shows_its_thread_and_the_attachment_downloads(intake_stack, browser, tmp_path):
    from playwright.sync_api import expect

    stack, _intake, listener, server = intake_stack
    send(listener, mail(subject=f"Printer {XSS}", body=f"It jams.\n{XSS}", msgid="<root@example.com>"))
    send(listener, mail(subject="Re: Printer", body="Still broken, log attached.", msgid="<reply@example.com>",
                        in_reply_to="<root@example.com>",
                        attachments=[("jam <log>.txt", "text", "plain", b"E42 paper jam\n")]))
    with stack.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
    problems = PageProblems()
    ctx, page = new_page(browser)
    try:
        problems.watch(page)
        browser_login(page, server.url, "agent1", stack.passwords["agent1"])
        page.goto(f"{server.url}/tickets/{ticket.id}")
        thread = page.locator("#email-thread .mail-message")
        expect(thread).to_have_count(2)
        first, reply = thread.nth(0), thread.nth(1)
        expect(first.locator(".mail-from")).to_have_text("Hong Gildong <gildong.hong@example.com>")
        expect(first.locator(".mail-subject")).to_have_text(f"Printer {XSS}")
        expect(first.locator(".mail-body")).to_have_text(f"It jams.\n{XSS}")
        expect(reply.locator(".mail-subject")).to_have_text("Re: Printer")
        expect(first.locator("img")).to_have_count(0)
        assert page.evaluate("window.__xss") is None
        link = reply.locator(".mail-attachments a")
        expect(link).to_have_text("jam <log>.txt")
        with page.expect_download() as info:
            link.click()
        download = info.value
        # The sender's name, with the characters a file system must not get replaced by Chromium.
        assert download.suggested_filename == "jam _log_.txt"
        target = tmp_path / "downloaded.txt"
        download.save_as(target)
        assert target.read_bytes() == b"E42 paper jam\n"
        assert page.url.endswith(f"/tickets/{ticket.id}")          # the page did not navigate away
        assert problems.items == []
    finally:
        ctx.close()
