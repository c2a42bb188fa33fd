"""The ARS flow and ACD on a fake telephony port (no Asterisk), real services."""
from __future__ import annotations

import anyio
import pytest
from sqlalchemy import select

from cti import events
from db.models import CallRecord, Ticket, TicketEvent, User
from ivr.app import database_runner
from ivr.ari_events import AriEvent
from ivr.calls import CallRegistry
from ivr.dispatcher import QueueDispatcher
from ivr.stasis import StasisHandlers

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class FakeTelephony:
    def __init__(self):
        self.ops: list[tuple] = []
        self.fail_on: set[str] = set()
        self.bridge_not_ready = 0  # how many bridge calls answer 422 first
        self.live: set[str] = set()

    def _op(self, name, *args):
        self.ops.append((name, *args))
        if name in self.fail_on:
            raise RuntimeError(f"{name} exploded")

    async def answer(self, cid): self._op("answer", cid)
    async def play(self, cid, media, playback_id, lang=""): self._op("play", cid, media, playback_id)
    async def stop_playback(self, pid): self._op("stop_playback", pid)
    async def hangup(self, cid, reason="normal"): self._op("hangup", cid)
    async def start_moh(self, cid, moh_class=""): self._op("start_moh", cid, moh_class)
    async def stop_moh(self, cid): self._op("stop_moh", cid)
    async def ring(self, cid): self._op("ring", cid)
    async def originate(self, cid, endpoint, app_args, caller_id, timeout):
        self._op("originate", cid, endpoint, app_args, caller_id)
    async def subscribe_channel(self, cid): self._op("subscribe_channel", cid)
    async def continue_in_dialplan(self, cid, context, extension, priority=1):
        self._op("continue_in_dialplan", cid, context, extension, priority)
    async def bridge(self, bid, cids):
        self._op("bridge", bid, tuple(cids))
        self._not_ready()
    async def add_to_bridge(self, bid, cids):
        self._op("add_to_bridge", bid, tuple(cids))
        self._not_ready()
    def _not_ready(self):
        if self.bridge_not_ready:
            self.bridge_not_ready -= 1
            from ivr.telephony import ChannelGone
            raise ChannelGone("bridges.addChannel: HTTP 422")
    async def external_media(self, cid, host, fmt): self._op("external_media", cid, host, fmt)
    async def destroy_bridge(self, bid): self._op("destroy_bridge", bid)
    async def list_channel_ids(self): return set(self.live)
    async def app_channel_ids(self): return set(self.live)
    async def startup_time(self): return "t0"

    def named(self, name):
        return [op for op in self.ops if op[0] == name]

    def last_playback(self):
        return self.named("play")[-1]


class Harness:
    def __init__(self, config, call_center, tg, speech=None, acd=None, callbacks=None):
        self.tel = FakeTelephony()
        self.registry = CallRegistry()
        self.cc = call_center

        def post(cid, ev):
            s = self.registry.get(cid)
            if s:
                s.post(ev)
        run_sync = database_runner(config["ivr"]["db_threads"])
        self.dispatcher = QueueDispatcher("helpdesk", call_center, post, run_sync, tick_seconds=0.05,
                                          acd=acd, callbacks=callbacks)
        self.handlers = StasisHandlers(config, call_center, self.dispatcher, self.registry, self.tel,
                                       tg.start_soon, run_sync, speech=speech, callbacks=callbacks)
        tg.start_soon(self.dispatcher.run)

    def send(self, type_, cid, **kw):
        self.handlers.on_event(AriEvent(type_, channel_id=cid, **kw))

    async def until(self, predicate, timeout=3.0):
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.01)

    async def finish_prompt(self, cid, name):
        await self.until(lambda: self.tel.named("play") and self.tel.last_playback()[2].endswith("/" + name))
        self.send("PlaybackFinished", cid, playback_id=self.tel.last_playback()[3])

    async def dial_in(self, cid="c1", name="Caller", number="0105550000", line="1600", lang="ko"):
        self.send("StasisStart", cid, args=("ars", line, lang), caller_name=name, caller_number=number)
        await self.finish_prompt(cid, "greeting")
        await self.until(lambda: self.tel.last_playback()[2].endswith("/enter_pin"))

    def keys(self, cid, digits):
        for d in digits:
            self.send("ChannelDtmfReceived", cid, digit=d)


