"""The durable camera list: configs/ plus the database, which `platewatch camera add|remove` edits.

The embedded broker keeps nothing across restarts, so pw.cameras is re-seeded from here when a
worker starts and reconciled with it every few seconds (ownership.py). A camera defined in
the configuration can be removed from the command line too: the database then holds a removal
mark for its id, which wins over the configuration until the camera is added again.

The table is created on first use (`CREATE TABLE IF NOT EXISTS`), so the store works before a
migration adds it; it holds each camera as its pw.cameras value (msgpack), so new capture options
need no schema change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from platewatch.codecs.cameras import decode_spec, encode_spec
from platewatch.engine.config.camera import CameraSpec

TABLE = "camera_definitions"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    camera_id  text PRIMARY KEY,
    spec       bytea,
    removed    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


def _ensure(conn: psycopg.Connection[Any]) -> None:
    # Only when it is missing: a role that may not create tables (the application's, once migration
    # 0005 made the table) is refused CREATE TABLE IF NOT EXISTS even for a table that exists.
    row = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
    if row is None or row[0] is None:
        conn.execute(_DDL)


def put_camera(conn: psycopg.Connection[Any], spec: CameraSpec) -> None:
    """Add or replace a camera on an open connection (in the caller's transaction, if any)."""
    _ensure(conn)
    conn.execute(
        f"INSERT INTO {TABLE} (camera_id, spec, removed) VALUES (%s, %s, false) "
        "ON CONFLICT (camera_id) DO UPDATE SET spec = excluded.spec, removed = false, updated_at = now()",
        (spec.id, encode_spec(spec)),
    )


def mark_removed(conn: psycopg.Connection[Any], camera_id: str) -> None:
    """Remove a camera on an open connection: a removal mark, which also hides a configured one."""
    _ensure(conn)
    conn.execute(
        f"INSERT INTO {TABLE} (camera_id, spec, removed) VALUES (%s, NULL, true) "
        "ON CONFLICT (camera_id) DO UPDATE SET removed = true, updated_at = now()",
        (camera_id,),
    )


def add_camera(database_url: str, spec: CameraSpec) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        put_camera(conn, spec)


def remove_camera(database_url: str, camera_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        mark_removed(conn, camera_id)


def stored_cameras(conn: psycopg.Connection[Any]) -> tuple[dict[str, CameraSpec], set[str]]:
    """(cameras added in the database, ids removed there), on an open connection."""
    _ensure(conn)
    rows = conn.execute(f"SELECT camera_id, spec, removed FROM {TABLE}").fetchall()
    added = {cid: decode_spec(bytes(spec)) for cid, spec, removed in rows if not removed and spec is not None}
    return added, {cid for cid, _, removed in rows if removed}


def database_cameras(database_url: str) -> tuple[dict[str, CameraSpec], set[str]]:
    """(cameras added in the database, ids removed there)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return stored_cameras(conn)


def merge_cameras(
    configured: Iterable[CameraSpec], added: dict[str, CameraSpec], removed: set[str]
) -> dict[str, CameraSpec]:
    """Configuration cameras, overridden by database additions and removals."""
    specs = {spec.id: spec for spec in configured}
    specs.update(added)
    for cid in removed:
        specs.pop(cid, None)
    return specs


def desired_cameras(configured: Iterable[CameraSpec], database_url: str | None) -> dict[str, CameraSpec]:
    """Configuration cameras, overridden by database additions and removals."""
    if not database_url:
        return merge_cameras(configured, {}, set())
    return merge_cameras(configured, *database_cameras(database_url))
