"""How a request proves who it is: the browser's session cookie (with a CSRF header) or a bearer token.

The two OpenAPI security schemes are the objects below; the guard in `deps` takes both as
dependencies, so the schema declares them on every protected route. The public surface is written
down here once (`PUBLIC_PATHS`, `PUBLIC_PREFIXES`): `create_api` refuses to start with any other
route that lacks the guard, and the permission-matrix test walks the same lists.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.requests import HTTPConnection

SESSION_COOKIE = "pw_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN = 200  # our tokens are 46 characters; anything far longer is not one

#: Routes anyone may call: the health check, logging in, and the login page with its assets
#: (mounted under /login and /static). /metrics is here because it has its own check (`metrics_allowed`).
#: Swagger UI's script and style (no data; the /docs page that loads them needs a login).
#: /dispatch, the dispatcher's page, is a shell that carries no data: every byte of data comes from
#: guarded routes (the alerts' REST routes and websocket), after the page's script finds a session.
DOCS_ASSETS = "/docs-assets"
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/api/v1/auth/login",
        "/",
        "/login",
        "/dispatch",
        "/search",
        "/audit",  # the auditor's page: a data-free shell like /dispatch (data: /api/v1/audit, guarded)
        "/privacy",  # the public usage-and-privacy page (Civil Code 1798.90.51): policy text, monthly totals
        "/api/v1/privacy",  # the same as JSON
        "/static",
        DOCS_ASSETS,
        "/metrics",
    }
)
PUBLIC_PREFIXES = ("/static/", "/login/", f"{DOCS_ASSETS}/")

cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session_cookie",
    description="Browser session (httpOnly, SameSite=Strict); state-changing requests also send "
    f"the session's CSRF token in the {CSRF_HEADER} header.",
)
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer_token",
    description="An API client's short-lived token from POST /api/v1/auth/login with client 'cli'.",
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or any(path.startswith(p) for p in PUBLIC_PREFIXES)


def usable_token(value: str | None) -> str | None:
    if not value or len(value) > MAX_TOKEN or not value.isascii():
        return None
    return value


def presented_token(
    cookie: str | None, bearer: HTTPAuthorizationCredentials | None
) -> tuple[str | None, bool]:
    """The token the request carries, and whether it came in the cookie (so CSRF applies).

    A bearer header wins over a cookie: a program that sends one means it, and a cross-site page
    cannot set headers.
    """
    if bearer is not None and bearer.credentials:
        return usable_token(bearer.credentials), False
    token = usable_token(cookie)
    return token, token is not None


def client_address(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client is not None else None


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_allowed(conn: HTTPConnection, token: SecretStr | None) -> bool:
    """A scraper on this host, or one that presents `api.metrics_token` as a bearer token."""
    if is_loopback(client_address(conn)):
        return True
    if token is None:
        return False
    scheme, _, presented = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode())
