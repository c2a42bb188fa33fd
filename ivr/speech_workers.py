"""Listening to callers in worker processes.

Each worker process loads the speech model once and owns the UDP sockets that
Asterisk's external-media channels send the callers' audio to (slin 8 kHz RTP on
127.0.0.1).  In one thread, without any event loop, it reads the packets, judges
the end of speech and feeds each caller's analysis session 200 ms at a time; when
the caller has finished it sends the parent the analysis.

Why processes: in the ARI application's process every RTP packet went through
the event loop and every 200 ms of audio through a thread hop, and the decoding
threads fought the event loop for the GIL: at 35 callers speaking at once the
loop fell behind by most of a second and live decoding cost half as much again as
offline decoding of the same audio (docs/performance.md).  Here the parent's event
loop only sends one request per call and receives one answer.

Parent side: :class:`SpeechWorkers` (start/stop from the system factory, ``open``
from the ARI loop).  A worker that dies fails its callers' analyses (the calls go
on without suggestions, the pop says why) and is started again.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

FEED_BYTES = 3200          # 200 ms of 16-bit audio per feed of the analysis session
MAX_PACKETS_PER_TURN = 50  # one caller's packets read before the next caller's turn
_ROOT = Path(__file__).resolve().parents[1]   # the folder holding the ivr package


class SpeechWorkerError(RuntimeError):
    """The worker could not listen (it died, or refused the stream)."""


@dataclass
class StreamOptions:
    """What a worker needs to listen to one caller (plain data: it is pickled)."""
    max_seconds: float = 10.0
    no_speech_seconds: float = 5.0
    end_silence_ms: int = 1200
    baseline: list = field(default_factory=list)     # asr_models.voice.VoiceProfile of earlier calls
    keep_audio_path: str = ""                        # write what was heard here (WAV), if set
    diagnostics: bool = False                        # return the heard audio and packet arrival times


@dataclass
class StreamResult:
    analysis: Any                                    # asr_models.analysis.Analysis
    heard_bytes: int = 0
    end_reason: str = ""                             # end_of_speech | max_length | no_speech | time | closed
    last_packet_at: Optional[float] = None           # time.monotonic() in the worker (one clock per machine)
    finish_started_at: Optional[float] = None
    finish_ended_at: Optional[float] = None
    cpu_s: float = 0.0                               # worker thread CPU spent on this caller
    pcm: bytes = b""                                 # diagnostics only
    packets: list = field(default_factory=list)      # diagnostics only: (byte offset, arrival time)


# --------------------------------------------------------------------------- worker process

def worker_main(conn) -> None:
    """Entry point of a worker process: the first message is the [asr] section."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s speech-worker %(levelname)s %(message)s")
    from asr_models.analysis import Analyzer

    asr_config = conn.recv()
    analyzer = Analyzer.from_config(asr_config)
    reason = analyzer.warm_up()
    conn.send(("ready", reason))
    _Worker(conn, analyzer).run()


