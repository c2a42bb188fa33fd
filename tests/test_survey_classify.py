"""The reply classifier (cti/surveys/classify.py) on a table of Korean and English
replies, each with the term a person would give it, written by hand."""
from __future__ import annotations

import json

import pytest

from cti.surveys import classify as c
from cti.surveys.classify import (ADDITIONAL_REQUEST as REQUEST, DISSATISFACTION as DISSATISFIED,
                                  HIGH_SATISFACTION as HIGH, HOWTO_QUESTION as HOWTO, IMPRESSION,
                                  REPEATED_TROUBLE as AGAIN, SIMPLE_SATISFACTION as SIMPLE, UNCLASSIFIED)

REPLIES = [
    # --- Korean --------------------------------------------------------------
    ("좋아요", SIMPLE),
    ("감사합니다.", SIMPLE),
    ("네 잘 되고 있어요", SIMPLE),
    ("괜찮았어요", SIMPLE),
    ("만족합니다", SIMPLE),
    ("문제 없어요. 수고하셨습니다", SIMPLE),
    ("정말 감사합니다!! 최고예요", HIGH),
    ("너무 친절하셨어요", HIGH),
    ("아주 만족스러웠습니다", HIGH),
    ("기사님 덕분에 감동받았어요", IMPRESSION),
    ("이렇게까지 해주실 줄 몰랐어요. 감동입니다", IMPRESSION),
    ("안 좋아요", DISSATISFIED),
    ("별로였어요", DISSATISFIED),
    ("불만족입니다", DISSATISFIED),
    ("기사님이 불친절했어요", DISSATISFIED),
    ("좋지 않았습니다", DISSATISFIED),
    ("약속 시간보다 너무 늦게 왔어요", DISSATISFIED),
    ("만족하지 못했어요", DISSATISFIED),
    ("프린터가 또 고장났어요", AGAIN),
    ("어제 고쳤는데 다시 안 돼요", AGAIN),
    ("같은 문제가 계속 생겨요", AGAIN),
    ("여전히 인터넷이 안 돼요", AGAIN),
    ("재고장입니다", AGAIN),
    ("엑셀 사용법 좀 알려주세요", HOWTO),
    ("양면 인쇄는 어떻게 하나요?", HOWTO),
    ("모니터도 하나 더 설치해 주세요", REQUEST),
    ("다음 주에 노트북 점검 부탁드립니다", REQUEST),
    ("좋았어요. 그런데 키보드 교체해 주실 수 있나요", REQUEST),
    # --- English -------------------------------------------------------------
    ("Good, thanks", SIMPLE),
    ("It works now. Thank you", SIMPLE),
    ("ok", SIMPLE),
    ("No more problems since the visit", SIMPLE),
    ("Excellent service, thank you so much!", HIGH),
    ("Really helpful technician", HIGH),
    ("I was truly impressed, he went above and beyond", IMPRESSION),
    ("Not good", DISSATISFIED),
    ("The agent was rude and the wait was too long", DISSATISFIED),
    ("I'm not satisfied with the repair", DISSATISFIED),
    ("Nobody called back, very disappointed", DISSATISFIED),
    ("The printer broke again", AGAIN),
    ("Still not working after the visit", AGAIN),
    ("Same problem as last week", AGAIN),
    ("My laptop doesn't turn on", AGAIN),
    ("How do I set up the VPN on my phone?", HOWTO),
    ("Can you tell me how to share the calendar", HOWTO),
    ("Could you also install Visio on my PC", REQUEST),
    ("I need another docking station please", REQUEST),
    # --- ratings as text, and nothing recognisable -----------------------------
    ("5", HIGH),
    ("1", DISSATISFIED),
    ("3점", SIMPLE),
    ("4/5", SIMPLE),
    ("ㅇㅇ", UNCLASSIFIED),
    ("", UNCLASSIFIED),
]


def test_the_table_is_big_enough_and_covers_every_term():
    assert len(REPLIES) >= 40
    assert {term for _, term in REPLIES} >= set(c.TERMS)


@pytest.mark.parametrize("text,term", REPLIES, ids=[t or "(empty)" for t, _ in REPLIES])
def test_reply_term(text, term):
    result = c.classify(text)
    assert result.term == term, result.as_dict()


def test_a_negated_phrase_is_not_also_counted_as_praise():
    result = c.classify("안 좋아요")
    assert result.terms == (DISSATISFIED,)
    result = c.classify("not good at all")
    assert SIMPLE not in result.terms and result.term == DISSATISFIED


def test_several_terms_keep_the_one_that_needs_someone_first():
    result = c.classify("친절하셨어요 감사합니다. 근데 프린터가 또 고장났어요")
    assert result.term == AGAIN
    assert SIMPLE in result.terms or HIGH in result.terms
    assert any("고장" in e for e in result.evidence[AGAIN])


def test_decomposed_korean_is_read_like_composed():
    import unicodedata

    assert c.classify(unicodedata.normalize("NFD", "불친절했어요")).term == DISSATISFIED


@pytest.mark.parametrize("rating,term", [(1, DISSATISFIED), (2, DISSATISFIED), (3, SIMPLE), (4, SIMPLE), (5, HIGH)])
def test_keypad_ratings_map_directly(rating, term):
    result = c.classify_rating(rating)
    assert (result.term, result.rating) == (term, rating)


@pytest.mark.parametrize("bad", [0, 6, -1, True])
def test_a_rating_outside_1_to_5_is_refused(bad):
    with pytest.raises(ValueError):
        c.classify_rating(bad)


def test_yes_no_questions_of_the_survey_ivr():
    assert c.classify_dtmf("trouble_back", "1") == AGAIN
    assert c.classify_dtmf("trouble_back", "2") is None
    assert c.classify_dtmf("agent_kind", "2") == DISSATISFIED
    assert c.classify_dtmf("agent_kind", "1") is None
    assert c.classify_dtmf("rating", "5") == HIGH
    with pytest.raises(ValueError):
        c.classify_dtmf("favourite_colour", "1")


def test_a_broken_lexicon_is_refused_with_a_clear_error(tmp_path):
    data = json.loads(c.DEFAULT_LEXICON.read_text(encoding="utf-8"))
    data["groups"][0]["term"] = "joy"
    with pytest.raises(c.LexiconError, match="joy"):
        c.Lexicon.from_json(data)
    data = json.loads(c.DEFAULT_LEXICON.read_text(encoding="utf-8"))
    data["groups"][0]["patterns"] = ["(unclosed"]
    with pytest.raises(c.LexiconError, match="bad pattern"):
        c.Lexicon.from_json(data)
