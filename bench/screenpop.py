#!/usr/bin/env python3
"""Screen-pop latency benchmark.

Places real calls through a managed Asterisk (SIPp callers keying the PIN
``100100#`` on the ARS line 1600, SIPp agent phones that answer) into the whole
system running in this process (``ivr.system.System``), and measures per call
the time from the call entering the queue (the bus publishes ``call.updated``
with outcome ``queued``) to the ``screenpop`` Socket.IO event arriving in the
chosen agent's python-socketio client, with 1 and with 200 connected desktops.

For comparison it measures, in the same run, a bare python-socketio server
(``socketio.Server(async_mode='threading')`` behind the desktop's own werkzeug
threaded server) emitting to one client: emit call -> client callback, for a
``screenpop`` alone and for ``agent_state`` + ``screenpop`` back to back (what
the desktop sends to the agent when a call is offered).

    python bench/screenpop.py                     # 100 calls, 1 and 200 desktops
    python bench/screenpop.py --calls 200 --desktops 1,50,200 --no-write

Prints p50/p95/p99/max and writes them, with the machine and the command, to
``docs/performance.md`` between ``<!-- screenpop:begin -->`` and
``<!-- screenpop:end -->`` (the rest of the file is kept).  See bench/README.md.

The clients run in the same process as the server: their work (a websocket
reader thread and a handler thread per message, per client) competes with the
server for the GIL and the CPUs, so the figures are pessimistic compared with
browsers on other machines.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import logging
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests"):  # the project, and tests/support (SIPp, Asterisk helpers)
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- screenpop:begin -->"
END = "<!-- screenpop:end -->"
TARGET_MS = 50.0
TARGET_DESKTOPS = 200
QUEUE = "helpdesk"
PIN = "100100#"
AGENT_PREFIX = "bench"

now = time.monotonic


class BenchError(RuntimeError):
    pass


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = now() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if now() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def say(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- figures

@dataclass
class Result:
    label: str
    kind: str                      # "happycall" | "bare" | "bare-pair"
    desktops: int
    expected: int                  # calls placed / samples emitted
    latencies: list[float]         # seconds, one per measured call or sample
    failed: int
    notes: list[str] = field(default_factory=list)
    # HappyCall only: parts of the latency, seconds
    parts: dict[str, list[float]] = field(default_factory=dict)
    wall: float = 0.0


def quantiles(values: list[float]) -> Optional[dict[str, float]]:
    """p50/p95/p99 (linear interpolation between order statistics) and max, in ms."""
    if not values:
        return None
    ms = sorted(v * 1000.0 for v in values)
    if len(ms) == 1:
        q = [ms[0]] * 99
    else:
        q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": ms[-1]}


def fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.1f}"


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        q = quantiles(r.latencies) or {}
        rows.append([r.label, str(len(r.latencies)), fmt(q.get("p50")), fmt(q.get("p95")),
                     fmt(q.get("p99")), fmt(q.get("max")), str(r.failed)])
    return rows


HEADER = ["configuration", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed"]
PART_HEADER = ["configuration", "part", "p50 ms", "p95 ms", "p99 ms", "max ms"]
PART_NAMES = {
    "queue_to_emit": "queued → pop emitted (server: hold prompt, ACD pass, offer transaction, emit)",
    "emit_to_client": "pop emitted → client callback (Socket.IO delivery)",
}


def part_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        for key, label in PART_NAMES.items():
            q = quantiles(r.parts.get(key, []))
            if q:
                rows.append([r.label, label, fmt(q["p50"]), fmt(q["p95"]), fmt(q["p99"]), fmt(q["max"])])
    return rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(  # noqa: E731
        (c.ljust(w) if i < 2 else c.rjust(w)) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def md_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(":---" if i < left else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def target_verdict(results: list[Result]) -> tuple[Optional[bool], str]:
    hc = [r for r in results if r.kind == "happycall" and r.desktops == TARGET_DESKTOPS]
    if not hc:
        return None, f"not measured (no run with {TARGET_DESKTOPS} desktops)"
    r = hc[0]
    q = quantiles(r.latencies)
    if q is None:
        return False, "not met (no call measured)"
    met = q["p99"] <= TARGET_MS and r.failed == 0
    why = f"p99 {q['p99']:.1f} ms with {TARGET_DESKTOPS} desktops"
    if r.failed:
        why += f", {r.failed} failed call(s)"
    return met, ("met" if met else "not met") + f" ({why})"


# --------------------------------------------------------------------------- machine

def cpu_sample() -> tuple[float, float, float]:
    """(machine busy jiffies, machine total jiffies, this process's CPU seconds)."""
    busy = total = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        total = sum(fields[:8])
        busy = total - fields[3] - fields[4]   # minus idle and iowait
    t = os.times()
    return busy, total, t.user + t.system


def cpu_note(before: tuple[float, float, float], after: tuple[float, float, float], wall: float) -> str:
    busy, total = after[0] - before[0], after[1] - before[1]
    ncpu = os.cpu_count() or 1
    machine_cpus = ncpu * busy / total if total > 0 else float("nan")
    proc_cpus = (after[2] - before[2]) / wall if wall > 0 else float("nan")
    return (f"CPU while measuring: the machine {machine_cpus:.2f} of its {ncpu} CPUs (every process), "
            f"this Python process {proc_cpus:.2f} CPU")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except (OSError, ValueError):
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        nproc = str(len(os.sched_getaffinity(0)))
    versions = []
    for mod in ("socketio", "engineio", "flask_socketio", "werkzeug", "simple_websocket"):
        try:
            from importlib.metadata import version
            dist = {"socketio": "python-socketio", "engineio": "python-engineio",
                    "flask_socketio": "Flask-SocketIO", "werkzeug": "Werkzeug",
                    "simple_websocket": "simple-websocket"}[mod]
            versions.append(f"{dist} {version(dist)}")
        except Exception:  # noqa: BLE001
            pass
    sipp = ""
    with contextlib.suppress(Exception):
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, timeout=5).stdout
        sipp = next((ln.strip() for ln in out.splitlines() if "SIPp" in ln), "")
    return {
        "nproc": nproc, "cpu": cpu, "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(versions), "sipp": sipp,
    }


