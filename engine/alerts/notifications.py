"""Telling the investigator who entered a plate (the entry's `owner`) that it was seen.

`notify_owner` runs inside `records.store_alerts`' transaction, only for an alert stored for the
first time, so a replayed alert notifies nobody again. The message names the plate, the camera and
the time, as the alert does: the owner entered that plate for their case.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from platewatch.codecs import Alert

KIND_HOTLIST_HIT = "hotlist_hit"
_MESSAGE = 500


def hit_message(alert: Alert, camera_name: str | None) -> str:
    at = dt.datetime.fromtimestamp(alert.read.time, tz=dt.UTC).isoformat(timespec="seconds")
    camera = camera_name or alert.read.camera_id
    case = str(alert.extra.get("case") or alert.case_number or "")
    text = f"{alert.read.plate} seen at {camera} {at} ({alert.tier} on {alert.hotlist}:{alert.entry}"
    return (text + (f", case {case})" if case else ")"))[:_MESSAGE]


def notify_owner(conn: psycopg.Connection, alert: Alert, camera_name: str | None = None) -> bool:
    """One notification for the entry's owner, if it has one; True when one was written."""
    owner = str(alert.extra.get("owner") or "").strip()
    if not owner:
        return False
    row = conn.execute(
        "INSERT INTO user_notifications (username, kind, alert_id, message) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (username, kind, alert_id) DO NOTHING RETURNING notification_id",
        (owner, KIND_HOTLIST_HIT, alert.alert_id, hit_message(alert, camera_name)),
    ).fetchone()
    return row is not None


def user_notifications(
    conn: psycopg.Connection, username: str, *, unread_only: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    where = " AND read_at IS NULL" if unread_only else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT n.notification_id, n.raised_at, n.kind, n.alert_id, n.message, n.read_at,"
            " a.plate, a.camera_id, a.read_time, a.hotlist, a.entry, a.case_number"
            " FROM user_notifications n LEFT JOIN alerts a ON a.alert_id = n.alert_id"
            f" WHERE n.username = %s{where} ORDER BY n.notification_id DESC LIMIT %s".encode(),
            (username, limit),
        ).fetchall()


def mark_read(conn: psycopg.Connection, username: str, notification_id: int) -> bool:
    """Only the owner's own notification; False when there is none of theirs by that id."""
    row = conn.execute(
        "UPDATE user_notifications SET read_at = coalesce(read_at, now())"
        " WHERE notification_id = %s AND username = %s RETURNING notification_id",
        (notification_id, username),
    ).fetchone()
    return row is not None
