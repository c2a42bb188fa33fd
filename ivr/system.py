"""The whole system in one process: database, Asterisk (managed or external),
the ARI application and the agent desktop.  Built from the merged config; used
by the run command and by the end-to-end tests."""
from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import Callable, Optional

from cti.acd_service import AcdService
from cti.alarms import AlarmService
from cti.callbacks import CallbackService
from cti.escalation_runner import TimerRunner
from cti.escalation_service import EscalationService
from cti.events import EventBus
from cti.mailer import SmtpMailer
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.supervision import SupervisorService
from cti.sensitivity import SensitivityService
from cti.services import CallCenter
from db.migrate import upgrade
from db.seed import STAFF, seed
from db.session import make_engine, make_session_factory

log = logging.getLogger(__name__)


def agent_phone_accounts(data_dir: Path) -> list[dict[str, str]]:
    """SIP accounts a softphone uses to register as an agent's phone (extension
    and password), generated once and kept in the data folder."""
    path = data_dir / "phone-passwords.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            ext, _, password = line.partition(" ")
            if ext and password:
                known[ext] = password
    changed = False
    for ext in (row[3] for row in STAFF):
        if ext and ext not in known:
            known[ext] = secrets.token_urlsafe(12)
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{e} {p}\n" for e, p in sorted(known.items())))
        path.chmod(0o600)
    return [{"extension": e, "password": p} for e, p in sorted(known.items())]


