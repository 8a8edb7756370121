"""The access-log chain on entries built in memory: any change to a stored row or its chain entry
names that row.

The database-backed tests (tests/integration/test_policy_access_log.py) tamper with real tables;
these check the walk itself over many generated chains, without services.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from platewatch.engine.policy.access_log import (
    GENESIS,
    PURGE_ACTION,
    AccessLogError,
    Anchor,
    LogEntry,
    _walk,
    canonical,
    normalise_terms,
    row_hash,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T0 = 1_767_225_600_000_000  # NOW in microseconds since 1970


def chain(
    n: int, start_seq: int = 1, prev: bytes = GENESIS, purge_of: tuple[int, bytes] | None = None
) -> list[list[Any]]:
    """Chain entries as `verify` reads them: (pos, seq, prev_hash, hash, the row's 15 columns).

    Rows are numbered with a gap of one after each (sequence numbers can skip), entries without."""
    rows: list[list[Any]] = []
    for i in range(n):
        pos = start_seq + i
        seq = 2 * pos
        action, terms = "reads.search", json.dumps({"plate": f"AB{seq}"})
        if purge_of is not None and i == n - 1:
            action = PURGE_ACTION
            terms = json.dumps({"through_pos": purge_of[0], "through_hash": purge_of[1].hex()})
        fields: list[Any] = [
            seq,
            T0 + seq,
            7,
            "alice",
            "PAPD",
            "10.0.0.1",
            action,
            terms,
            "criminal investigation",
            "24-001234",
            None,
            "allowed",
            None,
            1,
            "{r" + str(seq) + "}",
        ]
        digest = row_hash(prev, canonical(*fields))
        rows.append([pos, seq, prev, digest, *fields])
        prev = digest
    return rows


def walk(rows: list[list[Any]], anchors: list[Anchor] | None = None) -> Any:
    return _walk(iter(rows), anchors or [], start=None, now=NOW)


def anchor_of(row: list[Any], days_ago: int = 0) -> Anchor:
    when = NOW - timedelta(days=days_ago)
    return Anchor(pos=row[0], seq=row[1], hash=row[3].hex(), time=when, anchored_at=when)


def test_an_untouched_chain_verifies() -> None:
    rows = chain(50)
    report = walk(rows, [anchor_of(rows[20]), anchor_of(rows[-1])])
    assert report.ok and report.rows == 50 and report.anchors_checked == 2
    assert (report.first_pos, report.last_pos, report.first_seq, report.last_seq) == (1, 50, 2, 100)
    assert report.head_hash == rows[-1][3].hex()
    assert walk([]).ok


EDITS: dict[int, Any] = {
    2: lambda v: bytes(32),  # the entry's prev_hash
    3: lambda v: bytes(32),  # the entry's hash
    4: lambda v: v + 100,  # the row's seq, as its content says
    5: lambda v: v + 1,  # time, one microsecond
    6: lambda v: 8,  # user id
    7: lambda v: v + "x",  # username
    8: lambda v: "other agency",
    9: lambda v: None,
    10: lambda v: "reads.read",
    11: lambda v: json.dumps({"plate": "ZZ999"}),
    12: lambda v: "routine patrol",
    13: lambda v: "24-999999",
    14: lambda v: "alert-1",
    15: lambda v: "refused",
    16: lambda v: "because",
    17: lambda v: v + 1,
    18: lambda v: "{}",
}


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 30), st.data())
def test_any_single_field_edit_names_the_edited_row(n: int, data: st.DataObject) -> None:
    rows = chain(n)
    k = data.draw(st.integers(0, n - 1))
    column = data.draw(st.sampled_from(sorted(EDITS)))
    if column == 2 and k == 0:
        rows[k][2] = b"\x01" * 32
    else:
        rows[k][column] = EDITS[column](rows[k][column])
    report = walk(rows)
    assert not report.ok
    assert (report.first_bad_pos, report.first_bad_seq) == (k + 1, 2 * (k + 1)), report.problem


def test_a_deleted_entry_is_named_missing() -> None:
    rows = chain(10)
    del rows[4]
    report = walk(rows)
    assert (report.ok, report.first_bad_pos) == (False, 5)
    assert "chain entry 5 is missing" in str(report.problem)


def test_a_sealed_row_gone_from_the_log_is_named() -> None:
    rows = chain(10)
    rows[6][4:] = [None] * 15  # the entry is there, its row is not
    report = walk(rows)
    assert (report.ok, report.first_bad_pos, report.first_bad_seq) == (False, 7, 14)
    assert "row 14 is missing" in str(report.problem)


def test_an_inserted_entry_breaks_the_chain_where_it_went_in() -> None:
    rows = chain(10)
    forged = chain(1, start_seq=5, prev=rows[3][3])[0]  # chains correctly from entry 4
    forged[1] = forged[4] = 9  # a row numbered between rows 8 and 10
    forged[3] = row_hash(forged[2], canonical(*forged[4:]))
    shifted = [[r[0] + 1, *r[1:]] if r[0] >= 5 else r for r in rows]
    report = walk([*shifted[:4], forged, *shifted[4:]])
    assert (report.ok, report.first_bad_pos, report.first_bad_seq) == (False, 6, 10)
    assert "row 10 does not follow row 9" in str(report.problem)


def test_an_entry_sealing_an_earlier_row_is_named() -> None:
    rows = chain(3)
    late = chain(1, start_seq=4, prev=rows[2][3])[0]
    late[1] = late[4] = 3  # chains correctly, but numbered before the row sealed ahead of it
    late[3] = row_hash(late[2], canonical(*late[4:]))
    report = walk([*rows, late])
    assert (report.ok, report.first_bad_pos) == (False, 4)
    assert "the chain was reordered" in str(report.problem)


def test_two_swapped_rows_are_caught_at_the_first() -> None:
    rows = chain(10)
    rows[3][5:], rows[4][5:] = rows[4][5:], rows[3][5:]  # keep the numbers, swap everything else
    report = walk(rows)
    assert (report.ok, report.first_bad_pos) == (False, 4)


def test_a_dropped_tail_is_caught_by_an_anchor() -> None:
    rows = chain(10)
    assert walk(rows[:7]).ok  # without an anchor a shorter chain is still a chain
    report = walk(rows[:7], [anchor_of(rows[9])])
    assert (report.ok, report.first_bad_pos) == (False, 8)
    assert "the log ends at row 14" in str(report.problem) and "(chain entry 10)" in str(report.problem)
    empty = walk([], [anchor_of(rows[9])])
    assert not empty.ok and "the log is empty" in str(empty.problem)


def test_a_recomputed_chain_is_caught_by_an_anchor() -> None:
    rows = chain(10)
    rewritten = chain(10)
    rewritten[2][7] = "mallory"
    prev = GENESIS
    for r in rewritten:  # recompute every hash, as an attacker with the code would
        r[2], r[3] = prev, row_hash(prev, canonical(*r[4:]))
        prev = r[3]
    assert walk(rewritten).ok
    report = walk(rewritten, [anchor_of(rows[5])])
    assert (report.ok, report.first_bad_pos) == (False, 6)
    assert "the chain was rewritten" in str(report.problem)


def test_a_purged_prefix_is_accepted_only_with_its_purge_row() -> None:
    rows = chain(10)
    kept = rows[4:]
    assert walk(kept).first_bad_pos == 1  # entries 1-4 gone and nothing says why
    tail = chain(1, start_seq=11, prev=rows[9][3], purge_of=(4, rows[4][2]))
    report = walk([*kept, *tail], [anchor_of(rows[2], days_ago=400)])
    assert report.ok, report.problem
    young = walk([*kept, *tail], [anchor_of(rows[2], days_ago=30)])
    assert not young.ok and "too young for the retention purge" in str(young.problem)


def test_terms_are_json_values() -> None:
    terms = normalise_terms({"from": NOW, "cameras": ("a", "b"), "n": 1, "x": 0.5, "set": {"b", "a"}})
    assert terms == {"from": NOW.isoformat(), "cameras": ["a", "b"], "n": 1, "x": 0.5, "set": ["a", "b"]}
    for bad in ({"x": float("nan")}, {"x": object()}, {"x": "a\x00b"}):
        try:
            normalise_terms(bad)
        except AccessLogError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_an_entry_checks_itself() -> None:
    ok = LogEntry(action="reads.search", username="a", organisation="b")
    ok.check()
    for bad in (
        LogEntry(action="x", username="a", organisation="b", outcome="refused"),
        LogEntry(action="", username="a", organisation="b"),
        LogEntry(action="x", username="a", organisation="b", returned_ids=["1", "2"], returned_count=1),
        LogEntry(action="x", username="a\x00", organisation="b"),
    ):
        try:
            bad.check()
        except AccessLogError:
            continue
        raise AssertionError(f"{bad!r} passed its check")


def test_anchors_live_outside_the_database_where_configured() -> None:
    from pathlib import Path

    from platewatch.engine.config.access import AccessConfig
    from platewatch.engine.policy.access_log import anchor_path

    assert anchor_path(AccessConfig(), Path("/srv/pw")) == Path("/srv/pw/audit-anchors.jsonl")
    assert anchor_path(AccessConfig(anchor_file=Path("/ro/anchors")), Path("/srv/pw")) == Path("/ro/anchors")
