"""Data-sharing requests (policy 462.6, Civil Code § 1798.90.55): who may receive ALPR data, on
whose approval, and which reads a release may carry.

Another agency asks in writing; an investigator or a supervisor enters the request with the written
request attached. Civil Code § 1798.90.55(b) lets ALPR information go to public agencies only, and
a "public agency" there is a California state or local one (§ 1798.90.5(f)); policy 462.6 adds that
only law enforcement and prosecutorial agencies get it this way, everyone else going through the
department's records release process. Both are checked when the request is entered, and a request
that fails either is kept on file as refused, naming each rule it broke.

A holder of the sharing-approver role (the policy's Administrative Services Division Captain or
designee) with current training approves or denies with a note; whoever entered a request may not
decide it. A request is decided once, and an approval lapses after a set number of days. Nothing
here is ever updated or deleted: requests, their documents, decisions and releases are separate
rows in tables whose trigger refuses UPDATE, DELETE and TRUNCATE (migration 0009), and each change
writes its access-log row in the same transaction.

Data leaves only as an evidence export made under an approved request; `release_allowed` is the
check that export runs first: the request approved and not lapsed, and every read inside what was
asked for (plate or pattern, time range, cameras). This module reads `reads` with plain SQL rather
than importing the store, so the store (the export builder) may import it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from platewatch.engine.config.access import AccessConfig

from . import access_log
from .directory import Actor, User, acting_user
from .errors import NotFound, NotPermitted, PolicyError
from .roles import Role
from .training import training_status

#: The rules a request is held to, as they are named in refusals and in the access log.
RULE_PUBLIC_AGENCY = "Civil Code 1798.90.55(b)"
RULE_CALIFORNIA = "Civil Code 1798.90.55(b) with 1798.90.5(f)"
RULE_LAW_ENFORCEMENT = "policy 462.6"
RECORDS_RELEASE = (
    "a request from a body that is not a law enforcement or prosecutorial agency goes through the "
    "department's records release process (Records Maintenance and Release policy), not this one"
)

CALIFORNIA = "CA"
FEDERAL = "US"  # agency_state of a federal agency: not a California public agency

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_RELEASE_READS = 10_000
MAX_CAMERAS = 200
MAX_SPAN = timedelta(days=366)  # the longest time range one request may ask for
DEFAULT_APPROVAL_DAYS = 30
MAX_APPROVAL_DAYS = 365
ENTER_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR})
VIEW_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.SHARING_APPROVER})
#: The access-log action of a release: the audits count it as a share (`audit.share_actions`).
RELEASE_ACTION = "sharing.release"

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_NOT_PATTERN = re.compile(r"[^0-9A-Z?*]")
_STATE = re.compile(r"^[A-Z]{2}$")
_CAMERA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

#: What a written request may be, by the bytes it starts with (a declared type that the bytes do
#: not bear out is refused: the file on record must be what it says it is).
DOCUMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}


class AgencyKind(StrEnum):
    LAW_ENFORCEMENT = "law_enforcement"
    PROSECUTORIAL = "prosecutorial"
    OTHER_PUBLIC = "other_public"  # a public body that is neither (a school district, a DMV office)
    PRIVATE = "private"  # a company, an insurer, a person


ELIGIBLE_KINDS = frozenset({AgencyKind.LAW_ENFORCEMENT, AgencyKind.PROSECUTORIAL})


class SharingError(PolicyError):
    """A request, decision or release that cannot be made as asked; the message says what to fix."""


class AlreadyDecided(SharingError):
    """The request was decided before (a request is decided once)."""


class DocumentRejected(SharingError):
    """The written request is missing, too large, or not the type it claims."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        self.too_large = too_large
        super().__init__(message)


@dataclass(frozen=True)
class Refusal:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class NotEligible(SharingError):
    """The agency may not receive ALPR data this way; the request is on file as refused."""

    def __init__(self, request_id: int, refusals: Sequence[Refusal]) -> None:
        self.request_id = request_id
        self.refusals = tuple(refusals)
        super().__init__(f"request #{request_id} is refused and kept on file: {refusal_text(refusals)}")


