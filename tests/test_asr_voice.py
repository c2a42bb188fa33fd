"""Pitch and loudness on generated signals with known F0; noise and silence give no pitch."""
from __future__ import annotations

import math
import random
import struct

import pytest

from asr_models.voice import (VoiceBaseline, VoiceProfile, compare, population_baseline, track_pitch,
                              voice_profile)

RATE = 8000


def pcm(values):
    return struct.pack(f"<{len(values)}h", *(max(-32768, min(32767, int(v))) for v in values))


def harmonic(f0, seconds=1.0, amp=8000.0, harmonics=(1,), vibrato=0.0):
    out, phase = [], 0.0
    for i in range(int(RATE * seconds)):
        f = f0 * (1 + vibrato * math.sin(2 * math.pi * 4 * i / RATE))
        phase += 2 * math.pi * f / RATE
        out.append(sum(amp / h * math.sin(h * phase) for h in harmonics))
    return out


@pytest.mark.parametrize("f0", [120.0, 220.0])
@pytest.mark.parametrize("harmonics", [(1,), (1, 2, 3, 4, 5), (3, 4, 5, 6, 7, 8)])  # last: no fundamental
def test_known_f0_within_3_percent(f0, harmonics):
    profile = voice_profile(pcm(harmonic(f0, harmonics=harmonics)), RATE)
    assert profile.voiced and profile.voiced_s > 0.8
    assert abs(profile.f0_median_hz - f0) / f0 < 0.03
    assert profile.f0_spread_st < 0.2


def test_loudness_of_voiced_frames():
    loud = voice_profile(pcm(harmonic(150, amp=16000)), RATE).loudness_dbfs
    quiet = voice_profile(pcm(harmonic(150, amp=1600)), RATE).loudness_dbfs
    assert abs((loud - quiet) - 20.0) < 0.5
    assert abs(loud - 20 * math.log10(16000 / 32768 / math.sqrt(2))) < 0.5   # sine RMS


def white(seconds=1.0, sigma=3000.0, seed=1):
    rnd = random.Random(seed)
    return [rnd.gauss(0, sigma) for _ in range(int(RATE * seconds))]


def pink(seconds=1.0, seed=2):
    rnd = random.Random(seed)
    rows, out = [0.0] * 12, []
    for i in range(int(RATE * seconds)):
        for k in range(12):
            if i % (1 << k) == 0:
                rows[k] = rnd.gauss(0, 1)
        out.append(sum(rows) * 800)
    return out


@pytest.mark.parametrize("signal", [white(), white(sigma=300, seed=7), pink(), [0.0] * RATE],
                         ids=["white", "quiet-white", "pink", "silence"])
def test_no_pitch_in_noise_or_silence(signal):
    frames = track_pitch(pcm(signal), RATE)
    assert frames and all(f.f0 is None for f in frames)
    assert not voice_profile(pcm(signal), RATE).voiced


def test_tone_in_noise_still_found():
    sig = [a + b for a, b in zip(harmonic(200, harmonics=(1, 2, 3)), white(sigma=800))]
    assert abs(voice_profile(pcm(sig), RATE).f0_median_hz - 200) < 6


def test_vibrato_gives_spread():
    p = voice_profile(pcm(harmonic(200, seconds=2, harmonics=(1, 2), vibrato=0.06)), RATE)
    assert 0.4 < p.f0_spread_st < 1.5


def profile(f0, spread=2.0, loud=-20.0):
    return VoiceProfile(3.0, 2.0, f0, f0 * 0.9, f0 * 1.1, spread, loud)


def test_raised_voice_against_the_callers_baseline():
    base = VoiceBaseline.from_profiles([profile(200), profile(210), profile(190)])
    assert base.source == "caller" and base.f0_median_hz == 200
    flags = compare(profile(250), base)               # +3.9 semitones
    assert flags.raised_voice and not flags.low_flat_voice
    assert flags.figures["f0_delta_st"] == pytest.approx(3.86, abs=0.01)
    assert compare(profile(205, loud=-12.0), base).raised_voice          # +8 dB louder
    assert not compare(profile(215), base).any


def test_low_flat_voice_against_the_callers_baseline():
    base = VoiceBaseline.from_profiles([profile(130, spread=2.5)])
    assert compare(profile(105, spread=0.8), base).low_flat_voice        # -3.7 st, flat
    assert not compare(profile(105, spread=2.4), base).low_flat_voice    # low but lively


def test_population_default_is_conservative():
    assert population_baseline("ko").source == "population"
    assert not compare(profile(230)).any                                  # ordinary female voice
    assert not compare(profile(110)).any                                  # ordinary male voice
    assert compare(profile(320)).raised_voice
    assert compare(profile(85, spread=0.9)).low_flat_voice
    assert not compare(VoiceProfile(1.0, 0.0)).any                        # nothing voiced


def test_pitch_tracked_as_audio_arrives_equals_the_whole_utterance():
    """The IVR feeds 200 ms at a time (odd sizes too); the frames must be those of
    the whole utterance, so the end of speech only pays for the voicing pass."""
    import math
    import struct

    from asr_models.voice import PitchTracker, track_pitch

    pcm = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 180 * n / 8000)
                                         + 2000 * math.sin(2 * math.pi * 360 * n / 8000)))
                   for n in range(16000))
    tracker = PitchTracker()
    for i in range(0, len(pcm), 3201):
        tracker.push(pcm[i:i + 3201])
    streamed = [(f.time, f.f0) for f in tracker.frames()]
    assert streamed == [(f.time, f.f0) for f in track_pitch(pcm)]
    voiced = [f0 for _, f0 in streamed if f0]
    assert voiced and abs(sorted(voiced)[len(voiced) // 2] - 180) < 180 * 0.03
