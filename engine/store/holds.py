"""Evidence holds (policy 462.3): reads that are, or may become, evidence are kept past retention.

A hold names what it keeps — read ids, a plate, cameras, a time range, in any combination — and
the case it is for. Placing it copies the matching reads into `evidence_reads` and their images to
`evidence/<hold_id>/<read_id>` in the image store; retention never touches either. While a hold is
active, retention captures matching reads again just before it drops their day, so a read that
arrived after the hold was placed is not lost. Releasing a hold is recorded (who, when, why, in
`evidence_holds` and the append-only `evidence_hold_events`) and deletes the hold's copies; the
originals, if still within retention, stay where they were.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .images import ImageStore, evidence_key
from .reads import normalise_plate
from .search import MAX_INPUT, plate_key

log = logging.getLogger(__name__)

MAX_READ_IDS = 10_000
COPY_THREADS = 4  # image copies in flight while a hold captures
_READ_COLUMNS = (
    "read_id, time, camera_id, plate, plate_norm, confidence, region, box, char_confidences,"
    " candidates, track_length, provisional, pass_id, colour, colour_confidence, vehicle_type,"
    " direction, heading, plateless, state"
)


class HoldError(ValueError):
    """A hold that cannot be placed or released as asked."""


@dataclass(frozen=True)
class HoldCriteria:
    """What a hold keeps: every given restriction applies (AND); at least ids, a plate or a time range."""

    read_ids: tuple[str, ...] = ()
    plate: str | None = None
    cameras: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None

    def check(self) -> None:
        if not (self.read_ids or self.plate or (self.time_from and self.time_to)):
            raise HoldError("a hold needs read ids, a plate, or a time range (from and to)")
        if len(self.read_ids) > MAX_READ_IDS:
            raise HoldError(f"at most {MAX_READ_IDS} read ids per hold")
        if self.plate is not None and not 0 < len(normalise_plate(self.plate)) <= 16:
            raise HoldError("a plate is 1 to 16 letters and digits")
        if any(t is not None and t.tzinfo is None for t in (self.time_from, self.time_to)):
            raise HoldError("hold times need a time zone")
        if self.time_from and self.time_to and self.time_from >= self.time_to:
            raise HoldError("time_from must be before time_to")


@dataclass(frozen=True)
class Hold:
    hold_id: int
    case_number: str
    reason: str
    created_by: str
    created_at: datetime
    criteria: HoldCriteria
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None
    reads: int = 0
    events: list[tuple[datetime, str, str, int]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.released_at is None


def _match_sql(hold: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """WHERE clause (fixed shapes) for one hold's criteria, shaped so the read indexes are usable."""
    where, params = [], {}
    if hold["read_ids"]:
        where.append("read_id = ANY(%(ids)s::uuid[])")
        params["ids"] = hold["read_ids"]
    if hold["plate_norm"]:
        where.append("pw_plate_key(plate_norm) = %(key)s AND plate_norm = %(plate)s")
        params["key"], params["plate"] = plate_key(hold["plate_norm"]), hold["plate_norm"]
    if hold["camera_ids"]:
        where.append("camera_id = ANY(%(cams)s)")
        params["cams"] = hold["camera_ids"]
    if hold["time_from"]:
        where.append("time >= %(t0)s")
        params["t0"] = hold["time_from"]
    if hold["time_to"]:
        where.append("time < %(t1)s")
        params["t1"] = hold["time_to"]
    return " AND ".join(where), params


def _copy_images(images: ImageStore, hold_id: int, reads: list[tuple[str, datetime]]) -> None:
    """Copy each read's images into the hold's evidence area, several at once: an export holds up to
    10,000 reads, and each copy is a few small-file system calls (or S3 requests) that threads
    overlap. The first failure is raised once every copy has finished or failed."""

    def one(item: tuple[str, datetime]) -> int:
        read_id, when = item
        return images.copy(f"reads/{when.astimezone(UTC):%Y/%m/%d}/{read_id}", evidence_key(hold_id, read_id))

    if len(reads) <= 1:
        for item in reads:
            one(item)
        return
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        list(pool.map(one, reads))


