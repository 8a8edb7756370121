"""The HTTP API on PostgreSQL: the permission matrix over app.routes, the access-log row of every data
request (and the 503 when it cannot be written), login, lockout, TOTP, recovery codes, logout, idle
expiry, CSRF, the login rate limits and /metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest
from api_server import store_reads
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from policy_people import COURSE, KEY, PASSWORD, Department, cheap_hashes, found_department
from psycopg_pool import ConnectionPool
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from platewatch.codecs import Read
from platewatch.engine.api import create_api, deps
from platewatch.engine.api.app import lend_check
from platewatch.engine.api.deps import guard_of
from platewatch.engine.api.security import is_public
from platewatch.engine.config import Settings, load_settings
from platewatch.engine.policy import access_log, training
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

# and the login page under /login, /static; /dispatch is a data-free shell (data: guarded routes)
# /audit is a shell too; /privacy and its JSON are the public usage-and-privacy policy (1798.90.51)
PUBLIC = {"/healthz", "/api/v1/auth/login", "/metrics", "/", "/dispatch", "/search", "/audit", "/privacy"} | {
    "/api/v1/privacy"
}
ANY_LOGGED_IN = {  # open to every logged-in user, trained or not: their own account, and the docs
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/auth/mfa/enrol",
    "/api/v1/auth/mfa/confirm",
    "/api/v1/auth/password",
    "/api/v1/auth/notifications",  # their own; the plate and camera only with a read role and training
    "/api/v1/auth/notifications/{notification_id}/read",
    "/openapi.json",
    "/docs",
}
CASE = {"purpose": "criminal investigation", "case": "24-001234"}
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


@dataclass
class Site:
    dept: Department
    settings: Settings
    client: TestClient
    database_url: str
    reads: list[Read]

    @property
    def conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self.dept.conn
        return conn

    def token(self, username: str, **body: Any) -> str:
        r = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli", **body}
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def rows(self, action: str | None = None) -> list[access_log.LogRow]:
        return access_log.query(self.conn, action=action)

    def last_seq(self) -> int:
        head = access_log.head(self.conn)
        return head.seq if head else 0

    def rows_since(self, seq: int) -> list[access_log.LogRow]:
        return [r for r in reversed(access_log.query(self.conn, limit=1000)) if r.seq > seq]


def _settings(tmp_path: Path, **access: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        access={"mfa_required": False, "totp_secret_key": KEY.decode(), "lockout_after": 3, **access},
        api={"metrics_token": METRICS_TOKEN},
    )


def _reads() -> list[Read]:
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 2}",
            time=(T0 + timedelta(minutes=i)).timestamp(),
            plate=plate,
            confidence=0.9,
            crop_jpeg=JPEG if i == 0 else None,
        )
        for i, plate in enumerate(["7ABC123", "7ABC123", "8XYZ999"])
    ]


def _lapse(dept: Department, username: str) -> None:
    now = datetime.now(UTC)
    training.record_training(
        dept.conn,
        dept.cfg,
        dept.supervisor,
        username,
        COURSE,
        now - timedelta(days=400),
        expires_at=now - timedelta(days=1),
    )


@pytest.fixture
def make_site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    reads = _reads()
    store_reads(database_url, reads, tmp_path / "images")
    with psycopg.connect(database_url, autocommit=True) as conn, monkeypatch.context():
        clients: list[TestClient] = []

        def make(**access: Any) -> Site:
            settings = _settings(tmp_path, **access)
            dept = found_department(conn, settings.access)
            dept.add("ivy", Role.INVESTIGATOR)
            dept.add("aud", Role.AUDITOR)
            dept.add("una", Role.INVESTIGATOR, trained=False)
            lapsed = (("li", Role.INVESTIGATOR), ("la", Role.ADMIN), ("lau", Role.AUDITOR))
            for name, role in (*lapsed, ("lsa", Role.SHARING_APPROVER)):
                dept.add(name, role, trained=False)
                _lapse(dept, name)
            dept.add("ls", Role.SUPERVISOR)  # trained now; lapsed below, after approving nothing
            conn.execute(
                "UPDATE training_records SET completed_at = now() - interval '400 days',"
                " expires_at = now() - interval '1 day'"
                " WHERE user_id = (SELECT user_id FROM users WHERE username = 'ls')"
            )
            for name in ("ada",):  # the admin needs training for the admin routes
                training.record_training(conn, dept.cfg, dept.supervisor, name, COURSE, datetime.now(UTC))
            client = TestClient(create_api(settings, database_url=database_url))
            client.__enter__()
            clients.append(client)
            return Site(dept, settings, client, database_url, reads)

        try:
            yield make
        finally:
            for c in clients:
                c.__exit__(None, None, None)


@pytest.fixture
def site(make_site: Any) -> Site:
    site: Site = make_site()
    return site


# --- the permission matrix -----------------------------------------------------------------------

_PATH_VALUES = {
    "read_id": str(uuid.uuid4()),
    "username": "ivy",
    "grant_id": "1",
    "role": "investigator",
    "camera_id": "gate",
    "list_name": "stolen",
    "entry": "7ABC123",
    "alert_id": "6f1c0b9e-4f6a-5d8e-9a43-70c1a4e2d462",
    "delivery_id": "1",
    "request_id": "1",
    "audit_id": "1",
    "seq": "1",
    "notification_id": "1",
    "export_id": "0b9e6f1c-4f6a-5d8e-9a43-70c1a4e2d462",
    "hold_id": "1",
}


def _url(path: str) -> str:
    for name, value in _PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no test value for a path parameter in {path}: add one to _PATH_VALUES"
    return path


def test_every_route_but_the_public_ones_refuses_anonymous_wrong_role_and_untrained_callers(
    site: Site,
) -> None:
    users = {  # who holds what, trained and lapsed
        "ada": {Role.ADMIN},
        "sam": {Role.SUPERVISOR},
        "ivy": {Role.INVESTIGATOR},
        "aud": {Role.AUDITOR},
    }
    lapsed = {"la": {Role.ADMIN}, "ls": {Role.SUPERVISOR}, "li": {Role.INVESTIGATOR}, "lau": {Role.AUDITOR}}
    lapsed["lsa"] = {Role.SHARING_APPROVER}
    tokens = {name: site.bearer(name) for name in [*users, *lapsed]}
    failures: list[str] = []
    checked = 0
    for route in site.client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", None)
        assert path is not None, f"{route!r} in app.routes has no path"
        if isinstance(route, Mount):
            if not is_public(path):
                r = site.client.get(path + "/")
                if r.status_code != 401:
                    failures.append(f"mount {path}: anonymous got {r.status_code}")
            continue
        if path in PUBLIC or is_public(path):
            assert path in PUBLIC or path.startswith(("/login", "/static", "/docs-assets")), (
                f"{path} is public but not listed"
            )
            continue
        if isinstance(route, APIWebSocketRoute):
            guard = guard_of(route.dependant)
            if guard is None or not guard.roles or not guard.trained:
                failures.append(f"websocket {path}: no Require naming roles and training")
                continue
            wrong = next(n for n, held in users.items() if not held & guard.roles)
            untrained = next(n for n, held in lapsed.items() if held & guard.roles)
            for who, headers, want in (
                ("anonymous", {}, 4401),
                (wrong, tokens[wrong], 4403),
                (untrained, tokens[untrained], 4403),
            ):
                checked += 1
                with site.client.websocket_connect(_url(path), headers=headers) as ws:
                    first = ws.receive_json()
                    with pytest.raises(WebSocketDisconnect) as closed:
                        ws.receive_json()
                if first.get("type") != "error" or closed.value.code != want:
                    failures.append(f"websocket {path}: {who} got {first} and close {closed.value.code}")
            continue
        assert isinstance(route, APIRoute), f"{path}: a {type(route).__name__} the matrix does not know"
        guard = guard_of(route.dependant)
        if guard is None:
            failures.append(f"{path}: no Require dependency")
            continue
        if (not guard.roles or not guard.trained) and path not in ANY_LOGGED_IN:
            failures.append(f"{path}: open to any logged-in or untrained user but not listed as such")
        for method in sorted(route.methods or ()):
            url = _url(path)
            checked += 1
            r = site.client.request(method, url)
            if r.status_code != 401:
                failures.append(f"{method} {path}: anonymous got {r.status_code}")
            if guard.roles:
                wrong = next(n for n, held in users.items() if not held & guard.roles)
                r = site.client.request(method, url, headers=tokens[wrong])
                if r.status_code != 403 or r.json()["detail"]["code"] != "role":
                    failures.append(
                        f"{method} {path}: {wrong} (wrong role) got {r.status_code} {r.text[:80]}"
                    )
            if guard.trained:
                assert guard.roles, f"{path}: a route needing training should name its roles"
                untrained = next(n for n, held in lapsed.items() if held & guard.roles)
                r = site.client.request(method, url, headers=tokens[untrained])
                detail = r.json()["detail"] if r.status_code == 403 else {}
                if detail.get("code") != "training" or "training" not in detail.get("message", ""):
                    failures.append(
                        f"{method} {path}: {untrained} (lapsed) got {r.status_code} {r.text[:80]}"
                    )
    assert not failures, "\n".join(failures)
    assert checked >= 20


def test_a_refusal_by_role_or_training_is_logged_as_refused(site: Site) -> None:
    before = site.last_seq()
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=site.bearer("ada"))
    assert r.status_code == 403
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=site.bearer("una"))
    assert r.status_code == 403 and "no current ALPR training" in r.json()["detail"]["message"]
    refused = [row for row in site.rows_since(before) if row.action == "reads.search"]
    assert [(row.username, row.outcome) for row in refused] == [("ada", "refused"), ("una", "refused")]
    assert refused[0].reason is not None and refused[0].reason.startswith("role:")
    assert refused[1].reason is not None and refused[1].reason.startswith("training:")


def test_an_untrained_user_may_log_in_and_see_why(site: Site) -> None:
    r = site.client.get("/api/v1/auth/me", headers=site.bearer("una"))
    assert r.status_code == 200
    training_state = r.json()["training"]
    assert training_state["current"] is False and "462.2(d)" in training_state["reason"]


# --- the access log of the data routes ----------------------------------------------------------


def test_a_search_writes_one_row_with_who_what_why_and_which_reads(site: Site) -> None:
    headers = site.bearer("ivy")
    before = site.last_seq()
    r = site.client.get(
        "/api/v1/reads", params={**CASE, "plate": "7abc123", "camera": ["cam-0", "cam-1"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    got = r.json()["reads"]
    assert {g["plate"] for g in got} == {"7ABC123"} and len(got) == 2
    assert r.headers["cache-control"] == "no-store"
    (row,) = site.rows_since(before)  # one row per access, written by the search's own statement
    assert (row.action, row.username, row.organisation, row.outcome) == (
        "reads.search",
        "ivy",
        "PAPD",
        "allowed",
    )
    assert (row.purpose, row.case_number, row.client_address) == (
        "criminal investigation",
        "24-001234",
        "testclient",
    )
    assert row.terms["plate"] == "7abc123" and row.terms["cameras"] == ["cam-0", "cam-1"]
    assert "access_id" not in row.terms  # nothing to pair it with
    assert row.returned_count == 2 and set(row.returned_ids) == {g["read_id"] for g in got}


def test_one_read_and_its_image_each_write_one_row(site: Site) -> None:
    headers = site.bearer("ivy")
    read = site.reads[0]
    before = site.last_seq()
    r = site.client.get(f"/api/v1/reads/{read.read_id}", params=CASE, headers=headers)
    assert r.status_code == 200 and r.json()["plate"] == read.plate and r.json()["has_image"]
    r = site.client.get(f"/api/v1/reads/{read.read_id}/image", params=CASE, headers=headers)
    assert r.status_code == 200 and r.content == JPEG and r.headers["content-type"] == "image/jpeg"
    r = site.client.get(f"/api/v1/reads/{site.reads[2].read_id}/image", params=CASE, headers=headers)
    assert r.status_code == 404
    rows = site.rows_since(before)
    results = [x for x in rows if not x.action.endswith(".begun")]
    assert [(x.action, x.returned_ids) for x in results] == [
        ("reads.get", (read.read_id,)),  # one row: written by the read's own statement
        ("reads.image", (f"{read.read_id}/crop",)),  # each image: its access row and this one
        ("reads.image", ()),
    ]
    images = [x for x in results if x.action == "reads.image"]
    assert sorted((x.action, x.terms["access_id"]) for x in rows if x.action.endswith(".begun")) == sorted(
        (x.action + ".begun", x.terms["access_id"]) for x in images
    )
    assert all(x.case_number == "24-001234" and x.outcome == "allowed" for x in rows)


def test_a_search_and_a_read_write_their_result_row_in_their_own_statement(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No round trip after the data: the result row goes in with the query (access_log.ResultRow),
    so the row written after the query (`deps.write`) is never called for them."""

    def after_the_query(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a result row was written after the query")

    monkeypatch.setattr(deps, "write", after_the_query)
    headers = site.bearer("ivy")
    before = site.last_seq()
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7abc123", "limit": "1"}, headers=headers)
    assert r.status_code == 200, r.text
    (got,) = r.json()["reads"]
    assert r.json()["next_cursor"]  # one more matched than the page holds: the row names the page only
    read = site.reads[0]
    assert site.client.get(f"/api/v1/reads/{read.read_id}", params=CASE, headers=headers).status_code == 200
    missing = uuid.uuid4()
    assert site.client.get(f"/api/v1/reads/{missing}", params=CASE, headers=headers).status_code == 404
    results = [(x.action, x.returned_ids) for x in site.rows_since(before) if not x.action.endswith(".begun")]
    assert results == [
        ("reads.search", (got["read_id"],)),
        ("reads.get", (read.read_id,)),
        ("reads.get", ()),
    ]
    report = access_log.verify(site.conn)
    assert report.ok, report.problem


def test_requests_after_the_database_closed_the_apis_idle_connections_succeed(site: Site) -> None:
    """A database restart leaves the pool's idle connections dead. The pool checks a connection
    before lending it without a round trip (`app.lend_check`: the server's goodbye is waiting on
    the socket), so a dead one is replaced and the request does not fail."""
    headers = site.bearer("ivy")
    search = {**CASE, "plate": "7abc123"}
    assert site.client.get("/api/v1/reads", params=search, headers=headers).status_code == 200
    killed = site.conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchone()
    assert killed is not None and killed[0] >= 1
    time.sleep(0.2)
    for _ in range(3):
        r = site.client.get("/api/v1/reads", params=search, headers=headers)
        assert r.status_code == 200, r.text


def test_the_pools_check_makes_no_round_trip_on_a_healthy_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def round_trip(conn: psycopg.Connection) -> None:
        raise AssertionError("a round trip to check a healthy connection")

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(round_trip))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        lend_check(conn)  # idle, nothing waiting: no round trip
    with psycopg.connect(database_url, autocommit=True) as conn, psycopg.connect(database_url) as other:
        pid = conn.info.backend_pid
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)
        with pytest.raises(AssertionError, match="round trip"):
            lend_check(conn)  # the server's goodbye is waiting: now it checks


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"plate": "7ABC123"}, "purpose"),
        ({"plate": "7ABC123", "purpose": "curiosity", "case": "24-001234"}, "purpose"),
        ({"plate": "7ABC123", "purpose": "criminal investigation"}, "case"),
        ({"plate": "7ABC123", "purpose": "criminal investigation", "case": "not-a-case"}, "case"),
    ],
)
def test_a_request_without_purpose_or_case_is_refused_naming_the_field_and_logged(
    site: Site, params: dict[str, str], field: str
) -> None:
    headers = site.bearer("ivy")
    before = site.last_seq()
    r = site.client.get("/api/v1/reads", params=params, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == field and r.json()["detail"]["code"] == "purpose_required"
    rows = site.rows_since(before)
    assert len(rows) == 1 and rows[0].outcome == "refused" and rows[0].returned_count == 0
    assert rows[0].reason is not None and rows[0].reason.startswith(field)


def test_hostile_search_input_gets_a_4xx_never_a_500(site: Site) -> None:
    headers = site.bearer("ivy")
    for params in (
        {**CASE, "plate": "X" * 65},
        {**CASE, "pattern": "**"},
        {**CASE, "plate": "7ABC123", "pattern": "7AB*"},
        {**CASE, "limit": "0", "plate": "7ABC123"},
        {**CASE, "limit": "100000", "plate": "7ABC123"},
        {**CASE, "from": "yesterday", "plate": "7ABC123"},
        {**CASE, "from": "2024-01-01T00:00:00", "to": "2024-01-02T00:00:00"},
        {**CASE, "cursor": "!!!", "plate": "7ABC123"},
        {**CASE, "plate": "\x00\x00"},
        {"purpose": "criminal investigation\x00", "case": "24-001234", "plate": "7ABC123"},
        {**CASE, "case": "2" * 65},
    ):
        r = site.client.get("/api/v1/reads", params=params, headers=headers)
        assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
    assert site.client.get("/api/v1/reads/not-a-uuid", params=CASE, headers=headers).status_code == 422
    r = site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": "hunter2-secret" * 100})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "password" and "hunter2" not in r.text
    r = site.client.post(
        "/api/v1/auth/login", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500


def test_when_the_access_log_cannot_be_written_nothing_is_returned(site: Site) -> None:
    headers = site.bearer("ivy")
    before = site.last_seq()
    site.conn.execute("ALTER TABLE access_log ADD CONSTRAINT api_test_unwritable CHECK (seq < 0) NOT VALID")
    try:
        r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=headers)
        assert r.status_code == 503 and r.json()["detail"]["code"] == "access_log_unavailable"
        assert "7ABC123" not in r.text and "reads" not in r.json()
        r = site.client.get(f"/api/v1/reads/{site.reads[0].read_id}/image", params=CASE, headers=headers)
        assert r.status_code == 503 and JPEG not in r.content
        r = site.client.get("/api/v1/admin/users", headers=headers)
        assert r.status_code == 503  # ivy's refused row cannot be written either
    finally:
        site.conn.execute("ALTER TABLE access_log DROP CONSTRAINT api_test_unwritable")
    assert site.last_seq() == before


def test_an_image_whose_access_row_fails_returns_nothing_though_its_result_row_was_written(
    site: Site,
) -> None:
    """An image still writes an access row beside its query (policy/log_alongside.py); a search
    writes none, so refusing access rows leaves it answering."""
    headers = site.bearer("ivy")
    site.conn.execute(
        "ALTER TABLE access_log ADD CONSTRAINT api_test_no_access_row"
        " CHECK (action NOT LIKE '%.begun') NOT VALID"
    )
    try:
        before = site.last_seq()
        r = site.client.get(f"/api/v1/reads/{site.reads[0].read_id}/image", params=CASE, headers=headers)
        assert r.status_code == 503 and r.json()["detail"]["code"] == "access_log_unavailable"
        assert JPEG not in r.content
        r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=headers)
        assert r.status_code == 200 and len(r.json()["reads"]) == 2
        # the image's result row went in (it over-records a refused answer, never under-records one)
        assert [x.action for x in site.rows_since(before)] == ["reads.image", "reads.search"]
    finally:
        site.conn.execute("ALTER TABLE access_log DROP CONSTRAINT api_test_no_access_row")


