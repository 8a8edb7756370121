"""/api/v1/auth: log in and out, who am I, the TOTP second factor, changing one's password.

Login is the one public route here. A browser gets its session as an httpOnly, SameSite=Strict
cookie and a CSRF token in the body (for the `X-CSRF-Token` header); a program (`client: "cli"`)
gets a short-lived bearer token instead. Every attempt is logged by `policy.sessions.login`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from platewatch.engine.config import Settings
from platewatch.engine.policy import accounts, mfa, sessions
from platewatch.engine.policy.directory import User
from platewatch.engine.policy.sessions import LoginRefused
from platewatch.engine.policy.training import TrainingStatus, training_status

from .deps import CurrentUser, Db, settings_of
from .errors import ApiError
from .security import SESSION_COOKIE, client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Body):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(None, max_length=16, description="The authenticator app's current code")
    recovery_code: str | None = Field(None, max_length=64, description="A single-use recovery code")
    client: Literal["browser", "cli"] = "browser"


class Training(BaseModel):
    current: bool
    reason: str | None
    expires: datetime | None


class UserOut(BaseModel):
    username: str
    display_name: str
    organisation: str
    roles: list[str]
    clets_authorised: bool
    training: Training
    mfa_enrolled: bool
    must_enrol_mfa: bool  # the roles need a second factor that is not set up: enrol, then log in again
    must_change_password: bool


class LoginResponse(BaseModel):
    token: str | None = Field(None, description="Bearer token (client 'cli' only)")
    csrf_token: str | None = Field(None, description="For the X-CSRF-Token header (client 'browser' only)")
    expires_at: datetime
    user: UserOut


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class MfaConfirm(Body):
    code: str = Field(min_length=1, max_length=16)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class PasswordChange(Body):
    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


class Done(BaseModel):
    ok: bool = True


def user_out(user: User, status: TrainingStatus, settings: Settings) -> UserOut:
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        organisation=user.organisation,
        roles=sorted(r.value for r in user.roles),
        clets_authorised=user.clets_authorised,
        training=Training(current=status.trained, reason=status.reason, expires=status.expires_at),
        mfa_enrolled=user.mfa_enrolled,
        must_enrol_mfa=settings.access.mfa_required and user.reaches_read_data and not user.mfa_enrolled,
        must_change_password=user.must_change_password,
    )


def _totp_key(request: Request) -> bytes:
    key: bytes | None = request.app.state.totp_key
    if key is None:
        s = settings_of(request)
        key = request.app.state.totp_key = mfa.totp_key(
            s.access.totp_secret_key, mfa.totp_key_file(s.data_dir)
        )
    return key


@router.post(
    "/login",
    name="auth.login",
    responses={401: {"description": "Refused (code: bad_credentials, locked, disabled, "
                     "second_factor_required, second_factor_invalid)"}, 429: {"description": "rate_limited"}},
)  # fmt: skip
def login(body: LoginRequest, request: Request, response: Response, db: Db) -> LoginResponse:
    settings = settings_of(request)
    kind: sessions.SessionKind = "browser" if body.client == "browser" else "bearer"
    try:
        issued = sessions.login(
            db,
            settings.access,
            _totp_key(request),
            username=body.username,
            password=body.password,
            totp=body.totp or None,
            recovery_code=body.recovery_code or None,
            address=client_address(request),
            kind=kind,
            limiter=request.app.state.login_limiter,
        )
    except LoginRefused as exc:
        if exc.code == "rate_limited":
            wait = str(max(1, round(exc.retry_after_s or 1)))
            raise ApiError(429, exc.code, str(exc), headers={"Retry-After": wait}) from None
        raise ApiError(401, exc.code, str(exc)) from None
    if kind == "browser":
        response.set_cookie(
            SESSION_COOKIE,
            issued.token,
            expires=issued.session.expires_at.astimezone(UTC),
            path="/",
            secure=settings.api.cookie_secure,
            httponly=True,
            samesite="strict",
        )
    return LoginResponse(
        token=issued.token if kind == "bearer" else None,
        csrf_token=issued.csrf_token,
        expires_at=issued.session.expires_at,
        user=user_out(issued.user, training_status(db, settings.access, issued.user.user_id), settings),
    )


@router.post("/logout", name="auth.logout")
def logout(caller: CurrentUser, response: Response) -> Done:
    sessions.logout(caller.conn, caller.token, caller.address)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=caller.settings.api.cookie_secure, httponly=True, samesite="strict"
    )
    return Done()


@router.get("/me", name="auth.me")
def me(caller: CurrentUser) -> UserOut:
    status = training_status(caller.conn, caller.settings.access, caller.user.user_id)
    return user_out(caller.user, status, caller.settings)


@router.post("/mfa/enrol", name="auth.mfa_enrol")
def mfa_enrol(caller: CurrentUser, request: Request) -> MfaEnrolment:
    with caller.refusals():
        enrolment = mfa.begin_enrolment(caller.conn, _totp_key(request), caller.actor())
    return MfaEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.provisioning_uri)


@router.post("/mfa/confirm", name="auth.mfa_confirm")
def mfa_confirm(caller: CurrentUser, body: MfaConfirm, request: Request) -> RecoveryCodes:
    with caller.refusals():
        codes = mfa.confirm_enrolment(caller.conn, _totp_key(request), caller.actor(), body.code)
    return RecoveryCodes(recovery_codes=list(codes))


@router.post("/password", name="auth.password")
def change_password(caller: CurrentUser, body: PasswordChange) -> Done:
    with caller.refusals(user=caller.user.username):
        accounts.change_password(caller.conn, caller.actor(), body.current, body.new)
    return Done()
