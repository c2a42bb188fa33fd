#!/usr/bin/env python3
"""ACD load benchmark: HappyCall's ARI IVR + ACD against a dialplan-only IVR with app_queue.

SIPp callers (at most ``--concurrency`` at once, 200 by default) dial into queues served by
``--agents`` SIPp agent phones (50 by default) on one managed Asterisk, in the same run:

* **HappyCall**: the ARS line 1600 -> the ARI application in this process
  (``ivr.system.System``: greeting, PIN, ticket, queue, ACD, offer, bridge); ``acd.menu``
  off, speech analysis off, no wrap-up time.
* **dialplan**: line 1700 -> a dialplan IVR on the same Asterisk (Answer, the same
  greeting and PIN prompts with ``Read()``, the PIN checked in the dialplan, ``Queue()``
  with app_queue); written only for this bench (``ManagedAsterisk(extra_config=...,
  extra_modules=...)``), the product's configuration is unchanged.

Every caller keys the PIN ``100100#`` (RFC 2833) and waits for an agent; the agent phone
rings, answers, talks ``--talk`` s and hangs up.  A call fails when it is not answered by an
agent (HappyCall: not stored as ``answered``; dialplan: no ``CONNECT`` in app_queue's
``queue_log``), its PIN is not recognised at the first try, the caller gives up waiting, or
SIPp counts it as failed.  The offered rate goes up in steps (``--rates``),
the two paths take turns at each rate; a path stops at its first step that does not hold.  A
step holds with 0 failed calls and the offered rate actually sustained (SIPp not held back by
the concurrency cap).

It also measures the time from an agent becoming ready to their phone ringing: one caller
waits in the queue, the agent is made Ready (HappyCall: ``CallCenter.set_agent_state``;
dialplan: ``queue unpause member`` on the Asterisk CLI), and the agent's SIPp phone logs the
INVITE's arrival.

    python bench/acd_load.py --quick             # small: 5 agents, 1 and 2 calls/s
    python bench/acd_load.py                     # 200 callers at most, 50 agents
    python bench/acd_load.py --rates 4,8,12 --no-write

Prints the figures and writes them, with the machine and the command, to
``docs/performance.md`` between ``<!-- acd_load:begin -->`` and ``<!-- acd_load:end -->``
(the rest of the file is kept).  See bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import logging
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests", REPO / "bench"):  # the project, tests/support, bench/screenpop
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import screenpop as sp  # noqa: E402  (shared bench helpers: machine, CPU, tables, the doc writer)
from screenpop import BenchError, say, wait_for  # noqa: E402

DOC = sp.DOC
BEGIN = "<!-- acd_load:begin -->"
END = "<!-- acd_load:end -->"
TARGET_RATIO = 0.8
PIN = "100100#"
QUEUE = "helpdesk"                   # HappyCall's queue (acd.queue)
HC_LINE = "1600"                     # HappyCall ARS line (Korean)
DP_LINE = "1700"                     # dialplan IVR, queue "bench"
DP_PROBE_LINE = "1701"               # dialplan IVR, queue "bench-probe" (the latency probe)
DP_QUEUE = "bench"
DP_PROBE_QUEUE = "bench-probe"
FIRST_EXT = 3001                     # agents' phones: PJSIP/3001 ...
PROBE_EXT = "3000"                   # the latency probe's agent phone: PJSIP/3000
AGENT_PREFIX = "acdbench"
INSTANCE = "bench-acd-load"
PATHS = ("happycall", "dialplan")
PATH_LABEL = {"happycall": "HappyCall (ARI IVR + ACD)", "dialplan": "dialplan + app_queue"}

now = time.monotonic
wall = time.time


# --------------------------------------------------------------------------- the dialplan baseline

def baseline_config(n_agents: int, phone_port_of: dict[str, int]) -> tuple[dict[str, str], list[str]]:
    """Extra Asterisk configuration for the dialplan-only IVR and the agents' phones:
    (extra_config for ManagedAsterisk, extra modules).  The phones are PJSIP endpoints with
    a static contact (a SIPp UAS port), dialled as ``PJSIP/<ext>`` by both paths; app_queue
    sees their device state (ringing / in use) from their channels."""
    from ivr.pbx.instance import MEDIA_OPTIONS

    media = "\n".join(MEDIA_OPTIONS)
    pjsip = ["; bench/acd_load.py: agent phones at fixed SIPp ports (no registration, no auth)"]
    for ext, port in phone_port_of.items():
        pjsip += [f"[{ext}]", "type = endpoint", "transport = transport-udp", "context = from-phones",
                  media, f"aors = {ext}", "",
                  f"[{ext}]", "type = aor", f"contact = sip:{ext}@127.0.0.1:{port}",
                  "qualify_frequency = 0", ""]
    pins = " | ".join(f'"${{PIN}}" = "{p}"' for p in ("100100", "100200", "100300", "100400"))
    extensions = f"""\
; bench/acd_load.py: a dialplan-only IVR doing what the ARS does without the ARI
; application: answer, greeting + PIN prompt (a key stops the prompt, # ends the PIN,
; 8 s to start), the PIN checked against the demo customers (3 tries, then queued anyway),
; then app_queue (music on hold while waiting).  Queue()'s URL argument (unused by SIP
; phones) carries the PIN and the tries into queue_log's ENTERQUEUE line for the bench.
[from-customers](+)
exten => {DP_LINE},1,Set(QNAME={DP_QUEUE})
 same => n,Goto(bench-dialplan-ivr,ivr,1)
exten => {DP_PROBE_LINE},1,Set(QNAME={DP_PROBE_QUEUE})
 same => n,Goto(bench-dialplan-ivr,ivr,1)

[bench-dialplan-ivr]
exten => ivr,1,Answer()
 same => n,Set(TRIES=0)
 same => n,Read(PIN,happycall/ko/greeting&happycall/ko/enter_pin,12,,1,8)
 same => n(check),GotoIf($[{pins}]?queue)
 same => n,Set(TRIES=$[${{TRIES}} + 1])
 same => n,GotoIf($[${{TRIES}} >= 3]?queue)
 same => n,Read(PIN,happycall/ko/invalid_pin&happycall/ko/enter_pin,12,,1,8)
 same => n,Goto(check)
 same => n(queue),Queue(${{QNAME}},,pin-${{PIN}}-${{TRIES}})
 same => n,Hangup()
"""
    common = """\
