"""One Asterisk instance run by the project from the sid root (see :mod:`ivr.pbx.provision`).

Every instance has its own folder ``ROOT/run/happycall/<name>/`` with its own
configuration, data, spool, database, control socket and logs, so several can
run at once from one root (tests do this), each on its own ports.

Asterisk runs in the foreground as a child process of the Python process::

    unshare --mount --propagation private -- sh -c \\
        'mount --bind /proc ROOT/proc; mount --rbind /dev ROOT/dev;
         exec chroot ROOT /usr/sbin/asterisk -f -C /run/happycall/<name>/etc/asterisk.conf'

The bind mounts live in a private mount namespace: they vanish with the
process and are never visible on the host.  Where ``unshare`` is not possible
the mounts are made on the host instead and removed by :meth:`stop` (when no
other instance of the same root still runs).
"""
from __future__ import annotations

import logging
import math
import os
import re
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import time
import wave
from pathlib import Path
from typing import Any, Iterable, Mapping

import httpx

LOG = logging.getLogger("happycall.pbx")
TEMPLATES = Path(__file__).with_name("templates")
INSTANCES_REL = "run/happycall"
ASTERISK = "/usr/sbin/asterisk"
CONFIG_FILES = ("asterisk.conf", "modules.conf", "http.conf", "ari.conf", "pjsip.conf",
                "extensions.conf", "rtp.conf", "logger.conf", "musiconhold.conf", "amd.conf")
# Small configuration files the core reads at start; present so nothing warns.
STATIC_FILES = {
    "manager.conf": "[general]\nenabled = no\n",
    "cdr.conf": "[general]\nenable = no\n",
    "cel.conf": "[general]\nenable = no\n",
    "features.conf": "[general]\n",
    "ccss.conf": "[general]\n",
    "udptl.conf": "[general]\n",
    "acl.conf": "",
    "dnsmgr.conf": "[general]\nenable = no\n",
    "pjproject.conf": "[startup]\nlog_level = 1\n\n[log_mappings]\ntype = log_mappings\n",
    "sorcery.conf": "",
    "res_stun_monitor.conf": "",
    "codecs.conf": "",
    "websocket_client.conf": "; no outbound websocket connections\n",
    "stasis.conf": "[taskpool]\n\n[declined_message_types]\n",
    "asterisk.adsi": "",
}
# Everything the contact center uses, and nothing else (modules.conf has autoload=no).
MODULES = (
    # SIP stack
    "res_pjproject", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb",
    "res_pjsip", "res_pjsip_session", "res_pjsip_sdp_rtp", "res_pjsip_caller_id",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_registrar", "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_dtmf_info", "res_pjsip_messaging", "res_pjsip_logger", "res_pjsip_pubsub", "chan_pjsip",
    # media
    "res_rtp_asterisk", "res_timing_timerfd", "codec_ulaw", "codec_alaw", "codec_a_mu",
    "format_wav", "format_pcm", "format_sln",
    # ARI
    "res_http_websocket", "res_websocket_client", "res_stasis", "res_stasis_answer", "res_stasis_playback",
    "res_stasis_recording", "res_stasis_snoop", "res_stasis_device_state", "app_stasis",
    "res_ari", "res_ari_model", "res_ari_applications", "res_ari_asterisk", "res_ari_bridges",
    "res_ari_channels", "res_ari_device_states", "res_ari_endpoints", "res_ari_events",
    "res_ari_playbacks", "res_ari_recordings", "res_ari_sounds",
    # bridges (chan_bridge_media: ARI playback/recording on bridges).  NOT bridge_native_rtp:
    # it would pass RTP straight between two bridged channels, and then ARI gets no
    # ChannelDtmfReceived events (nor can Asterisk see the audio) while they talk.
    "bridge_simple", "bridge_softmix", "bridge_holding", "chan_bridge_media",
    # dialplan and the rest
    "pbx_config", "res_musiconhold", "func_channel", "func_callerid",
    "app_playback", "app_echo", "app_senddtmf",
    # answering-machine detection of the survey call ([survey-amd], amd.conf)
    "app_amd",
    # speech recognition (AudioSocket) and external media (chan_rtp)
    "res_audiosocket", "chan_audiosocket", "app_audiosocket", "res_rtp_multicast", "chan_rtp",
)
# Media options of every SIP endpoint the instance writes (also for extra endpoints, see
# ``extra_config``).
MEDIA_OPTIONS = (
    "allow = !all,ulaw,alaw",
    "direct_media = no",
    "rtp_symmetric = yes",
    "dtmf_mode = rfc4733",
    "media_address = 127.0.0.1",
    "bind_rtp_to_media_address = yes",
)
# Modules whose data folder entries are shared read-only from the root's /usr/share/asterisk.
SHARED_DATA = ("documentation", "rest-api", "static-http", "phoneprov", "firmware", "keys", "agi-bin")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EXTEN = re.compile(r"^[0-9*#+]{1,32}$")
_LANG = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_MODULE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CONF_FILE = re.compile(r"^[a-z][a-z0-9_-]{0,63}\.conf$")

