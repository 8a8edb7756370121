"""Account changes (policy 462.2(d)(e), 462.4(a)): every one is checked, made and logged in one transaction.

Admins create, disable, enable and reset accounts and ask for roles. A role that reaches read data
(supervisor, dispatcher, investigator) becomes effective only when a supervisor with current
training, who is neither the one who asked nor the one who gets it, approves: no admin can make
themselves or a friend an investigator alone. Admin and auditor see no read data, so an admin grants
them at once. Taking a role away needs nobody's approval. Because the change and its access-log row
share a transaction, a change whose row cannot be written does not happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from platewatch.engine.config.access import AccessConfig

from . import access_log
from .directory import (
    Actor,
    User,
    acting_user,
    check_username,
    find_user,
    get_user,
    get_user_by_id,
    list_users,
    require_admin,
)
from .errors import NotFound, NotPermitted, PolicyError
from .mfa import clear_second_factor
from .passwords import DEFAULT_RULES, Rule, check_password, hash_password, verify_password
from .roles import READ_DATA_ROLES, Role, parse_role
from .training import TrainingStatus, require_trained_supervisor, training_status

_GRANT_SQL = """
    SELECT g.grant_id, u.username, g.role, g.status, g.requested_by, g.requested_at, g.reason,
           g.decided_by, g.decided_at, g.decision_note
    FROM role_grants g JOIN users u USING (user_id)