@pytest.fixture
def fast_config(config):
    config["ivr"].update(pin_first_digit_timeout=0.3, pin_inter_digit_timeout=0.3)
    config["acd"]["ring_timeout"] = 0.3
    return config


def rows(db, model, **where):
    factory, _ = db
    with factory() as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list(s.scalars(q))


async def test_valid_pin_reaches_agent_and_call_is_answered(fast_config, call_center, db, bus):
    fast_config["acd"]["ring_timeout"] = 5
    pops = []
    bus.subscribe(events.SCREENPOP, lambda _t, p: pops.append(p))
    call_center.set_agent_state(1, "ready")
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in(name='<img src=x onerror=alert(1)>')
        h.keys("c1", "100100#")
        await h.until(lambda: h.tel.named("originate"))
        assert pops and pops[0]["agent_id"] == 1, "pop must be sent before the phone rings"
        (_, leg, endpoint, args, caller_id) = h.tel.named("originate")[0]
        assert endpoint == "PJSIP/1001" and args == "agent,c1"
        assert "<img src=x onerror=alert(1)>" in caller_id
        h.send("StasisStart", leg, args=("agent", "c1"))
        await h.until(lambda: h.tel.named("bridge"))
        await h.until(lambda: rows(db, User, id=1)[0].state == "talking")
        h.send("StasisEnd", "c1")
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()
    assert ("hangup", leg) in h.tel.ops
    (call,) = rows(db, CallRecord)
    assert call.outcome == "answered"
    (ticket,) = rows(db, Ticket)
    assert ticket.customer_id is not None and ticket.status == "in_progress"
    assert rows(db, User, id=1)[0].state == "ready"


async def test_three_wrong_pins_still_open_a_ticket_and_queue(fast_config, call_center, db):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        for attempt in range(3):
            h.keys("c1", "999#")
            if attempt < 2:
                await h.finish_prompt("c1", "invalid_pin")
                await h.until(lambda: h.tel.last_playback()[2].endswith("/enter_pin"))
        await h.until(lambda: h.tel.last_playback()[2].endswith("/pin_failed"))
        (ticket,) = rows(db, Ticket)
        assert ticket.customer_id is None and ticket.status == "queued"
        assert "c1" in h.dispatcher.queue
        h.send("StasisEnd", "c1")
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()
    (call,) = rows(db, CallRecord)
    assert call.outcome == "abandoned" and call.wait_seconds is not None


async def test_silence_times_out_to_an_agent(fast_config, call_center, db):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        await h.until(lambda: rows(db, Ticket), timeout=5)
        tg.cancel_scope.cancel()
    (ticket,) = rows(db, Ticket)
    assert ticket.customer_id is None


async def test_star_switches_language(fast_config, call_center):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        h.keys("c1", "*")
        await h.until(lambda: h.tel.last_playback()[2] == "sound:happycall/en/enter_pin")
        tg.cancel_scope.cancel()


async def test_unanswered_agent_goes_not_ready_and_next_agent_gets_the_call(fast_config, call_center, db):
    call_center.set_agent_state(1, "ready")
    call_center.set_agent_state(2, "ready")
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        h.keys("c1", "100200#")
        await h.until(lambda: len(h.tel.named("originate")) == 2, timeout=5)
        first, second = h.tel.named("originate")
        assert first[2] == "PJSIP/1001" and second[2] == "PJSIP/1002"
        assert ("hangup", first[1]) in h.tel.ops
        assert rows(db, User, id=1)[0].state == "not_ready"
        h.send("StasisStart", second[1], args=("agent", "c1"))
        await h.until(lambda: rows(db, User, id=2)[0].state == "talking")
        tg.cancel_scope.cancel()
    kinds = [e.kind for e in rows(db, TicketEvent)]
    assert kinds.count("offered") == 2 and kinds.index("answered") > kinds.index("no_answer")


