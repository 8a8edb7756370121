"""Versioned database migrations, applied in order and recorded in `pw_schema_version`.

Files are `NNNN_name.<flavour>.sql` in `migrations/`, where flavour is `common` (both
backends), `postgres` or `timescaledb`. For each version the `common` file and the file of
the active backend are applied, in one transaction, under an advisory lock so several workers
starting at once cannot race. The backend is chosen once, recorded, and never flips on an
existing database: a database whose reads table was built as plain partitions must not start
getting hypertable DDL because someone installed TimescaleDB later.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg

log = logging.getLogger(__name__)

Backend = Literal["timescaledb", "postgres"]
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(common|postgres|timescaledb)\.sql$")
_LOCK_KEY = 0x70_77_6D_69  # "pwmi": one advisory lock id for all platewatch migrations


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
            return _migrate_locked(conn, backend)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


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
    by_version: dict[int, list[Migration]] = {}
    for m in available_migrations():
        if m.flavour in ("common", backend):
            by_version.setdefault(m.version, []).append(m)
    applied = []
    for version, parts in sorted(by_version.items()):
        checksum = hashlib.sha256("".join(p.checksum for p in parts).encode()).hexdigest()[:16]
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
