"""/api/v1/audit: the access log with filters (auditors, supervisors) and its verification (auditors);
audits (policy 462.4(c)): the report for any period, the scheduled audits with their sign-off, the
review sample, the notifications of unusual access, and the retention report.

Reading the log is itself an access and leaves a row (what was asked, which rows came back), so the
auditors' own reading is on record too; so do reports, sign-offs, reviews and acknowledgements.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from platewatch.engine.config.access import access_log_days
from platewatch.engine.policy import access_log, audit_sample, audit_schedule, audit_watch
from platewatch.engine.policy.access_log import LogRow
from platewatch.engine.policy.audit_render import render_csv, render_html
from platewatch.engine.policy.audit_report import build_report
from platewatch.engine.policy.errors import PolicyError
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.retention_report import retention_report

from .deps import Caller, clean, require
from .errors import ApiError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

LogReader = Annotated[Caller, Depends(require(Role.AUDITOR, Role.SUPERVISOR))]
Auditor = Annotated[Caller, Depends(require(Role.AUDITOR))]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
AuditId = Annotated[int, Path(ge=1, le=2**62, description="The audit's id")]
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


# --- audits (policy 462.4(c)) ---------------------------------------------------------------------


def _period(
    caller: Caller, time_from: datetime | None, time_to: datetime | None
) -> tuple[datetime, datetime]:
    """The asked period, or the current audit period so far."""
    cfg = caller.settings.audit
    now = datetime.now(UTC)
    if time_from is None and time_to is None:
        start, _ = audit_schedule.period_bounds(cfg.period, cfg.timezone, now)
        return start, now
    for name, value in (("from", time_from), ("to", time_to)):
        if value is None or value.tzinfo is None:
            reason = f"{name} is required with a time zone"
            caller.log(outcome="refused", reason=reason, terms={"from": time_from, "to": time_to})
            raise ApiError(422, "invalid_request", reason, field=name)
    assert time_from is not None and time_to is not None
    if time_from >= time_to:
        caller.log(
            outcome="refused", reason="from is not before to", terms={"from": time_from, "to": time_to}
        )
        raise ApiError(422, "invalid_request", "from must be before to", field="from")
    return time_from, time_to


@router.get(
    "/report",
    name="audit.report",
    responses={200: {"content": {"text/csv": {}, "text/html": {}}, "description": "JSON, CSV or HTML"}},
)
def report(
    caller: LogReader,
    request: Request,
    time_from: Annotated[
        datetime | None, Query(alias="from", description="Start (ISO 8601 with zone)")
    ] = None,
    time_to: Annotated[datetime | None, Query(alias="to", description="End, exclusive")] = None,
    fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
) -> Response:
    """The audit report's figures for a period (default: the current audit period so far)."""
    start, end = _period(caller, time_from, time_to)
    figures = build_report(
        caller.conn,
        caller.settings.audit,
        caller.settings.access,
        start,
        end,
        hotlists=getattr(request.app.state, "redis", None),
    )
    caller.log(terms={"from": start, "to": end, "format": fmt, "rows": figures.rows})
    if fmt == "csv":
        return Response(
            render_csv(figures),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{start:%Y%m%d}-{end:%Y%m%d}.csv"'},
        )
    if fmt == "html":
        return Response(
            render_html(figures),
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{start:%Y%m%d}-{end:%Y%m%d}.html"'},
        )
    return Response(json.dumps(figures.as_dict()), media_type="application/json")


class AuditOut(BaseModel):
    audit_id: int
    period: str
    period_start: datetime
    period_end: datetime
    produced_at: datetime
    produced_by: str
    figures: dict[str, Any]
    due_at: datetime
    signed_by: str | None
    signed_at: datetime | None
    signoff_note: str | None
    overdue: bool
    sample: dict[str, int]


class PeriodOut(BaseModel):
    start: datetime
    end: datetime


class AuditStatusOut(BaseModel):
    period: str
    overdue: bool
    missing: list[PeriodOut]
    audits: list[AuditOut]
    open_notifications: int
    my_open_reviews: int


@router.get("/status", name="audit.status")
def status(caller: LogReader) -> AuditStatusOut:
    """The scheduled audits, newest first, with sign-off and sample progress; `overdue` flags any
    audit past its sign-off date (or a period the worker has not produced one for)."""
    st = audit_schedule.audit_status(caller.conn, caller.settings.audit)
    row = caller.conn.execute(
        "SELECT (SELECT count(*) FROM audit_notifications WHERE acknowledged_at IS NULL),"
        " (SELECT count(*) FROM audit_reviews WHERE assigned_to = %s AND reviewed_at IS NULL)",
        (caller.user.username,),
    ).fetchone()
    assert row is not None
    caller.log(terms={"overdue": st.overdue}, returned_ids=[str(a["audit_id"]) for a in st.audits])
    return AuditStatusOut(
        period=st.period,
        overdue=st.overdue,
        missing=[PeriodOut(start=a, end=b) for a, b in st.missing],
        audits=[AuditOut(**a) for a in st.audits],
        open_notifications=row[0],
        my_open_reviews=row[1],
    )


