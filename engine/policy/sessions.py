"""Login and sessions (policy 462.4(a)): who is asking, proven by password and, where required, TOTP.

Tokens are 256 random bits handed to the client once; the database keeps only their SHA-256, so a
copy of the sessions table logs nobody in. A session ends when it is revoked (logout, the account
disabled or its password reset), when it has not been used for `session_idle_minutes`, or at its
absolute expiry: `session_max_hours` for a browser, `bearer_max_minutes` for an API client. Browser
sessions also get a CSRF token (the API checks it on state-changing requests; the cookie itself is
the API's business).

Every login attempt writes an access-log row, allowed or refused with the reason, and a lockout
writes its own row. A refusal's row is committed before the refusal is raised, so a failed login
is on record even though the caller sees an exception.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from platewatch.engine.config.access import AccessConfig

from . import access_log
from .directory import User, check_username, find_user, get_user_by_id
from .errors import PolicyError
from .mfa import check_totp, use_recovery_code
from .passwords import burn_verification, hash_password, needs_rehash, verify_password
from .ratelimit import LoginRateLimiter

SessionKind = Literal["browser", "bearer"]
SecondFactor = Literal["none", "totp", "recovery_code"]
_TOKEN_PREFIX = "pw_"
_TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often per session
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
_SESSION_SQL = """
    SELECT s.session_id, s.user_id, u.username, s.kind, s.second_factor, s.client_address,
           s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.revoked_reason, s.csrf_hash
    FROM sessions s JOIN users u USING (user_id)
"""


class LoginRefused(PolicyError):
    """A login that did not succeed. `code` is for programs, the message for the person."""

    def __init__(self, code: str, message: str, retry_after_s: float | None = None) -> None:
        self.code = code
        self.retry_after_s = retry_after_s
        super().__init__(message)


class SessionInvalid(PolicyError):
    """No usable session: unknown, revoked, idle too long, expired, or its account disabled."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Session:
    session_id: int
    user_id: int
    username: str
    kind: SessionKind
    second_factor: SecondFactor
    client_address: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    csrf_hash: bytes | None


@dataclass(frozen=True)
class IssuedSession:
    """A successful login. `token` (and `csrf_token`) exist only here: hand them to the client once."""

    token: str
    csrf_token: str | None
    session: Session
    user: User
    must_enrol_mfa: bool  # the user's roles need a second factor they have not set up yet
    must_change_password: bool


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _session(row: Any) -> Session:
    return Session(
        session_id=row[0],
        user_id=row[1],
        username=row[2],
        kind=row[3],
        second_factor=row[4],
        client_address=row[5],
        created_at=row[6],
        last_seen_at=row[7],
        expires_at=row[8],
        revoked_at=row[9],
        revoked_reason=row[10],
        csrf_hash=bytes(row[11]) if row[11] is not None else None,
    )


def _log_login(
    conn: psycopg.Connection,
    user: User | None,
    username: str,
    address: str | None,
    kind: SessionKind,
    *,
    action: str = "login",
    reason: str | None = None,
    **terms: Any,
) -> None:
    access_log.append(
        conn,
        access_log.LogEntry(
            action=action,
            username=user.username if user else username,
            organisation=user.organisation if user else "(unknown user)",
            user_id=user.user_id if user else None,
            client_address=address,
            outcome="refused" if reason else "allowed",
            reason=reason,
            terms={"kind": kind, **terms},
        ),
    )


def _failed(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    user: User,
    address: str | None,
    kind: SessionKind,
    at: datetime,
) -> str:
    """Count a failure; lock the account (and log the lockout) at the limit. Returns the refusal's reason."""
    row = conn.execute(
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE user_id = %s RETURNING failed_logins",
        (user.user_id,),
    ).fetchone()
    assert row is not None
    if row[0] < cfg.lockout_after:
        return "wrong password or code"
    until = at + timedelta(minutes=cfg.lockout_minutes) if cfg.lockout_minutes else _FOREVER
    conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = %s WHERE user_id = %s", (until, user.user_id)
    )
    _log_login(
        conn,
        user,
        user.username,
        address,
        kind,
        action="login.lockout",
        reason=f"locked after {row[0]} failed logins in a row",
        locked_until=until,
    )
    return "wrong password or code; the account is now locked"


