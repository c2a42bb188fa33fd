"""Shared fixtures: a migrated, seeded SQLite database and the services on it."""
from __future__ import annotations

import datetime as dt

import pytest

from cti.config import load
from cti.events import EventBus
from cti.services import CallCenter
from db.migrate import upgrade
from db.seed import seed
from db.session import make_engine, make_session_factory


class FakeClock:
    def __init__(self, start: dt.datetime = dt.datetime(2026, 11, 25, 9, 0, 0)):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(autouse=True, scope="session")
def cheap_demo_password_hashes():
    """Seeding hashes a password per demo account with werkzeug's default (scrypt,
    ~0.1 s each): 1.5 s for every seeded test database, most of the unit suite's
    time.  Tests seed with a cheap PBKDF2 instead; logins verify either kind."""
    import functools

    import db.seed
    from werkzeug.security import generate_password_hash

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db.seed, "generate_password_hash",
                      functools.partial(generate_password_hash, method="pbkdf2:sha256:1000"))
        yield


@pytest.fixture
def config(tmp_path):
    return load(environ={}, overrides={"data": {"dir": str(tmp_path / "data")}})


@pytest.fixture
def db(config):
    engine = make_engine(config["database"])
    upgrade(engine)
    factory = make_session_factory(engine)
    passwords = seed(factory, config["data"]["dir"], echo=lambda *_: None)
    yield factory, passwords
    engine.dispose()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def bus():
    return EventBus()


@pytest.fixture
def call_center(db, bus, clock):
    factory, _ = db
    return CallCenter(factory, bus, clock)
