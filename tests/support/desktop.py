"""Test helpers for the agent desktop: a seeded temp database with the services,
the app, a background web server on a free loopback port, calls, and Chromium."""
from __future__ import annotations

import contextlib
import re
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from agent_desktop import close_app, create_app
from agent_desktop.server import WebServer
from cti.acd_service import AcdService
from cti.callbacks import CallbackService
from cti.config import load
from cti.events import EventBus
from cti.sensitivity import SensitivityService
from cti.services import CallCenter
from cti.supervision import SupervisorService
from db.migrate import upgrade
from db.models import Callback, CallRecord, Ticket, User
from db.seed import seed
from db.session import make_engine, make_session_factory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BROWSER_TIMEOUT_MS = 5000

_channels = itertools.count(1)


@dataclass
class DesktopStack:
    config: dict
    engine: Engine
    sessions: sessionmaker
    bus: EventBus
    call_center: CallCenter
    passwords: dict[str, str]
    app: Flask
    data_dir: Path
    # The floor services (also given to the app unless make_stack(floor=False)).
    acd: Optional[AcdService] = None
    callbacks: Optional[CallbackService] = None
    supervision: Optional[SupervisorService] = None

    @property
    def socketio(self):
        return self.app.extensions["socketio"]

    @property
    def sensitivity(self) -> SensitivityService:
        """The app's SensitivityService (one on the same database without an app)."""
        if self.app is not None:
            return self.app.extensions["happycall_desktop"].sensitivity
        return SensitivityService(self.sessions, self.bus)

    def user_id(self, username: str) -> int:
        with self.sessions() as s:
            return s.scalar(select(User.id).where(User.username == username))

    def user_state(self, username: str) -> str:
        with self.sessions() as s:
            return s.scalar(select(User.state).where(User.username == username))

    def ticket(self, ticket_id: int) -> Ticket:
        with self.sessions() as s:
            ticket = s.get(Ticket, ticket_id)
            _ = list(ticket.events)  # load the history before the session closes
            return ticket

    def history(self, ticket_id: int) -> list[str]:
        return [e.kind for e in self.ticket(ticket_id).events]

    def close(self) -> None:
        close_app(self.app)
        self.engine.dispose()


def make_stack(data_dir: Path, *, csrf: bool = False, secret_key: str = "test-secret-key",
               app: bool = True, floor: bool = True) -> DesktopStack:
    """Migrated + seeded SQLite in ``data_dir``, services and (optionally) the app.
    ``floor``: give the app the floor services (ACD, callbacks, supervision) like
    ``ivr.system.System`` does; the stack has them either way."""
    config = load(environ={}, overrides={
        "data": {"dir": str(data_dir)},
        "web": {"secret_key": secret_key, "wtf_csrf_enabled": csrf},
    })
    engine = make_engine(config["database"])
    upgrade(engine)
    sessions = make_session_factory(engine)
    passwords = seed(sessions, data_dir, echo=lambda *_: None)
    bus = EventBus()
    call_center = CallCenter(sessions, bus)
    acd = AcdService(sessions, bus)
    callbacks = CallbackService(sessions, bus)
    supervision = SupervisorService(sessions, bus, call_center)
    services = (dict(acd_service=acd, callback_service=callbacks, supervisor_service=supervision)
                if floor else {})
    flask_app = create_app(config, call_center, sessions, bus, **services) if app else None
    return DesktopStack(config, engine, sessions, bus, call_center, passwords, flask_app, Path(data_dir),
                        acd=acd, callbacks=callbacks, supervision=supervision)


def place_call(cc: CallCenter, *, caller_name: str = "Caller", number: str = "0255501234",
               customer_id: Optional[int] = None, pin: str = "", agent_id: Optional[int] = None,
               answer: bool = False, make_ready: bool = True, queue: str = "helpdesk",
               channel_id: Optional[str] = None) -> dict[str, Any]:
    """A call through the services: started -> ticket -> queued [-> offered [-> answered]].
    Returns {"channel_id", "ticket_id", "pop"}."""
    channel_id = channel_id or f"test-channel-{next(_channels)}"
    cc.call_started(channel_id, number, caller_name, "1600", "ko")
    info = cc.open_ticket(channel_id, customer_id, pin, "ko")
    cc.enqueue(channel_id, queue)
    pop = None
    if agent_id is not None:
        if make_ready:
            cc.set_agent_state(agent_id, "ready")
        pop = cc.offer(channel_id, agent_id)
        if answer:
            cc.answered(channel_id, agent_id)
    return {"channel_id": channel_id, "ticket_id": info.ticket_id, "pop": pop}


def abandon_call(stack: DesktopStack, *, caller_name: str = "Caller", number: str = "0255501234",
                 customer_id: Optional[int] = None, queue: str = "helpdesk",
                 channel_id: Optional[str] = None) -> dict[str, Any]:
    """A caller who hangs up while waiting in ``queue``: the call ends abandoned and
    an entry goes on the abandoned-call list.  Returns {"channel_id", "ticket_id",
    "callback_id"}."""
    call = place_call(stack.call_center, caller_name=caller_name, number=number, customer_id=customer_id,
                      queue=queue, channel_id=channel_id)
    assert stack.call_center.call_ended(call["channel_id"]) == "abandoned"
    with stack.sessions() as s:
        callback_id = s.scalar(select(Callback.id).join(CallRecord, CallRecord.id == Callback.call_id)
                               .where(CallRecord.channel_id == call["channel_id"]))
    return {**call, "callback_id": callback_id}


def login(client, username: str, password: str, **extra):
    """Log a Flask test client in (CSRF disabled apps)."""
    return client.post("/login", data={"username": username, "password": password, **extra})


def logged_in(stack, username="agent1", lang="en"):
    """A Flask test client logged in as ``username`` (interface language ``lang``)."""
    client = stack.app.test_client()
    client.set_cookie("lang", lang)
    response = login(client, username, stack.passwords[username])
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@contextlib.contextmanager
def running_server(app: Flask, host: str = "127.0.0.1") -> Iterator[WebServer]:
    server = WebServer(app, host, 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (never downloads a browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                     timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, *, locale: str = "en-US"):
    """A fresh context (own cookies) and page with short, bounded timeouts."""
    context = browser.new_context(locale=locale, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
    page = context.new_page()
    return context, page


def browser_login(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#btn-login")
    page.wait_for_selector("#current-user")
    # The header shows before the scripts at the end of the page have run: a click
    # on a button before its handler is attached does nothing (seen on a busy machine).
    page.wait_for_load_state("load")


class PageProblems:
    """Collects a page's console errors (CSP violations show up there) and page
    errors; console errors matching ``expected`` (a regex) are not problems."""

    def __init__(self, expected: Optional[str] = None):
        self.items: list[str] = []
        self._expected = re.compile(expected) if expected else None

    def watch(self, page):
        page.on("console", lambda msg: msg.type == "error" and not self._is_expected(msg.text)
                and self.items.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.items.append(f"pageerror: {exc}"))
        return page

    def _is_expected(self, text: str) -> bool:
        return bool(self._expected and self._expected.search(text))


def wait_websocket(page) -> None:
    """The desktop's Socket.IO connection is up, on the websocket transport."""
    from playwright.sync_api import expect

    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-connected", "true")
    expect(connection).to_have_attribute("data-transport", "websocket")
