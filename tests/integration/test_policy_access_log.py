"""The access log in PostgreSQL: one row per append, sealed into the chain behind it, append-only,
and every kind of tampering named.

Tampering is done as an attacker with superuser would: disable the triggers, change the tables,
enable them again. Each test gets a fresh database (the `database_url` fixture), so a broken chain
never leaks into another test. Rows are sealed before they are tampered with: within the sealing
delay a row is not yet tamper-evident, which is the design.
"""

from __future__ import annotations

import importlib
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import (
    CONTENT_COLUMNS,
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
from platewatch.engine.policy.sealer import Sealer, seal, waiting
from platewatch.engine.store import migrate

migrate_module = importlib.import_module("platewatch.engine.store.migrate")

OPERATOR = Actor.console("tester")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def _fill(conn: psycopg.Connection, n: int, *, sealed: bool = True) -> None:
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
    if sealed:
        seal(conn, wait=True)


def _as_attacker(conn: psycopg.Connection, *statements: str) -> None:
    """What superuser can do despite the triggers: switch them off, change rows, switch them on."""
    with conn.transaction():
        for table in ("access_log", "access_log_chain"):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER".encode())
        for sql in statements:
            conn.execute(sql.encode())
        for table in ("access_log", "access_log_chain"):
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER".encode())


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
    assert (written.seq, refused.seq) == (1, 2) and written.hash == b"" and written.pos is None
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
    report = verify(conn)  # seals both first
    assert report.ok and report.rows == 2 and report.sealed == 2
    second, first = access_log.query(conn)
    assert (first.pos, second.pos) == (1, 2) and first.prev_hash == GENESIS
    assert second.prev_hash == first.hash and report.head_hash == second.hash.hex()
    assert [r.seq for r in access_log.query(conn, username="dora")] == [2]


def test_concurrent_appends_form_one_unbroken_line(conn: psycopg.Connection, database_url: str) -> None:
    def worker() -> None:
        with psycopg.connect(database_url, autocommit=True) as c:
            _fill(c, 15, sealed=False)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(conn)
    assert report.ok and (report.first_seq, report.last_seq, report.rows) == (1, 60, 60)


def test_a_number_rolled_back_is_passed_over_once_nobody_holds_it(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url) as c:  # not autocommit
        c.execute("SELECT 1")  # the caller's transaction is open: the append is a savepoint in it
        _fill(c, 1, sealed=False)
        c.rollback()
        _fill(c, 2, sealed=False)
        c.commit()
        assert seal(c) == 0  # row 1 is missing and row 2 is younger than the grace: it may yet commit
        c.commit()
        assert seal(c, gap_grace_s=0) == 2  # nobody holds number 1: rolled back, passed over
        c.commit()
        report = verify(c)
    assert report.ok and (report.first_pos, report.last_pos, report.first_seq, report.last_seq) == (
        1,
        2,
        2,
        3,
    )


def test_an_append_takes_no_lock_and_the_sealer_waits_for_a_number_in_flight(
    conn: psycopg.Connection, database_url: str
) -> None:
    with psycopg.connect(database_url) as slow:  # a caller whose transaction stays open
        slow.execute("SELECT 1")
        held = append(slow, LogEntry(action="role.approve", username="sam", organisation="PAPD"))
        conn.execute("SET statement_timeout = '2s'")  # an append that queued behind it would fail
        _fill(conn, 3, sealed=False)
        assert held.seq == 1 and seal(conn, gap_grace_s=0) == 0  # row 1 may still commit
        assert waiting(conn)
        slow.commit()
    assert seal(conn, gap_grace_s=0) == 4 and not waiting(conn)
    report = verify(conn)
    assert report.ok and (report.rows, report.first_seq, report.last_seq) == (4, 1, 4)


def test_the_sealer_thread_keeps_the_chain_current(conn: psycopg.Connection, database_url: str) -> None:
    sealers = [Sealer(database_url, interval_s=0.05) for _ in range(2)]  # two processes' sealers
    for s in sealers:
        s.start()
    try:
        threads = [threading.Thread(target=lambda: _fill_on(database_url, 20)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 10
        while waiting(conn) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for s in sealers:
            s.stop()
    assert not waiting(conn) and sum(s.sealed for s in sealers) == 60
    report = verify(conn)
    assert report.ok and report.sealed == 0 and report.rows == 60


def _fill_on(database_url: str, n: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        _fill(c, n, sealed=False)


def test_a_row_inserted_behind_the_sealer_is_named(conn: psycopg.Connection) -> None:
    with conn.transaction():
        _fill(conn, 1, sealed=False)  # number 1, then rolled back
        raise psycopg.Rollback()
    _fill(conn, 3, sealed=False)
    assert seal(conn, gap_grace_s=0) == 3
    # the application's role may INSERT: a row slipped into the gap, dated a while ago
    conn.execute(
        "INSERT INTO access_log (seq, time, username, organisation, action, outcome)"
        " VALUES (1, now() - interval '2 minutes', 'ghost', 'PAPD', 'reads.search', 'allowed')"
    )
    assert verify(conn, seal_delay_s=3600).ok  # within the sealing delay nothing is said of it
    report = verify(conn)
    assert (report.ok, report.first_bad_seq, report.unsealed, report.rows) == (False, 1, 1, 3)
    assert "row 1 was never sealed" in str(report.problem) and "behind the sealer" in str(report.problem)
    assert seal(conn, gap_grace_s=0) == 0  # and the sealer never blesses it


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


def test_a_deleted_row_with_its_chain_entry_is_named(conn: psycopg.Connection) -> None:
    _fill(conn, 20)
    _as_attacker(conn, "DELETE FROM access_log WHERE seq = 7", "DELETE FROM access_log_chain WHERE pos = 7")
    report = verify(conn)
    assert (report.ok, report.first_bad_pos) == (False, 7)
    assert "chain entry 7 is missing" in str(report.problem)


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
    assert head is not None and (head.pos, head.seq) == (20, 20)
    line = json.loads(anchors.read_text())
    assert (line["pos"], line["seq"], line["hash"]) == (20, 20, head.hash)
    _as_attacker(conn, "DELETE FROM access_log WHERE seq > 15")
    assert "row 16 is missing" in str(verify(conn).problem)  # the chain still names them ...
    _as_attacker(conn, "DELETE FROM access_log_chain WHERE pos > 15")
    assert verify(conn).ok  # ... but the chain alone cannot tell a short log from a truncated one
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_pos) == (False, 16)
    assert "the log ends at row 15" in str(report.problem) and "recorded row 20" in str(report.problem)


def test_truncate_is_caught_by_the_anchor(conn: psycopg.Connection, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    _fill(conn, 5)
    access_log.anchor(conn, anchors)
    _as_attacker(conn, "TRUNCATE access_log, access_log_chain")
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_pos) == (False, 1)
    assert "the log is empty" in str(report.problem)
    _fill(conn, 8)  # a fresh chain of the same length is a different chain (rows 6-13)
    seal(conn, gap_grace_s=0)  # numbers 1-5 are long gone: nobody holds them
    report = verify(conn, anchors)
    assert (report.ok, report.first_bad_pos) == (False, 5)
    assert "the chain was rewritten" in str(report.problem)


def _recompute_chain(conn: psycopg.Connection) -> None:
    rows = conn.execute(f"SELECT {CONTENT_COLUMNS} FROM access_log l ORDER BY seq").fetchall()
    prev = GENESIS
    updates = []
    for r in rows:
        digest = row_hash(prev, canonical(*r[:15]))
        updates.append((prev, digest, r[0]))
        prev = digest
    with conn.transaction():
        conn.execute("ALTER TABLE access_log_chain DISABLE TRIGGER USER")
        with conn.cursor() as cur:
            cur.executemany("UPDATE access_log_chain SET prev_hash = %s, hash = %s WHERE seq = %s", updates)
        conn.execute("ALTER TABLE access_log_chain ENABLE TRIGGER USER")


def test_a_chain_rewritten_with_fresh_hashes_is_caught_by_the_first_later_anchor(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    for _ in range(4):
        _fill(conn, 5)
        access_log.anchor(conn, anchors)
    assert [a.pos for a in access_log.read_anchors(anchors)] == [5, 10, 15, 20]
    _as_attacker(conn, "UPDATE access_log SET username = 'nobody' WHERE seq = 7")
    assert verify(conn).first_bad_seq == 7
    _recompute_chain(conn)
    assert verify(conn).ok  # consistent with itself ...
    report = verify(conn, anchors)  # ... but not with what was anchored
    assert (report.ok, report.first_bad_pos) == (False, 10)


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
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON access_log, access_log_chain TO {role}"
        )
        for sql in (
            "UPDATE access_log SET username = 'x' WHERE seq = 1",
            "DELETE FROM access_log WHERE seq = 3",
            "TRUNCATE access_log",
            "UPDATE access_log_chain SET hash = prev_hash WHERE pos = 1",
            "DELETE FROM access_log_chain WHERE pos = 3",
            "TRUNCATE access_log_chain",
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
        # nor an entry whose row is still there
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
            conn.execute("SELECT set_config('platewatch.access_log_purge', 'on', true)")
            conn.execute("DELETE FROM access_log_chain WHERE pos = 1")
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
        conn.execute(
            "INSERT INTO access_log (time, username, organisation, action, terms, outcome)"
            " VALUES (%s, 'old', 'PAPD', 'login', %s, 'allowed')",
            (start + timedelta(minutes=i), Jsonb({})),
        )


def test_the_retention_purge_removes_only_expired_rows_and_says_so(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    anchors = tmp_path / "audit-anchors.jsonl"
    _insert_old_rows(conn, 4, days_ago=500)
    access_log.anchor(conn, anchors)  # seals them
    _fill(conn, 3)
    assert verify(conn, anchors).ok
    with pytest.raises(access_log.AccessLogError, match="at least 365 days"):
        access_log.purge_expired(conn, OPERATOR, 30)
    assert access_log.purge_expired(conn, OPERATOR, 400) == 4
    report = verify(conn, anchors)
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq, report.first_pos, report.last_pos) == (5, 8, 5, 8)
    assert conn.execute("SELECT min(pos), count(*) FROM access_log_chain").fetchone() == (5, 4)
    purge = access_log.query(conn, action=access_log.PURGE_ACTION)[0]
    assert (purge.terms["through_seq"], purge.terms["through_pos"]) == (4, 4)
    assert purge.returned_count == 4 and purge.username == "os:tester"
    assert access_log.purge_expired(conn, OPERATOR, 400) == 0


def test_deleting_the_oldest_rows_without_a_purge_is_caught(conn: psycopg.Connection) -> None:
    _fill(conn, 6)
    _as_attacker(conn, "DELETE FROM access_log WHERE seq <= 2", "DELETE FROM access_log_chain WHERE pos <= 2")
    report = verify(conn)
    assert (report.ok, report.first_bad_pos) == (False, 1)
    assert "no retention purge of them was logged" in str(report.problem)


def test_the_migration_carries_the_rows_before_it_into_the_chain(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows chained in the row itself (before migration 0011) keep their hashes, and their anchors hold."""
    everything = migrate_module.available_migrations()
    monkeypatch.setattr(
        migrate_module, "available_migrations", lambda: [m for m in everything if m.version < 11]
    )
    migrate(database_url)
    anchors = tmp_path / "audit-anchors.jsonl"
    with psycopg.connect(database_url, autocommit=True) as conn:
        prev, when = GENESIS, datetime.now(UTC) - timedelta(hours=1)
        for seq in range(1, 6):  # as the appends before 0011 wrote them
            content = canonical(
                seq, epoch_us(when), None, "old", "PAPD", None, "login", "{}", None, None, None,
                "allowed", None, 0, "{}",
            )  # fmt: skip
            digest = row_hash(prev, content)
            conn.execute(
                "INSERT INTO access_log (seq, time, username, organisation, action, terms, outcome,"
                " prev_hash, hash) VALUES (%s, %s, 'old', 'PAPD', 'login', %s, 'allowed', %s, %s)",
                (seq, when, Jsonb({}), prev, digest),
            )
            prev = digest
        old_anchor = {"seq": 5, "hash": prev.hex(), "time": when.isoformat(), "anchored_at": when.isoformat()}
        anchors.write_text(json.dumps(old_anchor) + "\n")
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: everything)
    assert 11 in migrate(database_url).applied
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM access_log_chain WHERE pos = seq").fetchone() == (5,)
        report = verify(conn, anchors)
        assert report.ok and (report.rows, report.anchors_checked, report.head_hash) == (5, 1, prev.hex())
        assert append(conn, LogEntry(action="login", username="new", organisation="PAPD")).seq == 6
        report = verify(conn, anchors)
        assert report.ok and (report.rows, report.last_seq, report.sealed) == (6, 6, 1)
        assert access_log.query(conn, limit=1)[0].prev_hash == prev