async def test_handler_exception_hangs_up_and_records(fast_config, call_center, db):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        h.tel.fail_on.add("start_moh")  # harmless: logged, call goes on
        h.tel.fail_on.add("bridge")
        call_center.set_agent_state(1, "ready")
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.until(lambda: h.tel.named("originate"))
        leg = h.tel.named("originate")[0][1]
        h.send("StasisStart", leg, args=("agent", "c1"))
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()
    assert ("hangup", "c1") in h.tel.ops and ("hangup", leg) in h.tel.ops
    (call,) = rows(db, CallRecord)
    assert call.ended_at is not None and call.end_reason == "error"
    assert rows(db, User, id=1)[0].state == "ready"


async def test_resync_ends_calls_whose_channels_vanished(fast_config, call_center, db):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        h.tel.live = set()
        h.handlers._startup_time = "t-before-restart"
        await h.handlers.on_connected(h.tel)
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()
    (call,) = rows(db, CallRecord)
    assert call.outcome == "lost" and call.end_reason == "pbx_lost"
    (ticket,) = rows(db, Ticket)
    assert ticket.status == "abandoned"


async def test_resync_resumes_a_queued_call_left_by_an_earlier_run(fast_config, call_center, db):
    call_center.call_started("old", "010", "Old caller", "1600", "ko")
    call_center.open_ticket("old", None, "", "ko")
    call_center.enqueue("old", "helpdesk")
    call_center.call_started("gone", "011", "Gone caller", "1600", "ko")
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        h.tel.live = {"old", "stray"}
        await h.handlers.on_connected(h.tel)
        await h.until(lambda: "old" in h.dispatcher.queue)
        assert ("hangup", "stray") in h.tel.ops
        tg.cancel_scope.cancel()
    gone = rows(db, CallRecord, channel_id="gone")[0]
    assert gone.ended_at is not None and gone.outcome == "lost"


async def test_unknown_stasis_channel_is_hung_up(fast_config, call_center):
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        h.send("StasisStart", "weird", args=("nonsense",))
        await h.until(lambda: ("hangup", "weird") in h.tel.ops)
        tg.cancel_scope.cancel()


# ---- the caller describes the problem: external media into the analyzer ----------------

class FakeAnalysis:
    def __init__(self, fed):
        self.status = "ok"
        self.reason = ""
        self.transcript = f"{len(fed)} bytes"
        self.words = [{"word": "고장", "start": 0.5, "end": 0.9, "conf": 0.95}]
        self.model = "fake"
        self.suggestions = [{"code": "N02", "score": 0.9, "evidence": {"words": ["고장"]}}]


class FakeAnalyzer:
    def __init__(self):
        self.fed = bytearray()
        self.baselines = []

    def session(self, sample_rate=8000, baseline=None):
        analyzer = self
        self.baselines.append(baseline)

        class Session:
            def feed(self, pcm):
                analyzer.fed += pcm

            def finish(self):
                return FakeAnalysis(bytes(analyzer.fed))
        return Session()