strategy = leastrecent     ; the longest-idle agent first (HappyCall: longest_idle)
timeout = 10               ; ring an agent at most 10 s (HappyCall: acd.ring_timeout)
retry = 1                  ; try again 1 s after no agent answered or none was free
wrapuptime = 0
ringinuse = no             ; busy agents (device state) are not rung
autofill = yes
joinempty = yes
leavewhenempty = no
musicclass = default
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
"""
    members = "\n".join(f"member => PJSIP/{FIRST_EXT + i},0,{FIRST_EXT + i}" for i in range(n_agents))
    queues = (f"; bench/acd_load.py\n[general]\npersistentmembers = no\nshared_lastcall = yes\n\n"
              f"[{DP_QUEUE}]\n{common}{members}\n\n"
              f"[{DP_PROBE_QUEUE}]\n{common}member => PJSIP/{PROBE_EXT},0,{PROBE_EXT}\n")
    extra = {"pjsip.conf": "\n".join(pjsip), "extensions.conf": extensions, "queues.conf": queues,
             "queuerules.conf": "; no penalty rules\n"}
    return extra, ["app_queue", "app_read"]


# --------------------------------------------------------------------------- SIPp

def _inject(text: str, anchor: str, extra: str, where: str) -> str:
    if text.count(anchor) != 1:
        raise BenchError(f"{where}: the scenario template changed ({anchor!r} not found once)")
    return text.replace(anchor, anchor + extra)


def _log(message: str) -> str:
    return f'\n  <nop><action><log message="{message}" /></action></nop>'


def _epoch(line: str) -> float:
    """The epoch seconds at the end of a log line written with SIPp's [timestamp]
    ("date<TAB>time<TAB>epoch.micro")."""
    return float(line.rsplit(None, 1)[-1])


def _sipp_classes():
    peers = sp.sipp_peers()

    def lean_command(proc) -> list[str]:
        """No per-message trace (megabytes at load); a log file for the <log> actions."""
        cmd = peers._Sipp.command(proc)
        i = cmd.index("-trace_msg")
        del cmd[i:i + 3]                     # -trace_msg -message_file FILE
        return cmd + ["-trace_logs", "-log_file", str(proc.dir / "actions.log")]

    class LoadCaller(peers.SippCaller):
        """``calls`` callers from one SIPp process, ``rate`` new calls a second, at most
        ``limit`` at once; short RFC 2833 digits.  Logs each call's start, and whether the
        far end hung up (the agent, after talking) or the caller gave up waiting."""

        name = "acd-caller"

        def __init__(self, target: str, calls: int, rate: float, limit: int, digit_ms: int = 120, **kwargs):
            self.calls, self.rate, self.limit, self.digit_ms = calls, rate, limit, digit_ms
            super().__init__(target, **kwargs)

        def _scenario(self) -> str:
            pcap = self.dir / "rtp.pcap"
            digits_end, _ = peers.write_rtp_pcap(pcap, self.digits, gap_ms=int(self.digit_gap * 1000),
                                                 digit_ms=self.digit_ms)
            text = peers.render("caller_pin.xml", {
                "PAUSE_MS": peers._ms(self.pause_before_digits),
                "HOLD_MS": peers._ms(self.hold_seconds),
                "DTMF": peers.dtmf_block(pcap, digits_end),
            })
            text = _inject(text, '<Global variables="display,caller" />',
                           _log("start [call_number] [timestamp]"), "caller_pin.xml")
            text = _inject(text, '<label id="got_bye" />', _log("farbye [call_number] [timestamp]"),
                           "caller_pin.xml")
            return _inject(text, '<label id="hangup" />', _log("gaveup [call_number] [timestamp]"),
                           "caller_pin.xml")

        def command(self) -> list[str]:
            return lean_command(self) + ["-trace_stat", "-stf", str(self.dir / "stat.csv"), "-fd", "1"]

        def _args(self) -> list[str]:
            args = super()._args()
            args[args.index("-m") + 1] = str(self.calls)
            args[args.index("-l") + 1] = str(self.limit)
            return ["-r", f"{self.rate:g}", "-rp", "1000"] + args

        def actions(self) -> list[str]:
            try:
                return (self.dir / "actions.log").read_text(errors="replace").splitlines()
            except OSError:
                return []

        def stats(self) -> list[dict[str, str]]:
            try:
                with open(self.dir / "stat.csv", newline="", errors="replace") as fh:
                    return list(csv.DictReader(fh, delimiter=";"))
            except OSError:
                return []

    class LoadPhone(peers.SippPhone):
        """Agent phones (UAS) on one port for several extensions: logs every INVITE with the
        extension it is for, and the agent's own hang-up."""

        name = "acd-phone"

        def _scenario(self) -> str:
            text = super()._scenario()
            text = _inject(text, '<recv request="INVITE" crlf="true">\n    <action>',
                           # (SIPp refuses a variable used only once: the whole match, no group)
                           '\n      <ereg regexp="^INVITE sip:[^@;>]+@" search_in="msg" check_it="true" '
                           'assign_to="ruri" />'
                           '\n      <log message="invite [$ruri] [timestamp]" />', "phone_answer.xml")
            return _inject(text, '<label id="hangup" />', _log("agentbye [$ruri] [timestamp]"),
                           "phone_answer.xml")

        def command(self) -> list[str]:
            return lean_command(self)

        def invites(self) -> list[tuple[str, float]]:
            out = []
            try:
                lines = (self.dir / "actions.log").read_text(errors="replace").splitlines()
            except OSError:
                return out
            for line in lines:   # "invite INVITE sip:3001@ <date> <time> <epoch>"
                m = re.match(r"invite INVITE sip:([^@]+)@", line)
                if m:
                    with contextlib.suppress(ValueError, IndexError):
                        out.append((m.group(1), _epoch(line)))
            return out

    return LoadCaller, LoadPhone


def kill_sipp(procs: list) -> None:
    """Stop SIPp processes at once (SIGKILL: their <log> files are written line by line)."""
    for p in procs:
        if p is not None and p.proc is not None and p.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.proc.pid, signal.SIGKILL)
    for p in procs:
        if p is not None:
            with contextlib.suppress(Exception):
                p.stop()


# --------------------------------------------------------------------------- figures

@dataclass
class Step:
    path: str
    rate: float
    planned: int                     # calls SIPp was to place
    placed: int = 0                  # calls SIPp started
    answered: int = 0                # answered by an agent (server side)
    pin_failed: int = 0              # the caller's correct PIN was not recognised at the first try
    ok: int = 0                      # answered by an agent, PIN recognised
    sipp_failed: int = 0
    gave_up: int = 0                 # callers who hung up themselves (no agent in their patience)
    achieved: float = 0.0            # calls/s from the first to the last call start
    peak: int = 0                    # most calls up at once (SIPp, 1 s samples)
    waits: list[float] = field(default_factory=list)   # queue wait of answered calls, s
    cpu: dict[str, float] = field(default_factory=dict)
    agents_used: int = 0
    seconds: float = 0.0
    aborted: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return max(self.placed - self.ok, self.sipp_failed, self.gave_up)

    @property
    def sustained(self) -> bool:
        return self.placed >= self.planned and self.achieved >= 0.95 * self.rate

    @property
    def held(self) -> bool:
        return not self.aborted and self.failed == 0 and self.sustained


@dataclass
class Latency:
    path: str
    samples: list[float] = field(default_factory=list)          # ready -> INVITE at the phone, s
    parts: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0
    notes: list[str] = field(default_factory=list)


def q(values: list[float], p: float) -> Optional[float]:
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    return statistics.quantiles(v, n=100, method="inclusive")[int(p) - 1] if p < 100 else v[-1]


