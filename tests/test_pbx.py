"""The project-managed Asterisk: root provisioning, configuration, life cycle, SIPp calls over ARI.

Unit tests need nothing; the ``e2e`` ones start real Asterisk instances from the
sid root (``$HAPPYCALL_TEST_ASTERISK_ROOT`` or ``var/asterisk-root``, built on
first use) and drive them with SIPp.
"""
from __future__ import annotations

import json
import queue
import re
import shutil
import struct
import threading
import time
from pathlib import Path

import httpx
import pytest

from ivr.pbx import instance as pbx_instance
from ivr.pbx.instance import MODULES, ManagedAsterisk
from ivr.pbx.provision import find_mirror, parse_deb822_sources, parse_one_line_sources

try:  # pytest puts tests/ on sys.path (no tests/__init__.py); `python -m pytest` also the repo
    from support.asterisk import managed_asterisk
    from support.sipp import SippCaller, SippPhone, SippRegister, dtmf_block, sip_quote, write_dtmf_pcap
except ImportError:  # pragma: no cover
    from tests.support.asterisk import managed_asterisk
    from tests.support.sipp import SippCaller, SippPhone, SippRegister, dtmf_block, sip_quote, write_dtmf_pcap


# --------------------------------------------------------------------------- mirror parsing
DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_SECURITY_FIRST = """\
Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example.org/debian/
  http://second.example.org/debian
Suites: bookworm
Components: contrib main non-free-firmware
Enabled: yes

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no
"""

ONE_LINE = """\
# a comment
deb-src http://src.example.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/d.gpg] http://ftp.kr.debian.org/debian bookworm main contrib
deb http://other.example.org/debian bookworm main
deb http://nomain.example.org/debian bookworm contrib
"""


def test_parse_deb822_sources():
    assert parse_deb822_sources(DEB822) == ["http://deb.debian.org/debian"]
    assert parse_deb822_sources(DEB822_SECURITY_FIRST) == [
        "http://mirror.example.org/debian/", "http://second.example.org/debian"]
    assert parse_deb822_sources("") == []


def test_parse_one_line_sources():
    assert parse_one_line_sources(ONE_LINE) == ["http://ftp.kr.debian.org/debian",
                                                "http://other.example.org/debian"]


def test_find_mirror_order(tmp_path):
    sources_list = tmp_path / "sources.list"
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    (sources_dir / "b.sources").write_text(DEB822)
    (sources_dir / "a.list").write_text(
        "deb http://security.debian.org/debian-security bookworm-security main\n")
    assert find_mirror(sources_list, sources_dir) == "http://deb.debian.org/debian"
    sources_list.write_text(ONE_LINE)  # sources.list comes first, as for apt
    assert find_mirror(sources_list, sources_dir) == "http://ftp.kr.debian.org/debian"
    with pytest.raises(RuntimeError, match="no Debian archive"):
        find_mirror(tmp_path / "missing", tmp_path / "missing.d")


# --------------------------------------------------------------------------- configuration
@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    mods = root / "usr/lib/x86_64-linux-gnu/asterisk/modules"
    mods.mkdir(parents=True)
    (mods / "chan_pjsip.so").touch()
    (root / "usr/sbin").mkdir(parents=True)
    return root


def _cfg(root, **extra):
    cfg = {"mode": "managed", "root": str(root), "ari_url": "", "ari_user": "happycall", "ari_password": "",
           "app_name": "happycall", "http_port": 18088, "sip_port": 15060, "rtp_start": 31000,
           "rtp_end": 31099, "ars_lines": {"1600": "ko", "1601": "en", "1700": "en"}}
    cfg.update(extra)
    return cfg


