"""The webhook outbox as senders and reviewers use it: claim, record an outcome, retry, dead-letter.

Claiming is a lease, not a lock held across the POST: a short transaction picks due rows with
`FOR UPDATE SKIP LOCKED` (so any number of senders never pick the same row), moves their `next_at`
past the time the sender needs for them, and commits. The HTTP request then runs with no
transaction open. Holding the row lock through the POST would keep a transaction (and a pooled
connection) open for as long as a slow receiver takes, and the access-log row that must be
committed before the data leaves could not be part of it anyway. If a sender dies mid-request,
its lease runs out and another sender sends the same message again, under the same `webhook-id`,
which the receiver drops as a repeat: delivery is at least once.

An attempt is counted when its outcome is recorded, so a sender that stops mid-request costs no
attempt; every update names the attempt count it expects, so an outcome recorded late (after the
lease ran out and another sender took the row) changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "dead")
_MAX_ERROR = 500  # characters of an error kept on the row
_RNG = random.Random()

_COLUMNS = (
    "id, destination, event_seq, alert_id, msg_id, status, attempts, next_at, last_error, last_status,"
    " created_at, delivered_at"
)


def retry_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt `attempt` (1 = the first): exponential, equal jitter.

    The step is min(cap, base * 2**(attempt-1)); the delay is half the step plus a random part of
    the other half. Equal rather than full jitter: full jitter (0..step) may retry at once, which
    hits a receiver that is just coming back as hard as no backoff would; with equal jitter each
    delay below the cap is at least the whole previous step, so delays grow (at the cap they stay
    between cap/2 and cap), and senders still spread out.
    """
    step = min(cap_s, base_s * 2.0 ** min(max(attempt, 1) - 1, 60))
    return step / 2 + (rng or _RNG).uniform(0, step / 2)


@dataclass(frozen=True)
class Claim:
    id: int
    destination: str
    event_seq: int
    alert_id: str
    msg_id: str
    attempts: int  # attempts made before this one

    @property
    def attempt(self) -> int:
        """The number of the attempt this claim is for (1 = the first)."""
        return self.attempts + 1


def claim_due(
    conn: psycopg.Connection, limit: int, *, destination: str | None = None, lease_s: float = 60.0
) -> list[Claim]:
    """Take up to `limit` due pending deliveries (oldest event first) for `lease_s` seconds."""
    where = "status = 'pending' AND next_at <= now()"
    params: list[Any] = []
    if destination is not None:
        where += " AND destination = %s"
        params.append(destination)
    with conn.transaction():
        rows = conn.execute(
            "WITH due AS ("
            f" SELECT id FROM webhook_deliveries WHERE {where}"
            " ORDER BY next_at, event_seq LIMIT %s FOR UPDATE SKIP LOCKED)"
            " UPDATE webhook_deliveries d SET next_at = now() + make_interval(secs => %s)"
            " FROM due WHERE d.id = due.id"
            " RETURNING d.id, d.destination, d.event_seq, d.alert_id, d.msg_id, d.attempts",
            (*params, limit, lease_s),
        ).fetchall()
    return sorted((Claim(*row) for row in rows), key=lambda c: c.event_seq)


def _error(text: str) -> str:
    return text.replace("\x00", "")[:_MAX_ERROR]


def record_delivered(conn: psycopg.Connection, claim: Claim, http_status: int) -> bool:
    """The receiver took it (2xx); False when the row had moved on (another sender recorded it)."""
    row = conn.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = %s,"
        " last_error = NULL, delivered_at = now()"
        " WHERE id = %s AND status = 'pending' AND attempts = %s RETURNING id",
        (http_status, claim.id, claim.attempts),
    ).fetchone()
    return row is not None


