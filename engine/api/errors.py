"""One shape for every refusal: `{"detail": {"code": ..., "message": ...}}`, never a stack trace.

`code` is for programs (the login page, the CLI), `message` is a sentence for the person. The
request-validation handler replaces FastAPI's default, which echoes the input back (a typed
password among it) and fails with a 500 on a body that is not UTF-8.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from platewatch.engine.policy.errors import NotFound, NotPermitted, PolicyError
from platewatch.engine.policy.passwords import PasswordRejected


def database_error_summary(exc: psycopg.Error) -> str:
    """What a log line may say of a database error: its class, SQLSTATE and primary message.

    Not `str(exc)`: the server's DETAIL rides along there, and for a refused INSERT it is the whole
    failing row ("Failing row contains (..., 7ABC123, ...)") — an access-log row's plate and read
    ids, written to a log nobody audits. The primary message names the constraint or table, which is
    what an operator needs."""
    diag = exc.diag
    primary = diag.message_primary if diag.message_primary else type(exc).__name__
    return f"{type(exc).__name__} [{exc.sqlstate or '-'}]: {primary}"


class ApiError(HTTPException):
    """A refusal with a code and a message (and, for a missing or invalid field, its name)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        detail: dict[str, Any] = {"code": code, "message": message}
        if field is not None:
            detail["field"] = field
        super().__init__(status_code=status, detail=detail, headers=headers)


class LogUnavailable(ApiError):
    """The access-log row could not be written, so the request returns nothing (policy 462.4(a))."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "access_log_unavailable",
            "the access log cannot be written just now, so nothing was returned; try again shortly",
        )


def policy_error(exc: PolicyError) -> ApiError:
    """The HTTP refusal a policy refusal stands for."""
    if isinstance(exc, NotPermitted):
        return ApiError(403, "not_permitted", str(exc))
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, PasswordRejected):
        return ApiError(422, "password_rejected", str(exc), field="password")
    return ApiError(400, "refused", str(exc))


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc if part not in ("body", "query", "path"))


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid"))[:300]}
        for e in exc.errors()[:20]
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return JSONResponse(
        status_code=422,
        content={
            "detail": {
                "code": "invalid_request",
                "message": message,
                "field": first["field"],
                "errors": errors,
            }
        },
    )


async def _policy(request: Request, exc: PolicyError) -> JSONResponse:
    err = policy_error(exc)
    return JSONResponse(status_code=err.status_code, content={"detail": err.detail})


def install(api: FastAPI) -> None:
    api.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    api.add_exception_handler(PolicyError, _policy)  # type: ignore[arg-type]