def test_a_search_or_read_whose_query_fails_leaves_a_refused_row_naming_the_failure(site: Site) -> None:
    """The row is written by the query's statement, so a query that fails writes none: a refused
    row, written after, keeps the failed access on record. The failure here is real: the table the
    search and the read join is briefly missing."""
    headers = site.bearer("ivy")
    before = site.last_seq()
    site.conn.execute("ALTER TABLE read_corrections RENAME TO api_test_gone")
    try:
        r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=headers)
        assert r.status_code == 503 and r.json()["detail"]["code"] == "database_unavailable"
        r = site.client.get(f"/api/v1/reads/{site.reads[0].read_id}", params=CASE, headers=headers)
        assert r.status_code == 503 and site.reads[0].plate not in r.text
    finally:
        site.conn.execute("ALTER TABLE api_test_gone RENAME TO read_corrections")
    rows = site.rows_since(before)
    assert [(x.action, x.outcome, x.returned_count) for x in rows] == [
        ("reads.search", "refused", 0),
        ("reads.get", "refused", 0),
    ]
    assert all(x.username == "ivy" and x.case_number == "24-001234" for x in rows)
    assert rows[0].terms["plate"] == "7ABC123" and rows[1].terms == {"read_id": site.reads[0].read_id}
    assert rows[0].reason == "the query failed (UndefinedTable, SQLSTATE 42P01); nothing was returned"
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=headers)
    assert r.status_code == 200 and len(r.json()["reads"]) == 2  # the pool's connections recovered
    assert access_log.verify(site.conn).ok


