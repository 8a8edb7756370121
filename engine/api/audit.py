"""/api/v1/audit: the access log with filters (auditors, supervisors) and its verification (auditors).

Reading the log is itself an access and leaves a row (what was asked, which rows came back), so the
auditors' own reading is on record too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import LogRow
from platewatch.engine.policy.roles import Role

from .deps import Caller, clean, require
from .errors import ApiError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

LogReader = Annotated[Caller, Depends(require(Role.AUDITOR, Role.SUPERVISOR))]
Auditor = Annotated[Caller, Depends(require(Role.AUDITOR))]
MAX_ROWS = 1000


class LogRowOut(BaseModel):
    seq: int
    time: datetime
    user_id: int | None
    username: str
    organisation: str
    client_address: str | None
    action: str
    terms: dict[str, Any]
    purpose: str | None
    case_number: str | None
    alert_id: str | None
    outcome: str
    reason: str | None
    returned_count: int
    returned_ids: list[str]
    hash: str

    @classmethod
    def of(cls, r: LogRow) -> LogRowOut:
        return cls(
            seq=r.seq,
            time=r.time,
            user_id=r.user_id,
            username=r.username,
            organisation=r.organisation,
            client_address=r.client_address,
            action=r.action,
            terms=r.terms,
            purpose=r.purpose,
            case_number=r.case_number,
            alert_id=r.alert_id,
            outcome=r.outcome,
            reason=r.reason,
            returned_count=r.returned_count,
            returned_ids=list(r.returned_ids),
            hash=r.hash.hex(),
        )


class LogPage(BaseModel):
    rows: list[LogRowOut]
    next_before: int | None  # pass as `before` for the next (older) page


class VerifyReport(BaseModel):
    ok: bool
    rows: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    anchors_checked: int
    first_bad_seq: int | None
    problem: str | None
    seconds: float


@router.get("/log", name="audit.log")
def log_rows(
    caller: LogReader,
    user: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Literal["allowed", "refused"] | None = None,
    time_from: Annotated[datetime | None, Query(alias="from")] = None,
    time_to: Annotated[datetime | None, Query(alias="to")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Rows older than this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> LogPage:
    """Rows matching every filter, newest first."""
    terms = {
        "user": clean(user),
        "action": clean(action),
        "case": clean(case),
        "outcome": outcome,
        "from": time_from,
        "to": time_to,
        "before": before,
        "limit": limit,
    }
    terms = {k: v for k, v in terms.items() if v is not None}
    for name, value in (("from", time_from), ("to", time_to)):
        if value is not None and value.tzinfo is None:
            caller.log(outcome="refused", reason=f"{name} needs a time zone", terms=terms)
            raise ApiError(422, "invalid_request", f"{name} needs a time zone", field=name)
    with caller.conn.transaction():
        rows = access_log.query(
            caller.conn,
            username=clean(user),
            action=clean(action),
            case_number=clean(case),
            outcome=outcome,
            since=time_from,
            until=time_to,
            before_seq=before,
            limit=limit,
        )
        caller.log(terms=terms, returned_ids=[str(r.seq) for r in rows])
    return LogPage(
        rows=[LogRowOut.of(r) for r in rows],
        next_before=rows[-1].seq if len(rows) == limit else None,
    )


@router.post("/verify", name="audit.verify")
def verify(caller: Auditor) -> VerifyReport:
    """Walk the whole chain and check it against the anchors; names the first bad row."""
    anchors = access_log.anchor_path(caller.settings.access, caller.settings.data_dir)
    report = access_log.verify(caller.conn, anchors)
    caller.log(
        terms={"ok": report.ok, "rows": report.rows, "first_bad_seq": report.first_bad_seq},
        outcome="allowed",
    )
    return VerifyReport(
        ok=report.ok,
        rows=report.rows,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        head_hash=report.head_hash,
        anchors_checked=report.anchors_checked,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
        seconds=report.seconds,
    )
