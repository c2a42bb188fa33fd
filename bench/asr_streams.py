#!/usr/bin/env python3
"""Concurrent live speech streams benchmark.

N simultaneous SIPp calls dial the ARS line 1600 of a managed Asterisk, key the PIN
``100100#``, listen to the description prompt and then "speak" a test utterance
(tests/data/asr clips, PCMU RTP, followed by silence).  Asterisk sends each caller's
audio (external media, slin 8 kHz RTP) to the whole system running in this process
(``ivr.system.System``), whose per-call ``AnalysisSession`` decodes it in worker
threads.  No agent is Ready: the calls stay queued after the description until the
callers hang up.

Measured per call (by wrapping ``ivr.speech.listen``, ``ivr.capture.slin_be_to_le``,
the analysis session and the store ``SensitivityService.record_analysis``):

* delay from end of speech to suggestion: arrival of the last RTP packet carrying
  speech -> the analysis stored on the ticket (raw, and minus the configured
  trailing silence ``asr.end_silence_ms`` the end-of-speech detector waits by design);
* audio lost: the speech heard (first to last voiced sample) against the speech sent;
* CPU per audio second of the stream's decoding thread(s) (thread CPU time), against
  ``Analyzer.analyze`` of the same heard audio offline in the same run;
* process RSS before and at the peak of each step (``/proc/self/status``), per stream.

N grows stepwise per mode (keyword only: ``asr.transcript`` False; free transcription
too: True) until a step is no longer real-time (p95 delay minus trailing silence over
the target, audio lost, or a call without an analysis).

    python bench/asr_streams.py                       # both modes, default steps
    python bench/asr_streams.py --modes keyword --steps 1,10,50 --no-write

Writes the figures, the machine and the command to ``docs/performance.md`` between
``<!-- asr_streams:begin -->`` and ``<!-- asr_streams:end -->``.
"""
from __future__ import annotations

import argparse
import array
import contextlib
import contextvars
import dataclasses
import datetime as dt
import logging
import os
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
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests", REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import screenpop  # noqa: E402
from screenpop import (BenchError, cpu_note, cpu_sample, loadavg, machine, md_table,  # noqa: E402
                       say, text_table, wait_for)

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- asr_streams:begin -->"
END = "<!-- asr_streams:end -->"
PIN = "100100#"
CLIPS = ["k01a.wav", "k02a.wav"]
TARGET_STREAMS = 50
TARGET_DELAY_MS = 300.0
TARGET_LIVE_VS_OFFLINE = 0.10
VOICED = 300          # |sample| above this is speech (the caller sends digital silence around it)
now = time.monotonic


# --------------------------------------------------------------------------- audio

def read_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise BenchError(f"{path}: need 8 kHz mono 16-bit")
        return w.readframes(w.getnframes())


def utterance(folder: Path) -> Path:
    """The test utterance: the clips back to back (each clip's trailing silence cut to 0.2 s)."""
    out = bytearray()
    for name in CLIPS:
        pcm = read_pcm(REPO / "tests" / "data" / "asr" / name)
        last = voiced_span(pcm)[1]
        out += pcm[: min(len(pcm), (last + 1600) * 2)]
    path = folder / "utterance.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(out))
    return path


def voiced_span(pcm: bytes) -> tuple[int, int]:
    """(first, last) sample index above VOICED, or (-1, -1)."""
    a = array.array("h", pcm[: len(pcm) - len(pcm) % 2])
    first = next((i for i, s in enumerate(a) if abs(s) > VOICED), -1)
    if first < 0:
        return -1, -1
    last = next(i for i in range(len(a) - 1, -1, -1) if abs(a[i]) > VOICED)
    return first, last


def ulaw_roundtrip(pcm: bytes) -> bytes:
    from ivr.demo.peers import ulaw_decode, ulaw_encode

    return ulaw_decode(ulaw_encode(pcm))


