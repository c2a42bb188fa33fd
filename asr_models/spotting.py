"""Keyword spotting that rejects non-keywords.

A bare keyword grammar (the recogniser may only output keywords) turns any speech
into keywords: the decoder must pick *some* grammar word for every stretch of
sound, and the Korean model's ``[unk]`` is missing (it has ``<UNK>``, but that is a
single noise phone and absorbs little).  The method here (numbers and reasons in
docs/keyword-spotting.md):

Pass 1, streaming, with the call's audio — one grammar recogniser whose grammar
is the keywords *plus filler words*: the ``fillers`` most frequent words of the
model's own vocabulary (short Hangul words, none of them a piece of a keyword or
starting with one).  Non-keyword speech is then decoded as fillers; a keyword has
to beat every filler.  A keyword the recogniser outputs is a *candidate* when its
word confidence is >= ``min_conf`` and it lasts >= ``min_syllable_s`` per syllable.

Pass 2, per candidate, on the buffered audio around it (``pad_s`` each side) —
re-decode that segment alone with a grammar of the keyword and the
``confirm_fillers`` most frequent fillers: the keyword must win again, without the
help of the words around it, with confidence >= ``confirm_conf``.  Optionally
(``confirm_cohort``) the keyword's *cohort* competes too: the vocabulary's words one
or two jamo away from it (고장 vs 고정/공장, 노인 vs 노임); measured on the synthetic
set it rejected true keywords, so it is off by default.  With ``use_transcript`` a
candidate is also confirmed when the free (full language model) transcript has the
keyword within ``transcript_slack_s``.

Only confirmed hits are reported (``SpotResult.hits``); the unconfirmed
candidates stay in ``SpotResult.candidates`` for diagnostics.

``pass1 = "keywords"`` (:class:`WindowedPass1`) is a cheaper pass 1: the streaming
recogniser has the keyword forms only (no fillers), so it is fast but hears keywords
nearly everywhere; every keyword it outputs, at any confidence, only marks a
*window* (``window_pad_s`` each side, overlapping windows merged), and each window is
decoded with the pass-1 filler grammar as soon as the audio after it has arrived.
The candidates are then those of the windows' filler decodes, with the same
thresholds and the same pass 2.  Fillers decode only the windows' share of the
audio; measured figures in docs/keyword-spotting.md.

Keyword phrases come from the lexicon as stems; the grammar needs model words, so
each stem becomes its vocabulary forms: the stem itself and stem + a common
particle/ending when the vocabulary has that word ("고장", "고장난", "고장났";
"급해" is not a word of the model but "급해서" is).  A phrase none of whose forms is
in the vocabulary cannot be spotted in audio; ``SpotPlan.unspottable`` lists them
(they can still be found in the transcript by the text matcher).
"""
from __future__ import annotations

import itertools
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from asr_models.lexicon import Keyword, Lexicon, match_text
from asr_models.recognizer import NON_WORD, Result, StreamRecognizer, Word, chunks, decode_pcm
from asr_models.vocabulary import Vocabulary

#: Particles and endings tried after a Korean stem to find its forms in the vocabulary.
KO_SUFFIXES = ("이", "가", "은", "는", "을", "를", "에", "도", "만", "요", "나", "난", "날", "났", "내", "냈",
               "한", "할", "했", "해", "하", "합", "겨", "기", "고", "서", "지", "어", "아", "었", "았", "게",
               "면", "니", "해서", "해요", "했어", "하게", "하다", "합니다", "서요", "어요", "아요")
EN_SUFFIXES = ("s", "es", "ed", "d", "ing")
PASS1_MODES = ("fillers", "keywords")
MASK = "ㅡ"          # stands for a filler word when matching keyword words in a grammar result

_HANGUL_WORD = re.compile(r"^[가-힣]+$")
_LATIN_WORD = re.compile(r"^[a-z']+$")


