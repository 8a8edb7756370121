"""The login and dispatch pages and their static assets: the only HTML the API serves without a session.

The pages themselves hold nothing secret: they are data-free shells, and everything they show comes
from guarded routes after login (the auth routes; the alerts' REST routes and websocket).
It is served with a strict Content-Security-Policy (scripts and styles from this origin only, no
inline code, no framing), so an injected string cannot run as script and the page cannot be
framed to trick someone into typing a password into it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
#: /dispatch is public like /login: the shell carries no data, every byte of data comes from guarded
#: routes (its script asks /api/v1/auth/me first and goes to the login page on a 401).
#: /audit (the auditor's page) is such a shell too; /privacy is the public policy page (api/privacy.py).
PUBLIC_PATHS = ("/", "/login", "/dispatch", "/search", "/audit", "/privacy", "/static")

_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_HEADERS = _PAGE_HEADERS  # the public policy page (api/privacy.py) is served with them too


def mount_pages(app: FastAPI) -> None:
    """Serve GET /login and GET /dispatch (the pages), GET / (a redirect to the login page) and /static
    (their scripts and styles)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/login", status_code=307)

    @app.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html", media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/audit", include_in_schema=False)
    async def audit_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "audit.html", media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/dispatch", include_in_schema=False)
    async def dispatch_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "dispatch.html", media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/search", include_in_schema=False)
    async def search_page() -> FileResponse:
        # the investigator's search: a shell like /dispatch; every read comes from /api/v1/reads
        return FileResponse(STATIC_DIR / "search.html", media_type="text/html", headers=_PAGE_HEADERS)
