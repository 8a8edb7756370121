"""The index follows Redis: live edits through a plain client, malformed keys, reconcile, restarts.

Each test uses its own key prefix on the shared Redis (tests/conftest.py `redis_url`), so it never
touches anyone else's keys; the restart test runs a Redis of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from platewatch.engine.hotlist import Layout, ListSettings, match_plate
from platewatch.engine.hotlist.sync import HotlistSync, load_index
from platewatch.engine.services import start_embedded_redis


@pytest.fixture
def layout(redis_url: str) -> Iterator[Layout]:
    layout = Layout(prefix=f"pwt{uuid.uuid4().hex[:8]}:hot")
    yield layout
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=layout.scan_match, count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
async def sync(redis_url: str, layout: Layout) -> AsyncIterator[HotlistSync]:
    follower = HotlistSync(
        redis_url, layout=layout, defaults=[ListSettings("stolen", fuzzy="strict")], reconcile_s=300
    )
    await follower.start()
    yield follower
    await follower.stop()


def kinds(sync: HotlistSync, plate: str) -> set[tuple[str, str, str]]:
    return {(m.list_name, m.entry, m.kind) for m in match_plate(sync.index, plate)}


async def eventually(check: Callable[[], bool], within: float) -> float:
    """Seconds until `check()` holds; fails after `within`."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < within, f"not within {within}s"
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def test_hset_del_expire_show_up_within_a_second(
    sync: HotlistSync, admin: redis.Redis, layout: Layout
) -> None:
    admin.hset(layout.entry_key("stolen", "7ABC123"), mapping={"reason": "stolen vehicle", "case": "24-1187"})
    await sync.wait_ready(10)
    await eventually(lambda: ("stolen", "7ABC123", "fuzzy") in kinds(sync, "7A8C123"), 1.0)

    admin.hset(layout.entry_key("stolen", "6XYZ999"), mapping={"reason": "stolen plate", "priority": "1"})
    await eventually(lambda: ("stolen", "6XYZ999", "exact") in kinds(sync, "6XYZ999"), 1.0)
    [match] = match_plate(sync.index, "6XYZ999")
    assert match.priority == 1 and match.fields["reason"] == "stolen plate"

    admin.hset(layout.entry_key("stolen", "6XYZ999"), "reason", "recovered? no: stolen plate")
    await eventually(
        lambda: match_plate(sync.index, "6XYZ999")[0].fields["reason"].startswith("recovered"), 1.0
    )

    admin.delete(layout.entry_key("stolen", "7ABC123"))
    await eventually(lambda: not kinds(sync, "7ABC123"), 1.0)

    admin.pexpire(layout.entry_key("stolen", "6XYZ999"), 100)
    await eventually(lambda: not kinds(sync, "6XYZ999"), 1.5)

    # per-list settings: off turns fuzzy off, partial allows patterns, active false silences the list
    admin.hset(layout.entry_key("stolen", "5KLM222"), "reason", "x")
    await eventually(lambda: bool(kinds(sync, "5KLM222")), 1.0)
    admin.hset(layout.list_key("stolen"), "fuzzy", "off")
    await eventually(lambda: not kinds(sync, "5KLM2Z2"), 1.0)
    admin.hset(layout.list_key("stolen"), "active", "false")
    await eventually(lambda: not kinds(sync, "5KLM222"), 1.0)
    admin.delete(layout.list_key("stolen"))
    await eventually(lambda: bool(kinds(sync, "5KLM2Z2")), 1.0)


async def test_partial_patterns_follow_the_list_setting(
    sync: HotlistSync, admin: redis.Redis, layout: Layout
) -> None:
    await sync.wait_ready(10)
    key = layout.entry_key("shooting", "6?K*4")
    admin.hset(key, mapping={"reason": "witness: shooting 11/27", "case": "26-0042"})
    await eventually(lambda: admin.hget(layout.errors_key, key) is not None, 1.0)
    assert "partial" in str(admin.hget(layout.errors_key, key))
    assert not kinds(sync, "6XK994")
    admin.hset(layout.list_key("shooting"), mapping={"partial": "true", "priority": "1"})
    await eventually(lambda: ("shooting", "6?K*4", "partial") in kinds(sync, "6XK994"), 1.0)
    await eventually(lambda: admin.hget(layout.errors_key, key) is None, 1.0)


