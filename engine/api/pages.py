"""The login page and its static assets: the only HTML the API serves without a session.

The page itself holds nothing secret; everything it shows comes from the auth routes after login.
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
PUBLIC_PATHS = ("/", "/login", "/static")

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


def mount_pages(app: FastAPI) -> None:
    """Serve GET /login (the page), GET / (a redirect to it) and /static (its script and style)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/login", status_code=307)

    @app.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html", media_type="text/html", headers=_PAGE_HEADERS)
