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
from cti.happy_call import HappyCallService, Settings as HappyCallSettings
from cti.mailer import SmtpMailer
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.supervision import SupervisorService
from cti.surveys import links as survey_links
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenSigner
from cti.sensitivity import SensitivityService
from cti.services import CallCenter
from cti.sms import SmsService, build_gateway
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
                 echo: Callable[[str], None] = print, instance_name: str = "happycall",
                 find_pending_survey: Optional[Callable[[str], Optional[dict]]] = None,
                 record_survey_rating: Optional[Callable[[int, int], object]] = None):
        """``find_pending_survey`` and ``record_survey_rating``: the survey reply
        line's lookups (ivr/flows/reply_line.py); by default the survey service's
        (cti/surveys/links.py)."""
        self.config = config
        self._find_pending_survey = find_pending_survey
        self._record_survey_rating = record_survey_rating
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
        self.surveys: Optional[SurveyService] = None
        self.sms_replies: Optional[survey_links.SmsReplies] = None
        self.follow_up_pops: Optional[survey_links.FollowUpPops] = None
        self.survey_runner: Optional[TimerRunner] = None   # survey timers (docs/surveys.md)
        # Ports of the survey service (cti/surveys/ports.py), set before start() by whoever
        # provides them: the SMS transport (SIP MESSAGE / gateway) and the reply classifier.
        self.sms_sender = None
        self.survey_classifier = None
        self.happy_calls: Optional[HappyCallService] = None   # status calls to customers (docs/happy-call.md)
        self.alarms: Optional[AlarmService] = None    # early warning (docs/alarms.md)
        self.mail_listener = None
        self.sms: Optional[SmsService] = None      # every SMS in and out (docs/sms.md)
        self.sms_gateway = None
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
        mailer = SmtpMailer.from_config(self.config["mail"])
        self.happy_calls = HappyCallService(self.sessions, self.bus,
                                            HappyCallSettings.from_config(self.config["happy_call"]), mailer=mailer)
        self.happy_calls.reset_dialing()
        self.escalation = EscalationService(self.sessions, self.bus, self.config, mailer=mailer,
                                            relayed_by_call=self.happy_calls.relays)
        sms = self.config["sms"]
        self.sms = SmsService(self.sessions, self.bus, None, default_sender=sms["sender"],
                              duplicate_window_seconds=float(sms["duplicate_window_seconds"]))
        # Surveys send SMS through the SMS service and classify free-text replies;
        # incoming SMS from a customer with a pending survey are its replies.
        self.sms_sender = self.sms_sender or survey_links.SmsSenderAdapter(self.sms)
        self.survey_classifier = self.survey_classifier or survey_links.survey_term
        self.surveys = SurveyService(self.sessions, self.bus, self.config, signer=self._survey_signer(),
                                     mailer=mailer, sms=self.sms_sender, classify=self.survey_classifier)
        self.sms_replies = survey_links.SmsReplies(self.surveys, self.bus)
        self.alarms = AlarmService.from_config(self.sessions, self.bus, self.config)
        mail = self.config["mail_intake"]
        # Replies to a survey e-mail are the survey's, not new tickets (cti/surveys/links.py);
        # a survey's follow-up ticket is popped by the intake like an e-mail ticket.
        self.intake = IntakeService(self.sessions, self.bus, AttachmentStore(mail["attachments_dir"]),
                                    queue_name=self.config["acd"]["queue"], max_bytes=int(mail["max_bytes"]),
                                    claims=[survey_links.EmailReplies(self.surveys).claim],
                                    also_pop=(survey_links.FOLLOW_UP_CHANNEL,))
        self.follow_up_pops = survey_links.FollowUpPops(self.intake, self.bus)

    def start_timers(self) -> None:
        """The persisted escalation timers (first-level rule, progress checks): one
        thread polling the schedule; timers due while the system was down fire now."""
        section = self.config["escalation"]
        if not section["enabled"]:
            return
        self.timers = TimerRunner(self.escalation, poll_seconds=float(section["poll_seconds"]))
        self.timers.start()

    def _survey_signer(self) -> TokenSigner:
        """Survey links are signed with the web secret key (the form checks them)."""
        from agent_desktop.security import secret_key

        return TokenSigner(secret_key(self.config["web"].get("secret_key", ""), self.config["data"]["dir"]))

    def start_survey_runner(self) -> None:
        """The survey timers (scheduling, call guard, resend, no reply): one joined thread."""
        section = self.config["surveys"]
        if not section["enabled"]:
            return
        self.survey_runner = TimerRunner(self.surveys, poll_seconds=float(section["poll_seconds"]),
                                         name="survey-runner")
        self.survey_runner.start()

    def start_mail_intake(self) -> None:
        """The SMTP listener (docs/intake.md).  A port that cannot be bound does not
        stop the centre: the phone line matters more; the error is shown and logged."""
        mail = self.config["mail_intake"]
        if not mail["enabled"]:
            return
        from cti.intake.smtp import SmtpListener

        # Replies to survey e-mails are addressed to the centres (their Reply-To).
        listener = SmtpListener(self.intake, mail["host"], int(mail["port"]), mail["address"],
                                also_accept=self.surveys.reply_addresses())
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

    def start_sms(self, url: str, user: str, password: str) -> None:
        """The SMS gateway ([sms] gateway): SIP MESSAGE through this Asterisk (its own
        ARI application receives the replies) or an HTTP provider (docs/sms.md)."""
        section = self.config["sms"]
        if not section["enabled"]:
            return
        from ivr.sms import SipMessageGateway

        gateway = build_gateway(section, lambda: SipMessageGateway(
            url, user, password, section, callback_dial=self.config["acd"]["callback_dial"],
            backoff_max=float(self.config["asterisk"]["connect_backoff_max"])))
        self.sms.attach(gateway)
        if isinstance(gateway, SipMessageGateway):
            gateway.start()
        self.sms_gateway = gateway

    def start_web(self) -> str:
        from agent_desktop import create_app
        from agent_desktop.server import WebServer

        web = self.config["web"]
        self.web_app = create_app(self.config, self.call_center, self.sessions, self.bus,
                                  sensitivity_service=self.sensitivity, acd_service=self.acd,
                                  callback_service=self.callbacks, supervisor_service=self.supervision,
                                  escalation_service=self.escalation, intake_service=self.intake,
                                  survey_service=self.surveys, alarm_service=self.alarms)
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
        from ivr.flows.reply_line import ReplyLine

        # The survey reply line asks the survey service (tests may pass their own lookups).
        reply_line = ReplyLine.from_config(
            self.config["reply_line"],
            self._find_pending_survey or survey_links.reply_line_lookup(self.surveys),
            self._record_survey_rating or survey_links.reply_line_rating(self.surveys))
        self.ari_app = load(self.config, self.call_center, self.bus, url, user, password, speech=self.speech,
                            acd=self.acd, callbacks=self.callbacks, surveys=self.surveys, reply_line=reply_line,
                            happy_calls=self.happy_calls, happy_texts=self._happy_texts(), alarms=self.alarms)
        self.ari_app.start()

    def _happy_texts(self):
        """Where the happy call's spoken texts go: ``[happy_call] tts_dir`` (the
        external Asterisk's sounds folder + /happycall-tts, shared with this host),
        else the managed instance's sounds folder; None (fixed prompts only) with an
        external Asterisk whose folder this host cannot write."""
        from ivr.flows.happy_call import TTS_SOUND_DIR, SpokenTexts

        section = self.config["happy_call"]
        if not section["speak_text"]:
            return None
        if section["tts_dir"]:
            return SpokenTexts(Path(section["tts_dir"]))
        if self.asterisk is not None:
            return SpokenTexts(self.asterisk.sounds_dir / TTS_SOUND_DIR)
        return None

    # --- whole ------------------------------------------------------------------
    def start(self, wait_for_ari: float = 30.0) -> "System":
        try:
            self.start_database()
            self.start_timers()
            self.start_survey_runner()
            url, user, password = self.start_asterisk()
            self.start_speech()
            self.start_web()
            self.start_mail_intake()
            self.start_sms(url, user, password)
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
                             ("SMS gateway", self._stop_sms),
                             ("web server", self._stop_web),
                             ("intake", lambda: self.intake and self.intake.close()),
                             ("Asterisk", lambda: self.asterisk and self.asterisk.stop()),
                             ("speech workers", lambda: self.speech_workers and self.speech_workers.stop()),
                             ("escalation timers", self._stop_timers),
                             ("survey runner", self._stop_survey_runner),
                             ("happy calls", lambda: self.happy_calls and self.happy_calls.close()),
                             ("database", lambda: self.engine and self.engine.dispose())):
            try:
                action()
            except Exception:
                log.exception("stopping the %s failed", name)
        if self._warm_up is not None:
            self._warm_up.join()
            self._warm_up = None
        self.ari_app = self.web = self.asterisk = self.speech_workers = self.mail_listener = None

    def _stop_sms(self) -> None:
        stop = getattr(self.sms_gateway, "stop", None)
        if stop is not None:
            stop()   # joins its event-loop thread
        self.sms_gateway = None

    def _stop_timers(self) -> None:
        if self.timers is not None:
            self.timers.stop()   # joins the thread
            self.timers = None
        if self.escalation is not None:
            self.escalation.close()

    def _stop_survey_runner(self) -> None:
        if self.survey_runner is not None:
            self.survey_runner.stop()   # joins the thread
            self.survey_runner = None
        if self.sms_replies is not None:
            self.sms_replies.close()
            self.sms_replies = None
        if self.follow_up_pops is not None:
            self.follow_up_pops.close()
            self.follow_up_pops = None

    def _stop_web(self) -> None:
        if self.web is not None:
            from agent_desktop import close_app

            self.web.stop()
            close_app(self.web_app)

    def __enter__(self) -> "System":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
