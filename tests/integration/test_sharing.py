"""Data-sharing requests on PostgreSQL (policy 462.6, Civil Code § 1798.90.55): eligibility refused
with the rule named and kept on file, approval rules, records that no one can change or delete,
release only under an approved request and inside its scope, and the access-log rows; then the
same through the HTTP API."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from policy_people import COURSE, KEY, PASSWORD, Department, cheap_hashes, found_department

from platewatch.codecs import Read
from platewatch.engine.api import create_api
from platewatch.engine.api import evidence as evidence_api
from platewatch.engine.api import sharing as sharing_api
from platewatch.engine.api.app import check_guarded, include
from platewatch.engine.api.deps import guard_of
from platewatch.engine.config import load_settings
from platewatch.engine.policy import access_log, accounts, sharing, training
from platewatch.engine.policy.errors import NotFound, NotPermitted
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.sharing import (
    RULE_CALIFORNIA,
    RULE_LAW_ENFORCEMENT,
    RULE_PUBLIC_AGENCY,
    Agency,
    AgencyKind,
    AlreadyDecided,
    DataAsked,
    Document,
    NewRequest,
    NotEligible,
)
from platewatch.engine.services.postgres import APP_ROLE
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
PDF = b"%PDF-1.7\n1 0 obj << /Title (Request for ALPR data, case 24-0917) >> endobj\n%%EOF\n"
TABLES = {  # each with a text column an edit would change
    "sharing_requests": "purpose",
    "sharing_documents": "filename",
    "sharing_decisions": "note",
    "sharing_releases": "export_id",
}
POLICE = Agency("Mountain View Police Department", AgencyKind.LAW_ENFORCEMENT, "CA", True)


@dataclass
class Office:
    dept: Department
    reads: dict[str, Read]  # by a name the tests use

    @property
    def conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self.dept.conn
        return conn

    def new(self, agency: Agency = POLICE, **data: Any) -> NewRequest:
        asked: dict[str, Any] = {
            "plate": "7ABC123",
            "pattern": None,
            "time_from": T0,
            "time_to": T0 + timedelta(days=1),
            "cameras": ("gate",),
        }
        asked.update(data)
        return NewRequest(
            agency=agency,
            requester_name="Det. Rivera",
            requester_contact="rivera@mvpd.example, 650-555-0100",
            case_number="24-000917",
            purpose="stolen vehicle used in a robbery",
            legal_basis="Penal Code 1524 warrant 24-W-88",
            agency_reference="MV-24-3312",
            data=DataAsked(**asked),
            document=Document("request.pdf", "application/pdf", PDF),
        )

    def enter(self, by: str = "ivy", new: NewRequest | None = None) -> sharing.SharingRequest:
        return sharing.enter_request(self.conn, self.dept.cfg, self.dept.actor(by), new or self.new())

    def decide(self, by: str, request_id: int, approve: bool = True, **kw: Any) -> sharing.SharingRequest:
        return sharing.decide(
            self.conn, self.dept.cfg, self.dept.actor(by), request_id, approve=approve, note="checked", **kw
        )

    def rows_since(self, seq: int) -> list[access_log.LogRow]:
        return [r for r in reversed(access_log.query(self.conn, limit=1000)) if r.seq > seq]

    def last_seq(self) -> int:
        head = access_log.head(self.conn)
        return head.seq if head else 0


def _read(camera: str, minutes: float, plate: str) -> Read:
    return Read(
        read_id=str(uuid.uuid4()),
        camera_id=camera,
        time=(T0 + timedelta(minutes=minutes)).timestamp(),
        plate=plate,
        confidence=0.9,
    )


@pytest.fixture
def office(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    reads = {
        "in": _read("gate", 60, "7ABC123"),
        "in2": _read("gate", 120, "7ABC123"),
        "other_plate": _read("gate", 60, "7ABC124"),
        "other_camera": _read("north", 60, "7ABC123"),
        "too_late": _read("gate", 60 * 25, "7ABC123"),
    }
    writer = ReadWriter(database_url)
    try:
        writer.write(list(reads.values()))
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn, load_settings(access={"mfa_required": False}).access)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("cap", Role.SHARING_APPROVER)  # the Administrative Services Division Captain
        dept.add("lt", Role.SHARING_APPROVER, Role.INVESTIGATOR)  # a designee who also investigates
        dept.add("old", Role.SHARING_APPROVER, trained=False)
        yield Office(dept, reads)


# --- entering a request ------------------------------------------------------------------------


def test_the_sharing_approver_role_is_granted_only_on_a_supervisors_approval(office: Office) -> None:
    accounts.create_user(
        office.conn, office.dept.admin, username="neo", display_name="Neo", organisation="PAPD",
        password=PASSWORD, must_change_password=False,
    )  # fmt: skip
    grant = accounts.request_role(office.conn, office.dept.admin, "neo", Role.SHARING_APPROVER)
    assert grant.status == "pending"
    accounts.approve_grant(office.conn, office.dept.cfg, office.dept.supervisor, grant.grant_id)
    row = office.conn.execute(
        "SELECT approved_by FROM user_roles JOIN users USING (user_id) WHERE username = 'neo' AND role = %s",
        (Role.SHARING_APPROVER.value,),
    ).fetchone()
    assert row == ("sam",)


def test_an_eligible_request_is_kept_with_its_written_request_and_logged(office: Office) -> None:
    before = office.last_seq()
    made = office.enter()
    assert made.status() == "pending" and made.eligible and made.entered_by == "ivy"
    assert made.data.plate == "7ABC123" and made.data.cameras == ("gate",)
    assert made.document is not None and made.document.sha256 == hashlib.sha256(PDF).hexdigest()
    doc = sharing.get_document(office.conn, made.request_id)
    assert doc.content == PDF and doc.content_type == "application/pdf"
    [row] = office.rows_since(before)
    assert (row.action, row.username, row.outcome, row.case_number) == (
        "sharing.request",
        "ivy",
        "allowed",
        "24-000917",
    )
    assert row.terms["request_id"] == made.request_id and row.terms["agency"] == POLICE.name
    assert row.terms["document_sha256"] == hashlib.sha256(PDF).hexdigest()


@pytest.mark.parametrize(
    ("agency", "rules"),
    [
        (Agency("Acme Repo", AgencyKind.PRIVATE, "CA", False), [RULE_PUBLIC_AGENCY, RULE_LAW_ENFORCEMENT]),
        (Agency("Reno Police Department", AgencyKind.LAW_ENFORCEMENT, "NV", True), [RULE_CALIFORNIA]),
        (Agency("U.S. Immigration and Customs", AgencyKind.LAW_ENFORCEMENT, "US", True), [RULE_CALIFORNIA]),
        (Agency("PA School District", AgencyKind.OTHER_PUBLIC, "CA", True), [RULE_LAW_ENFORCEMENT]),
    ],
)  # fmt: skip
def test_an_ineligible_agency_is_refused_naming_the_rule_and_kept_on_file(
    office: Office, agency: Agency, rules: list[str]
) -> None:
    before = office.last_seq()
    with pytest.raises(NotEligible) as refused:
        office.enter(new=office.new(agency))
    assert [r.rule for r in refused.value.refusals] == rules
    for rule in rules:
        assert rule in str(refused.value)
    if RULE_LAW_ENFORCEMENT in rules:
        assert "records release process" in str(refused.value)
    kept = sharing.get_request(office.conn, refused.value.request_id)
    assert kept.status() == "refused" and kept.refusal is not None and rules[0] in kept.refusal
    assert sharing.get_document(office.conn, kept.request_id).content == PDF
    [row] = office.rows_since(before)
    assert row.action == "sharing.request" and row.outcome == "refused"
    assert row.reason is not None and all(rule in row.reason for rule in rules)
    with pytest.raises(sharing.SharingError, match="nothing to decide"):
        office.decide("cap", kept.request_id)


def test_only_investigators_and_supervisors_enter_requests(office: Office) -> None:
    with pytest.raises(NotPermitted, match="investigator or supervisor"):
        office.enter(by="cap")
    with pytest.raises(NotPermitted, match="named user"):
        sharing.enter_request(office.conn, office.dept.cfg, office.dept.operator, office.new())
    with pytest.raises(sharing.SharingError, match="case or incident number"):
        office.enter(new=NewRequest(**{**vars(office.new()), "case_number": "whenever"}))
    assert office.conn.execute("SELECT count(*) FROM sharing_requests").fetchone() == (0,)


# --- deciding ----------------------------------------------------------------------------------


def test_approval_rules(office: Office) -> None:
    own = office.enter(by="lt")
    before = office.last_seq()
    with pytest.raises(NotPermitted, match=r"lt entered request #\d+, so another sharing approver"):
        office.decide("lt", own.request_id)
    with pytest.raises(NotPermitted, match="sharing_approver role"):
        office.decide("ivy", own.request_id)
    with pytest.raises(NotPermitted, match="sharing_approver role"):
        office.decide("sam", own.request_id)  # a supervisor is not an approver by that alone
    with pytest.raises(NotPermitted, match="training"):
        office.decide("old", own.request_id)
    with pytest.raises(NotPermitted, match="named user"):
        sharing.decide(
            office.conn, office.dept.cfg, office.dept.operator, own.request_id, approve=True, note="x"
        )
    with pytest.raises(NotFound):
        office.decide("cap", 999_999)
    assert office.rows_since(before) == []  # refusals are logged by the API, which knows the route
    approved = office.decide("cap", own.request_id, valid_days=10)
    assert approved.status() == "approved" and approved.decision is not None
    assert approved.decision.decided_by == "cap" and approved.decision.note == "checked"
    assert approved.decision.expires_at is not None
    assert timedelta(days=9) < approved.decision.expires_at - datetime.now(UTC) <= timedelta(days=10)
    with pytest.raises(AlreadyDecided, match="already approved by cap"):
        office.decide("cap", own.request_id, approve=False)
    other = office.enter()
    denied = office.decide("lt", other.request_id, approve=False)  # lt did not enter this one
    assert denied.status() == "denied" and denied.decision is not None and denied.decision.expires_at is None
    with pytest.raises(AlreadyDecided, match="already denied"):
        office.decide("cap", other.request_id)
    rows = [r for r in office.rows_since(before) if r.action != "sharing.request"]
    assert [(r.action, r.username, r.terms["request_id"]) for r in rows] == [
        ("sharing.approve", "cap", own.request_id),
        ("sharing.deny", "lt", other.request_id),
    ]
    assert rows[0].terms["agency"] == POLICE.name and rows[0].terms["note"] == "checked"
    pending = sharing.list_requests(office.conn, status="pending")
    assert pending == []
    assert [r.request_id for r in sharing.list_requests(office.conn, status="denied")] == [other.request_id]
    assert [r.request_id for r in sharing.list_requests(office.conn)] == [other.request_id, own.request_id]


@pytest.mark.parametrize("as_app_role", [False, True])
def test_requests_and_decisions_are_never_changed_or_deleted(office: Office, as_app_role: bool) -> None:
    made = office.enter()
    office.decide("cap", made.request_id)
    check = sharing.release_allowed(office.conn, made.request_id, [office.reads["in"].read_id])
    with office.conn.transaction():
        sharing.record_release(office.conn, office.dept.actor("ivy"), check, export_id="e1")
    for table, column in TABLES.items():
        for statement in (
            f"UPDATE {table} SET {column} = 'edited'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table} CASCADE",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused, office.conn.transaction():
                if as_app_role:
                    office.conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
                office.conn.execute(statement)
            if not as_app_role:  # the owner has the privilege: the trigger refuses
                assert "kept on file" in str(refused.value)
    for table in TABLES:
        assert office.conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
    assert sharing.get_request(office.conn, made.request_id).status() == "approved"


# --- releasing ---------------------------------------------------------------------------------


def test_release_only_under_an_approved_request_and_inside_what_it_asked_for(office: Office) -> None:
    ids = {name: r.read_id for name, r in office.reads.items()}
    made = office.enter()
    check = sharing.release_allowed(office.conn, made.request_id, [ids["in"]])
    assert not check and check.reason is not None and "awaits a sharing approver" in check.reason
    denied = office.enter()
    office.decide("cap", denied.request_id, approve=False)
    check = sharing.release_allowed(office.conn, denied.request_id, [ids["in"]])
    assert not check and "was denied" in (check.reason or "")
    assert not sharing.release_allowed(office.conn, 999_999, [ids["in"]])
    office.decide("cap", made.request_id)
    check = sharing.release_allowed(office.conn, made.request_id, [ids["in"], ids["in2"], ids["in"]])
    assert check and check.read_ids == (ids["in"], ids["in2"])
    for name in ("other_plate", "other_camera", "too_late"):
        check = sharing.release_allowed(office.conn, made.request_id, [ids["in"], ids[name]])
        assert not check and check.outside == (ids[name],) and "policy 462.6" in (check.reason or "")
    unknown = str(uuid.uuid4())
    check = sharing.release_allowed(office.conn, made.request_id, [ids["in"], unknown])
    assert not check and check.missing == (unknown,)
    assert not sharing.release_allowed(office.conn, made.request_id, ["not-a-uuid"])
    assert not sharing.release_allowed(office.conn, made.request_id, [])
    later = datetime.now(UTC) + timedelta(days=31)
    check = sharing.release_allowed(office.conn, made.request_id, [ids["in"]], now=later)
    assert not check and "was approved until" in (check.reason or "")
    # a pattern and any camera: the other camera's read is inside, the other plate too (7ABC12?)
    wide = office.enter(new=office.new(plate=None, pattern="7ABC12?", cameras=()))
    office.decide("cap", wide.request_id)
    assert sharing.release_allowed(
        office.conn, wide.request_id, [ids["in"], ids["other_camera"], ids["other_plate"]]
    )
    assert not sharing.release_allowed(office.conn, wide.request_id, [ids["too_late"]])


def test_a_release_is_filed_and_logged_as_a_transfer_naming_agency_and_request(office: Office) -> None:
    made = office.enter()
    office.decide("cap", made.request_id)
    check = sharing.release_allowed(office.conn, made.request_id, [office.reads["in"].read_id])
    before = office.last_seq()
    with office.conn.transaction():
        release_id = sharing.record_release(
            office.conn, office.dept.actor("ivy"), check, export_id="bundle-1", manifest_sha256="ab" * 32
        )
    [row] = office.rows_since(before)
    assert (row.action, row.username, row.case_number) == ("sharing.release", "ivy", "24-000917")
    assert row.terms["agency"] == POLICE.name and row.terms["request_id"] == made.request_id
    assert row.terms["transfer"] is True and row.terms["release_id"] == release_id
    assert row.returned_ids == (office.reads["in"].read_id,)
    [filed] = sharing.get_request(office.conn, made.request_id).releases
    assert (filed.release_id, filed.read_count, filed.export_id) == (release_id, 1, "bundle-1")
    refused = sharing.release_allowed(office.conn, made.request_id, [office.reads["too_late"].read_id])
    with pytest.raises(sharing.SharingError, match="outside"):
        sharing.record_release(office.conn, office.dept.actor("ivy"), refused)


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def client(office: Office, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path, access={"mfa_required": False, "totp_secret_key": KEY.decode()}
    )
    app = create_api(settings, database_url=database_url)
    for router in (sharing_api.router, evidence_api.router):  # until engine/api/app.py lists them
        if not any(getattr(r, "path", "").startswith(router.prefix) for r in app.routes):
            include(app, router)
    check_guarded(app)
    training.record_training(
        office.conn, office.dept.cfg, office.dept.supervisor, "ada", COURSE, datetime.now(UTC)
    )
    with TestClient(app) as c:
        yield c


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _form(**over: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "agency": POLICE.name,
        "agency_kind": "law_enforcement",
        "agency_state": "CA",
        "agency_is_public": "true",
        "requester_name": "Det. Rivera",
        "requester_contact": "rivera@mvpd.example",
        "case_number": "24-000917",
        "purpose": "stolen vehicle used in a robbery",
        "legal_basis": "Penal Code 1524 warrant 24-W-88",
        "plate": "7ABC123",
        "time_from": T0.isoformat(),
        "time_to": (T0 + timedelta(days=1)).isoformat(),
        "cameras": ["gate"],
    }
    form.update(over)
    return form


def _pdf(content: bytes = PDF, kind: str = "application/pdf") -> dict[str, Any]:
    return {"document": ("request.pdf", content, kind)}


def test_the_api_enters_shows_decides_and_releases_with_one_log_row_each(
    office: Office, client: TestClient
) -> None:
    ivy, cap, lt = (_bearer(client, n) for n in ("ivy", "cap", "lt"))
    before = office.last_seq()
    r = client.post("/api/v1/sharing/requests", data=_form(), files=_pdf(), headers=ivy)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "pending" and made["document"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    request_id = made["request_id"]
    r = client.post(
        "/api/v1/sharing/requests",
        data=_form(agency="Acme Repossessions LLC", agency_kind="private", agency_is_public="false"),
        files=_pdf(),
        headers=ivy,
    )
    assert r.status_code == 422 and r.json()["detail"]["code"] == "not_eligible"
    assert r.json()["detail"]["rules"] == [RULE_PUBLIC_AGENCY, RULE_LAW_ENFORCEMENT]
    assert "records release process" in r.json()["detail"]["message"]
    refused_id = r.json()["detail"]["request_id"]
    r = client.post(
        "/api/v1/sharing/requests", data=_form(), files=_pdf(b"<html>", "application/pdf"), headers=ivy
    )
    assert r.status_code == 415 and r.json()["detail"]["field"] == "document"
    huge = _pdf(b"%PDF-" + bytes(sharing.MAX_DOCUMENT_BYTES))
    r = client.post("/api/v1/sharing/requests", data=_form(), files=huge, headers=ivy)
    assert r.status_code == 413
    r = client.post("/api/v1/sharing/requests", data=_form(plate="", pattern=""), files=_pdf(), headers=ivy)
    assert r.status_code == 400 and "one plate or one pattern" in r.json()["detail"]["message"]
    r = client.post("/api/v1/sharing/requests", data=_form(), files=_pdf(), headers=cap)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "role"

    r = client.get("/api/v1/sharing/requests", params={"status": "pending"}, headers=cap)
    assert r.status_code == 200 and [x["request_id"] for x in r.json()] == [request_id]
    r = client.get(f"/api/v1/sharing/requests/{refused_id}", headers=ivy)
    assert r.status_code == 200 and r.json()["status"] == "refused"
    r = client.get(f"/api/v1/sharing/requests/{request_id}/document", headers=cap)
    assert r.status_code == 200 and r.content == PDF and r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    assert "attachment" in r.headers["content-disposition"]
    assert client.get("/api/v1/sharing/requests/999999", headers=ivy).status_code == 404

    wanted = [office.reads["in"].read_id, office.reads["in2"].read_id]
    release = {"read_ids": wanted, "evidence_booking": "EB-24-5531"}
    r = client.post(f"/api/v1/sharing/requests/{request_id}/release", json=release, headers=ivy)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "not_approved"
    decision = f"/api/v1/sharing/requests/{request_id}/decision"
    r = client.post(decision, json={"decision": "approve", "note": "ok"}, headers=ivy)
    assert r.status_code == 403
    r = client.post(decision, json={"decision": "approve", "note": "warrant seen"}, headers=cap)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert r.json()["decision"]["decided_by"] == "cap"
    r = client.post(decision, json={"decision": "deny", "note": "no"}, headers=lt)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "already_decided"
    outside = {"read_ids": [office.reads["too_late"].read_id], "evidence_booking": "EB-24-5531"}
    r = client.post(f"/api/v1/sharing/requests/{request_id}/release", json=outside, headers=ivy)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "outside_request"
    r = client.post(f"/api/v1/sharing/requests/{request_id}/release", json=release, headers=lt)
    assert r.status_code == 201, r.text
    released = r.json()
    assert released["agency"] == POLICE.name and sorted(released["read_ids"]) == sorted(wanted)
    export_id = released["export_id"]
    exported = office.conn.execute(
        "SELECT case_number, booking_number, purpose, manifest_sha256 FROM evidence_exports"
        " WHERE export_id = %s",
        (export_id,),
    ).fetchone()
    assert exported == (
        "24-000917",
        "EB-24-5531",
        f"data-sharing request #{request_id} ({POLICE.name})",
        released["manifest_sha256"],
    )
    [filed] = sharing.get_request(office.conn, request_id).releases
    assert (filed.release_id, filed.released_by, filed.read_count, filed.export_id) == (
        released["release_id"],
        "lt",
        2,
        export_id,
    )
    r = client.get(
        released["bundle"], params={"purpose": "criminal investigation", "case": "24-000917"}, headers=ivy
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"  # the zip, through the evidence routes

    rows = [r for r in office.rows_since(before) if r.action != "login"]
    assert [(r.action, r.username, r.outcome) for r in rows] == [
        ("sharing.request", "ivy", "allowed"),
        ("sharing.request", "ivy", "refused"),
        ("sharing.requests.create", "ivy", "refused"),  # not a PDF
        ("sharing.requests.create", "ivy", "refused"),  # too large
        ("sharing.requests.create", "ivy", "refused"),  # neither plate nor pattern
        ("sharing.requests.create", "cap", "refused"),  # wrong role
        ("sharing.requests.list", "cap", "allowed"),
        ("sharing.requests.get", "ivy", "allowed"),
        ("sharing.requests.document", "cap", "allowed"),
        ("sharing.requests.get", "ivy", "refused"),  # no such request
        ("sharing.requests.release", "ivy", "refused"),  # not approved yet
        ("sharing.requests.decide", "ivy", "refused"),  # wrong role
        ("sharing.approve", "cap", "allowed"),
        ("sharing.requests.decide", "lt", "refused"),  # already decided
        ("sharing.requests.release", "ivy", "refused"),  # outside the request
        ("sharing.release", "lt", "allowed"),  # the transfer
        ("evidence.bundle", "ivy", "allowed"),
    ]
    releases = [r for r in rows if "release" in r.action]
    assert all(r.terms["request_id"] == request_id and r.terms["agency"] == POLICE.name for r in releases)
    transfer = rows[-2]
    assert transfer.terms["transfer"] is True and transfer.terms["export_id"] == export_id
    assert sorted(transfer.returned_ids) == sorted(wanted) and transfer.case_number == "24-000917"
    assert transfer.purpose == f"data-sharing request #{request_id}"
    assert rows[9].reason is not None and "no sharing request #999999" in rows[9].reason


def test_every_sharing_route_refuses_anonymous_and_wrong_role_callers(
    office: Office, client: TestClient
) -> None:
    tokens = {name: _bearer(client, name) for name in ("ada", "ivy", "cap", "old")}
    held = {"ada": {Role.ADMIN}, "ivy": {Role.INVESTIGATOR}, "cap": {Role.SHARING_APPROVER}}
    checked = 0
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1/sharing"):
            continue
        guard = guard_of(route.dependant)
        assert guard is not None and guard.roles and guard.trained
        url = route.path.replace("{request_id}", "1")
        for method in sorted(route.methods or ()):
            checked += 1
            assert client.request(method, url).status_code == 401
            wrong = next(n for n, roles in held.items() if not roles & guard.roles)
            r = client.request(method, url, headers=tokens[wrong])
            assert r.status_code == 403 and r.json()["detail"]["code"] == "role", (method, url, wrong)
            if Role.SHARING_APPROVER in guard.roles:
                r = client.request(method, url, headers=tokens["old"])  # an approver without training
                assert r.status_code == 403 and r.json()["detail"]["code"] == "training"
    assert checked == 6
