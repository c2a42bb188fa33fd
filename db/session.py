"""Engine and session factory built once from the [database] section."""
from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web threads read while the ARI loop writes.
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the
    # process loses nothing, a power cut at most the last transactions.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(db_config: dict, *, serialize_transactions: bool = True) -> Engine:
    """``serialize_transactions=False`` is for an engine that only reads (the
    analyzer's): its long reads must not hold the process-wide SQLite
    transaction lock below, which would stop every call's writes meanwhile;
    in WAL mode readers never block the writer anyway."""
    url = db_config["url"]
    kwargs = {"echo": bool(db_config.get("echo")), "future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        if serialize_transactions:
            _one_transaction_at_a_time(engine)
    return engine


def _one_transaction_at_a_time(engine: Engine) -> None:
    """SQLite lets one writer in at a time and makes the others poll with growing
    sleeps (up to 100 ms each): under a burst of calls, transactions queued behind
    one another for seconds.  Within the process, transactions take turns on a
    lock instead (first come, first served, no sleeping); each is a few
    milliseconds.  Re-entrant, so a nested session in the same thread is fine."""
    lock = threading.RLock()

    @event.listens_for(engine, "begin")
    def _begin(_conn) -> None:
        lock.acquire()

    def _end(_conn) -> None:
        try:
            lock.release()
        except RuntimeError:  # not held by this thread: nothing to give back
            pass

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)


def make_session_factory(engine: Engine) -> sessionmaker:
    factory = sessionmaker(bind=engine, expire_on_commit=False, future=True)
    # The analyzer's summary columns are kept at every flush, whichever service writes
    # (db/ticket_summary.py).
    from db.ticket_summary import install
    install(factory)
    return factory
