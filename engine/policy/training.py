"""Training records (policy 462.2(d), 462.7): nobody operates ALPR equipment or reads its data untrained.

A user is trained while every configured course (`access.training_courses`) has a record that is
current: completed, and not yet expired. Only a supervisor with current training records training,
and never their own; while no such supervisor exists the server operator may (the first supervisor's
training has to be recorded by someone), and that is logged as the operator's act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from platewatch.engine.config.access import AccessConfig

from . import access_log
from .directory import Actor, User, acting_user, get_user
from .errors import NotPermitted, PolicyError
from .roles import Role

_RECORD_SQL = """
    SELECT t.record_id, t.user_id, u.username, t.course, t.completed_at, t.expires_at,
           t.recorded_by, t.recorded_at, t.note
    FROM training_records t JOIN users u USING (user_id)
"""


@dataclass(frozen=True)
class TrainingRecord:
    record_id: int
    user_id: int
    username: str
    course: str
    completed_at: datetime
    expires_at: datetime
    recorded_by: str
    recorded_at: datetime
    note: str

    def current(self, now: datetime) -> bool:
        return self.completed_at <= now < self.expires_at


@dataclass(frozen=True)
class TrainingStatus:
    """Whether a user may touch ALPR data, and if not, the sentence that tells them why."""

    trained: bool
    missing: tuple[str, ...]  # required courses without a current record
    expires_at: datetime | None  # when the first required course lapses (None when untrained)
    records: tuple[TrainingRecord, ...]  # the current record of each course that has one

    @property
    def reason(self) -> str | None:
        if self.trained:
            return None
        return (
            "no current ALPR training on record for: "
            + ", ".join(self.missing)
            + " (policy 462.2(d): a supervisor records completed training)"
        )


@dataclass(frozen=True)
class Lapse:
    username: str
    display_name: str
    course: str
    expires_at: datetime | None  # None: never trained in this course

    def lapsed(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at <= now


def _record(row: Sequence[Any]) -> TrainingRecord:
    return TrainingRecord(*row)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def current_training(
    conn: psycopg.Connection, user_id: int, now: datetime | None = None
) -> list[TrainingRecord]:
    """The user's current records, the latest-expiring one per course."""
    at = _now(now)
    rows = conn.execute(
        "SELECT DISTINCT ON (t.course) t.record_id, t.user_id, u.username, t.course, t.completed_at,"
        " t.expires_at, t.recorded_by, t.recorded_at, t.note"
        " FROM training_records t JOIN users u USING (user_id)"
        " WHERE t.user_id = %s AND t.completed_at <= %s AND t.expires_at > %s"
        " ORDER BY t.course, t.expires_at DESC",
        (user_id, at, at),
    ).fetchall()
    return [_record(r) for r in rows]


def training_status(
    conn: psycopg.Connection, cfg: AccessConfig, user_id: int, now: datetime | None = None
) -> TrainingStatus:
    current = {r.course.casefold(): r for r in current_training(conn, user_id, now)}
    required = [c for c in cfg.training_courses]
    missing = tuple(c for c in required if c.casefold() not in current)
    held = tuple(current[c.casefold()] for c in required if c.casefold() in current)
    return TrainingStatus(
        trained=not missing,
        missing=missing,
        expires_at=min(r.expires_at for r in held) if held and not missing else None,
        records=held,
    )


def training_records(conn: psycopg.Connection, username: str | None = None) -> list[TrainingRecord]:
    """Every record (current or not), newest first; one user's when `username` is given."""
    if username is None:
        rows = conn.execute(_RECORD_SQL + " ORDER BY t.recorded_at DESC").fetchall()
    else:
        user = get_user(conn, username)
        rows = conn.execute(
            _RECORD_SQL + " WHERE t.user_id = %s ORDER BY t.recorded_at DESC", (user.user_id,)
        ).fetchall()
    return [_record(r) for r in rows]


