"""Errors an operator reads: one line that names the service, the URL without secrets, and the cause.

Whoever sees these is starting `platewatch up` or reading `platewatch doctor`, so the reason is
phrased as the network failure it is ("connection refused"), not as a client library's exception.
"""

from __future__ import annotations

import socket

from ..redaction import redact_url, scrub


class ServiceError(RuntimeError):
    """Base of the errors this package raises about a service."""


class ServiceUnavailable(ServiceError):
    """A service that should answer does not; the message never contains a password."""

    def __init__(self, service: str, url: str, reason: str, *, setting: str | None = None) -> None:
        self.service = service
        self.url = redact_url(url)
        self.reason = scrub(reason, url)
        where = f" ({setting})" if setting else ""
        super().__init__(f"{service}{where} at {self.url} does not answer: {self.reason}")


class ServiceStartError(ServiceError):
    """An embedded service could not be started; the message quotes the end of its log."""


def describe_error(exc: BaseException, timeout_s: float) -> str:
    """Turn a connection failure into the few words an operator can act on."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
