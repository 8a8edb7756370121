"""FastAPI application factory.

Only endpoints that carry no read data exist without authentication (policy 462.5): the
health check that process supervisors poll and the version. Everything that returns reads or
alerts arrives with the authentication and audit layer.
"""

from __future__ import annotations

from fastapi import FastAPI

from platewatch.engine import __version__
from platewatch.engine.config import Settings


def create_api(settings: Settings) -> FastAPI:
    api = FastAPI(title="platewatch", version=__version__, docs_url="/docs", redoc_url=None)

    @api.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return api