@dataclass(frozen=True)
class Agency:
    name: str
    kind: AgencyKind
    state: str  # two letters; US for a federal agency
    is_public: bool


def eligibility(agency: Agency) -> list[Refusal]:
    """Every rule the agency fails (empty: eligible). Both rules are always checked, so a refusal
    names all that apply, not only the first."""
    found: list[Refusal] = []
    if not agency.is_public or agency.kind is AgencyKind.PRIVATE:
        found.append(
            Refusal(
                RULE_PUBLIC_AGENCY,
                f"ALPR information may be shared only with a public agency, and {agency.name} is not one",
            )
        )
    elif agency.state == FEDERAL:
        found.append(
            Refusal(
                RULE_CALIFORNIA,
                f"{agency.name} is a federal agency, and only California state and local agencies are "
                "public agencies to which ALPR information may be shared",
            )
        )
    elif agency.state != CALIFORNIA:
        found.append(
            Refusal(
                RULE_CALIFORNIA,
                f"{agency.name} is an agency of {agency.state}, and only California state and local "
                "agencies are public agencies to which ALPR information may be shared",
            )
        )
    if agency.kind not in ELIGIBLE_KINDS:
        found.append(
            Refusal(
                RULE_LAW_ENFORCEMENT,
                f"ALPR data is shared only with law enforcement or prosecutorial agencies; {RECORDS_RELEASE}",
            )
        )
    return found


def refusal_text(refusals: Sequence[Refusal]) -> str:
    return "; ".join(str(r) for r in refusals)


def normalise_plate(plate: str) -> str:
    """Upper-case A-Z0-9, the form reads are stored in (`reads.plate_norm`)."""
    return _NOT_ALNUM.sub("", plate.upper())


def normalise_pattern(pattern: str) -> str:
    """`7ab-?1*` -> `7AB?1*`; `?` one character, `*` any run; at least two known characters."""
    p = re.sub(r"\*+", "*", _NOT_PATTERN.sub("", pattern.upper()))
    if not 1 <= len(p) <= 16:
        raise SharingError("a pattern is 1 to 16 letters, digits, ? and *")
    if sum(c not in "?*" for c in p) < 2:
        raise SharingError("a pattern needs at least 2 known characters")
    return p


def pattern_regex(pattern: str) -> re.Pattern[str]:
    body = "".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$")


@dataclass(frozen=True)
class DataAsked:
    """What the agency wants: a plate or a pattern, a time range, and cameras (none: any camera)."""

    plate: str | None
    pattern: str | None
    time_from: datetime
    time_to: datetime
    cameras: tuple[str, ...] = ()

    def checked(self) -> DataAsked:
        if (self.plate is None) == (self.pattern is None):
            raise SharingError("a request asks for one plate or one pattern (give exactly one)")
        plate = None
        if self.plate is not None:
            plate = normalise_plate(self.plate[:64])
            if not 1 <= len(plate) <= 16:
                raise SharingError("a plate is 1 to 16 letters and digits")
        pattern = normalise_pattern(self.pattern[:64]) if self.pattern is not None else None
        if self.time_from.tzinfo is None or self.time_to.tzinfo is None:
            raise SharingError("the time range needs a time zone")
        if self.time_from >= self.time_to:
            raise SharingError("the time range's start must be before its end")
        if self.time_to - self.time_from > MAX_SPAN:
            raise SharingError(f"a request covers at most {MAX_SPAN.days} days; ask again for more")
        cameras = tuple(dict.fromkeys(c.strip() for c in self.cameras if c.strip()))
        if len(cameras) > MAX_CAMERAS:
            raise SharingError(f"at most {MAX_CAMERAS} cameras per request")
        if any(not _CAMERA.match(c) for c in cameras):
            raise SharingError("a camera id is 1 to 64 letters, digits and . _ : -")
        return DataAsked(plate, pattern, self.time_from, self.time_to, cameras)

    def covers(self, time: datetime, camera_id: str, plate_norm: str) -> bool:
        """Whether one read is inside what was asked for (exact plate or pattern, no fuzzy match)."""
        if not self.time_from <= time <= self.time_to:
            return False
        if self.cameras and camera_id not in self.cameras:
            return False
        if self.plate is not None:
            return plate_norm == self.plate
        assert self.pattern is not None
        return pattern_regex(self.pattern).match(plate_norm) is not None


