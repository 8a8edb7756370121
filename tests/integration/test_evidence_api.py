"""/api/v1/evidence on PostgreSQL: exports (policy 462.3) and holds through the policy layer.

An investigator's export holds the reads for the case, builds a signed bundle, and leaves an
access-log row naming every read before the export's id is answered; the zip verifies with the
department's public key; custody is added to, never changed; a wrong role, a missing purpose or an
unknown read is refused and logged; only a supervisor releases a hold.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from api_server import store_reads
from fastapi.testclient import TestClient
from policy_people import KEY, PASSWORD, Department, cheap_hashes, found_department

from platewatch.codecs import Read
from platewatch.engine.api import create_api
from platewatch.engine.config import Settings, load_settings
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from platewatch.engine.store.evidence.keys import signing_key
from platewatch.engine.store.evidence.verify import verify_bundle
from platewatch.engine.store.images import DirectoryImageStore

CASE = "24-001234"
PURPOSE = "criminal investigation"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


@dataclass
class Site:
    dept: Department
    settings: Settings
    client: TestClient
    reads: list[Read]
    tmp: Path

    @property
    def conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self.dept.conn
        return conn

    def bearer(self, username: str) -> dict[str, str]:
        r = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli"}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def since(self, seq: int, action: str) -> list[access_log.LogRow]:
        rows = access_log.query(self.conn, action=action, limit=1000)
        return sorted((r for r in rows if r.seq > seq), key=lambda r: r.seq)

    def head(self) -> int:
        h = access_log.head(self.conn)
        return h.seq if h else 0

    def count(self, table: str) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
        assert row is not None
        return int(row[0])


def _reads() -> list[Read]:
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id="cam-1",
            time=(T0 + timedelta(minutes=i)).timestamp(),
            plate=plate,
            confidence=0.9,
            crop_jpeg=JPEG,
            overview_jpeg=JPEG + b"overview" if i == 0 else None,
        )
        for i, plate in enumerate(["7ABC123", "7ABC123", "8XYZ999"])
    ]


@pytest.fixture
def site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    migrate(database_url)
    reads = _reads()
    store_reads(database_url, reads, tmp_path / "images")
    settings = load_settings(
        data_dir=tmp_path, access={"mfa_required": False, "totp_secret_key": KEY.decode()}
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn, settings.access)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("dan", Role.DISPATCHER)
        dept.add("aud", Role.AUDITOR)
        with TestClient(create_api(settings, database_url=database_url)) as client:
            yield Site(dept, settings, client, reads, tmp_path)


def _export(site: Site, headers: dict[str, str], ids: list[str], **body: Any) -> Any:
    payload = {"read_ids": ids, "case": CASE, "booking": "EV-2026-0042", "purpose": PURPOSE, **body}
    return site.client.post("/api/v1/evidence/exports", json=payload, headers=headers)


def test_an_export_is_held_signed_logged_and_its_zip_verifies(site: Site) -> None:
    ivy = site.bearer("ivy")
    ids = [site.reads[0].read_id, site.reads[1].read_id]
    before = site.head()
    r = _export(site, ivy, ids)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["reads"], made["case_number"], made["booking_number"]) == (2, CASE, "EV-2026-0042")
    assert [c["event"] for c in made["custody"]] == ["exported"]

    logged = site.since(before, "evidence.export")
    assert len(logged) == 1 and logged[0].outcome == "allowed"
    row = logged[0]
    assert (row.username, row.purpose, row.case_number) == ("ivy", PURPOSE, CASE)
    assert sorted(row.returned_ids) == sorted(ids) and row.terms["export_id"] == made["export_id"]

    hold = site.client.get("/api/v1/evidence/holds", params={"case": CASE}, headers=ivy).json()
    assert [(h["hold_id"], h["reads"], h["active"]) for h in hold] == [(made["hold_id"], 2, True)]

    before = site.head()
    z = site.client.get(
        f"/api/v1/evidence/exports/{made['export_id']}/bundle",
        params={"purpose": PURPOSE, "case": CASE},
        headers=ivy,
    )
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip", z.text
    path = site.tmp / "bundle.zip"
    path.write_bytes(z.content)
    public = signing_key(None, site.tmp).public_key()  # what `export public-key` prints
    result = verify_bundle(path, public)
    assert result.ok, result.problems
    assert result.manifest is not None and sorted(result.manifest["read_ids"]) == sorted(ids)
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        names = zf.namelist()
        csv_text = zf.read(f"evidence-{made['export_id']}/reads.csv").decode()
    assert (
        sum(n.endswith("crop.jpg") for n in names) == 2
        and sum(n.endswith("overview.jpg") for n in names) == 1
    )
    assert csv_text.count("7ABC123") == 4  # plate and plate_norm, two reads
    downloaded = site.since(before, "evidence.bundle")
    assert len(downloaded) == 1 and sorted(downloaded[0].returned_ids) == sorted(ids)
    shown = site.client.get(f"/api/v1/evidence/exports/{made['export_id']}", headers=ivy).json()
    assert [c["event"] for c in shown["custody"]] == ["exported", "downloaded"]

    wrong = site.client.get(
        f"/api/v1/evidence/exports/{made['export_id']}/bundle",
        params={"purpose": PURPOSE, "case": "24-009999"},
        headers=ivy,
    )
    assert wrong.status_code == 422 and wrong.json()["detail"]["field"] == "case"


def test_an_export_is_refused_for_a_wrong_role_no_purpose_or_an_unknown_read(site: Site) -> None:
    ids = [site.reads[0].read_id]
    before = site.head()
    for who in ("dan", "aud", "ada"):
        r = _export(site, site.bearer(who), ids)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "role", r.text
    refused = site.since(before, "evidence.export")
    assert [(x.username, x.outcome) for x in refused] == [
        ("dan", "refused"),
        ("aud", "refused"),
        ("ada", "refused"),
    ]

    ivy = site.bearer("ivy")
    before = site.head()
    no_purpose = _export(site, ivy, ids, purpose="")
    assert no_purpose.status_code == 422 and no_purpose.json()["detail"]["field"] == "purpose"
    bad_case = _export(site, ivy, ids, case="whatever")
    assert bad_case.status_code == 422 and bad_case.json()["detail"]["field"] == "case"
    alert_only = _export(site, ivy, ids, purpose="alert verification")
    assert alert_only.status_code == 422
    unknown = _export(site, ivy, [*ids, str(uuid.uuid4())])
    assert unknown.status_code == 422 and "no stored read" in unknown.json()["detail"]["message"]
    no_booking = _export(site, ivy, ids, booking="")
    assert no_booking.status_code == 422
    rows = site.since(before, "evidence.export")
    assert [r.outcome for r in rows] == ["refused"] * 4, rows  # the body-less validation is not logged
    assert rows[0].reason is not None and rows[0].reason.startswith("purpose:")
    assert site.count("evidence_exports") == 0 and site.count("evidence_holds") == 0
    assert not (site.tmp / "exports").exists() or not any((site.tmp / "exports").iterdir())


def test_custody_is_recorded_in_order_and_never_changed(site: Site) -> None:
    ivy = site.bearer("ivy")
    made = _export(site, ivy, [site.reads[2].read_id]).json()
    url = f"/api/v1/evidence/exports/{made['export_id']}/custody"
    sam = site.bearer("sam")
    for who, event, to in (
        (ivy, "copied", "DVD-R serial 4411"),
        (ivy, "handed_over", "DA's office, clerk Jones"),
        (sam, "received", "property room, locker 12"),
    ):
        r = site.client.post(url, json={"event": event, "to": to, "note": "sealed"}, headers=who)
        assert r.status_code == 201, r.text
    bad = site.client.post(url, json={"event": "downloaded", "to": "x"}, headers=ivy)
    assert bad.status_code == 422
    nobody = site.client.post(
        f"/api/v1/evidence/exports/{uuid.uuid4()}/custody", json={"event": "copied", "to": "x"}, headers=ivy
    )
    assert nobody.status_code == 404
    shown = site.client.get("/api/v1/evidence/exports", params={"case": CASE}, headers=ivy).json()
    steps = [(c["event"], c["actor"], c["to"]) for c in shown[0]["custody"]]
    assert steps == [
        ("exported", "ivy", ""),
        ("copied", "ivy", "DVD-R serial 4411"),
        ("handed_over", "ivy", "DA's office, clerk Jones"),
        ("received", "sam", "property room, locker 12"),
    ]
    assert len(access_log.query(site.conn, action="evidence.custody", outcome="allowed")) == 3
    for sql in (
        "UPDATE custody_events SET party = 'elsewhere'",
        "DELETE FROM custody_events",
        "TRUNCATE custody_events",
        "UPDATE evidence_exports SET booking_number = 'EV-1'",
        "DELETE FROM evidence_exports",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            site.conn.execute(sql)
    assert site.count("custody_events") == 4


def test_an_investigator_places_a_hold_and_only_a_supervisor_releases_it(site: Site) -> None:
    ivy, sam = site.bearer("ivy"), site.bearer("sam")
    body = {"case": CASE, "purpose": PURPOSE, "plate": "7ABC123", "reason": "discovery request"}
    placed = site.client.post("/api/v1/evidence/holds", json=body, headers=ivy)
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["reads"], hold["created_by"], hold["active"]) == (2, "ivy", True)
    no_purpose = site.client.post("/api/v1/evidence/holds", json={**body, "purpose": ""}, headers=ivy)
    assert no_purpose.status_code == 422
    nothing = site.client.post("/api/v1/evidence/holds", json={"case": CASE, "purpose": PURPOSE}, headers=ivy)
    assert nothing.status_code == 422 and "needs read ids" in nothing.json()["detail"]["message"]

    url = f"/api/v1/evidence/holds/{hold['hold_id']}/release"
    before = site.head()
    refused = site.client.post(url, json={"reason": "case closed"}, headers=ivy)
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "role"
    assert [(r.username, r.outcome) for r in site.since(before, "evidence.hold_release")] == [
        ("ivy", "refused")
    ]
    done = site.client.post(url, json={"reason": "case closed"}, headers=sam)
    assert done.status_code == 200, done.text
    assert (done.json()["active"], done.json()["released_by"]) == (False, "sam")
    again = site.client.post(url, json={"reason": "case closed"}, headers=sam)
    assert again.status_code == 409
    missing = site.client.post("/api/v1/evidence/holds/999/release", json={"reason": "x"}, headers=sam)
    assert missing.status_code == 404
    active = site.client.get("/api/v1/evidence/holds", params={"active": "true"}, headers=ivy).json()
    assert active == []
    assert site.count("evidence_reads") == 0


def test_a_read_past_retention_is_exported_from_the_hold_that_kept_it(site: Site) -> None:
    ivy = site.bearer("ivy")
    read = site.reads[2]
    body = {"case": CASE, "purpose": PURPOSE, "read_ids": [read.read_id], "reason": "trial"}
    assert site.client.post("/api/v1/evidence/holds", json=body, headers=ivy).status_code == 201
    site.conn.execute("DELETE FROM reads WHERE read_id = %s", (read.read_id,))  # as retention would
    DirectoryImageStore(site.tmp / "images").delete(
        f"reads/{datetime.fromtimestamp(read.time, UTC):%Y/%m/%d}"
    )
    r = _export(site, ivy, [read.read_id])
    assert r.status_code == 201, r.text
    made = r.json()
    z = site.client.get(
        f"/api/v1/evidence/exports/{made['export_id']}/bundle",
        params={"purpose": PURPOSE, "case": CASE},
        headers=ivy,
    )
    path = site.tmp / "old.zip"
    path.write_bytes(z.content)
    result = verify_bundle(path, signing_key(None, site.tmp).public_key())
    assert result.ok and result.manifest is not None and result.manifest["read_ids"] == [read.read_id]
    with zipfile.ZipFile(path) as zf:
        assert zf.read(f"evidence-{made['export_id']}/images/{read.read_id}-crop.jpg") == JPEG
    gone = _export(site, ivy, [str(uuid.uuid4())])
    assert gone.status_code == 422
