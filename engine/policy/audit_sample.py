"""The review sample (policy 462.4(c)): searches drawn at random, each for a supervisor who did not make it.

Counting searches shows how much was looked up, not whether it was proper; only a person reading a
search beside its purpose and case can tell. So each audited period draws `audit.sample_size` of its
allowed searches at random and assigns each to an enabled supervisor other than the searcher, evenly
(the least loaded first, ties broken at random). The reviewer records a finding (proper, improper,
unclear) and a note; the database refuses a review by the searcher, and a review is final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from platewatch.engine.config.audit import AuditConfig

from .directory import User
from .errors import NotPermitted, PolicyError
from .roles import Role

Finding = Literal["proper", "improper", "unclear"]
FINDINGS: tuple[Finding, ...] = ("proper", "improper", "unclear")


class ReviewError(PolicyError):
    """A review that cannot be recorded as asked (not in the sample, already reviewed)."""


@dataclass(frozen=True)
class Sampled:
    audit_id: int
    seq: int
    searcher: str
    assigned_to: str | None
    assigned_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    finding: str | None
    note: str | None
    # the search itself, from the access log (None when the row has since been purged)
    time: datetime | None = None
    organisation: str | None = None
    action: str | None = None
    terms: dict[str, Any] | None = None
    purpose: str | None = None
    case_number: str | None = None
    returned_count: int | None = None


def supervisors(conn: psycopg.Connection) -> list[tuple[int, str]]:
    """Enabled supervisors, (user id, username)."""
    return [
        (int(uid), name)
        for uid, name in conn.execute(
            "SELECT u.user_id, u.username FROM users u JOIN user_roles r USING (user_id)"
            " WHERE r.role = 'supervisor' AND u.disabled_at IS NULL ORDER BY u.username"
        ).fetchall()
    ]


def draw_sample(
    conn: psycopg.Connection,
    cfg: AuditConfig,
    audit_id: int,
    time_from: datetime,
    time_to: datetime,
    *,
    rng: random.Random | None = None,
) -> list[tuple[int, str, str | None]]:
    """Draw and store the sample of one audit; returns (seq, searcher, assigned supervisor or None)."""
    rng = rng or random.Random()
    if cfg.sample_size == 0:
        return []
    conn.execute("SELECT setseed(%s)", (rng.random() * 2 - 1,))
    drawn = conn.execute(
        "SELECT seq, username FROM access_log WHERE time >= %s AND time < %s AND action = ANY(%s)"
        " AND outcome = 'allowed' AND user_id IS NOT NULL ORDER BY random() LIMIT %s",
        (time_from, time_to, list(cfg.search_actions), cfg.sample_size),
    ).fetchall()
    people = supervisors(conn)
    load = {name: 0 for _, name in people}
    ids = {name: uid for uid, name in people}
    out: list[tuple[int, str, str | None]] = []
    with conn.transaction():
        for seq, searcher in sorted(drawn):
            eligible = [name for name in load if name != searcher]
            chosen = None
            if eligible:
                least = min(load[n] for n in eligible)
                chosen = rng.choice([n for n in eligible if load[n] == least])
                load[chosen] += 1
            conn.execute(
                "INSERT INTO audit_reviews (audit_id, seq, searcher, assigned_to, assigned_to_id)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (audit_id, seq, searcher, chosen, ids.get(chosen) if chosen else None),
            )
            out.append((int(seq), searcher, chosen))
    return out


def sample(conn: psycopg.Connection, audit_id: int) -> list[Sampled]:
    """The audit's sample with each search's access-log row, oldest search first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT s.audit_id, s.seq, s.searcher, s.assigned_to, s.assigned_at, s.reviewed_by,"
            " s.reviewed_at, s.finding, s.note, l.time, l.organisation, l.action, l.terms, l.purpose,"
            " l.case_number, l.returned_count"
            " FROM audit_reviews s LEFT JOIN access_log l ON l.seq = s.seq"
            " WHERE s.audit_id = %s ORDER BY s.seq",
            (audit_id,),
        ).fetchall()
    return [Sampled(**r) for r in rows]


def record_review(
    conn: psycopg.Connection, reviewer: User, audit_id: int, seq: int, finding: str, note: str = ""
) -> Sampled:
    """Record a supervisor's finding on one sampled search; never the searcher's own, never twice."""
    if Role.SUPERVISOR not in reviewer.roles:
        raise NotPermitted(f"only a supervisor reviews sampled searches, and {reviewer.username} is not one")
    if finding not in FINDINGS:
        raise ReviewError(f"a finding is one of {', '.join(FINDINGS)}, not {finding!r}")
    if finding != "proper" and not note.strip():
        raise ReviewError("a finding other than 'proper' needs a note saying what was wrong or unclear")
    with conn.transaction():
        row = conn.execute(
            "SELECT searcher, reviewed_at FROM audit_reviews WHERE audit_id = %s AND seq = %s FOR UPDATE",
            (audit_id, seq),
        ).fetchone()
        if row is None:
            raise ReviewError(f"row {seq} is not in the sample of audit {audit_id}")
        if row[0] == reviewer.username:
            raise NotPermitted("nobody reviews their own search: another supervisor must")
        if row[1] is not None:
            raise ReviewError(f"row {seq} of audit {audit_id} was already reviewed; a review is final")
        conn.execute(
            "UPDATE audit_reviews SET reviewed_by = %s, reviewed_by_id = %s, reviewed_at = now(),"
            " finding = %s, note = %s WHERE audit_id = %s AND seq = %s",
            (reviewer.username, reviewer.user_id, finding, note.strip()[:4000], audit_id, seq),
        )
    return next(s for s in sample(conn, audit_id) if s.seq == seq)


def sample_progress(conn: psycopg.Connection, audit_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT count(*), count(reviewed_at), count(*) FILTER (WHERE finding = 'improper'),"
        " count(*) FILTER (WHERE assigned_to IS NULL) FROM audit_reviews WHERE audit_id = %s",
        (audit_id,),
    ).fetchone()
    assert row is not None
    return {"size": row[0], "reviewed": row[1], "improper": row[2], "unassigned": row[3]}
