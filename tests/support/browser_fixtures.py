"""The fixtures every desktop browser test uses: one Chromium per module, a fresh
desktop stack (CSRF on, as in production) and its server per test.  Import them
into a test module (``from support.browser_fixtures import browser, server, stack``);
a module may define its own ``stack`` instead."""
from __future__ import annotations

import pytest

from support.desktop import BROWSER_TIMEOUT_MS, chromium, make_stack, running_server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect

    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with chromium() as b:
        yield b


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path, csrf=True)  # the real thing: CSRF on
    yield s
    s.close()


@pytest.fixture
def server(stack):
    with running_server(stack.app) as srv:
        yield srv
