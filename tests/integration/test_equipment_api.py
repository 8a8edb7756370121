"""Operating the ALPR equipment as a named, trained admin (policy 462.2(d)): `platewatch camera` and
`platewatch hotlist` through the real API, each action one access-log row under the user's name; an
untrained admin and an investigator are refused, and their refusals are on record too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from equipment_site import EquipmentSite, equipment_site, investigator_code
from fastapi.testclient import TestClient
from policy_people import PASSWORD

from platewatch.engine.api import create_api, equipment
from platewatch.engine.commands.api_client import load_login
from platewatch.engine.config import load_settings
from platewatch.engine.ingest.camera_store import database_cameras

DATA = Path(__file__).resolve().parents[1] / "data" / "hotlist"


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EquipmentSite]:
    with equipment_site(database_url, tmp_path, monkeypatch) as s:
        yield s


def test_a_trained_admin_adds_lists_and_removes_a_camera_and_an_entry(site: EquipmentSite) -> None:
    before = site.last_seq()
    done = site.invoke("camera", "add", "gate", "rtsp://viewer:${GATE_PW}@cam.local/gate", "--fps", "5")
    assert done.exit_code == 0, done.output
    assert "camera gate added" in done.output and "${GATE_PW}" not in done.output
    row = site.rows_since(before)
    assert [(r.action, r.username, r.outcome, r.returned_ids) for r in row] == [
        ("camera.add", "ada", "allowed", ("gate",))
    ]
    assert row[0].terms["camera"] == "gate" and row[0].terms["fps"] == 5
    assert database_cameras(site.env["PLATEWATCH_SERVICES__DATABASE_URL"])[0]["gate"].fps == 5

    before = site.last_seq()
    listed = site.invoke("camera", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == ["gate"] and rows[0]["worker"] is None
    assert "${GATE_PW}" not in listed.stdout
    assert [(r.action, r.username, r.returned_ids) for r in site.rows_since(before)] == [
        ("camera.list", "ada", ("gate",))
    ]
    table = site.invoke("camera", "list")
    assert table.exit_code == 0 and "gate" in table.output

    before = site.last_seq()
    added = site.invoke(
        "hotlist",
        "add",
        "stolen",
        "7abc123",
        "--reason",
        "stolen vehicle",
        "--case",
        "24-1187",
        "--expires",
        "7d",
    )
    assert added.exit_code == 0, added.output
    assert "added pw:hot:stolen:7ABC123" in added.output
    store = redis.Redis.from_url(site.redis_url, decode_responses=True)
    try:
        fields = store.hgetall("pw:hot:stolen:7ABC123")
        assert fields["added_by"] == "ada" and fields["case"] == "24-1187"
        assert 6 * 86400 < store.ttl("pw:hot:stolen:7ABC123") <= 7 * 86400
    finally:
        store.close()
    (row,) = site.rows_since(before)
    assert (row.action, row.username, row.outcome) == ("hotlist.add", "ada", "allowed")
    assert row.terms["list"] == "stolen" and row.terms["entry"] == "7abc123"
    assert row.returned_ids == ("pw:hot:stolen:7ABC123",)

    before = site.last_seq()
    shown = site.invoke("hotlist", "show", "stolen", "7ABC123")
    assert shown.exit_code == 0 and "24-1187" in shown.output and "expires" in shown.output
    listed = site.invoke("hotlist", "show")
    assert listed.exit_code == 0 and "stolen" in listed.output
    assert [(r.action, r.username) for r in site.rows_since(before)] == [
        ("hotlist.show", "ada"),
        ("hotlist.show", "ada"),
    ]

    before = site.last_seq()
    assert site.invoke("hotlist", "remove", "stolen", "7ABC123").exit_code == 0
    gone = site.invoke("hotlist", "remove", "stolen", "7ABC123")
    assert gone.exit_code == 2 and "no entry pw:hot:stolen:7ABC123" in _flat(gone.output)
    assert [(r.action, r.returned_ids) for r in site.rows_since(before)] == [
        ("hotlist.remove", ("pw:hot:stolen:7ABC123",)),
        ("hotlist.remove", ()),
    ]

    before = site.last_seq()
    removed = site.invoke("camera", "remove", "gate")
    assert removed.exit_code == 0 and "camera gate removed" in removed.output
    assert [(r.action, r.username, r.returned_ids) for r in site.rows_since(before)] == [
        ("camera.remove", "ada", ("gate",))
    ]
    assert "gate" in database_cameras(site.env["PLATEWATCH_SERVICES__DATABASE_URL"])[1]


def test_input_the_store_refuses_is_an_exit_2_and_a_refused_row(site: EquipmentSite) -> None:
    before = site.last_seq()
    bad = site.invoke("hotlist", "add", "stolen", "AB*", "--reason", "x")
    assert bad.exit_code == 2 and "at least 3 known characters" in _flat(bad.output)
    (row,) = site.rows_since(before)
    assert (row.action, row.outcome) == ("hotlist.add", "refused") and row.reason

    before = site.last_seq()
    token = load_login_token(site)
    r = httpx.post(
        f"{site.api}/api/v1/admin/cameras",
        json={"id": "gate", "url": "ftp://cam/gate"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422 and "unsupported camera URL scheme" in r.json()["detail"]["message"]
    (row,) = site.rows_since(before)
    assert (row.action, row.outcome, row.terms["camera"]) == ("camera.add", "refused", "gate")


def load_login_token(site: EquipmentSite) -> str:
    stored = load_login(Path(site.env["XDG_CONFIG_HOME"]) / "platewatch" / "session.json")
    assert stored is not None
    return stored.token


def test_an_untrained_admin_and_an_investigator_are_refused_and_logged(site: EquipmentSite) -> None:
    site.login("una")
    before = site.last_seq()
    refused = site.invoke("camera", "add", "gate", "rtsp://cam.local/gate")
    assert refused.exit_code == 1 and "training" in _flat(refused.output), refused.output
    refused = site.invoke("hotlist", "add", "stolen", "7ABC123", "--reason", "stolen vehicle")
    assert refused.exit_code == 1 and "training" in _flat(refused.output)
    rows = site.rows_since(before)
    assert [(r.action, r.username, r.outcome) for r in rows] == [
        ("camera.add", "una", "refused"),
        ("hotlist.add", "una", "refused"),
    ]
    assert all(r.reason and r.reason.startswith("training:") for r in rows)

    site.login("ivy", investigator_code(site, "ivy"))
    before = site.last_seq()
    refused = site.invoke("hotlist", "show")
    assert refused.exit_code == 1 and "refused" in refused.output
    refused = site.invoke("camera", "list")
    assert refused.exit_code == 1
    rows = site.rows_since(before)
    assert [(r.action, r.username, r.outcome) for r in rows] == [
        ("hotlist.show", "ivy", "refused"),
        ("camera.list", "ivy", "refused"),
    ]
    assert all(r.reason and r.reason.startswith("role:") for r in rows)
    assert database_cameras(site.env["PLATEWATCH_SERVICES__DATABASE_URL"]) == ({}, set())


def test_without_a_login_nothing_is_sent(site: EquipmentSite) -> None:
    assert site.invoke("logout").exit_code == 0
    before = site.last_seq()
    for args in (("camera", "list"), ("hotlist", "show"), ("hotlist", "errors")):
        done = site.invoke(*args)
        assert done.exit_code != 0 and "run `platewatch login` first" in done.output
    assert site.rows_since(before) == []


def test_an_import_through_the_api_loads_a_feed_and_is_one_row(
    site: EquipmentSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = site.last_seq()
    done = site.invoke("hotlist", "import", str(DATA / "svs.tbl"), "--list", "stolen", "--format", "ca-doj")
    assert done.exit_code == 0, done.output
    assert "4 entries written to stolen, 3 lines skipped" in done.output
    store = redis.Redis.from_url(site.redis_url, decode_responses=True)
    try:
        entry = store.hgetall("pw:hot:stolen:7ABC123")
        assert entry["ref"] == "SVS county 19 date 20261101" and entry["added_by"] == "ada"
        assert store.get("pw:hot:_layout") == "1"
    finally:
        store.close()
    (row,) = site.rows_since(before)
    assert (row.action, row.username, row.outcome, row.returned_count) == (
        "hotlist.import",
        "ada",
        "allowed",
        4,
    )
    assert row.terms["format"] == "ca-doj" and row.terms["file"] == "svs.tbl" and row.terms["skipped"] == 3

    monkeypatch.setattr(equipment, "MAX_FEED_BYTES", 64)
    before = site.last_seq()
    r = httpx.post(
        f"{site.api}/api/v1/admin/hotlists/stolen/import",
        params={"format": "ncic-csv"},
        content=(DATA / "ncic.csv").read_bytes(),
        headers={"Authorization": f"Bearer {load_login_token(site)}"},
    )
    assert r.status_code == 413 and r.json()["detail"]["code"] == "feed_too_large", r.text
    (row,) = site.rows_since(before)
    assert (row.action, row.outcome) == ("hotlist.import", "refused") and "larger than" in (row.reason or "")


def test_a_redis_that_is_down_is_a_503_saying_so(
    database_url: str, tmp_path: Path, site: EquipmentSite
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "down",
        services={"database_url": database_url, "redis_url": "redis://127.0.0.1:9/0"},
        access={"totp_secret_key": "x" * 43 + "="},
    )
    with TestClient(create_api(settings)) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "ada", "password": PASSWORD, "client": "cli"}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        before = site.last_seq()
        r = client.get("/api/v1/admin/hotlists", headers=headers)
        assert r.status_code == 503 and r.json()["detail"]["code"] == "redis_unavailable"
        assert "Redis" in r.json()["detail"]["message"]
        r = client.post(
            "/api/v1/admin/cameras", json={"id": "gate", "url": "rtsp://cam/gate"}, headers=headers
        )
        assert r.status_code == 201, r.text  # cameras live in the database
    assert [(r.action, r.outcome) for r in site.rows_since(before)] == [
        ("hotlist.show", "refused"),
        ("camera.add", "allowed"),
    ]