_RESERVED_SECTIONS = {"global", "system", "transport-udp", "customers", "customers-identify", "phones"}

_unshare_ok: bool | None = None


def write_hold_music(path: Path, seconds: float = 12.0) -> None:
    """A quiet, slow chime (8 kHz mono 16-bit WAV) used when no music on hold is provided."""
    rate = 8000
    notes = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46)  # C E G E D F A F
    step = seconds / len(notes)
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        k = int(t / step) % len(notes)
        local = t - k * step
        env = min(1.0, local / 0.05) * math.exp(-2.5 * local)
        phase = 2 * math.pi * notes[k] * t
        sample = 0.18 * env * (math.sin(phase) + 0.3 * math.sin(2 * phase))
        frames += struct.pack("<h", int(max(-1.0, min(1.0, sample)) * 32767))
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    os.replace(tmp, path)


class AsteriskStartError(RuntimeError):
    """The managed Asterisk could not be configured or did not come up."""


def _conf_value(value: Any, what: str) -> str:
    """A value safe to write on one line of an Asterisk configuration file."""
    text = str(value)
    if any(c in text for c in "\r\n\0") or text != text.strip():
        raise ValueError(f"{what}: newlines and surrounding blanks are not allowed: {text!r}")
    return text.replace("\\", "\\\\").replace(";", "\\;")


def _check(regex: re.Pattern, value: Any, what: str) -> str:
    text = str(value)
    if not regex.match(text):
        raise ValueError(f"{what}: invalid value {text!r}")
    return text


def _port(value: Any, what: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"{what}: invalid port {value!r}")
    return port


def unshare_works() -> bool:
    """Whether a private mount namespace can be made here (cached)."""
    global _unshare_ok
    if _unshare_ok is None:
        try:
            _unshare_ok = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "true"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _unshare_ok = False
    return _unshare_ok


