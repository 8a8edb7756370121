"""FastAPI application factory: one app, routers per audience under /api/v1.

Public without a session (policy 462.5): the health check, the login route, the login page and its
assets (`security.PUBLIC_PATHS`, `PUBLIC_PREFIXES`), and /metrics for a scraper on this host or one
holding `api.metrics_token`. Every other route takes a `deps.Require` among its dependencies, and
`create_api` refuses to build an app where one does not: a route added later cannot be open by
accident. The OpenAPI schema and /docs are behind a session too: they describe the data routes.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Annotated

import psycopg
import redis
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool

from platewatch.engine import __version__
from platewatch.engine.config import Settings
from platewatch.engine.policy.log_alongside import AlongsideWriter
from platewatch.engine.policy.ratelimit import LoginRateLimiter
from platewatch.engine.policy.sealer import Sealer
from platewatch.engine.policy.sharing import MAX_DOCUMENT_BYTES

from . import (
    admin,
    alerts,
    audit,
    auth,
    case_hotlist,
    equipment,
    errors,
    evidence,
    privacy,
    reads,
    sharing,
    webhooks,
)
from .body_limit import BodyLimit
from .deps import ANY_USER, Caller, guard_of
from .fanout import Fanout
from .pages import mount_pages
from .security import DOCS_ASSETS, is_public, metrics_allowed

log = logging.getLogger(__name__)

# A sharing request's form fields beside its document: a few kilobytes, generously.
FORM_FIELDS_BYTES = 256 * 1024


def include(api: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app itself, so `app.routes` lists every route.

    Newer FastAPI keeps an included router as one opaque entry in `app.routes`; the guard check and
    the permission-matrix test walk `app.routes` and must see each route with its dependencies.
    """
    api.router.routes.extend(router.routes)


def check_guarded(api: FastAPI) -> None:
    """Refuse an app with a route that is neither public nor behind a `Require`."""
    for route in api.routes:
        path = getattr(route, "path", None)
        if path is None:
            raise RuntimeError(
                f"{type(route).__name__} in app.routes has no path (an included router?): "
                "add routers with engine.api.app.include so every route can be checked"
            )
        if is_public(path):
            continue
        if isinstance(route, APIRoute | APIWebSocketRoute) and guard_of(route.dependant) is not None:
            continue
        raise RuntimeError(
            f"route {path!r} is not in the public list and has no Require dependency: "
            "guard it (engine/api/deps.py) or, if it truly carries nothing, list it in api/security.py"
        )


def lend_check(conn: psycopg.Connection) -> None:
    """The API pool's check of an idle connection before it lends it, without a round trip.

    A connection the database closed while it sat in the pool (a restart, `pg_terminate_backend`,
    an idle timeout) has the server's goodbye or its end of stream waiting on the socket; a healthy
    idle connection has nothing to read (the API's pool never LISTENs). Only then is the round trip
    made (`check_connection`), which raises for a dead one, and the pool lends another. Checking
    every connection that way cost one loopback round trip per request, on a machine where each
    waits for a core (docs/measuring.md, "Access log and login").
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    if _waiting(conn.fileno()):
        ConnectionPool.check_connection(conn)


def _waiting(fd: int) -> bool:
    """Whether `fd` has something to read (or hung up), now; poll where there is one (select cannot
    take descriptors past 1024, which a process serving many websockets reaches)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def create_api(
    settings: Settings, *, database_url: str | None = None, redis_url: str | None = None
) -> FastAPI:
    """The app; it connects to `database_url` (else `services.database_url`) when it starts, and to
    `redis_url` (else `services.redis_url`) for the camera health and hotlist routes."""
    url = database_url or settings.services.database_url
    hotlists_url = redis_url or settings.services.redis_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if url:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=settings.api.pool_size,
                kwargs={"autocommit": True},
                open=False,
                name="platewatch-api",
                # After a database restart every idle connection is dead; unchecked, each one failed
                # the next request that drew it (an access-log write refused, bench pipeline --faults
                # database). Checked without a round trip (`lend_check`).
                check=lend_check,
            )
            pool.open(wait=False)
            app.state.pool = pool
            app.state.sealer = Sealer(url)  # chains the access log's new rows, every 0.2 s
            app.state.sealer.start()
            # commits a data request's access row while its query runs (policy/log_alongside.py)
            app.state.log_writer = AlongsideWriter(url, workers=settings.api.pool_size)
            app.state.log_writer.open()
            app.state.fanout = Fanout(url, settings.alerts.ws_queue)
            app.state.fanout.start(asyncio.get_running_loop())
        if hotlists_url:  # connects on first use: a Redis that is down fails those routes, not the app
            app.state.redis = redis.Redis.from_url(
                hotlists_url, decode_responses=True, socket_connect_timeout=5, socket_timeout=60
            )
        try:
            yield
        finally:
            if app.state.fanout is not None:
                await asyncio.to_thread(app.state.fanout.stop)
                app.state.fanout = None
            if app.state.sealer is not None:
                await asyncio.to_thread(app.state.sealer.stop)
                app.state.sealer = None
            if app.state.log_writer is not None:
                await asyncio.to_thread(app.state.log_writer.close)
                app.state.log_writer = None
            if app.state.pool is not None:
                app.state.pool.close()
                app.state.pool = None
            if app.state.redis is not None:
                app.state.redis.close()
                app.state.redis = None

    api = FastAPI(
        title="platewatch",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    api.state.settings = settings
    api.state.pool = None
    api.state.sealer = None
    api.state.log_writer = None
    api.state.fanout = None
    api.state.redis = None
    api.state.totp_key = None
    api.state.images = None
    api.state.login_limiter = LoginRateLimiter(settings.access)
    errors.install(api)
    api.add_middleware(
        BodyLimit,
        default_bytes=settings.api.max_body_bytes,
        larger=[
            (r"/api/v1/admin/hotlists/[^/]+/import", equipment.MAX_FEED_BYTES),
            (r"/api/v1/sharing/requests", MAX_DOCUMENT_BYTES + FORM_FIELDS_BYTES),
        ],
    )

    @api.exception_handler(psycopg.Error)
    async def database_error(request: Request, exc: psycopg.Error) -> JSONResponse:
        log.error("database error on %s: %s", request.url.path, errors.database_error_summary(exc))
        detail = {"code": "database_unavailable", "message": "the database could not complete this request"}
        return JSONResponse(status_code=503, content={"detail": detail})

    @api.middleware("http")
    async def no_store(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"  # reads and images stay out of caches
        return response

    @api.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @api.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not metrics_allowed(request, settings.api.metrics_token):
            presented = "authorization" in request.headers
            return JSONResponse(
                status_code=403 if presented else 401,
                content={"detail": {"code": "metrics_token", "message": "/metrics needs api.metrics_token"}},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in (
        auth.router,
        reads.router,
        alerts.router,
        admin.router,
        equipment.router,
        audit.router,
        webhooks.router,
        evidence.router,
        sharing.router,
        privacy.router,
        case_hotlist.router,
    ):
        include(api, router)

    @api.get("/openapi.json", include_in_schema=False, name="openapi")
    def openapi(_: Annotated[Caller, Depends(ANY_USER)]) -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get("/docs", include_in_schema=False, name="docs")
    def docs(_: Annotated[Caller, Depends(ANY_USER)]) -> HTMLResponse:
        # Swagger UI from the fastapi-offline wheel, not a CDN: consoles may have no internet.
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="platewatch API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    api.mount(
        DOCS_ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets"
    )

    mount_pages(api)
    check_guarded(api)
    return api