def f1(value: Optional[float], scale: float = 1.0, digits: int = 1) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def proc_cpu(pid: Optional[int]) -> float:
    """CPU seconds (user + system, all threads) of a process so far; 0 if unknown."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    def __init__(self, asterisk_pid: Optional[int]):
        self.pid = asterisk_pid
        self.t0 = now()
        self.machine0 = sp.cpu_sample()
        self.ast0 = proc_cpu(asterisk_pid)

    def read(self) -> dict[str, float]:
        seconds = max(1e-6, now() - self.t0)
        m = sp.cpu_sample()
        busy, total = m[0] - self.machine0[0], m[1] - self.machine0[1]
        ncpu = os.cpu_count() or 1
        return {"machine": ncpu * busy / total if total > 0 else float("nan"),
                "asterisk": (proc_cpu(self.pid) - self.ast0) / seconds,
                "python": (m[2] - self.machine0[2]) / seconds}


# --------------------------------------------------------------------------- the system

def bench_system_class():
    from ivr.system import System, agent_phone_accounts

    class BenchSystem(System):
        """The whole system, with the bench's extra Asterisk configuration (the dialplan
        baseline and the agents' phones); everything else as ``System``."""

        def __init__(self, config: dict, extra_config: dict[str, str], extra_modules: list[str], **kw):
            super().__init__(config, **kw)
            self._extra_config = extra_config
            self._extra_modules = extra_modules

        def start_asterisk(self) -> tuple[str, str, str]:
            from ivr import prompts
            from ivr.pbx.instance import ManagedAsterisk
            from ivr.pbx.provision import ensure_root

            cfg = self.config["asterisk"]
            ensure_root(Path(cfg["root"]), log=self._echo)
            prompts.generate(Path(self.config["ivr"]["prompts_dir"]))
            accounts = agent_phone_accounts(Path(self.config["data"]["dir"]))
            self.asterisk = ManagedAsterisk(cfg, instance_dir_name=self._instance_name,
                                            prompts_dir=self.config["ivr"]["prompts_dir"], agent_phones=accounts,
                                            extra_config=self._extra_config, extra_modules=self._extra_modules)
            self.asterisk.start()
            return self.asterisk.ari_url, self.asterisk.ari_user, self.asterisk.ari_password

    return BenchSystem


