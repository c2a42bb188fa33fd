"""The happy call's states and dialer on the fake telephony port (no Asterisk):
what is dialled, what the customer hears, which outcome is reported, and that a
session ending without an outcome is settled."""
from __future__ import annotations

import anyio
import pytest

from ivr.app import database_runner
from ivr.flows.happy_call import HappyCallDialer, media_for
from test_ivr_flows import Harness

pytestmark = pytest.mark.anyio

CALL = {"id": 7, "ticket_id": 3, "incident_id": "INC-000042", "kind": "progress",
        "text": "The server is back", "language": "en", "number": "025550101", "attempt": 1}


@pytest.fixture
def anyio_backend():
    return "asyncio"


class FakeService:
    def __init__(self, rows=None):
        self.calls: list[tuple] = []
        self.rows = list(rows or [])

    def finish(self, call_id, outcome, detail=""):
        self.calls.append(("finish", call_id, outcome))
        return "answered" if outcome == "answered" else "messaged"

    def settle_unfinished(self, call_id, detail):
        self.calls.append(("settle", call_id, detail))
        return None

    def claim_due(self, limit):
        self.calls.append(("claim", limit))
        out, self.rows = self.rows[:limit], self.rows[limit:]
        return out


class FakeTexts:
    def __init__(self, works=True):
        self.works = works
        self.spoken: list[tuple] = []
        self.removed: list[str] = []

    def speak(self, name, text, lang):
        if not self.works:
            raise RuntimeError("espeak-ng not installed")
        self.spoken.append((name, text, lang))
        return f"sound:happycall-tts/{name}"

    def remove(self, name):
        self.removed.append(name)


def test_what_the_customer_hears():
    names = [m.rsplit("/", 1)[1] for m in media_for(CALL, "sound:happycall-tts/hc-7-1")]
    assert names == ["happy_greeting", "happy_your_request", "digit_4", "digit_2", "happy_status_progress",
                     "hc-7-1", "happy_goodbye"]
    assert all(m.startswith("sound:happycall/en/") for m in media_for(CALL, None))
    assert [m.rsplit("/", 1)[1] for m in media_for(CALL, None)][-2] == "happy_status_update"
    resolved = [m.rsplit("/", 1)[1] for m in media_for({**CALL, "kind": "resolved", "language": "ko"}, None)]
    assert resolved[-2:] == ["happy_status_resolved", "happy_goodbye"]
    overdue = [m.rsplit("/", 1)[1] for m in media_for({**CALL, "kind": "overdue"}, None)]
    assert overdue[-2:] == ["happy_status_overdue", "happy_goodbye"]


async def place(h, service, texts, ring=5.0):
    finished: list[int] = []
    await h.handlers.place_happy_call(dict(CALL), service, texts, ring, finished.append)
    await h.until(lambda: h.tel.named("originate"))
    (_, leg, endpoint, args, caller_id) = h.tel.named("originate")[0]
    return leg, endpoint, args, caller_id, finished


async def test_answered_call_speaks_the_status_and_hangs_up(config, call_center):
    service, texts = FakeService(), FakeTexts()
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, tg)
        leg, endpoint, args, caller_id, finished = await place(h, service, texts)
        assert endpoint == "PJSIP/025550101" and args == "happycall,7" and "<1600>" in caller_id
        assert texts.spoken == [("hc-7-1", "The server is back", "en")]     # spoken before dialling
        h.send("StasisStart", leg, args=("happycall", "7"))
        await h.until(lambda: h.tel.named("play"))
        (_, on, media, playback_id) = h.tel.named("play")[0]
        assert on == leg and "sound:happycall-tts/hc-7-1" in media and media.endswith("/happy_goodbye")
        assert service.calls == [("finish", 7, "answered")]
        h.send("PlaybackFinished", leg, playback_id=playback_id)
        await h.until(lambda: finished == [7])
        assert ("hangup", leg) in h.tel.ops
        assert texts.removed == ["hc-7-1"]
        assert service.calls[-1][:2] == ("settle", 7)      # a no-op: the outcome was reported
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("cause,outcome", [(17, "busy"), (19, "no_answer"), (21, "no_answer"), (38, "failed")])
async def test_not_answered_reports_the_cause(config, call_center, cause, outcome):
    service = FakeService()
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, tg)
        leg, *_, finished = await place(h, service, None)
        h.send("ChannelDestroyed", leg, cause=cause)
        await h.until(lambda: finished == [7])
        assert service.calls[0] == ("finish", 7, outcome)
        assert not h.tel.named("play")
        tg.cancel_scope.cancel()


async def test_text_that_cannot_be_spoken_leaves_the_fixed_prompts(config, call_center):
    service, texts = FakeService(), FakeTexts(works=False)
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, tg)
        leg, *_, finished = await place(h, service, texts)
        h.send("StasisStart", leg, args=("happycall", "7"))
        await h.until(lambda: h.tel.named("play"))
        media = h.tel.named("play")[0][2]
        assert "happycall-tts" not in media and "/happy_status_update," in media
        tg.cancel_scope.cancel()


async def test_a_session_that_ends_without_an_outcome_is_settled(config, call_center):
    # What the resync does when the ARI connection comes back and the call is gone.
    service = FakeService()
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, tg)
        await place(h, service, FakeTexts())
        [cid] = h.registry.channel_ids()
        h.send("StasisEnd", cid)
        await h.until(lambda: any(c[0] == "settle" for c in service.calls))
        assert service.calls == [("settle", 7, "call ended without an outcome (hangup)")]
        tg.cancel_scope.cancel()


async def test_a_refused_originate_is_a_failed_attempt(config, call_center):
    service = FakeService()
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, tg)
        h.tel.fail_on.add("originate")
        finished: list[int] = []
        await h.handlers.place_happy_call(dict(CALL), service, None, 5.0, finished.append)
        await h.until(lambda: finished == [7])
        assert service.calls[0] == ("finish", 7, "failed")
        tg.cancel_scope.cancel()


async def test_the_dialer_claims_only_when_connected_and_within_the_limit(config):
    rows = [dict(CALL, id=i) for i in (1, 2, 3)]
    service = FakeService(rows)
    placed: list[int] = []
    connected = False

    async def place_call(row):
        if row["id"] == 2:
            raise RuntimeError("no channel")
        placed.append(row["id"])

    dialer = HappyCallDialer(service, place_call, database_runner(1), ready=lambda: connected,
                             poll_seconds=0.05, max_parallel=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(dialer.run)
        await anyio.sleep(0.2)
        assert not [c for c in service.calls if c[0] == "claim"]        # not connected: rows stay queued
        connected = True
        dialer.kick()
        with anyio.fail_after(3):
            while ("settle", 2, "not started: no channel") not in service.calls:
                await anyio.sleep(0.01)
        assert placed == [1] and dialer.active == {1}
        assert ("claim", 2) in service.calls
        await anyio.sleep(0.15)
        assert ("claim", 1) in service.calls and placed == [1, 3]        # one place left
        dialer.finished(1)
        dialer.finished(3)
        assert dialer.active == set()
        tg.cancel_scope.cancel()