def capture(
    conn: psycopg.Connection,
    images: ImageStore,
    *,
    hold_id: int | None = None,
    before: datetime | None = None,
    actor: str = "retention",
) -> int:
    """Copy reads matching active holds (one, or all) that are not yet copied; returns how many.

    `before` limits it to reads older than a time: retention passes the day boundary it is about
    to drop up to, so only the reads that are going need reading.
    """
    cond = "released_at IS NULL" + (" AND hold_id = %(h)s" if hold_id is not None else "")
    with conn.cursor(row_factory=dict_row) as cur:
        holds = cur.execute(f"SELECT * FROM evidence_holds WHERE {cond}".encode(), {"h": hold_id}).fetchall()
    total = 0
    for hold in holds:
        where, params = _match_sql(hold)
        if before is not None:
            where += " AND time < %(before)s"
            params["before"] = before
        params["hold"] = hold["hold_id"]
        sql = (
            f"INSERT INTO evidence_reads (hold_id, {_READ_COLUMNS}, image_key, received_at)"
            f" SELECT %(hold)s, {_READ_COLUMNS},"
            " CASE WHEN image_key IS NULL THEN NULL ELSE 'evidence/' || %(hold)s || '/' || read_id END,"
            f" received_at FROM reads WHERE {where}"
            " ON CONFLICT DO NOTHING RETURNING read_id::text, time, image_key IS NOT NULL"
        )
        with conn.transaction():
            copied = conn.execute(sql.encode(), params).fetchall()
            # Images first, then commit: a committed evidence row never points at missing images.
            _copy_images(images, hold["hold_id"], [(r, w) for r, w, has_images in copied if has_images])
            if copied:
                conn.execute(
                    "INSERT INTO evidence_hold_events (hold_id, actor, action, reads)"
                    " VALUES (%s, %s, %s, %s)",
                    (hold["hold_id"], actor, "captured", len(copied)),
                )
        total += len(copied)
    return total


def capture_held(
    conn: psycopg.Connection, images: ImageStore, hold_id: int, read_ids: list[str], *, actor: str
) -> int:
    """Copy into `hold_id` the given reads that only other holds still keep (retention has purged
    the originals): a case that goes to trial years later must still be able to export them.
    Returns how many were copied; reads the hold already has are left alone."""
    pick = (
        " FROM evidence_reads WHERE read_id = ANY(%(ids)s::uuid[]) AND hold_id <> %(hold)s"
        " ORDER BY read_id, held_at"
    )
    params = {"ids": read_ids, "hold": hold_id}
    with conn.transaction():
        sources: dict[str, str] = dict(
            conn.execute(
                f"SELECT DISTINCT ON (read_id) read_id::text, image_key {pick}".encode(), params
            ).fetchall()
        )
        if not sources:
            return 0
        copied = conn.execute(
            f"INSERT INTO evidence_reads (hold_id, {_READ_COLUMNS}, image_key, received_at)"
            f" SELECT DISTINCT ON (read_id) %(hold)s, {_READ_COLUMNS},"
            " CASE WHEN image_key IS NULL THEN NULL ELSE 'evidence/' || %(hold)s || '/' || read_id END,"
            f" received_at {pick} ON CONFLICT DO NOTHING RETURNING read_id::text, image_key".encode(),
            params,
        ).fetchall()
        for read_id, key in copied:
            if key:
                images.copy(sources[read_id], key)
        if copied:
            conn.execute(
                "INSERT INTO evidence_hold_events (hold_id, actor, action, reads, detail)"
                " VALUES (%s, %s, 'captured', %s, 'from other holds')",
                (hold_id, actor, len(copied)),
            )
    return len(copied)