class _Stream:
    def __init__(self, stream_id: int, analyzer: Any, options: StreamOptions):
        from asr_models.recognizer import EndpointDetector

        self.id = stream_id
        self.options = options
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for a few seconds of audio in case decoding stalls (the kernel caps it
        # at net.core.rmem_max).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        started = time.thread_time()
        self.session = analyzer.session(8000, options.baseline or None)
        self.cpu = time.thread_time() - started
        self.endpoint = EndpointDetector(trailing_silence_ms=options.end_silence_ms,
                                         max_ms=int(options.max_seconds * 1000),
                                         no_speech_ms=int(options.no_speech_seconds * 1000))
        self.deadline = time.monotonic() + options.max_seconds + 1.0
        self.pending = bytearray()
        self.heard = bytearray() if (options.keep_audio_path or options.diagnostics) else None
        self.heard_bytes = 0
        self.packets: list = []
        self.last_packet_at: Optional[float] = None


class _Worker:
    def __init__(self, conn, analyzer: Any):
        self.conn = conn
        self.analyzer = analyzer
        self.streams: dict[int, _Stream] = {}
        self.selector = selectors.DefaultSelector()

    def run(self) -> None:
        self.selector.register(self.conn, selectors.EVENT_READ, None)
        while True:
            timeout = None
            if self.streams:
                timeout = max(0.0, min(s.deadline for s in self.streams.values()) - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    if not self._commands():
                        return
                elif key.data.id in self.streams:
                    self._receive(key.data)
            now = time.monotonic()
            for stream in [s for s in self.streams.values() if now >= s.deadline]:
                self._finish(stream, "time")

    def _commands(self) -> bool:
        while self.conn.poll():
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return False          # the parent is gone
            kind = message[0]
            if kind == "quit":
                return False
            if kind == "open":
                self._open(message[1], message[2])
            elif kind == "cancel":
                stream = self.streams.get(message[1])
                if stream is not None:
                    self._close(stream)
        return True

    def _open(self, stream_id: int, options: StreamOptions) -> None:
        try:
            stream = _Stream(stream_id, self.analyzer, options)
        except Exception as exc:  # noqa: BLE001 - reported to the caller's flow
            self.conn.send(("failed", stream_id, f"{type(exc).__name__}: {exc}"))
            return
        self.streams[stream_id] = stream
        self.selector.register(stream.sock, selectors.EVENT_READ, stream)
        self.conn.send(("opened", stream_id, stream.port))

    def _receive(self, stream: _Stream) -> None:
        from ivr.capture import rtp_payload, slin_be_to_le

        ended = False
        for _ in range(MAX_PACKETS_PER_TURN):
            try:
                packet = stream.sock.recv(4096)
            except BlockingIOError:
                break
            except OSError:
                ended = True
                break
            pcm = slin_be_to_le(rtp_payload(packet))
            if not pcm:
                continue
            stream.last_packet_at = time.monotonic()
            if stream.options.diagnostics:
                stream.packets.append((stream.heard_bytes, stream.last_packet_at))
            stream.heard_bytes += len(pcm)
            stream.pending += pcm
            if stream.heard is not None:
                stream.heard += pcm
            if stream.endpoint.push(pcm):
                ended = True
                break
        if len(stream.pending) >= FEED_BYTES or ended:
            self._feed(stream)
        if ended:
            self._finish(stream, stream.endpoint.reason or "closed")

    def _feed(self, stream: _Stream) -> None:
        if not stream.pending:
            return
        started = time.thread_time()
        stream.session.feed(bytes(stream.pending))
        stream.cpu += time.thread_time() - started
        stream.pending.clear()

    def _finish(self, stream: _Stream, reason: str) -> None:
        self._feed(stream)
        finish_started = time.monotonic()
        started = time.thread_time()
        analysis = stream.session.finish()
        stream.cpu += time.thread_time() - started
        finish_ended = time.monotonic()
        if stream.options.keep_audio_path and stream.heard is not None:
            _write_wav(stream.options.keep_audio_path, bytes(stream.heard))
        diagnostics = stream.options.diagnostics
        result = StreamResult(analysis, stream.heard_bytes, reason, stream.last_packet_at, finish_started,
                              finish_ended, round(stream.cpu, 4),
                              bytes(stream.heard) if diagnostics and stream.heard is not None else b"",
                              stream.packets if diagnostics else [])
        self._close(stream)
        self.conn.send(("done", stream.id, result))

    def _close(self, stream: _Stream) -> None:
        self.streams.pop(stream.id, None)
        try:
            self.selector.unregister(stream.sock)
        except (KeyError, ValueError):
            pass
        stream.sock.close()


def _write_wav(path: str, pcm: bytes) -> None:
    import wave
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(pcm)
    except OSError as exc:
        log.warning("could not keep the caller's audio in %s: %s", path, exc)


# --------------------------------------------------------------------------- parent side

class _Pending:
    """A request waiting for the worker's answer, awaited on some event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()

    def resolve(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(value)
        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # that loop is closed: nobody waits any more


class _WorkerHandle:
    """A worker process, started as ``python -m ivr.speech_workers`` (not with
    multiprocessing's spawn, which imports the parent's main script again in the
    child) and talked to over a socket pair."""

    def __init__(self, index: int, asr_config: dict):
        self.index = index
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen([sys.executable, "-m", "ivr.speech_workers", str(child.fileno())],
                                        pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(asr_config)
        self.send_lock = threading.Lock()
        self.ready = threading.Event()
        self.reason = ""
        self.opening: dict[int, _Pending] = {}
        self.results: dict[int, _Pending] = {}
        self.reader: Optional[threading.Thread] = None

    @property
    def load(self) -> int:
        return len(self.opening) + len(self.results)

    def send(self, message: tuple) -> None:
        with self.send_lock:
            self.conn.send(message)


class RemoteStream:
    """One caller being listened to by a worker: ``port`` is where Asterisk sends
    the audio; ``result()`` waits for the analysis."""

    def __init__(self, pool: "SpeechWorkers", worker: _WorkerHandle, stream_id: int, port: int,
                 pending: _Pending):
        self._pool, self._worker, self.id, self.port = pool, worker, stream_id, port
        self._pending = pending

    async def result(self) -> StreamResult:
        return await self._pending.future

    def cancel(self) -> None:
        """The caller left, or the flow gave up: the worker drops the stream."""
        if self._worker.results.pop(self.id, None) is not None:
            try:
                self._worker.send(("cancel", self.id))
            except (OSError, ValueError):
                pass  # the worker is gone anyway


class SpeechWorkers:
    """The pool of listening processes (``asr.worker_processes``)."""

    def __init__(self, asr_config: dict, processes: int, start_timeout: float = 120.0):
        self._config = dict(asr_config)
        self._count = max(1, int(processes))
        self._timeout = start_timeout
        self._workers: list[_WorkerHandle] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = False

    # --- life -------------------------------------------------------------------
    def start(self) -> None:
        """Start the processes; they load the model in parallel, in the background."""
        for index in range(self._count):
            self._workers.append(self._spawn(index))

    def wait_ready(self, timeout: Optional[float] = None) -> str:
        """Wait until every worker has loaded the model; '' or why it could not."""
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        for worker in list(self._workers):
            if not worker.ready.wait(max(0.0, deadline - time.monotonic())):
                return "the speech workers did not start in time"
            if worker.reason:
                return worker.reason
        return ""

    def stop(self) -> None:
        self._stopping = True
        for worker in self._workers:
            try:
                worker.send(("quit",))
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            try:
                worker.process.wait(5)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)
            worker.conn.close()
            if worker.reader is not None:
                worker.reader.join(5)
        self._workers = []

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    # --- listening ----------------------------------------------------------------
    async def open(self, options: StreamOptions) -> RemoteStream:
        """Ask the least busy worker to listen to one caller (from the ARI loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            worker = min(self._workers, key=lambda w: w.load)
            stream_id = next(self._ids)
            opening, result = _Pending(loop), _Pending(loop)
            worker.opening[stream_id] = opening
            worker.results[stream_id] = result
        if not worker.ready.is_set():   # still loading the model (the first calls after start-up)
            import anyio.to_thread

            if not await anyio.to_thread.run_sync(worker.ready.wait, self._timeout):
                self._forget(worker, stream_id)
                raise SpeechWorkerError("the speech worker did not start in time")
        try:
            worker.send(("open", stream_id, options))
        except (OSError, ValueError) as exc:
            self._forget(worker, stream_id)
            raise SpeechWorkerError(f"the speech worker is gone: {exc}") from exc
        try:
            port = await opening.future
        except BaseException:
            if worker.results.pop(stream_id, None) is not None:
                try:
                    worker.send(("cancel", stream_id))   # opened after all: let the worker drop it
                except (OSError, ValueError):
                    pass
            raise
        return RemoteStream(self, worker, stream_id, port, result)

    @staticmethod
    def _forget(worker: _WorkerHandle, stream_id: int) -> None:
        worker.opening.pop(stream_id, None)
        worker.results.pop(stream_id, None)

    # --- inside ---------------------------------------------------------------------
    def _spawn(self, index: int) -> _WorkerHandle:
        worker = _WorkerHandle(index, self._config)
        worker.reader = threading.Thread(target=self._read, args=(worker,), name=f"speech-worker-{index}-reader",
                                         daemon=True)
        worker.reader.start()
        return worker

    def _read(self, worker: _WorkerHandle) -> None:
        """Answers from one worker, until it exits."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001 - an answer that cannot be read; its caller times out
                log.exception("unreadable answer from speech worker %s", worker.index)
                continue
            kind = message[0]
            if kind == "ready":
                worker.reason = message[1] or ""
                worker.ready.set()
            elif kind == "opened":
                pending = worker.opening.pop(message[1], None)
                if pending is not None:
                    pending.resolve(message[2])
            elif kind == "failed":
                error = SpeechWorkerError(f"the speech worker could not listen: {message[2]}")
                for table in (worker.opening, worker.results):
                    pending = table.pop(message[1], None)
                    if pending is not None:
                        pending.resolve(error=error)
            elif kind == "done":
                pending = worker.results.pop(message[1], None)
                if pending is not None:
                    pending.resolve(message[2])
        self._worker_gone(worker)

    def _worker_gone(self, worker: _WorkerHandle) -> None:
        try:
            code = worker.process.wait(5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            code = worker.process.wait(5)
        error = SpeechWorkerError(f"the speech worker stopped (exit code {code})")
        with self._lock:
            lost = list(worker.opening.values()) + list(worker.results.values())
            worker.opening.clear()
            worker.results.clear()
            worker.ready.set()
            if not worker.reason:
                worker.reason = "the speech worker stopped"
        for pending in lost:
            pending.resolve(error=error)
        if self._stopping:
            return
        log.error("speech worker %s stopped (exit code %s); starting it again", worker.index, code)
        with self._lock:
            if self._stopping or worker not in self._workers:
                return
            self._workers[self._workers.index(worker)] = self._spawn(worker.index)


def default_processes(configured: int) -> int:
    """``asr.worker_processes``: -1 = one per CPU (at most 8)."""
    if configured < 0:
        return max(1, min(8, os.cpu_count() or 1))
    return configured


if __name__ == "__main__":
    # Run the package's copy of this module, so what is pickled names
    # ivr.speech_workers.StreamResult, not __main__.StreamResult.
    from ivr import speech_workers

    speech_workers.worker_main(Connection(int(sys.argv[1])))
