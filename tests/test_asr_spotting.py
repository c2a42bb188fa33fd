"""Keyword spotting on text-level fixtures: recogniser words in, confirmed hits out."""
from __future__ import annotations

import pytest

from asr_models.lexicon import load_lexicon
from asr_models.recognizer import Result, Word
from asr_models.spotting import (MASK, SpotterConfig, Window, build_plan, candidates_from_pass1,
                                 candidates_from_windows, choose_fillers, cohort, confirmed_by_transcript,
                                 hits_from_words, keyword_forms, keyword_spans, merge_windows, subtract_done)
from asr_models.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def ko():
    return load_lexicon("ko")


def words(*items):
    """("word", start, end, conf) tuples -> Words"""
    return [Word(w, s, e, c) for w, s, e, c in items]


def test_keyword_words_in_a_grammar_result(ko):
    ws = words(("세탁기", 0.1, 0.5, 1.0), ("또", 0.6, 0.8, 0.95), ("고장났", 0.8, 1.3, 0.92), ("어요", 1.3, 1.5, 1.0))
    hits = hits_from_words(ws, ko, only={"또", "고장났", "고장"})
    assert [(h.code, h.keyword, h.start, h.end, h.conf, h.words) for h in hits] == [
        ("N02", "또 고장", 0.6, 1.3, 0.92, ("또", "고장났"))]


def test_fillers_can_never_spell_a_keyword(ko):
    # "비" and "싸" are fillers here: together they must not become 비싸
    ws = words(("비", 0.1, 0.3, 1.0), ("싸", 0.3, 0.5, 1.0))
    assert hits_from_words(ws, ko, only={"비싸"}) == []
    assert hits_from_words(ws, ko) != []          # free text: spaces are unreliable, it would match


def test_non_words_are_masked(ko):
    ws = words(("[5]", 0.0, 0.2, 1.0), ("<UNK>", 0.2, 0.4, 1.0), ("수리비", 0.5, 1.0, 0.97))
    assert [h.keyword for h in hits_from_words(ws, ko)] == ["수리비"]


class _Plan:
    def __init__(self, form_words):
        self.form_words = frozenset(form_words)


def test_candidates_need_confidence_and_duration(ko):
    cfg = SpotterConfig(min_conf=0.9, min_syllable_s=0.08)
    result = Result.from_words(words(
        ("수리비", 0.0, 0.60, 0.95),     # kept
        ("노인", 1.0, 1.50, 0.60),       # low confidence
        ("빨리", 2.0, 2.05, 1.0),        # 50 ms for two syllables: too short
        ("언론", 3.0, 3.40, 0.91)))      # kept
    got = candidates_from_pass1(result, ko, _Plan({"수리비", "노인", "빨리", "언론"}), cfg)
    assert [h.keyword for h in got] == ["수리비", "언론"]


def test_negated_keyword_is_no_candidate(ko):
    result = Result.from_words(words(("안", 0.0, 0.2, 1.0), ("비싸", 0.2, 0.6, 1.0), ("요", 0.6, 0.7, 1.0)))
    assert candidates_from_pass1(result, ko, _Plan({"안", "비싸"}), SpotterConfig()) == []


def test_transcript_confirms_a_candidate_near_in_time(ko):
    cand = hits_from_words(words(("수리비", 1.0, 1.5, 1.0)), ko)[0]
    near = hits_from_words(words(("수리비가", 1.2, 1.8, 0.7)), ko, source="transcript")
    far = hits_from_words(words(("수리비가", 4.0, 4.5, 0.7)), ko, source="transcript")
    other = hits_from_words(words(("출장비가", 1.2, 1.8, 0.7)), ko, source="transcript")
    assert confirmed_by_transcript(cand, near, 0.5)
    assert not confirmed_by_transcript(cand, far, 0.5)
    assert not confirmed_by_transcript(cand, other, 0.5)


def small_vocab():
    words_ = {"고장": 5, "고장난": 7, "고장났": 8, "고장률": 9, "또": 2, "번": 3, "번지": 6, "여러": 4,
              "고정": 6, "공장": 6, "고생": 6, "의": 1, "에": 1.1, "비": 3, "수리": 4, "집": 3, "<UNK>": 9}
    return Vocabulary.from_pairs(words_.items(), True)


def test_keyword_forms_from_the_vocabulary(ko):
    vocab = small_vocab()
    kw = {k.phrase: k for k in ko.keywords}
    assert keyword_forms(kw["고장"], vocab, True) == ["고장", "고장난", "고장났"]     # not 고장률
    assert keyword_forms(kw["또 고장"], vocab, True) == ["또 고장", "또 고장난", "또 고장났"]
    assert keyword_forms(kw["여러 번"], vocab, True) == ["여러 번"]                  # 번지 is another word
    assert keyword_forms(kw["수리비"], vocab, True) == ["수리 비"]                   # written apart by the model
    assert keyword_forms(kw["출장비"], vocab, True) == []                           # not in this vocabulary