"""


@dataclass(frozen=True)
class RoleGrant:
    grant_id: int
    username: str
    role: Role
    status: str  # pending, approved, refused
    requested_by: str
    requested_at: datetime
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


@dataclass(frozen=True)
class RoleHolding:
    role: Role
    granted_at: datetime
    granted_by: str  # who asked (or granted, for admin and auditor)
    approved_by: str | None  # the supervisor who approved, for roles that reach read data


@dataclass(frozen=True)
class ReviewLine:
    """One account in the access review: who holds what, on whose say-so, and whether they may use it."""

    user: User
    holdings: tuple[RoleHolding, ...]
    training: TrainingStatus
    pending: tuple[RoleGrant, ...]


def _grant(row: Sequence[Any]) -> RoleGrant:
    return RoleGrant(
        grant_id=row[0],
        username=row[1],
        role=Role(row[2]),
        status=row[3],
        requested_by=row[4],
        requested_at=row[5],
        reason=row[6],
        decided_by=row[7],
        decided_at=row[8],
        decision_note=row[9],
    )


def _log(conn: psycopg.Connection, actor: Actor, action: str, **terms: Any) -> None:
    access_log.append(conn, access_log.LogEntry.by(actor, action, terms=terms))


@contextmanager
def _admin_change(
    conn: psycopg.Connection, actor: Actor, username: str
) -> Iterator[tuple[User | None, User]]:
    """One transaction in which an admin (None: the operator) changes one existing account."""
    with conn.transaction():
        admin = require_admin(conn, actor)
        yield admin, get_user(conn, username)


def _text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= 200:
        raise PolicyError(f"{what} must be 1 to 200 characters")
    return cleaned


def create_user(
    conn: psycopg.Connection,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    organisation: str,
    password: str,
    clets_authorised: bool = False,
    must_change_password: bool = True,
    rules: Iterable[Rule] = DEFAULT_RULES,
) -> User:
    """A new account with no roles; it must change the password an admin chose at first login."""
    name = check_username(username)
    display, org = _text(display_name, "the display name"), _text(organisation, "the organisation")
    check_password(password, name, rules)
    hashed = hash_password(password)
    with conn.transaction():
        require_admin(conn, actor)
        if find_user(conn, name) is not None:
            raise PolicyError(f"a user named {name!r} already exists")
        row = conn.execute(
            "INSERT INTO users (username, display_name, organisation, password_hash, clets_authorised,"
            " must_change_password, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING user_id",
            (name, display, org, hashed, clets_authorised, must_change_password, actor.username),
        ).fetchone()
        assert row is not None
        _log(
            conn,
            actor,
            "user.create",
            user=name,
            display_name=display,
            organisation=org,
            clets_authorised=clets_authorised,
        )
        return get_user_by_id(conn, row[0])


def _revoke_sessions(conn: psycopg.Connection, user_id: int, reason: str) -> None:
    conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = %s"
        " WHERE user_id = %s AND revoked_at IS NULL",
        (reason, user_id),
    )


def disable_user(conn: psycopg.Connection, actor: Actor, username: str, reason: str) -> User:
    """Disable the account and end its sessions; its history (and log rows) stay."""
    why = _text(reason, "the reason")
    with _admin_change(conn, actor, username) as (admin, user):
        if admin is not None and admin.user_id == user.user_id:
            raise NotPermitted("admins cannot disable their own account; ask another admin")
        conn.execute(
            "UPDATE users SET disabled_at = now(), disabled_reason = %s WHERE user_id = %s",
            (why, user.user_id),
        )
        _revoke_sessions(conn, user.user_id, "account disabled")
        _log(conn, actor, "user.disable", user=user.username, reason=why)
        return get_user_by_id(conn, user.user_id)


def enable_user(conn: psycopg.Connection, actor: Actor, username: str) -> User:
    """Enable a disabled or locked-out account (and clear its failed-login count)."""
    with _admin_change(conn, actor, username) as (_admin, user):
        conn.execute(
            "UPDATE users SET disabled_at = NULL, disabled_reason = NULL, failed_logins = 0,"
            " locked_until = NULL, enabled_at = now() WHERE user_id = %s",
            (user.user_id,),
        )
        _log(conn, actor, "user.enable", user=user.username, was_disabled=user.disabled)
        return get_user_by_id(conn, user.user_id)


def reset_password(
    conn: psycopg.Connection,
    actor: Actor,
    username: str,
    new_password: str,
    rules: Iterable[Rule] = DEFAULT_RULES,
) -> User:
    """An admin sets a temporary password: sessions end, the lockout clears, the user must change it."""
    name = check_username(username)
    check_password(new_password, name, rules)
    hashed = hash_password(new_password)
    with _admin_change(conn, actor, name) as (_admin, user):
        conn.execute(
            "UPDATE users SET password_hash = %s, must_change_password = true, failed_logins = 0,"
            " locked_until = NULL WHERE user_id = %s",
            (hashed, user.user_id),
        )
        _revoke_sessions(conn, user.user_id, "password reset")
        _log(conn, actor, "user.password_reset", user=user.username)
        return get_user_by_id(conn, user.user_id)


def change_password(
    conn: psycopg.Connection,
    actor: Actor,
    old_password: str,
    new_password: str,
    rules: Iterable[Rule] = DEFAULT_RULES,
) -> User:
    """The acting user changes their own password (their other sessions end)."""
    user = acting_user(conn, actor)
    if user is None:
        raise NotPermitted("the server operator has no password here; an admin resets users' passwords")
    row = conn.execute("SELECT password_hash FROM users WHERE user_id = %s", (user.user_id,)).fetchone()
    assert row is not None
    if not verify_password(row[0], old_password):
        raise NotPermitted("the current password is not right")
    if new_password == old_password:
        raise PolicyError("the new password must differ from the current one")
    check_password(new_password, user.username, rules)
    hashed = hash_password(new_password)
    with conn.transaction():
        conn.execute(
            "UPDATE users SET password_hash = %s, must_change_password = false WHERE user_id = %s",
            (hashed, user.user_id),
        )
        _log(conn, actor, "user.password_change", user=user.username)
        return get_user_by_id(conn, user.user_id)


def set_clets_authorised(conn: psycopg.Connection, actor: Actor, username: str, authorised: bool) -> User:
    """Mark whether the user may see entries from state and federal feeds (policy 462.2(e))."""
    with _admin_change(conn, actor, username) as (_admin, user):
        conn.execute("UPDATE users SET clets_authorised = %s WHERE user_id = %s", (authorised, user.user_id))
        _log(conn, actor, "user.clets", user=user.username, clets_authorised=authorised)
        return get_user_by_id(conn, user.user_id)


def reset_second_factor(conn: psycopg.Connection, actor: Actor, username: str) -> User:
    """Forget a user's TOTP secret and recovery codes (a lost phone); they enrol again at next login."""
    with _admin_change(conn, actor, username) as (_admin, user):
        clear_second_factor(conn, user.user_id)
        _revoke_sessions(conn, user.user_id, "second factor reset")
        _log(conn, actor, "mfa.reset", user=user.username)
        return get_user_by_id(conn, user.user_id)