# --------------------------------------------------------------------------- bare python-socketio

POP_LIKE = {
    "type": "call", "queue": "Help desk", "customer_name": "홍길동 (Hong Gildong)", "customer_known": True,
    "caller_name": "Bench caller", "phone": "0255501234", "waiting_seconds": 0.0,
    "incident_id": "INC-000000", "ticket_id": 0, "channel_id": "", "offered_at": "2026-01-01T00:00:00Z",
}


def close_clients(clients: Iterable[Any], timeout: float = 20.0) -> None:
    """Disconnect python-socketio clients in parallel, bounded."""
    clients = [c for c in clients if c is not None]
    if not clients:
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="bench-close")
    futures = [pool.submit(c.disconnect) for c in clients]
    concurrent.futures.wait(futures, timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)


BARE_PING_INTERVAL = 5  # seconds; the bare server's Engine.IO ping interval (see bare_socketio)
AGENT_STATE_LIKE = {"agent_id": 1, "state": "ringing", "reason": ""}


def bare_socketio(n_clients: int, samples: int, gap: tuple[float, float]) -> tuple[list[Result], bool]:
    """A minimal Socket.IO server on the desktop's own server classes
    (agent_desktop.server: werkzeug's threaded server) emitting to one client's sid.

    Two ways of sending, each ``samples`` times to a random client:
      * ``screenpop`` alone: the bare baseline (emit call -> client callback);
      * ``agent_state`` then ``screenpop``, back to back: what ``CallCenter.offer`` makes the
        desktop send to the chosen agent's room (latency up to the screenpop callback).

    The server pings every BARE_PING_INTERVAL s (the desktop: every 25 s) and the clients are
    given one ping interval before the first sample, so their connections are in the state of
    a desktop that has been open for a while (it has answered pings); samples are 50-90 ms
    apart (longer than Linux's 40 ms delayed-ACK timer).

    Returns the two results and whether the server's connections have TCP_NODELAY set.
    """
    import socket

    import socketio

    from agent_desktop.server import _RequestHandler, _Server  # the desktop's own server classes

    plural = "s" if n_clients != 1 else ""
    base_label = f"bare python-socketio, {n_clients} client{plural}"
    say(f"== {base_label}")
    sio = socketio.Server(async_mode="threading", ping_interval=BARE_PING_INTERVAL)
    sio_app = socketio.WSGIApp(sio)
    sids: dict[int, str] = {}
    nodelay: list[bool] = []
    lock = threading.Lock()
    received: dict[int, float] = {}
    events: dict[int, threading.Event] = {}

    def app(environ, start_response):
        # Each request's connection, while it is open: is TCP_NODELAY set on it?
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                flag = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                with lock:
                    nodelay.append(flag)
        return sio_app(environ, start_response)

    @sio.event
    def connect(sid, environ, auth=None):
        with lock:
            sids[int((auth or {}).get("i", -1))] = sid

    server = _Server("127.0.0.1", 0, app, handler=_RequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="bench-bare-web", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    clients: list[Any] = []
    results: list[Result] = []
    try:
        def on_pop(data, _now=now):
            t = _now()
            seq = data.get("seq")
            with lock:
                received.setdefault(seq, t)
                ev = events.get(seq)
            if ev is not None:
                ev.set()

        def open_client(i: int):
            c = socketio.Client(reconnection=False)
            c.on("screenpop", on_pop)
            c.on("agent_state", lambda _data: None)
            c.connect(url, auth={"i": i}, wait_timeout=10)
            return c

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(open_client, i) for i in range(n_clients)]
            try:
                for f in concurrent.futures.as_completed(futures, timeout=60):
                    clients.append(f.result())
            finally:
                for f in futures:
                    f.cancel()
        not_ws = sum(1 for c in clients if c.transport() != "websocket")
        if not_ws:
            raise BenchError(f"{not_ws} bare clients are not on the websocket transport")
        wait_for(lambda: len(sids) >= n_clients, 10, "the bare server to see every client")
        time.sleep(BARE_PING_INTERVAL + 1.0)
        rng = random.Random(n_clients)
        seq = 0
        for pair in (False, True):
            started = now()
            cpu_before = cpu_sample()
            latencies: list[float] = []
            failed = 0
            for _ in range(samples):
                seq += 1
                target = sids[rng.randrange(n_clients)]
                ev = threading.Event()
                with lock:
                    events[seq] = ev
                payload = dict(POP_LIKE, seq=seq, channel_id=f"bare-{seq}")
                t0 = now()
                if pair:
                    sio.emit("agent_state", AGENT_STATE_LIKE, to=target)
                sio.emit("screenpop", payload, to=target)
                if ev.wait(5.0):
                    latencies.append(received[seq] - t0)
                else:
                    failed += 1
                time.sleep(rng.uniform(*gap))
            label = base_label + (", agent_state + screenpop" if pair else "")
            wall = now() - started
            results.append(Result(label, "bare-pair" if pair else "bare", n_clients, samples, latencies,
                                  failed, [cpu_note(cpu_before, cpu_sample(), wall)], wall=wall))
            say(f"   {'agent_state + screenpop' if pair else 'screenpop alone'}: {len(latencies)} samples, "
                f"{failed} lost, {now() - started:.0f} s")
    finally:
        close_clients(clients)
        server.shutdown()
        server.close_connections()
        thread.join(10)
        with contextlib.suppress(Exception):
            sio.shutdown()
        server.server_close()
    return results, bool(nodelay) and all(nodelay)