def rss_kib(pids: tuple = ()) -> int:
    """RSS of this process and of the given ones (the speech workers), KiB."""
    total = 0
    for pid in ("self",) + tuple(pids):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def model_memory(transcript: bool) -> Optional[float]:
    """MiB the model adds to a fresh Python process (load + spotting plan)."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from asr_models.analysis import Analyzer\n"
            "def rss():\n"
            "    return int([l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1])\n"
            "a = Analyzer.from_config({'transcript': %r}); b = rss(); r = a.warm_up(); assert not r, r\n"
            "print(rss() - b)\n") % (str(REPO), transcript)
    with contextlib.suppress(Exception):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        return int(out.stdout.strip().splitlines()[-1]) / 1024
    return None


# --------------------------------------------------------------------------- per-call tracking

@dataclass
class Track:
    channel_id: str
    ticket_id: Optional[int] = None
    listen_started: float = 0.0
    first_packet: Optional[float] = None
    received: int = 0                       # bytes of slin received
    first_voiced_pos: int = -1              # byte offsets in what was received
    last_voiced_pos: int = -1
    last_voiced_t: Optional[float] = None   # arrival of the last packet with speech
    fed: int = 0                            # bytes handed to the session
    feed_cpu: float = 0.0                   # thread CPU seconds in feed()
    finish_started: Optional[float] = None
    finish_ended: Optional[float] = None
    finish_cpu: float = 0.0
    stored: Optional[float] = None
    analysis: Any = None
    pcm: bytearray = field(default_factory=bytearray)


CURRENT: contextvars.ContextVar[Optional[Track]] = contextvars.ContextVar("asr_bench_track", default=None)


class TrackedSession:
    def __init__(self, session: Any, track: Track):
        self._s, self._t = session, track

    def feed(self, pcm: bytes) -> None:
        c = time.thread_time()
        self._s.feed(pcm)
        self._t.feed_cpu += time.thread_time() - c
        self._t.fed += len(pcm)
        self._t.pcm += pcm

    def finish(self) -> Any:
        self._t.finish_started = now()
        c = time.thread_time()
        result = self._s.finish()
        self._t.finish_cpu += time.thread_time() - c
        self._t.finish_ended = now()
        self._t.analysis = result
        return result


class TrackedAnalyzer:
    def __init__(self, analyzer: Any, track: Track):
        self._a, self._t = analyzer, track

    def session(self, *args, **kwargs) -> TrackedSession:
        return TrackedSession(self._a.session(*args, **kwargs), self._t)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._a, name)


def fill_from_worker(track: Track, result: Any) -> None:
    """A Track from a speech worker's StreamResult (diagnostics on): the packets'
    arrival times (the worker's time.monotonic(): one clock for the machine)."""
    pcm = result.pcm
    offsets = [off for off, _t in result.packets] + [len(pcm)]
    for (off, t), end in zip(result.packets, offsets[1:]):
        if track.first_packet is None:
            track.first_packet = t
        a = array.array("h", pcm[off:end - (end - off) % 2])
        if a and (max(a) > VOICED or min(a) < -VOICED):
            if track.first_voiced_pos < 0:
                track.first_voiced_pos = off
            track.last_voiced_pos = end
            track.last_voiced_t = t
    track.received = track.fed = result.heard_bytes
    track.feed_cpu, track.finish_cpu = result.cpu_s, 0.0
    track.finish_started, track.finish_ended = result.finish_started_at, result.finish_ended_at
    track.analysis = result.analysis
    track.pcm = bytearray(pcm)


class Tracker:
    """Instrumentation of the running system (undone by uninstall)."""

    def __init__(self, system: Any):
        import ivr.capture as capture
        import ivr.speech as speech

        self.system = system
        self.lock = threading.Lock()
        self.tracks: list[Track] = []
        self.by_ticket: dict[int, Track] = {}
        self._capture, self._speech = capture, speech
        self._orig_listen = speech.listen
        self._orig_remote = speech.listen_remote
        self._orig_slin = capture.slin_be_to_le
        self._orig_store = system.speech._store
        orig_listen, orig_slin, orig_store = self._orig_listen, self._orig_slin, self._orig_store
        orig_remote = self._orig_remote

        async def listen_remote(ctx, workers, settings, baseline=None):
            """Speech workers: what they heard and when comes back with the result."""
            track = Track(ctx.channel_id, ctx.ticket_id, listen_started=now())
            with self.lock:
                self.tracks.append(track)
                if ctx.ticket_id is not None:
                    self.by_ticket[ctx.ticket_id] = track
            result = await orig_remote(ctx, workers, dataclasses.replace(settings, diagnostics=True), baseline)
            fill_from_worker(track, result)
            return result

        async def listen(ctx, analyzer, settings, endpoint_factory, *rest):
            track = Track(ctx.channel_id, ctx.ticket_id, listen_started=now())
            with self.lock:
                self.tracks.append(track)
                if ctx.ticket_id is not None:
                    self.by_ticket[ctx.ticket_id] = track
            CURRENT.set(track)
            return await orig_listen(ctx, TrackedAnalyzer(analyzer, track), settings, endpoint_factory, *rest)

        def slin(payload: bytes) -> bytes:
            pcm = orig_slin(payload)
            track = CURRENT.get()
            if track is not None and pcm:
                t = now()
                if track.first_packet is None:
                    track.first_packet = t
                a = array.array("h", pcm)
                if max(a) > VOICED or min(a) < -VOICED:
                    if track.first_voiced_pos < 0:
                        track.first_voiced_pos = track.received
                    track.last_voiced_pos = track.received + len(pcm)
                    track.last_voiced_t = t
                track.received += len(pcm)
            return pcm

        def store(ticket_id, **record):
            result = orig_store(ticket_id, **record)
            t = now()
            with self.lock:
                track = self.by_ticket.get(ticket_id)
                if track is not None:
                    track.stored = t
            return result

        speech.listen = listen
        speech.listen_remote = listen_remote
        capture.slin_be_to_le = slin
        system.speech._store = store

    def take(self) -> list[Track]:
        with self.lock:
            tracks, self.tracks, self.by_ticket = self.tracks, [], {}
        return tracks

    def uninstall(self) -> None:
        self._speech.listen = self._orig_listen
        self._speech.listen_remote = self._orig_remote
        self._capture.slin_be_to_le = self._orig_slin
        if self.system.speech is not None:
            self.system.speech._store = self._orig_store


# --------------------------------------------------------------------------- SIPp

def caller_class():
    from ivr.demo import peers

    class StreamCallers(peers.SippCaller):
        """``calls`` callers in one SIPp process, all at once (``rate`` new calls a second):
        PIN, ``audio_delay`` s of silence (the prompt), the utterance, ``tail`` s of silence."""

        name = "asr-callers"

        def __init__(self, target: str, calls: int, rate: float, tail: float, **kwargs):
            self.calls, self.rate, self.tail = calls, rate, tail
            super().__init__(target, **kwargs)

        def _scenario(self) -> str:
            pcap = self.dir / "rtp.pcap"
            digits_end, _ = peers.write_rtp_pcap(pcap, self.digits, audio=self.audio,
                                                 silence_ms=int(self.tail * 1000),
                                                 gap_ms=int(self.digit_gap * 1000), digit_ms=60,
                                                 audio_delay_ms=int(self.audio_delay * 1000))
            return peers.render("caller_pin.xml", {
                "PAUSE_MS": peers._ms(self.pause_before_digits),
                "HOLD_MS": peers._ms(self.hold_seconds),
                "DTMF": peers.dtmf_block(pcap, digits_end),
            })

        def _args(self) -> list[str]:
            args = super()._args()
            args[args.index("-m") + 1] = str(self.calls)
            args[args.index("-l") + 1] = str(self.calls)
            return ["-r", f"{self.rate:g}", "-rp", "1000"] + args

    return StreamCallers


# --------------------------------------------------------------------------- figures

@dataclass
class Step:
    mode: str
    n: int
    analysed: int = 0
    failed_analyses: int = 0
    peak_concurrent: int = 0
    delays: list[float] = field(default_factory=list)        # s, last speech packet -> stored
    detect: list[float] = field(default_factory=list)        # last speech packet -> finish starts
    finish: list[float] = field(default_factory=list)        # finish() wall
    store: list[float] = field(default_factory=list)         # finish end -> stored
    lost_ms: list[float] = field(default_factory=list)       # speech sent - speech heard
    late_ms: list[float] = field(default_factory=list)       # packet arrival drift over the stream
    cpu_rtf: list[float] = field(default_factory=list)       # thread CPU / audio s, per stream
    rss_base: int = 0
    rss_peak: int = 0
    cpu: str = ""
    held: bool = False
    why: str = ""
    wall: float = 0.0
    sample: Optional[Track] = None


def pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    return statistics.quantiles(v, n=100, method="inclusive")[int(q) - 1]


def ms(value: Optional[float]) -> str:
    return "—" if value is None else f"{value * 1000:.0f}"


def percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:+.1f} %" if whole else "—"