def place_hold(
    conn: psycopg.Connection,
    images: ImageStore,
    *,
    case_number: str,
    created_by: str,
    criteria: HoldCriteria,
    reason: str = "",
) -> Hold:
    """Place a hold and copy what it matches now; returns the hold with its number of copied reads."""
    criteria.check()
    if not 0 < len(case_number) <= 64 or not created_by or len(created_by) > MAX_INPUT:
        raise HoldError("a hold needs a case number (1-64 characters) and who places it")
    plate = normalise_plate(criteria.plate) if criteria.plate else None
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO evidence_holds (case_number, reason, created_by, read_ids, plate_norm, camera_ids,"
            " time_from, time_to) VALUES (%s, %s, %s, %s::uuid[], %s, %s, %s, %s) RETURNING hold_id",
            (
                case_number,
                reason,
                created_by,
                list(criteria.read_ids) or None,
                plate,
                list(criteria.cameras) or None,
                criteria.time_from,
                criteria.time_to,
            ),
        ).fetchone()
        assert row is not None
        hold_id = int(row[0])
        conn.execute(
            "INSERT INTO evidence_hold_events (hold_id, actor, action, detail) VALUES (%s, %s, 'placed', %s)",
            (hold_id, created_by, reason),
        )
    capture(conn, images, hold_id=hold_id, actor=created_by)
    return get_hold(conn, hold_id)


def release_hold(
    conn: psycopg.Connection, images: ImageStore, hold_id: int, *, released_by: str, reason: str
) -> Hold:
    """Release a hold: recorded, its copies deleted (from then on retention treats the reads as any other)."""
    if not released_by or not reason:
        raise HoldError("releasing a hold needs who releases it and why")
    with conn.transaction():
        row = conn.execute(
            "UPDATE evidence_holds SET released_at = now(), released_by = %s, release_reason = %s"
            " WHERE hold_id = %s AND released_at IS NULL RETURNING hold_id",
            (released_by, reason, hold_id),
        ).fetchone()
        if row is None:
            raise HoldError(f"hold {hold_id} does not exist or is already released")
        keys = conn.execute(
            "DELETE FROM evidence_reads WHERE hold_id = %s RETURNING read_id::text, image_key", (hold_id,)
        ).fetchall()
        conn.execute(
            "INSERT INTO evidence_hold_events (hold_id, actor, action, reads, detail)"
            " VALUES (%s, %s, 'released', %s, %s)",
            (hold_id, released_by, len(keys), reason),
        )
        for read_id, key in keys:
            if key:
                images.delete(evidence_key(hold_id, read_id))
    return get_hold(conn, hold_id)


def _hold(row: dict[str, Any]) -> Hold:
    return Hold(
        hold_id=row["hold_id"],
        case_number=row["case_number"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        criteria=HoldCriteria(
            read_ids=tuple(str(i) for i in row["read_ids"] or ()),
            plate=row["plate_norm"],
            cameras=tuple(row["camera_ids"] or ()),
            time_from=row["time_from"],
            time_to=row["time_to"],
        ),
        released_at=row["released_at"],
        released_by=row["released_by"],
        release_reason=row["release_reason"],
        reads=row["reads"],
    )


_SELECT = (
    "SELECT h.*, (SELECT count(*) FROM evidence_reads e WHERE e.hold_id = h.hold_id) AS reads"
    " FROM evidence_holds h"
)


def get_hold(conn: psycopg.Connection, hold_id: int) -> Hold:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_SELECT} WHERE h.hold_id = %s".encode(), (hold_id,)).fetchone()
        if row is None:
            raise HoldError(f"hold {hold_id} does not exist")
        events = cur.execute(
            "SELECT at, actor, action, reads FROM evidence_hold_events WHERE hold_id = %s ORDER BY event_id",
            (hold_id,),
        ).fetchall()
    hold = _hold(row)
    hold.events.extend((e["at"], e["actor"], e["action"], e["reads"]) for e in events)
    return hold


def list_holds(
    conn: psycopg.Connection, *, case_number: str | None = None, active_only: bool = False
) -> list[Hold]:
    where = ["true"]
    if case_number is not None:
        where.append("h.case_number = %(case)s")
    if active_only:
        where.append("h.released_at IS NULL")
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY h.hold_id"
    with conn.cursor(row_factory=dict_row) as cur:
        return [_hold(r) for r in cur.execute(sql.encode(), {"case": case_number}).fetchall()]