def _locked_message(user: User, cfg: AccessConfig) -> str:
    assert user.locked_until is not None
    if user.locked_until >= _FOREVER:
        return f"this account is locked after {cfg.lockout_after} failed logins; an admin must enable it"
    return (
        f"this account is locked after {cfg.lockout_after} failed logins until "
        f"{user.locked_until.astimezone(UTC):%H:%M} UTC, or until an admin enables it"
    )


def login(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    totp_key: bytes,
    *,
    username: str,
    password: str,
    totp: str | None = None,
    recovery_code: str | None = None,
    address: str | None = None,
    kind: SessionKind = "browser",
    limiter: LoginRateLimiter | None = None,
    now: datetime | None = None,
) -> IssuedSession:
    """Check the rate limits, the password, lockout, disabled and second factor; open a session.

    Raises LoginRefused with `code` one of: rate_limited, bad_credentials, locked, disabled,
    second_factor_required (the password was right: ask for the code and call again with it),
    second_factor_invalid. A user whose roles need a second factor they have not enrolled gets a
    session with `must_enrol_mfa` set, which `gate.authorise` lets reach only enrolment.
    """
    at = now or datetime.now(UTC)
    name = username.strip().lower().replace("\x00", "")[:200]  # it is logged as typed, within reason
    with conn.transaction():
        outcome = _attempt(
            conn, cfg, totp_key, name, password, totp, recovery_code, address, kind, limiter, at
        )
    if isinstance(outcome, LoginRefused):
        raise outcome
    return outcome


def _attempt(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    totp_key: bytes,
    name: str,
    password: str,
    totp: str | None,
    recovery_code: str | None,
    address: str | None,
    kind: SessionKind,
    limiter: LoginRateLimiter | None,
    at: datetime,
) -> IssuedSession | LoginRefused:
    def refuse(code: str, message: str, user: User | None, retry: float | None = None) -> LoginRefused:
        _log_login(conn, user, name[:64] or "(empty)", address, kind, reason=message, code=code)
        return LoginRefused(code, message, retry)

    if limiter is not None:
        wait = limiter.hit(name, address)
        if wait is not None:
            return refuse(
                "rate_limited", f"too many login attempts; try again in {math.ceil(wait)} s", None, wait
            )
    try:
        user = find_user(conn, check_username(name))
    except PolicyError:
        user = None
    if user is None:
        burn_verification()
        return refuse("bad_credentials", "unknown username or wrong password", None)
    if user.locked(at):
        return refuse("locked", _locked_message(user, cfg), user)
    row = conn.execute("SELECT password_hash FROM users WHERE user_id = %s", (user.user_id,)).fetchone()
    assert row is not None
    stored = row[0]
    if not verify_password(stored, password):
        return refuse("bad_credentials", _failed(conn, cfg, user, address, kind, at), user)
    if user.disabled:
        return refuse("disabled", f"this account is disabled ({user.disabled_reason}); ask an admin", user)
    second: SecondFactor = "none"
    if user.mfa_enrolled:
        if totp:
            ok, second = check_totp(conn, totp_key, user.user_id, totp, at), "totp"
        elif recovery_code:
            ok, second = use_recovery_code(conn, user.user_id, recovery_code, at), "recovery_code"
        else:
            return refuse(
                "second_factor_required",
                "password accepted; now enter the code from your authenticator app (or a recovery code)",
                user,
            )
        if not ok:
            reason = _failed(conn, cfg, user, address, kind, at)
            return refuse("second_factor_invalid", reason + " (a code works only once)", user)
    rehash = hash_password(password) if needs_rehash(stored) else None
    conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = %s,"
        " password_hash = coalesce(%s, password_hash) WHERE user_id = %s",
        (at, rehash, user.user_id),
    )
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32) if kind == "browser" else None
    lifetime = (
        timedelta(hours=cfg.session_max_hours)
        if kind == "browser"
        else timedelta(minutes=cfg.bearer_max_minutes)
    )
    created = conn.execute(
        "INSERT INTO sessions (token_hash, csrf_hash, user_id, kind, second_factor, client_address,"
        " created_at, last_seen_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING session_id",
        (
            _digest(token),
            _digest(csrf) if csrf else None,
            user.user_id,
            kind,
            second,
            address,
            at,
            at,
            at + lifetime,
        ),
    ).fetchone()
    assert created is not None
    must_enrol = cfg.mfa_required and user.reaches_read_data and not user.mfa_enrolled
    _log_login(conn, user, user.username, address, kind, session_id=created[0], second_factor=second)
    session_row = conn.execute(_SESSION_SQL + " WHERE s.session_id = %s", (created[0],)).fetchone()
    return IssuedSession(
        token=token,
        csrf_token=csrf,
        session=_session(session_row),
        user=get_user_by_id(conn, user.user_id),
        must_enrol_mfa=must_enrol,
        must_change_password=user.must_change_password,
    )