# --------------------------------------------------------------------------- the bench

class StreamBench:
    def __init__(self, args: argparse.Namespace, mode: str, speech: Path):
        self.args, self.mode, self.speech_wav = args, mode, speech
        self.system = None
        self.offline_analyzer = None
        self.tracker: Optional[Tracker] = None
        self.tmp: Optional[Path] = None
        self.instance = f"bench-asr-{mode}"
        sent = ulaw_roundtrip(read_pcm(speech))
        first, last = voiced_span(sent)
        self.sent_speech_s = (last + 1 - first) / 8000
        self.utterance_s = len(sent) / 2 / 8000

    def start(self) -> None:
        from cti.config import load
        from ivr.demo.peers import free_port
        from ivr.pbx.instance import ManagedAsterisk
        from ivr.pbx.provision import ensure_root
        from ivr.system import System
        from support import asterisk as pbx_support

        say(f"== {self.mode}: starting HappyCall (managed Asterisk on free ports, temp data dir)")
        root = ensure_root(pbx_support.test_root(), log=lambda *_: None)
        self.tmp = Path(tempfile.mkdtemp(prefix="happycall-asr-bench-"))
        rtp = free_port(count=2000, even=True, low=30000, high=62000)
        ast_cfg = pbx_support.asterisk_config(root=str(root), rtp_start=rtp, rtp_end=rtp + 1999)
        config = load(environ={}, overrides={
            "data": {"dir": str(self.tmp / "data")},
            "asterisk": ast_cfg,
            "ivr": {"prompts_dir": str(pbx_support.test_prompts_dir())},
            "asr": {"end_silence_ms": self.args.end_silence_ms, "max_listen_seconds": 20.0},
            "acd": {"menu": False},
            "web": {"port": free_port(udp=False, tcp=True), "secret_key": secrets.token_hex(16)},
        })
        # cti.config rejects [asr] keys it does not list ("unknown key asr.transcript"); the
        # Analyzer reads it from the same dict, so it is set after the merge.
        config["asr"]["transcript"] = self.mode == "transcript"
        self.end_silence = config["asr"]["end_silence_ms"] / 1000.0
        ManagedAsterisk(ast_cfg, instance_dir_name=self.instance).stop()  # left over by a killed run
        self.system = System(config, echo=lambda *_: None, instance_name=self.instance)
        self.system.start()
        if not self.system.ari_app.supervisor.connected.is_set():
            raise BenchError("the ARI application did not connect to Asterisk")
        reason = self.system.wait_speech_ready(180)
        if reason or self.system.speech is None or not self.system.speech.available:
            raise BenchError(f"speech analysis unavailable: {reason or 'off'}")
        self.offline_analyzer = self.system.speech._analyzer   # decoding in this process
        if self.offline_analyzer is None:   # speech workers: the same settings, here, for the comparison
            from asr_models.analysis import Analyzer

            self.offline_analyzer = Analyzer.from_config(self.system.config["asr"])
            self.offline_analyzer.warm_up()
        if bool(self.offline_analyzer.settings["transcript"]) != (self.mode == "transcript"):
            raise BenchError("asr.transcript did not reach the Analyzer")
        from sqlalchemy import update

        from db.models import User
        with self.system.sessions.begin() as s:   # nobody Ready: calls stay queued
            s.execute(update(User).values(state="logged_out", state_reason=""))
        self.tracker = Tracker(self.system)

    def stop(self) -> None:
        if self.tracker is not None:
            self.tracker.uninstall()
            self.tracker = None
        if self.system is not None:
            say(f"== {self.mode}: stopping HappyCall")
            self.system.stop()
            self.system = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def run(self, n: int) -> Step:
        a = self.args
        step = Step(self.mode, n)
        callers_cls = caller_class()
        rate = max(1.0, a.rate)
        tail = self.end_silence + 4.0
        hold = a.audio_delay + self.utterance_s + tail + 1.0
        budget = n / rate + a.pause + 2 + hold + 30
        callers = callers_cls(self.system.asterisk.sip_uri("1600"), calls=n, rate=rate, tail=tail,
                              digits=PIN, display_name="ASR bench", caller_number="0255501234",
                              pause_before_digits=a.pause, hold_seconds=hold, digit_gap=0.06,
                              audio_wav=self.speech_wav, audio_delay=a.audio_delay, timeout=budget)
        self.tracker.take()
        stop_sampling = threading.Event()
        workers = tuple(self.system.speech_workers.pids()) if self.system.speech_workers else ()
        step.rss_base = rss_kib(workers)
        peak = [step.rss_base]

        def sample():
            while not stop_sampling.wait(0.05):
                peak[0] = max(peak[0], rss_kib(workers))

        sampler = threading.Thread(target=sample, name="asr-bench-rss", daemon=True)
        say(f"-- {self.mode}: {n} concurrent call(s)")
        started = now()
        before = cpu_sample()
        workers_before = cpu_seconds(workers)
        ok = False
        try:
            sampler.start()
            callers.start()
            deadline = now() + budget + 10
            while callers.running():
                if now() > deadline:
                    raise BenchError(f"SIPp still running after {budget + 10:.0f} s:\n" + callers.logs()[-3000:])
                time.sleep(0.2)
            rc = callers.wait(5)
            wait_for(lambda: self.system.ari_app.call_count() == 0, 30, "every call to end")
            ok = True
        finally:
            stop_sampling.set()
            sampler.join(2)
            callers.stop()
            if ok and rc == 0:
                callers.cleanup()
        step.wall = now() - started
        step.cpu = cpu_note(before, cpu_sample(), step.wall)
        if workers:
            step.cpu += (f", its {len(workers)} speech worker processes "
                         f"{(cpu_seconds(workers) - workers_before) / step.wall:.2f} CPU")
        step.rss_peak = peak[0]
        tracks = self.tracker.take()
        self._figures(step, tracks, rc)
        return step

    def _figures(self, step: Step, tracks: list[Track], rc: int) -> None:
        problems = []
        if rc != 0:
            problems.append(f"SIPp exited with {rc}")
        done = [t for t in tracks if t.stored is not None and t.analysis is not None]
        step.analysed = len(done)
        step.failed_analyses = sum(1 for t in done if not t.analysis.ok)
        if len(tracks) < step.n:
            problems.append(f"{step.n - len(tracks)} call(s) never listened to")
        if len(done) < len(tracks):
            missing = [t for t in tracks if t not in done]
            problems.append(f"{len(missing)} call(s) without a stored analysis (e.g. ticket "
                            f"{missing[0].ticket_id}, analysis {'made' if missing[0].analysis else 'not made'}, "
                            f"{missing[0].received} bytes heard)")
        if step.failed_analyses:
            problems.append(f"{step.failed_analyses} analysis/analyses failed")
        # peak concurrency: streams between their first packet and their store
        edges = sorted([(t.first_packet, 1) for t in done if t.first_packet] +
                       [(t.stored, -1) for t in done if t.first_packet])
        cur = 0
        for _t, d in edges:
            cur += d
            step.peak_concurrent = max(step.peak_concurrent, cur)
        no_speech = 0
        for t in done:
            if t.last_voiced_t is None:
                no_speech += 1
                continue
            step.delays.append(t.stored - t.last_voiced_t)
            step.detect.append(t.finish_started - t.last_voiced_t)
            step.finish.append(t.finish_ended - t.finish_started)
            step.store.append(t.stored - t.finish_ended)
            heard = (t.last_voiced_pos - t.first_voiced_pos) / 2 / 8000
            step.lost_ms.append((self.sent_speech_s - heard) * 1000)
            step.late_ms.append(((t.last_voiced_t - t.first_packet) - t.last_voiced_pos / 16000) * 1000)
            if t.fed != t.received:
                problems.append(f"call {t.channel_id}: {t.received} bytes received, {t.fed} fed")
            dur = t.fed / 16000
            if dur:
                step.cpu_rtf.append((t.feed_cpu + t.finish_cpu) / dur)
        if no_speech:
            problems.append(f"{no_speech} call(s) heard no speech")
        lost = sum(1 for x in step.lost_ms if x > self.args.lost_tolerance_ms)
        if lost:
            problems.append(f"{lost} call(s) lost audio (speech heard shorter than sent by "
                            f"> {self.args.lost_tolerance_ms:g} ms)")
        p95 = pct(step.delays, 95)
        if p95 is None:
            problems.append("no delay measured")
        elif p95 - self.end_silence > TARGET_DELAY_MS / 1000:
            problems.append(f"p95 delay after trailing silence {(p95 - self.end_silence) * 1000:.0f} ms "
                            f"> {TARGET_DELAY_MS:g} ms")
        step.held = not problems
        step.why = "; ".join(problems[:6]) + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else "")
        step.sample = done[0] if done else None
        say(f"   {step.analysed}/{step.n} analysed, peak {step.peak_concurrent} at once, delay p50 "
            f"{ms(pct(step.delays, 50))} p95 {ms(p95)} ms (incl. {self.end_silence * 1000:.0f} ms "
            f"silence), RSS +{(step.rss_peak - step.rss_base) / 1024:.0f} MiB, "
            f"{'HELD' if step.held else 'BROKE: ' + step.why}; {step.cpu}")

    def offline(self, track: Track) -> dict[str, Any]:
        """The same heard audio through the same analyzer, offline, in this thread."""
        analyzer = self.offline_analyzer
        pcm = bytes(track.pcm)
        c, w = time.thread_time(), now()
        result = analyzer.analyze(pcm)
        cpu, wall = time.thread_time() - c, now() - w
        dur = len(pcm) / 16000
        live = track.analysis
        return {"audio_s": dur, "cpu_rtf": cpu / dur, "wall_rtf": wall / dur,
                "live_cpu_rtf": (track.feed_cpu + track.finish_cpu) / dur,
                "same_transcript": live.transcript == result.transcript,
                "same_codes": [s.code for s in live.suggestions] == [s.code for s in result.suggestions],
                "transcript_live": live.transcript, "transcript_offline": result.transcript,
                "codes": [s.code for s in result.suggestions], "timings": result.timings,
                "live_timings": live.timings}


