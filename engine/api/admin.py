"""/api/v1/admin: accounts, role requests and approvals, training, the access review.

Admins manage accounts and ask for roles; a supervisor approves roles that reach read data and
records training (`policy.accounts`, `policy.training` decide who may). Changes are logged by those
functions in the change's own transaction; a change they refuse gets a refused row here, and every
listing writes one row naming what it returned, so each request leaves exactly one row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from platewatch.engine.policy import accounts, training
from platewatch.engine.policy.accounts import RoleGrant
from platewatch.engine.policy.directory import User, list_users
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.training import TrainingRecord

from .deps import Caller, require

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
AdminOrSupervisor = Annotated[Caller, Depends(require(Role.ADMIN, Role.SUPERVISOR))]
Reviewer = Annotated[Caller, Depends(require(Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR))]
Username = Annotated[str, Path(min_length=1, max_length=64)]
GrantId = Annotated[int, Path(ge=1, le=2**62)]
Text = Annotated[str, Field(max_length=500)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserSummary(BaseModel):
    username: str
    display_name: str
    organisation: str
    roles: list[str]
    clets_authorised: bool
    disabled: bool
    disabled_reason: str | None
    locked_until: datetime | None
    last_login_at: datetime | None
    mfa_enrolled: bool
    must_change_password: bool
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, u: User) -> UserSummary:
        return cls(
            username=u.username,
            display_name=u.display_name,
            organisation=u.organisation,
            roles=sorted(r.value for r in u.roles),
            clets_authorised=u.clets_authorised,
            disabled=u.disabled,
            disabled_reason=u.disabled_reason,
            locked_until=u.locked_until,
            last_login_at=u.last_login_at,
            mfa_enrolled=u.mfa_enrolled,
            must_change_password=u.must_change_password,
            created_at=u.created_at,
            created_by=u.created_by,
        )


class NewUser(Body):
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    clets_authorised: bool = False
    must_change_password: bool = True


class Reason(Body):
    reason: str = Field(min_length=1, max_length=500)


class NewPassword(Body):
    password: str = Field(min_length=1, max_length=1024)


class RoleRequest(Body):
    role: Role
    reason: Text = ""


class Note(Body):
    note: Text = ""


class GrantOut(BaseModel):
    grant_id: int
    username: str
    role: str
    status: str
    requested_by: str
    requested_at: datetime
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None

    @classmethod
    def of(cls, g: RoleGrant) -> GrantOut:
        return cls(
            grant_id=g.grant_id,
            username=g.username,
            role=g.role.value,
            status=g.status,
            requested_by=g.requested_by,
            requested_at=g.requested_at,
            reason=g.reason,
            decided_by=g.decided_by,
            decided_at=g.decided_at,
            decision_note=g.decision_note,
        )


class NewTraining(Body):
    username: str = Field(min_length=1, max_length=64)
    course: str = Field(min_length=1, max_length=200)
    completed_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    note: Text = ""


class TrainingOut(BaseModel):
    record_id: int
    username: str
    course: str
    completed_at: datetime
    expires_at: datetime
    recorded_by: str
    recorded_at: datetime
    note: str

    @classmethod
    def of(cls, r: TrainingRecord) -> TrainingOut:
        return cls(
            record_id=r.record_id,
            username=r.username,
            course=r.course,
            completed_at=r.completed_at,
            expires_at=r.expires_at,
            recorded_by=r.recorded_by,
            recorded_at=r.recorded_at,
            note=r.note,
        )


class LapseOut(BaseModel):
    username: str
    display_name: str
    course: str
    expires_at: datetime | None  # None: never trained in this course
    lapsed: bool


class HoldingOut(BaseModel):
    role: str
    granted_at: datetime
    granted_by: str
    approved_by: str | None


class ReviewLineOut(BaseModel):
    user: UserSummary
    roles: list[HoldingOut]
    trained: bool
    training_reason: str | None
    training_expires: datetime | None
    pending: list[GrantOut]


# --- users -------------------------------------------------------------------------------------


@router.get("/users", name="admin.users.list")
def users(caller: AdminOrSupervisor) -> list[UserSummary]:
    with caller.conn.transaction():
        found = list_users(caller.conn)
        caller.log(returned_ids=[u.username for u in found])
    return [UserSummary.of(u) for u in found]


@router.post("/users", name="admin.users.create", status_code=201)
def create_user(caller: Admin, body: NewUser) -> UserSummary:
    with caller.refusals(user=body.username):
        user = accounts.create_user(
            caller.conn,
            caller.actor(),
            username=body.username,
            display_name=body.display_name,
            organisation=body.organisation,
            password=body.password,
            clets_authorised=body.clets_authorised,
            must_change_password=body.must_change_password,
        )
    return UserSummary.of(user)


@router.post("/users/{username}/disable", name="admin.users.disable")
def disable_user(caller: Admin, username: Username, body: Reason) -> UserSummary:
    with caller.refusals(user=username):
        return UserSummary.of(accounts.disable_user(caller.conn, caller.actor(), username, body.reason))


@router.post("/users/{username}/enable", name="admin.users.enable")
def enable_user(caller: Admin, username: Username) -> UserSummary:
    with caller.refusals(user=username):
        return UserSummary.of(accounts.enable_user(caller.conn, caller.actor(), username))


@router.post("/users/{username}/password", name="admin.users.reset_password")
def reset_password(caller: Admin, username: Username, body: NewPassword) -> UserSummary:
    with caller.refusals(user=username):
        return UserSummary.of(accounts.reset_password(caller.conn, caller.actor(), username, body.password))


@router.post("/users/{username}/roles", name="admin.roles.request", status_code=201)
def request_role(caller: Admin, username: Username, body: RoleRequest) -> GrantOut:
    """Admin and auditor take effect at once; roles that reach read data wait for a supervisor."""
    with caller.refusals(user=username, role=body.role.value):
        grant = accounts.request_role(caller.conn, caller.actor(), username, body.role, body.reason)
    return GrantOut.of(grant)


@router.post("/users/{username}/roles/{role}/revoke", name="admin.roles.revoke")
def revoke_role(caller: Admin, username: Username, role: Role, body: Reason) -> UserSummary:
    with caller.refusals(user=username, role=role.value):
        return UserSummary.of(accounts.revoke_role(caller.conn, caller.actor(), username, role, body.reason))


# --- role grants ---------------------------------------------------------------------------------


@router.get("/grants", name="admin.grants.list")
def grants(caller: AdminOrSupervisor) -> list[GrantOut]:
    """Grants awaiting a supervisor's approval."""
    with caller.conn.transaction():
        pending = accounts.pending_grants(caller.conn)
        caller.log(returned_ids=[str(g.grant_id) for g in pending])
    return [GrantOut.of(g) for g in pending]


