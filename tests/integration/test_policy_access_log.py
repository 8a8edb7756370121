"""The access log in PostgreSQL: one row per append, append-only, and every kind of tampering named.

Tampering is done as an attacker with superuser would: disable the trigger, change the table,
enable it again. Each test gets a fresh database (the `database_url` fixture), so a broken chain
never leaks into another test.
"""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import (
    _VERIFY_COLUMNS,
    GENESIS,
    ChainBroken,
    LogEntry,
    append,
    canonical,
    epoch_us,
    row_hash,
    verify,
)
from platewatch.engine.policy.directory import Actor
from platewatch.engine.store import migrate

OPERATOR = Actor.console("tester")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def _fill(conn: psycopg.Connection, n: int) -> None:
    for i in range(n):
        append(
            conn,
            LogEntry(
                action="reads.search",
                username="ivan",
                organisation="PAPD",
                user_id=3,
                client_address="10.0.0.9",
                terms={"plate": f"ABC{i}", "cameras": ["north", "south"]},
                purpose="criminal investigation",
                case_number="24-001234",
                returned_count=2,
                returned_ids=[f"r{i}a", f"r{i}b"],
            ),
        )


def _as_attacker(conn: psycopg.Connection, *statements: str) -> None:
    """What superuser can do despite the trigger: switch it off, change rows, switch it on."""
    with conn.transaction():
        conn.execute("ALTER TABLE access_log DISABLE TRIGGER USER")
        for sql in statements:
            conn.execute(sql.encode())
        conn.execute("ALTER TABLE access_log ENABLE TRIGGER USER")


def test_each_append_writes_one_row_with_every_field(conn: psycopg.Connection) -> None:
    before = datetime.now(UTC)
    written = append(
        conn,
        LogEntry(
            action="reads.search",
            username="ivan",
            organisation="Palo Alto PD",
            user_id=42,
            client_address="10.1.2.3",
            terms={"plate": "7ABC123", "from": before, "to": before, "cameras": ["c1"]},
            purpose="criminal investigation",
            case_number="24-001234",
            returned_count=3,
            returned_ids=["id-1", "id-2", "id-3"],
        ),
    )
    refused = append(
        conn,
        LogEntry.by(
            Actor("dora", "PAPD", user_id=5, address="10.9.9.9"),
            "reads.search",
            outcome="refused",
            reason="no current training",
            terms={"plate": "X"},
        ),
    )
    assert (written.seq, refused.seq) == (1, 2) and refused.prev_hash == written.hash
    assert conn.execute("SELECT count(*) FROM access_log").fetchone() == (2,)
    row = conn.execute(
        "SELECT seq, user_id, username, organisation, client_address, action, terms, purpose, case_number,"
        " alert_id, outcome, reason, returned_count, returned_ids, time FROM access_log WHERE seq = 1"
    ).fetchone()
    assert row is not None
    assert row[:6] == (1, 42, "ivan", "Palo Alto PD", "10.1.2.3", "reads.search")
    assert row[6] == {
        "plate": "7ABC123",
        "from": before.isoformat(),
        "to": before.isoformat(),
        "cameras": ["c1"],
    }
    assert row[7:14] == (
        "criminal investigation",
        "24-001234",
        None,
        "allowed",
        None,
        3,
        ["id-1", "id-2", "id-3"],
    )
    assert before <= row[14] <= datetime.now(UTC) and row[14] == written.time
    assert conn.execute("SELECT outcome, reason, user_id FROM access_log WHERE seq = 2").fetchone() == (
        "refused",
        "no current training",
        5,
    )
    report = verify(conn)
    assert report.ok and report.rows == 2 and report.head_hash == refused.hash.hex()
    assert [r.seq for r in access_log.query(conn, username="dora")] == [2]


def test_concurrent_appends_form_one_unbroken_line(conn: psycopg.Connection, database_url: str) -> None:
    def worker() -> None:
        with psycopg.connect(database_url, autocommit=True) as c:
            _fill(c, 15)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(conn)
    assert report.ok and (report.first_seq, report.last_seq, report.rows) == (1, 60, 60)