class Recorder:
    """Bus events the latency probe needs (wall-clock times)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued: list[tuple[str, float]] = []
        self.ringing: list[tuple[int, float]] = []
        self.ready: dict[int, bool] = {}

    def on_call_updated(self, _topic: str, payload: dict) -> None:
        if payload.get("outcome") == "queued":
            with self.lock:
                self.queued.append((str(payload.get("channel_id")), wall()))

    def on_agent_state(self, _topic: str, payload: dict) -> None:
        t = wall()
        agent, state = int(payload["agent_id"]), payload.get("state")
        with self.lock:
            self.ready[agent] = state == "ready"
            if state == "ringing":
                self.ringing.append((agent, t))


class AcdBench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.system = None
        self.tmp: Optional[Path] = None
        self.recorder = Recorder()
        self.agents: list[int] = []            # load agents' user ids (FIRST_EXT + i)
        self.probe_agent: int = 0
        self.phone_ports: list[int] = []       # one per UAS process
        self.probe_port = 0
        self.live: list = []                   # SIPp processes running now
        self._unsubscribe: list = []
        self.queue_log: Optional[Path] = None
        self.pin_lock = threading.Lock()
        self.wrong_pins: list[str] = []        # PIN attempts HappyCall did not find (diagnostics)

    # --- life ---------------------------------------------------------------------
    def start(self) -> None:
        from cti import events
        from cti.config import load
        from ivr.pbx.instance import ManagedAsterisk
        from ivr.pbx.provision import ensure_root
        from support import asterisk as pbx_support

        a = self.args
        free_port = sp.sipp_peers().free_port
        say("== starting HappyCall (SQLite in a temp folder, managed Asterisk on free ports) "
            "with the dialplan baseline")
        root = ensure_root(pbx_support.test_root(), log=lambda *_: None)
        self.tmp = Path(tempfile.mkdtemp(prefix="happycall-acd-bench-"))
        self.phone_ports = [free_port() for _ in range(a.phone_procs)]
        self.probe_port = free_port()
        port_of = {PROBE_EXT: self.probe_port}
        for i in range(a.agents):
            port_of[str(FIRST_EXT + i)] = self.phone_ports[i % a.phone_procs]
        extra, modules = baseline_config(a.agents, port_of)
        # RTP: two ports per call leg (RTP + RTCP), callers and agents, with room to spare
        n_rtp = 4 * (a.concurrency + a.agents + 20)
        rtp_start = free_port(count=n_rtp, even=True, low=30000, high=60000)
        ast_cfg = pbx_support.asterisk_config(root=str(root), rtp_start=rtp_start,
                                              rtp_end=rtp_start + n_rtp - 1)
        # HAPPYCALL_* variables still apply (e.g. HAPPYCALL_IVR_DB_THREADS), under the bench's own settings.
        config = load(environ={k: v for k, v in os.environ.items() if k.startswith("HAPPYCALL_")}, overrides={
            "data": {"dir": str(self.tmp / "data")},
            "asterisk": ast_cfg,
            "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
            "acd": {"ring_timeout": 10.0, "menu": False, "wrap_up_seconds": 0},
            "asr": {"enabled": False},
            "web": {"port": free_port(udp=False, tcp=True), "secret_key": secrets.token_hex(16)},
        })
        ManagedAsterisk(ast_cfg, instance_dir_name=INSTANCE).stop()  # left by a killed run
        self.system = bench_system_class()(config, extra, modules, echo=lambda *_: None,
                                           instance_name=INSTANCE)
        self.system.start()
        if not self.system.ari_app.supervisor.connected.is_set():
            raise BenchError("the ARI application did not connect to Asterisk")
        ast = self.system.asterisk
        self.queue_log = ast.log_dir / "queue_log"
        running = ast.cli("module show like app_queue")
        if "Running" not in running:
            raise BenchError(f"app_queue is not running:\n{running}\n{ast.log_tail()}")
        bus = self.system.bus
        self._unsubscribe = [bus.subscribe(events.CALL_UPDATED, self.recorder.on_call_updated),
                             bus.subscribe(events.AGENT_STATE, self.recorder.on_agent_state)]
        self._add_agents()
        self._watch_pins()
        say(f"   SIP 127.0.0.1:{ast.sip_port}, {a.agents} agents (PJSIP/{FIRST_EXT}…) on "
            f"{a.phone_procs} SIPp phone process(es), Asterisk pid {ast.pid}")

    def _add_agents(self) -> None:
        from sqlalchemy import select
        from werkzeug.security import generate_password_hash

        from db.models import Queue, QueueMember, User

        hashed = generate_password_hash(secrets.token_urlsafe(12), method="pbkdf2:sha256:1000")
        with self.system.sessions.begin() as s:
            queue = s.scalar(select(Queue).where(Queue.name == QUEUE))
            if queue is None:
                raise BenchError(f"no queue {QUEUE!r} in the seed data")
            ids = []
            for i, ext in [(0, PROBE_EXT)] + [(n + 1, str(FIRST_EXT + n)) for n in range(self.args.agents)]:
                user = User(username=f"{AGENT_PREFIX}{i:03d}", display_name=f"ACD bench agent {ext}",
                            role="agent", extension=ext, phone=f"PJSIP/{ext}", password_hash=hashed)
                s.add(user)
                s.flush()
                s.add(QueueMember(queue_id=queue.id, user_id=user.id))
                ids.append(user.id)
        self.probe_agent, self.agents = ids[0], ids[1:]

    def _watch_pins(self) -> None:
        """Keep the PIN attempts that found no customer (every bench caller keys a known
        PIN): wraps this run's CallCenter object, the code is unchanged."""
        cc = self.system.call_center
        lookup = cc.find_customer_by_pin

        def find_customer_by_pin(pin: str):
            found = lookup(pin)
            if found is None:
                with self.pin_lock:
                    self.wrong_pins.append(pin)
            return found

        cc.find_customer_by_pin = find_customer_by_pin

    def stop(self) -> None:
        kill_sipp(self.live)
        for p in self.live:   # interrupted mid-step: nothing worth keeping
            p.cleanup()
        self.live = []
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(Exception):
                unsubscribe()
        self._unsubscribe = []
        if self.system is not None:
            say("== stopping HappyCall and Asterisk")
            self.system.stop()
            self.system = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # --- helpers --------------------------------------------------------------------
    @property
    def cc(self):
        return self.system.call_center

    def set_state(self, agent_ids: list[int], state: str) -> None:
        from cti.agent_state import InvalidTransition

        for agent_id in agent_ids:
            with contextlib.suppress(InvalidTransition):
                self.cc.set_agent_state(agent_id, state)

    def agent_states(self) -> dict[int, str]:
        from sqlalchemy import select

        from db.models import User

        with self.system.sessions() as s:
            return dict(s.execute(select(User.id, User.state)
                                  .where(User.id.in_([self.probe_agent, *self.agents]))).all())

    def channel_count(self) -> int:
        import httpx

        ast = self.system.asterisk
        r = httpx.get(ast.ari_url + "ari/channels", auth=ast.auth, timeout=5)
        r.raise_for_status()
        return len(r.json())

    def drain(self, timeout: float) -> bool:
        """Wait until Asterisk has no channel and the ARI application no call; hang up what is
        left after ``timeout``.  Returns whether everything ended by itself."""
        try:
            wait_for(lambda: self.channel_count() == 0 and self.system.ari_app.call_count() == 0,
                     timeout, "every call to end", step=0.25)
            return True
        except BenchError:
            self.system.asterisk.cli("channel request hangup all")
            wait_for(lambda: self.channel_count() == 0 and self.system.ari_app.call_count() == 0,
                     20, "every call to end after 'channel request hangup all'", step=0.25)
            return False

    def queue_log_offset(self) -> int:
        try:
            return self.queue_log.stat().st_size
        except OSError:
            return 0

    def queue_log_since(self, offset: int) -> list[list[str]]:
        try:
            with open(self.queue_log, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return []
        return [line.split("|") for line in text.splitlines() if line.count("|") >= 4]

    def _phones(self, calls: int, timeout: float, talk: float, ring: float) -> list:
        _caller, LoadPhone = _sipp_classes()
        phones = [LoadPhone(port=port, mode="answer", ring_seconds=ring, talk_seconds=talk, calls=calls,
                            timeout=timeout) for port in self.phone_ports]
        for p in phones:
            self.live.append(p)
            p.start()
        return phones

    # --- one load step ------------------------------------------------------------------
    def run_step(self, path: str, rate: float) -> Step:
        a = self.args
        LoadCaller, _phone = _sipp_classes()
        planned = max(1, int(round(rate * a.step_seconds)))
        step = Step(path, rate, planned)
        say(f"== {PATH_LABEL[path]}: {rate:g} calls/s, {planned} calls")
        with self.pin_lock:
            self.wrong_pins = []
        if path == "happycall":
            self.set_state(self.agents, "ready")
            self.set_state([self.probe_agent], "logged_out")
            load_agents = set(self.agents)
            wait_for(lambda: all(st == "ready" for i, st in self.agent_states().items() if i in load_agents),
                     10, "the agents to be Ready")
        per_call = a.pause + keying_seconds(a) + 1.0 + a.ring + a.talk
        budget = planned / rate * 1.5 + a.patience + per_call + 30
        phones = self._phones(calls=planned + 50, timeout=budget + 60, talk=a.talk, ring=a.ring)
        caller = LoadCaller(self.system.asterisk.sip_uri(HC_LINE if path == "happycall" else DP_LINE),
                            calls=planned, rate=rate, limit=a.concurrency, digits=PIN,
                            display_name="ACD bench caller", caller_number="0255501234",
                            pause_before_digits=a.pause, hold_seconds=a.patience + a.ring + a.talk + 3,
                            digit_ms=a.digit_ms, digit_gap=a.digit_gap / 1000, timeout=budget)
        self.live.append(caller)
        since = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=1)
        offset = self.queue_log_offset()
        meter = CpuMeter(self.system.asterisk.pid)
        started = now()
        caller.start()
        last_print = last_check = 0.0
        abort_at = started + planned / rate * 1.5 + per_call + a.patience + 10
        sipp_cpu: dict[int, float] = {}   # SIPp's CPU seconds, last read (they end on their own)

        def read_sipp_cpu() -> None:
            for proc in [caller, *phones]:
                if proc.proc is not None and proc.proc.poll() is None:
                    sipp_cpu[proc.proc.pid] = max(sipp_cpu.get(proc.proc.pid, 0.0), proc_cpu(proc.proc.pid))

        try:
            while caller.running():
                time.sleep(0.25)
                read_sipp_cpu()
                t = now()
                if t - last_print >= 10:
                    last_print = t
                    rows = caller.stats()
                    if rows:
                        r = rows[-1]
                        say(f"   {t - started:5.0f} s: {r.get('OutgoingCall(C)', '?')} placed, "
                            f"{r.get('CurrentCall', '?')} up, {r.get('SuccessfulCall(C)', '?')} ended, "
                            f"{r.get('FailedCall(C)', '?')} failed (SIPp)")
                if t - last_check < 1.0:
                    continue
                last_check = t
                gave_up = sum(1 for line in caller.actions() if line.startswith("gaveup "))
                if gave_up and not a.no_abort:
                    step.aborted = f"{gave_up} caller(s) gave up waiting ({a.patience:g} s)"
                    break
                if t > abort_at:
                    step.aborted = (f"not done after {t - started:.0f} s (planned "
                                    f"{planned / rate:.0f} s of calls): the rate was not sustained")
                    break
            read_sipp_cpu()
            step.cpu = meter.read()
            step.seconds = now() - started
            step.cpu["sipp"] = sum(sipp_cpu.values()) / max(1e-6, step.seconds)
            step.cpu["other"] = max(0.0, step.cpu["machine"] - step.cpu["asterisk"] - step.cpu["python"]
                                    - step.cpu["sipp"])
        finally:
            kill_sipp([caller])   # (reaps it when it ended by itself)
        if not self.drain(30 if not step.aborted else 5):
            step.notes.append("calls still up after the callers ended were hung up "
                              "('channel request hangup all')")
        kill_sipp(phones)
        self.live = [p for p in self.live if p not in phones and p is not caller]
        self._collect(step, caller, phones, since, offset)
        if step.held:
            caller.cleanup()
            for p in phones:
                p.cleanup()
        else:
            step.notes.append(f"SIPp logs kept in {caller.dir} and {', '.join(str(p.dir) for p in phones)}")
        cpu = step.cpu
        say(f"   {step.placed}/{step.planned} placed at {step.achieved:.2f}/s, {step.answered} answered by "
            f"an agent, {step.pin_failed} with the PIN not recognised, {step.failed} failed, peak {step.peak} at once; CPU machine {cpu['machine']:.2f}, "
            f"Asterisk {cpu['asterisk']:.2f}, Python {cpu['python']:.2f}, SIPp {cpu['sipp']:.2f} -> "
            f"{'held' if step.held else 'did not hold'}" + (f" ({step.aborted})" if step.aborted else ""))
        time.sleep(1.0)
        return step

    def _collect(self, step: Step, caller, phones: list, since: dt.datetime, offset: int) -> None:
        actions = caller.actions()
        starts = sorted(_epoch(x) for x in actions if x.startswith("start "))
        step.placed = len(starts)
        step.gave_up = sum(1 for x in actions if x.startswith("gaveup "))
        if len(starts) >= 2 and starts[-1] > starts[0]:
            step.achieved = (len(starts) - 1) / (starts[-1] - starts[0])
        elif len(starts) == 1:
            step.achieved = step.rate
        rows = caller.stats()
        if rows:
            with contextlib.suppress(ValueError):
                step.peak = max(int(r.get("CurrentCall") or 0) for r in rows)
                step.sipp_failed = int(rows[-1].get("FailedCall(C)") or 0)
        else:
            step.notes.append("no SIPp statistics file")
        if caller.returncode not in (0, None, -9) and not step.aborted:
            step.notes.append(f"the SIPp caller exited with {caller.returncode}")
        invites = [x for p in phones for x in p.invites()]
        step.agents_used = len({ext for ext, _t in invites})
        if step.path == "happycall":
            from sqlalchemy import select

            from db.models import CallRecord, Ticket

            with self.system.sessions() as s:
                rows = s.execute(select(CallRecord.outcome, CallRecord.wait_seconds, CallRecord.started_at,
                                        CallRecord.queued_at, Ticket.customer_id)
                                 .outerjoin(Ticket, Ticket.id == CallRecord.ticket_id)
                                 .where(CallRecord.started_at >= since, CallRecord.line == HC_LINE)).all()
            outcomes: dict[str, int] = {}
            ivr_seconds = []
            for outcome, wait_s, started_at, queued_at, customer_id in rows:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if customer_id is None:
                    step.pin_failed += 1     # the callers all key a known PIN, once
                elif outcome == "answered":
                    step.ok += 1
                if queued_at is not None:
                    ivr_seconds.append((queued_at - started_at).total_seconds())
                if outcome == "answered" and wait_s is not None:
                    step.waits.append(float(wait_s))
            step.answered = outcomes.get("answered", 0)
            self._slow_ivr(step, ivr_seconds, 0.0)
            with self.pin_lock:
                wrong, self.wrong_pins = self.wrong_pins, []
            if step.pin_failed or wrong:
                shown = ", ".join(repr(x) for x in sorted(set(wrong))[:6])
                step.notes.append(f"{step.pin_failed} call(s) with the PIN not recognised (the ticket has no "
                                  f"customer); {len(wrong)} PIN attempt(s) not found, e.g. {shown}")
            if len(rows) != step.placed:
                step.notes.append(f"{len(rows)} call records for {step.placed} calls placed")
            other = {k: v for k, v in outcomes.items() if k != "answered"}
            if other:
                step.notes.append("not answered: " + ", ".join(f"{v} {k}" for k, v in sorted(other.items())))
            states = self.agent_states()
            not_ready = [i for i in self.agents if states.get(i) != "ready"]
            if not_ready:
                step.notes.append(f"{len(not_ready)} agent(s) not Ready after the step "
                                  f"(e.g. {states.get(not_ready[0])}): made Ready again")
        else:
            entries = [e for e in self.queue_log_since(offset) if e[2] == DP_QUEUE]
            count = {}
            ivr_seconds = []
            pin_ok: dict[str, bool] = {}
            wrong = []
            for e in entries:
                count[e[4]] = count.get(e[4], 0) + 1
                if e[4] == "ENTERQUEUE":   # the channel's uniqueid starts with its creation time
                    with contextlib.suppress(ValueError, IndexError):
                        ivr_seconds.append(int(e[0]) - int(e[1].split(".")[0]))
                    mark = e[5] if len(e) > 5 else ""
                    pin_ok[e[1]] = mark == f"pin-{PIN.rstrip('#')}-0"
                    if not pin_ok[e[1]]:
                        step.pin_failed += 1
                        wrong.append(mark)
                if e[4] == "CONNECT" and pin_ok.get(e[1]):
                    step.ok += 1
                if e[4] == "CONNECT":
                    with contextlib.suppress(ValueError, IndexError):
                        step.waits.append(float(e[5]))
            step.answered = count.get("CONNECT", 0)
            self._slow_ivr(step, ivr_seconds, 1.0)
            if step.pin_failed:
                shown = ", ".join(repr(x) for x in sorted(set(wrong))[:6])
                step.notes.append(f"{step.pin_failed} call(s) with the PIN not recognised at the first try "
                                  f"(queue_log pin-<PIN>-<failed tries>: {shown})")
            if count.get("ENTERQUEUE", 0) != step.placed:
                step.notes.append(f"{count.get('ENTERQUEUE', 0)} calls entered the queue of "
                                  f"{step.placed} placed")
            other = {k: v for k, v in count.items()
                     if k in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "RINGNOANSWER", "RINGCANCELED")}
            if other:
                step.notes.append("queue_log: " + ", ".join(f"{v} {k}" for k, v in sorted(other.items())))
        if step.gave_up:
            step.notes.append(f"{step.gave_up} caller(s) hung up after waiting {self.args.patience:g} s")
        if step.sipp_failed:
            step.notes.append(f"SIPp counted {step.sipp_failed} failed call(s)")

    def _slow_ivr(self, step: Step, ivr_seconds: list[float], resolution: float) -> None:
        """A note when calls took clearly longer than the caller's keying to reach the queue
        (e.g. a lost '#': the PIN then ends at the digit timeout)."""
        limit = self.args.pause + keying_seconds(self.args) + 2.0 + resolution
        slow = [x for x in ivr_seconds if x > limit]
        if slow:
            step.notes.append(f"{len(slow)} call(s) took more than {limit:.0f} s from the call's start to the "
                              f"queue (longest {max(slow):.1f} s; a lost DTMF digit waits for the PIN timeout)")

    # --- ready -> ringing ---------------------------------------------------------------
    def latency(self, path: str, samples: int) -> Latency:
        """One caller waits in the queue with no agent available; the probe agent becomes
        ready; the time until the agent's phone (a SIPp UAS of its own) receives the INVITE."""
        _caller, LoadPhone = _sipp_classes()
        peers = sp.sipp_peers()
        res = Latency(path)
        say(f"== ready -> ringing, {PATH_LABEL[path]}: {samples} samples")
        ast = self.system.asterisk
        member = f"PJSIP/{PROBE_EXT} queue {DP_PROBE_QUEUE}"
        if path == "happycall":
            self.set_state(self.agents, "logged_out")
            self.set_state([self.probe_agent], "not_ready")
        else:
            ast.cli(f"queue pause member {member}")
            cli_times = []
            for _ in range(5):
                t = now()
                ast.cli("core show uptime")
                cli_times.append(now() - t)
            res.parts["cli"] = cli_times
        phone = LoadPhone(port=self.probe_port, mode="answer", ring_seconds=0.1, talk_seconds=0.3,
                          calls=samples, timeout=samples * 40 + 60)
        self.live.append(phone)
        phone.start()
        rng = random.Random(7)
        try:
            for i in range(samples):
                seen = len(phone.invites())
                with self.recorder.lock:
                    queued_before = len(self.recorder.queued)
                    rung_before = len(self.recorder.ringing)
                offset = self.queue_log_offset()
                caller = peers.SippCaller(ast.sip_uri(HC_LINE if path == "happycall" else DP_PROBE_LINE),
                                          digits=PIN, pause_before_digits=0.3, hold_seconds=30,
                                          display_name="ACD bench probe", caller_number="0255509999")
                self.live.append(caller)
                caller.start()
                try:
                    if path == "happycall":
                        wait_for(lambda: len(self.recorder.queued) > queued_before, 20, "the probe call to queue")
                    else:
                        wait_for(lambda: any(e[2] == DP_PROBE_QUEUE and e[4] == "ENTERQUEUE"
                                             for e in self.queue_log_since(offset)), 20,
                                 "the probe call to enter app_queue")
                    # after the ACD has looked at the waiting call at least once (its 1 s tick)
                    time.sleep(rng.uniform(1.2, 2.0))
                    t0 = wall()
                    if path == "happycall":
                        self.cc.set_agent_state(self.probe_agent, "ready")
                    else:
                        ast.cli(f"queue unpause member {member}")
                    t_done = wall()
                    inv = wait_for(lambda: len(phone.invites()) > seen and phone.invites()[seen], 15,
                                   "the probe agent's phone to ring")
                    res.samples.append(inv[1] - t0)
                    if path == "happycall":
                        with self.recorder.lock:
                            rung = [t for agent, t in self.recorder.ringing[rung_before:]
                                    if agent == self.probe_agent]
                        if rung:
                            res.parts.setdefault("ready_to_offer", []).append(rung[0] - t0)
                            res.parts.setdefault("offer_to_invite", []).append(inv[1] - rung[0])
                        res.parts.setdefault("set_state_call", []).append(t_done - t0)
                    else:
                        res.parts.setdefault("after_cli", []).append(inv[1] - t_done)
                    rc = caller.wait(40)
                    if rc != 0:
                        res.notes.append(f"probe caller {i + 1} exited with {rc}")
                except BenchError as exc:
                    res.failed += 1
                    res.notes.append(f"sample {i + 1}: {exc}")
                finally:
                    caller.stop()
                    self.live.remove(caller)
                self.drain(15)
                caller.cleanup()
                if path == "happycall":
                    self.set_state([self.probe_agent], "not_ready")
                else:
                    ast.cli(f"queue pause member {member}")
        finally:
            kill_sipp([phone])
            self.live.remove(phone)
        if path == "happycall":
            self.set_state([self.probe_agent], "logged_out")
        phone.cleanup()
        qs = res.samples
        say(f"   p50 {f1(q(qs, 50), 1000)} ms, max {f1(max(qs) if qs else None, 1000)} ms, "
            f"{res.failed} failed")
        return res


