"""SIPp callers and phones: the end-to-end tests and the demo commands use them.

The scenarios in ``ivr/demo/scenarios/*.xml`` are templates: the ``@NAME@`` placeholders
(times, the DTMF block) are filled here and the result is written to a temp
folder per SIPp process, together with its message and error logs.

Everything binds to 127.0.0.1 only, every process ends by itself (``-m``,
``-timeout``) and is killed on :meth:`stop` / context-manager exit.

    with SippPhone(mode="answer") as phone, \\
         SippCaller(ast.sip_uri("1600"), digits="1001#", display_name="홍길동") as caller:
        ...
        assert caller.wait(30) == 0
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Iterable

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_used_ports: set[int] = set()


class SippError(RuntimeError):
    pass


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if not path:
        raise SippError("sipp is not installed (apt-get install sip-tester)")
    return path


def _port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(count: int = 1, udp: bool = True, tcp: bool = False, low: int = 20000, high: int = 45000,
              even: bool = False) -> int:
    """A port such that ``port .. port+count-1`` are free on 127.0.0.1 (and not handed out before)."""
    for _ in range(500):
        port = random.randrange(low, high - count)
        if even:
            port -= port % 2
        ports = range(port, port + count)
        if any(p in _used_ports for p in ports):
            continue
        if all((not udp or _port_free(p, socket.SOCK_DGRAM))
               and (not tcp or _port_free(p, socket.SOCK_STREAM)) for p in ports):
            _used_ports.update(ports)
            return port
    raise SippError("no free port found")


def sip_quote(text: str) -> str:
    """Body of a SIP quoted-string (RFC 3261 25.1): backslash-escape '"' and '\\'."""
    if any(c in text for c in "\r\n\0"):
        raise ValueError("a display name cannot contain line breaks")
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _ms(seconds: float) -> str:
    # a recv timeout of 0 would mean "no timeout" to SIPp
    return str(max(10, int(round(seconds * 1000))))


DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


def _udp_frame(payload: bytes, src_port: int = 6000, dst_port: int = 6000) -> bytes:
    """Ethernet + IPv4 + UDP around ``payload`` (SIPp rewrites addresses and ports when it plays)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                            socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    checksum = sum(struct.unpack("!10H", ip_header))
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    ip_header = ip_header[:10] + struct.pack("!H", checksum) + ip_header[12:]
    return b"\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x00\x00\x00\x02" + b"\x08\x00" + ip_header + udp


def ulaw_encode(pcm: bytes) -> bytes:
    """G.711 mu-law of 16-bit signed little-endian linear PCM."""
    out = bytearray()
    for (sample,) in struct.iter_unpack("<h", pcm[: len(pcm) - len(pcm) % 2]):
        sign = 0x80 if sample < 0 else 0
        magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
        exponent = min(7, max(0, (magnitude >> 7).bit_length() - 1))
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | (exponent << 4) | mantissa) & 0xFF)
    return bytes(out)


def _ulaw_table() -> list[int]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        table.append((0x84 - t) if u & 0x80 else (t - 0x84))
    return table


