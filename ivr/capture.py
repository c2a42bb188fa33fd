"""Listening to the caller: Asterisk external media (RTP, signed linear 8 kHz)
into a per-call speech analysis session.

The caller's channel and an external-media channel share a mixing bridge for as
long as the caller describes the problem; Asterisk sends the caller's audio to a
UDP socket of ours on 127.0.0.1.  Decoding runs in worker threads, one feed at a
time per call, so the event loop only moves bytes.
"""
from __future__ import annotations

import logging
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import anyio
from anyio.abc import SocketAttribute

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
FEED_BYTES = 3200  # 200 ms of 16-bit audio per hand-over to the decoder thread


def rtp_payload(packet: bytes) -> bytes:
    """The payload of an RTP packet (RFC 3550), or b'' for anything else."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return b""
    first = packet[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(packet) < offset + 4:
            return b""
        (words,) = struct.unpack_from("!H", packet, offset + 2)
        offset += 4 + 4 * words
    end = len(packet)
    if first & 0x20 and end > offset:  # padding
        end -= packet[-1]
    return packet[offset:end] if end > offset else b""


def slin_be_to_le(payload: bytes) -> bytes:
    """RTP carries L16 in network byte order; the recogniser wants little endian."""
    if len(payload) % 2:
        payload = payload[:-1]
    samples = array("h", payload)
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


@dataclass
class ListenSettings:
    max_seconds: float = 10.0
    no_speech_seconds: float = 5.0
    end_silence_ms: int = 1200
    keep_audio_dir: str = ""  # keep what was heard as <dir>/<ticket id>.wav (off when empty)
    decode_threads: int = 0   # threads decoding for all calls together (0: one per call)
    diagnostics: bool = False  # worker processes: return the heard audio and packet times (benchmarks)

    @classmethod
    def from_config(cls, asr: dict) -> "ListenSettings":
        return cls(float(asr["max_listen_seconds"]), float(asr["no_speech_seconds"]),
                   int(asr["end_silence_ms"]), str(asr.get("keep_audio_dir") or ""),
                   int(asr.get("decode_threads") or 0))

    @property
    def decoder_threads(self) -> int:
        # A small pool queues every caller's audio behind the others (measured: 4
        # threads doubled the end-of-speech delay at 35 calls); the default only
        # keeps decoding off the threads the database work uses.
        return self.decode_threads if self.decode_threads > 0 else 1000


def endpoint_detector(settings: ListenSettings):
    """When the caller has finished speaking (asr_models' energy endpointing)."""
    from asr_models.recognizer import EndpointDetector

    return EndpointDetector(trailing_silence_ms=settings.end_silence_ms,
                            max_ms=int(settings.max_seconds * 1000),
                            no_speech_ms=int(settings.no_speech_seconds * 1000))


async def listen(ctx, analyzer: Any, settings: ListenSettings,
                 endpoint_factory: Callable[[ListenSettings], Any],
                 run_decode: Optional[Callable[..., Awaitable[Any]]] = None,
                 baseline: Optional[list] = None) -> Any:
    """Bridge the caller to an external-media channel, feed what they say to a
    new analysis session until they stop talking (or time runs out) and return the
    session's analysis.  The media channel and bridge are always removed.

    ``run_decode`` runs the decoder's blocking calls in a thread (default: the
    call's ``run_sync``).  Reading the socket never waits for the decoder: when
    decoding falls behind, audio piles up in memory, not in the kernel's socket
    buffer, where it would be dropped.  ``baseline``: the caller's earlier voice
    profiles (asr_models.voice.VoiceProfile), if any."""
    tel = ctx.telephony
    run_decode = run_decode or ctx.run_sync
    async with await anyio.create_udp_socket(local_host="127.0.0.1", local_port=0) as sock:
        port = sock.extra(SocketAttribute.local_port)
        media_id = ctx.ids("media")
        bridge_id = ctx.ids("listen")
        ctx.register_leg(media_id)
        session = await run_decode(analyzer.session, 8000, baseline or None)
        endpoint = endpoint_factory(settings)
        feeder = _Feeder(session, run_decode)
        try:
            ctx.media_channel_id = media_id
            await tel.external_media(media_id, f"127.0.0.1:{port}", "slin")
            ctx.media_bridge_id = bridge_id
            await _join(tel, bridge_id, ctx.channel_id, media_id)
            heard = bytearray() if settings.keep_audio_dir else None
            async with anyio.create_task_group() as tg:
                tg.start_soon(feeder.run)
                try:
                    with anyio.move_on_after(settings.max_seconds):
                        async for packet, _addr in sock:
                            pcm = slin_be_to_le(rtp_payload(packet))
                            feeder.add(pcm)
                            if heard is not None:
                                heard += pcm
                            # End of speech is judged on every packet (cheap).
                            if endpoint.push(pcm):
                                break
                finally:
                    feeder.close()
            if heard is not None and ctx.ticket_id is not None:
                await ctx.run_sync(_keep, settings.keep_audio_dir, ctx.ticket_id, bytes(heard))
        finally:
            with anyio.CancelScope(shield=True):
                await _unbridge(ctx)
        return await run_decode(session.finish)


async def listen_remote(ctx, workers: Any, settings: ListenSettings, baseline: Optional[list] = None) -> Any:
    """Like :func:`listen`, with the audio going straight to a worker process of
    ``workers`` (ivr.speech_workers.SpeechWorkers), which judges the end of speech
    and decodes; this process only sets up and removes the listening channel."""
    from ivr.speech_workers import StreamOptions

    keep = ""
    if settings.keep_audio_dir and ctx.ticket_id is not None:
        keep = str(Path(settings.keep_audio_dir) / f"{ctx.ticket_id}.wav")
    options = StreamOptions(settings.max_seconds, settings.no_speech_seconds, settings.end_silence_ms,
                            list(baseline or []), keep, settings.diagnostics)
    stream = await workers.open(options)
    tel = ctx.telephony
    media_id = ctx.ids("media")
    bridge_id = ctx.ids("listen")
    ctx.register_leg(media_id)
    try:
        ctx.media_channel_id = media_id
        await tel.external_media(media_id, f"127.0.0.1:{stream.port}", "slin")
        ctx.media_bridge_id = bridge_id
        await _join(tel, bridge_id, ctx.channel_id, media_id)
        # The worker ends the stream itself (end of speech, or its own time limit).
        with anyio.fail_after(settings.max_seconds + 10):
            result = await stream.result()
    finally:
        stream.cancel()
        with anyio.CancelScope(shield=True):
            await _unbridge(ctx)
    return result


class _Feeder:
    """Hands the audio read so far to the session, 200 ms or more at a time (a
    thread hop per 20 ms packet would cost more), one feed at a time, in order."""

    def __init__(self, session: Any, run_decode: Callable[..., Awaitable[Any]]):
        self._session = session
        self._run = run_decode
        self._pending = bytearray()
        self._closed = False
        self._wake = anyio.Event()

    def add(self, pcm: bytes) -> None:
        self._pending += pcm
        if len(self._pending) >= FEED_BYTES:
            self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            while len(self._pending) >= FEED_BYTES or (self._closed and self._pending):
                chunk = bytes(self._pending)
                self._pending.clear()
                await self._run(self._session.feed, chunk)
            if self._closed:
                return


async def _join(tel, bridge_id: str, caller_id: str, media_id: str, attempts: int = 20) -> None:
    """Put the caller and the listening channel in one bridge.  Under load the new
    external-media channel may not have entered the application yet when we add it
    (Asterisk answers 422, which the port reports as ChannelGone): try adding again
    for a moment rather than mistake it for the caller hanging up.  The bridge is
    created once (Asterisk refuses to create a bridge id again with a type)."""
    from ivr.telephony import ChannelGone

    last: Exception | None = None
    for attempt in range(attempts):
        try:
            if attempt == 0:
                await tel.bridge(bridge_id, [caller_id, media_id])
            else:
                await tel.add_to_bridge(bridge_id, [caller_id, media_id])
            return
        except ChannelGone as exc:
            last = exc
            await anyio.sleep(0.1)
    raise RuntimeError(f"the listening channel could not join the caller ({last})")


def _keep(folder: str, ticket_id: int, pcm: bytes) -> None:
    import wave
    from pathlib import Path

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path / f"{ticket_id}.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)


async def _unbridge(ctx) -> None:
    tel = ctx.telephony
    media_id, bridge_id = ctx.media_channel_id, ctx.media_bridge_id
    ctx.media_channel_id = ctx.media_bridge_id = None
    for action in (lambda: tel.destroy_bridge(bridge_id) if bridge_id else None,
                   lambda: tel.hangup(media_id) if media_id else None):
        try:
            coro = action()
            if coro is not None:
                with anyio.fail_after(5):
                    await coro
        except Exception as exc:  # a failed clean-up must not cost the caller the call
            log.warning("call %s: removing the listening channel failed: %s", ctx.channel_id, exc)
