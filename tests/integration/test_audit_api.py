"""The audit routes and the public usage-and-privacy page over HTTP, on PostgreSQL.

Audits (policy 462.4(c)): the report as JSON, CSV and HTML with its access-log row, the status with
its overdue flag, sign-off, the sample reviewed by a supervisor who did not make the search, the
notifications and the retention report. The public page (Civil Code § 1798.90.51): no login, every
required element shown, monthly totals that match the seeded reads and alerts, and no plate-like
string anywhere in the page or its JSON although the seeded reads' plates would show if leaked;
a configuration that lacks an element does not load, so no API starts with it.
"""

from __future__ import annotations

import re
import uuid
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
from platewatch.engine.config import ConfigError, Settings, load_settings
from platewatch.engine.config.privacy import REQUIRED_ELEMENTS
from platewatch.engine.policy import access_log, audit_schedule
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

NOW = datetime.now(UTC).replace(microsecond=0)
PLATES = ["7ABC123", "8XYZ999", "4KQR552", "6TRD774"]
CAMERA = "cam-elm-and-5th"

#: A plate-like token: 5 to 8 capital letters and digits with at least one of each, standing alone
#: (not part of a longer run of letters and digits). Dates, months and numbers have no letter; words
#: such as ALPR, CLETS or UTC have no digit, so neither is plate-like.
PLATE_LIKE = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Z0-9]{5,8}(?![A-Za-z0-9]))(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]+"
)


def plate_like(text: str) -> list[str]:
    return PLATE_LIKE.findall(text)


def test_the_plate_like_rule_finds_plates_and_passes_dates_months_and_words() -> None:
    assert plate_like("read 7ABC123 at cam; 4kqr552 and ZZ9 and (8XYZ999)") == ["7ABC123", "8XYZ999"]
    assert plate_like("2026-03, March, MARCH, ALPR, CLETS, UTC, 1798.90.51, 462.4(c), 24-001234") == []
    assert plate_like("ABC1234X9 is too long, A1B2 too short") == []


@dataclass
class Site:
    dept: Department
    settings: Settings
    client: TestClient
    reads: list[Read]

    def bearer(self, username: str) -> dict[str, str]:
        r = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli"}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def _reads() -> list[Read]:
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=CAMERA,
            time=(NOW - timedelta(minutes=5 + i)).timestamp(),
            plate=plate,
            confidence=0.9,
        )
        for i, plate in enumerate(PLATES)
    ]


@pytest.fixture
def site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    reads = _reads()
    store_reads(database_url, reads)
    settings = load_settings(
        data_dir=tmp_path,
        access={"mfa_required": False, "totp_secret_key": KEY.decode()},
        audit={"sample_size": 4, "bulk_results": 2},
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn, settings.access)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("aud", Role.AUDITOR)
        dept.add("sue", Role.SUPERVISOR)
        for i, (read, state) in enumerate(zip(reads, ["verified", "false_hit", "new"], strict=False)):
            conn.execute(
                "INSERT INTO alerts (alert_id, raised_at, read_time, read_id, camera_id, plate, hotlist,"
                " entry, match_kind, tier, state, state_at)"
                " VALUES (%s, now(), now(), %s, %s, %s, 'stolen', %s, 'exact', %s, %s, now())",
                (
                    str(uuid.uuid4()),
                    read.read_id,
                    CAMERA,
                    read.plate,
                    read.plate,
                    "alert" if i < 2 else "possible",
                    state,
                ),
            )
        with TestClient(create_api(settings, database_url=database_url)) as client:
            yield Site(dept, settings, client, reads)


CASE = {"purpose": "criminal investigation", "case": "24-001234"}


def _search(site: Site, who: str, plate: str) -> None:
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": plate}, headers=site.bearer(who))
    assert r.status_code == 200, r.text


def _rows(site: Site, action: str) -> list[access_log.LogRow]:
    return access_log.query(site.dept.conn, action=action)