@dataclass(frozen=True)
class KeywordHit:
    code: str
    keyword: str          # lexicon phrase
    start: float          # seconds from the start of the utterance
    end: float
    conf: float           # lowest word confidence of the keyword's words
    confirmed: bool
    words: tuple[str, ...] = ()   # what the recogniser output
    weight: float = 1.0
    source: str = "grammar"       # 'grammar' (pass 1) or 'transcript'

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SpotterConfig:
    fillers: int = 3000
    use_unk: bool = True
    min_conf: float = 0.9
    min_syllable_s: float = 0.08
    confirm: bool = True
    confirm_conf: float = 0.5
    confirm_fillers: int = 1000
    confirm_cohort: bool = False
    cohort_size: int = 40
    pad_s: float = 0.3
    use_transcript: bool = True
    transcript_slack_s: float = 0.5
    max_forms: int = 6
    pass1: str = "fillers"        # "fillers" | "keywords" (keyword-only pass 1 + windows, see WindowedPass1)
    window_pad_s: float = 1.0     # pass1="keywords": audio each side of a keyword decoded with the fillers

    def __post_init__(self):
        if self.pass1 not in PASS1_MODES:
            raise ValueError(f"asr.pass1 must be one of {', '.join(PASS1_MODES)}, not {self.pass1!r}")
        if self.window_pad_s < 0:
            raise ValueError(f"asr.window_pad_s must be >= 0, not {self.window_pad_s!r}")

    @classmethod
    def from_dict(cls, data: dict | None) -> "SpotterConfig":
        data = dict(data or {})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# -------------------------------------------------------------------------- plan

@dataclass
class SpotPlan:
    """Everything derived once per process from the lexicon and the vocabulary."""
    grammar: list[str]                          # pass 1: keyword forms + fillers (+ <UNK>)
    keyword_forms: dict[str, list[str]]         # phrase -> grammar phrases
    form_words: frozenset[str]                  # every model word used by a keyword form
    fillers: list[str]
    cohorts: dict[str, list[str]]               # phrase -> confusable vocabulary words
    unspottable: list[str]
    keywords: dict[str, list[Keyword]] = field(default_factory=dict)
    keyword_grammar: list[str] = field(default_factory=list)   # pass1="keywords": keyword forms (+ <UNK>)

    def confirm_grammar(self, phrase: str, fillers: int, with_cohort: bool = True) -> list[str]:
        near = set(self.cohorts.get(phrase, ())) if with_cohort else set()
        return sorted(set(self.keyword_forms[phrase]) | near) + self.fillers[:fillers]


def _word_forms(stem: str, vocab: Vocabulary, korean: bool, max_forms: int, bare_only: bool = False) -> list[str]:
    """The stem as model words: itself, then stem + particle/ending forms (most frequent
    first).  One-syllable stems (몇, 번, 또) and ``bare_only`` parts take no ending:
    "번" + "지" is 번지 (a street number), not a form of 번."""
    if not korean:
        stem = stem.rstrip("*") if stem.endswith("*") else stem
    forms = [stem] if stem in vocab else []
    if (korean and len(stem) < 2) or (bare_only and forms):
        return forms
    if korean and not forms and not any(stem + s in vocab for s in KO_SUFFIXES):
        # The model writes particles apart: 가족이 -> "가족 이", 아직도 -> "아직 도".
        splits = [(vocab.cost(stem[:i]) + vocab.cost(stem[i:]), f"{stem[:i]} {stem[i:]}")
                  for i in range(1, len(stem)) if stem[:i] in vocab and stem[i:] in vocab]
        return [min(splits)[1]] if splits else []
    suffixes = KO_SUFFIXES if korean else EN_SUFFIXES
    extra = [stem + s for s in suffixes if stem + s in vocab]
    extra.sort(key=vocab.cost)
    forms.extend(extra)
    return forms[:max_forms]


def keyword_forms(keyword: Keyword, vocab: Vocabulary, korean: bool, max_forms: int = 6) -> list[str]:
    """Grammar phrases (model words) that say ``keyword``; [] when it cannot be said."""
    last = len(keyword.parts) - 1
    # Earlier parts of a phrase: the bare stem when the model has it (else its most
    # frequent form); the last part: all its forms.
    per_part = [_word_forms(p, vocab, korean, max_forms, bare_only=i < last)[: 1 if i < last else max_forms]
                for i, p in enumerate(keyword.parts)]
    if not all(per_part):
        return []
    return [" ".join(combo) for combo in itertools.product(*per_part)]