def request_role(
    conn: psycopg.Connection, actor: Actor, username: str, role: Role | str, reason: str = ""
) -> RoleGrant:
    """Ask for a role: admin and auditor are granted at once, the others wait for a supervisor's approval."""
    wanted = role if isinstance(role, Role) else parse_role(role)
    with _admin_change(conn, actor, username) as (_admin, user):
        if user.disabled:
            raise PolicyError(f"{user.username}'s account is disabled; enable it first")
        if wanted in user.roles:
            raise PolicyError(f"{user.username} already holds the {wanted} role")
        pending = conn.execute(
            "SELECT grant_id FROM role_grants WHERE user_id = %s AND role = %s AND status = 'pending'",
            (user.user_id, wanted.value),
        ).fetchone()
        if pending is not None:
            raise PolicyError(
                f"a grant of {wanted} to {user.username} already awaits approval (#{pending[0]})"
            )
        immediate = wanted not in READ_DATA_ROLES
        row = conn.execute(
            "INSERT INTO role_grants (user_id, role, requested_by, requested_by_id, reason, status,"
            " decided_by, decided_by_id, decided_at, decision_note)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s) RETURNING grant_id",
            (
                user.user_id,
                wanted.value,
                actor.username,
                actor.user_id,
                reason,
                "approved" if immediate else "pending",
                actor.username if immediate else None,
                actor.user_id if immediate else None,
                immediate,
                "no read data: no approval needed" if immediate else None,
            ),
        ).fetchone()
        assert row is not None
        if immediate:
            conn.execute(
                "INSERT INTO user_roles (user_id, role, granted_by, grant_id) VALUES (%s, %s, %s, %s)",
                (user.user_id, wanted.value, actor.username, row[0]),
            )
        _log(
            conn,
            actor,
            "role.grant" if immediate else "role.request",
            user=user.username,
            role=wanted.value,
            grant_id=row[0],
            reason=reason,
        )
        return get_grant(conn, row[0])


def get_grant(conn: psycopg.Connection, grant_id: int) -> RoleGrant:
    row = conn.execute(_GRANT_SQL + " WHERE g.grant_id = %s", (grant_id,)).fetchone()
    if row is None:
        raise NotFound(f"there is no role grant #{grant_id}")
    return _grant(row)


def pending_grants(conn: psycopg.Connection) -> list[RoleGrant]:
    rows = conn.execute(_GRANT_SQL + " WHERE g.status = 'pending' ORDER BY g.requested_at").fetchall()
    return [_grant(r) for r in rows]