def test_cohort_and_fillers(ko):
    vocab = small_vocab()
    assert set(cohort("고장", vocab, set(), 2)) == {"고정", "공장"}           # one jamo away
    assert set(cohort("고장", vocab, {"공장"}, 10)) == {"고정", "고생"}       # too few: two jamo away too
    fillers = choose_fillers(vocab, ko, 10)
    assert fillers[0] == "의"                 # most frequent first
    assert "에" not in fillers                 # a piece of a keyword ("인터넷에 올")
    assert "고장" not in fillers and "또" not in fillers and "비" not in fillers and "수리" not in fillers
    assert "<UNK>" not in fillers


def test_plan(ko):
    plan = build_plan(ko, small_vocab(), SpotterConfig(fillers=3, confirm_fillers=3))
    assert "또 고장났" in plan.grammar and "<UNK>" in plan.grammar
    assert plan.fillers == ["의", "집", "공장"] and "출장비" in plan.unspottable
    assert "고정" in plan.confirm_grammar("고장", 3, with_cohort=True)
    assert "고정" not in plan.confirm_grammar("고장", 3, with_cohort=False)
    assert MASK not in plan.grammar


# ------------------------------------------------ pass1 = "keywords": windows

def test_windows_are_padded_clipped_and_merged():
    spans = [(2.0, 2.4), (0.1, 0.5), (2.6, 3.0), (6.0, 6.5)]
    # padded by 1 s: (0, 1.5) clipped at the start, overlapping (1.0, 3.4) and (1.6, 4.0): one window
    assert merge_windows(spans, 1.0, 0.0, 7.0) == [(0.0, 4.0), (5.0, 7.0)]
    small = merge_windows(spans, 0.05, 0.0, 7.0)            # apart when barely padded
    assert small == [pytest.approx(w) for w in [(0.05, 0.55), (1.95, 2.45), (2.55, 3.05), (5.95, 6.55)]]
    assert merge_windows([], 1.0, 0.0, 7.0) == []
    assert merge_windows([(8.0, 9.0)], 0.5, 0.0, 7.0) == []              # after the end: nothing to decode
    assert merge_windows([(3.0, 3.25)], 0.5, 3.0, 10.0) == [(3.0, 3.75)]  # lo: where decoding started


def test_touching_windows_merge():
    assert merge_windows([(1.0, 2.0), (3.0, 4.0)], 0.5, 0.0, 9.0) == [(0.5, 4.5)]


def test_audio_already_decoded_is_not_decoded_again():
    windows = [(0.0, 2.0), (3.0, 5.0), (6.0, 8.0)]
    assert subtract_done(windows, 0.0) == windows
    assert subtract_done(windows, 4.0) == [(4.0, 5.0), (6.0, 8.0)]
    assert subtract_done(windows, 5.0) == [(6.0, 8.0)]
    assert subtract_done(windows, 9.0) == []


def test_keyword_spans_take_keywords_at_any_confidence(ko):
    result = Result.from_words(words(("노인", 0.8, 1.5, 0.3), ("어려", 1.6, 1.9, 1.0), ("언론", 2.0, 2.4, 1.0)))
    # 어려 alone is no lexicon phrase (연결이 어려 is): it marks no window
    assert keyword_spans(result, ko, _Plan({"노인", "어려", "언론"})) == [(0.8, 1.5), (2.0, 2.4)]


def test_candidates_come_from_each_window_alone(ko):
    plan = _Plan({"또", "고장났"})
    cfg = SpotterConfig(min_conf=0.9)
    # 또 ends one window, 고장났 starts the next: together they would be 또 고장 (N02)
    first = Window(0.0, 1.0, Result.from_words(words(("또", 0.7, 0.95, 1.0))))
    second = Window(1.0, 2.0, Result.from_words(words(("고장났", 1.0, 1.5, 1.0))))
    got = candidates_from_windows([first, second], ko, plan, cfg)
    assert [h.keyword for h in got] == ["고장"]
    joined = Window(0.0, 2.0, Result.from_words(first.result.words + second.result.words))
    assert [h.keyword for h in candidates_from_windows([joined], ko, plan, cfg)] == ["또 고장"]


def test_window_candidates_keep_the_pass1_thresholds(ko):
    plan = _Plan({"수리비", "노인"})
    w = Window(0.0, 3.0, Result.from_words(words(("수리비", 0.2, 0.8, 0.95), ("노인", 1.0, 1.5, 0.6))))
    assert [h.keyword for h in candidates_from_windows([w], ko, plan, SpotterConfig())] == ["수리비"]


def test_pass1_mode_and_pad_are_checked():
    assert SpotterConfig.from_dict({"pass1": "keywords"}).pass1 == "keywords"
    with pytest.raises(ValueError, match="pass1"):
        SpotterConfig(pass1="keyword")
    with pytest.raises(ValueError, match="window_pad_s"):
        SpotterConfig(window_pad_s=-1)


def test_plan_has_a_keyword_only_grammar(ko):
    plan = build_plan(ko, small_vocab(), SpotterConfig(fillers=3, confirm_fillers=3))
    assert "또 고장났" in plan.keyword_grammar and "<UNK>" in plan.keyword_grammar
    assert not set(plan.fillers) & set(plan.keyword_grammar)
    assert set(plan.keyword_grammar) < set(plan.grammar)