# Hangul syllable = 0xAC00 + (initial * 21 + medial) * 28 + final
_N_INITIAL, _N_MEDIAL, _N_FINAL = 19, 21, 28


def _jamo(syllable: str) -> tuple[int, int, int] | None:
    code = ord(syllable) - 0xAC00
    if not 0 <= code < _N_INITIAL * _N_MEDIAL * _N_FINAL:
        return None
    return code // (_N_MEDIAL * _N_FINAL), (code // _N_FINAL) % _N_MEDIAL, code % _N_FINAL


def _syllable(i: int, m: int, f: int) -> str:
    return chr(0xAC00 + (i * _N_MEDIAL + m) * _N_FINAL + f)


def _one_jamo_away(word: str) -> set[str]:
    out = set()
    for pos, ch in enumerate(word):
        j = _jamo(ch)
        if j is None:
            continue
        i, m, f = j
        variants = ([(x, m, f) for x in range(_N_INITIAL)] + [(i, x, f) for x in range(_N_MEDIAL)]
                    + [(i, m, x) for x in range(_N_FINAL)])
        for v in variants:
            if v != j:
                out.add(word[:pos] + _syllable(*v) + word[pos + 1:])
    return out


def cohort(word: str, vocab: Vocabulary, exclude: set[str], size: int,
           known: "set[str] | frozenset[str] | Vocabulary | None" = None) -> list[str]:
    """Vocabulary words one or two jamo substitutions away from ``word`` (most frequent first).
    ``known``: a set of the vocabulary's words, for speed."""
    if not _HANGUL_WORD.match(word):
        return []
    known = vocab if known is None else known
    near = _one_jamo_away(word)
    found = {w for w in near if w in known}
    if len(found) < min(size, 10):
        for w in near:
            found.update(w2 for w2 in _one_jamo_away(w) if w2 in known)
    found -= exclude
    found.discard(word)
    return sorted(found, key=lambda w: (vocab.cost(w), w))[:size]


def choose_fillers(vocab: Vocabulary, lexicon: Lexicon, n: int) -> list[str]:
    """The ``n`` most frequent short words that are neither a piece of a keyword nor start with one."""
    if n <= 0:
        return []
    parts = {p.rstrip("*") for kw in lexicon.keywords for p in kw.parts}
    pattern = _HANGUL_WORD if lexicon.korean else _LATIN_WORD
    max_len = 3 if lexicon.korean else 8

    def keep(w: str) -> bool:
        if not pattern.match(w) or len(w) > max_len:
            return False
        return not any(w in p or w.startswith(p) for p in parts)

    if vocab.has_frequencies:
        return vocab.most_frequent(n, keep)
    return sorted(w for w in vocab.words if keep(w))[:n]   # no frequencies: an arbitrary but fixed choice


def build_plan(lexicon: Lexicon, vocab: Vocabulary, config: SpotterConfig) -> SpotPlan:
    korean = lexicon.korean
    forms: dict[str, list[str]] = {}
    keywords: dict[str, list[Keyword]] = {}
    unspottable = []
    for kw in lexicon.keywords:
        keywords.setdefault(kw.phrase, []).append(kw)
        if kw.phrase in forms or kw.phrase in unspottable:
            continue
        f = keyword_forms(kw, vocab, korean, config.max_forms)
        if f:
            forms[kw.phrase] = f
        else:
            unspottable.append(kw.phrase)
    form_words = frozenset(w for fs in forms.values() for phrase in fs for w in phrase.split())
    fillers = choose_fillers(vocab, lexicon, max(config.fillers, config.confirm_fillers))
    cohorts = {}
    known = set(vocab.words) if korean else None
    cache: dict[str, list[str]] = {}
    for phrase, fs in forms.items():
        near: list[str] = []
        for w in keywords[phrase][0].parts:          # the stems, not every form
            if w not in cache:
                cache[w] = cohort(w, vocab, set(form_words), config.cohort_size, known)
            near.extend(cache[w])
        cohorts[phrase] = sorted(set(near))[: config.cohort_size * 2]
    keyword_grammar = sorted({p for fs in forms.values() for p in fs})
    grammar = keyword_grammar + fillers[:config.fillers]
    if config.use_unk and "<UNK>" in vocab:
        grammar.append("<UNK>")
        keyword_grammar = keyword_grammar + ["<UNK>"]
    return SpotPlan(grammar, forms, form_words, fillers, cohorts, sorted(unspottable), keywords, keyword_grammar)


