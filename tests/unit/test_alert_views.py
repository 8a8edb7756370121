"""One alert's JSON shape: UNVERIFIED until verified, the list's age from its last import, and the
list settings that carry that import time from Redis to the alert."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from platewatch.engine.alerts.views import alert_view, list_age_s
from platewatch.engine.hotlist.entry import ListSettings, parse_list_settings

NOW = dt.datetime.now(dt.UTC)


def row(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "alert_id": "a1",
        "raised_at": NOW,
        "read_time": NOW,
        "read_id": "r1",
        "camera_id": "cam-1",
        "plate": "7ABC123",
        "confidence": 0.91,
        "hotlist": "stolen",
        "entry": "7ABC128",
        "match_kind": "fuzzy",
        "score": 0.8,
        "priority": 1,
        "tier": "alert",
        "evidence": 0.4,
        "reason": "stolen",
        "case_number": "",
        "details": {
            "camera_name": "Main St",
            "differs": [6],
            "list_imported_at": repr(time.time() - 3 * 86400),
        },
        "has_crop": True,
        "state": "new",
        "state_at": NOW,
        "state_by": "system",
        "note": None,
        "disposition": None,
    }
    return base | over


def test_unverified_until_verified_and_the_list_age_shows() -> None:
    view = alert_view(row())
    assert view["verification"] == "UNVERIFIED" and view["crop_url"] == "/api/v1/alerts/a1/crop"
    assert view["camera_name"] == "Main St" and view["differs"] == [6]
    assert 3 * 86400 - 60 < view["list_age_s"] < 3 * 86400 + 60
    assert view["list_imported_at"] is not None and view["list_imported_at"].startswith(str(NOW.year))
    for state in ("acknowledged", "false_hit", "expired"):
        assert alert_view(row(state=state))["verification"] == "UNVERIFIED"
    assert alert_view(row(state="verified"))["verification"] == "VERIFIED"


def test_a_list_never_imported_or_with_garbage_has_no_age() -> None:
    assert list_age_s({}) is None and list_age_s({"list_imported_at": "soon"}) is None
    view = alert_view(row(details={}, has_crop=False))
    assert view["list_age_s"] is None and view["list_imported_at"] is None and view["crop_url"] is None


def test_list_settings_carry_the_import_time_and_refuse_garbage() -> None:
    default = ListSettings("stolen")
    settings, problems = parse_list_settings("stolen", {"imported_at": "1764892800.5"}, default)
    assert settings.imported_at == 1764892800.5 and not problems
    settings, problems = parse_list_settings("stolen", {"imported_at": "yesterday"}, default)
    assert settings.imported_at is None and problems == [
        "imported_at must be epoch seconds (written by `platewatch hotlist import`)"
    ]


def test_an_alert_carries_where_its_camera_stands_and_the_direction_when_the_camera_fixes_it() -> None:
    from platewatch.engine.alerts.desk import camera_site
    from platewatch.engine.config import CameraSpec

    spec = CameraSpec(
        id="gate",
        url="rtsp://cam/1",
        name="North gate",
        address="1 Main St",
        latitude=37.44,
        longitude=-122.14,
        heading=90,
        direction="towards",
    )
    site = camera_site(spec)
    assert site == {
        "camera_name": "North gate",
        "camera_address": "1 Main St",
        "camera_position": [37.44, -122.14],
        "camera_heading": 90,
        "direction": "towards",
    }
    assert camera_site(CameraSpec(id="any", url="rtsp://cam/2")) == {}  # nothing known, nothing claimed
    view = alert_view(row(details=site))
    assert (view["camera_address"], view["camera_position"], view["direction"]) == (
        "1 Main St",
        [37.44, -122.14],
        "towards",
    )


def test_an_alert_shows_the_vehicle_its_read_saw_and_nothing_where_it_saw_none() -> None:
    from platewatch.codecs import Alert, Read
    from platewatch.engine.alerts.records import _details

    read = Read(
        read_id="00000000-0000-4000-8000-000000000001",
        camera_id="gate",
        time=time.time(),
        plate="7ABC123",
        confidence=0.9,
        colour="blue",
        colour_confidence=0.8312,
        direction="receding",
        heading=181.5,
    )
    alert = Alert(alert_id="a1", read=read, hotlist="stolen", entry="7ABC123", match_kind="exact", score=1.0)
    view = alert_view(row(details=_details(alert, {"direction": "away"})))
    assert (view["colour"], view["colour_confidence"], view["travel"], view["heading"]) == (
        "blue",
        0.831,
        "receding",
        181.5,
    )
    assert view["direction"] == "away" and view["vehicle_type"] is None  # the camera's own setting stays
    bare = dataclasses.replace(read, colour="", colour_confidence=0.0, direction="", heading=None)
    unseen = alert_view(row(details=_details(dataclasses.replace(alert, read=bare), {})))
    assert (unseen["colour"], unseen["colour_confidence"], unseen["travel"], unseen["heading"]) == (None,) * 4
