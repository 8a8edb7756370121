"""/api/v1/sharing: other agencies' data-sharing requests, their decisions and releases (policy 462.6,
Civil Code § 1798.90.55).

An investigator or a supervisor enters a request received from an agency, with its written request
(multipart: the fields and the document); a sharing approver approves or denies it with a note;
an investigator or a supervisor releases reads under an approved request, as an evidence export.
What may be done is decided in `policy.sharing`; this module turns its answers into HTTP. Every
request writes one access-log row, a refused one too: changes are logged by the policy in the
change's own transaction, listings and refusals here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from platewatch.engine.policy import sharing
from platewatch.engine.policy.errors import PolicyError
from platewatch.engine.policy.purposes import StatedPurpose
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.sharing import (
    AgencyKind,
    AlreadyDecided,
    DocumentRejected,
    NotEligible,
    ReleaseCheck,
    SharingRequest,
)
from platewatch.engine.store.evidence.exports import (
    Exporter,
    ExportError,
    ExportRecord,
    ExportRequest,
    create_export,
    exports_root,
)
from platewatch.engine.store.evidence.keys import EvidenceKeyError, signing_key
from platewatch.engine.store.holds import HoldError
from platewatch.engine.store.images import ImageStore, image_store_for

from .deps import Caller, clean, require
from .errors import ApiError, policy_error

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])

Enterer = Annotated[Caller, Depends(require(Role.INVESTIGATOR, Role.SUPERVISOR))]
Viewer = Annotated[Caller, Depends(require(Role.INVESTIGATOR, Role.SUPERVISOR, Role.SHARING_APPROVER))]
Approver = Annotated[Caller, Depends(require(Role.SHARING_APPROVER))]
RequestId = Annotated[int, Path(ge=1, le=2**62)]
Status = Literal["refused", "pending", "approved", "expired", "denied"]


class DataOut(BaseModel):
    plate: str | None
    pattern: str | None
    time_from: datetime
    time_to: datetime
    cameras: list[str]  # empty: any camera


class DocumentOut(BaseModel):
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


class DecisionOut(BaseModel):
    decision: str
    note: str
    decided_at: datetime
    decided_by: str
    expires_at: datetime | None


class ReleaseOut(BaseModel):
    release_id: int
    released_at: datetime
    released_by: str
    read_count: int
    export_id: str
    manifest_sha256: str


class RequestOut(BaseModel):
    request_id: int
    status: str
    entered_at: datetime
    entered_by: str
    agency: str
    agency_kind: str
    agency_state: str
    agency_is_public: bool
    requester_name: str
    requester_contact: str
    agency_reference: str
    case_number: str
    purpose: str
    legal_basis: str
    data: DataOut
    refusal: str | None
    document: DocumentOut | None
    decision: DecisionOut | None
    releases: list[ReleaseOut]

    @classmethod
    def of(cls, r: SharingRequest) -> RequestOut:
        return cls(
            request_id=r.request_id,
            status=r.status(),
            entered_at=r.entered_at,
            entered_by=r.entered_by,
            agency=r.agency.name,
            agency_kind=r.agency.kind.value,
            agency_state=r.agency.state,
            agency_is_public=r.agency.is_public,
            requester_name=r.requester_name,
            requester_contact=r.requester_contact,
            agency_reference=r.agency_reference,
            case_number=r.case_number,
            purpose=r.purpose,
            legal_basis=r.legal_basis,
            data=DataOut(
                plate=r.data.plate,
                pattern=r.data.pattern,
                time_from=r.data.time_from,
                time_to=r.data.time_to,
                cameras=list(r.data.cameras),
            ),
            refusal=r.refusal,
            document=DocumentOut(**vars(r.document)) if r.document else None,
            decision=DecisionOut(**vars(r.decision)) if r.decision else None,
            releases=[ReleaseOut(**vars(x)) for x in r.releases],
        )


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionIn(Body):
    decision: Literal["approve", "deny"]
    note: str = Field(min_length=1, max_length=2000)
    valid_days: int = Field(sharing.DEFAULT_APPROVAL_DAYS, ge=1, le=sharing.MAX_APPROVAL_DAYS)


class ReleaseIn(Body):
    read_ids: list[str] = Field(min_length=1, max_length=sharing.MAX_RELEASE_READS)
    evidence_booking: str = Field(min_length=1, max_length=64, description="Evidence booking number")


class ReleaseResult(BaseModel):
    release_id: int
    request_id: int
    agency: str
    read_ids: list[str]
    export_id: str
    manifest_sha256: str
    bundle: str  # the zip, downloaded through the evidence routes (logged, in the export's custody)


def _ref(request_id: int) -> str:
    return f"sharing-request/{request_id}"


@router.post("/requests", name="sharing.requests.create", status_code=201)
def create_request(
    caller: Enterer,
    agency: Annotated[str, Form(max_length=200, description="The requesting agency's name")],
    agency_kind: Annotated[
        AgencyKind, Form(description="law_enforcement, prosecutorial, other_public, private")
    ],
    agency_state: Annotated[str, Form(max_length=2, description="Two letters: CA; US for a federal agency")],
    agency_is_public: Annotated[bool, Form(description="Whether the agency is a public agency")],
    requester_name: Annotated[str, Form(max_length=200)],
    requester_contact: Annotated[str, Form(max_length=200, description="Telephone or e-mail")],
    case_number: Annotated[
        str, Form(max_length=64, description="The department's case the request is filed under")
    ],
    purpose: Annotated[str, Form(max_length=2000, description="The agency's stated purpose")],
    legal_basis: Annotated[str, Form(max_length=2000, description="The law or process it relies on")],
    time_from: Annotated[AwareDatetime, Form()],
    time_to: Annotated[AwareDatetime, Form()],
    document: Annotated[UploadFile, File(description="The written request: PDF, PNG, JPEG or TIFF")],
    plate: Annotated[str | None, Form(max_length=64)] = None,
    pattern: Annotated[str | None, Form(max_length=64, description="Partial plate: ? one, * any run")] = None,
    cameras: Annotated[list[str] | None, Form(description="Camera ids; none: any camera")] = None,
    agency_reference: Annotated[str, Form(max_length=64, description="The agency's case number")] = "",
) -> RequestOut:
    """Enter a request received from another agency, with its written request. An agency that may
    not receive ALPR data gets a 422 naming each rule; that request is still kept on file."""
    content = document.file.read(sharing.MAX_DOCUMENT_BYTES + 1)
    terms: dict[str, Any] = {
        "agency": clean(agency),
        "agency_kind": agency_kind.value,
        "agency_state": clean(agency_state),
        "document": clean(document.filename),
    }
    new = sharing.NewRequest(
        agency=sharing.Agency(agency, agency_kind, agency_state, agency_is_public),
        requester_name=requester_name,
        requester_contact=requester_contact,
        case_number=case_number,
        purpose=purpose,
        legal_basis=legal_basis,
        agency_reference=agency_reference,
        data=sharing.DataAsked(plate or None, pattern or None, time_from, time_to, tuple(cameras or ())),
        document=sharing.Document(document.filename or "request", document.content_type or "", content),
    )
    try:
        made = sharing.enter_request(caller.conn, caller.settings.access, caller.actor(), new)
    except NotEligible as exc:  # on file as refused, with its refused row
        detail = {
            "code": "not_eligible",
            "message": str(exc),
            "request_id": exc.request_id,
            "rules": [r.rule for r in exc.refusals],
        }
        raise HTTPException(422, detail) from None
    except DocumentRejected as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms)
        status = 413 if exc.too_large else 415
        raise ApiError(status, "document_rejected", str(exc), field="document") from None
    except PolicyError as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms)
        raise policy_error(exc) from None
    return RequestOut.of(made)


@router.get("/requests", name="sharing.requests.list")
def list_requests(
    caller: Viewer,
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RequestOut]:
    """Newest first; `status=pending` is the approver's queue."""
    with caller.conn.transaction():
        found = sharing.list_requests(caller.conn, status=status, limit=limit)
        caller.log(terms={"status": status, "limit": limit}, returned_ids=[_ref(r.request_id) for r in found])
    return [RequestOut.of(r) for r in found]