def test_admin_changes_and_listings_write_one_row_each(site: Site) -> None:
    admin = site.bearer("ada")
    before = site.last_seq()
    r = site.client.post(
        "/api/v1/admin/users",
        json={"username": "neo", "display_name": "Neo", "organisation": "PAPD", "password": PASSWORD},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = site.client.post(
        "/api/v1/admin/users",
        json={"username": "neo2", "display_name": "N", "organisation": "PAPD", "password": "short"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["detail"]["code"] == "password_rejected"
    r = site.client.post(
        "/api/v1/admin/users/neo/roles", json={"role": "investigator", "reason": "new hire"}, headers=admin
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    grant_id = r.json()["grant_id"]
    assert site.client.get("/api/v1/admin/users", headers=admin).status_code == 200
    supervisor = site.bearer("sam")
    r = site.client.post(f"/api/v1/admin/grants/{grant_id}/approve", json={"note": "ok"}, headers=supervisor)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = site.client.post(
        "/api/v1/admin/training",
        json={"username": "neo", "course": COURSE, "completed_at": datetime.now(UTC).isoformat()},
        headers=supervisor,
    )
    assert r.status_code == 201, r.text
    r = site.client.get("/api/v1/admin/training/lapsing", params={"days": 30}, headers=supervisor)
    assert r.status_code == 200 and {"la", "li"} <= {x["username"] for x in r.json()}
    r = site.client.post("/api/v1/admin/users/neo/disable", json={"reason": "left"}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"]
    r = site.client.get("/api/v1/admin/review", headers=site.bearer("aud"))
    assert r.status_code == 200
    actions = [(x.action, x.outcome) for x in site.rows_since(before) if x.action not in ("login",)]
    assert actions == [
        ("user.create", "allowed"),
        ("admin.users.create", "refused"),
        ("role.request", "allowed"),
        ("admin.users.list", "allowed"),
        ("role.approve", "allowed"),
        ("training.record", "allowed"),
        ("admin.training.lapsing", "allowed"),
        ("user.disable", "allowed"),
        ("access.review", "allowed"),
    ]


def test_the_audit_log_filters_and_verify(site: Site) -> None:
    site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=site.bearer("ivy"))
    auditor = site.bearer("aud")
    r = site.client.get(
        "/api/v1/audit/log", params={"user": "ivy", "action": "reads.search"}, headers=auditor
    )
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert len(rows) == 1 and rows[0]["case_number"] == "24-001234"
    r = site.client.post("/api/v1/audit/verify", headers=auditor)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert site.client.post("/api/v1/audit/verify", headers=site.bearer("sam")).status_code == 403
    assert [(x.username, x.outcome) for x in site.rows("audit.verify")] == [
        ("sam", "refused"),
        ("aud", "allowed"),
    ]
    assert site.rows("audit.log")[0].returned_ids == (str(rows[0]["seq"]),)


# --- login, second factor, sessions --------------------------------------------------------------


def test_browser_login_sets_a_strict_httponly_cookie_and_needs_csrf_to_change_anything(site: Site) -> None:
    r = site.client.post(
        "/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD, "client": "browser"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token"] is None and body["csrf_token"] and body["user"]["username"] == "ivy"
    assert body["user"]["training"]["current"] is True and body["user"]["roles"] == ["investigator"]
    cookie = r.headers["set-cookie"]
    assert (
        "pw_session=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie
        and "Path=/" in cookie
    )
    assert "Secure" not in cookie
    assert site.client.get("/api/v1/auth/me").status_code == 200  # reading needs no CSRF header
    assert site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}).status_code == 200
    r = site.client.post("/api/v1/auth/logout")
    assert r.status_code == 403 and r.json()["detail"]["code"] == "csrf"
    r = site.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = site.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 200
    assert site.client.get("/api/v1/auth/me").status_code == 401
    assert [x.outcome for x in site.rows("auth.logout")] == ["refused", "refused"]
    assert site.rows("logout")[0].username == "ivy"


def test_bearer_tokens_need_no_csrf_and_logout_revokes_them(site: Site) -> None:
    headers = site.bearer("ivy")
    assert site.client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    r = site.client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "revoked"


def test_refused_logins_and_lockout(site: Site) -> None:
    for _ in range(2):
        r = site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": "wrong password!"})
        assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_credentials"
    r = site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": "wrong password!"})
    assert r.status_code == 401 and "locked" in r.json()["detail"]["message"]
    r = site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"]["code"] == "locked"
    assert "wrong password!" not in r.text
    r = site.client.post("/api/v1/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_credentials"
    assert site.rows("login.lockout")[0].username == "ivy"


def test_totp_enrolment_and_login_with_a_code_or_a_recovery_code(make_site: Any) -> None:
    site: Site = make_site(mfa_required=True)
    headers = site.bearer("ivy")  # single factor: enough to enrol, not to read
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers=headers)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "second_factor"
    me = site.client.get("/api/v1/auth/me", headers=headers).json()
    assert me["must_enrol_mfa"] is True
    enrolment = site.client.post("/api/v1/auth/mfa/enrol", headers=headers).json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enrolment["secret"])
    r = site.client.post(
        "/api/v1/auth/mfa/confirm",
        json={"code": "000000" if totp.now() != "000000" else "111111"},
        headers=headers,
    )
    assert r.status_code == 400
    r = site.client.post("/api/v1/auth/mfa/confirm", json={"code": totp.now()}, headers=headers)
    assert r.status_code == 200
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10
    r = site.client.post(
        "/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD, "client": "cli"}
    )
    assert r.status_code == 401 and r.json()["detail"]["code"] == "second_factor_required"
    r = site.client.post(
        "/api/v1/auth/login",
        json={"username": "ivy", "password": PASSWORD, "client": "cli", "recovery_code": codes[0]},
    )
    assert r.status_code == 200
    token = r.json()["token"]
    r = site.client.get(
        "/api/v1/reads", params={**CASE, "plate": "7ABC123"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    r = site.client.post(
        "/api/v1/auth/login",
        json={"username": "ivy", "password": PASSWORD, "client": "cli", "recovery_code": codes[0]},
    )
    assert r.status_code == 401 and r.json()["detail"]["code"] == "second_factor_invalid"


def test_an_idle_session_ends(site: Site) -> None:
    headers = site.bearer("ivy")
    site.conn.execute("UPDATE sessions SET last_seen_at = now() - interval '31 minutes'")
    r = site.client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "idle"


def test_login_is_rate_limited_per_user_and_per_address(make_site: Any) -> None:
    site: Site = make_site(login_attempts_per_user=2, login_attempts_per_address=5, lockout_after=50)
    for _ in range(2):
        site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": "wrong password!"})
    r = site.client.post("/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["detail"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    for name in ("sam", "aud"):
        assert (
            site.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}).status_code
            == 200
        )
    r = site.client.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 429  # the sixth attempt from this address


def test_metrics_needs_the_token_or_a_loopback_client(site: Site) -> None:
    assert site.client.get("/metrics").status_code == 401
    assert site.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    r = site.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200 and "python_info" in r.text
    local = TestClient(site.client.app, client=("127.0.0.1", 50000))
    assert local.get("/metrics").status_code == 200
    assert site.client.get("/healthz").json()["status"] == "ok"


def test_the_openapi_schema_declares_cookie_and_bearer_and_needs_a_session(site: Site) -> None:
    assert site.client.get("/openapi.json").status_code == 401
    schema = site.client.get("/openapi.json", headers=site.bearer("una")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["session_cookie"] == {
        **schemes["session_cookie"],
        "type": "apiKey",
        "in": "cookie",
        "name": "pw_session",
    }
    assert schemes["bearer_token"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/reads"]["get"]["security"] == [
        {"session_cookie": []},
        {"bearer_token": []},
    ]