def record_failed(
    conn: psycopg.Connection,
    claim: Claim,
    *,
    error: str,
    http_status: int | None,
    max_attempts: int,
    delay_s: float,
) -> Status | None:
    """Count the failed attempt: pending again after `delay_s`, or dead once `max_attempts` are
    spent. Returns the new status (None when the row had moved on)."""
    dead = claim.attempt >= max_attempts
    row = conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = %s, last_status = %s,"
        " status = %s, next_at = now() + make_interval(secs => %s)"
        " WHERE id = %s AND status = 'pending' AND attempts = %s RETURNING status",
        (
            _error(error),
            http_status,
            "dead" if dead else "pending",
            0 if dead else delay_s,
            claim.id,
            claim.attempts,
        ),
    ).fetchone()
    return None if row is None else row[0]  # type: ignore[no-any-return]


def bury(conn: psycopg.Connection, claim: Claim, error: str) -> bool:
    """Dead at once, attempts untouched: a delivery that no retry can help (its event is gone)."""
    row = conn.execute(
        "UPDATE webhook_deliveries SET status = 'dead', last_error = %s"
        " WHERE id = %s AND status = 'pending' AND attempts = %s RETURNING id",
        (_error(error), claim.id, claim.attempts),
    ).fetchone()
    return row is not None


def release(
    conn: psycopg.Connection, claims: Sequence[Claim], delay_s: float, error: str | None = None
) -> None:
    """Give claims back unsent and uncounted, due again after `delay_s` (the access log could not
    be written, or an earlier message to the same receiver just failed)."""
    for claim in claims:
        conn.execute(
            "UPDATE webhook_deliveries SET next_at = now() + make_interval(secs => %s),"
            " last_error = coalesce(%s, last_error)"
            " WHERE id = %s AND status = 'pending' AND attempts = %s",
            (delay_s, None if error is None else _error(error), claim.id, claim.attempts),
        )


def release_after(conn: psycopg.Connection, claims: Sequence[Claim], failed: Claim) -> None:
    """Give claims back uncounted, due when `failed` is due again (now, if it is no longer pending)."""
    for claim in claims:
        conn.execute(
            "UPDATE webhook_deliveries SET next_at = coalesce("
            "(SELECT next_at FROM webhook_deliveries WHERE id = %s AND status = 'pending'), now())"
            " WHERE id = %s AND status = 'pending' AND attempts = %s",
            (failed.id, claim.id, claim.attempts),
        )


def bury_removed(conn: psycopg.Connection, configured: Sequence[str], grace_s: float = 0.0) -> int:
    """Dead-letter pending deliveries to destinations no longer configured (queued at least
    `grace_s` ago, so that a destination just added on another worker during a rolling restart
    is not buried by one still on the old configuration). Returns how many."""
    rows = conn.execute(
        "UPDATE webhook_deliveries"
        " SET status = 'dead', last_error = 'destination ' || destination || ' is no longer configured'"
        " WHERE status = 'pending' AND destination <> ALL(%s)"
        " AND created_at <= now() - make_interval(secs => %s) RETURNING id",
        (list(configured), grace_s),
    ).fetchall()
    return len(rows)


def dead_counts(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT destination, count(*) FROM webhook_deliveries WHERE status = 'dead' GROUP BY destination"
    ).fetchall()
    return {name: int(n) for name, n in rows}


def list_deliveries(
    conn: psycopg.Connection,
    *,
    status: Status | None = None,
    destination: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first: the dead-letter list (status='dead') and what is still queued."""
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if destination is not None:
        where.append("destination = %s")
        params.append(destination)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM webhook_deliveries {clause} ORDER BY created_at DESC, id DESC LIMIT %s",
            (*params, limit),
        ).fetchall()


def get_delivery(conn: psycopg.Connection, delivery_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = %s{' FOR UPDATE' if lock else ''}",
            (delivery_id,),
        ).fetchone()


def requeue(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any] | None:
    """A dead delivery pending again with a fresh set of attempts, due now; None unless it was dead.
    The last error stays on the row until the next attempt replaces it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = now()"
            f" WHERE id = %s AND status = 'dead' RETURNING {_COLUMNS}",
            (delivery_id,),
        ).fetchone()
