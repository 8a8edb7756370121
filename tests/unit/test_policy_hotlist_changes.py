"""Hotlist changes as the sync reports them and as the access log records them, without Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from platewatch.engine.hotlist import Layout, ListSettings
from platewatch.engine.hotlist.sync import HotlistChange, HotlistSync
from platewatch.engine.policy.access_log import normalise_terms
from platewatch.engine.policy.bootstrap import generate_password
from platewatch.engine.policy.hotlist_changes import ACTION, change_entry
from platewatch.engine.policy.passwords import check_password

KEY = "pw:hot:stolen:7ABC123"


def _sync(seen: list[HotlistChange]) -> HotlistSync:
    return HotlistSync(
        "redis://unused", layout=Layout(), defaults=[ListSettings("stolen")], on_change=seen.append
    )


def test_the_sync_reports_added_changed_and_removed_and_not_a_re_read() -> None:
    seen: list[HotlistChange] = []
    sync = _sync(seen)
    sync.apply_record(KEY, b"hash", [b"reason", b"stolen"])
    sync.apply_record(KEY, b"hash", [b"reason", b"stolen"])  # a reconcile's re-read: nothing changed
    sync.apply_record(KEY, b"hash", [b"reason", b"stolen", b"priority", b"1"])
    sync.apply_record(KEY, b"none", [])
    sync.apply_record(KEY, b"none", [])
    assert [c.operation for c in seen] == ["added", "changed", "removed"]
    assert seen[1].before == {"reason": "stolen"} and seen[1].after == {"reason": "stolen", "priority": "1"}
    assert seen[2].before == {"reason": "stolen", "priority": "1"} and seen[2].after is None
    assert {(c.key, c.list_name, c.entry) for c in seen} == {(KEY, "stolen", "7ABC123")}


def test_list_settings_and_malformed_entries_are_changes_too() -> None:
    seen: list[HotlistChange] = []
    sync = _sync(seen)
    sync.apply_record("pw:hot:stolen", b"hash", [b"fuzzy", b"lenient"])
    sync.apply_record(KEY, b"hash", [b"priority", b"1"])  # no reason: malformed, not in the index
    sync.apply_record("pw:hot:_errors", b"hash", [KEY.encode(), b"x"])  # the layout's own key: not an edit
    listed, malformed = seen
    assert listed.entry is None and listed.operation == "changed"
    assert (listed.before or {})["fuzzy"] == "strict" and (listed.after or {})["fuzzy"] == "lenient"
    assert malformed.after == {"priority": "1"} and malformed.problem and "reason" in malformed.problem


def test_a_failing_hook_does_not_stop_the_index_following_redis() -> None:
    def broken(change: HotlistChange) -> None:
        raise RuntimeError("database gone")

    sync = HotlistSync("redis://unused", on_change=broken)
    sync.apply_record(KEY, b"hash", [b"reason", b"stolen"])
    assert sync.index.find("stolen", "7ABC123") is not None


def test_a_change_becomes_one_row_the_log_can_hold() -> None:
    change = HotlistChange(
        key="pw:hot:stolen:7ABC\x00",
        list_name="stolen",
        entry="7ABC\x00",
        before=None,
        after={"reason": "a\x00b"},
        seen_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        problem="plate has control characters",
    )
    entry = change_entry(change)
    entry.check()
    terms = normalise_terms(entry.terms)
    assert entry.action == ACTION and entry.username == "redis" and entry.user_id is None
    assert terms["operation"] == "added" and terms["after"] == {"reason": "a\\0b"}
    assert terms["key"] == "pw:hot:stolen:7ABC\\0" and terms["seen_at"] == "2025-01-02T03:04:05+00:00"
    assert terms["problem"] == "plate has control characters"


@pytest.mark.parametrize("username", ["admin", "a1", "abc"])
def test_generated_passwords_pass_the_policy(username: str) -> None:
    passwords = {generate_password(username) for _ in range(20)}
    assert len(passwords) == 20
    for password in passwords:
        check_password(password, username)
        assert len(password) == 20
