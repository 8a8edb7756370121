"""Hostile input against the whole HTTP API (issue #24): schemathesis generates requests for every
operation in the app's own OpenAPI schema, sent with a session of each role and with none.

What must hold for any input: no 5xx (a refusal is 4xx with a reason), no route open without a session,
and the API still answers after the run. The schema is read from the running app, so a route added
later is fuzzed without touching this file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from api_server import store_reads
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_people import KEY, PASSWORD, cheap_hashes, found_department
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from platewatch.codecs import Read
from platewatch.engine.api import create_api
from platewatch.engine.api.security import is_public
from platewatch.engine.config import load_settings
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

pytestmark = pytest.mark.slow

# Routes that end the fuzzing session itself: logging out or changing the password would turn every
# later example into a 401, which proves nothing about the route under test.
SESSION_ENDERS = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password")}
EXAMPLES_PER_OPERATION = 12
T0 = datetime.now(UTC) - timedelta(hours=1)


def _token(client: TestClient, username: str) -> str:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli"})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


@pytest.fixture
def fuzz_site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    reads = [
        Read(read_id=str(uuid.uuid4()), camera_id="cam-1", time=(T0 + timedelta(minutes=i)).timestamp(),
             plate=plate, confidence=0.9)
        for i, plate in enumerate(["7ABC123", "8XYZ999"])
    ]  # fmt: skip
    store_reads(database_url, reads, tmp_path / "images")
    cfg = load_settings(
        data_dir=tmp_path,
        access={"mfa_required": False, "totp_secret_key": KEY.decode(), "lockout_after": 100},
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn, cfg.access)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("dot", Role.DISPATCHER)
        dept.add("aud", Role.AUDITOR)
        with TestClient(create_api(cfg, database_url=database_url)) as client:
            tokens = {name: _token(client, name) for name in ("ada", "sam", "ivy", "dot", "aud")}
            yield client, tokens


def _operations(client: TestClient, token: str) -> list[Any]:
    r = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    schema = schemathesis.openapi.from_dict(r.json())
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if (op.method.upper(), op.path) not in SESSION_ENDERS]


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"params": case.query or None, "headers": {**(case.headers or {}), **headers}}
    if isinstance(case.body, bytes):
        kwargs["content"] = case.body
    elif case.body is not None and not isinstance(case.body, NotSet):
        kwargs["content"] = json.dumps(case.body, default=repr).encode()
        kwargs["headers"].setdefault("content-type", "application/json")
    return client.request(case.method, case.formatted_path, **kwargs)


def _fuzz(
    op: Any, client: TestClient, tokens: dict[str, str], failures: list[str], seen: dict[int, int]
) -> None:
    """Send `op` generated requests (valid by its schema and deliberately invalid), each with a
    random role's session or none, noting what breaks."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=st.one_of(op.as_strategy(), op.as_strategy(GenerationMode.NEGATIVE)),
        who=st.sampled_from([*sorted(tokens), None]),
    )
    def probe(case: Any, who: str | None) -> None:
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        try:
            r = _send(client, case, headers)
        except (UnicodeEncodeError, ValueError):  # the HTTP client refuses to send it: nothing reached us
            return
        seen[r.status_code // 100] = seen.get(r.status_code // 100, 0) + 1
        if r.status_code >= 500:
            failures.append(f"{op.label} as {who}: {r.status_code} {r.text[:200]}")
        if who is None and not is_public(op.path) and r.status_code != 401:
            failures.append(f"{op.label} without a session answered {r.status_code}")

    probe()


def test_no_input_makes_the_api_fail_or_open(fuzz_site: Any) -> None:
    client, tokens = fuzz_site
    ops = _operations(client, tokens["sam"])
    assert len(ops) > 20  # the whole API, not a corner of it
    failures: list[str] = []
    seen: dict[int, int] = {}  # answers by class: 2 for 2xx, 4 for 4xx
    for op in ops:
        _fuzz(op, client, tokens, failures, seen)
    assert seen.get(2, 0) > 0  # some inputs got through to the handlers, not only to the validators
    assert not failures, "\n".join(failures[:20])
    assert client.get("/healthz").status_code == 200


def test_an_oversized_body_is_refused_and_the_api_goes_on(fuzz_site: Any) -> None:
    client, tokens = fuzz_site
    auth = {"Authorization": f"Bearer {tokens['ivy']}", "content-type": "application/json"}
    huge = b'{"plate": "' + b"A" * (2 * 1024 * 1024) + b'"}'
    r = client.post(f"/api/v1/reads/{uuid.uuid4()}/correction", content=huge, headers=auth)
    assert r.status_code == 413 and r.json()["detail"]["code"] == "body_too_large"

    def chunked() -> Iterator[bytes]:
        yield b'{"plate": "'
        for _ in range(40):
            yield b"A" * 65536
        yield b'"}'

    r = client.post(f"/api/v1/reads/{uuid.uuid4()}/correction", content=chunked(), headers=auth)
    assert r.status_code == 413
    small = client.post(f"/api/v1/reads/{uuid.uuid4()}/correction", json={"plate": "7ABC123"}, headers=auth)
    assert small.status_code in (404, 422)  # reached the route: no such read (or a field it wants)
    assert client.get("/healthz").status_code == 200