class SignOff(BaseModel):
    note: str = Field("", max_length=4000, description="What the signer noted (findings, follow-up)")


@router.post("/audits/{audit_id}/signoff", name="audit.signoff")
def signoff(caller: LogReader, audit_id: AuditId, body: Annotated[SignOff, Body()]) -> AuditOut:
    """Record that the caller has read the audit and signs it off (once per audit, final)."""
    with caller.refusals(audit_id=audit_id):
        row = audit_schedule.sign_off(caller.conn, caller.user, audit_id, body.note)
    caller.log(terms={"audit_id": audit_id, "note": clean(body.note)})
    return AuditOut(**row)


class SampledOut(BaseModel):
    audit_id: int
    seq: int
    searcher: str
    assigned_to: str | None
    assigned_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    finding: str | None
    note: str | None
    time: datetime | None
    organisation: str | None
    action: str | None
    terms: dict[str, Any] | None
    purpose: str | None
    case_number: str | None
    returned_count: int | None


@router.get("/audits/{audit_id}/sample", name="audit.sample")
def sample(caller: LogReader, audit_id: AuditId) -> list[SampledOut]:
    """The audit's review sample: each search's access-log row, who reviews it, and the finding."""
    rows = audit_sample.sample(caller.conn, audit_id)
    caller.log(terms={"audit_id": audit_id}, returned_ids=[str(r.seq) for r in rows])
    return [SampledOut(**r.__dict__) for r in rows]


class Review(BaseModel):
    finding: Literal["proper", "improper", "unclear"]
    note: str = Field("", max_length=4000, description="Required unless the finding is 'proper'")


@router.post("/audits/{audit_id}/sample/{seq}/review", name="audit.review")
def review(
    caller: Supervisor,
    audit_id: AuditId,
    seq: Annotated[int, Path(ge=1, le=2**62, description="The sampled search's access-log row")],
    body: Annotated[Review, Body()],
) -> SampledOut:
    """Record a supervisor's review of one sampled search: never their own search, never twice."""
    terms = {"audit_id": audit_id, "seq": seq, "finding": body.finding}
    with caller.refusals(**terms):
        done = audit_sample.record_review(caller.conn, caller.user, audit_id, seq, body.finding, body.note)
    caller.log(terms={**terms, "note": clean(body.note)})
    return SampledOut(**done.__dict__)


class NotificationOut(BaseModel):
    notification_id: int
    raised_at: datetime
    kind: str
    username: str | None
    message: str
    seqs: list[int]
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@router.get("/notifications", name="audit.notifications")
def notifications(
    caller: LogReader, all_: Annotated[bool, Query(alias="all", description="Acknowledged ones too")] = False
) -> list[NotificationOut]:
    """Unusual access (bulk results, out-of-hours spikes) and overdue audits, newest first."""
    rows = audit_watch.notifications(caller.conn, open_only=not all_)
    caller.log(terms={"all": all_}, returned_ids=[str(r["notification_id"]) for r in rows])
    return [NotificationOut(**r) for r in rows]


@router.post("/notifications/{notification_id}/acknowledge", name="audit.acknowledge")
def acknowledge(caller: Supervisor, notification_id: Annotated[int, Path(ge=1, le=2**62)]) -> NotificationOut:
    """A supervisor has seen the notification (what they did about it goes in their own records)."""
    with caller.refusals(notification_id=notification_id):
        try:
            row = audit_watch.acknowledge(caller.conn, caller.user, notification_id)
        except PolicyError as exc:
            if "does not exist" in str(exc):
                caller.log(outcome="refused", reason=str(exc), terms={"notification_id": notification_id})
                raise ApiError(404, "not_found", str(exc)) from None
            raise
    caller.log(terms={"notification_id": notification_id})
    return NotificationOut(**row)


@router.get("/retention", name="audit.retention")
def retention(caller: LogReader) -> dict[str, Any]:
    """The retention report (policy 462.3): the rules, what each run purged, what is held and why."""
    s = caller.settings
    rep = retention_report(caller.conn, s.retention.days, access_log_days(s.access, s.retention.days))
    caller.log(terms={}, returned_ids=[f"hold:{h['hold_id']}" for h in rep.holds])
    return {
        "retention_days": rep.days,
        "cutoff": rep.cutoff,
        "oldest_read": rep.oldest_read,
        "held_reads": rep.held_reads,
        "rules": [r.__dict__ for r in rep.rules],
        "runs": rep.runs,
        "holds": rep.holds,
    }