def test_the_report_in_three_formats_is_logged_and_refused_to_others(site: Site) -> None:
    for plate in ("7ABC123", "8XYZ999"):
        _search(site, "ivy", plate)
    _search(site, "sam", "4KQR552")
    auditor = site.bearer("aud")
    span = {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=1)).isoformat()}
    r = site.client.get("/api/v1/audit/report", params=span, headers=auditor)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["searches"] == 3
    assert {u["username"]: u["searches"] for u in body["searches_by_user"]} == {"ivy": 2, "sam": 1}
    assert body["searches_without_case"] == 0
    [row] = _rows(site, "audit.report")
    assert (row.username, row.terms["format"]) == ("aud", "json")
    csv_answer = site.client.get("/api/v1/audit/report", params={**span, "format": "csv"}, headers=auditor)
    assert (
        csv_answer.headers["content-type"].startswith("text/csv") and "totals,searches,,3," in csv_answer.text
    )
    html = site.client.get("/api/v1/audit/report", params={**span, "format": "html"}, headers=auditor)
    assert "attachment" in html.headers["content-disposition"] and "<svg" in html.text
    naive = site.client.get("/api/v1/audit/report", params={"from": "2026-01-01T00:00:00", "to": span["to"]},
                            headers=auditor)  # fmt: skip
    assert naive.status_code == 422 and naive.json()["detail"]["field"] == "from"
    assert site.client.get("/api/v1/audit/report", headers=site.bearer("ivy")).status_code == 403


def test_status_signoff_sample_review_notifications_and_retention(site: Site) -> None:
    for who, plate in (("ivy", "7ABC123"), ("sue", "8XYZ999"), ("sam", "4KQR552"), ("sue", "6TRD774")):
        _search(site, who, plate)
    conn = site.dept.conn
    cfg = site.settings.audit
    now = datetime.now(UTC)  # the searches' own time: NOW is when the module was collected
    start = now - timedelta(hours=1)
    audit_id = audit_schedule.produce_audit(
        conn, cfg, site.settings.access, site.dept.admin, (start, now + timedelta(minutes=1)),
        data_dir=Path(site.settings.data_dir),
    )  # fmt: skip
    assert audit_id is not None
    conn.execute("UPDATE audits SET due_at = now() - interval '1 day' WHERE audit_id = %s", (audit_id,))
    sue, sam, aud = site.bearer("sue"), site.bearer("sam"), site.bearer("aud")

    st = site.client.get("/api/v1/audit/status", headers=sue).json()
    assert st["overdue"] is True and st["audits"][0]["overdue"] is True
    assert st["audits"][0]["sample"]["size"] == 4

    sample = site.client.get(f"/api/v1/audit/audits/{audit_id}/sample", headers=aud).json()
    assert len(sample) == 4 and all(s["assigned_to"] != s["searcher"] for s in sample)
    own = next(s for s in sample if s["searcher"] == "sue")
    r = site.client.post(
        f"/api/v1/audit/audits/{audit_id}/sample/{own['seq']}/review", json={"finding": "proper"}, headers=sue
    )
    assert r.status_code == 403 and "own search" in r.json()["detail"]["message"]
    refused = _rows(site, "audit.review")[0]
    assert (refused.username, refused.outcome) == ("sue", "refused")
    r = site.client.post(
        f"/api/v1/audit/audits/{audit_id}/sample/{own['seq']}/review",
        json={"finding": "improper", "note": "no case notes for this search"},
        headers=sam,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["reviewed_by"], r.json()["finding"]) == ("sam", "improper")
    r = site.client.post(
        f"/api/v1/audit/audits/{audit_id}/sample/{own['seq']}/review", json={"finding": "proper"}, headers=aud
    )
    assert r.status_code == 403  # auditors read the sample; supervisors review it

    r = site.client.post(f"/api/v1/audit/audits/{audit_id}/signoff", json={"note": "read"}, headers=aud)
    assert r.status_code == 200 and r.json()["signed_by"] == "aud"
    again = site.client.post(f"/api/v1/audit/audits/{audit_id}/signoff", json={}, headers=sue)
    assert again.status_code == 400 and "already signed off" in again.json()["detail"]["message"]
    assert site.client.get("/api/v1/audit/status", headers=sue).json()["overdue"] is False

    # bulk_results is 2 in this site: a search answered with all four reads notifies
    span = {"from": (NOW - timedelta(hours=1)).isoformat(), "to": (NOW + timedelta(minutes=1)).isoformat()}
    r = site.client.get("/api/v1/reads", params={**CASE, **span}, headers=site.bearer("ivy"))
    assert r.status_code == 200 and len(r.json()["reads"]) == len(PLATES)
    from platewatch.engine.policy.audit_watch import scan_unusual

    assert scan_unusual(conn, cfg) == 1
    notes = site.client.get("/api/v1/audit/notifications", headers=aud).json()
    assert [(n["kind"], n["username"]) for n in notes] == [("bulk", "ivy")]
    nid = notes[0]["notification_id"]
    assert site.client.post(f"/api/v1/audit/notifications/{nid}/acknowledge", headers=aud).status_code == 403
    r = site.client.post(f"/api/v1/audit/notifications/{nid}/acknowledge", headers=sue)
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "sue"
    assert site.client.get("/api/v1/audit/notifications", headers=aud).json() == []
    assert site.client.post("/api/v1/audit/notifications/999/acknowledge", headers=sue).status_code == 404

    retention = site.client.get("/api/v1/audit/retention", headers=aud).json()
    assert retention["retention_days"] == 365 and retention["runs"] == [] and retention["holds"] == []
    kept = {rule["data"] for rule in retention["rules"]}
    assert {"reads and their images", "sharing requests, decisions and releases", "the access log"} <= kept
    assert any("webhook" in rule["data"] for rule in retention["rules"])