# ------------------------------------------------------------ words -> hits

def _text_with_offsets(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    spans, pos = [], 0
    for t in tokens:
        spans.append((pos, pos + len(t)))
        pos += len(t) + 1
    return " ".join(tokens), spans


def hits_from_words(words: Sequence[Word], lexicon: Lexicon, only: Iterable[str] | None = None,
                    source: str = "grammar") -> list[KeywordHit]:
    """Keyword hits among recogniser ``words`` (text matcher on the words, mapped back to
    their times).  ``only``: the words that may form a keyword (the grammar's keyword
    words); others are masked so fillers can never spell a keyword.  Not filtered by
    confidence; ``confirmed`` is False."""
    allowed = set(only) if only is not None else None
    tokens = []
    for w in words:
        if NON_WORD.match(w.word) or (allowed is not None and w.word not in allowed):
            tokens.append(MASK)
        else:
            tokens.append(w.word)
    text, spans = _text_with_offsets(tokens)
    hits = []
    for th in match_text(text, lexicon):
        idx = [i for i, (s, e) in enumerate(spans) if s < th.end_char and th.start_char < e and tokens[i] != MASK]
        if not idx:
            continue
        ws = [words[i] for i in idx]
        hits.append(KeywordHit(th.code, th.keyword, ws[0].start, ws[-1].end, min(w.conf for w in ws), False,
                               tuple(w.word for w in ws), th.weight, source))
    return hits


def _syllables(phrase: str, korean: bool) -> int:
    if korean:
        return max(1, sum(1 for ch in phrase if "가" <= ch <= "힣"))
    return max(1, len(re.findall(r"[aeiouy]+", phrase)))


def candidates_from_pass1(result: Result, lexicon: Lexicon, plan: SpotPlan, config: SpotterConfig) -> list[KeywordHit]:
    """Pass-1 keywords that clear the confidence and duration thresholds."""
    out = []
    for h in hits_from_words(result.words, lexicon, plan.form_words):
        if h.conf < config.min_conf:
            continue
        if h.duration < config.min_syllable_s * _syllables(h.keyword, lexicon.korean):
            continue
        out.append(h)
    return out


# ------------------------------------------------- pass1="keywords": windows

@dataclass(frozen=True)
class Window:
    """A stretch of the utterance decoded with the filler grammar; ``result`` has
    utterance times."""
    start: float
    end: float
    result: Result

    @property
    def duration(self) -> float:
        return self.end - self.start


def keyword_spans(result: Result, lexicon: Lexicon, plan: SpotPlan) -> list[tuple[float, float]]:
    """Where the keyword-only recogniser output a keyword, at any confidence."""
    return [(h.start, h.end) for h in hits_from_words(result.words, lexicon, plan.form_words)]


def merge_windows(spans: Iterable[tuple[float, float]], pad: float, lo: float, hi: float) -> list[tuple[float, float]]:
    """Spans widened by ``pad`` each side, clipped to [lo, hi], overlapping or touching
    ones merged; sorted.  Empty windows are dropped."""
    merged: list[list[float]] = []
    for a, b in sorted((max(lo, a - pad), min(hi, b + pad)) for a, b in spans):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def subtract_done(windows: Sequence[tuple[float, float]], done_until: float) -> list[tuple[float, float]]:
    """The parts of ``windows`` after ``done_until`` (audio already decoded is not decoded twice)."""
    return [(max(a, done_until), b) for a, b in windows if b > done_until]


def candidates_from_windows(windows: Sequence[Window], lexicon: Lexicon, plan: SpotPlan,
                            config: SpotterConfig) -> list[KeywordHit]:
    """Pass-1 candidates of each window's filler decode (per window, so that no
    keyword is made of words from two windows)."""
    return [c for w in windows for c in candidates_from_pass1(w.result, lexicon, plan, config)]


def confirmed_by_transcript(candidate: KeywordHit, transcript_hits: Sequence[KeywordHit], slack: float) -> bool:
    return any(t.keyword == candidate.keyword and t.start - slack <= candidate.end and candidate.start <= t.end + slack
               for t in transcript_hits)


class WindowedPass1:
    """Pass 1 with ``pass1 = "keywords"``, for one utterance, fed like a
    :class:`StreamRecognizer` (``start_at``, ``accept``, ``finish``).

    The keyword-only recogniser runs on all the audio.  Whenever Vosk closes a
    segment (a pause) its keywords mark windows; a window is decoded with the filler
    grammar as soon as the audio up to its end has arrived, so at the end of speech
    only the last windows are left.  Audio already decoded is never decoded again: a
    later window overlapping a decoded one starts where that one ended.  Everything
    depends on the audio only (it arrives in 20 ms pieces), so a live call and an
    offline decode give the same windows."""

    def __init__(self, spotter: "Spotter", sample_rate: int = 8000):
        self.plan = spotter.plan
        self.lexicon = spotter.lexicon
        self.pad = spotter.config.window_pad_s
        self.sample_rate = int(sample_rate)
        self._model = spotter.store.get()
        self.keyword_rec = StreamRecognizer(self._model, self.sample_rate, self.plan.keyword_grammar)
        self._audio = bytearray()
        self._offset = 0.0
        self._done_until = 0.0
        self._seen = 0                                   # closed words already looked at
        self._pending: list[tuple[float, float]] = []
        self.windows: list[Window] = []
        self.window_cpu_s = 0.0                          # thread CPU of the filler decodes

    @property
    def seconds_until(self) -> float:
        """Utterance time up to which audio has arrived."""
        return self._offset + len(self._audio) / 2 / self.sample_rate

    @property
    def window_audio_s(self) -> float:
        return sum(w.duration for w in self.windows)

    def start_at(self, seconds: float) -> None:
        self.keyword_rec.start_at(seconds)
        self._offset = self._done_until = float(seconds)

    def accept(self, pcm16le: bytes) -> None:
        self._audio += pcm16le
        self.keyword_rec.accept(pcm16le)
        closed = self.keyword_rec.final_words
        if len(closed) != self._seen:
            self._seen = len(closed)
            self._mark(closed)
        if self._pending:
            self._decode_ready(self.seconds_until)

    def finish(self) -> Result:
        """The keyword-only result; ``windows`` then holds every window's filler decode."""
        result = self.keyword_rec.finish()
        self._mark(result.words)
        self._decode_ready(math.inf)
        return result

    def _mark(self, words: Sequence[Word]) -> None:
        spans = keyword_spans(Result.from_words(words), self.lexicon, self.plan)
        self._pending = subtract_done(merge_windows(spans, self.pad, self._offset, math.inf), self._done_until)

    def _decode_ready(self, until: float) -> None:
        while self._pending and self._pending[0][1] <= until:
            a, b = self._pending.pop(0)
            b = min(b, self.seconds_until)
            if b > a:
                self._decode(a, b)
            self._done_until = max(self._done_until, b)

    def _decode(self, a: float, b: float) -> None:
        started = time.thread_time()
        i = int(round((a - self._offset) * self.sample_rate)) * 2
        j = int(round((b - self._offset) * self.sample_rate)) * 2
        rec = StreamRecognizer(self._model, self.sample_rate, self.plan.grammar)
        rec.start_at(self._offset + i / 2 / self.sample_rate)
        for piece in chunks(bytes(self._audio[i:j]), self.sample_rate):
            rec.accept(piece)
        self.windows.append(Window(a, b, rec.finish()))
        self.window_cpu_s += time.thread_time() - started


# ------------------------------------------------------------------- spotter

@dataclass
class SpotResult:
    hits: list[KeywordHit]              # confirmed: what may be shown
    candidates: list[KeywordHit]        # pass 1 above thresholds, confirmed or not
    pass1: Result                       # with pass1="keywords": the keyword-only result


class Spotter:
    """Keyword spotting for one model and lexicon; build once per process, share
    between calls (thread-safe: each session has its own recognisers)."""

    def __init__(self, model_store: Any, lexicon: Lexicon, config: SpotterConfig | None = None,
                 vocabulary: Vocabulary | None = None):
        self.store = model_store
        self.lexicon = lexicon
        self.config = config or SpotterConfig()
        self._vocab = vocabulary
        self._plan: SpotPlan | None = None
        self._lock = threading.Lock()

    @property
    def plan(self) -> SpotPlan:
        if self._plan is None:
            with self._lock:
                if self._plan is None:
                    vocab = self._vocab
                    if vocab is None:
                        from asr_models.vocabulary import read_vocabulary
                        vocab = read_vocabulary(self.store.info.path)
                    self._plan = build_plan(self.lexicon, vocab, self.config)
                    self._vocab = None   # the plan has what it needs; let the word list go
        return self._plan

    def with_config(self, **changes: Any) -> "Spotter":
        """A spotter sharing this one's model with other settings (benchmarks)."""
        other = Spotter(self.store, self.lexicon, replace(self.config, **changes), self._vocab)
        if self._plan is not None and set(changes) <= {"min_conf", "min_syllable_s", "confirm", "confirm_conf",
                                                      "pad_s", "use_transcript", "transcript_slack_s",
                                                      "confirm_cohort", "confirm_fillers", "pass1",
                                                      "window_pad_s"}:
            other._plan = self._plan
        return other

    def recognizer(self, sample_rate: int = 8000) -> StreamRecognizer:
        """The pass-1 recogniser of ``pass1 = "fillers"`` (keywords + fillers)."""
        return StreamRecognizer(self.store.get(), sample_rate, self.plan.grammar)

    def pass1(self, sample_rate: int = 8000) -> "StreamRecognizer | WindowedPass1":
        """Pass 1 for one utterance as configured (``start_at``/``accept``/``finish``)."""
        if self.config.pass1 == "keywords":
            return WindowedPass1(self, sample_rate)
        return self.recognizer(sample_rate)

    def confirm(self, pcm16le: bytes, sample_rate: int, candidate: KeywordHit) -> bool:
        """Pass 2: re-decode the audio around ``candidate`` against its cohort."""
        cfg = self.config
        bytes_per_s = 2 * sample_rate
        a = max(0, int((candidate.start - cfg.pad_s) * sample_rate)) * 2
        b = min(len(pcm16le), int((candidate.end + cfg.pad_s) * sample_rate) * 2)
        if b - a < bytes_per_s // 10:
            return False
        grammar = self.plan.confirm_grammar(candidate.keyword, cfg.confirm_fillers, cfg.confirm_cohort)
        result = decode_pcm(self.store.get(), pcm16le[a:b], sample_rate, grammar)
        allowed = {w for p in self.plan.keyword_forms[candidate.keyword] for w in p.split()}
        return any(h.keyword == candidate.keyword and h.conf >= cfg.confirm_conf
                   for h in hits_from_words(result.words, self.lexicon, allowed))

    def decide(self, pcm16le: bytes, sample_rate: int, pass1: Result,
               transcript: Result | None = None, windows: Sequence[Window] | None = None) -> SpotResult:
        """Candidates of ``pass1`` (or, with ``pass1 = "keywords"``, of its ``windows``'
        filler decodes) and which of them are confirmed."""
        cfg = self.config
        if windows is None:
            candidates = candidates_from_pass1(pass1, self.lexicon, self.plan, cfg)
        else:
            candidates = candidates_from_windows(windows, self.lexicon, self.plan, cfg)
        transcript_hits = hits_from_words(transcript.words, self.lexicon, source="transcript") if transcript else []
        decided = []
        for c in candidates:
            if not cfg.confirm:
                ok = True
            else:
                ok = cfg.use_transcript and confirmed_by_transcript(c, transcript_hits, cfg.transcript_slack_s)
                ok = ok or self.confirm(pcm16le, sample_rate, c)
            decided.append(replace(c, confirmed=ok))
        return SpotResult([c for c in decided if c.confirmed], decided, pass1)

    def spot(self, pcm16le: bytes, sample_rate: int = 8000, transcript: Result | None = None) -> SpotResult:
        """Both passes over a whole utterance (offline form of a session)."""
        rec = self.pass1(sample_rate)
        for chunk in chunks(pcm16le, sample_rate):
            rec.accept(chunk)
        pass1 = rec.finish()
        windows = rec.windows if isinstance(rec, WindowedPass1) else None
        return self.decide(pcm16le, sample_rate, pass1, transcript, windows)