@dataclass(frozen=True)
class Document:
    filename: str
    content_type: str
    content: bytes

    def checked(self) -> Document:
        if not self.content:
            raise DocumentRejected("the written request is empty; attach the agency's signed request")
        if len(self.content) > MAX_DOCUMENT_BYTES:
            raise DocumentRejected(
                f"the written request is over {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB", too_large=True
            )
        kind = self.content_type.split(";")[0].strip().lower()
        magic = DOCUMENT_TYPES.get(kind)
        if magic is None:
            allowed = ", ".join(DOCUMENT_TYPES)
            raise DocumentRejected(f"a written request is one of {allowed}, not {kind or 'untyped'}")
        if not self.content.startswith(magic):
            raise DocumentRejected(f"the file is not a {kind}: its contents do not match its type")
        name = re.sub(r"[^A-Za-z0-9._ -]", "_", self.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
        return Document((name.strip() or "request")[:200], kind, self.content)

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.content).digest()


@dataclass(frozen=True)
class NewRequest:
    agency: Agency
    requester_name: str
    requester_contact: str
    case_number: str  # the department's case or incident number the request is filed under
    purpose: str
    legal_basis: str
    data: DataAsked
    document: Document
    agency_reference: str = ""  # the agency's own case number


@dataclass(frozen=True)
class DocumentInfo:
    filename: str
    content_type: str
    size: int
    sha256: str  # hex
    uploaded_at: datetime
    uploaded_by: str


@dataclass(frozen=True)
class Decision:
    decision: str  # approved, denied
    note: str
    decided_at: datetime
    decided_by: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Release:
    release_id: int
    released_at: datetime
    released_by: str
    read_count: int
    export_id: str
    manifest_sha256: str


@dataclass(frozen=True)
class SharingRequest:
    request_id: int
    entered_at: datetime
    entered_by: str
    entered_by_id: int
    agency: Agency
    requester_name: str
    requester_contact: str
    agency_reference: str
    case_number: str
    purpose: str
    legal_basis: str
    data: DataAsked
    eligible: bool
    refusal: str | None
    document: DocumentInfo | None
    decision: Decision | None
    releases: tuple[Release, ...] = field(default=())

    def status(self, now: datetime | None = None) -> str:
        """refused (ineligible), pending, approved, expired (an approval past its date) or denied."""
        if not self.eligible:
            return "refused"
        if self.decision is None:
            return "pending"
        if self.decision.decision == "approved":
            assert self.decision.expires_at is not None
            return "approved" if (now or datetime.now(UTC)) < self.decision.expires_at else "expired"
        return "denied"


def _text(value: str, what: str, limit: int = 200) -> str:
    cleaned = " ".join(value.replace("\x00", "").split())
    if not 1 <= len(cleaned) <= limit:
        raise SharingError(f"{what} must be 1 to {limit} characters")
    return cleaned


def _user_with(conn: psycopg.Connection, actor: Actor, roles: frozenset[Role], doing: str) -> User:
    user = acting_user(conn, actor)
    if user is None:
        raise NotPermitted(f"{doing} takes a named user; the server operator's console does not do it")
    if not user.roles & roles:
        names = " or ".join(sorted(r.value for r in roles))
        raise NotPermitted(f"{doing} needs the {names} role, which {user.username} does not hold")
    return user


