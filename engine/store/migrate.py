"""Versioned database migrations, applied in order and recorded in `pw_schema_version`.

Files are `NNNN_name.<flavour>.sql` in `migrations/`, where flavour is `common` (both
backends), `postgres` or `timescaledb`. For each version the `common` file and the file of
the active backend are applied, in one transaction, under an advisory lock so several workers
starting at once cannot race. The backend is chosen once, recorded, and never flips on an
existing database: a database whose reads table was built as plain partitions must not start
getting hypertable DDL because someone installed TimescaleDB later.

After migrating, the runner grants the application's role (`platewatch_app`) what it may do: read
and write the application's tables, only read and append to the access log, only read the schema
records, and call the owner's functions it needs (0005_app_role.common.sql). Every run, so a table a
later migration adds is covered. Where that role does not exist it is made (without a login) if the
migrating role may make roles, and otherwise skipped with a log line (README "Services").
A database already at the newest schema is left without DDL, so a process connected as the
application's role can call `migrate` too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg
from psycopg import sql

from platewatch.engine.services.postgres import APP_ROLE

log = logging.getLogger(__name__)

Backend = Literal["timescaledb", "postgres"]
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(common|postgres|timescaledb)\.sql$")
_LOCK_KEY = 0x70_77_6D_69  # "pwmi": one advisory lock id for all platewatch migrations
#: The application's role may only read and append to these (policy 462.4(a): access records are
#: never changed; 462.6: sharing requests, decisions and releases are kept on file), and only read
#: those (the schema is the owner's).
APPEND_ONLY_TABLES = (
    "access_log",
    "access_log_chain",  # the access log's hash chain, sealed behind it (engine/policy/sealer.py)
    "sharing_requests",
    "sharing_documents",
    "sharing_decisions",
    "sharing_releases",
    "evidence_exports",  # 462.3: evidence exports and their chain of custody
    "custody_events",
)
READ_ONLY_TABLES = ("pw_schema_version", "pw_meta")
#: The owner's functions (SECURITY DEFINER) the application's role calls.
APP_FUNCTIONS = ("pw_ensure_read_partitions(date, date)", "pw_access_log_purge(bigint, integer)")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    flavour: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MigrationReport:
    backend: Backend
    applied: list[int]
    current: int


def available_migrations() -> list[Migration]:
    root = resources.files("platewatch.engine.store").joinpath("migrations")
    found = []
    for entry in root.iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m[1]), m[2], m[3], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: (m.version, m.flavour != "common"))


def _detect_backend(conn: psycopg.Connection) -> Backend:
    row = conn.execute("SELECT backend FROM pw_meta").fetchone()
    if row:
        return row[0]  # type: ignore[no-any-return]
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if installed:
        return "timescaledb"
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if available:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            return "timescaledb"
        except psycopg.Error as exc:  # e.g. not in shared_preload_libraries
            log.warning("timescaledb is available but cannot be created (%s); using plain PostgreSQL", exc)
    return "postgres"


def migrate(conninfo: str, *, backend: Backend | None = None) -> MigrationReport:
    """Bring the database to the newest schema; a no-op when it already is."""
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            report = _up_to_date(conn, backend) or _migrate_locked(conn, backend)
            _grant_app_role(conn)
            return report
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _wanted(backend: Backend) -> dict[int, list[Migration]]:
    by_version: dict[int, list[Migration]] = {}
    for m in available_migrations():
        if m.flavour in ("common", backend):
            by_version.setdefault(m.version, []).append(m)
    return by_version


def _checksum(parts: list[Migration]) -> str:
    return hashlib.sha256("".join(p.checksum for p in parts).encode()).hexdigest()[:16]


def _up_to_date(conn: psycopg.Connection, forced: Backend | None) -> MigrationReport | None:
    """The report of a database that needs nothing (read without DDL), or None."""
    found = conn.execute("SELECT to_regclass('pw_schema_version'), to_regclass('pw_meta')").fetchone()
    if found is None or found[0] is None or found[1] is None:
        return None
    row = conn.execute("SELECT backend FROM pw_meta").fetchone()
    if row is None or (forced is not None and forced != row[0]):
        return None
    backend: Backend = row[0]
    done: dict[int, str] = dict(conn.execute("SELECT version, checksum FROM pw_schema_version").fetchall())
    by_version = _wanted(backend)
    if any(done.get(version) != _checksum(parts) for version, parts in by_version.items()):
        return None
    return MigrationReport(backend=backend, applied=[], current=max(by_version, default=0))


def _grant_app_role(conn: psycopg.Connection) -> None:
    """Grant the application's role its privileges (see the module's docstring); idempotent."""
    me = conn.execute(
        "SELECT rolsuper, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    owner = conn.execute(
        "SELECT pg_has_role(current_user, relowner, 'MEMBER') FROM pg_class"
        " WHERE oid = to_regclass('access_log')"
    ).fetchone()
    if owner is None or not ((me and me[0]) or owner[0]):
        return  # not the owner (the application's role itself, say): nothing it could grant
    role = sql.Identifier(APP_ROLE)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() is None:
        if not (me and me[1]):
            log.info(
                "database role %s does not exist and %s may not create roles: skipping its grants "
                "(README, Services: the application's database role)",
                APP_ROLE,
                conn.info.user,
            )
            return
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
        log.info("created database role %s without a login (README, Services, says how to use it)", APP_ROLE)
    schema_row = conn.execute("SELECT current_schema()").fetchone()
    schema = sql.Identifier(schema_row[0] if schema_row and schema_row[0] else "public")
    with conn.transaction():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                schema, role
            )
        )
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, role))
        for table, privileges in [(t, "SELECT, INSERT") for t in APPEND_ONLY_TABLES] + [
            (t, "SELECT") for t in READ_ONLY_TABLES
        ]:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                continue  # a table of a later migration (a database migrated part of the way)
            ident = sql.Identifier(table)
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(ident, role))
            conn.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privileges), ident, role))
        for function in APP_FUNCTIONS:
            if conn.execute("SELECT to_regprocedure(%s)", (function,)).fetchone() != (None,):
                conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), role))


def _migrate_locked(conn: psycopg.Connection, forced: Backend | None) -> MigrationReport:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS pw_schema_version ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS pw_meta (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
        " backend text NOT NULL CHECK (backend IN ('timescaledb', 'postgres')))"
    )
    backend: Backend = forced or _detect_backend(conn)
    conn.execute("INSERT INTO pw_meta (backend) VALUES (%s) ON CONFLICT DO NOTHING", (backend,))
    recorded = conn.execute("SELECT backend FROM pw_meta").fetchone()
    if recorded and recorded[0] != backend:
        raise RuntimeError(
            f"database was built for the {recorded[0]} backend, refusing to migrate it as {backend}"
        )
    done = {v: c for v, c in conn.execute("SELECT version, checksum FROM pw_schema_version").fetchall()}
    by_version = _wanted(backend)
    applied = []
    for version, parts in sorted(by_version.items()):
        checksum = _checksum(parts)
        if version in done:
            if done[version] != checksum:
                log.warning(
                    "migration %04d changed after it was applied (checksum %s != %s)",
                    version,
                    checksum,
                    done[version],
                )
            continue
        with conn.transaction():
            for part in parts:
                conn.execute(part.sql.encode())
            conn.execute(
                "INSERT INTO pw_schema_version (version, name, checksum) VALUES (%s, %s, %s)",
                (version, parts[0].name, checksum),
            )
        log.info("applied migration %04d_%s (%s)", version, parts[0].name, backend)
        applied.append(version)
    current = max(by_version) if by_version else 0
    return MigrationReport(backend=backend, applied=applied, current=current)