# --- the public page ------------------------------------------------------------------------------


def test_the_public_page_shows_every_element_and_monthly_totals_without_login(site: Site) -> None:
    _search(site, "ivy", "7ABC123")
    page = site.client.get("/privacy")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in REQUIRED_ELEMENTS:
        assert f'id="{name}"' in page.text, name
    assert site.settings.privacy.custodian_title in page.text
    body = site.client.get("/api/v1/privacy").json()
    assert set(body["elements"]) == set(REQUIRED_ELEMENTS)
    this_month = body["months"][-1]
    assert this_month == {
        "month": f"{NOW:%Y-%m}",
        "reads": len(PLATES),
        "hits": 2,
        "verified_hits": 1,
        "searches": 1,
        "shares": 0,
    }
    assert len(body["months"]) == site.settings.privacy.months


def test_the_public_page_and_its_json_hold_no_plate_camera_or_read_time(site: Site) -> None:
    _search(site, "ivy", "7ABC123")
    texts = {
        "page": site.client.get("/privacy").text,
        "json": site.client.get("/api/v1/privacy").text,
        "style": site.client.get("/static/privacy.css").text,
    }
    for what, text in texts.items():
        assert plate_like(text) == [], what
        lowered = text.lower()
        for plate in PLATES:
            assert plate.lower() not in lowered, (what, plate)
        assert CAMERA not in text and "cam-" not in text, what
        for read in site.reads:
            assert read.read_id not in text, what
            assert f"{datetime.fromtimestamp(read.time, UTC):%Y-%m-%dT%H:%M}" not in text, what
    # the rule would have caught them: the seeded plates are plate-like
    assert plate_like(" ".join(PLATES)) == PLATES


@pytest.mark.parametrize("element", sorted(REQUIRED_ELEMENTS))
def test_settings_without_a_required_element_do_not_load(element: str) -> None:
    empty: Any = [] if element == "job_titles" else "  "
    with pytest.raises(ConfigError) as err:
        load_settings(privacy={element: empty})
    assert "privacy" in str(err.value) and element in str(err.value) and "1798.90.51" in str(err.value)