def _pending_for_decision(conn: psycopg.Connection, grant_id: int) -> tuple[RoleGrant, int, int | None]:
    row = conn.execute(
        "SELECT user_id, requested_by_id FROM role_grants WHERE grant_id = %s FOR UPDATE", (grant_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"there is no role grant #{grant_id}")
    grant = get_grant(conn, grant_id)
    if grant.status != "pending":
        raise PolicyError(f"role grant #{grant_id} was already {grant.status} by {grant.decided_by}")
    return grant, row[0], row[1]


def approve_grant(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    actor: Actor,
    grant_id: int,
    note: str = "",
    now: datetime | None = None,
) -> RoleGrant:
    """A trained supervisor, other than the requester and the grantee, makes a pending grant effective."""
    with conn.transaction():
        supervisor = require_trained_supervisor(conn, cfg, actor, now)
        grant, grantee_id, requester_id = _pending_for_decision(conn, grant_id)
        if supervisor is not None:
            if supervisor.user_id == requester_id:
                raise NotPermitted(
                    f"{supervisor.username} asked for this grant, so another supervisor must approve it"
                )
            if supervisor.user_id == grantee_id:
                raise NotPermitted("nobody approves a role for themselves; another supervisor must")
        if get_user_by_id(conn, grantee_id).disabled:
            raise PolicyError(f"{grant.username}'s account is disabled; enable it before approving")
        conn.execute(
            "UPDATE role_grants SET status = 'approved', decided_by = %s, decided_by_id = %s,"
            " decided_at = now(), decision_note = %s WHERE grant_id = %s",
            (actor.username, actor.user_id, note, grant_id),
        )
        conn.execute(
            "INSERT INTO user_roles (user_id, role, granted_by, approved_by, grant_id)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (grantee_id, grant.role.value, grant.requested_by, actor.username, grant_id),
        )
        _log(
            conn,
            actor,
            "role.approve",
            user=grant.username,
            role=grant.role.value,
            grant_id=grant_id,
            requested_by=grant.requested_by,
            bootstrap=supervisor is None,
            note=note,
        )
        return get_grant(conn, grant_id)


def refuse_grant(
    conn: psycopg.Connection, cfg: AccessConfig, actor: Actor, grant_id: int, note: str
) -> RoleGrant:
    """A supervisor refuses, or an admin withdraws, a pending grant."""
    why = _text(note, "the reason")
    with conn.transaction():
        user = acting_user(conn, actor)
        if user is not None and not user.roles & {Role.ADMIN, Role.SUPERVISOR}:
            raise NotPermitted(
                f"only a supervisor or an admin may refuse a grant, and {user.username} is neither"
            )
        grant, _grantee, _requester = _pending_for_decision(conn, grant_id)
        conn.execute(
            "UPDATE role_grants SET status = 'refused', decided_by = %s, decided_by_id = %s,"
            " decided_at = now(), decision_note = %s WHERE grant_id = %s",
            (actor.username, actor.user_id, why, grant_id),
        )
        _log(
            conn,
            actor,
            "role.refuse",
            user=grant.username,
            role=grant.role.value,
            grant_id=grant_id,
            note=why,
        )
        return get_grant(conn, grant_id)


def revoke_role(conn: psycopg.Connection, actor: Actor, username: str, role: Role | str, reason: str) -> User:
    """Take a role away at once (no approval: less access is always allowed)."""
    gone = role if isinstance(role, Role) else parse_role(role)
    why = _text(reason, "the reason")
    with _admin_change(conn, actor, username) as (_admin, user):
        deleted = conn.execute(
            "DELETE FROM user_roles WHERE user_id = %s AND role = %s", (user.user_id, gone.value)
        ).rowcount
        if not deleted:
            raise PolicyError(f"{user.username} does not hold the {gone} role")
        _log(conn, actor, "role.revoke", user=user.username, role=gone.value, reason=why)
        return get_user_by_id(conn, user.user_id)


def disable_unused(
    conn: psycopg.Connection, cfg: AccessConfig, actor: Actor, now: datetime | None = None
) -> list[str]:
    """Disable accounts unused for `disable_unused_days` (since last login, creation or re-enabling)."""
    if cfg.disable_unused_days == 0:
        return []
    at = now or datetime.now(UTC)
    cutoff = at - timedelta(days=cfg.disable_unused_days)
    reason = f"unused for {cfg.disable_unused_days} days"
    with conn.transaction():
        require_admin(conn, actor)
        rows = conn.execute(
            "UPDATE users SET disabled_at = %s, disabled_reason = %s"
            " WHERE disabled_at IS NULL"
            " AND greatest(last_login_at, created_at, enabled_at) < %s"
            " RETURNING user_id, username",
            (at, reason, cutoff),
        ).fetchall()
        for user_id, name in rows:
            _revoke_sessions(conn, user_id, "account disabled")
            _log(conn, actor, "user.disable", user=name, reason=reason)
    return sorted(name for _uid, name in rows)


def access_review(
    conn: psycopg.Connection, cfg: AccessConfig, actor: Actor, now: datetime | None = None
) -> list[ReviewLine]:
    """Who holds what, granted and approved by whom, and whether their training is current (logged)."""
    at = now or datetime.now(UTC)
    with conn.transaction():
        user = acting_user(conn, actor)
        if user is not None and not user.roles & {Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR}:
            raise NotPermitted("the access review is for admins, supervisors and auditors")
        holdings: dict[int, list[RoleHolding]] = {}
        for uid, role, granted_at, granted_by, approved_by in conn.execute(
            "SELECT user_id, role, granted_at, granted_by, approved_by FROM user_roles ORDER BY role"
        ).fetchall():
            holdings.setdefault(uid, []).append(RoleHolding(Role(role), granted_at, granted_by, approved_by))
        pending: dict[str, list[RoleGrant]] = {}
        for grant in pending_grants(conn):
            pending.setdefault(grant.username, []).append(grant)
        lines = [
            ReviewLine(
                user=u,
                holdings=tuple(holdings.get(u.user_id, ())),
                training=training_status(conn, cfg, u.user_id, at),
                pending=tuple(pending.get(u.username, ())),
            )
            for u in list_users(conn)
        ]
        access_log.append(conn, access_log.LogEntry.by(actor, "access.review", returned_count=len(lines)))
    return lines