# --------------------------------------------------------------------------- report

def keying_seconds(args: argparse.Namespace) -> float:
    """How long a caller takes to key the PIN."""
    return 0.06 + len(PIN) * (args.digit_ms + args.digit_gap) / 1000


def call_seconds(args: argparse.Namespace) -> float:
    """A call's length without waiting in the queue: listening, digits, ring, talk."""
    return args.pause + keying_seconds(args) + 0.3 + args.ring + args.talk


def harness_limits(args: argparse.Namespace) -> tuple[float, float]:
    """(calls/s the agents can take, calls/s the concurrency cap allows)."""
    return args.agents / (args.ring + args.talk + 0.3), args.concurrency / call_seconds(args)


def best(steps: list[Step], path: str) -> tuple[float, bool]:
    """(highest rate held before the first step that did not hold, whether every step held)."""
    top = 0.0
    for s in sorted((s for s in steps if s.path == path), key=lambda s: s.rate):
        if not s.held:
            return top, False
        top = s.rate
    return top, True


def verdict(steps: list[Step], args: argparse.Namespace) -> tuple[Optional[bool], str]:
    met, text = _verdict(steps, args.rates)
    limit = min(harness_limits(args))
    near = [PATH_LABEL[p] for p in PATHS if best(steps, p)[0] >= 0.85 * limit]
    if near:
        text += (f"; {' and '.join(near)} reached {limit:.0f} calls/s or close to it, what the agents and "
                 "the concurrency cap allow: that figure is the harness's limit, not the system's")
    return met, text


