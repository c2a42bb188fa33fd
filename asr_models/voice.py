"""Voice evidence: pitch (F0) and loudness of an utterance, against a baseline.

numpy does the per-frame arithmetic (well under 0.01 s of CPU per second of 8 kHz
speech); the first version in pure Python cost ~0.1 s and, holding the GIL, capped
how many calls one process could listen to at once.

F0: YIN (de Cheveigné & Kawahara 2002) on 40 ms frames every 20 ms: difference
function from one autocorrelation per lag, cumulative-mean normalisation, the
first dip under ``threshold`` (else none), parabolic interpolation.  A frame is
voiced when the dip is deep (aperiodicity <= ``threshold``), the frame is loud
enough (>= ``min_dbfs`` and not far under the utterance's loudest frames), and it
belongs to a run of at least ``min_run`` voiced frames; isolated frames are noise.
White or pink noise and silence give no pitch.

Loudness: RMS of the voiced frames in dBFS (0 dBFS = full-scale sine's RMS * sqrt 2,
i.e. the square of full scale), so line noise between words does not count.

Flags (:func:`compare`):
* ``raised_voice``: median F0 at least ``raised_semitones`` above the baseline, or
  voiced loudness at least ``raised_db`` above it.
* ``low_flat_voice``: median F0 at least ``low_semitones`` under the baseline (or
  under the population's low bound) *and* F0 spread (std in semitones) under
  ``flat_semitones``.
The baseline is the caller's own earlier utterances when there are any (strong
evidence), else a population default for the language (weak: it cannot know the
caller's natural pitch, so its bounds are wide).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class PitchFrame:
    time: float            # centre of the frame, seconds
    f0: float | None       # Hz, None when unvoiced
    dbfs: float            # frame RMS level
    aperiodicity: float    # YIN's d' at the chosen lag (0 = perfectly periodic, ~1 = noise)


def _dbfs(energy: float) -> float:
    return 10 * math.log10(energy / (32768.0 ** 2)) if energy > 0 else -120.0


class PitchTracker:
    """F0 per frame (YIN) of 16-bit little-endian mono PCM, computed as the audio
    arrives: ``push`` analyses every frame whose window is complete, so at the end
    of an utterance only the voicing decision is left to do (the IVR's end of
    speech to suggestion delay does not pay for the whole utterance).

    All complete frames of a push are analysed together in numpy (one FFT
    cross-correlation per frame, batched): the work runs in C, so dozens of calls
    tracked in worker threads do not queue behind each other on the GIL."""

    def __init__(self, sample_rate: int = 8000, fmin: float = 60.0, fmax: float = 450.0,
                 frame_ms: float = 40.0, hop_ms: float = 20.0, threshold: float = 0.2,
                 min_dbfs: float = -50.0, min_run: int = 3):
        self.sample_rate = sample_rate
        self.win = int(sample_rate * frame_ms / 1000)
        self.hop = int(sample_rate * hop_ms / 1000)
        self.tau_min = max(2, int(sample_rate / fmax))
        self.tau_max = min(self.win - 1, int(math.ceil(sample_rate / fmin)))
        self.threshold = threshold
        self.min_dbfs = min_dbfs
        self.min_run = min_run
        self._span = self.win + self.tau_max          # samples one frame needs
        self._nfft = 1 << (self._span + self.win - 1).bit_length()
        self._buf = np.zeros(0, dtype=np.float64)     # samples from the next frame's start on
        self._t0 = 0                                  # absolute index of _buf[0]
        self._odd = b""
        self._frames: list[PitchFrame] = []

    def push(self, pcm16le: bytes) -> None:
        data = self._odd + bytes(pcm16le)
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        new = np.frombuffer(data[:cut], dtype="<i2").astype(np.float64)
        self._buf = np.concatenate((self._buf, new))
        count = 0 if len(self._buf) < self._span else (len(self._buf) - self._span) // self.hop + 1
        if count:
            windows = np.lib.stride_tricks.sliding_window_view(self._buf, self._span)[::self.hop][:count]
            self._frames.extend(self._analyse(windows, self._t0))
            self._buf = self._buf[count * self.hop:].copy()
            self._t0 += count * self.hop

    def frames(self) -> list[PitchFrame]:
        return _voicing(self._frames, self.min_run)

    def _analyse(self, windows: np.ndarray, t0: int) -> list[PitchFrame]:
        win, tau_max = self.win, self.tau_max
        ref = windows[:, :win]
        e0 = np.einsum("ij,ij->i", ref, ref)
        # r[k, tau] = sum_j ref[k, j] * windows[k, j + tau], for tau = 0..tau_max
        spec = np.fft.rfft(windows, self._nfft) * np.conj(np.fft.rfft(ref, self._nfft))
        r = np.fft.irfft(spec, self._nfft)[:, :tau_max + 1]
        sq = np.concatenate((np.zeros((len(windows), 1)), np.cumsum(windows * windows, axis=1)), axis=1)
        taus = np.arange(tau_max + 1)
        etau = sq[:, taus + win] - sq[:, taus]
        d = e0[:, None] + etau - 2.0 * r
        d[:, 0] = 0.0
        np.maximum(d, 0.0, out=d)                     # FFT rounding can dip just under zero
        running = np.cumsum(d[:, 1:], axis=1)
        cmnd = np.ones_like(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            cmnd[:, 1:] = np.where(running > 0, d[:, 1:] * taus[1:] / running, 1.0)
        out = []
        for k in range(len(windows)):
            start = t0 + k * self.hop
            level = _dbfs(e0[k] / win)
            t = (start + win / 2) / self.sample_rate
            if level < self.min_dbfs:
                out.append(PitchFrame(t, None, level, 1.0))
            else:
                out.append(self._pick(cmnd[k], t, level))
        return out

    def _pick(self, cmnd: np.ndarray, t: float, level: float) -> PitchFrame:
        tau_min, tau_max = self.tau_min, self.tau_max
        below = np.flatnonzero(cmnd[tau_min:tau_max + 1] < self.threshold)
        if not len(below):
            return PitchFrame(t, None, level, float(cmnd[tau_min:].min()) if tau_max >= tau_min else 1.0)
        best = tau_min + int(below[0])
        while best + 1 <= tau_max and cmnd[best + 1] < cmnd[best]:
            best += 1
        shift = 0.0
        if tau_min < best < tau_max:  # parabolic interpolation around the dip
            a, b, c = float(cmnd[best - 1]), float(cmnd[best]), float(cmnd[best + 1])
            denom = a - 2 * b + c
            shift = 0.5 * (a - c) / denom if denom > 0 else 0.0
        return PitchFrame(t, self.sample_rate / (best + shift), level, float(cmnd[best]))


def track_pitch(pcm16le: bytes, sample_rate: int = 8000, fmin: float = 60.0, fmax: float = 450.0,
                frame_ms: float = 40.0, hop_ms: float = 20.0, threshold: float = 0.2,
                min_dbfs: float = -50.0, min_run: int = 3) -> list[PitchFrame]:
    """F0 per frame (YIN) of a whole utterance."""
    tracker = PitchTracker(sample_rate, fmin, fmax, frame_ms, hop_ms, threshold, min_dbfs, min_run)
    tracker.push(pcm16le)
    return tracker.frames()


def _voicing(frames: list[PitchFrame], min_run: int) -> list[PitchFrame]:
    """Keep F0 only in runs of >= min_run voiced frames whose F0 moves smoothly
    (< 20 % frame to frame) and not far (25 dB) under the loudest voiced frame."""
    loud = max((f.dbfs for f in frames if f.f0), default=-120.0)
    ok = [f.f0 is not None and f.dbfs >= loud - 25.0 for f in frames]
    out = list(frames)
    i = 0
    while i < len(frames):
        if not ok[i]:
            i += 1
            continue
        j = i + 1
        while j < len(frames) and ok[j] and abs(frames[j].f0 / frames[j - 1].f0 - 1) < 0.2:  # type: ignore[operator]
            j += 1
        if j - i < min_run:
            for k in range(i, j):
                out[k] = PitchFrame(frames[k].time, None, frames[k].dbfs, frames[k].aperiodicity)
        i = j
    for k, f in enumerate(frames):
        if f.f0 is not None and not ok[k]:
            out[k] = PitchFrame(f.time, None, f.dbfs, f.aperiodicity)
    return out


def semitones(f: float, ref: float) -> float:
    return 12.0 * math.log2(f / ref)


@dataclass(frozen=True)
class VoiceProfile:
    """Pitch and loudness of one utterance (None when no voiced speech was found)."""
    duration_s: float
    voiced_s: float
    f0_median_hz: float | None = None
    f0_p10_hz: float | None = None
    f0_p90_hz: float | None = None
    f0_spread_st: float | None = None     # standard deviation of F0 in semitones
    loudness_dbfs: float | None = None    # RMS of the voiced frames

    @property
    def voiced(self) -> bool:
        return self.f0_median_hz is not None


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def voice_profile(pcm16le: bytes, sample_rate: int = 8000, min_voiced_s: float = 0.2,
                  tracker: "PitchTracker | None" = None) -> VoiceProfile:
    """Pitch and loudness figures of an utterance; ``tracker`` is one that was
    already fed this audio as it arrived (then only the voicing pass is left)."""
    if tracker is None:
        tracker = PitchTracker(sample_rate)
        tracker.push(pcm16le)
    frames = tracker.frames()
    duration = len(pcm16le) / 2 / sample_rate
    voiced = [f for f in frames if f.f0 is not None]
    hop = frames[1].time - frames[0].time if len(frames) > 1 else 0.02
    voiced_s = len(voiced) * hop
    if voiced_s < min_voiced_s:
        return VoiceProfile(round(duration, 3), round(voiced_s, 3))
    f0s = sorted(f.f0 for f in voiced)  # type: ignore[misc]
    median = statistics.median(f0s)
    spread = statistics.pstdev([semitones(f, median) for f in f0s])
    energy = statistics.fmean([10 ** (f.dbfs / 10) for f in voiced])
    return VoiceProfile(round(duration, 3), round(voiced_s, 3), round(median, 1),
                        round(_percentile(f0s, 0.1), 1), round(_percentile(f0s, 0.9), 1),
                        round(spread, 2), round(10 * math.log10(energy), 1))


@dataclass(frozen=True)
class VoiceBaseline:
    f0_median_hz: float
    f0_spread_st: float
    loudness_dbfs: float
    source: str = "population"            # 'caller' (own earlier utterances) or 'population'
    # population bounds (only used when source == 'population')
    f0_high_hz: float = 0.0
    f0_low_hz: float = 0.0

    @classmethod
    def from_profiles(cls, profiles: Iterable[VoiceProfile]) -> "VoiceBaseline | None":
        ps = [p for p in profiles if p.voiced]
        if not ps:
            return None
        return cls(statistics.median(p.f0_median_hz for p in ps),   # type: ignore[misc]
                   statistics.median(p.f0_spread_st for p in ps),   # type: ignore[misc]
                   statistics.median(p.loudness_dbfs for p in ps),  # type: ignore[misc]
                   "caller")


#: Population defaults.  Adult conversational F0 is ~85-180 Hz (men) and ~165-255 Hz
#: (women); without knowing the caller, "high" must be above the usual female
#: range and "low" under the usual male one.  Telephone loudness depends on the line,
#: so the population loudness bound is loose.
POPULATION = {
    "ko": VoiceBaseline(170.0, 2.5, -22.0, "population", f0_high_hz=290.0, f0_low_hz=95.0),
    "en": VoiceBaseline(165.0, 2.5, -22.0, "population", f0_high_hz=280.0, f0_low_hz=90.0),
}


def population_baseline(language: str = "ko") -> VoiceBaseline:
    return POPULATION.get(language, POPULATION["en"])


@dataclass(frozen=True)
class VoiceFlags:
    raised_voice: bool
    low_flat_voice: bool
    baseline: str                     # 'caller' or 'population'
    figures: dict = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return self.raised_voice or self.low_flat_voice


def compare(profile: VoiceProfile, baseline: VoiceBaseline | None = None, language: str = "ko",
            raised_semitones: float = 3.0, raised_db: float = 6.0, low_semitones: float = 2.0,
            flat_semitones: float = 1.5, population_loud_dbfs: float = -8.0) -> VoiceFlags:
    """Flags for ``profile`` against the caller's ``baseline`` (or the population's)."""
    base = baseline or population_baseline(language)
    if not profile.voiced:
        return VoiceFlags(False, False, base.source, {"voiced_s": profile.voiced_s})
    f0 = profile.f0_median_hz
    spread = profile.f0_spread_st
    loud = profile.loudness_dbfs
    assert f0 is not None and spread is not None and loud is not None
    figures = {"f0_median_hz": f0, "f0_p10_hz": profile.f0_p10_hz, "f0_p90_hz": profile.f0_p90_hz,
               "f0_spread_st": spread, "loudness_dbfs": loud, "voiced_s": profile.voiced_s,
               "baseline": base.source, "baseline_f0_hz": round(base.f0_median_hz, 1),
               "baseline_loudness_dbfs": round(base.loudness_dbfs, 1)}
    if base.source == "caller":
        delta_st = semitones(f0, base.f0_median_hz)
        delta_db = loud - base.loudness_dbfs
        raised = delta_st >= raised_semitones or delta_db >= raised_db
        low = delta_st <= -low_semitones and spread <= min(flat_semitones, 0.7 * base.f0_spread_st)
        figures.update(f0_delta_st=round(delta_st, 2), loudness_delta_db=round(delta_db, 1))
    else:
        raised = f0 >= base.f0_high_hz or loud >= population_loud_dbfs
        low = f0 <= base.f0_low_hz and spread <= flat_semitones
        figures.update(f0_delta_st=round(semitones(f0, base.f0_median_hz), 2),
                       population_f0_high_hz=base.f0_high_hz, population_f0_low_hz=base.f0_low_hz)
    return VoiceFlags(raised, low, base.source, figures)
