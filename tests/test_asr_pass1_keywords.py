"""``asr.pass1 = "keywords"`` with the real (packaged) Korean model: the keyword-only
pass 1 with filler decodes of windows finds what the filler pass 1 finds on the
evaluation files where it finds keywords, decodes only part of the audio, works as
the audio streams, and is the same live and offline."""
from __future__ import annotations

from pathlib import Path

import pytest

from asr_models.analysis import Analyzer
from asr_models.recognizer import chunks, read_wav
from asr_models.spotting import WindowedPass1

DATA = Path(__file__).parent / "data" / "asr"
# The evaluation files where the current method (pass1 = "fillers") confirms keywords
# (docs/performance.md, keyword_eval section); the test checks that it still does.
FOUND = ("k23a.wav", "k23b.wav", "k26b.wav")
# k17b: the keyword-only pass hears 안 오 there and the window's filler decode keeps it
# as a candidate; pass 2 must reject it.  n01/n03: noise.
NOTHING = ("k17b.wav", "n01.wav", "n03.wav")


@pytest.fixture(scope="module")
def fillers():
    # No free transcript (it would cost most of the test's time): pass 2 is then the
    # grammar re-decode alone, which has to agree by itself.
    a = Analyzer.from_config({"language": "ko", "pass1": "fillers", "transcript": False})
    assert a.warm_up() == ""
    return a


@pytest.fixture(scope="module")
def keywords(fillers):
    a = Analyzer(fillers.store, fillers.lexicon, {**fillers.settings, "pass1": "keywords"})
    a.spotter._plan = fillers.spotter.plan       # same model, same plan: only pass 1 differs
    return a


def hits(analysis):
    return [(h.code, h.keyword, round(h.start, 1)) for h in analysis.hits]


@pytest.mark.parametrize("name", FOUND)
def test_same_hits_as_the_filler_pass1(fillers, keywords, name):
    pcm, rate = read_wav(str(DATA / name))
    current, windowed = fillers.analyze(pcm, rate), keywords.analyze(pcm, rate)
    assert current.hits, f"pass1=fillers no longer finds a keyword in {name}: update FOUND"
    assert hits(windowed) == hits(current)
    # ...while decoding only windows of the audio with the fillers
    assert 0 < windowed.timings["window_audio_s"] < windowed.duration_s
    assert "window_audio_s" not in current.timings


@pytest.mark.parametrize("name", NOTHING)
def test_no_false_hit_where_the_filler_pass1_has_none(fillers, keywords, name):
    pcm, rate = read_wav(str(DATA / name))
    assert fillers.analyze(pcm, rate).hits == []
    assert keywords.analyze(pcm, rate).hits == []


def quiet_line(seconds, rate=8000, seed=5):
    """Low line noise (digital zeros are not what a telephone line sends)."""
    import random
    import struct
    rnd = random.Random(seed)
    n = int(seconds * rate)
    return struct.pack(f"<{n}h", *(int(rnd.gauss(0, 20)) for _ in range(n)))


def test_windows_are_decoded_while_the_caller_speaks(fillers, keywords):
    """Two descriptions with a pause between: Vosk closes the first segment at the
    pause and its window is decoded before the second part has been fed."""
    first, rate = read_wav(str(DATA / "k23a.wav"))
    second, _ = read_wav(str(DATA / "k26b.wav"))
    pause = quiet_line(1.5, rate)
    p1 = WindowedPass1(keywords.spotter, rate)
    for piece in chunks(first + pause, rate):
        p1.accept(piece)
    early = list(p1.windows)
    assert early and all(w.end <= p1.seconds_until for w in early)
    for piece in chunks(second, rate):
        p1.accept(piece)
    p1.finish()
    assert p1.windows[:len(early)] == early and len(p1.windows) > len(early)
    offset = (len(first) + len(pause)) / 2 / rate
    assert any(w.end > offset for w in p1.windows[len(early):])        # the second part's window
    spans = [(w.start, w.end) for w in p1.windows]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))   # no audio twice
    whole = first + pause + second
    found = keywords.spotter.decide(whole, rate, p1.keyword_rec.finish(), None, p1.windows)
    assert found.hits and hits(found) == hits(fillers.analyze(whole, rate))


def test_live_and_offline_give_the_same_windows_and_hits(keywords):
    pcm, rate = read_wav(str(DATA / "k26b.wav"))
    offline = keywords.analyze(pcm, rate)
    live = keywords.session(rate)
    for i in range(0, len(pcm), 777):                     # odd pieces, as a worker may hand them over
        live.feed(pcm[i:i + 777])
    heard = live.finish()
    assert heard.hits == offline.hits and heard.candidates == offline.candidates
    assert heard.timings["window_audio_s"] == offline.timings["window_audio_s"]


def test_a_bad_pass1_value_fails_every_call_with_the_reason():
    a = Analyzer.from_config({"language": "ko", "pass1": "keyword"})
    assert "pass1" in a.warm_up()
    result = a.analyze(b"\1\0" * 8000)
    assert result.status == "failed" and "pass1" in result.reason


def test_the_mode_comes_from_the_configuration_file_and_environment(tmp_path):
    from cti.config import ConfigError, load

    toml = tmp_path / "happycall.toml"
    toml.write_text('[asr]\npass1 = "keywords"\nwindow_pad_s = 0.75\n', encoding="utf-8")
    spotter = Analyzer.from_config(load(toml, environ={})["asr"]).spotter
    assert (spotter.config.pass1, spotter.config.window_pad_s) == ("keywords", 0.75)
    env = load(None, environ={"HAPPYCALL_ASR_PASS1": "keywords"})["asr"]
    assert Analyzer.from_config(env).spotter.config.pass1 == "keywords"
    assert Analyzer.from_config(load(None, environ={})["asr"]).spotter.config.pass1 == "fillers"
    with pytest.raises(ConfigError):
        load(None, environ={"HAPPYCALL_ASR_WINDOW_PAD_S": "wide"})


def test_windows_keep_utterance_times_when_the_silence_before_speech_is_skipped(fillers, keywords):
    pcm, rate = read_wav(str(DATA / "k26b.wav"))
    lead = quiet_line(2.5, rate, seed=7)            # not decoded, except the last preroll_ms
    current, windowed = fillers.analyze(lead + pcm, rate), keywords.analyze(lead + pcm, rate)
    assert current.hits and hits(windowed) == hits(current)
    assert all(h.start > 2.5 for h in windowed.hits)
    assert windowed.timings["window_audio_s"] < windowed.duration_s - 2.0