def rtp_packets(pcm_le: bytes, seq0=1):
    import struct
    from array import array
    out = []
    for i in range(0, len(pcm_le), 320):
        be = array("h", pcm_le[i:i + 320])
        be.byteswap()
        out.append(struct.pack("!BBHII", 0x80, 118, seq0 + i // 320, i // 2, 1234) + be.tobytes())
    return out


async def test_description_is_streamed_to_the_analyzer_and_stored(fast_config, call_center, db):
    import math
    import socket
    import struct

    from ivr.capture import ListenSettings
    from ivr.speech import SpeechAnalysis

    stored = []
    analyzer = FakeAnalyzer()
    earlier = {"duration_s": 2.0, "voiced_s": 1.5, "f0_median_hz": 110.0, "f0_p10_hz": 100.0,
               "f0_p90_hz": 120.0, "f0_spread_st": 1.0, "loudness_dbfs": -25.0}
    histories = []
    speech = SpeechAnalysis(analyzer, lambda ticket_id, **rec: stored.append((ticket_id, rec)),
                            ListenSettings(max_seconds=5, no_speech_seconds=3, end_silence_ms=400),
                            voice_history=lambda ticket_id: histories.append(ticket_id) or [earlier])
    # one second of a loud 200 Hz tone, then silence: the caller spoke, then stopped
    tone = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 200 * n / 8000))) for n in range(8000))
    audio = tone + b"\0\0" * 8000
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, speech=speech)
        h.tel.bridge_not_ready = 2  # the media channel is not in the application yet, twice
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.finish_prompt("c1", "describe_problem")
        await h.until(lambda: h.tel.named("external_media"))
        (_, media_id, host, fmt) = h.tel.named("external_media")[0]
        assert fmt == "slin" and host.startswith("127.0.0.1:")
        await h.until(lambda: len(h.tel.named("add_to_bridge")) == 2)   # created once, then joined again
        assert len(h.tel.named("bridge")) == 1
        assert h.tel.named("add_to_bridge")[-1][2] == ("c1", media_id)
        h.send("StasisStart", media_id)  # the media channel enters the app: routed to the call, not hung up
        port = int(host.rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for packet in rtp_packets(audio):
                udp.sendto(packet, ("127.0.0.1", port))
                await anyio.sleep(0.001)
        await h.until(lambda: "c1" in h.dispatcher.queue, timeout=5)
        tg.cancel_scope.cancel()
    assert ("hangup", media_id) in h.tel.ops
    assert stored and stored[0][1]["status"] == "ok"
    assert stored[0][1]["suggestions"][0]["code"] == "N02"
    assert bytes(analyzer.fed[:16000]) == tone[:16000], "audio reaches the analyzer in order, little endian"
    # The caller's earlier voice is the session's baseline.
    assert histories == [stored[0][0]]
    (baseline,) = analyzer.baselines
    assert [p.f0_median_hz for p in baseline] == [110.0]
    (ticket,) = rows(db, Ticket)
    assert stored[0][0] == ticket.id


async def test_without_a_model_the_step_is_skipped_and_the_reason_stored(fast_config, call_center):
    from ivr.capture import ListenSettings
    from ivr.speech import SpeechAnalysis

    stored = []
    speech = SpeechAnalysis(None, lambda ticket_id, **rec: stored.append(rec), ListenSettings(),
                            unavailable_reason="model not found: /nowhere")
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg, speech=speech)
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.until(lambda: "c1" in h.dispatcher.queue)
        tg.cancel_scope.cancel()
    assert stored == [{"status": "failed", "reason": "model not found: /nowhere", "transcript": "",
                       "words": [], "model": "", "suggestions": []}]
    assert not h.tel.named("external_media")


async def test_agent_leg_gone_before_the_bridge_is_a_missed_offer_and_the_caller_waits(fast_config, call_center, db):
    fast_config["acd"]["ring_timeout"] = 5
    call_center.set_agent_state(1, "ready")
    async with anyio.create_task_group() as tg:
        h = Harness(fast_config, call_center, tg)
        await h.dial_in()
        h.keys("c1", "100100#")
        await h.until(lambda: h.tel.named("originate"))
        (_, leg, *_rest) = h.tel.named("originate")[0]
        h.tel.bridge_not_ready = 1       # Asterisk: the agent's channel is gone already
        h.send("StasisStart", leg, args=("agent", "c1"))
        await h.until(lambda: rows(db, User, id=1)[0].state == "not_ready")
        assert rows(db, User, id=1)[0].state_reason == "missed_call"
        await h.until(lambda: "c1" in h.dispatcher.queue and h.dispatcher.queue.get("c1").offered_to is None)
        assert ("hangup", "c1") not in [op[:2] for op in h.tel.ops], "the caller is not hung up"
        (call,) = rows(db, CallRecord)
        assert call.outcome == "queued" and call.answered_at is None
        tg.cancel_scope.cancel()