def _verdict(steps: list[Step], rates: list[float]) -> tuple[Optional[bool], str]:
    hc, hc_all = best(steps, "happycall")
    dp, dp_all = best(steps, "dialplan")
    if not any(s.path == "dialplan" for s in steps) or not any(s.path == "happycall" for s in steps):
        return None, "not measured (both paths are needed)"
    if dp == 0:
        return None, "not determined (the dialplan baseline held no rate tried)"
    ratio = hc / dp
    text = f"HappyCall {hc:g} calls/s, dialplan {dp:g} calls/s: {ratio:.2f}×"
    if dp_all:
        if hc >= TARGET_RATIO * dp and hc_all:
            return True, (f"met as far as measured ({text}; both held every rate up to {max(rates):g} "
                          "calls/s: try higher --rates for the limits)")
        if hc < TARGET_RATIO * dp:
            return False, f"not met ({text}; the dialplan held every rate tried, its limit is higher)"
        return None, (f"not determined ({text}; the dialplan held every rate tried, its limit is higher: "
                      "try higher --rates)")
    met = ratio >= TARGET_RATIO
    return met, ("met" if met else "not met") + f" ({text})"


STEP_HEADER = ["path", "offered calls/s", "placed", "answered by an agent", "PIN not recognised", "failed",
               "sustained calls/s",
               "peak calls at once", "agents used", "wait p50 s", "wait p95 s", "wait max s",
               "CPU machine", "CPU Asterisk", "CPU Python", "CPU SIPp", "CPU other", "held"]