@router.post("/grants/{grant_id}/approve", name="admin.grants.approve")
def approve(caller: Supervisor, grant_id: GrantId, body: Note) -> GrantOut:
    with caller.refusals(grant_id=grant_id):
        return GrantOut.of(
            accounts.approve_grant(caller.conn, caller.settings.access, caller.actor(), grant_id, body.note)
        )


@router.post("/grants/{grant_id}/refuse", name="admin.grants.refuse")
def refuse(caller: AdminOrSupervisor, grant_id: GrantId, body: Note) -> GrantOut:
    """A supervisor refuses, or an admin withdraws, a pending grant."""
    with caller.refusals(grant_id=grant_id):
        return GrantOut.of(
            accounts.refuse_grant(caller.conn, caller.settings.access, caller.actor(), grant_id, body.note)
        )


# --- training ----------------------------------------------------------------------------------


@router.get("/training", name="admin.training.list")
def training_list(
    caller: AdminOrSupervisor,
    user: Annotated[str | None, Query(min_length=1, max_length=64, description="One user's records")] = None,
) -> list[TrainingOut]:
    with caller.refusals(user=user), caller.conn.transaction():
        records = training.training_records(caller.conn, user)
        caller.log(terms={"user": user} if user else {}, returned_ids=[str(r.record_id) for r in records])
    return [TrainingOut.of(r) for r in records]


@router.post("/training", name="admin.training.record", status_code=201)
def record_training(caller: Supervisor, body: NewTraining) -> TrainingOut:
    with caller.refusals(user=body.username, course=body.course):
        record = training.record_training(
            caller.conn,
            caller.settings.access,
            caller.actor(),
            body.username,
            body.course,
            body.completed_at,
            body.expires_at,
            body.note,
        )
    return TrainingOut.of(record)


@router.get("/training/lapsing", name="admin.training.lapsing")
def lapsing(
    caller: AdminOrSupervisor,
    days: Annotated[
        int | None, Query(ge=0, le=3660, description="Horizon (default access.training_warn_days)")
    ] = None,
) -> list[LapseOut]:
    """Enabled users whose training lapses within `days`, has lapsed, or never was recorded."""
    now = datetime.now().astimezone()
    with caller.conn.transaction():
        found = training.lapsing(caller.conn, caller.settings.access, days, now)
        caller.log(
            terms={"days": days if days is not None else caller.settings.access.training_warn_days},
            returned_ids=sorted({lapse.username for lapse in found}),
            returned_count=len(found),
        )
    return [
        LapseOut(
            username=lapse.username,
            display_name=lapse.display_name,
            course=lapse.course,
            expires_at=lapse.expires_at,
            lapsed=lapse.lapsed(now),
        )
        for lapse in found
    ]


# --- access review -----------------------------------------------------------------------------


@router.get("/review", name="admin.review")
def review(caller: Reviewer) -> list[ReviewLineOut]:
    """Who holds what, on whose say-so, and whether their training is current (logged as access.review)."""
    with caller.refusals():
        lines = accounts.access_review(caller.conn, caller.settings.access, caller.actor())
    return [
        ReviewLineOut(
            user=UserSummary.of(line.user),
            roles=[HoldingOut(role=h.role.value, granted_at=h.granted_at, granted_by=h.granted_by,
                              approved_by=h.approved_by) for h in line.holdings],
            trained=line.training.trained,
            training_reason=line.training.reason,
            training_expires=line.training.expires_at,
            pending=[GrantOut.of(g) for g in line.pending],
        )
        for line in lines
    ]  # fmt: skip