_ULAW = _ulaw_table()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law to 16-bit signed little-endian PCM, as Asterisk decodes it."""
    return struct.pack(f"<{len(data)}h", *(_ULAW[b] for b in data))


def read_wav_ulaw(path: Path | str) -> bytes:
    """The audio of an 8 kHz mono 16-bit WAV file (e.g. from ivr.prompts), mu-law encoded."""
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{path}: need 8 kHz mono 16-bit PCM "
                             "(sox IN -r 8000 -c 1 -b 16 -e signed-integer OUT.wav)")
        return ulaw_encode(wav.readframes(wav.getnframes()))


PAUSE = ","       # in a digit string: wait PAUSE_MS before the next digit
PAUSE_MS = 1000


def write_rtp_pcap(path: Path, digits: str = "", audio: bytes = b"", silence_ms: int = 0,
                   digit_ms: int = 120, gap_ms: int = 200, lead_ms: int = 60,
                   event_pt: int = 101, audio_delay_ms: int = 0, greeting: bytes = b"",
                   after_greeting_ms: int = 0) -> tuple[float, float]:
    """Write one PCMU RTP stream as a pcap file for SIPp's ``play_pcap_audio``.

    The stream is: ``lead_ms`` of silence, ``greeting`` (mu-law bytes: what the
    callee says on answering, e.g. "hello") and ``after_greeting_ms`` of silence,
    the RFC 4733 events for ``digits``
    (each followed by ``gap_ms`` of silence; a ``,`` is a second of silence, as on
    a dialler: "100100#,,1" answers a menu two seconds later), ``audio_delay_ms`` of silence (the
    caller listens to a prompt), then ``audio`` (mu-law bytes, e.g.
    from :func:`read_wav_ulaw`), then ``silence_ms`` of silence (keeps RTP flowing).

    The packets share one SSRC with increasing sequence numbers and timestamps, so
    repeated digits ("1001") are distinct events.  (Playing SIPp's
    ``dtmf_2833_<d>.pcap`` files one after the other does not work for repeated
    digits: each file has fixed sequence numbers and timestamps, so Asterisk
    takes the repeat for a duplicate.)

    Returns (seconds until the last digit's gap ends, total seconds).
    """
    for d in digits:
        if d not in DTMF_EVENTS and d != PAUSE:
            raise ValueError(f"cannot send DTMF digit {d!r}")
    ssrc = random.getrandbits(32)
    seq = random.randrange(1000, 30000)
    ts = random.randrange(0, 1 << 30)
    packets: list[tuple[float, bytes]] = []
    now = 0.0

    def rtp(pt: int, marker: bool, timestamp: int, payload: bytes) -> bytes:
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                           timestamp & 0xFFFFFFFF, ssrc) + payload

    def voice(samples: bytes) -> None:
        nonlocal now, seq, ts
        for off in range(0, len(samples), 160):
            chunk = samples[off:off + 160].ljust(160, b"\xff")
            packets.append((now, rtp(0, False, ts, chunk)))
            seq += 1
            ts += 160
            now += 0.02

    def silence(ms: int) -> None:
        voice(b"\xff" * (8 * ms))

    silence(lead_ms)
    if greeting:
        voice(greeting)
        silence(after_greeting_ms)
    for d in digits:
        if d == PAUSE:
            silence(PAUSE_MS)
            continue
        event = DTMF_EVENTS[d]
        steps = max(2, digit_ms // 20)
        for i in range(steps):
            end = i == steps - 1
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, 160 * (i + 1))
            for _ in range(3 if end else 1):  # the end packet three times, same sequence number
                packets.append((now, rtp(event_pt, i == 0, ts, payload)))
            seq += 1
            now += 0.02
        ts += 160 * steps
        silence(gap_ms)
    digits_end = now
    if audio:
        silence(audio_delay_ms)
    voice(audio)
    silence(silence_ms)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet link type
        for when, payload in packets:
            frame = _udp_frame(payload)
            sec = int(when)
            usec = int(round((when - sec) * 1_000_000))
            fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    return digits_end, now


def write_dtmf_pcap(path: Path, digits: str, **kwargs) -> float:
    """:func:`write_rtp_pcap` with only digits; returns the stream's length in seconds."""
    return write_rtp_pcap(path, digits, **kwargs)[1]


def dtmf_block(pcap: Path | str, seconds: float) -> str:
    """Scenario XML starting the RTP stream ``pcap`` and waiting ``seconds`` (its digits),
    accepting a BYE meanwhile.  The rest of the stream plays on while the scenario goes on."""
    return "\n".join((
        f'  <nop display="DTMF"><action><exec play_pcap_audio="{pcap}" /></action></nop>',
        f'  <recv request="BYE" timeout="{_ms(seconds + 0.1)}" ontimeout="dtmf_sent" next="got_bye" />',
        '  <label id="dtmf_sent" />',
    ))


def render(template: str, values: dict[str, str]) -> str:
    text = (SCENARIOS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
    if leftover:
        raise SippError(f"{template}: placeholders not filled: {leftover}")
    return text


class _Sipp:
    """One SIPp process with its own temp folder (scenario, logs)."""

    name = "sipp"

    def __init__(self, local_port: int | None, media_port: int | None, timeout: float) -> None:
        self.local_port = local_port or free_port()
        self.media_port = media_port or free_port(count=4, even=True)
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix=f"happycall-{self.name}-"))
        self.scenario_path = self.dir / "scenario.xml"
        self.message_log = self.dir / "messages.log"
        self.error_log = self.dir / "errors.log"
        self.stdout_log = self.dir / "stdout.log"
        self.proc: subprocess.Popen | None = None
        self._stdout = None
        self.returncode: int | None = None

    # to be filled by subclasses
    def _scenario(self) -> str:
        raise NotImplementedError

    def _args(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        return [sipp_binary(), "-sf", str(self.scenario_path),
                "-i", "127.0.0.1", "-mi", "127.0.0.1",
                "-p", str(self.local_port), "-mp", str(self.media_port),
                "-t", "u1", "-nostdin", "-aa",
                "-timeout", f"{int(self.timeout)}s", "-timeout_error",
                "-trace_msg", "-message_file", str(self.message_log),
                "-trace_err", "-error_file", str(self.error_log),
                ] + self._args()

    def start(self) -> "_Sipp":
        if self.proc is not None:
            return self
        self.scenario_path.write_text(self._scenario())
        self._stdout = open(self.stdout_log, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for SIPp to end by itself; return its exit code (0: every call succeeded)."""
        if self.proc is None:
            raise SippError("not started")
        limit = self.timeout + 10 if timeout is None else timeout
        try:
            self.returncode = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.stop()
            raise SippError(f"{self.name} still running after {limit:.0f} s:\n{self.logs()}") from None
        self._close()
        return self.returncode

    def stop(self) -> None:
        """Kill SIPp (if still running) and reap it. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=3)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc is not None:
            self.returncode = self.proc.poll()
        self._close()

    def _close(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def messages(self) -> str:
        try:
            return self.message_log.read_text(errors="replace")
        except OSError:
            return ""

    def logs(self) -> str:
        """Command, SIP messages, unexpected messages and screen output, for assertion messages."""
        parts = [f"=== {self.name} in {self.dir}: {' '.join(self.command())}"]
        for path in (self.message_log, self.error_log, self.stdout_log):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            if path is self.stdout_log:  # the last statistics screen is enough
                text = text[-3000:]
            parts.append(f"--- {path.name}\n{text}")
        return "\n".join(parts)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.cleanup()
        else:  # keep the logs of a failed test (their folder is in the assertion message)
            self.stop()


class SippCaller(_Sipp):
    """A customer: calls ``target``, waits, sends RFC 2833 ``digits``, then waits for the BYE.

    ``target`` is ``sip:1600@127.0.0.1:5060`` or ``127.0.0.1:5060`` plus ``service``.
    If the far end has not hung up ``hold_seconds`` after the digits, the caller hangs up.
    ``audio_wav`` (8 kHz mono 16-bit) is "spoken" after the digits; ``keep_rtp`` sends
    silence for the rest of the call (one RTP stream, see :func:`write_rtp_pcap`).
    """

    name = "caller"

    def __init__(self, target: str, digits: str = "", display_name: str = "HappyCall Tester",
                 caller_number: str = "0101234567", pause_before_digits: float = 1.0,
                 hold_seconds: float = 5.0, local_port: int | None = None,
                 media_port: int | None = None, service: str | None = None,
                 digit_gap: float = 0.2, timeout: float | None = None,
                 audio_wav: str | Path | None = None, keep_rtp: bool = False,
                 audio_delay: float = 0.0) -> None:
        host, service = self._parse_target(target, service)
        self.audio = read_wav_ulaw(audio_wav) if audio_wav else b""
        self.keep_rtp = keep_rtp
        self.audio_delay = audio_delay
        self.remote = host
        self.service = service
        self.digits = digits
        self.display_name = display_name
        self.caller_number = caller_number
        self.pause_before_digits = pause_before_digits
        self.hold_seconds = hold_seconds
        self.digit_gap = digit_gap
        if not caller_number or any(c in caller_number for c in ' <>";@\r\n'):
            raise ValueError(f"bad caller number {caller_number!r}")
        sip_quote(display_name)  # validate early
        for d in digits:
            if d not in DTMF_EVENTS and d != PAUSE:
                raise ValueError(f"cannot send DTMF digit {d!r}")
        dtmf_time = 0.1 + len(digits) * (0.12 + digit_gap) + digits.count(PAUSE) * PAUSE_MS / 1000
        if timeout is None:
            timeout = pause_before_digits + dtmf_time + len(self.audio) / 8000 + audio_delay + hold_seconds + 15
        super().__init__(local_port, media_port, timeout)

    @staticmethod
    def _parse_target(target: str, service: str | None) -> tuple[str, str]:
        if target.startswith("sip:"):
            user, _, host = target[4:].partition("@")
            if not host:
                user, host = "", user
            return host.split(";")[0], service or user or "1600"
        return target, service or "1600"

    def _scenario(self) -> str:
        dtmf = ""
        if self.digits or self.audio or self.keep_rtp:
            pcap = self.dir / "rtp.pcap"
            silence_ms = int((self.hold_seconds + 1) * 1000) if self.keep_rtp else 0
            digits_end, _ = write_rtp_pcap(pcap, self.digits, audio=self.audio, silence_ms=silence_ms,
                                           gap_ms=int(self.digit_gap * 1000),
                                           audio_delay_ms=int(self.audio_delay * 1000))
            dtmf = dtmf_block(pcap, digits_end)
        return render("caller_pin.xml", {
            "PAUSE_MS": _ms(self.pause_before_digits),
            "HOLD_MS": _ms(self.hold_seconds),
            "DTMF": dtmf,
        })

    def _args(self) -> list[str]:
        return ["-s", self.service, "-m", "1", "-l", "1",
                "-set", "display", sip_quote(self.display_name),
                "-set", "caller", self.caller_number,
                self.remote]


class SippPhone(_Sipp):
    """An agent phone (UAS) on ``127.0.0.1:port``: ``mode='answer'`` or ``'noanswer'``.

    ``answer``: rings ``ring_seconds`` then answers, hangs up itself after ``talk_seconds``
    unless the far end does first.  ``noanswer``: rings until CANCEL (or ``ring_seconds``,
    then 480).  Takes ``calls`` calls, then ends.
    """

    name = "phone"

    def __init__(self, port: int | None = None, mode: str = "answer", ring_seconds: float = 0.5,
                 talk_seconds: float = 30.0, calls: int = 1, media_port: int | None = None,
                 timeout: float | None = None) -> None:
        if mode not in ("answer", "noanswer"):
            raise ValueError("mode must be 'answer' or 'noanswer'")
        self.mode = mode
        self.ring_seconds = ring_seconds
        self.talk_seconds = talk_seconds
        self.calls = calls
        if timeout is None:
            timeout = (ring_seconds + (talk_seconds if mode == "answer" else 0) + 5) * calls + 20
        super().__init__(port, media_port, timeout)

    @property
    def port(self) -> int:
        return self.local_port

    def uri(self, user: str = "1001") -> str:
        return f"sip:{user}@127.0.0.1:{self.local_port}"

    def dial_string(self, user: str = "1001", endpoint: str = "phones") -> str:
        """The Asterisk dial string for this phone, e.g. PJSIP/phones/sip:1001@127.0.0.1:5071."""
        return f"PJSIP/{endpoint}/{self.uri(user)}"

    def _scenario(self) -> str:
        if self.mode == "answer":
            return render("phone_answer.xml", {"RING_MS": _ms(self.ring_seconds),
                                               "TALK_MS": _ms(self.talk_seconds)})
        return render("phone_noanswer.xml", {"RING_MS": _ms(self.ring_seconds)})

    def _args(self) -> list[str]:
        return ["-m", str(self.calls)]

    def calls_received(self) -> int:
        return self.messages().count("INVITE sip:")


class SippRegister(_Sipp):
    """A softphone registration: REGISTER ``extension`` (digest auth) with its Contact at
    ``127.0.0.1:contact_port`` (typically a :class:`SippPhone`'s port).  ``expires=0`` unregisters."""

    name = "register"

    def __init__(self, target: str, extension: str, password: str, contact_port: int,
                 expires: int = 300, local_port: int | None = None, timeout: float = 15) -> None:
        if target.startswith("sip:"):
            target = target[4:].rpartition("@")[2]
        self.remote = target.split(";")[0]
        if not re.match(r"^[A-Za-z0-9_.-]+$", extension):
            raise ValueError(f"bad extension {extension!r}")
        self.extension = extension
        self.password = password
        self.contact_port = int(contact_port)
        self.expires = int(expires)
        super().__init__(local_port, None, timeout)

    def _scenario(self) -> str:
        return render("register.xml", {"CONTACT_PORT": str(self.contact_port), "EXPIRES": str(self.expires)})

    def _args(self) -> list[str]:
        return ["-m", "1", "-l", "1", "-set", "user", self.extension,
                "-au", self.extension, "-ap", self.password, self.remote]


def wait_all(procs: Iterable[_Sipp], timeout: float) -> list[int]:
    """Wait for several SIPp processes with one overall deadline."""
    deadline = time.monotonic() + timeout
    return [p.wait(max(0.1, deadline - time.monotonic())) for p in procs]
