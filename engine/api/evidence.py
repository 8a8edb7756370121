"""/api/v1/evidence: evidence exports to portable media, their custody, and evidence holds (462.3).

Who: investigators and supervisors export, record custody and place holds; only a supervisor
releases a hold (a hold keeps evidence past retention: letting it go is a decision above the
investigator who asked for it). Every request writes one access-log row; an export's row names
every read it carries and is written inside the export's own transaction, before the export's id
is answered, and a download writes another such row before the first byte of the zip is sent.
An export states a purpose and a case like every request for read data, and adds the evidence
booking number the property room gave it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as InPath
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from platewatch.engine.config.evidence import MAX_EXPORT_READS
from platewatch.engine.policy.purposes import PurposeError, StatedPurpose, check_purpose
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.evidence.exports import (
    CUSTODY_KINDS,
    MAX_NOTE,
    MAX_PARTY,
    CustodyEvent,
    Exporter,
    ExportError,
    ExportRecord,
    ExportRequest,
    bundle_zip,
    create_export,
    exports_root,
    get_export,
    list_exports,
    record_custody,
)
from platewatch.engine.store.evidence.keys import EvidenceKeyError, signing_key
from platewatch.engine.store.holds import (
    Hold,
    HoldCriteria,
    HoldError,
    get_hold,
    list_holds,
    place_hold,
    release_hold,
)
from platewatch.engine.store.images import ImageStore, image_store_for

from .deps import PURPOSE_PARAMS, Caller, clean, purpose_for, require
from .errors import ApiError

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])

EVIDENCE = require(Role.INVESTIGATOR, Role.SUPERVISOR)
Investigator = Annotated[Caller, Depends(EVIDENCE)]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
DownloadPurpose = Annotated[StatedPurpose, Depends(purpose_for(EVIDENCE))]
ExportId = Annotated[uuid.UUID, InPath(description="The export's id (a UUID)")]
HoldId = Annotated[int, InPath(ge=1, le=2**62, description="The hold's number")]
_ZIP = "application/zip"


# --- models ------------------------------------------------------------------------------------


class NewExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read_ids: list[str] = Field(min_length=1, max_length=MAX_EXPORT_READS, description="The reads to export")
    case: str = Field(max_length=64, description="Case or incident number (access.case_number_pattern)")
    booking: str = Field(min_length=1, max_length=64, description="Evidence booking number")
    purpose: str = Field(max_length=200, description="Why: one of access.purposes")


class CustodyOut(BaseModel):
    event_id: int
    event: str
    at: datetime
    actor: str
    organisation: str
    to: str
    note: str

    @classmethod
    def of(cls, e: CustodyEvent) -> CustodyOut:
        return cls(
            event_id=e.event_id,
            event=e.event,
            at=e.at,
            actor=e.actor,
            organisation=e.organisation,
            to=e.party,
            note=e.note,
        )


class ExportOut(BaseModel):
    export_id: str
    exported_at: datetime
    exported_by: str
    organisation: str
    purpose: str
    case_number: str
    booking_number: str
    hold_id: int
    reads: int
    files: int
    bytes: int
    manifest_sha256: str
    bundle_sha256: str
    bundle_bytes: int
    signing_key_id: str
    platewatch_version: str
    read_ids: list[str]
    custody: list[CustodyOut]
    bundle: str  # where to download the zip

    @classmethod
    def of(cls, r: ExportRecord) -> ExportOut:
        return cls(
            export_id=r.export_id,
            exported_at=r.exported_at,
            exported_by=r.exported_by,
            organisation=r.organisation,
            purpose=r.purpose,
            case_number=r.case_number,
            booking_number=r.booking_number,
            hold_id=r.hold_id,
            reads=r.reads,
            files=r.files,
            bytes=r.bytes,
            manifest_sha256=r.manifest_sha256,
            bundle_sha256=r.bundle_sha256,
            bundle_bytes=r.bundle_bytes,
            signing_key_id=r.signing_key_id,
            platewatch_version=r.platewatch_version,
            read_ids=list(r.read_ids),
            custody=[CustodyOut.of(e) for e in r.events],
            bundle=f"{router.prefix}/exports/{r.export_id}/bundle",
        )


class NewCustody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(description=f"One of {', '.join(k for k in CUSTODY_KINDS if k != 'downloaded')}")
    to: str = Field(
        min_length=1, max_length=MAX_PARTY, description="The media, or whom it went to or came from"
    )
    note: str = Field("", max_length=MAX_NOTE)


class NewHold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str = Field(max_length=64, description="Case or incident number the hold is for")
    purpose: str = Field(max_length=200, description="Why: one of access.purposes")
    reason: str = Field("", max_length=500, description="Why it is held (e.g. discovery request)")
    read_ids: list[str] = Field(default_factory=list, max_length=MAX_EXPORT_READS)
    plate: str | None = Field(None, max_length=64, description="Keep every read of this plate")
    cameras: list[str] = Field(default_factory=list, max_length=100)
    time_from: AwareDatetime | None = Field(None, alias="from")
    time_to: AwareDatetime | None = Field(None, alias="to")


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why the hold is released (recorded)")


class HoldOut(BaseModel):
    hold_id: int
    case_number: str
    reason: str
    created_by: str
    created_at: datetime
    read_ids: list[str]
    plate: str | None
    cameras: list[str]
    time_from: datetime | None
    time_to: datetime | None
    reads: int
    active: bool
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @classmethod
    def of(cls, h: Hold) -> HoldOut:
        c = h.criteria
        return cls(
            hold_id=h.hold_id,
            case_number=h.case_number,
            reason=h.reason,
            created_by=h.created_by,
            created_at=h.created_at,
            read_ids=list(c.read_ids),
            plate=c.plate,
            cameras=list(c.cameras),
            time_from=c.time_from,
            time_to=c.time_to,
            reads=h.reads,
            active=h.active,
            released_at=h.released_at,
            released_by=h.released_by,
            release_reason=h.release_reason,
        )


# --- helpers -----------------------------------------------------------------------------------


def _images(request: Request) -> ImageStore:
    store: ImageStore | None = request.app.state.images
    if store is None:
        store = request.app.state.images = image_store_for(request.app.state.settings)
    return store


def _exporter(caller: Caller) -> Exporter:
    u = caller.user
    return Exporter(
        username=u.username, display_name=u.display_name, organisation=u.organisation, user_id=u.user_id
    )


def _stated(caller: Caller, purpose: str, case: str, terms: dict[str, Any]) -> StatedPurpose:
    """The body's purpose and case, checked as `deps.purpose_for` checks the query's; a refusal is logged."""
    try:
        stated = check_purpose(caller.settings.access, purpose, case)
        if stated.case_number is None:
            raise PurposeError("case_number", "evidence is kept and exported for a case: give its number")
    except PurposeError as exc:
        field = PURPOSE_PARAMS[exc.field]
        caller.log(outcome="refused", reason=f"{field}: {exc}", terms=terms)
        raise ApiError(422, "purpose_required", str(exc), field=field) from None
    return stated


def _refused(
    caller: Caller, exc: Exception, terms: dict[str, Any], code: str = "invalid_request"
) -> ApiError:
    caller.log(outcome="refused", reason=clean(str(exc)), terms=terms)
    return ApiError(422, code, str(exc))


def _record(caller: Caller, export_id: uuid.UUID, terms: dict[str, Any]) -> ExportRecord:
    try:
        return get_export(caller.conn, str(export_id))
    except LookupError as exc:
        caller.log(outcome="refused", reason=clean(str(exc)), terms=terms)
        raise ApiError(404, "not_found", str(exc)) from None


# --- exports -----------------------------------------------------------------------------------


@router.post("/exports", name="evidence.export", status_code=201)
def create(caller: Investigator, body: NewExport, request: Request) -> ExportOut:
    """Hold the reads for the case and build a signed bundle of them on the server."""
    terms: dict[str, Any] = {
        "case": clean(body.case),
        "booking": clean(body.booking, 64),
        "purpose": clean(body.purpose),
        "reads": len(body.read_ids),
    }
    stated = _stated(caller, body.purpose, body.case, terms)
    settings = caller.settings
    try:
        key = signing_key(settings.evidence.signing_key, settings.data_dir)
    except EvidenceKeyError as exc:
        caller.log(outcome="refused", reason=clean(f"signing key: {exc}"), terms=terms)
        raise ApiError(
            503, "signing_key_unavailable", f"the evidence signing key cannot be used: {exc}"
        ) from None

    def log_export(record: ExportRecord) -> None:
        caller.log(
            terms={**terms, "export_id": record.export_id, "hold_id": record.hold_id},
            purpose=stated,
            returned_ids=list(record.read_ids),
        )

    try:
        record = create_export(
            caller.conn,
            _images(request),
            key,
            root=exports_root(settings.evidence.exports_dir, settings.data_dir),
            request=ExportRequest(
                read_ids=tuple(body.read_ids),
                case_number=stated.case_number or "",
                booking_number=body.booking,
                purpose=stated.purpose,
            ),
            by=_exporter(caller),
            max_reads=settings.evidence.max_reads,
            on_recorded=log_export,
        )
    except (ExportError, HoldError) as exc:
        raise _refused(caller, exc, terms, "invalid_export") from None
    except OSError as exc:
        caller.log(outcome="refused", reason=clean(f"storage: {type(exc).__name__}"), terms=terms)
        raise ApiError(503, "storage_unavailable", "the bundle could not be written just now") from None
    return ExportOut.of(record)


@router.get("/exports", name="evidence.exports")
def exports(
    caller: Investigator,
    case: Annotated[str | None, Query(max_length=64, description="Only this case's exports")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ExportOut]:
    """Exports, newest first, with their chain of custody."""
    records = list_exports(caller.conn, case_number=case or None, limit=limit)
    caller.log(terms={"case": clean(case), "limit": limit}, returned_ids=[r.export_id for r in records])
    return [ExportOut.of(r) for r in records]


@router.get("/exports/{export_id}", name="evidence.export_get")
def one_export(caller: Investigator, export_id: ExportId) -> ExportOut:
    terms = {"export_id": str(export_id)}
    record = _record(caller, export_id, terms)
    caller.log(terms=terms, returned_ids=[record.export_id])
    return ExportOut.of(record)


@router.get(
    "/exports/{export_id}/bundle",
    name="evidence.bundle",
    response_class=FileResponse,
    responses={200: {"content": {_ZIP: {}}, "description": "The bundle as a zip"}},
)
def bundle(caller: Investigator, stated: DownloadPurpose, export_id: ExportId) -> FileResponse:
    """The bundle as a zip; the download is in the access log and in the export's custody."""
    terms = {"export_id": str(export_id)}
    record = _record(caller, export_id, terms)
    if stated.case_number != record.case_number:
        caller.log(outcome="refused", reason="case: not the export's case", terms=terms, purpose=stated)
        raise ApiError(
            422, "wrong_case", f"export {export_id} is for another case; state its case number", field="case"
        )
    settings = caller.settings
    path = bundle_zip(exports_root(settings.evidence.exports_dir, settings.data_dir), record.export_id)
    if not path.is_file():
        caller.log(outcome="refused", reason="bundle: not on this server", terms=terms, purpose=stated)
        raise ApiError(404, "not_found", f"the bundle of export {export_id} is not on this server")
    with caller.conn.transaction():
        record_custody(
            caller.conn,
            record.export_id,
            "downloaded",
            _exporter(caller),
            party="zip from the server",
            note=f"sha256 {record.bundle_sha256}",
        )
        caller.log(terms=terms, purpose=stated, returned_ids=list(record.read_ids))
    return FileResponse(path, media_type=_ZIP, filename=path.name)