# --------------------------------------------------------------------------- report

HEADER = ["mode", "N", "analysed", "peak at once", "delay p50 ms", "p95 ms", "max ms",
          "p95 − silence ms", "detect p95 ms", "finish p95 ms", "store p95 ms",
          "audio lost max ms", "arrival drift max ms", "CPU/audio s", "RSS/stream MiB", "real-time"]


def rows(steps: list[Step], silence: dict[str, float]) -> list[list[str]]:
    out = []
    for s in steps:
        sil = silence[s.mode]
        p95 = pct(s.delays, 95)
        out.append([s.mode, str(s.n), f"{s.analysed}/{s.n}", str(s.peak_concurrent),
                    ms(pct(s.delays, 50)), ms(p95), ms(max(s.delays) if s.delays else None),
                    ms(None if p95 is None else p95 - sil), ms(pct(s.detect, 95)), ms(pct(s.finish, 95)),
                    ms(pct(s.store, 95)),
                    f"{max(s.lost_ms):.0f}" if s.lost_ms else "—",
                    f"{max(s.late_ms):.0f}" if s.late_ms else "—",
                    f"{statistics.mean(s.cpu_rtf):.3f}" if s.cpu_rtf else "—",
                    f"{(s.rss_peak - s.rss_base) / 1024 / s.n:.1f}",
                    "yes" if s.held else "no"])
    return out