def test_render_config(fake_root):
    phones = [{"extension": "1001", "password": "pw;1001"}, {"extension": "1002", "password": "s3cret"}]
    ast = ManagedAsterisk(_cfg(fake_root), "unit", agent_phones=phones)
    files = ast.render_config()
    # generated password, kept for the next start
    assert len(ast.ari_password) >= 24
    assert re.search(rf"^password = {re.escape(ast.ari_password)}$", files["ari.conf"], re.M)
    assert "[happycall]" in files["ari.conf"] and "password_format = plain" in files["ari.conf"]
    assert ManagedAsterisk(_cfg(fake_root), "unit").ari_password == ast.ari_password
    assert (fake_root / "run/happycall/unit/ari_password").stat().st_mode & 0o077 == 0
    # loopback only
    assert "bindaddr = 127.0.0.1" in files["http.conf"] and "bindport = 18088" in files["http.conf"]
    assert "bind = 127.0.0.1:15060" in files["pjsip.conf"]
    for text in files.values():
        assert "0.0.0.0" not in text and "[::]" not in text
    # only listed modules
    modules = files["modules.conf"]
    assert re.search(r"^autoload = no$", modules, re.M)
    loaded = re.findall(r"^load = (\S+)\.so$", modules, re.M)
    assert loaded == list(MODULES)
    for needed in ("res_ari", "res_ari_channels", "app_stasis", "chan_pjsip", "res_pjsip_registrar",
                   "codec_ulaw", "format_wav", "res_http_websocket", "bridge_simple"):
        assert needed in loaded
    # dialplan: one exten per ARS line plus the Korean catch-all
    dialplan = files["extensions.conf"]
    assert "exten => 1600,1,Stasis(happycall,ars,${EXTEN},ko)" in dialplan
    assert "exten => 1601,1,Stasis(happycall,ars,${EXTEN},en)" in dialplan
    assert "exten => 1700,1,Stasis(happycall,ars,${EXTEN},en)" in dialplan
    assert "exten => _X.,1,Stasis(happycall,ars,${EXTEN},ko)" in dialplan
    from_phones = dialplan.split("[from-phones]")[1].split("[default]")[0]
    assert "Stasis" not in from_phones and "Hangup()" in from_phones
    # SIP endpoints
    pjsip = files["pjsip.conf"]
    assert "endpoint_identifier_order = username,ip" in pjsip
    assert "[customers]" in pjsip and "context = from-customers" in pjsip and "match = 127.0.0.1" in pjsip
    assert "[phones]" in pjsip and "context = from-phones" in pjsip
    assert pjsip.count("dtmf_mode = rfc4733") == 4 and pjsip.count("direct_media = no") == 4
    assert "password = pw\\;1001" in pjsip  # ';' escaped, not a comment
    assert "[1002-auth]" in pjsip and "max_contacts = 1" in pjsip and "remove_existing = yes" in pjsip
    assert "rtpstart = 31000" in files["rtp.conf"] and "rtpend = 31099" in files["rtp.conf"]
    # folders inside the chroot
    assert "astdatadir => /run/happycall/unit/data" in files["asterisk.conf"]
    assert "astrundir => /run/happycall/unit/run" in files["asterisk.conf"]
    assert not re.search(r"^runuser", files["asterisk.conf"], re.M)
    assert ast.sip_uri("1600") == "sip:1600@127.0.0.1:15060"
    assert ast.ari_url == "http://127.0.0.1:18088/"


def test_config_rejects_bad_values(fake_root):
    with pytest.raises(ValueError):
        ManagedAsterisk(_cfg(fake_root, ars_lines={"16 00": "ko"}), "unit")
    with pytest.raises(ValueError):
        ManagedAsterisk(_cfg(fake_root, ars_lines={"1600": "ko\n[x]"}), "unit")
    with pytest.raises(ValueError):
        ManagedAsterisk(_cfg(fake_root), "../escape")
    with pytest.raises(ValueError):
        ManagedAsterisk(_cfg(fake_root), "unit", agent_phones=[{"extension": "1001", "password": "a\nb"}]
                        ).render_config()
    configured = ManagedAsterisk(_cfg(fake_root, ari_password="given"), "unit2")
    assert configured.ari_password == "given"