@router.post("/exports/{export_id}/custody", name="evidence.custody", status_code=201)
def custody(caller: Investigator, export_id: ExportId, body: NewCustody) -> CustodyOut:
    """Record a step of the chain of custody: copied to media, handed over, received."""
    terms = {"export_id": str(export_id), "event": clean(body.event, 40), "to": clean(body.to)}
    if body.event == "downloaded" or body.event not in CUSTODY_KINDS:
        kinds = ", ".join(k for k in CUSTODY_KINDS if k != "downloaded")
        raise _refused(caller, ValueError(f"a custody event is one of {kinds}"), terms)
    _record(caller, export_id, terms)
    try:
        with caller.conn.transaction():
            event = record_custody(
                caller.conn, str(export_id), body.event, _exporter(caller), party=body.to, note=body.note
            )
            caller.log(terms={**terms, "event_id": event.event_id}, returned_ids=[str(export_id)])
    except ExportError as exc:
        raise _refused(caller, exc, terms) from None
    return CustodyOut.of(event)


# --- holds -------------------------------------------------------------------------------------


@router.get("/holds", name="evidence.holds")
def holds(
    caller: Investigator,
    case: Annotated[str | None, Query(max_length=64, description="Only this case's holds")] = None,
    active: Annotated[bool, Query(description="Only holds not released")] = False,
) -> list[HoldOut]:
    found = list_holds(caller.conn, case_number=case or None, active_only=active)
    caller.log(terms={"case": clean(case), "active": active}, returned_ids=[str(h.hold_id) for h in found])
    return [HoldOut.of(h) for h in found]


