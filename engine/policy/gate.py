"""The one check every protected route makes: who (session), may they (role, second factor, training).

The API turns this into FastAPI dependencies; the CLI's operator commands do not come through here
(they act as the server operator). `AccessRefused.status` is 401 when there is no usable session
and 403 when there is one but it may not do this, so "log in" and "you may not" stay distinct.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import psycopg

from platewatch.engine.config.access import AccessConfig

from .directory import Actor, User, get_user_by_id
from .errors import PolicyError
from .roles import READ_DATA_ROLES, Role
from .sessions import Session, SessionInvalid, authenticate
from .training import TrainingStatus, training_status


class AccessRefused(PolicyError):
    def __init__(self, status: Literal[401, 403], code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Authorised:
    session: Session
    user: User
    training: TrainingStatus | None  # None when the route does not need training

    def actor(self, address: str | None = None) -> Actor:
        return self.user.as_actor(address if address is not None else self.session.client_address)


def authorise(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    token: str | None,
    *,
    roles: Iterable[Role] = (),
    trained: bool = True,
    now: datetime | None = None,
) -> Authorised:
    """Check a request's token against what the route needs.

    `roles`: any one of them suffices (empty: any logged-in user, e.g. "me", the MFA enrolment
    and password change routes, which set `trained=False` so an untrained user can learn why they
    are refused). An account holding a role that reaches read data needs the second factor in this
    session when `access.mfa_required`, whatever the route, and a pending forced password change
    blocks everything but the routes without roles.
    """
    at = now or datetime.now(UTC)
    if not token:
        raise AccessRefused(401, "no_session", "log in first")
    try:
        session = authenticate(conn, cfg, token, at)
    except SessionInvalid as exc:
        raise AccessRefused(401, exc.code, str(exc)) from None
    user = get_user_by_id(conn, session.user_id)
    wanted = frozenset(roles)
    if not wanted:
        return Authorised(session, user, training_status(conn, cfg, user.user_id, at) if trained else None)
    if user.must_change_password:
        raise AccessRefused(403, "change_password", "change your password before going on")
    held = user.roles & wanted
    if not held:
        names = " or ".join(sorted(r.value for r in wanted))
        raise AccessRefused(403, "role", f"this needs the {names} role, which {user.username} does not hold")
    if cfg.mfa_required and user.roles & READ_DATA_ROLES and session.second_factor == "none":
        raise AccessRefused(
            403,
            "second_factor",
            "reaching ALPR data needs a second factor: enrol TOTP, then log in again with a code",
        )
    status = training_status(conn, cfg, user.user_id, at) if trained else None
    if status is not None and not status.trained:
        assert status.reason is not None
        raise AccessRefused(403, "training", status.reason)
    return Authorised(session, user, status)