def test_extra_config_only_when_asked(fake_root):
    plain = ManagedAsterisk(_cfg(fake_root), "unit").render_config()
    assert "queues.conf" not in plain and "app_queue" not in plain["modules.conf"]
    assert "extra configuration" not in plain["extensions.conf"]
    extra = {"extensions.conf": "[from-customers](+)\nexten => 1700,1,Queue(bench)",
             "queues.conf": "[bench]\nstrategy = leastrecent"}
    files = ManagedAsterisk(_cfg(fake_root), "unit", extra_config=extra,
                            extra_modules=["app_queue", "app_read", "chan_pjsip"]).render_config()
    # appended after the generated dialplan, which is unchanged
    assert files["extensions.conf"].startswith(plain["extensions.conf"].rstrip("\n"))
    assert files["extensions.conf"].rstrip().endswith("exten => 1700,1,Queue(bench)")
    assert files["queues.conf"] == "[bench]\nstrategy = leastrecent\n"
    loaded = re.findall(r"^load = (\S+)\.so$", files["modules.conf"], re.M)
    assert loaded == list(MODULES) + ["app_queue", "app_read"]   # no module twice
    assert files["pjsip.conf"] == plain["pjsip.conf"]
    for bad in ({"../x.conf": ""}, {"queues.txt": ""}, {"queues.conf": "a\0b"}):
        with pytest.raises(ValueError):
            ManagedAsterisk(_cfg(fake_root), "unit", extra_config=bad)
    with pytest.raises(ValueError):
        ManagedAsterisk(_cfg(fake_root), "unit", extra_modules=["app_queue.so; rm"])


def test_copy_prompts(fake_root, tmp_path):
    prompts = tmp_path / "prompts"
    (prompts / "generated/ko").mkdir(parents=True)
    (prompts / "generated/ko/greeting.wav").write_bytes(b"generated")
    (prompts / "generated/ko/goodbye.wav").write_bytes(b"generated")
    (prompts / "ko").mkdir()
    (prompts / "ko/greeting.wav").write_bytes(b"recorded")
    ast = ManagedAsterisk(_cfg(fake_root), "unit", prompts_dir=prompts)
    ast.sounds_dir.mkdir(parents=True)
    ast.moh_dir.mkdir(parents=True)
    ast._copy_prompts()
    assert (ast.sounds_dir / "happycall/ko/greeting.wav").read_bytes() == b"recorded"
    assert (ast.sounds_dir / "happycall/ko/goodbye.wav").read_bytes() == b"generated"


def test_sipp_helpers(tmp_path):
    assert sip_quote('<img src=x onerror=alert(1)> "q" \\') == '<img src=x onerror=alert(1)> \\"q\\" \\\\'
    pcap = tmp_path / "dtmf.pcap"
    seconds = write_dtmf_pcap(pcap, "1001#*")
    assert 1.0 < seconds < 3.0 and pcap.stat().st_size > 1000
    assert 'play_pcap_audio="/x/dtmf.pcap"' in dtmf_block("/x/dtmf.pcap", seconds)
    with pytest.raises(ValueError):
        write_dtmf_pcap(pcap, "1x")
    caller = SippCaller("sip:1600@127.0.0.1:5060", digits="12#")
    assert caller.remote == "127.0.0.1:5060" and caller.service == "1600"
    text = caller._scenario()
    assert "@" not in re.sub(r"\]@\[|@\[", "", text.split("-->", 1)[1])
    caller.cleanup()
    phone = SippPhone(mode="noanswer")
    assert phone.dial_string() == f"PJSIP/phones/sip:1001@127.0.0.1:{phone.port}"
    phone.cleanup()


# --------------------------------------------------------------------------- end to end
needs_tools = pytest.mark.skipif(not (shutil.which("sipp") and shutil.which("unshare")),
                                 reason="needs sipp (sip-tester) and unshare")