# --------------------------------------------------------------------------- SIPp

def sipp_peers():
    """The SIPp helpers (ivr.demo.peers; tests/support/sipp.py in older trees)."""
    try:
        from ivr.demo import peers
    except ImportError:
        from support import sipp as peers
    return peers


def bench_caller_class():
    peers = sipp_peers()

    class BenchCaller(peers.SippCaller):
        """SippCaller running ``calls`` calls in one SIPp process: at most ``limit`` at once,
        ``rate`` new calls a second; short RFC 2833 digits (60 ms, 60 ms apart)."""

        name = "bench-caller"

        def __init__(self, target: str, calls: int, rate: float, limit: int, digit_ms: int = 60,
                     **kwargs):
            self.calls = calls
            self.rate = rate
            self.limit = limit
            self.digit_ms = digit_ms
            super().__init__(target, **kwargs)

        def _scenario(self) -> str:
            pcap = self.dir / "rtp.pcap"
            digits_end, _ = peers.write_rtp_pcap(pcap, self.digits, gap_ms=int(self.digit_gap * 1000),
                                                 digit_ms=self.digit_ms)
            return peers.render("caller_pin.xml", {
                "PAUSE_MS": peers._ms(self.pause_before_digits),
                "HOLD_MS": peers._ms(self.hold_seconds),
                "DTMF": peers.dtmf_block(pcap, digits_end),
            })

        def _args(self) -> list[str]:
            args = super()._args()
            args[args.index("-m") + 1] = str(self.calls)
            args[args.index("-l") + 1] = str(self.limit)
            return ["-r", f"{self.rate:g}", "-rp", "1000"] + args

    return BenchCaller


# --------------------------------------------------------------------------- HappyCall