def test_an_append_inside_a_rolled_back_transaction_leaves_no_gap(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url) as c:  # not autocommit
        c.execute("SELECT 1")  # the caller's transaction is open: the append is a savepoint in it
        _fill(c, 1)
        c.rollback()
        _fill(c, 2)
        c.commit()
        report = verify(c)
    assert report.ok and (report.first_seq, report.last_seq) == (1, 2)


def test_an_edited_field_is_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(conn, "UPDATE access_log SET case_number = '24-999999' WHERE seq = 7")
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert report.problem == "row 7 was altered: its content no longer matches its hash"


def test_a_deleted_row_is_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(conn, "DELETE FROM access_log WHERE seq = 7")
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert "row 7 is missing" in str(report.problem)


def test_a_deleted_row_with_the_rest_renumbered_is_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(
        conn,
        "DELETE FROM access_log WHERE seq = 7",
        "UPDATE access_log SET seq = seq + 1000000 WHERE seq > 7",
        "UPDATE access_log SET seq = seq - 1000001 WHERE seq > 1000000",
    )
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 7)


def test_an_inserted_row_is_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(
        conn,
        "UPDATE access_log SET seq = seq + 1000001 WHERE seq >= 7",
        "UPDATE access_log SET seq = seq - 1000000 WHERE seq > 1000000",
        "INSERT INTO access_log (seq, time, username, organisation, action, outcome, prev_hash, hash)"
        " SELECT 7, time, 'ghost', 'PAPD', 'reads.search', 'allowed', hash, hash"
        " FROM access_log WHERE seq = 6",
    )
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 7)


def test_two_swapped_rows_are_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(
        conn,
        "UPDATE access_log SET seq = 1000000 WHERE seq = 5",
        "UPDATE access_log SET seq = 5 WHERE seq = 6",
        "UPDATE access_log SET seq = 6 WHERE seq = 1000000",
    )
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 5)


def test_a_dropped_tail_is_caught_by_the_anchor(conn: psycopg.Connection, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    _fill(conn, 20)
    head = access_log.anchor(conn, anchors)
    assert head is not None and head.seq == 20
    _as_attacker(conn, "DELETE FROM access_log WHERE seq > 15")
    assert verify(conn).ok  # the chain alone cannot tell a short log from a truncated one
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_seq) == (False, 16)
    assert "the log ends at row 15" in str(report.problem) and "recorded row 20" in str(report.problem)