def largest_held(steps: list[Step], mode: str) -> int:
    best = 0
    for s in sorted((s for s in steps if s.mode == mode), key=lambda s: s.n):
        if not s.held:
            break
        best = s.n
    return best


def verdicts(steps, offline, silence) -> list[tuple[str, Optional[bool], str]]:
    out = []
    k = largest_held(steps, "keyword")
    measured = any(s.mode == "keyword" for s in steps)
    out.append((f"≥ {TARGET_STREAMS} streams in keyword mode", (k >= TARGET_STREAMS) if measured else None,
                f"largest N that held: {k}" if measured else "keyword mode not run"))
    ratios = []
    for mode, o in offline.items():
        if o and o.get("cpu_rtf"):
            ratios.append((mode, o["live_cpu_rtf"] / o["cpu_rtf"] - 1, o))
    if ratios:
        worst = max(abs(r) for _m, r, _o in ratios)
        out.append((f"live within {TARGET_LIVE_VS_OFFLINE * 100:g} % of offline", worst <= TARGET_LIVE_VS_OFFLINE,
                    "; ".join(f"{m}: live {o['live_cpu_rtf']:.3f} vs offline {o['cpu_rtf']:.3f} CPU s per "
                              f"audio s ({r * 100:+.1f} %), transcript {'identical' if o['same_transcript'] else 'DIFFERENT'}"
                              for m, r, o in ratios)))
    else:
        out.append((f"live within {TARGET_LIVE_VS_OFFLINE * 100:g} % of offline", None, "not measured"))
    parts = []
    ok = True
    for mode in ("keyword", "transcript"):
        held = [s for s in steps if s.mode == mode and s.n == largest_held(steps, mode)]
        if held and held[0].delays:
            p95 = pct(held[0].delays, 95) - silence[mode]
            ok &= p95 <= TARGET_DELAY_MS / 1000
            parts.append(f"{mode}: p95 {p95 * 1000:.0f} ms after the {silence[mode] * 1000:.0f} ms trailing "
                         f"silence with {held[0].n} streams")
    out.append((f"≤ {TARGET_DELAY_MS:g} ms end of speech → suggestion", ok if parts else None,
                "; ".join(parts) or "no step held"))
    return out


