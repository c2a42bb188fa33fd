"""Listening in worker processes (ivr.speech_workers) with the real model: RTP sent
to the worker's port gives the same analysis as an offline decode of what it
heard; a worker that dies fails its callers' analyses and is started again."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import time
import wave
from pathlib import Path

import pytest

from asr_models.analysis import Analyzer
from ivr.speech_workers import SpeechWorkerError, SpeechWorkers, StreamOptions

DATA = Path(__file__).parent / "data" / "asr"
ASR = {"transcript": True}


def pcm_of(name: str) -> bytes:
    with wave.open(str(DATA / name)) as w:
        return w.readframes(w.getnframes())


def rtp_packets(pcm16le: bytes, seq0: int = 1):
    """slin (big-endian L16) RTP packets of 20 ms, as Asterisk's external media sends."""
    import array

    for i in range(0, len(pcm16le) - 319, 320):
        samples = array.array("h", pcm16le[i:i + 320])
        samples.byteswap()
        header = struct.pack("!BBHII", 0x80, 118, (seq0 + i // 320) & 0xFFFF, i // 2, 0x1234)
        yield header + samples.tobytes()


async def send_audio(port: int, pcm16le: bytes, pace: float = 0.0) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for packet in rtp_packets(pcm16le):
            sock.sendto(packet, ("127.0.0.1", port))
            await asyncio.sleep(pace)
    finally:
        sock.close()


@pytest.fixture(scope="module")
def workers():
    pool = SpeechWorkers(ASR, 2)
    pool.start()
    reason = pool.wait_ready(120)
    if reason:
        pytest.skip(f"speech model not available: {reason}")
    yield pool
    pool.stop()


def silence(seconds: float) -> bytes:
    return b"\0\0" * int(8000 * seconds)


def test_worker_analysis_equals_offline_decode_of_what_it_heard(workers):
    speech = silence(0.4) + pcm_of("k01a.wav") + silence(1.6)

    async def run():
        stream = await workers.open(StreamOptions(end_silence_ms=1200, diagnostics=True))
        await send_audio(stream.port, speech, pace=0.005)
        return await asyncio.wait_for(stream.result(), 30)

    result = asyncio.run(run())
    assert result.end_reason == "end_of_speech"
    assert 0 < result.heard_bytes <= len(speech) and result.pcm == speech[:result.heard_bytes]
    assert result.packets and result.packets[-1][0] < result.heard_bytes
    offline = Analyzer.from_config(ASR).analyze(result.pcm)
    assert result.analysis.status == "ok"
    assert result.analysis.transcript == offline.transcript
    assert [s.code for s in result.analysis.suggestions] == [s.code for s in offline.suggestions]
    assert result.cpu_s > 0


def test_streams_are_spread_over_the_workers_and_run_at_once(workers):
    async def run():
        streams = [await workers.open(StreamOptions(max_seconds=8.0, no_speech_seconds=0.5)) for _ in range(4)]
        assert len({s.port for s in streams}) == 4
        assert {s._worker.index for s in streams} == {0, 1}
        await asyncio.gather(*(send_audio(s.port, silence(0.8), pace=0.0005) for s in streams))
        return await asyncio.wait_for(asyncio.gather(*(s.result() for s in streams)), 20)

    results = asyncio.run(run())
    assert [r.end_reason for r in results] == ["no_speech"] * 4


def test_worker_ends_a_stream_that_gets_no_audio_at_all(workers):
    async def run():
        stream = await workers.open(StreamOptions(max_seconds=0.5))
        started = time.monotonic()
        result = await asyncio.wait_for(stream.result(), 10)
        return result, time.monotonic() - started

    result, took = asyncio.run(run())
    assert result.end_reason == "time" and result.heard_bytes == 0 and took < 5
    assert result.analysis.status == "failed" and result.analysis.reason == "no audio received"


def test_cancelled_stream_is_dropped_by_the_worker(workers):
    async def run():
        stream = await workers.open(StreamOptions(max_seconds=5))
        stream.cancel()
        await asyncio.sleep(0.3)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:   # the port is closed: nobody listens any more
            probe.bind(("127.0.0.1", stream.port))
        finally:
            probe.close()

    asyncio.run(run())


def test_a_worker_that_dies_fails_its_streams_and_is_started_again(workers):
    async def run():
        stream = await workers.open(StreamOptions(max_seconds=30))
        victim = stream._worker.process.pid
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(SpeechWorkerError):
            await asyncio.wait_for(stream.result(), 10)
        return victim

    victim = asyncio.run(run())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (victim in workers.pids() or workers.wait_ready(60)):
        time.sleep(0.1)
    assert victim not in workers.pids() and len(workers.pids()) == 2
    assert workers.wait_ready(120) == ""

    async def again():
        stream = await workers.open(StreamOptions(max_seconds=0.5))
        return await asyncio.wait_for(stream.result(), 10)

    assert asyncio.run(again()).end_reason == "time"
