"""A ceiling on request bodies, enforced before any route reads them.

uvicorn and Starlette read a whole body into memory when a route asks for it, so without a ceiling
one client can make an API process hold gigabytes. Most routes take a few kilobytes of JSON; the
two that take files (a hotlist feed import, a sharing request's scanned document) have their own,
larger ceilings, which they also check themselves while streaming. A declared Content-Length over
the ceiling is refused at once; a chunked body is counted as it arrives and cut off when it passes
it. Either way the client gets 413 in the API's one refusal shape, a log line says who sent what to
where, and `platewatch_api_refused_total{reason="body_too_large"}` counts it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REFUSED = Counter("platewatch_api_refused_total", "Requests the API refused before routing them", ["reason"])


class BodyLimit:
    """ASGI middleware: `default_bytes` for every HTTP request, `larger` (path regex, bytes) where a
    route takes files."""

    def __init__(self, app: ASGIApp, default_bytes: int, larger: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.larger = [(re.compile(pattern), limit) for pattern, limit in larger]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return max(limit, self.default_bytes)
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit, f"declared {declared} bytes")
            return
        received = 0
        too_large = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    # The route sees the end of its body; whatever it answers is replaced below.
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the route's answer to a truncated body is not the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await _refuse(scope, send, limit, f"sent more than {limit} bytes (chunked)")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, limit: int, what: str) -> None:
    client: Any = scope.get("client") or ("?", 0)
    log.warning(
        "refused a request body to %s from %s: %s, the ceiling is %d", scope["path"], client[0], what, limit
    )
    REFUSED.labels(reason="body_too_large").inc()
    body = json.dumps(
        {
            "detail": {
                "code": "body_too_large",
                "message": f"the request body is larger than the {limit:,} bytes this route takes",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
