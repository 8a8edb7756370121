"""A database error's log line names the error without the row it refused (policy: read data
leaves only through audited routes, and a log is not one)."""

from __future__ import annotations

import psycopg
import pytest

from platewatch.engine.api.errors import database_error_summary


def test_a_refused_rows_values_stay_out_of_the_summary(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE seen (plate text NOT NULL, read_id text NOT NULL)")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("INSERT INTO seen VALUES ('7ABC123', NULL)")
    exc = refused.value
    assert "7ABC123" in str(exc)  # what the old log line wrote: the server's DETAIL, the whole row
    summary = database_error_summary(exc)
    assert "7ABC123" not in summary
    assert "23502" in summary and "read_id" in summary  # not-null violation, and where
