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
from typing import Any, Callable, Optional

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

    @classmethod
    def from_config(cls, asr: dict) -> "ListenSettings":
        return cls(float(asr["max_listen_seconds"]), float(asr["no_speech_seconds"]),
                   int(asr["end_silence_ms"]))


async def listen(ctx, analyzer: Any, settings: ListenSettings,
                 endpoint_factory: Callable[[ListenSettings], Any]) -> Any:
    """Bridge the caller to an external-media channel, feed what they say to a
    new analysis session until they stop talking (or time runs out) and return the
    session's analysis.  The media channel and bridge are always removed."""
    tel = ctx.telephony
    run_sync = ctx.run_sync
    async with await anyio.create_udp_socket(local_host="127.0.0.1", local_port=0) as sock:
        port = sock.extra(SocketAttribute.local_port)
        media_id = ctx.ids("media")
        bridge_id = ctx.ids("listen")
        ctx.register_leg(media_id)
        session = await run_sync(analyzer.session)
        endpoint = endpoint_factory(settings)
        try:
            ctx.media_channel_id = media_id
            await tel.external_media(media_id, f"127.0.0.1:{port}", "slin")
            ctx.media_bridge_id = bridge_id
            await tel.bridge(bridge_id, [ctx.channel_id, media_id])
            pending = bytearray()
            with anyio.move_on_after(settings.max_seconds):
                async for packet, _addr in sock:
                    pending += slin_be_to_le(rtp_payload(packet))
                    if len(pending) < FEED_BYTES:
                        continue
                    chunk = bytes(pending)
                    pending.clear()
                    await run_sync(session.feed, chunk)
                    if endpoint.push(chunk):
                        break
            if pending:
                await run_sync(session.feed, bytes(pending))
        finally:
            with anyio.CancelScope(shield=True):
                await _unbridge(ctx)
        return await run_sync(session.finish)


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


class EnergyEndpoint:
    """Decides when the caller has finished: speech was heard and then
    ``end_silence_ms`` of quiet followed, or nothing was said for
    ``no_speech_seconds``.  Energy threshold on 20 ms frames (telephone speech is
    far above line noise; a recogniser's own endpointing would need a decode)."""

    FRAME = 320  # bytes: 20 ms at 8 kHz, 16 bit

    def __init__(self, settings: ListenSettings, threshold_dbfs: float = -42.0):
        self._settings = settings
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20)
        self._heard_ms = 0
        self._silence_ms = 0
        self._total_ms = 0

    def push(self, pcm16le: bytes) -> bool:
        samples = array("h", pcm16le[: len(pcm16le) - len(pcm16le) % 2])
        for start in range(0, len(samples), self.FRAME // 2):
            frame = samples[start:start + self.FRAME // 2]
            if not frame:
                break
            rms = (sum(s * s for s in frame) / len(frame)) ** 0.5
            self._total_ms += 20
            if rms >= self._threshold:
                self._heard_ms += 20
                self._silence_ms = 0
            else:
                self._silence_ms += 20
        if self._heard_ms >= 200 and self._silence_ms >= self._settings.end_silence_ms:
            return True
        return self._heard_ms < 200 and self._total_ms >= self._settings.no_speech_seconds * 1000