class AriEvents:
    """The ARI event websocket of one application, read by a thread into a queue."""

    def __init__(self, ast: ManagedAsterisk, app: str) -> None:
        self.url = (f"ws://127.0.0.1:{ast.http_port}/ari/events?app={app}"
                    f"&api_key={ast.ari_user}:{ast.ari_password}")
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.ws = None
        self.error: BaseException | None = None
        self._opened = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ari-events", daemon=True)
        self.thread.start()
        if not self._opened.wait(10) or self.ws is None:
            self.close()
            raise AssertionError(f"ARI websocket did not open: {self.error!r}")

    def _run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self.url, open_timeout=10, close_timeout=2) as ws:
                self.ws = ws
                self._opened.set()
                for message in ws:
                    self.events.put(json.loads(message))
        except Exception as exc:  # noqa: BLE001 - closed, or could not connect
            self.error = exc
        finally:
            self._opened.set()

    def wait_for(self, pred, timeout: float = 10.0, what: str = "event") -> dict:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if pred(event):
                self.seen.remove(event)
                return event
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(event):
                return event
            self.seen.append(event)
        got = [(e.get("type"), e.get("channel", {}).get("name")) for e in self.seen]
        raise AssertionError(f"no {what} within {timeout} s; got: {json.dumps(got)}")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    with open("/proc/mounts") as fh:
        return [line.split()[1] for line in fh if line.split()[1].startswith(prefix)]


@pytest.fixture(scope="module")
def ast():
    if not (shutil.which("sipp") and shutil.which("unshare")):
        pytest.skip("needs sipp (sip-tester) and unshare")
    phones = [{"extension": "1001", "password": "agent-1001-pw"}]
    with managed_asterisk("pbx-e2e", agent_phones=phones) as instance:
        yield instance
    assert not instance.is_running()


@pytest.fixture
def ari(ast):
    with httpx.Client(base_url=ast.ari_url + "ari", auth=ast.auth, timeout=10) as client:
        yield client


@pytest.mark.e2e
@needs_tools
def test_ari_credentials(ast):
    url = ast.ari_url + "ari/asterisk/info"
    ok = httpx.get(url, auth=ast.auth, timeout=5)
    assert ok.status_code == 200 and "system" in ok.json()
    assert httpx.get(url, auth=(ast.ari_user, "wrong-" + ast.ari_password), timeout=5).status_code == 401
    assert httpx.get(url, timeout=5).status_code == 401
    # ARI's own description (asyncari reads it) is served from the root's rest-api folder
    assert httpx.get(ast.ari_url + "ari/api-docs/resources.json", auth=ast.auth, timeout=5).status_code == 200


@pytest.mark.e2e
@needs_tools
def test_modules_loaded_and_clean_log(ast):
    listing = ast.cli("module show like res_ari")
    for name in ("res_ari.so", "res_ari_channels.so", "res_ari_bridges.so", "res_ari_events.so"):
        assert name in listing
    everything = ast.cli("module show")
    running = set(re.findall(r"^(\S+)\.so\s.*\bRunning\b", everything, re.M))
    assert set(MODULES) <= running, f"not running: {sorted(set(MODULES) - running)}"
    assert not set(running) - set(MODULES), "autoload=no must load nothing else"
    errors = [line for line in ast.log_since_start().splitlines() if " ERROR[" in line or " WARNING[" in line]
    assert not errors, "\n".join(errors)
    assert "happycall" in ast.cli("core show settings")  # the -C config of this instance
    sounds = ast.sounds_dir / "happycall"
    assert (sounds / "ko/greeting.wav").is_file() and (sounds / "en/enter_pin.wav").is_file()
    assert list(ast.moh_dir.glob("*.wav"))
    # only loopback sockets for SIP and HTTP
    endpoints = ast.cli("pjsip show transports")
    assert f"127.0.0.1:{ast.sip_port}" in endpoints