def _log(conn: psycopg.Connection, actor: Actor, action: str, **fields: Any) -> None:
    access_log.append(conn, access_log.LogEntry.by(actor, action, **fields))


def _scope_terms(data: DataAsked) -> dict[str, Any]:
    return {
        "plate": data.plate,
        "pattern": data.pattern,
        "from": data.time_from,
        "to": data.time_to,
        "cameras": list(data.cameras),
    }


def enter_request(
    conn: psycopg.Connection, cfg: AccessConfig, actor: Actor, new: NewRequest
) -> SharingRequest:
    """Put a received request on file with its written request; raises NotEligible (after the
    refused request and its log row are committed) when the agency may not receive ALPR data."""
    name = _text(new.agency.name, "the agency's name")
    state = new.agency.state.strip().upper()
    if not _STATE.match(state):
        raise SharingError("the agency's state is two letters (CA; US for a federal agency)")
    agency = Agency(name, AgencyKind(new.agency.kind), state, new.agency.is_public)
    requester = _text(new.requester_name, "the requester's name")
    contact = _text(new.requester_contact, "the requester's contact")
    reference = " ".join(new.agency_reference.replace("\x00", "").split())[:64]
    purpose = _text(new.purpose, "the purpose", 2000)
    basis = _text(new.legal_basis, "the legal basis", 2000)
    case = new.case_number.strip()
    if not re.fullmatch(cfg.case_number_pattern, case):
        raise SharingError(
            f"{case[:64]!r} is not a case or incident number in this department's format "
            f"(for example {cfg.case_number_example}); file the request under one"
        )
    data = new.data.checked()
    document = new.document.checked()
    refusals = eligibility(agency)
    refusal = refusal_text(refusals) if refusals else None
    with conn.transaction():
        user = _user_with(conn, actor, ENTER_ROLES, "entering a sharing request")
        row = conn.execute(
            "INSERT INTO sharing_requests (entered_by, entered_by_id, agency, agency_kind, agency_state,"
            " agency_is_public, requester_name, requester_contact, agency_reference, case_number, purpose,"
            " legal_basis, plate, pattern, time_from, time_to, cameras, eligible, refusal)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING request_id",
            (
                user.username,
                user.user_id,
                agency.name,
                agency.kind.value,
                agency.state,
                agency.is_public,
                requester,
                contact,
                reference,
                case,
                purpose,
                basis,
                data.plate,
                data.pattern,
                data.time_from,
                data.time_to,
                list(data.cameras),
                refusal is None,
                refusal,
            ),
        ).fetchone()
        assert row is not None
        request_id: int = row[0]
        conn.execute(
            "INSERT INTO sharing_documents (request_id, filename, content_type, size, sha256, content,"
            " uploaded_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                request_id,
                document.filename,
                document.content_type,
                len(document.content),
                document.sha256,
                document.content,
                user.username,
            ),
        )
        _log(
            conn,
            actor,
            "sharing.request",
            outcome="allowed" if refusal is None else "refused",
            reason=refusal,
            case_number=case,
            terms={
                "request_id": request_id,
                "agency": agency.name,
                "agency_kind": agency.kind.value,
                "agency_state": agency.state,
                "agency_is_public": agency.is_public,
                "requester": requester,
                "document_sha256": document.sha256.hex(),
                "document_size": len(document.content),
                **_scope_terms(data),
            },
        )
    if refusals:
        raise NotEligible(request_id, refusals)
    return get_request(conn, request_id)


_REQUEST_SQL = """
    SELECT r.*, d.decision, d.note, d.decided_at, d.decided_by, d.expires_at,
           doc.filename, doc.content_type, doc.size, doc.sha256, doc.uploaded_at, doc.uploaded_by
    FROM sharing_requests r
    LEFT JOIN sharing_decisions d USING (request_id)
    LEFT JOIN LATERAL (SELECT * FROM sharing_documents x WHERE x.request_id = r.request_id
                       ORDER BY x.document_id LIMIT 1) doc ON true
"""


