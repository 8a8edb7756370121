"""Investigators' hotlist entries from a major crime (policy 462.2(c)) through the real API, Redis
and PostgreSQL: the policy refusals, the entry as the matcher reads it, the owner's notification on
a hit (once, not on a replay) and who may see it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from policy_people import KEY, PASSWORD, cheap_hashes, found_department
from test_alert_lifecycle import make_alert

from platewatch.engine.alerts import records
from platewatch.engine.api import create_api
from platewatch.engine.config import load_settings
from platewatch.engine.config.sections import HotlistConfig
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.migrate import migrate

CASE = {"purpose": "criminal investigation", "case": "24-001234"}
LAYOUT = Layout()


@dataclasses.dataclass
class Site:
    client: TestClient
    conn: psycopg.Connection
    store: redis.Redis
    tokens: dict[str, dict[str, str]]

    def last_seq(self) -> int:
        head = access_log.head(self.conn)
        return head.seq if head else 0

    def rows_since(self, seq: int) -> list[access_log.LogRow]:
        return [r for r in reversed(access_log.query(self.conn, limit=1000)) if r.seq > seq]


def _clear(store: redis.Redis) -> None:
    for pattern in ("pw:hot:major-crime*", "pw:hot:stolen*", "pw:hot:_case_entries"):
        keys = list(store.scan_iter(match=pattern))
        if keys:
            store.delete(*keys)


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        access={"mfa_required": False, "totp_secret_key": KEY.decode()},
        hotlists=[{"name": "major-crime", "priority": 1, "partial": True}, {"name": "stolen"}],
    )
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    _clear(store)
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            dept = found_department(conn, settings.access)
            dept.add("ivy", Role.INVESTIGATOR)
            dept.add("ian", Role.INVESTIGATOR)
            dept.add("dan", Role.DISPATCHER)
            with TestClient(create_api(settings, database_url=database_url, redis_url=redis_url)) as client:
                tokens = {}
                for name in ("ivy", "ian", "sam", "dan", "ada"):
                    r = client.post(
                        "/api/v1/auth/login", json={"username": name, "password": PASSWORD, "client": "cli"}
                    )
                    assert r.status_code == 200, r.text
                    tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}
                yield Site(client, conn, store, tokens)
    finally:
        _clear(store)
        store.close()


def _entry(plate: str = "7AB?1*", days: float = 30, **more: Any) -> dict[str, Any]:
    expires = datetime.now(UTC) + timedelta(days=days)
    return {"plate": plate, "reason": "robbery suspect vehicle", "expires_at": expires.isoformat(), **more}


def test_an_investigator_adds_lists_and_removes_entries_and_the_policy_refusals(site: Site) -> None:
    c, t = site.client, site.tokens
    before = site.last_seq()
    r = c.post("/api/v1/case-entries", params=CASE, json=_entry("7ab?1*"), headers=t["ivy"])
    assert r.status_code == 201, r.text
    key = "pw:hot:major-crime:7AB?1*"
    assert r.json()["key"] == key and r.json()["owner"] == "ivy" and r.json()["case"] == "24-001234"
    fields = site.store.hgetall(key)
    assert {k: fields[k] for k in ("owner", "case", "reason", "source")} == {
        "owner": "ivy",
        "case": "24-001234",
        "reason": "robbery suspect vehicle",
        "source": "investigator",
    }
    assert 29 * 86400 < site.store.ttl(key) <= 30 * 86400  # EXPIREAT set
    (row,) = site.rows_since(before)
    assert (row.action, row.username, row.outcome, row.case_number) == (
        "case_entry.add",
        "ivy",
        "allowed",
        "24-001234",
    )
    assert row.returned_ids == (key,)

    refusals = [
        ("dan", CASE, _entry(), 403),  # a dispatcher
        ("ivy", {"purpose": "criminal investigation"}, _entry(), 422),  # no case
        ("ivy", CASE, {k: v for k, v in _entry().items() if k != "expires_at"}, 422),  # no expiry
        ("ivy", CASE, _entry(days=200), 422),  # beyond case_entries.max_days
        ("ivy", CASE, _entry(list="stolen"), 422),  # a pattern on a list without partial
        ("ivy", CASE, _entry(list="nosuch", plate="8XYZ999"), 422),  # not a configured list
        ("ivy", CASE, _entry(plate="A*"), 422),  # too few known characters (the hotlist's own rule)
        ("ivy", CASE, _entry(reason=" "), 422),
        ("ian", CASE, _entry("7ab?1*"), 422),  # ivy's entry: ian cannot overwrite it
    ]
    for who, params, body, status in refusals:
        before = site.last_seq()
        r = c.post("/api/v1/case-entries", params=params, json=body, headers=t[who])
        assert r.status_code == status, (who, body, r.text)
        if status == 422 and "expires_at" in body and "purpose" in params and "case" in params:
            (row,) = site.rows_since(before)
            assert row.outcome == "refused" and row.reason, row
    assert (
        "partial"
        in c.post("/api/v1/case-entries", params=CASE, json=_entry(list="stolen"), headers=t["ivy"]).text
    )
    assert site.store.hgetall(key)["owner"] == "ivy"
    assert not site.store.exists("pw:hot:stolen:7AB?1*")

    r = c.post("/api/v1/case-entries", params=CASE, json=_entry("8xyz999", list="stolen"), headers=t["ian"])
    assert r.status_code == 201, r.text
    mine = c.get("/api/v1/case-entries", params=CASE, headers=t["ivy"]).json()
    assert [e["key"] for e in mine] == [key]
    everyone = c.get("/api/v1/case-entries", params={**CASE, "all": True}, headers=t["sam"]).json()
    assert sorted(e["key"] for e in everyone) == [key, "pw:hot:stolen:8XYZ999"]
    assert c.get("/api/v1/case-entries", params={**CASE, "all": True}, headers=t["ivy"]).status_code == 403

    path = "/api/v1/case-entries/major-crime/7AB%3F1%2A"
    assert c.delete(path, params=CASE, headers=t["ian"]).status_code == 403
    before = site.last_seq()
    r = c.delete(path, params=CASE, headers=t["ivy"])
    assert r.status_code == 200, r.text
    assert not site.store.exists(key)
    (row,) = site.rows_since(before)
    assert (row.action, row.returned_ids) == ("case_entry.remove", (key,))
    assert c.delete("/api/v1/case-entries/stolen/8XYZ999", params=CASE, headers=t["sam"]).status_code == 200
    assert c.get("/api/v1/case-entries", params={**CASE, "all": True}, headers=t["sam"]).json() == []
    assert site.store.scard(LAYOUT.case_entries_key) == 0


def test_a_hit_notifies_the_owner_once_and_only_the_owner_sees_it(site: Site) -> None:
    c, t = site.client, site.tokens
    alert = make_alert("7ABX12")
    alert = dataclasses.replace(
        alert,
        hotlist="major-crime",
        entry="7AB?1*",
        case_number="24-001234",
        alert_id=str(uuid.uuid4()),
        extra={**alert.extra, "owner": "ivy"},
    )
    assert len(records.store_alerts(site.conn, [alert])) == 1
    assert records.store_alerts(site.conn, [alert]) == []  # a replay
    (count,) = site.conn.execute(
        "SELECT count(*) FROM user_notifications WHERE alert_id = %s", (alert.alert_id,)
    ).fetchone() or (0,)
    assert count == 1
    no_owner = make_alert("9ZZZ999")
    records.store_alerts(site.conn, [no_owner])
    assert site.conn.execute(
        "SELECT count(*) FROM user_notifications WHERE alert_id = %s", (no_owner.alert_id,)
    ).fetchone() == (0,)

    before = site.last_seq()
    mine = c.get("/api/v1/auth/notifications", headers=t["ivy"]).json()
    (note,) = [n for n in mine if n["alert_id"] == alert.alert_id]
    assert note["plate"] == "7ABX12" and note["camera_id"] == "cam-1" and "7ABX12" in note["message"]
    assert "24-001234" in note["message"] and note["read_at"] is None
    (row,) = site.rows_since(before)
    assert (row.action, row.username) == ("auth.notifications", "ivy") and alert.alert_id in row.returned_ids
    for other in ("ian", "sam", "ada"):
        seen = c.get("/api/v1/auth/notifications", headers=t[other]).json()
        assert all(n["notification_id"] != note["notification_id"] for n in seen), other
    path = f"/api/v1/auth/notifications/{note['notification_id']}/read"
    assert c.post(path, headers=t["ian"]).status_code == 404
    assert c.post(path, headers=t["ivy"]).status_code == 200
    again = c.get("/api/v1/auth/notifications", params={"unread": True}, headers=t["ivy"]).json()
    assert all(n["notification_id"] != note["notification_id"] for n in again)


def test_the_default_configuration_has_a_partial_major_crime_list() -> None:
    settings = load_settings()
    assert settings.case_entries.default_list == "major-crime"
    assert HotlistConfig(name="major-crime", priority=1, partial=True) in settings.hotlists
