"""Early warning (docs/alarms.md), without Flask or Asterisk: the webhook rules
(HMAC signature, payload validation, merge window), AlarmService on a seeded
SQLite database (merge instead of repeat, raised once, acknowledge/close by
supervisors only, voice-alert targets, hot line), the migration, and the ARI
side of the voice alert and the hot line on a fake telephony port."""
from __future__ import annotations

import datetime as dt
import json

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy import select, update

from cti import alarms
from cti.alarms import (ALARM_CLOSED, ALARM_RAISED, ALARM_UPDATED, CONTACT_CALL, AlarmInput, AlarmInputError,
                        AlarmNotAllowed, AlarmService, AlarmStateError, parse_payload, sign, signature_valid)
from db.models import Alarm, User

SECRET = "s3cret-shared"


def body(**fields) -> bytes:
    base = {"source": "nms", "id": "link-7", "system": "network", "severity": "major",
            "title": "Core switch down"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


# ---- signature ---------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_the_body():
    import hashlib
    import hmac

    data = body()
    expected = "sha256=" + hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    assert sign(SECRET, data) == expected
    assert signature_valid(SECRET, data, expected)
    assert signature_valid(SECRET, data, "  " + expected + " ")


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha256=00", "deadbeef", "sha1=abc",
                                    "sha256=" + "0" * 64, "\u00e9\u00e9"])
def test_wrong_or_missing_signature_is_refused(header):
    assert not signature_valid(SECRET, body(), header)


def test_signature_of_another_body_or_secret_is_refused():
    assert not signature_valid(SECRET, body(title="other"), sign(SECRET, body()))
    assert not signature_valid(SECRET, body(), sign("another", body()))


def test_no_configured_secret_accepts_nothing():
    assert not signature_valid("", body(), sign("", body()))


# ---- payload -------------------------------------------------------------------------------------
def test_valid_payload_becomes_an_alarm_input():
    alarm = parse_payload(body(severity="CRITICAL", detail="line 1\nline 2\tx", contact="+8225550100", id=42))
    assert alarm == AlarmInput(source="nms", external_id="42", system="network", severity="critical",
                               title="Core switch down", detail="line 1\nline 2\tx", contact_number="+8225550100")
    assert alarm.alerting
    assert not parse_payload(body(severity="minor")).alerting


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "JSON object"),
    (body(source=None), "source: required"),
    (body(source="   "), "source: required"),
    (body(source="bad source!"), "source: letters"),
    (body(system=None), "system: required"),
    (body(title=None), "title: required"),
    (body(severity="urgent"), "severity: one of minor, major, critical"),
    (body(severity=3), "severity: must be a string"),
    (body(title=["x"]), "title: must be a string"),
    (body(title="x" * 201), "title: at most 200"),
    (body(detail="y" * 4001), "detail: at most 4000"),
    (body(title="bell\x07"), "title: control characters"),
    (body(title="two\nlines"), "title: control characters"),
    (body(contact="call me"), "contact: a phone number"),
    (body(id=True), "id: must be a string"),
    (body(colour="red"), "unknown field(s): colour"),
])
def test_malformed_payload_says_why(raw, reason):
    with pytest.raises(AlarmInputError) as exc:
        parse_payload(raw)
    assert reason in str(exc.value)


def test_merge_window_rules():
    now = dt.datetime(2026, 11, 25, 12, 0)
    window = dt.timedelta(minutes=10)
    inp = parse_payload(body())
    assert alarms.merges_with("nms", "link-7", now - dt.timedelta(minutes=10), False, inp, now, window)
    assert not alarms.merges_with("nms", "link-7", now - dt.timedelta(minutes=10, seconds=1), False, inp, now,
                                  window)
    assert not alarms.merges_with("nms", "link-7", now, True, inp, now, window)          # closed
    assert not alarms.merges_with("dbmon", "link-7", now, False, inp, now, window)       # other source
    assert not alarms.merges_with("nms", "link-8", now, False, inp, now, window)
    no_id = parse_payload(body(id=None))
    assert not alarms.merges_with("nms", "", now, False, no_id, now, window)             # no id: never merged
    assert alarms.worse("minor", "critical") == "critical" and alarms.worse("major", "minor") == "major"