def render(steps, offline, silence, model_mib, info, command, started, duration, load, notes) -> str:
    vs = verdicts(steps, offline, silence)
    lines = [BEGIN, "## Concurrent live speech streams (`bench/asr_streams.py`)", "",
             "Written by `bench/asr_streams.py`; do not edit by hand between the markers (the next run "
             "replaces it).", "",
             f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')} (run took {duration:.0f} s)",
             f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM; "
             f"{info['os']}; Python {info['python']}; {info['sipp']}",
             f"- **Load average** (1, 5, 15 min) at the start: {load['start']}, at the end: {load['end']}",
             f"- **Command:** `{command}`",
             f"- **Utterance:** {' + '.join(CLIPS)} from `tests/data/asr` ({notes['utterance']}), spoken "
             f"{notes['audio_delay']:g} s after the PIN, then silence; trailing silence the end-of-speech "
             f"detector waits (`asr.end_silence_ms`): {notes['silence_ms']} ms",
             "- **Targets:**"]
    for name, met, why in vs:
        lines.append(f"  - {name}: **{'met' if met else ('not measured' if met is None else 'not met')}** ({why})")
    lines += ["- **Largest N that stayed real-time:** " + ", ".join(
        f"{m} mode {largest_held(steps, m)}" for m in dict.fromkeys(s.mode for s in steps)), ""]
    lines += [
        "How: one SIPp process places N calls at once (rate-limited) on the ARS line 1600 of a managed "
        "Asterisk; each keys the PIN, hears the description prompt, then sends the utterance as PCMU "
        "RTP followed by silence.  The system in this process (`ivr.system.System`) bridges each "
        "caller to an external-media channel whose slin 8 kHz RTP goes straight to one of the speech "
        "worker processes (`asr.worker_processes`, default one per CPU; `ivr.speech_workers`), which "
        "judges the end of speech and decodes, one thread per process; no agent is Ready, so the calls "
        "stay queued until the callers hang up.  "
        "`keyword` = `asr.transcript` False (keyword spotting only), `transcript` = True (free "
        "decoding for the ticket as well).  N grows until a step breaks; a step holds when every call "
        "is analysed, no speech is lost, and the p95 delay minus the trailing silence is within "
        f"{TARGET_DELAY_MS:g} ms.", "",
        "Columns: *delay* = arrival (in the speech worker) of the last RTP packet carrying speech → the "
        "analysis stored on the ticket (includes the trailing silence); *detect* = last speech packet "
        "→ `finish()` starts (the trailing silence + the rest of the last 200 ms feed); "
        "*finish* = `AnalysisSession.finish()` (final decode, voice profile, keyword confirmation); "
        "*store* = `record_analysis`; *audio lost* = speech sent − speech heard; *arrival drift* = "
        "how much later than real time the last speech packet arrived over the stream (event-loop or "
        "Asterisk lag); *CPU/audio s* = the worker thread's CPU seconds for the stream (reading, "
        "end-of-speech detection, decoding) per second of audio; *RSS/stream* = (peak RSS of this "
        "process and the speech workers during the step − RSS before) / N.", "",
        md_table(HEADER, rows(steps, silence), left=1), ""]
    if model_mib:
        lines.append("Model, one-off (RSS a fresh Python process gains loading it and building the "
                     "spotting plan; each speech worker process holds one): "
                     + ", ".join(f"{m} {v:.0f} MiB" for m, v in model_mib.items() if v) + ".")
        lines.append("")
    if offline:
        lines += ["Live against offline (the audio one call heard, decoded again with the same "
                  "`Analyzer.analyze` in this process after the step):", ""]
        for mode, o in offline.items():
            if not o:
                continue
            lines.append(f"- {mode} (after N = {o['n']}): offline {o['cpu_rtf']:.3f} CPU s per audio s "
                         f"(wall {o['wall_rtf']:.3f}), live {o['live_cpu_rtf']:.3f} "
                         f"({percent(o['live_cpu_rtf'] - o['cpu_rtf'], o['cpu_rtf'])}); transcript "
                         f"{'identical' if o['same_transcript'] else 'different'}, suggestions "
                         f"{'identical' if o['same_codes'] else 'different'} ({o['codes'] or 'none'}); "
                         f"offline timings {o['timings']}, live {o['live_timings']}")
        lines.append("")
    cpu = [f"- {s.mode} N = {s.n}: {s.cpu}" + ("" if s.held else f"; broke: {s.why}") for s in steps]
    lines += ["Per step:", ""] + cpu + [""]
    if notes.get("profile"):
        lines += ["Where the time goes:", "", notes["profile"], ""]
    lines.append(END)
    return "\n".join(lines)