@pytest.mark.e2e
@needs_tools
def test_call_into_stasis_agent_dial_and_dtmf(ast, ari):
    display = '<img src=x onerror=alert(1)> "Kim" 홍길동'
    events = AriEvents(ast, ast.app_name)
    phone = SippPhone(mode="answer", ring_seconds=0.3, talk_seconds=20)
    caller = SippCaller(ast.sip_uri("1600"), digits="1001#", display_name=display,
                        caller_number="01012345678", pause_before_digits=1.5, hold_seconds=15)
    try:
        phone.start()
        caller.start()
        start = events.wait_for(lambda e: e["type"] == "StasisStart", 10, "StasisStart of the caller")
        channel = start["channel"]
        assert start["args"] == ["ars", "1600", "ko"], start
        assert channel["caller"]["number"] == "01012345678"
        # Asterisk keeps the quoted-string's backslash escapes in the caller name
        assert channel["caller"]["name"] == display.replace('"', '\\"'), channel["caller"]
        assert channel["dialplan"]["exten"] == "1600"
        assert channel["name"].startswith("PJSIP/customers-")
        assert ari.post(f"/channels/{channel['id']}/answer").status_code == 204

        # dial the agent's phone at its fixed URI through the `phones` endpoint
        resp = ari.post("/channels", params={
            "endpoint": phone.dial_string("1001"), "app": ast.app_name, "appArgs": "agent",
            "callerId": "HappyCall <1600>", "timeout": 10})
        assert resp.status_code == 200, resp.text
        agent_id = resp.json()["id"]
        up = events.wait_for(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == agent_id, 10,
                             "StasisStart of the agent channel")
        assert up["args"] == ["agent"] and up["channel"]["state"] == "Up"

        bridge = ari.post("/bridges", params={"type": "mixing"}).json()
        assert ari.post(f"/bridges/{bridge['id']}/addChannel",
                        params={"channel": f"{channel['id']},{agent_id}"}).status_code == 204

        digits = ""
        while len(digits) < 5:
            ev = events.wait_for(lambda e: e["type"] == "ChannelDtmfReceived", 10, f"DTMF after {digits!r}")
            assert ev["channel"]["id"] == channel["id"]
            digits += ev["digit"]
        assert digits == "1001#"

        # the application hangs up: both SIPp ends get a BYE and end successfully
        assert ari.delete(f"/channels/{channel['id']}").status_code == 204
        assert ari.delete(f"/channels/{agent_id}").status_code == 204
        assert caller.wait(15) == 0, caller.logs()
        assert phone.wait(15) == 0, phone.logs()
        assert "BYE sip:" in caller.messages()
        ari.delete(f"/bridges/{bridge['id']}")
        # the display name went out as a SIP quoted-string
        assert 'From: "<img src=x onerror=alert(1)> \\"Kim\\" 홍길동" <sip:01012345678@' in caller.messages()
    finally:
        caller.stop()
        phone.stop()
        events.close()
    caller.cleanup()
    phone.cleanup()


@pytest.mark.e2e
@needs_tools
def test_caller_hangs_up_in_queue_and_phone_not_answering(ast, ari):
    events = AriEvents(ast, ast.app_name)
    phone = SippPhone(mode="noanswer", ring_seconds=10)
    caller = SippCaller(ast.sip_uri("1601"), digits="", pause_before_digits=0.2, hold_seconds=1.5)
    try:
        phone.start()
        caller.start()
        start = events.wait_for(lambda e: e["type"] == "StasisStart", 10, "StasisStart")
        assert start["args"] == ["ars", "1601", "en"]
        ari.post(f"/channels/{start['channel']['id']}/answer")
        resp = ari.post("/channels", params={"endpoint": phone.dial_string(), "app": ast.app_name,
                                             "appArgs": "agent", "timeout": 10})
        agent_id = resp.json()["id"]
        events.wait_for(lambda e: e["type"] == "ChannelStateChange" and e["channel"]["id"] == agent_id
                        and e["channel"]["state"] == "Ringing", 10, "agent ringing")
        # the caller gives up while the agent phone rings
        events.wait_for(lambda e: e["type"] == "StasisEnd" and e["channel"]["id"] == start["channel"]["id"],
                        10, "StasisEnd of the caller")
        assert caller.wait(10) == 0, caller.logs()
        # the application cancels the ringing agent call
        assert ari.delete(f"/channels/{agent_id}").status_code == 204
        assert phone.wait(10) == 0, phone.logs()
        assert "CANCEL sip:" in phone.messages()
    finally:
        caller.stop()
        phone.stop()
        events.close()
    caller.cleanup()
    phone.cleanup()