# ---- service ---------------------------------------------------------------------------------------
@pytest.fixture
def published(bus):
    seen: list[tuple[str, dict]] = []
    for topic in (ALARM_RAISED, ALARM_UPDATED, ALARM_CLOSED, CONTACT_CALL):
        bus.subscribe(topic, lambda t, p: seen.append((t, p)))
    return seen


@pytest.fixture
def service(db, bus, clock):
    factory, _ = db
    return AlarmService(factory, bus, merge_minutes=10, clock=clock)


def uid(db, username):
    factory, _ = db
    with factory() as s:
        return s.scalar(select(User.id).where(User.username == username))


def topics(published):
    return [t for t, _ in published]


def test_major_alarm_is_stored_and_raised_once_repeats_are_merged(service, published, clock, db):
    first = service.receive(parse_payload(body()))
    assert first.raised and not first.merged
    clock.advance(300)
    again = service.receive(parse_payload(body(detail="still down")))
    clock.advance(300)
    third = service.receive(parse_payload(body()))
    assert again.alarm_id == third.alarm_id == first.alarm_id
    assert again.merged and not again.raised and third.merged
    assert topics(published) == [ALARM_RAISED, ALARM_UPDATED, ALARM_UPDATED]
    row = service.get(first.alarm_id)
    assert row["repeat_count"] == 3 and row["detail"] == "still down"
    assert row["last_received_at"] == (clock.now.isoformat() + "Z")
    factory, _ = db
    with factory() as s:
        assert s.scalar(select(sa.func.count()).select_from(Alarm)) == 1


def test_after_the_window_or_when_closed_the_same_id_is_a_new_alarm(service, published, clock, db):
    first = service.receive(parse_payload(body()))
    clock.advance(10 * 60 + 1)
    later = service.receive(parse_payload(body()))
    assert later.alarm_id != first.alarm_id and later.raised
    service.close(later.alarm_id, uid(db, "super"))
    reopened = service.receive(parse_payload(body()))
    assert reopened.alarm_id not in (first.alarm_id, later.alarm_id) and reopened.raised
    assert topics(published) == [ALARM_RAISED, ALARM_RAISED, ALARM_CLOSED, ALARM_RAISED]


def test_minor_alarm_is_kept_quietly_until_a_repeat_makes_it_major(service, published):
    minor = service.receive(parse_payload(body(severity="minor")))
    assert not minor.raised and published == []
    assert service.open_alarms() == []                      # the banner shows major ones only
    worse = service.receive(parse_payload(body(severity="critical")))
    assert worse.merged and worse.raised and worse.alarm_id == minor.alarm_id
    assert topics(published) == [ALARM_RAISED]
    assert [a["severity"] for a in service.open_alarms()] == ["critical"]
    # a later minor repeat does not lower it and does not raise again
    service.receive(parse_payload(body(severity="minor")))
    assert service.get(minor.alarm_id)["severity"] == "critical"
    assert topics(published) == [ALARM_RAISED, ALARM_UPDATED]


def test_alarms_without_an_id_are_never_merged(service, published):
    a = service.receive(parse_payload(body(id=None)))
    b = service.receive(parse_payload(body(id=None)))
    assert a.alarm_id != b.alarm_id and a.raised and b.raised


def test_acknowledge_and_close_are_for_supervisors_only(service, published, db, clock):
    alarm_id = service.receive(parse_payload(body())).alarm_id
    for username in ("agent1", "trainee1"):
        with pytest.raises(AlarmNotAllowed):
            service.acknowledge(alarm_id, uid(db, username))
        with pytest.raises(AlarmNotAllowed):
            service.close(alarm_id, uid(db, username))
    assert service.get(alarm_id)["acknowledged_at"] is None and service.get(alarm_id)["open"]
    clock.advance(60)
    view = service.acknowledge(alarm_id, uid(db, "super"))
    assert view["acknowledged_at"] == clock.now.isoformat() + "Z" and view["acknowledged_by"]
    assert service.open_alarms()[0]["acknowledged_by"] == view["acknowledged_by"]   # still shown
    closed = service.close(alarm_id, uid(db, "admin"))
    assert not closed["open"] and service.open_alarms() == []
    with pytest.raises(AlarmStateError):
        service.close(alarm_id, uid(db, "super"))
    assert topics(published) == [ALARM_RAISED, ALARM_UPDATED, ALARM_CLOSED]


