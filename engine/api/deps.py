"""Authentication, authorisation, purpose and the access-log row, as FastAPI dependencies.

A route states what it needs in its signature, e.g. ``caller: Annotated[Caller, Depends(READS)]``
and ``stated: Annotated[StatedPurpose, Depends(READS_PURPOSE)]``; FastAPI runs the checks before the
route body, so a route cannot return data it forgot to guard. `create_api` also refuses to start
when a route outside the public list has no `Require` in its dependencies, and the permission-matrix
test finds the same `Require` on every route to know which roles to try.

What the checks decide comes from `platewatch.engine.policy` (gate, sessions, purposes); this module
only turns its refusals into HTTP answers and writes the refused access-log rows: a caller who is
known but refused (wrong role, lapsed training, no purpose, a forged cross-site request) is on record.
"""

# No `from __future__ import annotations`: FastAPI reads `purpose_for`'s parameter annotations at
# run time, and one of them names a local variable (the guard) that a string could not resolve.

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Query, Security
from fastapi.security import HTTPAuthorizationCredentials
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.requests import HTTPConnection

from platewatch.engine.config import Settings
from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import AccessLogError, LogEntry, Outcome, ResultRow
from platewatch.engine.policy.directory import Actor, User, get_user_by_id
from platewatch.engine.policy.errors import PolicyError
from platewatch.engine.policy.gate import AccessRefused, authorise
from platewatch.engine.policy.log_alongside import AlongsideWriter, Begun, access_entry, access_id
from platewatch.engine.policy.purposes import PurposeError, StatedPurpose, check_purpose
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.sessions import Session, SessionInvalid, authenticate, check_csrf
from platewatch.engine.policy.training import TrainingStatus

from .errors import ApiError, LogUnavailable, policy_error
from .security import (
    CSRF_HEADER,
    SAFE_METHODS,
    bearer_scheme,
    client_address,
    cookie_scheme,
    presented_token,
)

log = logging.getLogger(__name__)
_POOL_WAIT_S = 10.0
_LOGGED_TEXT = 200  # characters of caller-typed text an access-log row keeps


def clean(text: str | None, limit: int = _LOGGED_TEXT) -> str | None:
    """Caller-typed text as the access log may hold it: no NUL characters, bounded."""
    if text is None:
        return None
    return text.replace("\x00", "")[:limit]


