"""Customer sensitivity (patent 000): the coded classification table, reception
knacks, the codes recorded per contact, consultations and speech-analysis
suggestions.

* The table: three kinds (positive, expected, negative), each particular a code
  (``P01``-``P06``, ``E01``-``E14``, ``N01``-``N15`` in the order of claims
  12-14) with a Korean and an English label and knacks: words and behaviour
  (primary) and auxiliary contents, separately for the receptionist and for the
  technician.  Seeded from ``db/data/sensitivity_codes.json``.
* Versions: a code's texts never change in place.  An admin edit (or a changed
  data file) adds the next version; recorded codes and suggestions point at the
  exact version row they were saved with.  The current version is the highest.
* Recording: several codes per contact, across kinds; each code at most once per
  contact; unknown codes are a clear error.  A contact is a ticket or a
  consultation (a contact without a service request, FIG. 9).  The rows are
  both the contact's codes and the customer's sensitivity history.
* Speech analysis: ``record_analysis`` stores what the recogniser made of the
  caller's words with suggested codes; the agent accepts (the code is recorded
  with source ``asr``) or rejects each one, and both are kept for measuring.
* Permission ``view_sensitivity`` (agent, supervisor, admin; not trainee): the
  codes are coded so that people without the right cannot read them.

Pure rules are module functions; ``SensitivityService`` opens its own short
transactions like ``cti.services.CallCenter``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import db
from cti.clock import Clock, utc_now
from cti.events import EventBus
from db.models import (KNACK_AUDIENCES, KNACK_FIELDS, KNACK_PARTS, LANGUAGES, SENSITIVITY_TEXT_FIELDS,
                       CallRecord, Consultation, Customer, CustomerSensitivity, SensitivityCode,
                       SensitivitySuggestion, Ticket, TicketAnalysis, User)

log = logging.getLogger(__name__)

DATA_FILE = Path(db.__file__).resolve().with_name("data") / "sensitivity_codes.json"
FILE_FORMAT = 1

KINDS = ("positive", "expected", "negative")
KIND_BY_PREFIX = {"P": "positive", "E": "expected", "N": "negative"}
CODE_PATTERN = re.compile(r"^[PEN][0-9]{2}$")
SOURCES = ("agent", "technician", "asr")
AUDIENCES = KNACK_AUDIENCES
TEXT_FIELDS = SENSITIVITY_TEXT_FIELDS

MAX_LABEL = 200
MAX_KNACK = 2000
MAX_SELECTION = 12          # codes in one selection
MAX_NOTES = 10_000
MAX_TRANSCRIPT = 20_000
MAX_REASON = 1000
MAX_WORDS = 5000
MAX_EVIDENCE_CHARS = 16_000
HISTORY_LIMIT = 50

# Permissions of the desktop roles (users.role).
VIEW_SENSITIVITY = "view_sensitivity"
EDIT_SENSITIVITY_CODES = "edit_sensitivity_codes"
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({VIEW_SENSITIVITY}),
    "supervisor": frozenset({VIEW_SENSITIVITY}),
    "admin": frozenset({VIEW_SENSITIVITY, EDIT_SENSITIVITY_CODES}),
    "trainee": frozenset(),
}

# Bus topic: an analysis stored after the call was offered (the pop went out
# without it).  Payload {"ticket_id", "agent_id", "sensitivity": {"analysis": ...}}.
ANALYSIS_RECORDED = "sensitivity.analysis"

SUGGESTED, ACCEPTED, REJECTED = "suggested", "accepted", "rejected"


# ---- errors ------------------------------------------------------------------------

class SensitivityError(ValueError):
    """A request the rules refuse; the message says why (shown to the user)."""


class SelectionError(SensitivityError):
    """``reason``: "empty", "duplicate", "unknown" or "too_many"; ``codes``: the codes concerned."""

    def __init__(self, message: str, codes: Sequence[str] = (), reason: str = "empty"):
        super().__init__(message)
        self.codes = list(codes)
        self.reason = reason


class TextError(SensitivityError):
    """A label or knack is empty or too long (``field``, ``reason`` "empty"/"too_long", ``limit``)."""

    def __init__(self, message: str, field: str, reason: str, limit: int = 0):
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.limit = limit


class UnknownCode(SelectionError):
    pass


class CodeFileError(SensitivityError):
    pass


class ConflictError(SensitivityError):
    """The state changed meanwhile (an edit on an old version, a decided suggestion)."""


class NotFound(LookupError):
    pass


class PermissionDenied(PermissionError):
    pass


# ---- pure rules --------------------------------------------------------------------------

def role_has(role: Optional[str], permission: str) -> bool:
    """Unknown roles have no permission."""
    return permission in ROLE_PERMISSIONS.get(role or "", frozenset())


def kind_of(code: str) -> str:
    return KIND_BY_PREFIX[code[0]]


def normalize_code(raw: Any) -> str:
    return str(raw if raw is not None else "").strip().upper()


def sort_key(code: str) -> tuple[int, str]:
    return KINDS.index(kind_of(code)), code


def parse_selection(raw: Iterable[Any] | str, known: Iterable[str]) -> list[str]:
    """The codes of one selection, checked: several codes across kinds are fine;
    a code twice, no code, too many, or an unknown code is a ``SelectionError``
    (``UnknownCode`` for the last).  A string may hold several codes
    ("N01, E07").  Returns the codes in table order."""
    if isinstance(raw, str):
        raw = re.split(r"[\s,;]+", raw)
    codes = [normalize_code(c) for c in raw]
    codes = [c for c in codes if c]
    if not codes:
        raise SelectionError("Select at least one code.", reason="empty")
    seen: set[str] = set()
    twice = []
    for c in codes:
        if c in seen and c not in twice:
            twice.append(c)
        seen.add(c)
    if twice:
        raise SelectionError(f"Each code can be selected once: {', '.join(twice)} selected twice.", twice,
                             "duplicate")
    known = set(known)
    unknown = [c for c in codes if c not in known or not CODE_PATTERN.match(c)]
    if unknown:
        shown = ", ".join(repr(c[:12]) for c in unknown[:5])
        raise UnknownCode(f"Unknown sensitivity code: {shown}.", unknown, "unknown")
    if len(codes) > MAX_SELECTION:
        raise SelectionError(f"At most {MAX_SELECTION} codes can be selected at once.", codes, "too_many")
    return sorted(codes, key=sort_key)


def clean_text(value: Any) -> str:
    return str(value if value is not None else "").replace("\r\n", "\n").replace("\r", "\n").strip()


def validate_texts(texts: Mapping[str, Any], code: str = "") -> dict[str, str]:
    """Every label and knack present, non-empty and not too long."""
    out: dict[str, str] = {}
    where = f"{code}: " if code else ""
    for field in TEXT_FIELDS:
        value = clean_text(texts.get(field, ""))
        limit = MAX_LABEL if field.startswith("label_") else MAX_KNACK
        if not value:
            raise TextError(f"{where}{field} must not be empty.", field, "empty", limit)
        if len(value) > limit:
            raise TextError(f"{where}{field} is too long (at most {limit} characters).", field, "too_long",
                            limit)
        out[field] = value
    return out


def flatten_knacks(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The data-file / API shape (``label_ko``, ``knacks: {receptionist: {primary_ko...}}``)
    -> flat field names (``receptionist_primary_ko``).  Flat names are accepted too."""
    texts = {f: entry[f] for f in TEXT_FIELDS if f in entry}
    knacks = entry.get("knacks") or {}
    if not isinstance(knacks, Mapping):
        raise SensitivityError("knacks must be an object")
    for audience in AUDIENCES:
        part = knacks.get(audience) or {}
        if not isinstance(part, Mapping):
            raise SensitivityError(f"knacks.{audience} must be an object")
        for key, value in part.items():
            field = f"{audience}_{key}"
            if field in KNACK_FIELDS:
                texts[field] = value
    return texts