def test_hot_line_state_and_contact_call_request(service, published, db):
    alarm_id = service.receive(parse_payload(body(contact="0255500123"))).alarm_id
    sup = uid(db, "super")
    assert service.active_hotline() is None
    with pytest.raises(AlarmStateError, match="no open hot line"):
        service.request_contact_call(alarm_id, sup, "")
    service.hotline_state(alarm_id, "open", alarms.hotline_bridge_id(alarm_id))
    assert service.active_hotline()["hotline_bridge_id"] == f"hotline-{alarm_id}"
    with pytest.raises(AlarmNotAllowed):
        service.request_contact_call(alarm_id, uid(db, "agent1"), "0255500123")
    with pytest.raises(AlarmInputError, match="phone number"):
        service.request_contact_call(alarm_id, sup, "PJSIP/evil")
    request = service.request_contact_call(alarm_id, sup, "")       # the alarm's own contact
    assert request == {"alarm_id": alarm_id, "bridge_id": f"hotline-{alarm_id}", "number": "0255500123",
                       "by_user_id": sup}
    assert published[-1] == (CONTACT_CALL, request)
    service.close(alarm_id, sup)
    assert service.active_hotline() is None


def test_voice_alert_targets_are_logged_in_agents_with_a_phone_not_on_a_call(service, db):
    factory, _ = db
    with factory.begin() as s:
        s.execute(update(User).values(state="logged_out", phone=""))
        s.execute(update(User).where(User.username == "agent1").values(state="ready", phone="PJSIP/1001"))
        s.execute(update(User).where(User.username == "agent2").values(state="talking", phone="PJSIP/1002"))
        s.execute(update(User).where(User.username == "super").values(state="not_ready", phone="PJSIP/1003"))
        s.execute(update(User).where(User.username == "trainee1").values(state="ready", phone=""))
    assert sorted(t["phone"] for t in service.voice_alert_targets()) == ["PJSIP/1001", "PJSIP/1003"]


def test_migration_creates_and_drops_the_alarms_table(tmp_path):
    from alembic import command

    from db.migrate import alembic_config, upgrade
    from db.session import make_engine

    engine = make_engine({"url": f"sqlite:///{tmp_path / 'm.sqlite3'}", "echo": False})
    upgrade(engine)
    assert "alarms" in sa.inspect(engine).get_table_names()
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "a5e1c0f3b7d2")
    assert "alarms" not in sa.inspect(engine).get_table_names()
    upgrade(engine)                                       # and up again
    assert "alarms" in sa.inspect(engine).get_table_names()
    engine.dispose()