@router.post("/holds", name="evidence.hold", status_code=201)
def place(caller: Investigator, body: NewHold, request: Request) -> HoldOut:
    """Keep reads (and their images) past retention for a case."""
    terms: dict[str, Any] = {
        "case": clean(body.case),
        "reason": clean(body.reason),
        "read_ids": len(body.read_ids),
        "plate": clean(body.plate),
        "cameras": [clean(c, 64) for c in body.cameras],
        "from": body.time_from,
        "to": body.time_to,
    }
    stated = _stated(caller, body.purpose, body.case, terms)
    criteria = HoldCriteria(
        read_ids=tuple(body.read_ids),
        plate=body.plate,
        cameras=tuple(body.cameras),
        time_from=body.time_from,
        time_to=body.time_to,
    )
    try:
        criteria.check()
        ids = [str(uuid.UUID(r)) for r in body.read_ids]
    except (HoldError, ValueError) as exc:
        raise _refused(caller, exc, terms) from None
    try:
        with caller.conn.transaction():
            hold = place_hold(
                caller.conn,
                _images(request),
                case_number=stated.case_number or "",
                created_by=caller.user.username,
                criteria=dataclasses.replace(criteria, read_ids=tuple(ids)),
                reason=body.reason,
            )
            caller.log(terms={**terms, "hold_id": hold.hold_id}, purpose=stated, returned_count=hold.reads)
    except HoldError as exc:
        raise _refused(caller, exc, terms) from None
    return HoldOut.of(hold)


@router.post("/holds/{hold_id}/release", name="evidence.hold_release")
def release(caller: Supervisor, hold_id: HoldId, body: Release, request: Request) -> HoldOut:
    """Release a hold (a supervisor's decision): recorded, and the hold's copies deleted."""
    terms: dict[str, Any] = {"hold_id": hold_id, "reason": clean(body.reason)}
    status = 404
    try:
        with caller.conn.transaction():
            current = get_hold(caller.conn, hold_id)
            status = 409
            if not current.active:
                raise HoldError(
                    f"hold {hold_id} was released on {current.released_at:%Y-%m-%d} by {current.released_by}"
                )
            hold = release_hold(
                caller.conn, _images(request), hold_id, released_by=caller.user.username, reason=body.reason
            )
            caller.log(terms={**terms, "case": current.case_number}, returned_count=hold.reads)
    except HoldError as exc:
        caller.log(outcome="refused", reason=clean(str(exc)), terms=terms)
        raise ApiError(status, "not_found" if status == 404 else "already_released", str(exc)) from None
    return HoldOut.of(hold)