@router.get("/requests/{request_id}", name="sharing.requests.get")
def get_request(caller: Viewer, request_id: RequestId) -> RequestOut:
    with caller.refusals(request_id=request_id), caller.conn.transaction():
        found = sharing.get_request(caller.conn, request_id)
        caller.log(
            terms={"request_id": request_id, "agency": found.agency.name}, returned_ids=[_ref(request_id)]
        )
    return RequestOut.of(found)


@router.get(
    "/requests/{request_id}/document",
    name="sharing.requests.document",
    response_class=Response,
    responses={200: {"content": {t: {} for t in sharing.DOCUMENT_TYPES}, "description": "As uploaded"}},
)
def get_document(caller: Viewer, request_id: RequestId) -> Response:
    """The written request, byte for byte as received; its SHA-256 is checked before it leaves."""
    with caller.refusals(request_id=request_id), caller.conn.transaction():
        doc = sharing.get_document(caller.conn, request_id)
        caller.log(terms={"request_id": request_id, "sha256": doc.sha256}, returned_ids=[_ref(request_id)])
    return Response(
        content=doc.content,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{doc.filename}"',
            "X-Content-SHA256": doc.sha256,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/requests/{request_id}/decision", name="sharing.requests.decide")
def decide(caller: Approver, request_id: RequestId, body: DecisionIn) -> RequestOut:
    """Approve (good for `valid_days`) or deny, with a note; nobody decides a request they entered."""
    terms = {"request_id": request_id, "decision": body.decision}
    try:
        decided = sharing.decide(
            caller.conn,
            caller.settings.access,
            caller.actor(),
            request_id,
            approve=body.decision == "approve",
            note=body.note,
            valid_days=body.valid_days,
        )
    except AlreadyDecided as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms)
        raise ApiError(409, "already_decided", str(exc)) from None
    except PolicyError as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms)
        raise policy_error(exc) from None
    return RequestOut.of(decided)