class Recorder:
    """Timestamps from the bus (server side) and from the clients' callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.queued: dict[str, float] = {}
            self.waited: set[str] = set()       # queued while no agent was Ready
            self.emitted: dict[str, tuple[float, int]] = {}
            self.popped: dict[str, tuple[float, int]] = {}
            self.duplicates = 0
            self.ended: dict[str, str] = {}
            self.states: dict[int, str] = getattr(self, "states", {})

    # bus handlers (run in the publisher's thread)
    def on_call_updated(self, _topic: str, payload: dict) -> None:
        t = now()
        ch = payload.get("channel_id")
        with self.lock:
            if payload.get("outcome") == "queued":
                self.queued.setdefault(ch, t)
                if not any(s == "ready" for s in self.states.values()):
                    self.waited.add(ch)
            else:
                self.ended[ch] = payload.get("outcome")

    def on_agent_state(self, _topic: str, payload: dict) -> None:
        with self.lock:
            self.states[int(payload["agent_id"])] = payload.get("state")

    def on_screenpop(self, _topic: str, payload: dict) -> None:
        t = now()
        agent = int(payload["agent_id"])
        ch = payload["pop"]["channel_id"]
        with self.lock:
            self.emitted.setdefault(ch, (t, agent))

    # client side (the desktop's Socket.IO reader thread)
    def on_client_pop(self, agent_id: int, t: float, data: dict) -> None:
        ch = data.get("channel_id")
        with self.lock:
            if ch in self.popped:
                self.duplicates += 1
                return
            self.popped[ch] = (t, agent_id)


class Desktop:
    """One agent's desktop: an HTTP session (login form with its CSRF token) and a
    python-socketio client with the session cookie, like the browser page."""

    def __init__(self, base: str, agent_id: int, username: str, password: str, recorder: Recorder):
        self.base = base
        self.agent_id = agent_id
        self.username = username
        self.password = password
        self.recorder = recorder
        self.http = None
        self.sio = None
        self.csrf = ""
        self.connected_at = 0.0

    def open(self, timeout: float = 15.0) -> "Desktop":
        import requests
        import socketio

        self.http = requests.Session()
        page = self.http.get(self.base + "/login", timeout=timeout)
        m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or not m:
            raise BenchError(f"{self.username}: no login form ({page.status_code})")
        r = self.http.post(self.base + "/login", timeout=timeout, allow_redirects=False,
                           data={"username": self.username, "password": self.password,
                                 "csrf_token": m.group(1)})
        if r.status_code != 302:
            raise BenchError(f"{self.username}: login failed ({r.status_code})")
        desk = self.http.get(self.base + "/", timeout=timeout)
        m = re.search(r'<meta name="csrf-token" content="([^"]+)"', desk.text)
        if desk.status_code != 200 or not m:
            raise BenchError(f"{self.username}: no desktop page after login ({desk.status_code})")
        self.csrf = m.group(1)
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.sio = socketio.Client(reconnection=False)
        agent_id, rec = self.agent_id, self.recorder

        def on_pop(data, _now=now):
            rec.on_client_pop(agent_id, _now(), data)

        self.sio.on("screenpop", on_pop)
        # Default transports, like the page: long-polling first, then the upgrade to websocket.
        self.sio.connect(self.base, headers={"Cookie": cookie}, wait_timeout=timeout)
        self.connected_at = now()
        return self

    @property
    def transport(self) -> str:
        return self.sio.transport() if self.sio is not None else ""

    def set_state(self, state: str, timeout: float = 15.0) -> None:
        r = self.http.post(self.base + "/agent/state", json={"state": state},
                           headers={"X-CSRFToken": self.csrf}, timeout=timeout)
        if r.status_code != 200:
            raise BenchError(f"{self.username}: cannot go {state} ({r.status_code}: {r.text[:200]})")

    def logout(self, timeout: float = 15.0) -> None:
        """Leave the page (the socket closes), then log out: the agent goes Logged out."""
        if self.sio is not None:
            with contextlib.suppress(Exception):
                self.sio.disconnect()
            self.sio = None
        r = self.http.post(self.base + "/logout", data={"csrf_token": self.csrf}, allow_redirects=False,
                           timeout=timeout)
        if r.status_code != 302:
            raise BenchError(f"{self.username}: logout failed ({r.status_code})")
        self.close()

    def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                self.sio.disconnect()
        if self.http is not None:
            self.http.close()


class HappyCallBench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.system = None
        self.tmp: Optional[Path] = None
        self.recorder = Recorder()
        self.agents: list[tuple[int, str, str, str]] = []   # id, username, password, extension
        self.desktops: dict[int, Desktop] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self.instance = "bench-screenpop"

    # --- life -------------------------------------------------------------------
    def start(self) -> None:
        from cti import events
        from cti.config import load
        from ivr.pbx.instance import ManagedAsterisk
        from ivr.pbx.provision import ensure_root
        from ivr.system import System
        from support import asterisk as pbx_support
        free_port = sipp_peers().free_port

        say("== starting HappyCall (SQLite in a temp folder, managed Asterisk on free ports)")
        root = ensure_root(pbx_support.test_root(), log=lambda *_: None)
        self.tmp = Path(tempfile.mkdtemp(prefix="happycall-bench-"))
        ast_cfg = pbx_support.asterisk_config(root=str(root))
        config = load(environ={}, overrides={
            "data": {"dir": str(self.tmp / "data")},
            "asterisk": ast_cfg,
            "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
            "acd": {"ring_timeout": 10.0, "menu": False, "wrap_up_seconds": 0},
            # The call path alone: the spoken description step (issue 3) has its own tests.
            "asr": {"enabled": False},
            "web": {"port": free_port(udp=False, tcp=True), "secret_key": secrets.token_hex(16)},
        })
        # An instance left running by an interrupted bench run would block the start.
        ManagedAsterisk(ast_cfg, instance_dir_name=self.instance).stop()
        self.system = System(config, echo=lambda *_: None, instance_name=self.instance)
        self.system.start()
        if not self.system.ari_app.supervisor.connected.is_set():
            raise BenchError("the ARI application did not connect to Asterisk")
        bus = self.system.bus
        self._unsubscribe = [bus.subscribe(events.CALL_UPDATED, self.recorder.on_call_updated),
                             bus.subscribe(events.AGENT_STATE, self.recorder.on_agent_state),
                             bus.subscribe(events.SCREENPOP, self.recorder.on_screenpop)]
        self._add_agents(max(self.args.desktops))
        say(f"   web {self.system.web.url}, SIP 127.0.0.1:{self.system.asterisk.sip_port}, "
            f"{len(self.agents)} agents in queue {QUEUE}")

    def _add_agents(self, total: int) -> None:
        """The seed's agents plus bench agents, all in the help-desk queue.  The bench
        agents' passwords use a cheap PBKDF2 hash so 200 logins do not take a minute
        of scrypt (login time is not part of the measure)."""
        from sqlalchemy import select
        from werkzeug.security import generate_password_hash

        from db.models import Queue, QueueMember, User

        password = secrets.token_urlsafe(12)
        hashed = generate_password_hash(password, method="pbkdf2:sha256:1000")
        with self.system.sessions.begin() as s:
            queue = s.scalar(select(Queue).where(Queue.name == QUEUE))
            members = s.execute(select(User.id, User.username, User.extension)
                                .join(QueueMember, QueueMember.user_id == User.id)
                                .where(QueueMember.queue_id == queue.id).order_by(User.id)).all()
            agents = [(m.id, m.username, self.system.demo_passwords[m.username], m.extension)
                      for m in members if m.username in self.system.demo_passwords]
            n = 0
            while len(agents) < total:
                n += 1
                username = f"{AGENT_PREFIX}{n:03d}"
                ext = str(3000 + n)
                user = User(username=username, display_name=f"Bench Agent {n:03d}", role="agent",
                            extension=ext, phone="", password_hash=hashed)
                s.add(user)
                s.flush()
                s.add(QueueMember(queue_id=queue.id, user_id=user.id))
                agents.append((user.id, username, password, ext))
        self.agents = agents[:total]

    def stop(self) -> None:
        close_clients([d.sio for d in self.desktops.values()])
        for d in self.desktops.values():
            d.close()
        self.desktops.clear()
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(Exception):
                unsubscribe()
        self._unsubscribe = []
        if self.system is not None:
            say("== stopping HappyCall")
            self.system.stop()
            self.system = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # --- one configuration -------------------------------------------------------------
    def _floor(self, desktops: int) -> list[int]:
        """Exactly the first ``desktops`` agents connected and Ready; the others logged out."""
        from sqlalchemy import update

        from db.models import User

        wanted = [a[0] for a in self.agents[:desktops]]
        leaving = [self.desktops.pop(a) for a in list(self.desktops) if a not in wanted]
        if leaving:
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                for f in [pool.submit(d.logout) for d in leaving]:
                    f.result(timeout=60)
        others = [a[0] for a in self.agents if a[0] not in wanted]
        with self.system.sessions.begin() as s:  # never connected: logged out from the start
            s.execute(update(User).where(User.id.in_(others), User.state != "logged_out")
                      .values(state="logged_out", state_reason=""))
        with self.recorder.lock:
            for a in others:
                self.recorder.states[a] = "logged_out"
        new = [a for a in self.agents[:desktops] if a[0] not in self.desktops]
        base = self.system.web.url
        started = now()

        def open_one(agent):
            agent_id, username, password, _ext = agent
            return Desktop(base, agent_id, username, password, self.recorder).open()

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(open_one, a) for a in new]
            try:
                for f in concurrent.futures.as_completed(futures, timeout=120):
                    d = f.result()
                    self.desktops[d.agent_id] = d
            finally:
                for f in futures:
                    f.cancel()
        not_ws = [d.username for d in self.desktops.values() if d.transport != "websocket"]
        if not_ws:
            raise BenchError(f"desktops not upgraded to websocket: {not_ws[:5]}")
        for agent_id in wanted:   # in agent order: the first agent has idled longest
            self.desktops[agent_id].set_state("ready")
        wait_for(lambda: sum(1 for a in wanted if self.recorder.states.get(a) == "ready") == len(wanted),
                 10, "the agents to be Ready")
        say(f"   {len(self.desktops)} desktops connected over websocket, {len(wanted)} agents Ready "
            f"({now() - started:.1f} s)")
        # A desktop is open all shift: before the first call every desktop has been connected
        # for longer than one Engine.IO ping interval (it has answered a ping, which puts its
        # TCP connection in the interactive state of a long-open desktop).
        eio = self.system.web_app.extensions["socketio"].server.eio
        warm = float(eio.ping_interval) + 2.0
        newest = max(self.desktops[a].connected_at for a in wanted)
        left = warm - (now() - newest)
        if left > 0:
            say(f"   waiting {left:.0f} s: every desktop connected for more than one ping interval "
                f"({eio.ping_interval:g} s) before the first call")
            time.sleep(left)
        return wanted

    def _set_phones(self, phone) -> None:
        from sqlalchemy import update

        from db.models import User

        with self.system.sessions.begin() as s:
            for agent_id, _u, _p, ext in self.agents:
                s.execute(update(User).where(User.id == agent_id).values(phone=phone.dial_string(ext)))

    def run(self, desktops: int, calls: int) -> Result:
        SippPhone = sipp_peers().SippPhone

        a = self.args
        label = f"HappyCall, {desktops} desktop{'s' if desktops != 1 else ''}"
        say(f"== {label}: {calls} calls")
        self._floor(desktops)
        # With one Ready agent the calls go one after the other (a second caller would wait
        # in the queue for the agent, which is not the pop latency); with more, `--concurrency`.
        limit = 1 if desktops == 1 else max(1, min(a.concurrency, desktops // 2))
        rate = a.rate if limit > 1 else 10.0
        talk = a.talk
        self.recorder.reset()
        BenchCaller = bench_caller_class()
        per_call = a.pause + len(PIN) * 0.12 + a.ring + talk + 3.0
        budget = calls / rate + calls * per_call / limit + 30
        phone = SippPhone(mode="answer", ring_seconds=a.ring, talk_seconds=talk, calls=calls,
                          timeout=budget + 30)
        caller = BenchCaller(self.system.asterisk.sip_uri("1600"), calls=calls, rate=rate, limit=limit,
                             digits=PIN, display_name="Bench caller", caller_number="0255501234",
                             pause_before_digits=a.pause, hold_seconds=talk + 15, digit_gap=0.06,
                             timeout=budget)
        notes = [f"{calls} calls, at most {limit} at once" + (f", {rate:g} new calls/s" if limit > 1 else "")
                 + f"; agent phones ring {a.ring:g} s and talk {talk:g} s"]
        started = now()
        cpu_before = cpu_sample()
        finished = False
        try:
            phone.start()
            self._set_phones(phone)
            caller.start()
            last = 0.0
            deadline = now() + budget + 10
            while caller.running():
                if now() > deadline:
                    raise BenchError(f"SIPp caller still running after {budget + 10:.0f} s:\n"
                                     + caller.logs()[-3000:])
                if now() - last >= 10:
                    last = now()
                    with self.recorder.lock:
                        q, p = len(self.recorder.queued), len(self.recorder.popped)
                    say(f"   {now() - started:5.0f} s: {q} queued, {p} pops received")
                time.sleep(0.2)
            rc = caller.wait(5)
            wait_for(lambda: self.system.ari_app.call_count() == 0, 30, "every call to end")
            # pops still on their way (bounded)
            with contextlib.suppress(BenchError):
                wait_for(lambda: set(self.recorder.queued) <= set(self.recorder.popped), 3, "late pops")
            finished = True
        finally:
            caller.stop()
            phone.stop()
            if not finished and not isinstance(sys.exc_info()[1], BenchError):
                caller.cleanup()  # interrupted: nothing worth keeping
                phone.cleanup()
        wall = now() - started
        notes.append(cpu_note(cpu_before, cpu_sample(), wall))
        res = self._result(label, desktops, calls, notes, wall)
        if rc != 0:
            res.notes.append(f"the SIPp caller exited with {rc} (some call did not follow the scenario: "
                             f"logs in {caller.dir} and {phone.dir})")
        else:
            caller.cleanup()
            phone.cleanup()
        say(f"   {len(res.latencies)} calls measured, {res.failed} failed, {wall:.0f} s")
        return res

    def _result(self, label: str, desktops: int, calls: int, notes: list[str], wall: float) -> Result:
        rec = self.recorder
        with rec.lock:
            latencies, parts = [], {k: [] for k in PART_NAMES}
            no_pop = wrong = waited = 0
            for ch, tq in rec.queued.items():
                if ch in rec.waited:
                    waited += 1
                    continue
                popped = rec.popped.get(ch)
                emitted = rec.emitted.get(ch)
                if popped is None:
                    no_pop += 1
                    continue
                if emitted is not None and popped[1] != emitted[1]:
                    wrong += 1
                    continue
                latencies.append(popped[0] - tq)
                if emitted:
                    parts["queue_to_emit"].append(emitted[0] - tq)
                    parts["emit_to_client"].append(popped[0] - emitted[0])
            queued = len(rec.queued)
            duplicates = rec.duplicates
            answered = sum(1 for o in rec.ended.values() if o == "answered")
        failed = calls - len(latencies)
        if queued < calls:
            notes.append(f"{calls - queued} call(s) never reached the queue")
        if no_pop:
            notes.append(f"{no_pop} queued call(s) without a pop at the desktop")
        if wrong:
            notes.append(f"{wrong} pop(s) arrived at another agent's desktop")
        if waited:
            notes.append(f"{waited} call(s) entered the queue while no agent was Ready "
                         "(not measured, counted as failed)")
        if duplicates:
            notes.append(f"{duplicates} duplicate pop(s)")
        notes.append(f"{answered} of {calls} calls answered by the agent phone and stored as answered")
        return Result(label, "happycall", desktops, calls, latencies, failed, notes, parts, wall)


# --------------------------------------------------------------------------- report

def render_section(results: list[Result], info: dict[str, str], command: str, started: dt.datetime,
                   duration: float, load: dict[str, str], nodelay: Optional[bool]) -> str:
    met, verdict = target_verdict(results)
    lines = [
        BEGIN,
        "## Screen-pop latency (`bench/screenpop.py`)",
        "",
        "Written by `bench/screenpop.py`; do not edit by hand between the markers (the next run "
        "replaces it).",
        "",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')} (run took {duration:.0f} s)",
        f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM; "
        f"{info['os']}; Python {info['python']}",
        f"- **Software:** {info['packages']}; {info['sipp']}",
        f"- **Load average** (1, 5, 15 min) at the start: {load['start']}, at the end: {load['end']} "
        "(anything else running on the machine shows here)",
        f"- **Command:** `{command}`",
        f"- **Target:** p99 ≤ {TARGET_MS:g} ms with {TARGET_DESKTOPS} connected desktops on a "
        f"2-core machine — **{verdict}**",
        "",
        "What is measured, per call: from the moment the call enters the queue (the bus publishes "
        "`call.updated` with outcome `queued`, in the ARI worker thread) to the moment the chosen "
        "agent's python-socketio client runs its `screenpop` handler.  The calls are real: one SIPp "
        f"process dials the ARS line 1600 of a managed Asterisk 22, keys the PIN `{PIN}` (RFC 2833) "
        "over the greeting, the call is queued, the longest-idle Ready agent gets the pop and its SIPp "
        "phone rings, answers and hangs up.  With 1 desktop the calls come one after the other (a "
        "second caller would wait for the only agent); with more, several at once (see the notes).  "
        "Each desktop logs in through the login form (CSRF token), connects with the session cookie "
        "(long-polling, then the upgrade to websocket: every desktop is on websocket) and goes Ready "
        "through `POST /agent/state`; with N desktops all N agents are connected and Ready, the "
        "others logged out, and the pop goes to the chosen agent only (checked).  Before the first "
        "call every desktop has been connected for longer than one Engine.IO ping interval, as a "
        "desktop open all shift has.",
        "",
        "`bare python-socketio` is `socketio.Server(async_mode='threading')` + `socketio.WSGIApp` on "
        "the desktop's own server classes (`agent_desktop.server`, werkzeug's threaded server), "
        "emitting a pop-sized event to one random client's sid: emit call → client callback, samples "
        f"45–65 ms apart, after the clients have answered a ping (that server pings every "
        f"{BARE_PING_INTERVAL} s).  The `agent_state + screenpop` rows emit what `CallCenter.offer` "
        "makes the desktop send to the chosen agent: an `agent_state` event, then the `screenpop`, "
        "back to back (latency to the `screenpop` callback).",
        "",
        f"The clients run in the same process as the server (as do SQLite, the ARI application and "
        f"the web server), so client work competes with the server for the GIL and the "
        f"{info['nproc']} CPUs: the figures are pessimistic compared with browsers on other "
        "machines.  Asterisk and SIPp run on the same machine too.",
        "",
        md_table(HEADER, table_rows(results)),
        "",
    ]
    parts = part_rows(results)
    if parts:
        lines += ["Where the HappyCall time goes (same calls):", "", md_table(PART_HEADER, parts, left=2), ""]
    if nodelay is not None:
        lines += [f"TCP_NODELAY on the desktop server's connections: **{'yes' if nodelay else 'no'}** "
                  "(read from the bare server's accepted sockets, which use the desktop's server "
                  "classes)." + ("" if nodelay else
                  "  Without it, a second small websocket frame sent while the first is not yet "
                  "acknowledged waits for the client's ACK (Nagle's algorithm); a client that has "
                  "answered a ping delays that ACK (Linux: up to 40 ms).  Compare the "
                  "`agent_state + screenpop` rows with the `screenpop`-alone rows."), ""]
    notes = [f"- {r.label}: " + "; ".join(r.notes) for r in results if r.notes]
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    lines.append(END)
    return "\n".join(lines)


def write_doc(section: str, path: Path = DOC, begin: str = BEGIN, end: str = END) -> None:
    """Replace one bench's section of docs/performance.md (between its markers), or
    append it; the other sections are kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = "# Performance\n\nMeasurements written by the scripts in `bench/`.\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=100,
                   help="calls per configuration, also samples per bare Socket.IO run (default 100)")
    p.add_argument("--desktops", default="1,200",
                   help="comma-separated numbers of connected desktops (default 1,200)")
    p.add_argument("--no-write", action="store_true", help=f"print only; do not update {DOC.relative_to(REPO)}")
    p.add_argument("--no-bare", action="store_true", help="skip the bare python-socketio baseline")
    p.add_argument("--no-happycall", action="store_true", help="only the bare python-socketio baseline")
    p.add_argument("--rate", type=float, default=2.0, help="new calls per second with several desktops (default 2)")
    p.add_argument("--concurrency", type=int, default=10,
                   help="most calls up at once with several desktops (default 10)")
    p.add_argument("--pause", type=float, default=0.2, help="seconds from answer to the first PIN digit (default 0.2)")
    p.add_argument("--ring", type=float, default=0.1, help="seconds an agent phone rings before answering")
    p.add_argument("--talk", type=float, default=0.2, help="seconds an agent phone talks before hanging up")
    p.add_argument("-v", "--verbose", action="store_true", help="log the system's INFO messages")
    args = p.parse_args(argv)
    try:
        args.desktops = [int(x) for x in str(args.desktops).split(",") if x.strip()]
    except ValueError:
        p.error("--desktops: comma-separated integers, e.g. 1,200")
    if not args.desktops or min(args.desktops) < 1:
        p.error("--desktops: at least one number, each >= 1")
    if args.calls < 1:
        p.error("--calls must be >= 1")
    return args


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # asyncari warns about every Dial* event it has no model for; the ARI application
        # warns when the connection closes at the end of the run.
        logging.getLogger("asyncari").setLevel(logging.ERROR)
        logging.getLogger("ivr.stasis").setLevel(logging.ERROR)
        # python-(engine|socket)io clients log an error (on their own stderr handler) when a
        # connection is closed under them, e.g. at the end of the run.
        logging.getLogger("engineio.client").setLevel(logging.CRITICAL)
        logging.getLogger("socketio.client").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    command = shlex.join(["python", script, *argv])
    started_at = dt.datetime.now(dt.timezone.utc)
    started = now()
    info = machine()
    say(f"screenpop bench: {info['nproc']} CPUs ({info['cpu']}), {info['memory']}; "
        f"{args.calls} calls per configuration, desktops {args.desktops}")
    say("note: the Socket.IO clients run in the server's process (pessimistic figures)")
    load_start = loadavg()
    with contextlib.suppress(ValueError):
        if float(load_start.split()[0]) > 0.5:
            say(f"warning: load average {load_start}: something else is running; the tails will show it")
    results: list[Result] = []
    nodelay: Optional[bool] = None
    bench: Optional[HappyCallBench] = None
    try:
        if not args.no_bare:
            for n in sorted(set(args.desktops)):
                bare, nodelay = bare_socketio(n, args.calls, (0.045, 0.065))
                results.extend(bare)
        if not args.no_happycall:
            bench = HappyCallBench(args)
            bench.start()
            # Most desktops first: their ping-interval wait then also covers the smaller
            # configurations, whose desktops stay connected.
            for n in sorted(set(args.desktops), reverse=True):
                results.append(bench.run(n, args.calls))
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        raise
    finally:
        if bench is not None:
            bench.stop()
    order = {"happycall": 0, "bare": 1, "bare-pair": 2}
    results.sort(key=lambda r: (order[r.kind], r.desktops))
    duration = now() - started
    say("")
    say(text_table(HEADER, table_rows(results)))
    parts = part_rows(results)
    if parts:
        say("")
        say(text_table(PART_HEADER, parts))
    for r in results:
        for n in r.notes:
            say(f"note: {r.label}: {n}")
    if nodelay is not None:
        say(f"TCP_NODELAY on the desktop server's connections: {'yes' if nodelay else 'no'}")
    met, verdict = target_verdict(results)
    say("")
    say(f"target p99 <= {TARGET_MS:g} ms with {TARGET_DESKTOPS} desktops: {verdict}")
    say("(clients in the same process as the server: figures are pessimistic)")
    if not args.no_write:
        write_doc(render_section(results, info, command, started_at, duration,
                                 {"start": load_start, "end": loadavg()}, nodelay))
        say(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BenchError as exc:
        print(f"screenpop bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
