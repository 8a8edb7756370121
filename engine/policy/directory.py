"""Who is who: users as stored, the person acting, and the admin check every account change makes.

Kept apart from `accounts` so that `training`, `mfa` and `sessions` can look users up without
importing the account-changing code (and so without an import cycle).
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from .errors import NotFound, NotPermitted, PolicyError
from .roles import READ_DATA_ROLES, Role

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

_USER_SQL = """
    SELECT u.user_id, u.username, u.display_name, u.organisation, u.clets_authorised,
           u.created_at, u.created_by, u.disabled_at, u.disabled_reason, u.last_login_at,
           u.failed_logins, u.locked_until, u.totp_enrolled_at, u.must_change_password,
           coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r
                     WHERE r.user_id = u.user_id), '{}')
    FROM users u
"""


@dataclass(frozen=True)
class User:
    """An account as it is now. The password hash and TOTP secret never leave the database layer."""

    user_id: int
    username: str
    display_name: str
    organisation: str
    roles: frozenset[Role]
    clets_authorised: bool
    created_at: datetime
    created_by: str
    disabled_at: datetime | None
    disabled_reason: str | None
    last_login_at: datetime | None
    failed_logins: int
    locked_until: datetime | None
    mfa_enrolled: bool
    must_change_password: bool

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def reaches_read_data(self) -> bool:
        return bool(self.roles & READ_DATA_ROLES)

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def as_actor(self, address: str | None = None) -> Actor:
        return Actor(
            username=self.username,
            organisation=self.organisation,
            user_id=self.user_id,
            address=address,
        )


@dataclass(frozen=True)
class Actor:
    """Who is doing something, as the access log names them.

    A logged-in user has a `user_id`; the server operator at the console (`platewatch user …`,
    `platewatch training …`) has none and is named `os:<login>`. The operator may do what an admin
    does, and what a supervisor does only while no trained supervisor exists (the first one has to
    come from somewhere); every such act is logged as the operator's.
    """

    username: str
    organisation: str
    user_id: int | None = None
    address: str | None = None

    @property
    def operator(self) -> bool:
        return self.user_id is None

    @classmethod
    def console(cls, os_user: str | None = None, organisation: str = "server operator") -> Actor:
        return cls(
            username=f"os:{os_user or getpass.getuser()}", organisation=organisation, address="console"
        )


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise PolicyError(
            f"{username!r} is not a valid username: 2-64 of a-z 0-9 . _ - , starting with a letter or digit"
        )
    return name


def _user(row: tuple[Any, ...]) -> User:
    return User(
        user_id=row[0],
        username=row[1],
        display_name=row[2],
        organisation=row[3],
        clets_authorised=row[4],
        created_at=row[5],
        created_by=row[6],
        disabled_at=row[7],
        disabled_reason=row[8],
        last_login_at=row[9],
        failed_logins=row[10],
        locked_until=row[11],
        mfa_enrolled=row[12] is not None,
        must_change_password=row[13],
        roles=frozenset(Role(r) for r in row[14]),
    )


def find_user(conn: psycopg.Connection, username: str) -> User | None:
    row = conn.execute(_USER_SQL + " WHERE u.username = %s", (username.strip().lower(),)).fetchone()
    return _user(row) if row else None


def get_user(conn: psycopg.Connection, username: str) -> User:
    user = find_user(conn, username)
    if user is None:
        raise NotFound(f"there is no user named {username.strip().lower()!r}")
    return user


def get_user_by_id(conn: psycopg.Connection, user_id: int) -> User:
    row = conn.execute(_USER_SQL + " WHERE u.user_id = %s", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"there is no user with id {user_id}")
    return _user(row)


def list_users(conn: psycopg.Connection, *, include_disabled: bool = True) -> list[User]:
    where = "" if include_disabled else " WHERE u.disabled_at IS NULL"
    return [_user(r) for r in conn.execute(_USER_SQL + where + " ORDER BY u.username").fetchall()]


def acting_user(conn: psycopg.Connection, actor: Actor) -> User | None:
    """The actor's account as stored now (its roles may have changed since login); None for the operator."""
    if actor.operator:
        return None
    assert actor.user_id is not None
    user = get_user_by_id(conn, actor.user_id)
    if user.disabled:
        raise NotPermitted(f"{user.username}'s account is disabled")
    return user


def require_admin(conn: psycopg.Connection, actor: Actor) -> User | None:
    user = acting_user(conn, actor)
    if user is not None and Role.ADMIN not in user.roles:
        raise NotPermitted(f"only an admin may do this, and {user.username} is not one")
    return user
