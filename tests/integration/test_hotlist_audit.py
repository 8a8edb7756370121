"""Hotlist edits made with a plain Redis client land in the access log, with the fields before and after.

The sync reports each change it applies; the policy turns it into a row, written from a queue in a
thread of its own (engine/policy/log_queue.py), as the worker wires it in agents/match.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import redis

from platewatch.engine.hotlist import Layout, ListSettings
from platewatch.engine.hotlist.sync import HotlistSync
from platewatch.engine.policy import access_log
from platewatch.engine.policy.hotlist_changes import ACTION, change_entry
from platewatch.engine.policy.log_queue import QueuedLog
from platewatch.engine.store import migrate


@pytest.fixture
def layout(redis_url: str) -> Iterator[Layout]:
    layout = Layout(prefix=f"pwt{uuid.uuid4().hex[:8]}:hot")
    yield layout
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=layout.scan_match, count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _changes(database_url: str) -> list[access_log.LogRow]:
    with psycopg.connect(database_url) as conn:
        return list(reversed(access_log.query(conn, action=ACTION)))


async def _eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < within, f"not within {within}s"
        await asyncio.sleep(0.05)


async def test_hset_and_del_are_logged_with_fields_before_and_after(
    redis_url: str, database_url: str, layout: Layout
) -> None:
    migrate(database_url)
    log = QueuedLog(database_url)
    log.start()
    sync = HotlistSync(
        redis_url,
        layout=layout,
        defaults=[ListSettings("stolen")],
        on_change=lambda change: log.submit(change_entry(change)),
    )
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    key = layout.entry_key("stolen", "7ABC123")
    try:
        admin.hset(
            key, mapping={"reason": "stolen vehicle", "priority": "1"}
        )  # there before: a load, not a change
        await sync.start()
        await sync.wait_ready(10)
        assert _changes(database_url) == []

        admin.hset(key, "reason", "stolen vehicle, armed")
        admin.hset(layout.list_key("stolen"), "partial", "true")
        await _eventually(lambda: len(_changes(database_url)) == 2)
        admin.delete(key)
        admin.hset(layout.entry_key("stolen", "8XYZ999"), "priority", "9")  # malformed: still an edit
        await _eventually(lambda: len(_changes(database_url)) == 4)
    finally:
        await sync.stop()
        await asyncio.to_thread(log.stop)
        admin.close()

    rows = _changes(database_url)
    removed, malformed = rows[2:]  # one batch is applied in key order, so find the first two by key
    edited, listed = sorted(rows[:2], key=lambda r: r.terms["entry"] is None)
    assert edited.username == "redis" and edited.outcome == "allowed"
    assert edited.terms["operation"] == "changed" and edited.terms["key"] == key
    assert edited.terms["before"] == {"reason": "stolen vehicle", "priority": "1"}
    assert edited.terms["after"] == {"reason": "stolen vehicle, armed", "priority": "1"}
    assert edited.terms["list"] == "stolen" and edited.terms["entry"] == "7ABC123" and edited.terms["seen_at"]
    assert listed.terms["entry"] is None
    assert (listed.terms["before"]["partial"], listed.terms["after"]["partial"]) == (False, True)
    assert removed.terms["operation"] == "removed" and removed.terms["after"] is None
    assert removed.terms["before"] == {"reason": "stolen vehicle, armed", "priority": "1"}
    assert malformed.terms["operation"] == "added" and malformed.terms["after"] == {"priority": "9"}
    assert "reason" in malformed.terms["problem"]
    with psycopg.connect(database_url) as conn:
        assert access_log.verify(conn).ok


def test_rows_wait_in_the_queue_while_the_database_is_down(database_url: str) -> None:
    migrate(database_url)
    attempts = 0

    def flaky() -> psycopg.Connection:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise psycopg.OperationalError("database is starting up")
        return psycopg.connect(database_url, autocommit=True)

    log = QueuedLog(database_url, retry_cap_s=0.2, connect=flaky)
    entry = access_log.LogEntry(action=ACTION, username="redis", organisation="x", terms={"key": "k"})
    log.submit(entry)
    log.submit(entry)
    log.start()
    deadline = time.monotonic() + 10
    while log.written < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    log.stop()
    assert log.failures == 2 and len(_changes(database_url)) == 2
    with pytest.raises(access_log.AccessLogError):
        log.submit(access_log.LogEntry(action=ACTION, username="", organisation="x"))
