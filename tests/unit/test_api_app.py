"""The API without a database: which routes are public, the guard check that refuses an open route,
how a token is taken from a request, and who may scrape /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.requests import Request
from starlette.routing import Mount

from platewatch.engine.api import create_api
from platewatch.engine.api.app import check_guarded
from platewatch.engine.api.deps import READS, guard_of
from platewatch.engine.api.security import (
    is_loopback,
    is_public,
    metrics_allowed,
    presented_token,
)
from platewatch.engine.config import load_settings
from platewatch.engine.policy.roles import Role


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_api(load_settings(data_dir=tmp_path))


def test_only_the_listed_paths_are_public() -> None:
    public = (
        "/healthz",
        "/api/v1/auth/login",
        "/",
        "/login",
        "/dispatch",
        "/static",
        "/static/app.js",
        "/metrics",
    )
    for path in (*public, "/docs-assets/swagger-ui.css"):
        assert is_public(path), path
    for path in (
        "/api/v1/reads",
        "/api/v1/auth/me",
        "/docs",
        "/openapi.json",
        "/loginx",
        "/docs-assetsx",
        "//",
    ):
        assert not is_public(path), path


def test_every_route_of_the_app_is_public_or_guarded(app: FastAPI) -> None:
    for route in app.routes:
        if isinstance(route, Mount):  # the login page's and Swagger UI's assets
            assert route.path in ("/static", "/docs-assets") and is_public(route.path)
            continue
        assert isinstance(route, APIRoute | APIWebSocketRoute)
        assert is_public(route.path) or guard_of(route.dependant) is not None, route.path
    search = next(r for r in app.routes if isinstance(r, APIRoute) and r.name == "reads.search")
    assert guard_of(search.dependant) is READS and READS.roles == {Role.INVESTIGATOR, Role.SUPERVISOR}


def test_an_unguarded_route_stops_the_app_from_being_built(app: FastAPI) -> None:
    @app.get("/api/v1/oops")
    def oops() -> dict[str, str]:
        return {"plates": "everything"}

    with pytest.raises(RuntimeError, match="/api/v1/oops"):
        check_guarded(app)


def test_an_included_router_is_refused_so_no_route_hides_inside_it(app: FastAPI) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/v1/hidden")
    def hidden() -> None: ...

    app.include_router(router)
    if any(getattr(r, "path", None) is None for r in app.routes):  # newer FastAPI nests routers
        with pytest.raises(RuntimeError, match="include"):
            check_guarded(app)
    else:
        with pytest.raises(RuntimeError, match="/api/v1/hidden"):
            check_guarded(app)


def test_health_answers_without_a_database_and_data_routes_do_not(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/api/v1/reads", headers={"Authorization": "Bearer pw_x"})
    assert r.status_code == 503 and r.json()["detail"]["code"] == "database_unavailable"


def test_a_bearer_header_wins_over_the_cookie_and_odd_tokens_are_ignored() -> None:
    bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials="pw_header")
    assert presented_token("pw_cookie", bearer) == ("pw_header", False)
    assert presented_token("pw_cookie", None) == ("pw_cookie", True)
    assert presented_token(None, None) == (None, False)
    assert presented_token("x" * 500, None) == (None, False)
    assert presented_token("pw_é", None) == (None, False)


def _request(client: str, authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request(
        {"type": "http", "client": (client, 1234), "headers": headers, "method": "GET", "path": "/metrics"}
    )


def test_metrics_for_loopback_or_the_token() -> None:
    token = SecretStr("s3cret-token")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("10.0.0.1")
    assert not is_loopback("testclient") and not is_loopback(None)
    assert metrics_allowed(_request("127.0.0.1"), None)
    assert not metrics_allowed(_request("10.0.0.9"), None)
    assert not metrics_allowed(_request("10.0.0.9", "Bearer s3cret-token"), None)
    assert metrics_allowed(_request("10.0.0.9", "Bearer s3cret-token"), token)
    assert not metrics_allowed(_request("10.0.0.9", "Bearer wrong"), token)
    assert not metrics_allowed(_request("10.0.0.9", "Basic s3cret-token"), token)