def _mounted(path: Path) -> bool:
    target = str(path)
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            return any(line.split()[1].replace("\\040", " ") == target for line in fh if line.strip())
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class ManagedAsterisk:
    """Configure, start and stop one Asterisk instance inside the sid root."""

    def __init__(self, asterisk_cfg: Mapping[str, Any], instance_dir_name: str = "happycall",
                 prompts_dir: str | os.PathLike | None = None,
                 log: logging.Logger = LOG,
                 agent_phones: Iterable[Mapping[str, str]] | None = None,
                 extra_config: Mapping[str, str] | None = None,
                 extra_modules: Iterable[str] = (),
                 hotline_extension: str = "") -> None:
        """``extra_config`` and ``extra_modules`` are for tools that need more than the
        contact center (bench/acd_load.py: a dialplan-only IVR with app_queue).  Nothing
        of them is written unless given: ``extra_config`` maps a file name to text that is
        appended to the generated file of that name (``extensions.conf``, ``pjsip.conf``,
        ...) or written as a new file (``queues.conf``); ``extra_modules`` are loaded
        after ``MODULES``.  ``hotline_extension`` (docs/alarms.md): customers and agent
        phones dialling it enter the application with args ``hotline,<exten>``."""
        cfg = dict(asterisk_cfg)
        if not cfg.get("root"):
            raise ValueError("asterisk.root is not set")
        self.root = Path(cfg["root"]).expanduser().resolve()
        self.name = _check(_SAFE_NAME, instance_dir_name, "instance_dir_name")
        self.log = log
        self.prompts_dir = Path(prompts_dir).expanduser().resolve() if prompts_dir else None
        self.app_name = _check(_SAFE_NAME, cfg.get("app_name") or "happycall", "asterisk.app_name")
        self.http_port = _port(cfg.get("http_port", 8088), "asterisk.http_port")
        self.sip_port = _port(cfg.get("sip_port", 5060), "asterisk.sip_port")
        self.rtp_start = _port(cfg.get("rtp_start", 10000), "asterisk.rtp_start")
        self.rtp_end = _port(cfg.get("rtp_end", 10999), "asterisk.rtp_end")
        if self.rtp_end <= self.rtp_start:
            raise ValueError("asterisk.rtp_end must be above asterisk.rtp_start")
        self.ars_lines: dict[str, str] = {
            _check(_EXTEN, num, "asterisk.ars_lines number"):
                _check(_LANG, lang, "asterisk.ars_lines language")
            for num, lang in dict(cfg.get("ars_lines") or {}).items()}
        self.reply_lines: dict[str, str] = {
            _check(_EXTEN, num, "asterisk.reply_lines number"):
                _check(_LANG, lang, "asterisk.reply_lines language")
            for num, lang in dict(cfg.get("reply_lines") or {}).items()}
        self.default_language = "ko"
        self.hotline_extension = _check(_EXTEN, hotline_extension, "alarms.hotline_extension") \
            if hotline_extension else ""
        self.agent_phones = self._check_phones(agent_phones)
        self.extra_config = self._check_extra_config(extra_config)
        self.extra_modules = [_check(_MODULE, m, "extra module") for m in extra_modules
                              if m not in MODULES]
        self.ari_user = _check(_SAFE_NAME, cfg.get("ari_user") or "happycall", "asterisk.ari_user")
        if self.ari_user == "general":
            raise ValueError("asterisk.ari_user cannot be 'general'")
        self.ari_url = f"http://127.0.0.1:{self.http_port}/"

        # folders, as seen on the host (``self.dir``) and inside the chroot (``self.chroot_dir``)
        self.chroot_dir = f"/{INSTANCES_REL}/{self.name}"
        self.dir = self.root / INSTANCES_REL / self.name
        self.etc_dir = self.dir / "etc"
        self.data_dir = self.dir / "data"            # astdatadir
        self.sounds_dir = self.data_dir / "sounds"
        self.moh_dir = self.data_dir / "moh"
        self.varlib_dir = self.dir / "lib"           # astvarlibdir, astdbdir
        self.spool_dir = self.dir / "spool"
        self.run_dir = self.dir / "run"              # astrundir: asterisk.ctl, asterisk.pid
        self.log_dir = self.dir / "log"
        self.cache_dir = self.dir / "cache"

        password = cfg.get("ari_password") or ""
        self._password_file = self.dir / "ari_password"
        self._generated_password = not password
        self.ari_password = str(password) if password else self._stored_password()

        self._proc: subprocess.Popen | None = None
        self._stdout = None
        self._host_mounts: list[Path] = []
        self._messages_offset = 0

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_phones(agent_phones: Iterable[Mapping[str, str]] | None) -> list[dict[str, str]]:
        phones = []
        for p in agent_phones or []:
            ext = _check(_SAFE_NAME, p["extension"], "agent phone extension")
            if ext in _RESERVED_SECTIONS or ext.endswith("-auth"):
                raise ValueError(f"agent phone extension {ext!r} is a reserved name")
            _conf_value(p["password"], f"password of phone {ext}")
            phones.append({"extension": ext, "password": str(p["password"])})
        return phones

    @staticmethod
    def _check_extra_config(extra: Mapping[str, str] | None) -> dict[str, str]:
        out = {}
        for name, text in dict(extra or {}).items():
            _check(_CONF_FILE, name, "extra configuration file name")
            if "\0" in str(text):
                raise ValueError(f"extra configuration {name}: NUL character")
            out[name] = str(text)
        return out

    def _stored_password(self) -> str:
        try:
            text = self._password_file.read_text().strip()
            if text:
                return text
        except OSError:
            pass
        password = secrets.token_urlsafe(24)
        self._write_password(password)
        return password

    def _write_password(self, password: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")

    def _inside(self, path: Path) -> str:
        """The path as seen inside the chroot."""
        return "/" + str(path.relative_to(self.root))

    @property
    def auth(self) -> tuple[str, str]:
        return (self.ari_user, self.ari_password)

    @property
    def config_path(self) -> str:
        """asterisk.conf as seen inside the chroot."""
        return f"{self.chroot_dir}/etc/asterisk.conf"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "asterisk.stdout.log"

    @property
    def messages_log(self) -> Path:
        return self.log_dir / "messages"

    @property
    def pid(self) -> int | None:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return None

    def sip_uri(self, exten: str) -> str:
        return f"sip:{exten}@127.0.0.1:{self.sip_port}"

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.stdout_log, self.messages_log):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(out)

    def log_since_start(self) -> str:
        """The ``messages`` log (notices, warnings, errors) written since the last start()."""
        try:
            with open(self.messages_log, "rb") as fh:
                fh.seek(self._messages_offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def _module_dir(self) -> str:
        for rel in ("usr/lib/x86_64-linux-gnu/asterisk/modules", "usr/lib/aarch64-linux-gnu/asterisk/modules",
                    "usr/lib/asterisk/modules"):
            if (self.root / rel / "chan_pjsip.so").is_file():
                return "/" + rel
        found = sorted(self.root.glob("usr/lib/*/asterisk/modules/chan_pjsip.so"))
        if found:
            return self._inside(found[0].parent)
        raise AsteriskStartError(f"no Asterisk modules found in {self.root}")

    # ------------------------------------------------------------------ configuration
    def render_config(self) -> dict[str, str]:
        """The configuration files of this instance: name -> text (no side effects)."""
        media = "\n".join(MEDIA_OPTIONS)
        phones = []
        for phone in self.agent_phones:
            ext = phone["extension"]
            pw = _conf_value(phone["password"], f"password of phone {ext}")
            phones.append("\n".join((
                f"\n; agent softphone {ext}: registers, dialled as PJSIP/{ext}",
                f"[{ext}]", "type = endpoint", "transport = transport-udp", "context = from-phones",
                media, "message_context = messages-in", f"auth = {ext}-auth", f"aors = {ext}",
                f"\n[{ext}-auth]", "type = auth", "auth_type = userpass",
                f"username = {ext}", f"password = {pw}",
                f"\n[{ext}]", "type = aor", "max_contacts = 1", "remove_existing = yes",
                "qualify_frequency = 0",
            )))
        ars = []
        for number, lang in list(self.ars_lines.items()) + [("_X.", self.default_language)]:
            ars.append(f"exten => {number},1,Stasis({self.app_name},ars,${{EXTEN}},{lang})\n"
                       f" same => n,Hangup()\n")
        # The survey reply lines (docs/sms.md) before the ARS catch-all.
        replies = [f"exten => {number},1,Stasis({self.app_name},reply,${{EXTEN}},{lang})\n"
                   f" same => n,Hangup()\n" for number, lang in self.reply_lines.items()
                   if number not in self.ars_lines]
        origins = [f"http://{host}{port}" for host in ("localhost", "127.0.0.1")
                   for port in ("", f":{self.http_port}")]
        values = {
            "instance": self.name,
            "etc_dir": self._inside(self.etc_dir),
            "mod_dir": self._module_dir(),
            "varlib_dir": self._inside(self.varlib_dir),
            "data_dir": self._inside(self.data_dir),
            "spool_dir": self._inside(self.spool_dir),
            "run_dir": self._inside(self.run_dir),
            "log_dir": self._inside(self.log_dir),
            "cache_dir": self._inside(self.cache_dir),
            "moh_dir": self._inside(self.moh_dir),
            "load_lines": "\n".join(f"load = {m}.so" for m in (*MODULES, *self.extra_modules)),
            "http_port": str(self.http_port),
            "sip_port": str(self.sip_port),
            "rtp_start": str(self.rtp_start),
            "rtp_end": str(self.rtp_end),
            "ari_user": self.ari_user,
            "ari_password": _conf_value(self.ari_password, "asterisk.ari_password"),
            "allowed_origins": ",".join(origins),
            "identifier_order": "username,ip",
            "media_options": media + "\nsend_connected_line = no",
            "agent_phones": "\n".join(phones),
            "app_name": self.app_name,
            "ars_extensions": "\n".join(ars),
            "reply_extensions": "\n".join(replies),
            "hotline_extensions": (f"exten => {self.hotline_extension},1,Stasis({self.app_name},hotline,${{EXTEN}})\n"
                                   f" same => n,Hangup()\n" if self.hotline_extension else ""),
        }
        files = {}
        for name in CONFIG_FILES:
            template = string.Template((TEMPLATES / name).read_text())
            files[name] = template.substitute(values)
        for name, text in STATIC_FILES.items():
            files.setdefault(name, text)
        for name, text in self.extra_config.items():  # only when asked (see __init__)
            if name in CONFIG_FILES:
                files[name] = (files[name].rstrip("\n") + "\n\n; ---- extra configuration given to "
                               "ManagedAsterisk (extra_config)\n" + text.rstrip("\n") + "\n")
            else:
                files[name] = text.rstrip("\n") + "\n"
        indications = self.root / "etc/asterisk/indications.conf"
        if indications.is_file():
            files["indications.conf"] = indications.read_text(errors="replace")
        return files

    def _prepare(self) -> None:
        if not (self.root / ASTERISK.lstrip("/")).is_file():
            raise AsteriskStartError(
                f"{self.root} holds no Asterisk: build it with "
                f"`python -m ivr.pbx.provision --root {self.root}`")
        for d in (self.etc_dir, self.data_dir, self.sounds_dir, self.moh_dir, self.varlib_dir,
                  self.spool_dir, self.run_dir, self.log_dir, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self._generated_password and not self._password_file.is_file():
            self._write_password(self.ari_password)  # e.g. the root was rebuilt meanwhile
        for sub in ("recording", "tmp", "outgoing"):
            (self.spool_dir / sub).mkdir(exist_ok=True)
        for name, text in self.render_config().items():
            path = self.etc_dir / name
            path.write_text(text)
            if name in ("ari.conf", "pjsip.conf"):
                path.chmod(0o600)
        # shared read-only data (ARI's rest-api JSON, XML docs, ...) from the root
        shared = self.root / "usr/share/asterisk"
        for name in SHARED_DATA:
            link = self.data_dir / name
            if (shared / name).exists() and not link.is_symlink() and not link.exists():
                link.symlink_to(f"/usr/share/asterisk/{name}")
        # system sounds (en, en_US_f_Allison, ...) next to our own prompts
        if (shared / "sounds").is_dir():
            for entry in (shared / "sounds").iterdir():
                link = self.sounds_dir / entry.name
                if entry.name != "happycall" and not link.is_symlink() and not link.exists():
                    link.symlink_to(f"/usr/share/asterisk/sounds/{entry.name}")
        self._copy_prompts()
        self._ensure_moh()

    def _copy_prompts(self) -> None:
        """<prompts>/generated/<lang>/*.wav then <prompts>/<lang>/*.wav -> sounds/happycall/<lang>/."""
        target = self.sounds_dir / "happycall"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for old in self.moh_dir.glob("*"):
            if old.is_file():
                old.unlink()
        if not self.prompts_dir or not self.prompts_dir.is_dir():
            return
        copied = 0
        for base in (self.prompts_dir / "generated", self.prompts_dir):
            if not base.is_dir():
                continue
            for lang_dir in sorted(base.iterdir()):
                if not lang_dir.is_dir() or lang_dir.name == "generated":
                    continue
                if lang_dir.name == "moh":
                    dest = self.moh_dir
                elif _LANG.match(lang_dir.name):
                    dest = target / lang_dir.name
                else:
                    continue
                dest.mkdir(parents=True, exist_ok=True)
                for wav in sorted(lang_dir.glob("*.wav")):
                    shutil.copyfile(wav, dest / wav.name)
                    copied += 1
        self.log.debug("copied %d prompt files into %s", copied, target)

    def _ensure_moh(self) -> None:
        """Music on hold needs at least one file: synthesize a soft chime if none was given."""
        if any(self.moh_dir.glob("*.wav")):
            return
        cached = self.dir / "default-hold-music.wav"
        if not cached.is_file():
            write_hold_music(cached)
        shutil.copyfile(cached, self.moh_dir / "happycall-hold.wav")

    # ------------------------------------------------------------------ ports
    def _check_ports_free(self) -> None:
        for port, kind, what in ((self.http_port, socket.SOCK_STREAM, "http_port (ARI, TCP)"),
                                 (self.sip_port, socket.SOCK_DGRAM, "sip_port (SIP, UDP)")):
            with socket.socket(socket.AF_INET, kind) as sock:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise AsteriskStartError(
                        f"asterisk.{what} {port} on 127.0.0.1 is already in use ({exc.strerror}); "
                        "stop what uses it or choose another port") from None

    # ------------------------------------------------------------------ life cycle
    def _running_elsewhere(self) -> int | None:
        """PID of an Asterisk of this instance not started by this object, if any."""
        try:
            pid = int((self.run_dir / "asterisk.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        if self._proc is not None and pid == self._proc.pid:
            return None
        if not _pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if self.config_path.encode() in cmdline else None

    def is_running(self) -> bool:
        if self._proc is not None and self._proc.poll() is None:
            return True
        return self._running_elsewhere() is not None

    def start(self, timeout: float = 30) -> None:
        """Write the configuration, copy the prompts, launch Asterisk and wait for ARI."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._reap()
        other = self._running_elsewhere()
        if other:
            raise AsteriskStartError(f"instance {self.name} already runs as pid {other} (another process)")
        self._prepare()
        self._check_ports_free()
        for stale in ("asterisk.ctl", "asterisk.pid"):
            try:
                (self.run_dir / stale).unlink()
            except FileNotFoundError:
                pass
        root = str(self.root)
        asterisk_cmd = ["chroot", root, ASTERISK, "-f", "-C", self.config_path]
        if unshare_works():
            script = ('set -e; mount --bind /proc "$1/proc"; mount --rbind /dev "$1/dev"; '
                      'shift; exec "$@"')
            cmd = ["unshare", "--mount", "--propagation", "private", "--",
                   "sh", "-c", script, "happycall-asterisk", root] + asterisk_cmd
        else:
            self._mount_on_host()
            cmd = asterisk_cmd
        try:
            self._messages_offset = self.messages_log.stat().st_size
        except OSError:
            self._messages_offset = 0
        for path in (self.stdout_log, self.messages_log):  # keep the logs of a long-lived instance small
            try:
                if path.stat().st_size > 5_000_000:
                    os.replace(path, path.with_name(path.name + ".1"))
                    if path == self.messages_log:
                        self._messages_offset = 0
            except OSError:
                pass
        self._stdout = open(self.stdout_log, "ab")
        self._stdout.write(f"\n===== start {time.strftime('%F %T')}: {' '.join(cmd)}\n".encode())
        self._stdout.flush()
        self.log.info("starting Asterisk instance %s (ARI %s, SIP 127.0.0.1:%d)",
                      self.name, self.ari_url, self.sip_port)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stdout,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      close_fds=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.ari_url + "ari/asterisk/info"
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    code = self._proc.returncode if self._proc else None
                    raise AsteriskStartError(
                        f"Asterisk exited during start (exit {code}):\n{self.log_tail()}")
                try:
                    resp = client.get(url, auth=self.auth)
                    if resp.status_code == 200:
                        self.log.info("Asterisk instance %s is up (pid %s)", self.name, self._proc.pid)
                        return
                    last = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.monotonic() > deadline:
                    raise AsteriskStartError(
                        f"ARI at {url} not ready after {timeout:.0f} s ({last}):\n{self.log_tail()}")
                time.sleep(0.2)

    def stop(self, timeout: float = 10) -> None:
        """Shut Asterisk down ('core stop now', then SIGTERM, then SIGKILL). Idempotent."""
        proc = self._proc
        other = None if proc is not None and proc.poll() is None else self._running_elsewhere()
        if proc is not None and proc.poll() is None:
            try:
                self.cli("core stop now", timeout=min(5.0, timeout))
            except (AsteriskStartError, subprocess.TimeoutExpired, OSError):
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.log.warning("Asterisk %s did not stop in %.0f s: SIGTERM", self.name, timeout)
                self._signal(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._signal(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        elif other:
            try:
                self.cli("core stop now", timeout=min(5.0, timeout))
            except (AsteriskStartError, subprocess.TimeoutExpired, OSError):
                pass
            deadline = time.monotonic() + timeout
            while _pid_alive(other) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(other):
                self._signal(other, signal.SIGKILL)
        self._reap()
        self._unmount_on_host()

    def _signal(self, pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)  # own session: the whole group (unshare/sh/chroot/asterisk)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is not None:
                self._proc = None
        if self._stdout is not None and self._proc is None:
            self._stdout.close()
            self._stdout = None

    def reload(self, agent_phones: Iterable[Mapping[str, str]] | None = None) -> None:
        """Apply new agent phones (if given) and prompts to the running instance (``core reload``)."""
        if agent_phones is not None:
            self.agent_phones = self._check_phones(agent_phones)
        self._prepare()
        if self.is_running():
            self.cli("core reload")

    def restart(self, timeout: float = 30) -> None:
        self.stop()
        self.start(timeout=timeout)

    def cli(self, command: str, timeout: float = 10) -> str:
        """Run one CLI command (``asterisk -rx``) against this instance and return its output."""
        if any(c in command for c in "\r\n\0"):
            raise ValueError("one CLI command per call")
        proc = subprocess.run(
            ["chroot", str(self.root), ASTERISK, "-C", self.config_path, "-rx", command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 and "Unable to connect" in (proc.stdout + proc.stderr):
            raise AsteriskStartError(f"instance {self.name} is not running: {proc.stdout.strip()}")
        return proc.stdout

    # ------------------------------------------------------------------ host mounts (fallback)
    def _mount_on_host(self) -> None:
        """Fallback without mount namespaces: bind /proc and /dev into the root on the host.

        Shared by the instances of one root; each running user leaves a
        ``host-mounts`` file in its folder, and the last one to stop unmounts.
        """
        (self.dir / "host-mounts").write_text("1\n")
        for name in ("proc", "dev"):
            target = self.root / name
            if _mounted(target):
                continue
            if name == "proc":
                subprocess.run(["mount", "--bind", "/proc", str(target)], check=True, timeout=10)
            else:
                subprocess.run(["mount", "--rbind", "/dev", str(target)], check=True, timeout=10)
                # never let an unmount under the root propagate back to the host's /dev
                subprocess.run(["mount", "--make-rslave", str(target)], check=True, timeout=10)
        self._host_mounts = [self.root / "proc", self.root / "dev"]

    def _unmount_on_host(self) -> None:
        marker = self.dir / "host-mounts"
        if not self._host_mounts and not marker.exists():
            return
        try:
            marker.unlink()
        except FileNotFoundError:
            pass
        self._host_mounts = []
        for other in (self.root / INSTANCES_REL).glob("*/host-mounts"):
            try:
                pid = int((other.parent / "run/asterisk.pid").read_text().strip())
            except (OSError, ValueError):
                continue
            if _pid_alive(pid):
                return  # another instance still runs on the host mounts; it unmounts when it stops
        for name in ("dev", "proc"):
            target = self.root / name
            if _mounted(target):
                if name == "dev":
                    subprocess.run(["mount", "--make-rslave", str(target)], timeout=10)
                subprocess.run(["umount", "--recursive", "--lazy", str(target)], timeout=10)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> "ManagedAsterisk":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<ManagedAsterisk {self.name} {self.ari_url} sip:{self.sip_port} {state}>"
