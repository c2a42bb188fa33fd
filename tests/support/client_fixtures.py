"""Desktop stacks for the Flask test-client tests: ``stack`` (CSRF off, so the
tests post plain forms) and ``csrf_stack`` (CSRF on, as in production).  Import
them into a test module; a module may define its own instead."""
from __future__ import annotations

import pytest

from support.desktop import make_stack


@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path)
    yield s
    s.close()


@pytest.fixture
def csrf_stack(tmp_path):
    s = make_stack(tmp_path, csrf=True)
    yield s
    s.close()
