"""/api/v1/case-entries: investigators put plates from a major crime on a hotlist (policy 462.2(c)).

An investigator or supervisor with current training adds a plate or a partial plate (`7AB?1*`) for
the case they state (purpose + case number, like a search), with a reason and an expiry no further
than `case_entries.max_days`; the entry goes into the same Redis layout the admins' lists use,
through the same validation (engine/hotlist), owned by the caller, who is notified of each hit
(/api/v1/auth/notifications). An investigator sees and removes their own entries; a supervisor sees
and removes everyone's. Each request is one access-log row, written before the answer leaves.

The notifications routes live here too: today every user notification is a hit on such an entry.
Any logged-in user reads their own; the plate, camera and time come only to a user who still holds
a read role with current training (the owner may have lost both since entering the plate).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from platewatch.engine.alerts.notifications import mark_read, user_notifications
from platewatch.engine.hotlist.admin import AdminError
from platewatch.engine.hotlist.case_entries import (
    SOURCE,
    CaseEntry,
    add_case_entry,
    case_entries,
    case_entry,
    check_case_entry,
    remove_case_entry,
)
from platewatch.engine.policy.purposes import StatedPurpose
from platewatch.engine.policy.roles import READ_DATA_ROLES, Role
from platewatch.engine.policy.training import training_status

from .deps import Caller, CurrentUser, Purpose, Reader, clean
from .equipment import LAYOUT, ListName, redis_store
from .errors import ApiError

router = APIRouter(tags=["case entries"])

EntryText = Annotated[str, Path(min_length=1, max_length=64, description="Plate, or pattern with ? and *")]
NotificationId = Annotated[int, Path(ge=1, le=2**62)]


class NewCaseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: str = Field(min_length=1, max_length=64, description="Plate, or partial plate with ? and *")
    reason: str = Field(max_length=500, description="Why it is listed: one short line (required)")
    expires_at: AwareDatetime = Field(description="When the entry lapses (required; case_entries.max_days)")
    list: str | None = Field(None, max_length=64, description="A configured list (default case_entries)")
    vehicle: str = Field("", max_length=200)
    state: str = Field("", max_length=16)


class CaseEntryOut(BaseModel):
    list: str
    entry: str
    key: str
    owner: str
    case: str
    reason: str
    vehicle: str
    added_at: str
    expires_in_s: int | None


class NotificationOut(BaseModel):
    notification_id: int
    raised_at: dt.datetime
    kind: str
    read_at: dt.datetime | None
    alert_id: str | None  # None and `message` None: the caller no longer holds a read role
    message: str | None
    plate: str | None
    camera_id: str | None
    read_time: dt.datetime | None


def _out(e: CaseEntry) -> CaseEntryOut:
    f = e.fields
    return CaseEntryOut(
        list=e.list_name,
        entry=e.entry,
        key=e.key,
        owner=f.get("owner", ""),
        case=f.get("case", ""),
        reason=f.get("reason", ""),
        vehicle=f.get("vehicle", ""),
        added_at=f.get("added_at", ""),
        expires_in_s=e.expires_in_s,
    )


def _refuse(caller: Caller, message: str, terms: dict[str, Any], stated: StatedPurpose | None) -> ApiError:
    caller.log(outcome="refused", reason=clean(message), terms=terms, purpose=stated)
    return ApiError(422, "invalid_request", message)


def _is_supervisor(caller: Caller) -> bool:
    return Role.SUPERVISOR in caller.user.roles


@router.post("/api/v1/case-entries", name="case_entry.add", status_code=201)
def add_case_hotlist_entry(
    caller: Reader, stated: Purpose, request: Request, body: NewCaseEntry
) -> CaseEntryOut:
    """Put a plate or partial plate on a hotlist for the stated case; the caller owns the entry."""
    cfg = caller.settings.case_entries
    list_name = body.list or cfg.default_list
    terms: dict[str, Any] = {
        "list": list_name,
        "entry": clean(body.plate, 64),
        "reason": clean(body.reason),
        "expires_at": body.expires_at.isoformat(),
    }
    if not stated.case_number:
        raise _refuse(
            caller, "a hotlist entry names its case: state the case number (case=...)", terms, stated
        )
    if not body.reason.strip():
        raise _refuse(caller, "field 'reason' is required", terms, stated)
    fields = {
        "reason": body.reason.strip(),
        "case": stated.case_number,
        "owner": caller.user.username,
        "source": SOURCE,
        "vehicle": body.vehicle,
        "state": body.state.upper(),
        "added_by": caller.user.username,
        "added_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    expires = body.expires_at.timestamp()
    with redis_store(request, caller, terms) as client:
        try:
            plate = check_case_entry(
                client,
                LAYOUT,
                caller.settings.hotlists,
                list_name,
                body.plate,
                expires,
                cfg.max_days,
                time.time(),
            )
            key = add_case_entry(
                client, LAYOUT, list_name, plate, fields, expires, may_replace_others=_is_supervisor(caller)
            )
        except AdminError as exc:
            raise _refuse(caller, str(exc), terms, stated) from None
        _, stored = case_entry(client, LAYOUT, list_name, plate)
        ttl = int(client.ttl(key))  # type: ignore[arg-type]
    caller.log(terms=terms, purpose=stated, returned_ids=[key])
    return _out(CaseEntry(list_name, plate, key, stored, None if ttl < 0 else ttl))


@router.get("/api/v1/case-entries", name="case_entry.list")
def list_case_entries(
    caller: Reader,
    stated: Purpose,
    request: Request,
    everyone: Annotated[bool, Query(alias="all", description="A supervisor: everyone's entries")] = False,
) -> list[CaseEntryOut]:
    """The caller's entries; a supervisor asking `all` sees every investigator's."""
    terms = {"all": everyone}
    if everyone and not _is_supervisor(caller):
        caller.log(outcome="refused", reason="all: only a supervisor sees everyone's entries", terms=terms)
        raise ApiError(403, "forbidden", "only a supervisor sees everyone's entries; leave out all")
    with redis_store(request, caller, terms) as client:
        found = case_entries(client, LAYOUT, None if everyone else caller.user.username)
    caller.log(terms=terms, purpose=stated, returned_ids=[e.key for e in found])
    return [_out(e) for e in found]


@router.delete("/api/v1/case-entries/{list_name}/{entry}", name="case_entry.remove")
def remove_case_hotlist_entry(
    caller: Reader, stated: Purpose, request: Request, list_name: ListName, entry: EntryText
) -> dict[str, str]:
    """Take an entry off its list: its owner or a supervisor (404 when there is none)."""
    terms = {"list": list_name, "entry": clean(entry, 64)}
    with redis_store(request, caller, terms) as client:
        try:
            key, fields = case_entry(client, LAYOUT, list_name, entry)
        except AdminError as exc:
            raise _refuse(caller, str(exc), terms, stated) from None
        if not fields or fields.get("source") != SOURCE:
            caller.log(terms=terms, purpose=stated)
            raise ApiError(404, "not_found", f"no investigator's entry {key}")
        if fields.get("owner") != caller.user.username and not _is_supervisor(caller):
            caller.log(outcome="refused", reason="not the entry's owner", terms=terms, purpose=stated)
            raise ApiError(
                403, "forbidden", f"{key} belongs to {fields.get('owner')}; ask them or a supervisor"
            )
        removed = remove_case_entry(client, LAYOUT, key)
    caller.log(terms=terms, purpose=stated, returned_ids=[key] if removed else [])
    return {"removed": key}


# --- the caller's notifications ----------------------------------------------------------------


def _sees_data(caller: Caller) -> bool:
    """A read role and current training: what seeing a plate, a camera and a time takes."""
    if not caller.user.roles & READ_DATA_ROLES:
        return False
    status = caller.training or training_status(caller.conn, caller.settings.access, caller.user.user_id)
    return status.trained


@router.get("/api/v1/auth/notifications", name="auth.notifications")
def my_notifications(
    caller: CurrentUser,
    unread: Annotated[bool, Query(description="Only those not marked read")] = False,
) -> list[NotificationOut]:
    """The caller's own notifications, newest first (hits on the hotlist entries they added)."""
    rows = user_notifications(caller.conn, caller.user.username, unread_only=unread)
    shown = _sees_data(caller)
    caller.log(
        terms={"unread": unread, "with_data": shown},
        returned_ids=[r["alert_id"] for r in rows] if shown else [str(r["notification_id"]) for r in rows],
    )
    return [
        NotificationOut(
            notification_id=r["notification_id"],
            raised_at=r["raised_at"],
            kind=r["kind"],
            read_at=r["read_at"],
            alert_id=r["alert_id"] if shown else None,
            message=r["message"] if shown else None,
            plate=r["plate"] if shown else None,
            camera_id=r["camera_id"] if shown else None,
            read_time=r["read_time"] if shown else None,
        )
        for r in rows
    ]


@router.post("/api/v1/auth/notifications/{notification_id}/read", name="auth.notification_read")
def read_notification(caller: CurrentUser, notification_id: NotificationId) -> dict[str, int]:
    """Mark one of the caller's notifications read (404 for another user's: theirs stays unread)."""
    terms = {"notification_id": notification_id}
    with caller.conn.transaction():
        marked = mark_read(caller.conn, caller.user.username, notification_id)
        if marked:
            caller.log(terms=terms)
    if not marked:
        caller.log(outcome="refused", reason="no such notification of this user", terms=terms)
        raise ApiError(404, "not_found", f"you have no notification {notification_id}")
    return {"read": notification_id}