def write_doc(section: str, path: Path = DOC) -> None:
    screenpop.write_doc(section, path, BEGIN, END)


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modes", default="keyword,transcript", help="keyword and/or transcript")
    p.add_argument("--steps", default="1,5,10,20,35,50,70",
                   help="keyword-mode N ladder (default 1,5,10,20,35,50,70)")
    p.add_argument("--transcript-steps", default="1,2,4,6,8,10,14,20",
                   help="transcript-mode N ladder (default 1,2,4,6,8,10,14,20)")
    p.add_argument("--rate", type=float, default=25.0, help="new calls per second (default 25)")
    p.add_argument("--pause", type=float, default=0.3, help="seconds from answer to the PIN")
    p.add_argument("--audio-delay", type=float, default=5.5,
                   help="seconds from the PIN to speaking (the prompt lasts ~4 s)")
    p.add_argument("--end-silence-ms", type=int, default=1200, help="asr.end_silence_ms (default 1200)")
    p.add_argument("--lost-tolerance-ms", type=float, default=60.0)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - {"keyword", "transcript"}:
        p.error("--modes: keyword and/or transcript")
    try:
        args.steps = sorted({int(x) for x in args.steps.split(",") if x.strip()})
        args.transcript_steps = sorted({int(x) for x in args.transcript_steps.split(",") if x.strip()})
    except ValueError:
        p.error("steps: comma-separated integers")
    return args


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("asyncari").setLevel(logging.ERROR)
        logging.getLogger("ivr.stasis").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    command = shlex.join(["python", os.path.relpath(Path(__file__).resolve(), Path.cwd()), *argv])
    started_at = dt.datetime.now(dt.timezone.utc)
    started = now()
    info = machine()
    load_start = loadavg()
    say(f"asr_streams bench: {info['nproc']} CPUs ({info['cpu']}), {info['memory']}; modes {args.modes}")
    work = Path(tempfile.mkdtemp(prefix="happycall-asr-utt-"))
    steps: list[Step] = []
    offline: dict[str, dict] = {}
    silence: dict[str, float] = {}
    model_mib: dict[str, Optional[float]] = {}
    try:
        speech = utterance(work)
        probe = StreamBench(args, "keyword", speech)
        utt_s, speech_s = probe.utterance_s, probe.sent_speech_s
        say(f"utterance: {utt_s:.2f} s, speech {speech_s:.2f} s")
        for mode in args.modes:
            model_mib[mode] = model_memory(mode == "transcript")
            bench = StreamBench(args, mode, speech)
            try:
                bench.start()
                silence[mode] = bench.end_silence
                ladder = args.steps if mode == "keyword" else args.transcript_steps
                for n in ladder:
                    step = bench.run(n)
                    steps.append(step)
                    if step.sample is not None and (n == ladder[0] or step.held):
                        o = bench.offline(step.sample)
                        o["n"] = n
                        offline[mode] = o
                    if not step.held:
                        break
            finally:
                bench.stop()
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    duration = now() - started
    say("")
    say(text_table(HEADER, rows(steps, silence)))
    for mode, o in offline.items():
        say(f"offline vs live ({mode}, N={o['n']}): offline {o['cpu_rtf']:.3f} CPU/audio s, live "
            f"{o['live_cpu_rtf']:.3f}; transcript same: {o['same_transcript']} "
            f"(live {o['transcript_live']!r}, offline {o['transcript_offline']!r})")
    for mode, v in model_mib.items():
        say(f"model one-off memory ({mode}): {v if v is None else round(v)} MiB")
    for s in steps:
        if not s.held:
            say(f"broke: {s.mode} N={s.n}: {s.why}")
    for name, met, why in verdicts(steps, offline, silence):
        say(f"target {name}: {'met' if met else ('not measured' if met is None else 'NOT met')} — {why}")
    if not args.no_write and steps:
        notes = {"utterance": f"{utt_s:.1f} s of audio, {speech_s:.1f} s from first to last voiced sample",
                 "audio_delay": args.audio_delay,
                 "silence_ms": args.end_silence_ms, "profile": getattr(args, "profile_note", "")}
        write_doc(render(steps, offline, silence, model_mib, info, command, started_at, duration,
                         {"start": load_start, "end": loadavg()}, notes), DOC)
        say(f"wrote {DOC.relative_to(REPO)} ({BEGIN} … {END})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BenchError as exc:
        print(f"asr_streams bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