def trained_supervisors(
    conn: psycopg.Connection, cfg: AccessConfig, now: datetime | None = None
) -> list[str]:
    """Usernames of enabled supervisors with current training."""
    rows = conn.execute(
        "SELECT u.user_id, u.username FROM users u JOIN user_roles r USING (user_id)"
        " WHERE r.role = 'supervisor' AND u.disabled_at IS NULL ORDER BY u.username"
    ).fetchall()
    return [name for uid, name in rows if training_status(conn, cfg, uid, now).trained]


def require_trained_supervisor(
    conn: psycopg.Connection, cfg: AccessConfig, actor: Actor, now: datetime | None = None
) -> User | None:
    """The acting supervisor (None: the operator, allowed only while no trained supervisor exists)."""
    user = acting_user(conn, actor)
    if user is None:
        if trained_supervisors(conn, cfg, now):
            raise NotPermitted(
                "a supervisor must do this; the server operator may only while no supervisor with "
                "current training exists"
            )
        return None
    if Role.SUPERVISOR not in user.roles:
        raise NotPermitted(f"only a supervisor may do this, and {user.username} is not one")
    status = training_status(conn, cfg, user.user_id, now)
    if not status.trained:
        raise NotPermitted(f"{user.username} is a supervisor but has {status.reason}")
    return user


def record_training(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    actor: Actor,
    username: str,
    course: str,
    completed_at: datetime,
    expires_at: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> TrainingRecord:
    """Record completed training (logged); the expiry defaults to `training_valid_days` after completion."""
    at = _now(now)
    known = {c.casefold(): c for c in cfg.training_courses}
    name = known.get(course.strip().casefold())
    if name is None:
        raise PolicyError(
            f"{course!r} is not a department-approved course; the courses are: "
            + ", ".join(cfg.training_courses)
        )
    if completed_at.tzinfo is None or (expires_at is not None and expires_at.tzinfo is None):
        raise PolicyError("training times need a time zone")
    if completed_at > at + timedelta(minutes=5):
        raise PolicyError("training cannot be recorded as completed in the future")
    expires = expires_at or completed_at + timedelta(days=cfg.training_valid_days)
    if expires <= completed_at:
        raise PolicyError("training must expire after it was completed")
    with conn.transaction():
        supervisor = require_trained_supervisor(conn, cfg, actor, at)
        trainee = get_user(conn, username)
        if supervisor is not None and supervisor.user_id == trainee.user_id:
            raise NotPermitted("a supervisor cannot record their own training; another supervisor must")
        row = conn.execute(
            "INSERT INTO training_records (user_id, course, completed_at, expires_at, recorded_by,"
            " recorded_by_id, note) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING record_id",
            (trainee.user_id, name, completed_at, expires, actor.username, actor.user_id, note),
        ).fetchone()
        assert row is not None
        access_log.append(
            conn,
            access_log.LogEntry.by(
                actor,
                "training.record",
                terms={
                    "user": trainee.username,
                    "course": name,
                    "completed_at": completed_at,
                    "expires_at": expires,
                    "bootstrap": supervisor is None,
                },
            ),
        )
        found = conn.execute(_RECORD_SQL + " WHERE t.record_id = %s", (row[0],)).fetchone()
    assert found is not None
    return _record(found)


def lapsing(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    within_days: int | None = None,
    now: datetime | None = None,
) -> list[Lapse]:
    """Enabled users whose required training lapses within N days, or has lapsed, or never was."""
    at = _now(now)
    horizon = at + timedelta(days=cfg.training_warn_days if within_days is None else within_days)
    rows = conn.execute(
        "SELECT u.username, u.display_name, c.course,"
        " (SELECT max(t.expires_at) FROM training_records t"
        "   WHERE t.user_id = u.user_id AND lower(t.course) = lower(c.course) AND t.completed_at <= %s)"
        " FROM users u CROSS JOIN unnest(%s::text[]) AS c(course)"
        " WHERE u.disabled_at IS NULL ORDER BY 4 NULLS FIRST, 1, 3",
        (at, list(cfg.training_courses)),
    ).fetchall()
    return [
        Lapse(name, display, course, expires)
        for name, display, course, expires in rows
        if expires is None or expires <= horizon
    ]