# ---- ARI side (fake telephony) ----------------------------------------------------------------------
class FakeTelephony:
    def __init__(self):
        self.ops: list[tuple] = []
        self.bridges: dict[str, list[str]] = {}

    def named(self, name):
        return [op for op in self.ops if op[0] == name]

    async def answer(self, cid): self.ops.append(("answer", cid))
    async def play(self, cid, media, playback_id, lang=""): self.ops.append(("play", cid, media, playback_id))
    async def hangup(self, cid, reason="normal"): self.ops.append(("hangup", cid))
    async def originate(self, cid, endpoint, app_args, caller_id, timeout):
        self.ops.append(("originate", cid, endpoint, app_args))

    async def create_bridge(self, bid):
        self.ops.append(("create_bridge", bid))
        self.bridges[bid] = []

    async def add_to_bridge(self, bid, cids):
        from ivr.telephony import ChannelGone

        self.ops.append(("add_to_bridge", bid, tuple(cids)))
        if bid not in self.bridges:
            raise ChannelGone("bridges.addChannel: HTTP 400")
        self.bridges[bid].extend(cids)

    async def bridge_channel_ids(self, bid): return list(self.bridges.get(bid, []))
    async def destroy_bridge(self, bid):
        self.ops.append(("destroy_bridge", bid))
        self.bridges.pop(bid, None)


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Harness:
    def __init__(self, config, call_center, service, tg):
        from ivr.app import database_runner
        from ivr.calls import CallRegistry
        from ivr.stasis import StasisHandlers

        self.tel = FakeTelephony()
        self.registry = CallRegistry()

        class NoDispatcher:
            def remove(self, _cid): pass
            def kick(self): pass

        self.handlers = StasisHandlers(config, call_center, NoDispatcher(), self.registry, self.tel, tg.start_soon,
                                       database_runner(2), alarms=service)

    def send(self, type_, cid, **kw):
        from ivr.ari_events import AriEvent

        self.handlers.on_event(AriEvent(type_, channel_id=cid, **kw))

    async def until(self, predicate, timeout=3.0):
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_major_alarm_opens_the_hot_line_and_alerts_free_agents(config, call_center, service, db):
    factory, _ = db
    with factory.begin() as s:
        s.execute(update(User).values(state="logged_out"))
        s.execute(update(User).where(User.username.in_(["agent1", "agent2"])).values(state="ready"))
        s.execute(update(User).where(User.username == "agent1").values(phone="PJSIP/1001"))
        s.execute(update(User).where(User.username == "agent2").values(phone="PJSIP/1002"))
    alarm = service.get(service.receive(parse_payload(body())).alarm_id)
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, service, tg)
        await h.handlers.alarm_raised(alarm)
        bridge = f"hotline-{alarm['id']}"
        assert ("create_bridge", bridge) in h.tel.ops
        assert service.get(alarm["id"])["hotline_state"] == "open"
        await h.until(lambda: len(h.tel.named("originate")) == 2)
        assert sorted(op[2] for op in h.tel.named("originate")) == ["PJSIP/1001", "PJSIP/1002"]
        assert all(op[3] == f"alarm-alert,{alarm['id']}" for op in h.tel.named("originate"))
        # agent1 answers: hears the alert, then is hung up
        leg = next(op[1] for op in h.tel.named("originate") if op[2] == "PJSIP/1001")
        h.send("StasisStart", leg, args=("alarm-alert", str(alarm["id"])))
        await h.until(lambda: h.tel.named("play"))
        (_, cid, media, playback_id), = h.tel.named("play")
        assert cid == leg and "alarm_alert" in media and "alarm_hotline" in media
        h.send("PlaybackFinished", leg, playback_id=playback_id)
        await h.until(lambda: ("hangup", leg) in h.tel.ops)
        h.send("StasisEnd", leg)
        other = next(op[1] for op in h.tel.named("originate") if op[2] == "PJSIP/1002")
        h.send("ChannelDestroyed", other, cause=19)               # agent2 never answered
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()
    factory, _ = db
    with factory() as s:
        assert s.get(Alarm, alarm["id"]).voice_alert_calls == 2


