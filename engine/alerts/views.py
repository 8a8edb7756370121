"""One alert as every audience sees it: the websocket, the REST routes and the webhooks.

One shape for all three, so a CAD system and a dispatcher's screen can never disagree about what
an alert said. Until a dispatcher verifies it, an alert says UNVERIFIED in its own field
(`verification`), not only by a missing flag, so that a receiver that prints the payload as it
comes prints the warning too (policy 462.2(f): confirm before acting).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

UNVERIFIED = "UNVERIFIED"
VERIFIED = "VERIFIED"


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def _when(epoch_s: Any) -> str | None:
    """Epoch seconds as the alert's extra carries them (a string) → ISO 8601, or None."""
    try:
        return dt.datetime.fromtimestamp(float(epoch_s), tz=dt.UTC).isoformat() if epoch_s else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def list_age_s(details: Mapping[str, Any], now: float | None = None) -> float | None:
    """How old the list's last import was when asked (a stale DOJ/NCIC list shows)."""
    imported = details.get("list_imported_at")
    try:
        return max(0.0, (now or time.time()) - float(imported)) if imported not in (None, "") else None
    except (TypeError, ValueError):
        return None


def alert_view(row: Mapping[str, Any], crop_base: str = "/api/v1/alerts") -> dict[str, Any]:
    """A row of `records.ALERT_COLUMNS` → the alert's public JSON shape."""
    details: Mapping[str, Any] = row.get("details") or {}
    verified = row["state"] == "verified"
    imported = details.get("list_imported_at")
    return {
        "alert_id": row["alert_id"],
        "verification": VERIFIED if verified else UNVERIFIED,
        "state": row["state"],
        "state_at": _iso(row["state_at"]),
        "state_by": row["state_by"],
        "note": row["note"],
        "disposition": row["disposition"],
        "plate": row["plate"],
        "confidence": round(float(row["confidence"]), 4),
        "crop_url": f"{crop_base}/{row['alert_id']}/crop" if row.get("has_crop") else None,
        "camera_id": row["camera_id"],
        "camera_name": details.get("camera_name") or row["camera_id"],
        "camera_address": details.get("camera_address") or None,
        "camera_position": details.get("camera_position"),
        "camera_heading": details.get("camera_heading"),
        "read_id": row["read_id"],
        "read_time": _iso(row["read_time"]),
        "raised_at": _iso(row["raised_at"]),
        "hotlist": row["hotlist"],
        "entry": row["entry"],
        "reason": row["reason"],
        "case_number": row["case_number"],
        "priority": int(row["priority"]),
        "tier": row["tier"],
        "match_kind": row["match_kind"],
        "score": round(float(row["score"]), 4),
        "evidence": round(float(row["evidence"]), 4),
        "candidate": details.get("candidate"),
        "differs": list(details.get("differs") or ()),
        "list_imported_at": _when(imported),
        "list_age_s": list_age_s(details),
        "direction": details.get("direction"),
        # The vehicle as the read saw it: colour where sure, type where shown, travel
        # (approaching/receding) and heading (degrees in the picture, 0 right, 90 up).
        "colour": details.get("colour"),
        "colour_confidence": details.get("colour_confidence"),
        "vehicle_type": details.get("vehicle_type"),
        "travel": details.get("travel"),
        "heading": details.get("heading"),
        "entry_details": {k: details[k] for k in ("ref", "source", "state", "vehicle") if details.get(k)},
    }


def event_view(row: Mapping[str, Any], crop_base: str = "/api/v1/alerts") -> dict[str, Any]:
    """A row of `records.events_since` → one message on the websocket (and a webhook's body)."""
    return {
        "type": "event",
        "offset": int(row["seq"]),
        "kind": row["kind"],
        "event_state": row["event_state"],
        "at": _iso(row["event_at"]),
        "actor": row["actor"],
        "note": row["event_note"],
        "alert": alert_view(row, crop_base),
    }
