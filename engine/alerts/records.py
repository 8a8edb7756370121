"""Alerts in the database: stored once per alert id, read back for the dispatcher's views.

`store_alerts` is what the dispatch agent calls for each batch from pw.alerts. The alert id is
deterministic per pass and entry, so a replayed message finds its row and adds nothing: no second
event, no second webhook. Everything a dispatcher's card shows is copied onto the row (camera name,
list age, the crop), because the read itself may not be written yet when the alert arrives, and an
alert must stay readable as it was raised even after a camera is renamed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from platewatch.codecs import Alert
from platewatch.engine.config.webhooks import WebhookConfig

from .notifications import notify_owner
from .stream import append_event
from .webhook_outbox import enqueue

#: The columns a view of an alert reads (everything but the crop's bytes).
ALERT_COLUMNS = (
    "alert_id, raised_at, read_time, read_id, camera_id, plate, confidence, hotlist, entry, match_kind,"
    " score, priority, tier, evidence, reason, case_number, details, crop_jpeg IS NOT NULL AS has_crop,"
    " state, state_at, state_by, note, disposition"
)
STATES = ("new", "acknowledged", "verified", "false_hit", "expired")
OPEN_STATES = ("new", "acknowledged")


def _ts(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)


def _details(alert: Alert, site: Mapping[str, Any]) -> dict[str, Any]:
    read = alert.read
    details: dict[str, Any] = dict(alert.extra)
    details.update(
        differs=list(alert.differs),
        region=read.region,
        box=list(read.box),
        pass_id=read.pass_id,
        provisional=read.provisional,
        track_length=read.track_length,
        candidates=[[text, prob] for text, prob in read.candidates[:5]],
    )
    # The pass's vehicle, where the read has it (colour where sure, direction of travel, heading).
    vehicle = {
        "colour": read.colour,
        "colour_confidence": round(read.colour_confidence, 3) if read.colour else None,
        "vehicle_type": read.vehicle_type,
        "travel": read.direction,
        "heading": read.heading,
    }
    details.update({k: v for k, v in vehicle.items() if v not in ("", None)})
    details.update(site)  # camera name, address, position, heading, direction of travel
    return details


@dataclass(frozen=True)
class Stored:
    alert_id: str
    seq: int  # the `raised` event's offset


def store_alerts(
    conn: psycopg.Connection,
    alerts: Sequence[Alert],
    *,
    camera_sites: Mapping[str, Mapping[str, Any]] | None = None,
    webhooks: Sequence[WebhookConfig] = (),
) -> list[Stored]:
    """Insert the alerts not stored yet, each with its `raised` event, webhook deliveries and its
    entry owner's notification, in one transaction; returns the ones that were new. Safe to call
    again with the same alerts."""
    sites = camera_sites or {}
    stored: list[Stored] = []
    with conn.transaction():
        for alert in alerts:
            read = alert.read
            row = conn.execute(
                "INSERT INTO alerts (alert_id, raised_at, read_time, read_id, camera_id, plate, confidence,"
                " hotlist, entry, match_kind, score, priority, tier, evidence, reason, case_number, details,"
                " crop_jpeg, state, state_at, state_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " 'new', %s, 'system')"
                " ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
                (
                    alert.alert_id,
                    _ts(alert.time or read.time),
                    _ts(read.time),
                    read.read_id,
                    read.camera_id,
                    read.plate,
                    read.confidence,
                    alert.hotlist,
                    alert.entry,
                    alert.match_kind,
                    alert.score,
                    alert.priority,
                    alert.tier if alert.tier in ("alert", "possible") else "alert",
                    alert.evidence,
                    alert.reason,
                    alert.case_number,
                    Jsonb(_details(alert, sites.get(read.camera_id, {}))),
                    read.crop_jpeg,
                    _ts(alert.time or read.time),
                ),
            ).fetchone()
            if row is None:
                continue  # stored before: a replay
            seq = append_event(conn, alert.alert_id, "raised", "new", "system")
            enqueue(conn, webhooks, seq, alert.alert_id, "raised", alert.tier)
            notify_owner(conn, alert, sites.get(read.camera_id, {}).get("camera_name"))
            stored.append(Stored(alert.alert_id, seq))
    return stored


def get_alert(conn: psycopg.Connection, alert_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()


def history(conn: psycopg.Connection, alert_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT seq, kind, state, at, actor, actor_org, note FROM alert_events"
            " WHERE alert_id = %s ORDER BY seq",
            (alert_id,),
        ).fetchall()


def crop(conn: psycopg.Connection, alert_id: str) -> bytes | None:
    row = conn.execute("SELECT crop_jpeg FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True)
class AlertFilter:
    states: tuple[str, ...] = ()
    hotlist: str | None = None
    camera_id: str | None = None
    tier: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100


def list_alerts(conn: psycopg.Connection, f: AlertFilter) -> list[dict[str, Any]]:
    """Newest first: what the dispatcher's list and a supervisor's review start from."""
    where: list[str] = []
    params: list[Any] = []
    if f.states:
        where.append("state = ANY(%s)")
        params.append(list(f.states))
    for column, value in (("hotlist", f.hotlist), ("camera_id", f.camera_id), ("tier", f.tier)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if f.since is not None:
        where.append("raised_at >= %s")
        params.append(f.since)
    if f.until is not None:
        where.append("raised_at < %s")
        params.append(f.until)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts {clause} ORDER BY raised_at DESC, alert_id LIMIT %s",
            (*params, f.limit),
        ).fetchall()


#: Events after an offset, in order, each with its alert as it is now.
_EVENTS_SINCE = (
    "SELECT e.seq, e.kind, e.state AS event_state, e.at AS event_at, e.actor, e.actor_org,"
    " e.note AS event_note,"
    f" {', '.join('a.' + c.strip() for c in ALERT_COLUMNS.split(','))}"
    " FROM alert_events e JOIN alerts a USING (alert_id)"
    " WHERE e.seq > %s ORDER BY e.seq LIMIT %s"
)


def events_since(conn: psycopg.Connection, after: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Events after offset `after`, in order, each with its alert as it is now."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_EVENTS_SINCE, (after, limit)).fetchall()


async def events_since_async(
    conn: psycopg.AsyncConnection, after: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """`events_since` for the API's change-stream follower, which runs on its event loop."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_EVENTS_SINCE, (after, limit))
        return await cur.fetchall()