def nest_knacks(texts: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {audience: {f"{part}_{lang}": texts[f"{audience}_{part}_{lang}"]
                       for part in KNACK_PARTS for lang in LANGUAGES}
            for audience in AUDIENCES}


@dataclass(frozen=True)
class CodeSpec:
    """One entry of the data file."""
    code: str
    kind: str
    texts: tuple[tuple[str, str], ...]

    @property
    def text_map(self) -> dict[str, str]:
        return dict(self.texts)


def parse_code_entries(entries: Any) -> list[CodeSpec]:
    if not isinstance(entries, list) or not entries:
        raise CodeFileError("the data file has no codes")
    specs: list[CodeSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise CodeFileError(f"entry {i} is not an object")
        code = normalize_code(entry.get("code"))
        if not CODE_PATTERN.match(code):
            raise CodeFileError(f"entry {i}: bad code {entry.get('code')!r} (P/E/N and two digits)")
        if code in seen:
            raise CodeFileError(f"{code} is listed twice")
        seen.add(code)
        kind = str(entry.get("kind", ""))
        if kind != kind_of(code):
            raise CodeFileError(f"{code}: kind {kind!r} does not match its prefix ({kind_of(code)})")
        try:
            texts = validate_texts(flatten_knacks(entry), code)
        except SensitivityError as exc:
            raise CodeFileError(str(exc)) from None
        specs.append(CodeSpec(code, kind, tuple((f, texts[f]) for f in TEXT_FIELDS)))
    return sorted(specs, key=lambda spec: sort_key(spec.code))


def load_code_file(path: Path | str = DATA_FILE) -> list[CodeSpec]:
    """Read and check the data file (``{"format": 1, "codes": [...]}``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise CodeFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, Mapping) or doc.get("format") != FILE_FORMAT:
        raise CodeFileError(f"{path}: expected an object with \"format\": {FILE_FORMAT}")
    return parse_code_entries(doc.get("codes"))


def texts_of(row: SensitivityCode) -> dict[str, str]:
    return {f: getattr(row, f) for f in TEXT_FIELDS}


def matches(view: Mapping[str, Any], query: str) -> bool:
    """Every word of the query occurs in the code or a label (ko or en), any case."""
    terms = query.casefold().split()
    if not terms:
        return True
    hay = " ".join((view["code"], view["label_ko"], view["label_en"])).casefold()
    return all(t in hay for t in terms)


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


def code_view(row: SensitivityCode) -> dict[str, Any]:
    """A version row as plain data (the data-file shape plus version facts)."""
    texts = texts_of(row)
    return {"id": row.id, "code": row.code, "version": row.version, "kind": row.kind,
            "label_ko": texts["label_ko"], "label_en": texts["label_en"], "knacks": nest_knacks(texts),
            "source": row.source, "note": row.note, "created_at": _iso(row.created_at),
            "created_by": row.created_by}


def audience_entry(view: Mapping[str, Any], audience: str = "receptionist",
                   language: str = "ko") -> dict[str, Any]:
    """One code for a screen: label and knacks of one audience; ``label``,
    ``knack_primary``, ``knack_auxiliary`` in ``language``, plus both languages."""
    lang = language if language in LANGUAGES else "ko"
    knacks = view["knacks"][audience]
    entry = {"code": view["code"], "version": view["version"], "kind": view["kind"],
             "label": view[f"label_{lang}"], "knack_primary": knacks[f"primary_{lang}"],
             "knack_auxiliary": knacks[f"auxiliary_{lang}"]}
    for other in LANGUAGES:
        entry[f"label_{other}"] = view[f"label_{other}"]
        entry[f"knack_primary_{other}"] = knacks[f"primary_{other}"]
        entry[f"knack_auxiliary_{other}"] = knacks[f"auxiliary_{other}"]
    return entry


def _finite(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 3) if math.isfinite(number) else None


def _get(item: Any, *names: str) -> Any:
    for name in names:
        if isinstance(item, Mapping):
            if name in item:
                return item[name]
        elif hasattr(item, name):
            return getattr(item, name)
    return None


VOICE_FIELDS = ("duration_s", "voiced_s", "f0_median_hz", "f0_p10_hz", "f0_p90_hz", "f0_spread_st",
                "loudness_dbfs")


def clean_voice(voice: Any) -> dict[str, float]:
    """Only the known voice figures, as finite numbers (the rest is dropped)."""
    out: dict[str, float] = {}
    if isinstance(voice, dict):
        for key in VOICE_FIELDS:
            value = _finite(voice.get(key))
            if value is not None:
                out[key] = round(value, 3)
    return out


def clean_words(words: Any) -> list[dict[str, Any]]:
    """Recognised words as ``[{word, start, end, conf}]`` (times in seconds);
    malformed items are dropped."""
    out = []
    for item in list(words or [])[:MAX_WORDS]:
        word = _get(item, "word", "text")
        if word is None or not str(word).strip():
            continue
        out.append({"word": str(word).strip()[:64], "start": _finite(_get(item, "start")),
                    "end": _finite(_get(item, "end")), "conf": _finite(_get(item, "conf", "confidence"))})
    return out


def clean_evidence(evidence: Any) -> dict[str, Any]:
    """Evidence is stored as given when it is a JSON object of moderate size
    (``words`` capped at 50 items); anything else becomes ``{}``."""
    if not isinstance(evidence, Mapping):
        return {}
    data = dict(evidence)
    if isinstance(data.get("words"), list):
        data["words"] = clean_words(data["words"][:50])
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    except (TypeError, ValueError):
        return {}
    if len(text) > MAX_EVIDENCE_CHARS:
        log.info("suggestion evidence of %d characters dropped", len(text))
        return {}
    return json.loads(text)


# ---- database helpers (one session) ---------------------------------------------------------

def current_versions(s: Session) -> dict[str, SensitivityCode]:
    """Code -> its current (highest) version row."""
    latest = (select(SensitivityCode.code, func.max(SensitivityCode.version).label("v"))
              .group_by(SensitivityCode.code).subquery())
    rows = s.scalars(select(SensitivityCode).join(
        latest, (SensitivityCode.code == latest.c.code) & (SensitivityCode.version == latest.c.v))).all()
    return {row.code: row for row in rows}


def seed_codes(s: Session, specs: Sequence[CodeSpec], now: dt.datetime) -> dict[str, int]:
    """Load the data file's codes: a new code gets version 1; a code whose file
    entry differs from the last version that came from the file gets the next
    version (source "file"); an unchanged entry adds nothing, so admin edits
    stay current until the file itself changes."""
    counts = {"added": 0, "versioned": 0, "unchanged": 0}
    for spec in specs:
        rows = s.scalars(select(SensitivityCode).where(SensitivityCode.code == spec.code)
                         .order_by(SensitivityCode.version)).all()
        texts = spec.text_map
        if not rows:
            s.add(SensitivityCode(code=spec.code, version=1, kind=spec.kind, source="file", created_at=now,
                                  **texts))
            counts["added"] += 1
            continue
        from_file = [r for r in rows if r.source == "file"]
        if from_file and texts_of(from_file[-1]) == texts and from_file[-1].kind == spec.kind:
            counts["unchanged"] += 1
            continue
        version = rows[-1].version + 1
        s.add(SensitivityCode(code=spec.code, version=version, kind=spec.kind, source="file",
                              note="data file changed", created_at=now, **texts))
        log.info("sensitivity code %s: the data file changed, version %d", spec.code, version)
        counts["versioned"] += 1
    s.flush()
    return counts


def _user_names(s: Session, ids: Iterable[Optional[int]]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


def _contact_rows(s: Session, *, ticket_id: Optional[int] = None,
                  consultation_id: Optional[int] = None) -> list[CustomerSensitivity]:
    q = select(CustomerSensitivity)
    if ticket_id is not None:
        q = q.where(CustomerSensitivity.ticket_id == ticket_id)
    else:
        q = q.where(CustomerSensitivity.consultation_id == consultation_id)
    rows = s.scalars(q.order_by(CustomerSensitivity.id)).all()
    return sorted(rows, key=lambda r: sort_key(r.code))


def recorded_view(row: CustomerSensitivity, names: Mapping[int, str],
                  incidents: Mapping[int, str] | None = None) -> dict[str, Any]:
    """One recorded code: the exact version it was saved with, who, when, where."""
    return {"id": row.id, "code": row.code, "at": _iso(row.at), "source": row.source,
            "recorded_by": row.recorded_by, "recorded_by_name": names.get(row.recorded_by or 0, ""),
            "customer_id": row.customer_id, "ticket_id": row.ticket_id,
            "incident_id": (incidents or {}).get(row.ticket_id or 0, ""),
            "consultation_id": row.consultation_id, "version": code_view(row.code_version)}


def last_contact_rows(s: Session, customer_id: int) -> list[CustomerSensitivity]:
    """The codes of the customer's most recent contact that has codes."""
    newest = s.scalar(select(CustomerSensitivity).where(CustomerSensitivity.customer_id == customer_id)
                      .order_by(CustomerSensitivity.at.desc(), CustomerSensitivity.id.desc()).limit(1))
    if newest is None:
        return []
    if newest.ticket_id is not None:
        return _contact_rows(s, ticket_id=newest.ticket_id)
    return _contact_rows(s, consultation_id=newest.consultation_id)


def suggestion_view(row: SensitivitySuggestion, language: str = "ko",
                    names: Mapping[int, str] | None = None) -> dict[str, Any]:
    entry = audience_entry(code_view(row.code_version), "receptionist", language)
    entry.update({"id": row.id, "score": row.score, "evidence": row.evidence or {}, "status": row.status,
                  "decided_by": row.decided_by, "decided_by_name": (names or {}).get(row.decided_by or 0, ""),
                  "decided_at": _iso(row.decided_at)})
    return entry


def analysis_view(analysis: TicketAnalysis, language: str = "ko",
                  names: Mapping[int, str] | None = None) -> dict[str, Any]:
    return {"id": analysis.id, "status": analysis.status, "reason": analysis.reason,
            "transcript": analysis.transcript, "words": analysis.words or [], "model": analysis.model,
            "created_at": _iso(analysis.created_at),
            "suggestions": [suggestion_view(x, language, names) for x in analysis.suggestions]}


def latest_analysis(s: Session, ticket_id: int) -> Optional[TicketAnalysis]:
    return s.scalar(select(TicketAnalysis).where(TicketAnalysis.ticket_id == ticket_id)
                    .order_by(TicketAnalysis.id.desc()).limit(1))


def pop_block(s: Session, *, customer_id: Optional[int], ticket_id: Optional[int],
              language: str = "ko") -> dict[str, Any]:
    """The pop's ``sensitivity``: the customer's last codes with the receptionist's
    knacks, and the ticket's speech analysis with its suggestions (None if there
    is no analysis)."""
    codes = []
    if customer_id is not None:
        codes = [audience_entry(code_view(r.code_version), "receptionist", language)
                 for r in last_contact_rows(s, customer_id)]
    analysis = latest_analysis(s, ticket_id) if ticket_id is not None else None
    return {"codes": codes, "analysis": analysis_view(analysis, language) if analysis else None}


def strip_pop(pop: Mapping[str, Any], allowed: bool) -> dict[str, Any]:
    """A copy of the pop without the sensitivity block unless ``allowed``."""
    out = dict(pop)
    if not allowed:
        out.pop("sensitivity", None)
    return out


# ---- the service ---------------------------------------------------------------------------

class SensitivityService:
    """The table, recording, consultations, analyses.  Every method opens its own
    short transaction; users are checked against the role permissions."""

    def __init__(self, session_factory: sessionmaker, bus: EventBus, clock: Clock = utc_now):
        self._sessions = session_factory
        self._bus = bus
        self._now = clock

    # ---- the table -------------------------------------------------------------------------
    def seed(self, path: Path | str = DATA_FILE) -> dict[str, int]:
        """Load the data file (idempotent).  Returns counts added/versioned/unchanged."""
        specs = load_code_file(path)
        with self._sessions.begin() as s:
            return seed_codes(s, specs, self._now())

    def current_table(self, query: str = "") -> list[dict[str, Any]]:
        """The current version of every code, in table order (P, E, N), filtered
        by ``query`` (code or label, Korean or English)."""
        with self._sessions() as s:
            views = [code_view(r) for r in current_versions(s).values()]
        views.sort(key=lambda v: sort_key(v["code"]))
        return [v for v in views if matches(v, query or "")]

    def code(self, code: str) -> dict[str, Any]:
        code = normalize_code(code)
        with self._sessions() as s:
            row = current_versions(s).get(code)
            if row is None:
                raise NotFound(f"no sensitivity code {code!r}")
            return code_view(row)

    def versions(self, code: str) -> list[dict[str, Any]]:
        """Every version of a code, newest first, with the editor's name."""
        code = normalize_code(code)
        with self._sessions() as s:
            rows = s.scalars(select(SensitivityCode).where(SensitivityCode.code == code)
                             .order_by(SensitivityCode.version.desc())).all()
            if not rows:
                raise NotFound(f"no sensitivity code {code!r}")
            names = _user_names(s, (r.created_by for r in rows))
            return [dict(code_view(r), created_by_name=names.get(r.created_by or 0, "")) for r in rows]

    def edit_code(self, code: str, user_id: int, texts: Mapping[str, Any], *,
                  base_version: Optional[int] = None, note: str = "") -> dict[str, Any]:
        """An admin edit: the new texts become the next version (the old version
        stays, with the tickets that used it).  Fields not given keep their text;
        an edit that changes nothing adds no version.  ``base_version``: the
        version the admin edited; if another edit came first, ``ConflictError``."""
        code = normalize_code(code)
        now = self._now()
        try:
            with self._sessions.begin() as s:
                self._require(s, user_id, EDIT_SENSITIVITY_CODES)
                current = current_versions(s).get(code)
                if current is None:
                    raise NotFound(f"no sensitivity code {code!r}")
                if base_version is not None and int(base_version) != current.version:
                    raise ConflictError(f"{code} was changed meanwhile (now version {current.version}).")
                merged = texts_of(current)
                merged.update(flatten_knacks(texts))
                new_texts = validate_texts(merged, code)
                if new_texts == texts_of(current):
                    return code_view(current)
                row = SensitivityCode(code=code, version=current.version + 1, kind=current.kind,
                                      source="admin", note=clean_text(note)[:500], created_at=now,
                                      created_by=user_id, **new_texts)
                s.add(row)
                s.flush()
                log.info("sensitivity code %s version %d by user %s", code, row.version, user_id)
                return code_view(row)
        except IntegrityError:
            raise ConflictError(f"{code} was changed meanwhile.") from None

    # ---- recording ---------------------------------------------------------------------------
    def record_codes(self, *, ticket_id: Optional[int] = None, consultation_id: Optional[int] = None,
                     codes: Iterable[str] | str, user_id: Optional[int],
                     source: str = "agent") -> dict[str, Any]:
        """Record codes for a ticket or a consultation (exactly one of them) and in
        the customer's history, with the current version of each code.  Codes
        the contact has already are not recorded again.  Returns
        ``{"added": [codes], "already": [codes], "codes": [the contact's codes]}``."""
        if (ticket_id is None) == (consultation_id is None):
            raise SensitivityError("Record codes for a ticket or for a consultation.")
        if source not in SOURCES:
            raise SensitivityError(f"Unknown source {source!r}.")
        now = self._now()
        try:
            with self._sessions.begin() as s:
                self._check_recorder(s, user_id, source)
                table = current_versions(s)
                selected = parse_selection(codes, table)
                customer_id = self._contact_customer(s, ticket_id, consultation_id)
                added, already = self._record(s, [table[c] for c in selected], customer_id=customer_id,
                                              ticket_id=ticket_id, consultation_id=consultation_id,
                                              user_id=user_id, source=source, now=now)
                contact = self._contact_codes(s, ticket_id=ticket_id, consultation_id=consultation_id)
        except IntegrityError:
            # The same code recorded for the same contact at the same moment elsewhere.
            raise ConflictError("The codes changed meanwhile; reload and try again.") from None
        if added:
            where = f"ticket {ticket_id}" if ticket_id else f"consultation {consultation_id}"
            log.info("sensitivity codes %s recorded for %s by user %s (%s)", ",".join(added), where, user_id,
                     source)
        return {"added": added, "already": already, "codes": contact}

    def ticket_codes(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._sessions() as s:
            if s.get(Ticket, ticket_id) is None:
                raise NotFound(f"no ticket {ticket_id}")
            return self._contact_codes(s, ticket_id=ticket_id)

    def ticket_sensitivity(self, ticket_id: int, language: str = "ko") -> dict[str, Any]:
        """Everything the ticket screen shows to permitted roles: the ticket's
        codes, its latest speech analysis and the customer's history."""
        with self._sessions() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound(f"no ticket {ticket_id}")
            analysis = latest_analysis(s, ticket_id)
            names = _user_names(s, (x.decided_by for x in analysis.suggestions)) if analysis else {}
            return {"ticket_id": ticket_id, "customer_id": ticket.customer_id,
                    "codes": self._contact_codes(s, ticket_id=ticket_id),
                    "analysis": analysis_view(analysis, language, names) if analysis else None,
                    "history": self._history(s, ticket.customer_id) if ticket.customer_id else []}

    def customer_profile(self, customer_id: int, audience: str = "receptionist", language: str = "ko",
                         history_limit: int = HISTORY_LIMIT) -> dict[str, Any]:
        """The customer's last codes (those of their most recent contact with
        codes) with the knacks of ``audience``, and their history, newest first."""
        if audience not in AUDIENCES:
            raise SensitivityError(f"Unknown audience {audience!r}.")
        with self._sessions() as s:
            if s.get(Customer, customer_id) is None:
                raise NotFound(f"no customer {customer_id}")
            rows = last_contact_rows(s, customer_id)
            last = None
            if rows:
                first = rows[0]
                incident = s.get(Ticket, first.ticket_id).incident_id if first.ticket_id else ""
                last = {"at": _iso(max(r.at for r in rows)), "ticket_id": first.ticket_id,
                        "incident_id": incident, "consultation_id": first.consultation_id,
                        "codes": [audience_entry(code_view(r.code_version), audience, language)
                                  for r in rows]}
            return {"customer_id": customer_id, "audience": audience, "last": last,
                    "last_codes": last["codes"] if last else [],
                    "history": self._history(s, customer_id, history_limit)}

    # ---- consultations (FIG. 9) -----------------------------------------------------------
    def create_consultation(self, customer_id: int, agent_id: int, notes: str = "",
                            codes: Iterable[str] | str = (), channel: str = "phone") -> dict[str, Any]:
        """A contact without a service request, with the codes the agent gave."""
        notes = clean_text(notes)
        if len(notes) > MAX_NOTES:
            raise SensitivityError(f"The notes are too long (at most {MAX_NOTES} characters).")
        raw_codes = [c for c in (re.split(r"[\s,;]+", codes) if isinstance(codes, str) else codes)
                     if normalize_code(c)]
        if not notes and not raw_codes:
            raise SensitivityError("Write what was discussed or select codes.")
        now = self._now()
        with self._sessions.begin() as s:
            self._require(s, agent_id, VIEW_SENSITIVITY)
            if s.get(Customer, customer_id) is None:
                raise NotFound(f"no customer {customer_id}")
            table = current_versions(s)
            selected = parse_selection(raw_codes, table) if raw_codes else []
            consultation = Consultation(customer_id=customer_id, agent_id=agent_id, channel=channel[:16],
                                        notes=notes, created_at=now)
            s.add(consultation)
            s.flush()
            self._record(s, [table[c] for c in selected], customer_id=customer_id, ticket_id=None,
                         consultation_id=consultation.id, user_id=agent_id, source="agent", now=now)
            consultation_id = consultation.id
        log.info("consultation %d for customer %d by user %d", consultation_id, customer_id, agent_id)
        return self.consultation(consultation_id)

    def consultation(self, consultation_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            c = s.get(Consultation, consultation_id)
            if c is None:
                raise NotFound(f"no consultation {consultation_id}")
            return {"id": c.id, "customer_id": c.customer_id, "customer_name": c.customer.name,
                    "customer_pin": c.customer.pin, "agent_id": c.agent_id,
                    "agent_name": c.agent.display_name if c.agent else "", "channel": c.channel,
                    "notes": c.notes, "created_at": _iso(c.created_at),
                    "codes": self._contact_codes(s, consultation_id=c.id)}

    def recent_consultations(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._sessions() as s:
            rows = s.scalars(select(Consultation).order_by(Consultation.id.desc()).limit(limit)).all()
            out = []
            for c in rows:
                codes = [r.code for r in _contact_rows(s, consultation_id=c.id)]
                out.append({"id": c.id, "customer_id": c.customer_id, "customer_name": c.customer.name,
                            "agent_name": c.agent.display_name if c.agent else "",
                            "created_at": _iso(c.created_at), "notes": c.notes, "codes": codes})
            return out

    # ---- speech analysis and suggestions --------------------------------------------------
    def record_analysis(self, ticket_id: int, *, status: str, reason: str = "", transcript: str = "",
                        words: Iterable[Any] = (), model: str = "",
                        suggestions: Iterable[Any] = (), voice: Optional[dict] = None) -> int:
        """Store a speech analysis of the ticket's call and its suggested codes
        (``[{"code": "N02", "score": 0.8, "evidence": {...}}]``).  Suggestions for
        codes the table does not have are dropped (logged); so are suggestions
        of a failed analysis.  Returns the analysis id.  If the call was already
        offered, the agent's desktop gets the analysis (``ANALYSIS_RECORDED``)."""
        status = str(status or "").strip().lower()
        if status not in ("ok", "failed"):
            raise SensitivityError(f"Analysis status must be ok or failed, not {status!r}.")
        now = self._now()
        suggestions = list(suggestions or [])
        with self._sessions.begin() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound(f"no ticket {ticket_id}")
            analysis = TicketAnalysis(ticket_id=ticket_id, status=status,
                                      reason=clean_text(reason)[:MAX_REASON],
                                      transcript=clean_text(transcript)[:MAX_TRANSCRIPT],
                                      words=clean_words(words), model=clean_text(model)[:200],
                                      voice=clean_voice(voice), created_at=now)
            s.add(analysis)
            s.flush()
            if status == "failed" and suggestions:
                log.info("ticket %d: %d suggestions of a failed analysis dropped", ticket_id,
                         len(suggestions))
                suggestions = []
            table = current_versions(s)
            best: dict[str, tuple[float, dict]] = {}
            for item in suggestions:
                code = normalize_code(_get(item, "code"))
                if code not in table:
                    log.info("ticket %d: suggestion for unknown code %r dropped", ticket_id, code[:12])
                    continue
                score = _finite(_get(item, "score"))
                if score is None:
                    log.info("ticket %d: suggestion %s without a usable score dropped", ticket_id, code)
                    continue
                score = min(1.0, max(0.0, score))
                if code in best and best[code][0] >= score:
                    continue
                best[code] = (score, clean_evidence(_get(item, "evidence")))
            for code, (score, evidence) in sorted(best.items(), key=lambda kv: (-kv[1][0], sort_key(kv[0]))):
                s.add(SensitivitySuggestion(ticket_id=ticket_id, analysis_id=analysis.id,
                                            code_id=table[code].id, code=code, score=score, evidence=evidence,
                                            status=SUGGESTED))
            s.flush()
            s.refresh(analysis)
            analysis_id = analysis.id
            agent_id = self._offered_agent(s, ticket)
            block = {"analysis": analysis_view(analysis, ticket.language)}
        log.info("ticket %d: speech analysis %s (%s), %d suggestions", ticket_id, status,
                 reason[:80] if reason else "-", len(best))
        if agent_id is not None:
            self._bus.publish(ANALYSIS_RECORDED, {"ticket_id": ticket_id, "agent_id": agent_id,
                                                  "sensitivity": block})
        return analysis_id

    def voice_history(self, ticket_id: int, limit: int = 5) -> list[dict[str, float]]:
        """The voice profiles of the same customer's earlier calls (newest first,
        voiced ones only): the baseline the new utterance is compared with.  An
        unidentified caller has no history."""
        with self._sessions() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None or ticket.customer_id is None:
                return []
            rows = s.scalars(select(TicketAnalysis.voice)
                             .join(Ticket, Ticket.id == TicketAnalysis.ticket_id)
                             .where(Ticket.customer_id == ticket.customer_id, Ticket.id != ticket_id)
                             .order_by(TicketAnalysis.created_at.desc(), TicketAnalysis.id.desc())
                             .limit(limit * 4)).all()
        voiced = [v for v in rows if v and v.get("f0_median_hz")]
        return voiced[:limit]

    def ticket_analysis(self, ticket_id: int, language: str = "ko") -> Optional[dict[str, Any]]:
        with self._sessions() as s:
            analysis = latest_analysis(s, ticket_id)
            return analysis_view(analysis, language) if analysis else None

    def decide_suggestion(self, suggestion_id: int, user_id: int, accept: bool) -> dict[str, Any]:
        """The agent's one click.  Accept: the suggested code is recorded on the
        ticket and in the customer's history (source ``asr``).  Reject: only the
        decision is stored.  Repeating the same decision changes nothing; the
        other decision on a decided suggestion is a ``ConflictError`` (correct a
        suggestion by rejecting it and selecting another code).  Returns
        ``{"suggestion": ..., "codes": [the ticket's codes]}``."""
        target = ACCEPTED if accept else REJECTED
        now = self._now()
        try:
            with self._sessions.begin() as s:
                self._require(s, user_id, VIEW_SENSITIVITY)
                sug = s.get(SensitivitySuggestion, suggestion_id)
                if sug is None:
                    raise NotFound(f"no suggestion {suggestion_id}")
                ticket = s.get(Ticket, sug.ticket_id)
                if sug.status == SUGGESTED:
                    sug.status = target
                    sug.decided_by = user_id
                    sug.decided_at = now
                    if accept:
                        self._record(s, [sug.code_version], customer_id=ticket.customer_id,
                                     ticket_id=ticket.id, consultation_id=None, user_id=user_id, source="asr",
                                     now=now)
                        s.flush()
                        sug.sensitivity_id = s.scalar(
                            select(CustomerSensitivity.id).where(CustomerSensitivity.ticket_id == ticket.id,
                                                                 CustomerSensitivity.code == sug.code))
                    log.info("suggestion %d (%s, ticket %d) %s by user %d", sug.id, sug.code, ticket.id,
                             target, user_id)
                elif sug.status != target:
                    raise ConflictError(f"This suggestion was already {sug.status}.")
                s.flush()
                names = _user_names(s, [sug.decided_by])
                return {"suggestion": suggestion_view(sug, ticket.language, names),
                        "codes": self._contact_codes(s, ticket_id=ticket.id)}
        except IntegrityError:
            raise ConflictError("The suggestion changed meanwhile; reload and try again.") from None

    def suggestion_stats(self) -> dict[str, dict[str, int]]:
        """Per code: how many suggestions were suggested (undecided), accepted, rejected."""
        with self._sessions() as s:
            rows = s.execute(select(SensitivitySuggestion.code, SensitivitySuggestion.status, func.count())
                             .group_by(SensitivitySuggestion.code, SensitivitySuggestion.status)).all()
        out: dict[str, dict[str, int]] = {}
        for code, status, count in rows:
            out.setdefault(code, {SUGGESTED: 0, ACCEPTED: 0, REJECTED: 0})[status] = count
        return dict(sorted(out.items(), key=lambda kv: sort_key(kv[0])))

    # ---- permissions -------------------------------------------------------------------------
    def user_may(self, user_id: Optional[int], permission: str) -> bool:
        if user_id is None:
            return False
        with self._sessions() as s:
            role = s.scalar(select(User.role).where(User.id == user_id, User.active.is_(True)))
        return role_has(role, permission)

    # ---- internals ---------------------------------------------------------------------------
    @staticmethod
    def _require(s: Session, user_id: Optional[int], permission: str) -> User:
        user = s.get(User, user_id) if user_id is not None else None
        if user is None or not user.active or not role_has(user.role, permission):
            raise PermissionDenied(f"user {user_id} may not {permission}")
        return user

    def _check_recorder(self, s: Session, user_id: Optional[int], source: str) -> None:
        if user_id is None:
            if source == "agent":
                raise SensitivityError("Codes an agent gives need the agent's user.")
            return
        self._require(s, user_id, VIEW_SENSITIVITY)

    @staticmethod
    def _contact_customer(s: Session, ticket_id: Optional[int],
                          consultation_id: Optional[int]) -> Optional[int]:
        if ticket_id is not None:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise NotFound(f"no ticket {ticket_id}")
            return ticket.customer_id
        consultation = s.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound(f"no consultation {consultation_id}")
        return consultation.customer_id

    @staticmethod
    def _record(s: Session, versions: Sequence[SensitivityCode], *, customer_id: Optional[int],
                ticket_id: Optional[int], consultation_id: Optional[int], user_id: Optional[int], source: str,
                now: dt.datetime) -> tuple[list[str], list[str]]:
        existing = {r.code for r in _contact_rows(s, ticket_id=ticket_id, consultation_id=consultation_id)}
        added, already = [], []
        for version in versions:
            if version.code in existing:
                already.append(version.code)
                continue
            s.add(CustomerSensitivity(customer_id=customer_id, ticket_id=ticket_id,
                                      consultation_id=consultation_id, code_id=version.id, code=version.code,
                                      recorded_by=user_id, source=source, at=now))
            existing.add(version.code)
            added.append(version.code)
        s.flush()
        return added, already

    @staticmethod
    def _contact_codes(s: Session, *, ticket_id: Optional[int] = None,
                       consultation_id: Optional[int] = None) -> list[dict[str, Any]]:
        rows = _contact_rows(s, ticket_id=ticket_id, consultation_id=consultation_id)
        names = _user_names(s, (r.recorded_by for r in rows))
        return [recorded_view(r, names) for r in rows]

    @staticmethod
    def _history(s: Session, customer_id: int, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        rows = s.scalars(select(CustomerSensitivity).where(CustomerSensitivity.customer_id == customer_id)
                         .order_by(CustomerSensitivity.at.desc(), CustomerSensitivity.id.desc())
                         .limit(limit)).all()
        names = _user_names(s, (r.recorded_by for r in rows))
        ticket_ids = {r.ticket_id for r in rows if r.ticket_id}
        incidents = {}
        if ticket_ids:
            incidents = dict(s.execute(select(Ticket.id, Ticket.incident_id)
                                       .where(Ticket.id.in_(ticket_ids))).all())
        return [recorded_view(r, names, incidents) for r in rows]

    @staticmethod
    def _offered_agent(s: Session, ticket: Ticket) -> Optional[int]:
        """The agent the ticket's call is ringing or talking at (or who took it)."""
        call = s.scalar(select(CallRecord).where(CallRecord.ticket_id == ticket.id)
                        .order_by(CallRecord.id.desc()).limit(1))
        if call is not None and call.agent_id is not None and call.outcome in ("ringing", "talking"):
            return call.agent_id
        return ticket.agent_id