def authenticate(
    conn: psycopg.Connection, cfg: AccessConfig, token: str, now: datetime | None = None
) -> Session:
    """The live session a token stands for, or SessionInvalid saying why there is none."""
    at = now or datetime.now(UTC)
    row = conn.execute(_SESSION_SQL + " WHERE s.token_hash = %s", (_digest(token),)).fetchone()
    if row is None:
        raise SessionInvalid("unknown", "not logged in: the session is unknown")
    session = _session(row)
    if session.revoked_at is not None:
        raise SessionInvalid("revoked", f"the session has ended ({session.revoked_reason}); log in again")
    if at >= session.expires_at:
        raise SessionInvalid("expired", "the session has expired; log in again")
    idle = timedelta(minutes=cfg.session_idle_minutes)
    if at - session.last_seen_at >= idle:
        _end(conn, session.session_id, "idle")
        raise SessionInvalid(
            "idle", f"the session ended after {cfg.session_idle_minutes:g} minutes without use; log in again"
        )
    disabled = conn.execute("SELECT disabled_at FROM users WHERE user_id = %s", (session.user_id,)).fetchone()
    if disabled is None or disabled[0] is not None:
        raise SessionInvalid("disabled", "the account is disabled")
    if at - session.last_seen_at >= _TOUCH_EVERY:
        conn.execute(
            "UPDATE sessions SET last_seen_at = %s WHERE session_id = %s AND last_seen_at < %s",
            (at, session.session_id, at),
        )
    return session


def _end(conn: psycopg.Connection, session_id: int, reason: str) -> bool:
    row = conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = %s WHERE session_id = %s"
        " AND revoked_at IS NULL RETURNING 1",
        (reason, session_id),
    ).fetchone()
    return row is not None


def logout(conn: psycopg.Connection, token: str, address: str | None = None) -> bool:
    """End the session the token stands for (logged); False if it was not live."""
    row = conn.execute(_SESSION_SQL + " WHERE s.token_hash = %s", (_digest(token),)).fetchone()
    if row is None:
        return False
    session = _session(row)
    with conn.transaction():
        ended = _end(conn, session.session_id, "logout")
        if ended:
            user = get_user_by_id(conn, session.user_id)
            _log_login(
                conn,
                user,
                user.username,
                address,
                session.kind,
                action="logout",
                session_id=session.session_id,
            )
    return ended


def check_csrf(session: Session, csrf_token: str | None) -> bool:
    """Whether a state-changing browser request carries its session's CSRF token (bearer: not needed)."""
    if session.kind == "bearer":
        return True
    if session.csrf_hash is None or not csrf_token:
        return False
    return hmac.compare_digest(_digest(csrf_token), session.csrf_hash)


def live_sessions(conn: psycopg.Connection, user_id: int, now: datetime | None = None) -> list[Session]:
    at = now or datetime.now(UTC)
    rows = conn.execute(
        _SESSION_SQL + " WHERE s.user_id = %s AND s.revoked_at IS NULL AND s.expires_at > %s"
        " ORDER BY s.created_at",
        (user_id, at),
    ).fetchall()
    return [_session(r) for r in rows]
