"""Keyword matcher on text: Korean particles/endings, spacing, negation; English."""
from __future__ import annotations

import json

import pytest

from asr_models.lexicon import lexicon_from_dict, load_lexicon, match_text, tokenize


@pytest.fixture(scope="module")
def ko():
    return load_lexicon("ko")


@pytest.fixture(scope="module")
def en():
    return load_lexicon("en")


def found(text, lexicon, **kw):
    return [(h.code, h.keyword) for h in match_text(text, lexicon, **kw)]


@pytest.mark.parametrize("text, expected", [
    ("고장이 났어요", ("N02", "고장")),
    ("고장났어요", ("N02", "고장")),
    ("수리비가 얼마예요", ("N04", "수리비")),
    ("빨리요", ("E01", "빨리")),
    ("세탁기가 또 고장났어요", ("N02", "또 고장")),
    ("또고장났네요", ("N02", "또 고장")),                 # no space
    ("또 이렇게 고장났네", ("N02", "또 고장")),           # one word between
    ("세탁기가또고장났어요", ("N02", "또 고장")),          # run together after a particle
    ("너무비싸요", ("N04", "비싸")),                      # after an attachable word
    ("약속 시간에 안 왔어요", ("N01", "안 왔")),
    ("전화가 자꾸 끊겨요", ("N06", "끊겨")),
])
def test_korean_stems_with_particles_and_endings(ko, text, expected):
    assert expected in found(text, ko)


def test_surface_and_spans(ko):
    text = "수리비가 너무 비싸요"
    hits = match_text(text, ko)
    assert [(h.keyword, h.surface, text[h.start_char:h.end_char]) for h in hits] == [
        ("수리비", "수리비가", "수리비"), ("비싸", "비싸요", "비싸")]


def test_longer_phrase_of_the_same_code_wins(ko):
    # "고장" (weak, N02) inside "또 고장" is not counted twice
    assert found("또 고장났어요", ko) == [("N02", "또 고장")]


@pytest.mark.parametrize("text", ["안 비싸요", "별로 안 비싸요", "비싸지 않아요", "비싸진 않네요", "안비싸요"])
def test_korean_negation_cancels_negatable_keywords(ko, text):
    assert ("N04", "비싸") not in found(text, ko)
    negated = [h for h in match_text(text, ko, include_negated=True) if h.keyword == "비싸"]
    assert negated and all(h.negated for h in negated)


def test_negation_only_for_negatable_keywords(ko):
    assert ("P03", "친절") not in found("친절하지 않았어요", ko)
    assert ("N01", "안 왔") in found("기사님이 안 왔어요", ko)   # its own negation is the point


@pytest.mark.parametrize("text", ["감사원에서 나왔어요", "보증금을 돌려주세요", "연세대 다녀요", "유감사항",
                                  "프라이팬이 탔어요", "냉장고에서 소리가 나요", "오늘 날씨가 좋네요"])
def test_korean_non_keywords(ko, text):
    assert found(text, ko) == []


def test_one_syllable_keyword_is_refused():
    with pytest.raises(ValueError):
        lexicon_from_dict({"language": "ko", "codes": {"X01": {"keywords": ["팬"]}}})


@pytest.mark.parametrize("text, expected", [
    ("It broke again and the repair cost was huge", [("N02", "broke again"), ("N04", "repair cost*")]),
    ("The technician never came.", [("N01", "never came")]),
    ("Please come as soon as possible!", [("E01", "as soon as possible")]),
    ("Is it still under warranty?", [("E10", "warrant*")]),
    ("It's very EXPENSIVE", [("N04", "expensive")]),
])
def test_english(en, text, expected):
    assert found(text, en) == expected


def test_english_negation(en):
    assert found("It is not expensive", en) == []
    assert found("it wasn't really expensive", en) == []
    assert found("it is expensive", en) == [("N04", "expensive")]


def test_lexicons_cover_the_codes_in_order():
    for language in ("ko", "en"):
        lex = load_lexicon(language)
        assert lex.codes() == sorted([f"P{i:02d}" for i in range(1, 7)] + [f"E{i:02d}" for i in range(1, 15)]
                                     + [f"N{i:02d}" for i in range(1, 16)])
        assert lex.voice == {"raised_voice": ["N08"], "low_flat_voice": ["N10"]}


def test_labels_of_the_evaluation_set_agree_with_the_matcher():
    from pathlib import Path
    labels = json.loads((Path(__file__).parent / "data" / "asr" / "labels.json").read_text(encoding="utf-8"))
    lexicons = {"ko": load_lexicon("ko"), "en": load_lexicon("en")}
    for name, lab in labels.items():
        hits = match_text(lab["text"], lexicons[lab["language"]])
        assert [[h.code, h.keyword] for h in hits] == lab["keywords"], name
        assert sorted({h.code for h in hits}) == lab["codes"], name
        assert lab["licence"]


def test_tokenize_keeps_offsets():
    assert tokenize("또, 고장!") == [("또", 0, 1), ("고장", 3, 5)]