def _rms(path: Path) -> float:
    import wave
    with wave.open(str(path), "rb") as wav:
        data = wav.readframes(wav.getnframes())
    samples = [v for (v,) in struct.iter_unpack("<h", data)]
    return (sum(v * v for v in samples) / max(1, len(samples))) ** 0.5


@pytest.mark.e2e
@needs_tools
def test_caller_audio_is_recorded_and_prompt_played(ast, ari):
    """The caller's voice (RTP from a pcap) reaches Asterisk; our prompt plays to the caller."""
    greeting = ast.sounds_dir / "happycall/en/greeting.wav"
    events = AriEvents(ast, ast.app_name)
    caller = SippCaller(ast.sip_uri("1601"), audio_wav=greeting, keep_rtp=True,
                        pause_before_digits=0.2, hold_seconds=8)
    try:
        caller.start()
        start = events.wait_for(lambda e: e["type"] == "StasisStart", 10, "StasisStart")
        chan = start["channel"]["id"]
        ari.post(f"/channels/{chan}/answer")
        resp = ari.post(f"/channels/{chan}/record", params={"name": "pbx-e2e-voice", "format": "wav",
                                                            "maxDurationSeconds": 2, "ifExists": "overwrite"})
        assert resp.status_code == 201, resp.text
        events.wait_for(lambda e: e["type"] == "RecordingFinished", 10, "RecordingFinished")
        resp = ari.post(f"/channels/{chan}/play", params={"media": "sound:happycall/en/greeting"})
        assert resp.status_code == 201, resp.text
        finished = events.wait_for(lambda e: e["type"] == "PlaybackFinished", 10, "PlaybackFinished")
        assert finished["playback"]["state"] == "done"
        ari.delete(f"/channels/{chan}")
        assert caller.wait(10) == 0, caller.logs()
    finally:
        caller.cleanup()
        events.close()
    recording = ast.spool_dir / "recording/pbx-e2e-voice.wav"
    assert recording.is_file()
    assert _rms(recording) > 300, "the caller's audio did not reach Asterisk"


@pytest.mark.e2e
@needs_tools
def test_softphone_registers_and_is_dialled(ast, ari):
    """An agent softphone registers as 1001 (identified by user name, not as a customer)
    and is then reachable as PJSIP/1001."""
    events = AriEvents(ast, ast.app_name)
    phone = SippPhone(mode="answer", ring_seconds=0.2, talk_seconds=10)
    wrong = SippRegister(ast.sip_uri("1001"), "1001", "not-the-password", contact_port=phone.port)
    register = SippRegister(ast.sip_uri("1001"), "1001", "agent-1001-pw", contact_port=phone.port)
    try:
        assert wrong.start().wait(15) != 0  # 401 again: the scenario expects 200
        assert register.start().wait(15) == 0, register.logs()
        contacts = ast.cli("pjsip show contacts")
        assert f"1001/sip:1001@127.0.0.1:{phone.port}" in contacts, contacts
        phone.start()
        resp = ari.post("/channels", params={"endpoint": "PJSIP/1001", "app": ast.app_name,
                                             "appArgs": "agent", "timeout": 10})
        assert resp.status_code == 200, resp.text
        agent_id = resp.json()["id"]
        events.wait_for(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == agent_id, 10,
                        "StasisStart of the registered phone's channel")
        assert ari.delete(f"/channels/{agent_id}").status_code == 204
        assert phone.wait(10) == 0, phone.logs()
        unregister = SippRegister(ast.sip_uri("1001"), "1001", "agent-1001-pw", contact_port=phone.port,
                                  expires=0)
        assert unregister.start().wait(15) == 0, unregister.logs()
        assert f"127.0.0.1:{phone.port}" not in ast.cli("pjsip show contacts")
        unregister.cleanup()
        # a new agent phone appears with reload(), without restarting
        ast.reload(agent_phones=[{"extension": "1001", "password": "agent-1001-pw"},
                                 {"extension": "1002", "password": "agent-1002-pw"}])
        deadline = time.monotonic() + 5
        while "1002" not in ast.cli("pjsip show endpoints") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Endpoint:  1002" in ast.cli("pjsip show endpoints")
    finally:
        for proc in (wrong, register, phone):
            proc.cleanup()
        events.close()