def step_rows(steps: list[Step]) -> list[list[str]]:
    rows = []
    for s in steps:
        rows.append([PATH_LABEL[s.path], f"{s.rate:g}", f"{s.placed}/{s.planned}", str(s.answered), str(s.pin_failed),
                     str(s.failed),
                     f"{s.achieved:.2f}", str(s.peak), str(s.agents_used), f1(q(s.waits, 50)), f1(q(s.waits, 95)),
                     f1(max(s.waits) if s.waits else None), f"{s.cpu.get('machine', float('nan')):.2f}",
                     f"{s.cpu.get('asterisk', float('nan')):.2f}", f"{s.cpu.get('python', float('nan')):.2f}",
                     f"{s.cpu.get('sipp', float('nan')):.2f}", f"{s.cpu.get('other', float('nan')):.2f}",
                     "yes" if s.held else "**no**"])
    return rows


LAT_HEADER = ["path", "part", "samples", "p50 ms", "p95 ms", "max ms", "failed"]
LAT_PARTS = {
    "happycall": [("total", "agent Ready (set_agent_state called) → INVITE at the agent's phone"),
                  ("ready_to_offer", "Ready → offered (bus: agent RINGING; ACD pass, offer transaction)"),
                  ("offer_to_invite", "offered → INVITE at the phone (phone lookup, ARI originate, SIP)"),
                  ("set_state_call", "set_agent_state call itself (returns after publishing)")],
    "dialplan": [("total", "`queue unpause member` issued → INVITE at the agent's phone"),
                 ("after_cli", "CLI command returned → INVITE at the agent's phone"),
                 ("cli", "one `asterisk -rx` CLI round trip (`core show uptime`), for reference")],
}


def latency_rows(lats: list[Latency]) -> list[list[str]]:
    rows = []
    for lat in lats:
        for key, label in LAT_PARTS[lat.path]:
            v = lat.samples if key == "total" else lat.parts.get(key, [])
            if not v:
                continue
            rows.append([PATH_LABEL[lat.path], label, str(len(v)), f1(q(v, 50), 1000), f1(q(v, 95), 1000),
                         f1(max(v), 1000), str(lat.failed) if key == "total" else ""])
    return rows


def render_section(steps: list[Step], lats: list[Latency], args: argparse.Namespace, info: dict[str, str],
                   asterisk_version: str, command: str, started: dt.datetime, duration: float,
                   load: dict[str, str]) -> str:
    met, text = verdict(steps, args)
    hc, _ = best(steps, "happycall")
    dp, _ = best(steps, "dialplan")
    capacity, ceiling = harness_limits(args)
    lines = [
        BEGIN,
        "## ACD under load: HappyCall against a dialplan IVR with app_queue (`bench/acd_load.py`)",
        "",
        "Written by `bench/acd_load.py`; do not edit by hand between the markers (the next run replaces it).",
        "",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')} (run took {duration:.0f} s)",
        f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM; {info['os']}; "
        f"Python {info['python']}",
        f"- **Software:** {asterisk_version}; {info['sipp']}",
        f"- **Load average** (1, 5, 15 min) at the start: {load['start']}, at the end: {load['end']} "
        "(anything else running on the machine shows here)",
        f"- **Command:** `{command}`" + ("  (**quick development run**: small numbers, not the requirement's "
                                         "200 callers and 50 agents)" if args.quick else ""),
        f"- **Set-up:** {args.agents} agent phones, at most {args.concurrency} callers at once; each caller "
        f"listens {args.pause:g} s to the prompts (greeting, then the PIN prompt), keys `{PIN}` (RFC 2833, "
        f"{args.digit_ms} ms per key, {args.digit_gap} ms apart), waits for an agent "
        f"(gives up after {args.patience:g} s); the phone rings {args.ring:g} s, the agent talks "
        f"{args.talk:g} s and hangs up; {args.step_seconds:g} s of calls per step "
        f"(offered rates {', '.join(f'{r:g}' for r in args.rates)} calls/s).  What the harness itself "
        f"allows: the agents take about {capacity:.0f} calls/s (ring + talk + 0.3 s each), and "
        f"{args.concurrency} callers at once last to about {ceiling:.0f} calls/s (a call takes about "
        f"{call_seconds(args):.1f} s without waiting); a rate near these is limited by the harness, not "
        "by the system under test.",
        f"- **Highest rate with 0 failed calls:** HappyCall {hc:g} calls/s, dialplan + app_queue {dp:g} calls/s",
        f"- **Target:** ≥ {TARGET_RATIO:g}× the dialplan's rate — **{text}**",
        "",
        "Both paths run on one managed Asterisk 22 in the same run, taking turns at each offered rate "
        "(a path stops at its first step that does not hold).  HappyCall: SIPp dials the ARS line "
        f"{HC_LINE}; the ARI application in the bench's process plays the greeting and the PIN prompt, "
        "checks the PIN in the database, opens the ticket, queues the call ('please hold', music on "
        "hold), and its ACD offers it to the longest-idle Ready agent, originates the agent's phone and "
        "bridges the two (`acd.menu` off, speech analysis off, no wrap-up).  Dialplan: SIPp dials "
        f"{DP_LINE}; `Answer()`, `Read()` with the same greeting and PIN prompts, the PIN compared with "
        "the demo customers' in the dialplan, then `Queue()` (app_queue, `leastrecent`, music on hold at once: no "
        "'please hold' prompt, "
        "`retry = 1`, members with `ringinuse = no`); see docs/asterisk.md.  Both ring the same "
        "`PJSIP/<ext>` endpoints (static contacts on SIPp phones).",
        "",
        "A call fails when it is not answered by an agent (HappyCall: not stored as `answered`; dialplan: "
        "no `CONNECT` in app_queue's `queue_log`), when the caller's PIN (always the known `100100`) is not "
        "recognised at the first try (HappyCall: the ticket has no customer; dialplan: `Read()` got another "
        "PIN, marked in `ENTERQUEUE`), when the caller gives up waiting, or when SIPp counts it as failed.  "
        "A step holds with 0 failed calls and the offered rate sustained (≥ 95 % of it, measured from the "
        "first to the last call start: SIPp holds new calls back when the concurrency cap is reached).  "
        "*CPU* columns are CPUs used while the calls were placed: the whole machine, the Asterisk "
        "process, the bench's Python process (the HappyCall server with its ARI application, SQLite, web "
        "server; nearly idle in the dialplan steps), the SIPp callers and phones, and the rest (other "
        "processes on the machine, kernel network work not charged to a process).  "
        "Waits are from entering the queue to the agent answering (app_queue logs whole seconds).",
        "",
        sp.md_table(STEP_HEADER, step_rows(steps)),
        "",
    ]
    if lats:
        lines += [
            "**Agent ready → phone ringing** (idle system): one caller waits in the queue with no agent "
            "available for 1.2–2 s (so the ACD has looked at it), then one agent becomes ready; measured "
            "to the INVITE's arrival at that agent's SIPp phone (its own process; SIPp's `[timestamp]`, the "
            "same wall clock as the bench).  HappyCall: `CallCenter.set_agent_state(agent, 'ready')`, as "
            "the desktop's Ready button does.  Dialplan: `queue unpause member` through the Asterisk CLI "
            "(`asterisk -rx`, a process start), so the total includes one CLI round trip; the 'CLI "
            "command returned' row is a lower bound.  app_queue notices a member becoming available when "
            "the waiting caller next checks (about once a second, `retry`).",
            "",
            sp.md_table(LAT_HEADER, latency_rows(lats), left=2),
            "",
        ]
    notes = [f"- {PATH_LABEL[s.path]}, {s.rate:g} calls/s: " + "; ".join(
        ([f"aborted: {s.aborted}"] if s.aborted else []) + s.notes)
        for s in steps if s.notes or s.aborted]
    notes += [f"- ready → ringing, {PATH_LABEL[lat.path]}: " + "; ".join(lat.notes) for lat in lats if lat.notes]
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    lines.append(END)
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