def test_truncate_is_caught_by_the_anchor(conn: psycopg.Connection, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    _fill(conn, 5)
    access_log.anchor(conn, anchors)
    _as_attacker(conn, "TRUNCATE access_log")
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "the log is empty" in str(report.problem)
    _fill(conn, 8)  # a fresh chain of the same length is a different chain
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "the chain was rewritten" in str(report.problem)


def _recompute_chain(conn: psycopg.Connection) -> None:
    rows = conn.execute(f"SELECT {_VERIFY_COLUMNS} FROM access_log ORDER BY seq").fetchall()
    prev = GENESIS
    updates = []
    for r in rows:
        digest = row_hash(prev, canonical(*r[:15]))
        updates.append((prev, digest, r[0]))
        prev = digest
    with conn.transaction():
        conn.execute("ALTER TABLE access_log DISABLE TRIGGER USER")
        with conn.cursor() as cur:
            cur.executemany("UPDATE access_log SET prev_hash = %s, hash = %s WHERE seq = %s", updates)
        conn.execute("ALTER TABLE access_log ENABLE TRIGGER USER")


def test_a_chain_rewritten_with_fresh_hashes_is_caught_by_the_first_later_anchor(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    for _ in range(4):
        _fill(conn, 5)
        access_log.anchor(conn, anchors)
    assert [a.seq for a in access_log.read_anchors(anchors)] == [5, 10, 15, 20]
    _as_attacker(conn, "UPDATE access_log SET username = 'nobody' WHERE seq = 7")
    _recompute_chain(conn)
    assert verify(conn).ok  # consistent with itself ...
    report = verify(conn, anchors)  # ... but not with what was anchored
    assert (report.ok, report.first_bad_seq) == (False, 10)


def test_anchoring_checks_the_rows_since_the_last_anchor(conn: psycopg.Connection, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    assert access_log.anchor(conn, anchors) is None  # nothing to anchor yet
    _fill(conn, 3)
    first = access_log.anchor(conn, anchors)
    assert first is not None and access_log.anchor(conn, anchors) == first  # head unchanged: no new line
    assert stat.S_IMODE(os.stat(anchors).st_mode) == 0o600
    _fill(conn, 3)
    _as_attacker(conn, "UPDATE access_log SET action = 'reads.read' WHERE seq = 5")
    with pytest.raises(ChainBroken, match="row 5 was altered"):
        access_log.anchor(conn, anchors)
    assert len(access_log.read_anchors(anchors)) == 1


def test_the_trigger_refuses_changes_even_to_a_role_granted_them(conn: psycopg.Connection) -> None:
    _fill(conn, 3)
    role = f"pwt_app_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON access_log TO {role}")
        for sql in (
            "UPDATE access_log SET username = 'x' WHERE seq = 1",
            "DELETE FROM access_log WHERE seq = 3",
            "TRUNCATE access_log",
        ):
            with (
                pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
                conn.transaction(),
            ):
                conn.execute(f"SET LOCAL ROLE {role}")
                conn.execute(sql.encode())
        # the owner too, and the purge switch does not cover young rows
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
            conn.execute("SELECT set_config('platewatch.access_log_purge', 'on', true)")
            conn.execute("DELETE FROM access_log WHERE seq = 1")
        # without grants (PUBLIC has none), not even reading
        conn.execute(f"REVOKE ALL ON access_log FROM {role}")
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
            conn.transaction(),
        ):
            conn.execute(f"SET LOCAL ROLE {role}")
            conn.execute("SELECT count(*) FROM access_log")
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
    assert verify(conn).ok and verify(conn).rows == 3


def _insert_old_rows(conn: psycopg.Connection, n: int, days_ago: int) -> None:
    """Rows as append would have written them long ago (append itself takes the database's clock)."""
    start = datetime.now(UTC) - timedelta(days=days_ago)
    for i in range(n):
        last = conn.execute("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, bytes(last[1])) if last else (1, GENESIS)
        when = start + timedelta(minutes=i)
        terms_text, ids_text = "{}", "{}"
        content = canonical(
            seq, epoch_us(when), None, "old", "PAPD", None, "login", terms_text, None, None, None,
            "allowed", None, 0, ids_text,
        )  # fmt: skip
        conn.execute(
            "INSERT INTO access_log (seq, time, username, organisation, action, terms, outcome,"
            " prev_hash, hash) VALUES (%s, %s, 'old', 'PAPD', 'login', %s, 'allowed', %s, %s)",
            (seq, when, Jsonb({}), prev, row_hash(prev, content)),
        )


def test_the_retention_purge_removes_only_expired_rows_and_says_so(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    _insert_old_rows(conn, 4, days_ago=500)
    access_log.anchor(conn, anchors)
    _fill(conn, 3)
    assert verify(conn, anchors).ok
    with pytest.raises(access_log.AccessLogError, match="at least 365 days"):
        access_log.purge_expired(conn, OPERATOR, 30)
    assert access_log.purge_expired(conn, OPERATOR, 400) == 4
    report = verify(conn, anchors)
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq) == (5, 8)
    purge = access_log.query(conn, action=access_log.PURGE_ACTION)[0]
    assert purge.terms["through_seq"] == 4 and purge.returned_count == 4 and purge.username == "os:tester"
    assert access_log.purge_expired(conn, OPERATOR, 400) == 0


def test_deleting_the_oldest_rows_without_a_purge_is_caught(conn: psycopg.Connection) -> None:
    _fill(conn, 6)
    _as_attacker(conn, "DELETE FROM access_log WHERE seq <= 2")
    report = verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "no retention purge of them was logged" in str(report.problem)
