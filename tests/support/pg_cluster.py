"""A throwaway PostgreSQL cluster for tests and benchmarks.

``start_cluster(base_dir)`` (e.g. ``tempfile.mkdtemp()``) runs ``initdb`` into ``base_dir`` and starts
``postgres`` on a free loopback port (trust authentication, Unix socket in the
same folder, fsync off: the data is thrown away), and returns a ``PgCluster``
whose ``url`` SQLAlchemy can use with the psycopg 3 driver.  PostgreSQL refuses
to run as root: as root the cluster runs as the ``postgres`` system user (the
folder is handed to it).  ``PgUnavailable`` says why a cluster cannot start
(no binaries, no driver, no such user...), for a clear skip.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 30.0


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (the reason is the message)."""


@dataclass
class PgCluster:
    data_dir: Path
    port: int
    pg_ctl: str
    run_as: Optional[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(_as(self.run_as, [self.pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)


def _binary(name: str) -> str:
    for d in BIN_DIRS:
        path = Path(d) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise PgUnavailable(f"PostgreSQL's {name} is not installed")
    return found


def _as(user: Optional[str], command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(base_dir: Path) -> PgCluster:
    if importlib.util.find_spec("psycopg") is None:   # the driver SQLAlchemy will use
        raise PgUnavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    run_as = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable("running as root and there is no 'postgres' user to run PostgreSQL as") from None
        run_as = "postgres"
    base_dir.mkdir(parents=True, exist_ok=True)
    data_dir = base_dir / "pgdata"
    if run_as:
        # The folders above must be passable for that user: use a fresh folder in /tmp.
        os.chown(base_dir, entry.pw_uid, entry.pw_gid)
    init = subprocess.run(_as(run_as, [initdb, "-D", str(data_dir), "-U", "postgres", "-A", "trust",
                                       "-E", "UTF8", "--no-locale"]), capture_output=True, text=True, timeout=120)
    if init.returncode:
        raise PgUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    port = _free_port()
    options = f"-p {port} -k {base_dir} -c listen_addresses=127.0.0.1 -F -c timezone=UTC"
    start = subprocess.run(_as(run_as, [pg_ctl, "-D", str(data_dir), "-o", options, "-l",
                                        str(base_dir / "postgres.log"), "-w", "-t", str(int(START_TIMEOUT_S)),
                                        "start"]), capture_output=True, text=True, timeout=START_TIMEOUT_S + 10)
    if start.returncode:
        log = (base_dir / "postgres.log")
        tail = log.read_text(errors="replace")[-500:] if log.exists() else start.stderr
        raise PgUnavailable(f"postgres did not start: {tail.strip()}")
    cluster = PgCluster(data_dir, port, pg_ctl, run_as)
    _wait_ready(cluster)
    return cluster


def _wait_ready(cluster: PgCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", cluster.port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                cluster.stop()
                raise PgUnavailable("postgres started but does not accept connections") from None
            time.sleep(0.1)


@contextlib.contextmanager
def cluster_url_or_skip():
    """The URL of a throwaway cluster for a test module (stopped and removed after);
    the module's tests are skipped, with the reason, when PostgreSQL cannot run here."""
    import pytest

    base = Path(tempfile.mkdtemp(prefix="happycall-pg-"))
    try:
        cluster = start_cluster(base)
    except PgUnavailable as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