class System:
    def __init__(self, config: dict, phones: Optional[dict[str, str]] = None,
                 echo: Callable[[str], None] = print, instance_name: str = "happycall"):
        self.config = config
        self._phones = phones
        self._echo = echo
        self._instance_name = instance_name
        self.engine = None
        self.sessions = None
        self.bus = EventBus()
        self.call_center: Optional[CallCenter] = None
        self.sensitivity: Optional[SensitivityService] = None
        self.acd: Optional[AcdService] = None
        self.callbacks: Optional[CallbackService] = None
        self.supervision: Optional[SupervisorService] = None
        self.escalation: Optional[EscalationService] = None
        self.timers: Optional[TimerRunner] = None     # escalation timers (docs/escalation.md)
        self.intake: Optional[IntakeService] = None
        self.alarms: Optional[AlarmService] = None    # early warning (docs/alarms.md)
        self.mail_listener = None
        self.speech = None
        self.speech_workers = None
        self._warm_up: Optional[threading.Thread] = None
        self.asterisk = None
        self.ari_app = None
        self.web_app = None
        self.web = None
        self.demo_passwords: dict[str, str] = {}

    # --- parts ------------------------------------------------------------------
    def start_database(self) -> None:
        self.engine = make_engine(self.config["database"])
        upgrade(self.engine)
        self.sessions = make_session_factory(self.engine)
        # The run command prints the new passwords in its banner.
        self.demo_passwords = seed(self.sessions, self.config["data"]["dir"], phones=self._phones,
                                   echo=lambda *_: None)
        self.call_center = CallCenter(self.sessions, self.bus,
                                      wrap_up_seconds=float(self.config["acd"]["wrap_up_seconds"]))
        self.acd = AcdService(self.sessions, self.bus)
        self.callbacks = CallbackService(self.sessions, self.bus)
        self.callbacks.reset_dialing()
        self.supervision = SupervisorService(self.sessions, self.bus, self.call_center)
        self.sensitivity = SensitivityService(self.sessions, self.bus)
        self.escalation = EscalationService(self.sessions, self.bus, self.config,
                                            mailer=SmtpMailer.from_config(self.config["mail"]))
        self.alarms = AlarmService.from_config(self.sessions, self.bus, self.config)
        mail = self.config["mail_intake"]
        self.intake = IntakeService(self.sessions, self.bus, AttachmentStore(mail["attachments_dir"]),
                                    queue_name=self.config["acd"]["queue"], max_bytes=int(mail["max_bytes"]))

    def start_timers(self) -> None:
        """The persisted escalation timers (first-level rule, progress checks): one
        thread polling the schedule; timers due while the system was down fire now."""
        section = self.config["escalation"]
        if not section["enabled"]:
            return
        self.timers = TimerRunner(self.escalation, poll_seconds=float(section["poll_seconds"]))
        self.timers.start()

    def start_mail_intake(self) -> None:
        """The SMTP listener (docs/intake.md).  A port that cannot be bound does not
        stop the centre: the phone line matters more; the error is shown and logged."""
        mail = self.config["mail_intake"]
        if not mail["enabled"]:
            return
        from cti.intake.smtp import SmtpListener

        listener = SmtpListener(self.intake, mail["host"], int(mail["port"]), mail["address"])
        try:
            listener.start()
        except Exception as exc:  # noqa: BLE001 - see above
            log.error("SMTP intake on %s:%s could not start: %s", mail["host"], mail["port"], exc)
            self._echo(f"e-mail intake NOT running: {mail['host']}:{mail['port']} could not be bound ({exc})")
            return
        self.mail_listener = listener
        self._echo(f"e-mail intake for {mail['address']} on smtp://{listener.host}:{listener.port}")

    def start_asterisk(self) -> tuple[str, str, str]:
        cfg = self.config["asterisk"]
        if cfg["mode"] == "external":
            self._echo(f"using the existing Asterisk at {cfg['ari_url']}")
            return cfg["ari_url"], cfg["ari_user"], cfg["ari_password"]
        from ivr import prompts
        from ivr.pbx.instance import ManagedAsterisk
        from ivr.pbx.provision import ensure_root

        ensure_root(Path(cfg["root"]), log=self._echo)
        prompts.generate(Path(self.config["ivr"]["prompts_dir"]))
        accounts = agent_phone_accounts(Path(self.config["data"]["dir"]))
        alarms = self.config["alarms"]
        self.asterisk = ManagedAsterisk(cfg, instance_dir_name=self._instance_name,
                                        prompts_dir=self.config["ivr"]["prompts_dir"], agent_phones=accounts,
                                        hotline_extension=alarms["hotline_extension"] if alarms["hotline"] else "")
        self.asterisk.start()
        self._echo(f"Asterisk started: SIP on 127.0.0.1:{self.asterisk.sip_port}, "
                   f"ARI on {self.asterisk.ari_url}")
        return self.asterisk.ari_url, self.asterisk.ari_user, self.asterisk.ari_password

    def start_web(self) -> str:
        from agent_desktop import create_app
        from agent_desktop.server import WebServer

        web = self.config["web"]
        self.web_app = create_app(self.config, self.call_center, self.sessions, self.bus,
                                  sensitivity_service=self.sensitivity, acd_service=self.acd,
                                  callback_service=self.callbacks, supervisor_service=self.supervision,
                                  escalation_service=self.escalation, intake_service=self.intake,
                                  alarm_service=self.alarms)
        self.web = WebServer(self.web_app, web["host"], int(web["port"]))
        self.web.start()
        self._echo(f"alarm webhook: POST {self.web.url}/hooks/alarms, signed with [alarms] secret "
                   f"(or the one in {Path(self.config['data']['dir']) / 'alarm-secret'}); try `make demo-alarm`")
        return self.web.url

    def start_speech(self) -> None:
        """The speech analysis of the callers' descriptions.  The model loads in a
        background thread (it takes seconds); calls arriving before that wait for it
        in their own worker thread.  A missing model is not fatal: every ticket then
        says why it has no suggestions."""
        asr = self.config["asr"]
        if not asr["enabled"]:
            return
        from asr_models.analysis import Analyzer
        from ivr.capture import ListenSettings
        from ivr.speech import SpeechAnalysis
        from ivr.speech_workers import SpeechWorkers, default_processes

        settings = ListenSettings.from_config(asr)
        analyzer = Analyzer.from_config(asr)   # finds the model; loads nothing yet
        if analyzer.store is None:
            self._echo(f"speech analysis unavailable: {analyzer.unavailable_reason}")
            self.speech = SpeechAnalysis(None, self.sensitivity.record_analysis, settings,
                                         unavailable_reason=analyzer.unavailable_reason,
                                         voice_history=self.sensitivity.voice_history)
            return
        processes = default_processes(int(asr["worker_processes"]))
        if processes > 0:
            # The workers load the model in parallel, in the background; calls
            # arriving before that wait for them.
            self.speech_workers = SpeechWorkers(asr, processes)
            self.speech_workers.start()
            self.speech = SpeechAnalysis(None, self.sensitivity.record_analysis, settings,
                                         voice_history=self.sensitivity.voice_history,
                                         workers=self.speech_workers)
            return
        self.speech = SpeechAnalysis(analyzer, self.sensitivity.record_analysis, settings,
                                     voice_history=self.sensitivity.voice_history)
        if analyzer.store is not None:
            self._warm_up = threading.Thread(target=self._load_model, args=(analyzer,),
                                             name="asr-model-load")
            self._warm_up.start()

    def wait_speech_ready(self, timeout: float = 120.0) -> str:
        """Wait until the speech model is loaded (in the workers or in this process);
        '' or why it is not available."""
        if self.speech_workers is not None:
            return self.speech_workers.wait_ready(timeout)
        if self._warm_up is not None:
            self._warm_up.join(timeout)
            if self._warm_up.is_alive():
                return "the speech model is still loading"
        return self.speech.unavailable_reason if self.speech is not None else "speech analysis is off"

    def _load_model(self, analyzer) -> None:
        reason = analyzer.warm_up()
        if reason:
            log.error("speech model could not be loaded: %s", reason)

    def start_ari(self, url: str, user: str, password: str) -> None:
        from ivr.app import load

        self.ari_app = load(self.config, self.call_center, self.bus, url, user, password, speech=self.speech,
                            acd=self.acd, callbacks=self.callbacks, alarms=self.alarms)
        self.ari_app.start()

    # --- whole ------------------------------------------------------------------
    def start(self, wait_for_ari: float = 30.0) -> "System":
        try:
            self.start_database()
            self.start_timers()
            url, user, password = self.start_asterisk()
            self.start_speech()
            self.start_web()
            self.start_mail_intake()
            self.start_ari(url, user, password)
            if wait_for_ari and not self.ari_app.wait_connected(wait_for_ari):
                self._echo(f"Asterisk ARI at {url} is not reachable yet; still trying in the background")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop in reverse order; every part is stopped even if another fails."""
        for name, action in (("ARI application", lambda: self.ari_app and self.ari_app.stop()),
                             ("SMTP intake", lambda: self.mail_listener and self.mail_listener.stop()),
                             ("web server", self._stop_web),
                             ("intake", lambda: self.intake and self.intake.close()),
                             ("Asterisk", lambda: self.asterisk and self.asterisk.stop()),
                             ("speech workers", lambda: self.speech_workers and self.speech_workers.stop()),
                             ("escalation timers", self._stop_timers),
                             ("database", lambda: self.engine and self.engine.dispose())):
            try:
                action()
            except Exception:
                log.exception("stopping the %s failed", name)
        if self._warm_up is not None:
            self._warm_up.join()
            self._warm_up = None
        self.ari_app = self.web = self.asterisk = self.speech_workers = self.mail_listener = None

    def _stop_timers(self) -> None:
        if self.timers is not None:
            self.timers.stop()   # joins the thread
            self.timers = None
        if self.escalation is not None:
            self.escalation.close()

    def _stop_web(self) -> None:
        if self.web is not None:
            from agent_desktop import close_app

            self.web.stop()
            close_app(self.web_app)

    def __enter__(self) -> "System":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