QUICK = dict(agents=5, concurrency=25, rates="1,2", step_seconds=12.0, pause=2.0, ring=0.2, talk=1.0,
             patience=20.0, latency_samples=3, phone_procs=1)
FULL = dict(agents=50, concurrency=200, rates="4,8,12,16,20,24,28", step_seconds=40.0, pause=4.0, ring=0.3,
            talk=1.0, patience=30.0, latency_samples=20, phone_procs=2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="development run: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    p.add_argument("--agents", type=int, help=f"agent phones (default {FULL['agents']})")
    p.add_argument("--concurrency", type=int, help=f"most callers at once (default {FULL['concurrency']})")
    p.add_argument("--rates", help=f"offered calls/s, comma-separated, ascending (default {FULL['rates']})")
    p.add_argument("--step-seconds", type=float, help=f"seconds of new calls per step (default {FULL['step_seconds']:g})")
    p.add_argument("--pause", type=float, help=f"seconds a caller listens before keying the PIN (default {FULL['pause']:g})")
    p.add_argument("--digit-ms", type=int, default=120,
                   help="length of each RFC 2833 key press, ms (default 120, as the demo caller)")
    p.add_argument("--digit-gap", type=int, default=200,
                   help="silence after each key press, ms (default 200, as the demo caller)")
    p.add_argument("--ring", type=float, help=f"seconds an agent phone rings (default {FULL['ring']:g})")
    p.add_argument("--talk", type=float, help=f"seconds an agent talks, then hangs up (default {FULL['talk']:g})")
    p.add_argument("--patience", type=float,
                   help=f"seconds a caller waits for an agent before hanging up (default {FULL['patience']:g})")
    p.add_argument("--latency-samples", type=int,
                   help=f"ready -> ringing samples per path, 0: none (default {FULL['latency_samples']})")
    p.add_argument("--phone-procs", type=int, help=f"SIPp processes for the agent phones (default {FULL['phone_procs']})")
    p.add_argument("--paths", default="happycall,dialplan", help="which paths (default happycall,dialplan)")
    p.add_argument("--no-abort", action="store_true",
                   help="finish a step even after a caller gave up (default: stop it, it failed)")
    p.add_argument("--no-write", action="store_true", help=f"print only; do not update {DOC.relative_to(REPO)}")
    p.add_argument("-v", "--verbose", action="store_true", help="log the system's INFO messages")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.rates = [float(x) for x in str(args.rates).split(",") if x.strip()]
    except ValueError:
        p.error("--rates: comma-separated numbers, e.g. 2,4,6")
    if not args.rates or min(args.rates) <= 0 or args.rates != sorted(args.rates):
        p.error("--rates: positive, ascending")
    args.paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    if not args.paths or any(x not in PATHS for x in args.paths):
        p.error(f"--paths: from {', '.join(PATHS)}")
    if args.agents < 1 or args.concurrency < 1 or args.phone_procs < 1 or args.step_seconds <= 0:
        p.error("--agents, --concurrency, --phone-procs, --step-seconds must be positive")
    args.phone_procs = min(args.phone_procs, args.agents)
    return args


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def asterisk_version(bench: Optional[AcdBench]) -> str:
    with contextlib.suppress(Exception):
        out = bench.system.asterisk.cli("core show version").strip()
        m = re.match(r"(Asterisk \S+)", out)
        if m:
            return m.group(1)
    return "Asterisk"


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("asyncari").setLevel(logging.ERROR)
        logging.getLogger("ivr.stasis").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    command = shlex.join(["python", script, *argv])
    started_at = dt.datetime.now(dt.timezone.utc)
    started = now()
    info = sp.machine()
    say(f"acd_load bench: {info['nproc']} CPUs ({info['cpu']}), {info['memory']}; {args.agents} agents, "
        f"at most {args.concurrency} callers, rates {args.rates} calls/s, {args.step_seconds:g} s per step"
        + (" (quick)" if args.quick else ""))
    capacity, ceiling = harness_limits(args)
    say(f"harness limits: the agents take about {capacity:.1f} calls/s, {args.concurrency} callers at once "
        f"about {ceiling:.1f} calls/s ({call_seconds(args):.1f} s per call without waiting)")
    load_start = sp.loadavg()
    with contextlib.suppress(ValueError):
        if float(load_start.split()[0]) > 0.5:
            say(f"warning: load average {load_start}: something else is running; it will show in the figures")
    steps: list[Step] = []
    lats: list[Latency] = []
    bench: Optional[AcdBench] = None
    version = "Asterisk"
    try:
        bench = AcdBench(args)
        bench.start()
        version = asterisk_version(bench)
        for path in args.paths:
            if args.latency_samples > 0:
                lats.append(bench.latency(path, args.latency_samples))
        going = {p: True for p in args.paths}
        for i, rate in enumerate(args.rates):
            order = args.paths if i % 2 == 0 else list(reversed(args.paths))
            for path in order:
                if going[path]:
                    step = bench.run_step(path, rate)
                    steps.append(step)
                    going[path] = step.held
            if not any(going.values()):
                break
    except KeyboardInterrupt:
        say("interrupted: stopping SIPp, HappyCall and Asterisk")
        raise
    finally:
        if bench is not None:
            bench.stop()
    duration = now() - started
    say("")
    say(sp.text_table(STEP_HEADER, step_rows(steps)))
    if lats:
        say("")
        say(sp.text_table(LAT_HEADER, latency_rows(lats)))
    for s in steps:
        for n in ([f"aborted: {s.aborted}"] if s.aborted else []) + s.notes:
            say(f"note: {PATH_LABEL[s.path]} {s.rate:g}/s: {n}")
    for lat in lats:
        for n in lat.notes:
            say(f"note: latency {PATH_LABEL[lat.path]}: {n}")
    _met, text = verdict(steps, args)
    say("")
    say(f"target >= {TARGET_RATIO:g}x the dialplan's rate: {text}")
    if not args.no_write:
        sp.write_doc(render_section(steps, lats, args, info, version, command, started_at, duration,
                                    {"start": load_start, "end": sp.loadavg()}), DOC, BEGIN, END)
        say(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BenchError as exc:
        print(f"acd_load bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
