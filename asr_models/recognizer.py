"""Recognisers: one streaming recogniser per call, whole-file decoding, end of speech.

:class:`StreamRecognizer` wraps a ``vosk.KaldiRecognizer``: cheap to create (a few
MB and a few ms, the model is shared), fed 16-bit little-endian mono PCM as it
arrives, and :meth:`~StreamRecognizer.finish` returns every word of the utterance
with its times (seconds from the first byte fed) and confidence.  With a
``grammar`` (a list of phrases of model words) only those words can be output:
that is the fast keyword mode (see :mod:`asr_models.spotting`).

:func:`decode_file` decodes a WAV file through the very same class, fed in the
same 20 ms chunks as a call's audio, for tests and benchmarks.

:class:`EndpointDetector` says when the caller has finished speaking (energy on
20 ms frames, with an adaptive noise floor).
"""
from __future__ import annotations

import json
import re
import wave
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from asr_models.models import quiet_vosk

#: Tokens a Vosk model may output that are not words of the utterance: the Korean
#: language model's footnote marks ("[1]"), noise and unknown-word symbols.
NON_WORD = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")

CHUNK_MS = 20


@dataclass(frozen=True)
class Word:
    word: str
    start: float   # seconds
    end: float
    conf: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Result:
    text: str                              # the words, non-words left out
    words: tuple[Word, ...] = ()           # every word output, with times (non-words included)
    alternatives: tuple[str, ...] = ()     # n-best texts when asked for (max_alternatives > 0)

    @classmethod
    def from_words(cls, words: Sequence[Word], alternatives: Sequence[str] = ()) -> "Result":
        return cls(" ".join(w.word for w in words if not NON_WORD.match(w.word)), tuple(words), tuple(alternatives))


def _words_of(obj: dict, offset: float = 0.0) -> list[Word]:
    return [Word(str(w["word"]), float(w["start"]) + offset, float(w["end"]) + offset, float(w.get("conf", 1.0)))
            for w in obj.get("result", [])]


class StreamRecognizer:
    """One utterance, fed as it arrives.  Not thread-safe: one feeder at a time."""

    def __init__(self, model: Any, sample_rate: int = 8000, grammar: list[str] | None = None,
                 max_alternatives: int = 0):
        vosk = quiet_vosk()
        self.sample_rate = int(sample_rate)
        self.grammar = list(grammar) if grammar is not None else None
        if self.grammar is not None:
            self._rec = vosk.KaldiRecognizer(model, float(self.sample_rate),
                                             json.dumps(self.grammar, ensure_ascii=False))
        else:
            self._rec = vosk.KaldiRecognizer(model, float(self.sample_rate))
        self._rec.SetWords(True)
        self._alternatives = int(max_alternatives)
        if self._alternatives:
            self._rec.SetMaxAlternatives(self._alternatives)
        self._words: list[Word] = []
        self._offset = 0.0                 # seconds of the utterance before the first audio fed
        self._alt_texts: list[list[str]] = []
        self._carry = b""
        self.bytes_fed = 0
        self._finished: Result | None = None

    @property
    def seconds_fed(self) -> float:
        return self.bytes_fed / 2 / self.sample_rate

    @property
    def final_words(self) -> tuple[Word, ...]:
        """Words of the segments Vosk has already closed (at its own end points,
        pauses in the speech); they do not change any more."""
        return tuple(self._words)

    def start_at(self, seconds: float) -> None:
        """The audio about to be fed starts ``seconds`` into the utterance (the
        part before it was silence nobody decoded): word times stay utterance times."""
        if self.bytes_fed:
            raise RuntimeError("start_at() after audio was fed")
        self._offset = float(seconds)

    def accept(self, pcm16le: bytes) -> None:
        if self._finished is not None:
            raise RuntimeError("recogniser already finished")
        data = self._carry + bytes(pcm16le)
        if len(data) % 2:
            data, self._carry = data[:-1], data[-1:]
        else:
            self._carry = b""
        if not data:
            return
        self.bytes_fed += len(data)
        if self._rec.AcceptWaveform(data):          # Vosk found an end point: a segment is final
            self._take(json.loads(self._rec.Result()))

    def _take(self, obj: dict) -> None:
        if self._alternatives and "alternatives" in obj:
            alts = obj["alternatives"]
            if alts:
                self._words.extend(_words_of(alts[0], self._offset))
            self._alt_texts.append([a.get("text", "") for a in alts])
        else:
            self._words.extend(_words_of(obj, self._offset))

    def finish(self) -> Result:
        """All words of the utterance.  Idempotent."""
        if self._finished is None:
            self._take(json.loads(self._rec.FinalResult()))
            alternatives: list[str] = []
            if self._alt_texts:
                # n-best of the whole utterance: segment alternatives joined rank by rank.
                depth = max(len(a) for a in self._alt_texts)
                for k in range(depth):
                    alternatives.append(" ".join(a[min(k, len(a) - 1)] for a in self._alt_texts if a).strip())
            self._finished = Result.from_words(self._words, alternatives)
            self._rec = None  # free the decoder now, not when the session is dropped
        return self._finished