@pytest.mark.e2e
@needs_tools
def test_restart_keeps_password_and_stop_cleans_up(ast):
    """A second instance next to the module's one: restart, stop, nothing left behind."""
    with managed_asterisk("pbx-restart", prompts=False) as other:
        assert other.http_port != ast.http_port and other.sip_port != ast.sip_port
        password = other.ari_password
        first_pid = other.pid
        other.restart()
        assert other.ari_password == password and other.pid != first_pid
        assert httpx.get(other.ari_url + "ari/asterisk/info", auth=other.auth, timeout=5).status_code == 200
        again = ManagedAsterisk({"root": str(other.root), "http_port": other.http_port,
                                 "sip_port": other.sip_port}, other.name)
        assert again.ari_password == password and again.is_running()
        pid = other.pid
    assert not other.is_running()
    assert not Path(f"/proc/{pid}").exists()
    assert _mounts_under(other.root) == []
    other.stop()  # idempotent
    # the module instance is untouched
    assert ast.is_running()
    assert httpx.get(ast.ari_url + "ari/asterisk/info", auth=ast.auth, timeout=5).status_code == 200


@pytest.mark.e2e
@needs_tools
def test_no_host_mounts_while_running(ast):
    if pbx_instance.unshare_works():
        assert _mounts_under(ast.root) == []


@pytest.mark.e2e
@needs_tools
def test_log_clean_after_calls(ast):
    """Runs last: the calls above left no warning or error in Asterisk's log
    (but the deliberately failed registration's notice)."""
    bad = [line for line in ast.log_since_start().splitlines() if " ERROR[" in line or " WARNING[" in line]
    assert not bad, "\n".join(bad)


def test_survey_calls_get_answering_machine_detection(tmp_path):
    """[survey-amd] runs AMD() and brings the call back into the application with the
    verdict (docs/surveys.md); amd.conf is written and app_amd loaded."""
    from ivr.pbx.instance import ManagedAsterisk

    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules/chan_pjsip.so").touch()
    (root / "usr/sbin").mkdir(parents=True)
    cfg = {"mode": "managed", "root": str(root), "ari_user": "happycall", "ari_password": "pw",
           "app_name": "hc", "http_port": 18088, "sip_port": 15060, "rtp_start": 31000, "rtp_end": 31099}
    files = ManagedAsterisk(cfg, "unit").render_config()
    amd = files["extensions.conf"].split("[survey-amd]")[1]
    assert "exten => _X!,1,AMD()" in amd
    assert "Stasis(hc,survey-amd,${EXTEN},${AMDSTATUS},${AMDCAUSE})" in amd
    assert "load = app_amd.so" in files["modules.conf"]
    conf = dict(line.split(" = ") for line in files["amd.conf"].splitlines() if " = " in line)
    assert (conf["greeting"], conf["after_greeting_silence"], conf["maximum_number_of_words"]) == ("1500", "800", "3")
