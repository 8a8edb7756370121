"""The request-body ceiling (engine/api/body_limit.py) on a small Starlette app: declared and chunked
bodies over the ceiling get 413 in the API's refusal shape, the route never answers them, and the
larger ceilings apply only to their own paths."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from platewatch.engine.api.body_limit import BodyLimit

LIMIT = 1000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


def _client() -> TestClient:
    app = Starlette(
        routes=[Route("/small", echo, methods=["POST"]), Route("/files/{x}", echo, methods=["POST"])]
    )
    app.add_middleware(BodyLimit, default_bytes=LIMIT, larger=[(r"/files/[^/]+", 5 * LIMIT)])
    return TestClient(app)


def _refused() -> float:
    return REGISTRY.get_sample_value("platewatch_api_refused_total", {"reason": "body_too_large"}) or 0.0


def _chunks(total: int, size: int = 300) -> Iterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


def test_a_body_within_the_ceiling_reaches_the_route() -> None:
    r = _client().post("/small", content=b"x" * LIMIT)
    assert r.status_code == 200 and r.json() == {"bytes": LIMIT}


def test_a_declared_body_over_the_ceiling_is_refused_before_the_route() -> None:
    before = _refused()
    r = _client().post("/small", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json()["detail"]["code"] == "body_too_large"
    assert _refused() == before + 1


def test_a_chunked_body_is_cut_off_when_it_passes_the_ceiling() -> None:
    before = _refused()
    r = _client().post("/small", content=_chunks(3 * LIMIT))
    assert r.status_code == 413  # not the route's 200 for the truncated body
    assert _refused() == before + 1
    ok = _client().post("/small", content=_chunks(LIMIT))
    assert ok.status_code == 200 and ok.json() == {"bytes": LIMIT}


def test_a_file_route_has_its_own_larger_ceiling_and_only_it() -> None:
    client = _client()
    assert client.post("/files/a", content=b"x" * (4 * LIMIT)).json() == {"bytes": 4 * LIMIT}
    assert client.post("/files/a", content=b"x" * (6 * LIMIT)).status_code == 413
    assert client.post("/files/a/b", content=b"x" * (4 * LIMIT)).status_code == 413
    assert client.post("/small", content=b"x" * (4 * LIMIT)).status_code == 413