def read_wav(path: str) -> tuple[bytes, int]:
    """(16-bit mono PCM, sample rate) of a WAV file; ValueError for anything else."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            raise ValueError(f"{path}: need mono 16-bit PCM WAV")
        return w.readframes(w.getnframes()), w.getframerate()


def chunks(pcm: bytes, sample_rate: int, ms: int = CHUNK_MS) -> Iterable[bytes]:
    step = sample_rate * ms // 1000 * 2
    for i in range(0, len(pcm), step):
        yield pcm[i:i + step]


def decode_pcm(model: Any, pcm16le: bytes, sample_rate: int = 8000, grammar: list[str] | None = None,
               max_alternatives: int = 0) -> Result:
    rec = StreamRecognizer(model, sample_rate, grammar, max_alternatives)
    for chunk in chunks(pcm16le, sample_rate):
        rec.accept(chunk)
    return rec.finish()


def decode_file(model: Any, wav_path: str, grammar: list[str] | None = None, max_alternatives: int = 0) -> Result:
    """Decode a whole WAV file, through StreamRecognizer in 20 ms chunks like a call."""
    pcm, rate = read_wav(wav_path)
    return decode_pcm(model, pcm, rate, grammar, max_alternatives)


def frame_levels(pcm16le: bytes, frame_samples: int) -> list[float]:
    """RMS level in dB relative to full scale (-120 for silence) of each complete
    frame of 16-bit little-endian samples (numpy: this runs for every RTP packet of
    every call being listened to)."""
    usable = len(pcm16le) // (2 * frame_samples) * frame_samples
    if not usable:
        return []
    x = np.frombuffer(pcm16le, dtype="<i2", count=usable).astype(np.float64).reshape(-1, frame_samples)
    energy = np.einsum("ij,ij->i", x, x) / frame_samples
    with np.errstate(divide="ignore"):
        levels = np.where(energy > 0, 10 * np.log10(energy / 32768.0 ** 2), -120.0)
    return levels.tolist()


@dataclass
class EndpointDetector:
    """Energy-based end of speech on 20 ms frames.

    A frame is speech when it is ``margin_db`` above the noise floor (the running
    minimum level, rising slowly) and above ``min_dbfs``.  The utterance is over when
    at least ``min_speech_ms`` of speech was heard and ``trailing_silence_ms`` of
    non-speech followed, or ``max_ms`` of audio was fed, or nothing was said for
    ``no_speech_ms``.  ``feed`` (alias ``push``) returns True once it is over;
    ``reason`` says why ('end_of_speech', 'max_length', 'no_speech').
    """
    min_speech_ms: int = 300
    trailing_silence_ms: int = 800
    max_ms: int = 15000
    no_speech_ms: int = 5000
    sample_rate: int = 8000
    margin_db: float = 12.0
    min_dbfs: float = -50.0
    frame_ms: int = 20
    speech_ms: int = field(default=0, init=False)
    silence_ms: int = field(default=0, init=False)
    total_ms: int = field(default=0, init=False)
    reason: str = field(default="", init=False)
    first_speech_ms: int | None = field(default=None, init=False)   # start of the first speech frame
    noise_floor_dbfs: float = field(default=-60.0, init=False)
    _pending: bytes = field(default=b"", init=False, repr=False)
    _first: bool = field(default=True, init=False, repr=False)

    @property
    def finished(self) -> bool:
        return bool(self.reason)

    @property
    def speech_started(self) -> bool:
        return self.speech_ms >= self.min_speech_ms

    def feed(self, pcm16le: bytes) -> bool:
        if self.reason:
            return True
        data = self._pending + bytes(pcm16le)
        n = self.sample_rate * self.frame_ms // 1000
        levels = frame_levels(data, n)
        self._pending = data[len(levels) * n * 2:]
        for level in levels:
            self._frame(level)
            if self.reason:
                break
        return bool(self.reason)

    push = feed

    def _frame(self, level: float) -> None:
        if self._first:
            self.noise_floor_dbfs, self._first = min(level, -40.0), False
        # Floor: follows drops at once, rises 0.2 dB per frame (speech does not pull it up fast).
        self.noise_floor_dbfs = level if level < self.noise_floor_dbfs else min(level, self.noise_floor_dbfs + 0.2)
        speech = level >= max(self.min_dbfs, self.noise_floor_dbfs + self.margin_db)
        self.total_ms += self.frame_ms
        if speech:
            if self.first_speech_ms is None:
                self.first_speech_ms = self.total_ms - self.frame_ms
            self.speech_ms += self.frame_ms
            self.silence_ms = 0
        else:
            self.silence_ms += self.frame_ms
        if self.speech_started and self.silence_ms >= self.trailing_silence_ms:
            self.reason = "end_of_speech"
        elif self.total_ms >= self.max_ms:
            self.reason = "max_length"
        elif not self.speech_started and self.total_ms >= self.no_speech_ms:
            self.reason = "no_speech"