@pytest.mark.anyio
async def test_dialling_the_hot_line_joins_the_bridge_and_closing_hangs_everybody_up(config, call_center, service,
                                                                                     db):
    config["alarms"]["voice_alert"] = False
    alarm = service.get(service.receive(parse_payload(body(contact="0255500123"))).alarm_id)
    bridge = f"hotline-{alarm['id']}"
    async with anyio.create_task_group() as tg:
        h = Harness(config, call_center, service, tg)
        # nobody can join before a hot line is open
        h.send("StasisStart", "early", args=("hotline", "1690"), caller_number="1001")
        await h.until(lambda: h.tel.named("play"))
        assert h.tel.named("play")[0][2].endswith("/hotline_none")
        h.send("PlaybackFinished", "early", playback_id=h.tel.named("play")[0][3])
        await h.until(lambda: ("hangup", "early") in h.tel.ops)
        h.send("StasisEnd", "early")

        await h.handlers.alarm_raised(alarm)
        h.send("StasisStart", "caller-1", args=("hotline", "1690"), caller_number="1001")
        await h.until(lambda: "caller-1" in h.tel.bridges.get(bridge, []))
        assert ("answer", "caller-1") in h.tel.ops
        # the IT contact, called from the desktop
        await h.handlers.call_contact(alarm["id"], bridge, "0255500123")
        await h.until(lambda: h.tel.named("originate"))
        (_, contact_leg, dial, args), = h.tel.named("originate")
        assert dial == config["acd"]["callback_dial"].format(number="0255500123")
        assert args == f"hotline-contact,{alarm['id']}"
        h.send("StasisStart", contact_leg, args=("hotline-contact", str(alarm["id"])))
        await h.until(lambda: contact_leg in h.tel.bridges.get(bridge, []))
        # the bridge was lost (Asterisk restart): the next caller re-creates it
        h.tel.bridges.pop(bridge)
        h.send("StasisStart", "caller-2", args=("hotline", "1690"), caller_number="1002")
        await h.until(lambda: h.tel.bridges.get(bridge) == ["caller-2"])
        h.tel.bridges[bridge] = ["caller-1", contact_leg, "caller-2"]

        closed = service.close(alarm["id"], uid(db, "super"))
        await h.handlers.alarm_closed(closed)
        for cid in ("caller-1", contact_leg, "caller-2"):
            assert ("hangup", cid) in h.tel.ops
            h.send("StasisEnd", cid)
        assert ("destroy_bridge", bridge) in h.tel.ops
        assert service.get(alarm["id"])["hotline_state"] == "closed"
        await h.until(lambda: len(h.registry) == 0)
        tg.cancel_scope.cancel()


def test_dialplan_routes_the_hot_line_extension_from_customers_and_phones(tmp_path):
    from ivr.pbx.instance import ManagedAsterisk

    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules/chan_pjsip.so").touch()
    (root / "usr/sbin").mkdir(parents=True)
    cfg = {"mode": "managed", "root": str(root), "ari_user": "happycall", "ari_password": "pw",
           "app_name": "happycall", "http_port": 18088, "sip_port": 15060, "rtp_start": 31000, "rtp_end": 31099,
           "ars_lines": {"1600": "ko"}}
    dialplan = ManagedAsterisk(cfg, "unit", hotline_extension="1690").render_config()["extensions.conf"]
    customers = dialplan.split("[from-customers]")[1].split("[from-phones]")[0]
    phones = dialplan.split("[from-phones]")[1].split("[default]")[0]
    for context in (customers, phones):
        assert "exten => 1690,1,Stasis(happycall,hotline,${EXTEN})" in context
    plain = ManagedAsterisk(cfg, "unit").render_config()["extensions.conf"]
    assert "hotline" not in plain
    with pytest.raises(ValueError):
        ManagedAsterisk(cfg, "unit", hotline_extension="1690,1,System(rm)")


def test_the_source_clears_its_alarm_by_source_and_id(service, published, clock):
    cleared = parse_payload(b'{"source": "nms", "id": "link-7", "status": "cleared"}')
    assert cleared.cleared and not cleared.alerting
    assert service.clear(cleared) is None                  # nothing open yet: nothing happens
    assert published == []
    alarm_id = service.receive(parse_payload(body())).alarm_id
    clock.advance(3600)                                    # long after the merge window
    assert service.clear(cleared) == alarm_id
    view = service.get(alarm_id)
    assert not view["open"] and view["closed_at"] == clock.now.isoformat() + "Z"
    assert topics(published) == [ALARM_RAISED, ALARM_CLOSED]
    assert service.clear(cleared) is None                  # already closed
    with pytest.raises(AlarmInputError, match="id: required"):
        parse_payload(b'{"source": "nms", "status": "cleared"}')
    with pytest.raises(AlarmInputError, match="status: one of active, cleared"):
        parse_payload(body(status="gone"))
