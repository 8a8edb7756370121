"""The ordered stream of alert changes that dispatchers' screens follow and replay from.

Every change to an alert (raised, acknowledged, verified, false hit, expired, disposition) is a row
of `alert_events` with an offset handed out by one counter row, inside the transaction of the
change itself: a change and its event commit together or not at all, and because the counter's row
lock serialises writers, offsets become visible in order. A follower that has read up to N can
never later find an event below N, so "everything after my offset" is a complete answer.

The model is Centrifugo's history recovery: a client keeps the last offset it saw and the stream's
epoch; reconnecting, it asks for what came after. The epoch changes only when the history itself is
replaced (a restored or rebuilt database): then a client's offset means nothing here, and it is told
so (`recovered: false`) and reloads the open alerts instead of trusting a gap-free replay.

NOTIFY on `CHANNEL` only wakes followers; they read the table for the facts, so a lost notification
(a connection that dropped) delays an event until the next poll but never loses it. Its payload is
empty on purpose: PostgreSQL folds identical notifications of one transaction into one, so a
transaction of ten alerts wakes each follower once (one query), not ten times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

CHANNEL = "pw_alert_events"


@dataclass(frozen=True)
class Head:
    epoch: str
    last_seq: int  # the newest offset handed out (0: nothing yet)
    first_seq: int  # the oldest offset still kept (last_seq + 1 when none are kept)


def next_seq(conn: psycopg.Connection) -> int:
    """Take the next offset; the caller's transaction holds the counter until it commits."""
    row = conn.execute("UPDATE alert_stream SET last_seq = last_seq + 1 RETURNING last_seq").fetchone()
    if row is None:
        raise RuntimeError("alert_stream has no row: run `platewatch migrate`")
    return int(row[0])


def append_event(
    conn: psycopg.Connection,
    alert_id: str,
    kind: str,
    state: str,
    actor: str,
    actor_org: str | None = None,
    note: str | None = None,
) -> int:
    """Record one change inside the caller's transaction and wake the followers at its commit."""
    seq = next_seq(conn)
    conn.execute(
        "INSERT INTO alert_events (seq, alert_id, kind, state, actor, actor_org, note)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (seq, alert_id, kind, state, actor, actor_org, note),
    )
    conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    return seq


_HEAD = (
    "SELECT s.epoch, s.last_seq, coalesce((SELECT min(seq) FROM alert_events), s.last_seq + 1)"
    " FROM alert_stream s"
)


def _as_head(row: tuple[Any, ...] | None) -> Head:
    if row is None:
        raise RuntimeError("alert_stream has no row: run `platewatch migrate`")
    return Head(epoch=str(row[0]), last_seq=int(row[1]), first_seq=int(row[2]))


def head(conn: psycopg.Connection) -> Head:
    return _as_head(conn.execute(_HEAD).fetchone())


async def head_async(conn: psycopg.AsyncConnection) -> Head:
    """`head` for the API's change-stream follower, which runs on its event loop."""
    return _as_head(await (await conn.execute(_HEAD)).fetchone())


def recoverable(current: Head, epoch: str | None, after: int | None) -> bool:
    """Whether a client that last saw offset `after` of history `epoch` can be brought up to date
    by replay alone: same history, and nothing it missed has been purged."""
    if epoch is None or after is None:
        return False
    if epoch != current.epoch or after > current.last_seq or after < 0:
        return False
    return after + 1 >= current.first_seq
