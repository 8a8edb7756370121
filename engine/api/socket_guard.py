"""The guard for websockets: the same checks as `deps.Require`, without holding a connection.

A websocket stays open for a whole shift; `Require` borrows a pooled database connection for the
life of its request, which for a socket would drain the pool after `api.pool_size` dispatchers. So
this guard borrows one only for the check. It does not raise: a refused socket is accepted and then
closed with a code the page can read (4401, 4403), because a handshake refused with HTTP 403 shows
in a browser only as an anonymous 1006.

A browser sends its cookie with a websocket handshake from any site, and websockets are outside the
same-origin policy; so a cookie is honoured only when the handshake's Origin is this host
(cross-site websocket hijacking), while a bearer token, which a hostile page cannot attach, is not
asked for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import WebSocket
from psycopg_pool import ConnectionPool, PoolTimeout

from platewatch.engine.policy.access_log import LogEntry
from platewatch.engine.policy.directory import Actor, get_user_by_id
from platewatch.engine.policy.gate import AccessRefused, authorise
from platewatch.engine.policy.sessions import SessionInvalid, authenticate

from .deps import Require, settings_of, write
from .errors import ApiError
from .security import SESSION_COOKIE, client_address, usable_token


@dataclass(frozen=True)
class SocketCaller:
    """Who opened the socket (`actor`), or why they may not (`refusal`: code, message)."""

    actor: Actor
    refusal: tuple[str, str] | None = None


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


class SocketGuard(Require):
    """`Require` for a websocket route (a subclass, so the route counts as guarded)."""

    def __call__(self, websocket: WebSocket) -> SocketCaller:  # type: ignore[override]
        settings = settings_of(websocket)
        address = client_address(websocket)
        scheme, _, bearer = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            token, from_cookie = usable_token(bearer.strip()), False
        else:
            token, from_cookie = usable_token(websocket.cookies.get(SESSION_COOKIE)), True
        nobody = Actor(user_id=None, username="anonymous", organisation="-", address=address)
        if token is None:
            return SocketCaller(nobody, ("unauthenticated", "log in first"))
        pool: ConnectionPool | None = websocket.app.state.pool
        if pool is None:
            return SocketCaller(nobody, ("unavailable", "this API process has no database"))
        try:
            with pool.connection(timeout=10.0) as db:
                try:
                    auth = authorise(db, settings.access, token, roles=self.roles, trained=self.trained)
                except AccessRefused as exc:
                    if exc.status != 403:
                        return SocketCaller(nobody, ("unauthenticated", str(exc)))
                    try:
                        user = get_user_by_id(db, authenticate(db, settings.access, token).user_id)
                    except SessionInvalid:
                        return SocketCaller(nobody, ("unauthenticated", str(exc)))
                    actor = user.as_actor(address)
                    write(
                        db,
                        LogEntry.by(actor, "alerts.feed", outcome="refused", reason=f"{exc.code}: {exc}"),
                    )
                    return SocketCaller(actor, (exc.code, str(exc)))
                actor = auth.user.as_actor(address)
                if from_cookie:
                    if auth.session.kind != "browser":
                        return SocketCaller(
                            actor, ("unauthenticated", "send an API token in the Authorization header")
                        )
                    if not _same_origin(websocket):
                        reason = "origin: a cookie is honoured only from this site's own pages"
                        write(db, LogEntry.by(actor, "alerts.feed", outcome="refused", reason=reason))
                        return SocketCaller(actor, ("origin", reason))
                return SocketCaller(actor)
        except PoolTimeout:
            return SocketCaller(nobody, ("unavailable", "the database is busy; try again"))
        except ApiError as exc:  # the refusal's own log row could not be written
            return SocketCaller(nobody, ("unavailable", str(exc.detail)))


def write_with_pool(websocket: WebSocket, entry: LogEntry) -> None:
    """Append an access-log row for a socket (from a worker thread); raises `ApiError`
    (LogUnavailable) when it cannot be written."""
    pool: ConnectionPool = websocket.app.state.pool
    try:
        with pool.connection(timeout=10.0) as db:
            write(db, entry)
    except PoolTimeout:
        raise ApiError(503, "database_unavailable", "the access log could not be reached") from None