async def test_malformed_entries_are_reported_not_fatal(
    sync: HotlistSync, admin: redis.Redis, layout: Layout
) -> None:
    bad = {
        layout.entry_key("stolen", "7abc123"): {"reason": "lower case"},
        layout.entry_key("stolen", "AB*"): {"reason": "too vague"},
        layout.entry_key("stolen", "1ABC234"): {"reason": "x", "priors": "burglary 2019"},
        layout.entry_key("stolen", "2ABC234"): {"case": "no reason"},
        layout.entry_key("stolen", "3ABC234"): {"reason": "x", "priority": "urgent"},
        layout.entry_key("Bad List", "4ABC234"): {"reason": "x"},
    }
    for key, fields in bad.items():
        admin.hset(key, mapping=fields)
    admin.set(layout.entry_key("stolen", "5ABC234"), "not a hash")
    admin.hset(layout.entry_key("stolen", "8ABC234"), "reason", "fine")
    await sync.wait_ready(10)
    await eventually(lambda: len(admin.hkeys(layout.errors_key)) == len(bad) + 1, 1.0)
    errors = admin.hgetall(layout.errors_key)
    assert "criminal-history" in errors[layout.entry_key("stolen", "1ABC234")]
    assert "use '7ABC123'" in errors[layout.entry_key("stolen", "7abc123")]
    assert kinds(sync, "8ABC234") == {("stolen", "8ABC234", "exact")}

    # malformed after the start, too; fixing an entry clears its error
    admin.hset(layout.entry_key("stolen", "8ABC234"), "dob", "1990-01-01")
    await eventually(lambda: not kinds(sync, "8ABC234"), 1.0)
    admin.hdel(layout.entry_key("stolen", "8ABC234"), "dob")
    await eventually(lambda: bool(kinds(sync, "8ABC234")), 1.0)
    admin.hdel(layout.entry_key("stolen", "1ABC234"), "priors")
    await eventually(lambda: layout.entry_key("stolen", "1ABC234") not in admin.hkeys(layout.errors_key), 1.0)
    assert kinds(sync, "1ABC234") == {("stolen", "1ABC234", "exact")}


async def test_reconcile_heals_without_notifications(
    redis_url: str, layout: Layout, admin: redis.Redis
) -> None:
    """A server whose CONFIG we may not change: changes still arrive, at the reconcile."""
    follower = HotlistSync(redis_url, layout=layout, reconcile_s=0.5, configure_notifications=False)
    before = admin.config_get("notify-keyspace-events")["notify-keyspace-events"]
    admin.config_set("notify-keyspace-events", "")
    try:
        await follower.start()
        await follower.wait_ready(10)
        assert not follower.notifications
        admin.hset(layout.entry_key("stolen", "7ABC123"), "reason", "x")
        await eventually(lambda: bool(kinds(follower, "7ABC123")), 3.0)
    finally:
        admin.config_set("notify-keyspace-events", before)
        await follower.stop()


async def test_redis_restarted_mid_run(tmp_path: Path) -> None:
    first = start_embedded_redis(tmp_path / "a", "127.0.0.1", 0, 30.0)
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    layout = Layout()
    client = redis.Redis.from_url(first.url)
    client.hset(layout.entry_key("stolen", "7ABC123"), "reason", "x")
    follower = HotlistSync(first.url, layout=layout, reconcile_s=300)
    await follower.start()
    second = None
    try:
        await follower.wait_ready(10)
        assert kinds(follower, "7ABC123")
        first.stop()
        await asyncio.sleep(0.5)
        assert kinds(follower, "7ABC123"), "matching goes on with the last index while Redis is away"
        # a different server on the same port (fresh data): the resync must reflect it
        second = start_embedded_redis(tmp_path / "b", "127.0.0.1", port, 30.0)
        other = redis.Redis.from_url(second.url)
        other.hset(layout.entry_key("stolen", "9XYZ876"), "reason", "y")
        await eventually(lambda: bool(kinds(follower, "9XYZ876")), 10.0)
        assert not kinds(follower, "7ABC123")
        other.hset(layout.entry_key("stolen", "5KLM222"), "reason", "z")
        await eventually(lambda: bool(kinds(follower, "5KLM222")), 1.0)
        other.close()
    finally:
        await follower.stop()
        client.close()
        if second:
            second.stop()


async def test_a_server_that_refuses_scripts_is_read_alike(
    redis_url: str,
    layout: Layout,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin.hset(layout.entry_key("stolen", "8ABC234"), mapping={"reason": "fine", "priority": "1"})
    admin.hset(layout.entry_key("stolen", "2ABC234"), "case", "no reason")
    admin.set(layout.entry_key("stolen", "5ABC234"), "not a hash")
    admin.hset(layout.list_key("stolen"), "fuzzy", "off")
    keys = [layout.entry_key("stolen", t) for t in ("8ABC234", "2ABC234", "5ABC234", "9GONE99")]
    keys.append(layout.list_key("stolen"))

    def loaded() -> tuple[object, ...]:
        result = load_index(redis_url, layout)
        entries = sorted((e.key, sorted(e.fields.items())) for e in result.index.entries())
        return entries, result.errors, result.index.lists

    async def fetched() -> list[tuple[bytes, bytes, list[tuple[bytes, bytes]]]]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            records = await HotlistSync(redis_url, layout=layout)._fetch(client, keys)
        finally:
            await client.aclose()
        return sorted(
            (key, kind, sorted(zip(flat[::2], flat[1::2], strict=True))) for key, kind, flat in records
        )

    with_scripts = (loaded(), await fetched())
    assert with_scripts[0][1] and with_scripts[0][0]  # both an entry and errors to compare

    def refuse(*args: object, **kwargs: object) -> None:
        raise redis.ResponseError("scripts are disabled on this server")

    monkeypatch.setattr(redis.Redis, "register_script", lambda self, script: refuse)
    monkeypatch.setattr(aioredis.Redis, "eval", refuse)
    assert (loaded(), await fetched()) == with_scripts
    assert "Lua scripts refused" in caplog.text