def _request(row: dict[str, Any], releases: Sequence[Release] = ()) -> SharingRequest:
    return SharingRequest(
        request_id=row["request_id"],
        entered_at=row["entered_at"],
        entered_by=row["entered_by"],
        entered_by_id=row["entered_by_id"],
        agency=Agency(
            row["agency"], AgencyKind(row["agency_kind"]), row["agency_state"], row["agency_is_public"]
        ),
        requester_name=row["requester_name"],
        requester_contact=row["requester_contact"],
        agency_reference=row["agency_reference"],
        case_number=row["case_number"],
        purpose=row["purpose"],
        legal_basis=row["legal_basis"],
        data=DataAsked(row["plate"], row["pattern"], row["time_from"], row["time_to"], tuple(row["cameras"])),
        eligible=row["eligible"],
        refusal=row["refusal"],
        document=None
        if row["filename"] is None
        else DocumentInfo(
            row["filename"],
            row["content_type"],
            row["size"],
            bytes(row["sha256"]).hex(),
            row["uploaded_at"],
            row["uploaded_by"],
        ),
        decision=None
        if row["decision"] is None
        else Decision(row["decision"], row["note"], row["decided_at"], row["decided_by"], row["expires_at"]),
        releases=tuple(releases),
    )


def get_request(conn: psycopg.Connection, request_id: int) -> SharingRequest:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_REQUEST_SQL + " WHERE r.request_id = %s", (request_id,)).fetchone()
        if row is None:
            raise NotFound(f"there is no sharing request #{request_id}")
        releases = [
            Release(
                r["release_id"],
                r["released_at"],
                r["released_by"],
                r["n"],
                r["export_id"],
                r["manifest_sha256"],
            )
            for r in cur.execute(
                "SELECT release_id, released_at, released_by, cardinality(read_ids) AS n, export_id,"
                " manifest_sha256 FROM sharing_releases WHERE request_id = %s ORDER BY release_id",
                (request_id,),
            ).fetchall()
        ]
    return _request(row, releases)


STATUSES = ("refused", "pending", "approved", "expired", "denied")


def list_requests(
    conn: psycopg.Connection, *, status: str | None = None, limit: int = 100, now: datetime | None = None
) -> list[SharingRequest]:
    """Newest first; `status` one of STATUSES (its condition is SQL, so a limit counts only matches)."""
    at = now or datetime.now(UTC)
    conditions = {
        None: ("true", ()),
        "refused": ("NOT r.eligible", ()),
        "pending": ("r.eligible AND d.decision IS NULL", ()),
        "approved": ("d.decision = 'approved' AND d.expires_at > %s", (at,)),
        "expired": ("d.decision = 'approved' AND d.expires_at <= %s", (at,)),
        "denied": ("d.decision = 'denied'", ()),
    }
    if status not in conditions:
        raise SharingError(f"status is one of {', '.join(STATUSES)}")
    where, params = conditions[status]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _REQUEST_SQL + f" WHERE {where} ORDER BY r.request_id DESC LIMIT %s", (*params, limit)
        ).fetchall()
    return [_request(r) for r in rows]


@dataclass(frozen=True)
class StoredDocument:
    filename: str
    content_type: str
    sha256: str
    content: bytes