def _refusal_status(check: ReleaseCheck) -> tuple[int, str]:
    if check.request is None:
        return 404, "not_found"
    if check.request.status() != "approved":
        return 409, "not_approved"
    return 422, "outside_request"


def _images(request: Request) -> ImageStore:
    store: ImageStore | None = request.app.state.images
    if store is None:
        store = request.app.state.images = image_store_for(request.app.state.settings)
    return store


@router.post("/requests/{request_id}/release", name="sharing.requests.release", status_code=201)
def release(caller: Enterer, request_id: RequestId, body: ReleaseIn, request: Request) -> ReleaseResult:
    """Release reads to the requesting agency as a signed evidence export, only under an approved,
    unexpired request and only reads inside what it asked for. The export's transaction files the
    release, and its access-log row (a transfer naming the agency and the request, with every read)
    is written before the export's id is answered."""
    terms: dict[str, Any] = {"request_id": request_id, "transfer": True, "reads": len(body.read_ids)}
    check = sharing.release_allowed(caller.conn, request_id, body.read_ids)
    if check.request is not None:
        terms["agency"] = check.request.agency.name
    if not check:
        assert check.reason is not None
        terms.update(missing=list(check.missing[:20]), outside=list(check.outside[:20]))
        caller.log(outcome="refused", reason=check.reason, terms=terms)
        status, code = _refusal_status(check)
        raise ApiError(status, code, check.reason)
    shared = check.request
    assert shared is not None
    settings = caller.settings
    try:
        key = signing_key(settings.evidence.signing_key, settings.data_dir)
    except EvidenceKeyError as exc:
        caller.log(outcome="refused", reason=clean(f"signing key: {exc}"), terms=terms)
        raise ApiError(
            503, "signing_key_unavailable", f"the evidence signing key cannot be used: {exc}"
        ) from None
    actor = caller.actor()
    filed: list[int] = []

    def file_and_log(record: ExportRecord) -> None:
        made = {"export_id": record.export_id, "manifest_sha256": record.manifest_sha256}
        release_id = sharing.file_release(caller.conn, actor, check, **made)
        caller.log(
            action=sharing.RELEASE_ACTION,
            terms=sharing.release_terms(check, release_id, **made),
            purpose=StatedPurpose(sharing.release_purpose(shared), shared.case_number, None),
            returned_ids=check.read_ids,
        )
        filed.append(release_id)

    u = caller.user
    try:
        record = create_export(
            caller.conn,
            _images(request),
            key,
            root=exports_root(settings.evidence.exports_dir, settings.data_dir),
            request=ExportRequest(
                read_ids=check.read_ids,
                case_number=shared.case_number,
                booking_number=body.evidence_booking,
                purpose=f"data-sharing request #{shared.request_id} ({shared.agency.name})"[:200],
            ),
            by=Exporter(
                username=u.username,
                display_name=u.display_name,
                organisation=u.organisation,
                user_id=u.user_id,
            ),
            max_reads=settings.evidence.max_reads,
            on_recorded=file_and_log,
        )
    except (ExportError, HoldError, PolicyError) as exc:
        caller.log(outcome="refused", reason=clean(str(exc)), terms=terms)
        raise ApiError(422, "invalid_export", str(exc)) from None
    except OSError as exc:
        caller.log(outcome="refused", reason=clean(f"storage: {type(exc).__name__}"), terms=terms)
        raise ApiError(503, "storage_unavailable", "the bundle could not be written just now") from None
    return ReleaseResult(
        release_id=filed[0],
        request_id=shared.request_id,
        agency=shared.agency.name,
        read_ids=list(record.read_ids),
        export_id=record.export_id,
        manifest_sha256=record.manifest_sha256,
        bundle=f"/api/v1/evidence/exports/{record.export_id}/bundle",
    )