def settings_of(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


def database(conn: HTTPConnection) -> Iterator[psycopg.Connection]:
    """A pooled connection (autocommit: each route opens the transaction it needs)."""
    pool: ConnectionPool | None = conn.app.state.pool
    if pool is None:
        raise ApiError(503, "database_unavailable", "this API process has no database configured")
    try:
        with pool.connection(timeout=_POOL_WAIT_S) as db:
            yield db
    except PoolTimeout:
        raise ApiError(
            503, "database_unavailable", "the database is busy or unreachable; try again"
        ) from None


Db = Annotated[psycopg.Connection, Depends(database)]


@dataclass
class Caller:
    """The person behind a request that passed its route's checks, and the request's access-log row."""

    user: User
    session: Session
    token: str
    training: TrainingStatus | None
    conn: psycopg.Connection
    address: str | None
    action: str  # the route's name, the access-log action unless a row names another
    settings: Settings
    writer: AlongsideWriter | None = None  # where `alongside` commits access rows

    def actor(self) -> Actor:
        return self.user.as_actor(self.address)

    def log(
        self,
        *,
        outcome: Outcome = "allowed",
        reason: str | None = None,
        terms: Mapping[str, Any] | None = None,
        purpose: StatedPurpose | None = None,
        returned_ids: Sequence[str] = (),
        returned_count: int | None = None,
        action: str | None = None,
    ) -> None:
        """Append this request's row; if it cannot be written the request fails with 503.

        Call it before returning anything: the answer leaves only once its row is committed.
        """
        write(
            self.conn,
            self._entry(outcome, reason, terms, purpose, returned_ids, returned_count, action),
        )

    def _entry(
        self,
        outcome: Outcome = "allowed",
        reason: str | None = None,
        terms: Mapping[str, Any] | None = None,
        purpose: StatedPurpose | None = None,
        returned_ids: Sequence[str] = (),
        returned_count: int | None = None,
        action: str | None = None,
    ) -> LogEntry:
        return LogEntry.by(
            self.actor(),
            action or self.action,
            outcome=outcome,
            reason=reason,
            terms=terms or {},
            purpose=purpose.purpose if purpose else None,
            case_number=purpose.case_number if purpose else None,
            alert_id=purpose.alert_id if purpose else None,
            returned_count=len(returned_ids) if returned_count is None else returned_count,
            returned_ids=returned_ids,
        )

    @contextmanager
    def in_statement(
        self, *, terms: Mapping[str, Any] | None = None, purpose: StatedPurpose | None = None
    ) -> Iterator["Returned"]:
        """Read data in the block with its one access-log row written by the query's own statement
        (`access_log.ResultRow`, `returned.statement`) and committed durably with it.

        The block passes `returned.statement` to its query, which runs as one transaction
        (`store.search.one_round_trip`), and says what it got (`returned.ids(...)`). The answer
        leaves only once that transaction's commit, WAL flush and all, has been answered. A block
        that did not write the row (a process that writes none: the bench's no-log baseline) has
        it written after, durably. If the row cannot be written the request fails with 503; if the
        query fails, a refused row says so (a failed access is on record too) before the error
        answers, and if that row cannot be written either, the request fails with 503.
        """
        returned = Returned()
        logged = dict(terms or {})
        returned.statement = statement_row(self._entry(terms=logged, purpose=purpose))
        try:
            yield returned
        except Exception as exc:
            self._failed(exc, returned.statement, logged, purpose)
            raise
        statement = returned.statement
        if statement is None or statement.seq is None:
            self.log(**returned.row(logged, purpose))
        if statement is not None and statement.done_at:
            # From the row's INSERT (the server's clock) to now, the commit answered: its flush,
            # and the result's way back to this thread, which a query without a row pays as well
            # (the bench's no-log baseline observes that part alone: bench/nolog_api.py).
            after = max(0.0, time.time() - statement.done_at)
            access_log.RESULT_ROW_SECONDS.observe(statement.in_statement_s)
            access_log.WAIT_SECONDS.observe(statement.in_statement_s + after)

    def _failed(
        self,
        exc: Exception,
        statement: ResultRow | None,
        terms: Mapping[str, Any],
        purpose: StatedPurpose | None,
    ) -> None:
        """A query under `in_statement` failed, so nothing is returned: write a refused row naming
        the failure (its kind and SQLSTATE, never its message, which can quote the values asked
        for), and fail with 503 if the log itself refused the row or this one cannot be written."""
        by_log = isinstance(exc, AccessLogError) or (
            isinstance(exc, psycopg.Error) and statement is not None and access_log.refused_the_row(exc)
        )
        what = "the access-log row" if by_log else "the query"
        code = f", SQLSTATE {exc.sqlstate}" if isinstance(exc, psycopg.Error) and exc.sqlstate else ""
        reason = f"{what} failed ({type(exc).__name__}{code}); nothing was returned"
        if self.conn.closed or self.conn.broken:
            log.error("access log not written (the connection is closed); the request returns nothing")
            raise LogUnavailable() from exc
        try:
            self.log(outcome="refused", reason=reason, terms=terms, purpose=purpose)
        except LogUnavailable:  # `write` said why
            raise LogUnavailable() from exc
        if by_log:
            why = exc.diag.message_primary if isinstance(exc, psycopg.Error) else str(exc)
            log.error("access log not written (%s); the request returns nothing", why)
            raise LogUnavailable() from exc

    @contextmanager
    def alongside(
        self, *, terms: Mapping[str, Any] | None = None, purpose: StatedPurpose | None = None
    ) -> Iterator["Returned"]:
        """Read data in the block while this request's access row commits (policy/log_alongside.py):
        the routes whose query cannot write the row itself (an image, whose id is known once the
        file is read; alerts). A search and a read use `in_statement`.

        The block reads and says what it got (`returned.ids(...)`); after it, the result row is
        written and the access row awaited: the answer leaves only once both are committed, and a
        row that failed fails the request with 503, as does a process without its writer.
        """
        returned = Returned()
        logged = {**(terms or {}), "access_id": access_id()}
        try:
            if self.writer is None:
                raise AccessLogError("this API process has no access-log writer")
            begun = begin_row(self.writer, self._entry(terms=logged, purpose=purpose))
        except (AccessLogError, RuntimeError) as exc:  # RuntimeError: the writer is shutting down
            log.error("access log not written (%s); the request returns nothing", exc)
            raise LogUnavailable() from exc
        try:
            yield returned
        except BaseException:
            with suppress(AccessLogError):
                begun.wait()  # settled before the error answers, so no row is left in flight
            raise
        try:
            begun.finish(self.conn, self._entry(**returned.row(logged, purpose)), write=write)
        except AccessLogError as exc:
            log.error("access log not written (%s); the request returns nothing", exc)
            raise LogUnavailable() from exc

    @contextmanager
    def refusals(self, **terms: Any) -> Iterator[None]:
        """Around a policy call that logs its own change: a refusal it raises gets a refused row."""
        try:
            yield
        except PolicyError as exc:
            self.log(outcome="refused", reason=str(exc), terms=terms)
            raise policy_error(exc) from None


@dataclass
class Returned:
    """What a block under `Caller.alongside` returned: the ids (and a count, where it is not their number)."""

    read: Sequence[str] = ()
    count: int | None = None
    refused: str | None = None  # why nothing was returned, where that makes the access a refused one
    #: Under `Caller.in_statement`, the access's row for the query to write in its own statement
    #: (`ResultRow.statement`); once written (its `seq` set) no row is written after the block.
    #: None under `alongside`, and where this process writes no rows (the bench's no-log baseline).
    statement: ResultRow | None = None

    def ids(self, ids: Sequence[str], count: int | None = None) -> None:
        self.read, self.count = ids, count

    def refuse(self, reason: str) -> None:
        self.read, self.count, self.refused = (), None, reason

    def row(self, terms: Mapping[str, Any] | None, purpose: StatedPurpose | None) -> dict[str, Any]:
        """The result row's fields (`Caller.log`'s keywords)."""
        return {
            "outcome": "refused" if self.refused else "allowed",
            "reason": self.refused,
            "terms": terms,
            "purpose": purpose,
            "returned_ids": self.read,
            "returned_count": self.count,
        }


def begin_row(writer: AlongsideWriter, entry: LogEntry) -> Begun:
    """Start committing the access row of the result row `entry` (the no-log bench baseline replaces this)."""
    return writer.begin(access_entry(entry))


def statement_row(entry: LogEntry) -> ResultRow | None:
    """The result row `entry` for a query to write in its own statement (the no-log bench baseline
    replaces this)."""
    return ResultRow(entry)


def write(conn: psycopg.Connection, entry: LogEntry, *, flushed: bool = True) -> None:
    """The row on `conn`, committed before this returns (no lock: the chain is sealed afterwards);
    `flushed=False` only for a result row whose access row is committed beside it."""
    try:
        access_log.append(conn, entry, flushed=flushed)
    except (psycopg.Error, AccessLogError, TimeoutError) as exc:
        log.error("access log not written (%s: %s); the request returns nothing", type(exc).__name__, exc)
        raise LogUnavailable() from exc


def _route_name(conn: HTTPConnection) -> str:
    route = conn.scope.get("route")
    return str(getattr(route, "name", None) or conn.scope.get("path", "api"))


class Require:
    """The guard: a live session, one of `roles` (none: any logged-in user), current training.

    Refusals: 401 without a usable session; 403 for a wrong role, a missing second factor, lapsed
    training (the message says why) or a cookie request without its CSRF header. Each 403 writes a
    refused access-log row naming the route.
    """

    def __init__(self, *roles: Role, trained: bool = True) -> None:
        self.roles = frozenset(roles)
        self.trained = trained

    def __repr__(self) -> str:
        return f"Require({', '.join(sorted(self.roles)) or 'any user'}, trained={self.trained})"

    def __call__(
        self,
        request: HTTPConnection,
        db: Db,
        cookie: Annotated[str | None, Security(cookie_scheme)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    ) -> Caller:
        settings = settings_of(request)
        address = client_address(request)
        action = _route_name(request)
        token, from_cookie = presented_token(cookie, bearer)
        try:
            auth = authorise(db, settings.access, token, roles=self.roles, trained=self.trained)
        except AccessRefused as exc:
            if exc.status == 403 and token:
                self._log_refusal(db, settings, token, address, action, f"{exc.code}: {exc}")
            raise ApiError(exc.status, exc.code, str(exc)) from None
        assert token is not None
        if from_cookie:
            if auth.session.kind != "browser":
                raise ApiError(401, "bearer_in_cookie", "send an API token in the Authorization header")
            method = request.scope.get("method", "GET")
            if method not in SAFE_METHODS and not check_csrf(auth.session, request.headers.get(CSRF_HEADER)):
                reason = f"csrf: the {CSRF_HEADER} header is missing or wrong"
                self._log_refusal(db, settings, token, address, action, reason)
                raise ApiError(403, "csrf", f"this request needs the session's {CSRF_HEADER} header")
        return Caller(
            user=auth.user,
            session=auth.session,
            token=token,
            training=auth.training,
            conn=db,
            address=address,
            action=action,
            settings=settings,
            writer=getattr(request.app.state, "log_writer", None),
        )

    @staticmethod
    def _log_refusal(
        db: psycopg.Connection,
        settings: Settings,
        token: str,
        address: str | None,
        action: str,
        reason: str,
    ) -> None:
        try:
            user = get_user_by_id(db, authenticate(db, settings.access, token).user_id)
        except (SessionInvalid, PolicyError):
            return
        write(db, LogEntry.by(user.as_actor(address), action, outcome="refused", reason=reason))


def require(*roles: Role, trained: bool = True) -> Require:
    return Require(*roles, trained=trained)


#: Any logged-in user, trained or not: their own account, logout, the second factor, the docs.
ANY_USER = require(trained=False)
CurrentUser = Annotated[Caller, Depends(ANY_USER)]

#: History search, one read, its images (dispatchers join when alerts arrive: only reads behind one).
READS = require(Role.INVESTIGATOR, Role.SUPERVISOR)

#: The query names the API uses for the purpose fields, by the policy's field names.
PURPOSE_PARAMS = {"purpose": "purpose", "case_number": "case", "alert_id": "alert"}


def purpose_for(guard: Require) -> Any:
    """A dependency stating the request's purpose, behind `guard` (so the caller is known first).

    The fields are optional to FastAPI on purpose: `check_purpose` decides, so a missing case
    number is refused with a sentence naming it and leaves a refused row, like any other refusal.
    """

    def stated_purpose(
        caller: Annotated[Caller, Depends(guard)],
        purpose: Annotated[
            str | None, Query(max_length=200, description="Why: one of access.purposes")
        ] = None,
        case: Annotated[
            str | None,
            Query(max_length=64, description="Case or incident number (access.case_number_pattern)"),
        ] = None,
        alert: Annotated[
            str | None, Query(max_length=64, description="Alert id, with the purpose 'alert verification'")
        ] = None,
    ) -> StatedPurpose:
        try:
            return check_purpose(caller.settings.access, purpose, case, alert)
        except PurposeError as exc:
            field = PURPOSE_PARAMS[exc.field]
            caller.log(
                outcome="refused",
                reason=f"{field}: {exc}",
                terms={"purpose": clean(purpose), "case": clean(case), "alert": clean(alert)},
            )
            raise ApiError(422, "purpose_required", str(exc), field=field) from None

    return stated_purpose


READS_PURPOSE = purpose_for(READS)
Purpose = Annotated[StatedPurpose, Depends(READS_PURPOSE)]
Reader = Annotated[Caller, Depends(READS)]


def guard_of(dependant: Any) -> Require | None:
    """The `Require` among a route's dependencies (searched through sub-dependencies), if any."""
    stack = [dependant]
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call
        stack.extend(dep.dependencies)
    return None