def get_document(conn: psycopg.Connection, request_id: int) -> StoredDocument:
    """The written request as uploaded; its SHA-256 is checked against the one recorded with it."""
    row = conn.execute(
        "SELECT filename, content_type, sha256, content FROM sharing_documents WHERE request_id = %s"
        " ORDER BY document_id LIMIT 1",
        (request_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"there is no written request on file for sharing request #{request_id}")
    content = bytes(row[3])
    if hashlib.sha256(content).digest() != bytes(row[2]):
        raise SharingError(f"the written request of #{request_id} does not match its recorded SHA-256")
    return StoredDocument(row[0], row[1], bytes(row[2]).hex(), content)


def decide(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    actor: Actor,
    request_id: int,
    *,
    approve: bool,
    note: str,
    valid_days: int = DEFAULT_APPROVAL_DAYS,
    now: datetime | None = None,
) -> SharingRequest:
    """A trained sharing approver who did not enter the request approves (for `valid_days`) or
    denies it, with a note. A request is decided once: a second decision is refused."""
    at = now or datetime.now(UTC)
    why = _text(note, "the note", 2000)
    if approve and not 1 <= valid_days <= MAX_APPROVAL_DAYS:
        raise SharingError(f"an approval is good for 1 to {MAX_APPROVAL_DAYS} days")
    with conn.transaction():
        user = _user_with(conn, actor, frozenset({Role.SHARING_APPROVER}), "deciding a sharing request")
        status = training_status(conn, cfg, user.user_id, at)
        if not status.trained:
            raise NotPermitted(f"{user.username} is a sharing approver but has {status.reason}")
        request = get_request(conn, request_id)
        if not request.eligible:
            raise SharingError(
                f"request #{request_id} was refused when it was entered ({request.refusal}); "
                "there is nothing to decide"
            )
        if user.user_id == request.entered_by_id:
            raise NotPermitted(
                f"{user.username} entered request #{request_id}, so another sharing approver must decide it"
            )
        expires = at + timedelta(days=valid_days) if approve else None
        decided = conn.execute(
            "INSERT INTO sharing_decisions (request_id, decision, note, decided_at, decided_by,"
            " decided_by_id, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (request_id) DO NOTHING RETURNING decision_id",
            (request_id, "approved" if approve else "denied", why, at, user.username, user.user_id, expires),
        ).fetchone()
        if decided is None:
            earlier = get_request(conn, request_id).decision
            assert earlier is not None
            raise AlreadyDecided(
                f"request #{request_id} was already {earlier.decision} by {earlier.decided_by} "
                f"at {earlier.decided_at:%Y-%m-%d %H:%M} UTC; decisions stand, enter a new request instead"
            )
        _log(
            conn,
            actor,
            "sharing.approve" if approve else "sharing.deny",
            case_number=request.case_number,
            terms={
                "request_id": request_id,
                "agency": request.agency.name,
                "entered_by": request.entered_by,
                "note": why,
                "expires_at": expires,
            },
        )
        return get_request(conn, request_id)


@dataclass(frozen=True)
class ReleaseCheck:
    """The answer of `release_allowed`: truthy when the release may go ahead."""

    allowed: bool
    reason: str | None
    request: SharingRequest | None
    read_ids: tuple[str, ...] = ()  # the reads, checked and deduplicated, in the order asked
    missing: tuple[str, ...] = ()  # not found among reads or held evidence
    outside: tuple[str, ...] = ()  # found, but not what the request asked for

    def __bool__(self) -> bool:
        return self.allowed


def _refused(reason: str, request: SharingRequest | None = None, **more: Any) -> ReleaseCheck:
    return ReleaseCheck(False, reason, request, **more)


def release_allowed(
    conn: psycopg.Connection, request_id: int, read_ids: Sequence[str], now: datetime | None = None
) -> ReleaseCheck:
    """Whether these reads may leave under this request: it is approved and not lapsed, and every
    read exists (in `reads` or held evidence) and lies inside what was asked for."""
    at = now or datetime.now(UTC)
    try:
        request = get_request(conn, request_id)
    except NotFound as exc:
        return _refused(str(exc))
    state = request.status(at)
    if state != "approved":
        what = {
            "refused": f"was refused when entered ({request.refusal})",
            "pending": "awaits a sharing approver's decision",
            "denied": "was denied",
            "expired": f"was approved until {request.decision.expires_at:%Y-%m-%d %H:%M} UTC"
            if request.decision and request.decision.expires_at
            else "lapsed",
        }[state]
        return _refused(f"policy 462.6: request #{request_id} {what}; nothing is released", request)
    if not read_ids:
        return _refused("name the reads to release", request)
    if len(read_ids) > MAX_RELEASE_READS:
        return _refused(f"at most {MAX_RELEASE_READS} reads per release", request)
    ids: list[str] = []
    for raw in read_ids:
        try:
            ids.append(str(uuid.UUID(str(raw)[:64])))
        except ValueError:
            return _refused(f"{str(raw)[:64]!r} is not a read id", request)
    ids = list(dict.fromkeys(ids))
    found: dict[str, tuple[datetime, str, str]] = {}
    for read_id, time, camera_id, plate_norm in conn.execute(
        "SELECT read_id::text, time, camera_id, plate_norm FROM reads WHERE read_id = ANY(%s::uuid[])"
        " UNION ALL SELECT read_id::text, time, camera_id, plate_norm FROM evidence_reads"
        " WHERE read_id = ANY(%s::uuid[])",
        (ids, ids),
    ).fetchall():
        found.setdefault(read_id, (time, camera_id, plate_norm))
    missing = tuple(i for i in ids if i not in found)
    outside = tuple(i for i in ids if i in found and not request.data.covers(*found[i]))
    if missing or outside:
        parts = []
        if missing:
            parts.append(f"{len(missing)} not found (first {missing[0]})")
        if outside:
            parts.append(f"{len(outside)} outside what request #{request_id} asked for (first {outside[0]})")
        return _refused(
            "policy 462.6: only the data an approved request asked for is released; of the reads named, "
            + " and ".join(parts),
            request,
            read_ids=tuple(ids),
            missing=missing,
            outside=outside,
        )
    return ReleaseCheck(True, None, request, read_ids=tuple(ids))


def file_release(
    conn: psycopg.Connection,
    actor: Actor,
    check: ReleaseCheck,
    *,
    export_id: str = "",
    manifest_sha256: str = "",
) -> int:
    """File a release that `release_allowed` allowed (its id); in the transaction that makes the
    export, so a release on file always has its export and an export made this way its release."""
    if not check.allowed or check.request is None:
        raise SharingError(check.reason or "this release was not allowed")
    user = _user_with(conn, actor, ENTER_ROLES, "releasing data under a sharing request")
    row = conn.execute(
        "INSERT INTO sharing_releases (request_id, released_by, released_by_id, read_ids, export_id,"
        " manifest_sha256) VALUES (%s, %s, %s, %s::uuid[], %s, %s) RETURNING release_id",
        (
            check.request.request_id,
            user.username,
            user.user_id,
            list(check.read_ids),
            export_id,
            manifest_sha256,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def release_terms(
    check: ReleaseCheck, release_id: int, *, export_id: str = "", manifest_sha256: str = ""
) -> dict[str, Any]:
    """What a release's access-log row says: a transfer, naming the agency and the request."""
    assert check.request is not None
    return {
        "transfer": True,
        "request_id": check.request.request_id,
        "release_id": release_id,
        "agency": check.request.agency.name,
        "requester": check.request.requester_name,
        "export_id": export_id,
        "manifest_sha256": manifest_sha256,
    }


def release_purpose(request: SharingRequest) -> str:
    return f"data-sharing request #{request.request_id}"


def record_release(
    conn: psycopg.Connection,
    actor: Actor,
    check: ReleaseCheck,
    *,
    export_id: str = "",
    manifest_sha256: str = "",
) -> int:
    """`file_release` and its access-log row, on `conn` (the API writes the row as the request's)."""
    release_id = file_release(conn, actor, check, export_id=export_id, manifest_sha256=manifest_sha256)
    assert check.request is not None
    _log(
        conn,
        actor,
        RELEASE_ACTION,
        purpose=release_purpose(check.request),
        case_number=check.request.case_number,
        returned_ids=check.read_ids,
        returned_count=len(check.read_ids),
        terms=release_terms(check, release_id, export_id=export_id, manifest_sha256=manifest_sha256),
    )
    return release_id
