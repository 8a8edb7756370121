"""Migrations: ordered, recorded, idempotent, safe under concurrency, backend fixed once."""

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from platewatch.engine.store import migrate
from platewatch.engine.store.migrate import available_migrations


def test_migrations_apply_in_order_and_are_recorded(database_url: str) -> None:
    report = migrate(database_url)
    versions = sorted({m.version for m in available_migrations()})
    assert report.applied == versions and report.current == versions[-1]
    assert report.backend == "postgres"  # TimescaleDB is not installed on the test servers
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT version FROM pw_schema_version ORDER BY version").fetchall()
        assert [r[0] for r in rows] == versions
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'reads'").fetchone()
        assert kind == ("p",)  # a partitioned table
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'reads'::regclass"
        ).fetchone()
        assert parts is not None and parts[0] >= 8  # yesterday … a week ahead


def test_running_twice_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT version, checksum, applied_at FROM pw_schema_version").fetchall()
    again = migrate(database_url)
    assert again.applied == []
    with psycopg.connect(database_url) as conn:
        assert (
            conn.execute("SELECT version, checksum, applied_at FROM pw_schema_version").fetchall() == before
        )


def test_concurrent_runs_apply_each_migration_once(database_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: migrate(database_url), range(4)))
    applied = [v for r in reports for v in r.applied]
    assert sorted(applied) == sorted({m.version for m in available_migrations()})


def test_an_existing_database_keeps_its_backend(database_url: str) -> None:
    migrate(database_url, backend="postgres")
    with pytest.raises(RuntimeError, match="built for the postgres backend"):
        migrate(database_url, backend="timescaledb")


def test_partitions_are_created_for_any_day_on_demand(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        made = conn.execute("SELECT pw_ensure_read_partitions('2020-02-28', '2020-03-01')").fetchone()
        assert made == (3,)
        again = conn.execute("SELECT pw_ensure_read_partitions('2020-02-28', '2020-03-01')").fetchone()
        assert again == (0,)
        bound = conn.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'reads_p20200229'"
        ).fetchone()
        assert (
            bound is not None
            and "2020-02-29 00:00:00+00" in bound[0]
            and "2020-03-01 00:00:00+00" in bound[0]
        )
