"""Keeping the in-memory index equal to Redis: full load, live follow, periodic reconcile, reconnect.

- Full load: a Lua script SCANs a batch of keys and returns their type and fields in one msgpack
  blob, so a million hashes cross the wire as a few hundred replies instead of millions of RESP
  elements (redis-py's pure-Python parser would need most of the 20 s budget for those alone).
  Servers that refuse scripts get the plain SCAN + pipelined HGETALL path.
- Live: keyspace notifications (`__keyspace@<db>__:pw:hot:*`) name the changed key; the follower
  re-reads those keys (HSET, HDEL, DEL, EXPIRE/expired, RENAME all just mean "read it again") and
  patches the index in place: an edit is live in milliseconds. The follower subscribes *before* a full
  load starts, so nothing changed during a load is lost; keys touched meanwhile are re-read afterwards.
  If the server's `notify-keyspace-events` lacks what we need, we set it (`CONFIG SET`, merged with
  what is there); where CONFIG is forbidden we log it and rely on the reconcile alone.
- Reconcile: every `reconcile_s` a fresh index is built in a thread from a full load and swapped in,
  which heals a missed notification and compacts the overlay of live changes.
- Redis gone: matching keeps using the last index; the follower retries with backoff and, once back,
  does a full load (notifications sent while we were away are lost, the load makes up for them).
- Changes: each live change that alters what the index holds (an entry added, changed or removed, a
  list's settings changed) is handed to `on_change` as a `HotlistChange` with the fields before and
  after. Redis commands carry no user, so whoever keeps the record (the worker writes the access
  log) learns of edits here. A change healed by a reconcile, not by a notification, is not reported.

Malformed keys are skipped, logged once, counted, and listed in the `pw:hot:_errors` hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
import numpy as np
import redis
import redis.asyncio as aioredis

from platewatch.engine.config.base import NAME_PATTERN
from platewatch.engine.retry import backoff_delays

from . import metrics
from .entry import (
    ENTRY_FIELDS,
    MAX_PLATE,
    ListSettings,
    decode_fields,
    is_pattern,
    parse_entry,
    parse_list_settings,
)
from .index import HotlistIndex, pack_fields
from .layout import LAYOUT_VERSION, KeyKind, Layout

log = logging.getLogger("platewatch.hotlist")

# Each hash comes back as one string, fields and values joined by \x1f (a control character, which
# entries may not contain), with its element count to tell a value that hid one.
SCAN_FETCH_LUA = """
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {}
for _, k in ipairs(r[2]) do
  local h = redis.pcall('HGETALL', k)
  if h['err'] == nil then out[#out + 1] = {k, #h, table.concat(h, '\\31')}
  else out[#out + 1] = {k, -1, redis.call('TYPE', k)['ok']} end
end
return {r[1], cmsgpack.pack(out)}
"""
FETCH_LUA = """
local out = {}
for _, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t == 'hash' then out[#out + 1] = {k, t, redis.call('HGETALL', k)} else out[#out + 1] = {k, t, {}} end
end
return cmsgpack.pack(out)
"""
NOTIFY_FLAGS = "Kghxe"  # keyspace channel; generic (del, expire, rename), hash, expired, evicted
Record = tuple[bytes, bytes, list[bytes]]  # key, type, flat HGETALL
Joined = tuple[bytes, int, bytes]  # key, HGETALL length (-1: not a hash), joined fields (or the type)


def not_partial(list_name: str, layout: Layout) -> str:
    return (
        f"list {list_name!r} does not allow partial patterns "
        f"(HSET {layout.list_key(list_name)} partial true, policy 462.2(c))"
    )


@dataclass(frozen=True)
class HotlistChange:
    """One change the sync saw. `before` is what the index held, `after` what Redis holds now.

    For an entry the fields are the hash's; for a list (`entry` None) they are its effective
    settings. None means there was (or is) no such entry; a malformed entry is reported with the
    fields it has and its `problem`, since writing it was an edit too.
    """

    key: str
    list_name: str
    entry: str | None  # the plate or pattern; None: the list's settings
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    seen_at: datetime
    problem: str | None = None

    @property
    def operation(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"


ChangeHook = Callable[[HotlistChange], None]


def _settings_fields(settings: ListSettings) -> dict[str, Any]:
    return {
        "priority": settings.priority,
        "fuzzy": settings.fuzzy,
        "partial": settings.partial,
        "active": settings.active,
    }


@dataclass
class LoadResult:
    index: HotlistIndex
    errors: dict[str, str]
    seconds: float
    keys: int


@dataclass
class _Collected:
    """Plate entries as packed buffers (see HotlistIndex.build_packed), the rest as objects."""

    names: dict[bytes, int] = field(default_factory=dict)
    list_ids: array[int] = field(default_factory=lambda: array("H"))
    plates: bytearray = field(default_factory=bytearray)
    payload: bytearray = field(default_factory=bytearray)
    offsets: array[int] = field(default_factory=lambda: array("q", [0]))
    patterns: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    list_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    keys: int = 0
    fast: Callable[[bytes, list[bytes]], tuple[bytes, bytes] | None] | None = None

    def add_plate(self, list_name: bytes, plate: bytes, payload: bytes) -> None:
        lid = self.names.get(list_name)
        if lid is None:
            lid = self.names[list_name] = len(self.names)
        self.list_ids.append(lid)
        self.plates += plate.ljust(MAX_PLATE, b"\0")
        self.payload += payload
        self.offsets.append(len(self.payload))


def _fast_path(layout: Layout) -> Callable[[bytes, list[bytes]], tuple[bytes, bytes] | None]:
    """A check that accepts the common, clearly valid plate entry without building any objects.

    A million entries must load in seconds, so the usual case (a plain plate, known fields within
    their lengths, printable ASCII) is recognised on the raw bytes. Anything else takes the full
    validation in entry.py, which also says why; the fast path only ever says "valid".
    """
    key_re = re.compile(
        re.escape(layout.prefix.encode()) + rb":(%s):([0-9A-Z]{1,%d})$" % (NAME_PATTERN.encode(), MAX_PLATE)
    )
    limits = {name.encode(): size for name, size in ENTRY_FIELDS.items()}
    state_re = re.compile(rb"[A-Z]{2,3}")
    priorities = {b"1", b"2", b"3", b"4", b"5"}

    def check(raw_key: bytes, flat: list[bytes]) -> tuple[bytes, bytes] | None:
        match = key_re.match(raw_key)
        if match is None or len(flat) % 2:
            return None
        has_reason = False
        for i in range(0, len(flat), 2):
            name, value = flat[i], flat[i + 1]
            size = limits.get(name)
            if size is None or len(value) > size:
                return None
            if name == b"reason":
                has_reason = has_reason or bool(value.strip())
            elif name == b"priority":
                if value not in priorities:
                    return None
            elif name == b"state" and value and not state_re.fullmatch(value):
                return None
        return (match.group(1), match.group(2)) if has_reason else None

    return check


_PRINTABLE_ASCII = re.compile(rb"[\x1f\x20-\x7e]*")


def _collect(records: Iterable[Joined], layout: Layout, into: _Collected) -> None:
    fast = into.fast or _fast_path(layout)
    into.fast = fast
    printable = _PRINTABLE_ASCII.fullmatch
    for raw_key, length, joined in records:
        into.keys += 1
        if length <= 0:
            if length == 0:  # gone between SCAN and HGETALL
                continue
            _collect_one(raw_key, joined, [], layout, into)
            continue
        flat = joined.split(b"\x1f")
        if len(flat) != length:
            key = raw_key.decode("utf-8", "replace")
            into.errors[key] = "a field or value has control characters"
            continue
        if printable(joined):
            found = fast(raw_key, flat)
            if found is not None:
                into.add_plate(found[0], found[1], joined)
                continue
        _collect_one(raw_key, b"hash", flat, layout, into)


def _collect_one(
    raw_key: bytes, raw_type: bytes, flat: list[bytes], layout: Layout, into: _Collected
) -> None:
    """The full validation of one key, with the reason when it is malformed."""
    key = raw_key.decode("utf-8", "replace")
    kind = layout.classify(key)
    if kind.kind == "reserved":
        return
    if kind.kind == "bad":
        into.errors[key] = kind.problem
        return
    if raw_type != b"hash":
        into.errors[key] = f"is a {raw_type.decode(errors='replace')}, must be a hash (HSET)"
        return
    fields, problem = decode_fields(flat)
    if fields is None:
        into.errors[key] = problem or "unreadable"
        return
    if kind.kind == "list":
        into.list_fields[kind.list_name] = fields
        return
    problem = parse_entry(kind.text, fields)
    if problem:
        into.errors[key] = problem
    elif is_pattern(kind.text):
        into.patterns.append((kind.list_name, kind.text, fields))
    else:
        into.add_plate(kind.list_name.encode(), kind.text.encode(), pack_fields(fields))


def _scan_records(client: redis.Redis, layout: Layout, batch: int) -> Iterable[list[Joined]]:
    """Batches of (key, length, joined fields) for every key of the layout: by script, or plainly."""
    try:
        script = client.register_script(SCAN_FETCH_LUA)
        # The next batch is fetched while this one is parsed: Redis works in its own process, and the
        # socket wait releases the GIL, so the two overlap.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotlist-load") as pool:
            ahead = pool.submit(script, args=["0", layout.scan_match, batch])
            while True:
                cursor, blob = ahead.result()
                last = cursor in (b"0", 0, "0")
                if not last:
                    ahead = pool.submit(script, args=[cursor, layout.scan_match, batch])
                yield msgpack.unpackb(blob, raw=True)
                if last:
                    return
    except redis.ResponseError as exc:  # scripts disabled (some managed services)
        log.warning("hotlist: Lua scripts refused (%s); loading with SCAN + HGETALL", exc)
    keys: list[bytes] = []
    for key in client.scan_iter(match=layout.scan_match, count=batch):
        keys.append(key)
        if len(keys) >= batch:
            yield _plain_fetch(client, keys)
            keys = []
    if keys:
        yield _plain_fetch(client, keys)


def _queue_reads(pipe: redis.client.Pipeline | aioredis.client.Pipeline, keys: Sequence[bytes | str]) -> None:
    """TYPE and HGETALL of each key on a pipeline: how keys are read where scripts are refused."""
    for key in keys:
        pipe.type(key)
        pipe.hgetall(key)


def _records(keys: Sequence[bytes | str], replies: Sequence[object]) -> list[Record]:
    """The replies of `_queue_reads` as (key, type, flat HGETALL) records, like FETCH_LUA's."""
    out: list[Record] = []
    for i, key in enumerate(keys):
        typ, values = replies[2 * i], replies[2 * i + 1]
        flat = [x for kv in values.items() for x in kv] if isinstance(values, dict) else []
        raw_key = key if isinstance(key, bytes) else key.encode()
        out.append((raw_key, typ if isinstance(typ, bytes) else str(typ).encode(), flat))
    return out


def _joined(record: Record) -> Joined:
    """A record in the bulk load's form (a hash with no fields left is gone: length 0)."""
    key, typ, flat = record
    if typ == b"hash":
        return key, len(flat), b"\x1f".join(flat)
    return key, 0 if typ == b"none" else -1, typ


def _plain_fetch(client: redis.Redis, keys: Sequence[bytes]) -> list[Joined]:
    pipe = client.pipeline(transaction=False)
    _queue_reads(pipe, keys)
    return [_joined(record) for record in _records(keys, pipe.execute(raise_on_error=False))]


def load_index(
    redis_url: str,
    layout: Layout,
    defaults: Sequence[ListSettings] = (),
    *,
    batch: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Read every hotlist key and build a fresh index (blocking: run it in a thread)."""
    began = time.monotonic()
    client = redis.Redis.from_url(redis_url, socket_timeout=60, socket_connect_timeout=5)
    got = _Collected()
    # A load allocates millions of short strings and no reference cycles; the cyclic collector would
    # otherwise walk them again and again (measured: a third of the load time at a million entries).
    collecting = gc.isenabled()
    gc.disable()
    try:
        version = client.get(layout.version_key)
        if version is not None and version != str(LAYOUT_VERSION).encode():
            got.errors[layout.version_key] = f"layout version {version!r} unknown; this engine reads v1"
        for records in _scan_records(client, layout, batch):
            _collect(records, layout, got)
            if progress:
                progress(got.keys)
        client.close()
        lists = {d.name: d for d in defaults}
        for name, fields in got.list_fields.items():
            settings, problems = parse_list_settings(name, fields, lists.get(name, ListSettings(name)))
            lists[name] = settings
            if problems:
                got.errors[layout.list_key(name)] = "; ".join(problems)
        index = HotlistIndex(lists, layout.prefix)
        index.build_packed(
            [name.decode() for name in got.names],
            np.frombuffer(got.list_ids, dtype=np.uint16),
            got.plates,
            got.payload,
            np.frombuffer(got.offsets, dtype=np.int64),
        )
        for name, text, fields in got.patterns:
            index.upsert(name, text, fields)
            if not index.lists[name].partial:
                got.errors[layout.entry_key(name, text)] = not_partial(name, layout)
    finally:
        client.close()
        if collecting:
            gc.enable()
    return LoadResult(index, got.errors, time.monotonic() - began, got.keys)


class HotlistSync:
    """Owns the current index and keeps it in step with Redis. Use from one event loop."""

    def __init__(
        self,
        redis_url: str,
        *,
        layout: Layout | None = None,
        defaults: Sequence[ListSettings] = (),
        reconcile_s: float = 300.0,
        configure_notifications: bool = True,
        on_change: ChangeHook | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.on_change = on_change  # called on the event loop: it must not block
        self.layout = layout or Layout()
        self.defaults = {d.name: d for d in defaults}
        self.reconcile_s = reconcile_s
        self.configure_notifications = configure_notifications
        self.index = HotlistIndex(dict(self.defaults), self.layout.prefix)
        self.errors: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.notifications = False
        self.loads = 0
        self.last_load: LoadResult | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[str] = set()
        self._touched: set[str] | None = None
        self._stopping = False

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="hotlist-sync")

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # ---- the follower ------------------------------------------------------------------------

    async def _run(self) -> None:
        delays = backoff_delays(base=0.2, cap=5.0)
        while not self._stopping:
            client = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=5
            )
            try:
                await self._session(client)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                metrics.REDIS_UP.set(0)
                delay = next(delays)
                log.warning(
                    "hotlist: Redis unavailable (%s: %s); matching on the last index, retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:  # a bug must not end the follower: matching goes on, the next load retries
                metrics.REDIS_UP.set(0)
                delay = next(delays)
                log.exception(
                    "hotlist: follower failed; matching on the last index, retrying in %.1fs", delay
                )
                await asyncio.sleep(delay)
            else:
                delays = backoff_delays(base=0.2, cap=5.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _enable_notifications(self, client: aioredis.Redis) -> bool:
        try:
            current = str(
                (await client.config_get("notify-keyspace-events")).get("notify-keyspace-events", "")
            )
            have = set(current.replace("A", "g$lshzxet"))
            missing = [c for c in NOTIFY_FLAGS if c not in have]
            if missing and self.configure_notifications:
                await client.config_set("notify-keyspace-events", current + "".join(missing))
                log.info(
                    "hotlist: turned on keyspace notifications (%s → %s)", current, current + "".join(missing)
                )
            elif missing:
                raise redis.ResponseError("not allowed to configure")
            return True
        except redis.ResponseError as exc:
            log.warning(
                "hotlist: keyspace notifications unavailable (%s); changes show at the reconcile every %.0fs",
                exc,
                self.reconcile_s,
            )
            return False

    async def _session(self, client: aioredis.Redis) -> None:
        await client.ping()
        self.notifications = await self._enable_notifications(client)
        metrics.NOTIFICATIONS.set(int(self.notifications))
        db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
        channel_head = f"__keyspace@{db}__:"
        pubsub = client.pubsub()
        try:
            if self.notifications:
                await pubsub.psubscribe(channel_head + self.layout.scan_match)
            metrics.REDIS_UP.set(1)
            reload = asyncio.create_task(self._reload(client), name="hotlist-reload")
            next_reconcile = time.monotonic() + self.reconcile_s
            try:
                while True:
                    if self.notifications:
                        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
                        while msg is not None:
                            channel = msg["channel"]
                            text = (
                                channel.decode("utf-8", "replace") if isinstance(channel, bytes) else channel
                            )
                            self._pending.add(text[len(channel_head) :])
                            if len(self._pending) >= 5000:
                                break
                            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                    else:
                        await asyncio.sleep(0.2)
                        await client.ping()
                    if self._pending:
                        keys, self._pending = self._pending, set()
                        await self._apply(client, keys)
                    if reload.done():
                        reload.result()  # a failed load ends the session: reconnect and load again
                        if time.monotonic() >= next_reconcile:
                            next_reconcile = time.monotonic() + self.reconcile_s
                            reload = asyncio.create_task(self._reload(client), name="hotlist-reload")
            finally:
                if not reload.done():
                    reload.cancel()
                    with contextlib.suppress(BaseException):
                        await reload
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _reload(self, client: aioredis.Redis) -> None:
        self._touched = set()
        try:
            result = await asyncio.to_thread(
                load_index, self.redis_url, self.layout, list(self.defaults.values())
            )
        except BaseException:
            self._touched = None
            raise
        self.index = result.index
        touched, self._touched = self._touched, None
        self.loads += 1
        self.last_load = result
        metrics.RELOADS.inc()
        metrics.RELOAD_SECONDS.set(result.seconds)
        metrics.LAST_SYNC.set(time.time())
        if touched:
            await self._apply(client, touched)
        await self._replace_errors(client, result.errors)
        self._update_counts()
        log.info(
            "hotlist: loaded %d entries from %d keys in %.2fs (%d malformed)",
            len(result.index),
            result.keys,
            result.seconds,
            len(result.errors),
        )
        self.ready.set()

    def _update_counts(self) -> None:
        for name, count in self.index.counts().items():
            metrics.ENTRIES.labels(hotlist=name).set(count)

    # ---- applying changes --------------------------------------------------------------------

    async def _fetch(self, client: aioredis.Redis, keys: Sequence[str]) -> list[Record]:
        out: list[Record] = []
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            try:
                blob = await client.eval(FETCH_LUA, len(chunk), *chunk)
                out.extend(msgpack.unpackb(blob, raw=True))
            except redis.ResponseError:  # scripts refused
                pipe = client.pipeline(transaction=False)
                _queue_reads(pipe, chunk)
                out.extend(_records(chunk, await pipe.execute(raise_on_error=False)))
        return out

    async def _apply(self, client: aioredis.Redis, keys: Iterable[str]) -> None:
        wanted = sorted(k for k in keys if self.layout.classify(k).kind != "reserved")
        if self._touched is not None:
            self._touched.update(wanted)
        if not wanted:
            return
        metrics.CHANGES.inc(len(wanted))
        changed: dict[str, str | None] = {}
        for raw_key, raw_type, flat in await self._fetch(client, wanted):
            key = raw_key.decode("utf-8", "replace")
            for k, reason in self.apply_record(key, raw_type, flat).items():
                changed[k] = reason
        await self._write_errors(client, changed)

    def apply_record(self, key: str, raw_type: bytes, flat: list[bytes]) -> dict[str, str | None]:
        """Patch the index with the current state of one key; returns error changes (None: cleared)."""
        kind = self.layout.classify(key)
        index = self.index
        changes: dict[str, str | None] = {}
        gone = raw_type == b"none"
        before = self._state(kind) if self.on_change is not None else None
        if kind.kind == "bad":
            changes[key] = None if gone else kind.problem
        elif kind.kind == "list":
            fields, problem = ({}, None) if gone else decode_fields(flat)
            default = self.defaults.get(kind.list_name, ListSettings(kind.list_name))
            if raw_type not in (b"hash", b"none"):
                fields, problem = {}, "must be a hash (HSET)"
            settings, problems = parse_list_settings(kind.list_name, fields or {}, default)
            index.set_list(settings)
            issues = "; ".join(([problem] if problem else []) + problems)
            changes[key] = issues or None
            for eid, text in list(index.patterns()):
                if index.list_of(eid) == kind.list_name:
                    entry_key = self.layout.entry_key(kind.list_name, text)
                    changes[entry_key] = (
                        None if settings.partial else not_partial(kind.list_name, self.layout)
                    )
        elif kind.kind == "entry":
            index.remove(kind.list_name, kind.text)
            if gone:
                changes[key] = None
            elif raw_type != b"hash":
                changes[key] = f"is a {raw_type.decode(errors='replace')}, must be a hash (HSET)"
            else:
                fields, problem = decode_fields(flat)
                problem = problem or parse_entry(kind.text, fields or {})
                if problem or fields is None:
                    changes[key] = problem
                else:
                    index.upsert(kind.list_name, kind.text, fields)
                    partial_bad = is_pattern(kind.text) and not index.lists[kind.list_name].partial
                    changes[key] = not_partial(kind.list_name, self.layout) if partial_bad else None
        if self.on_change is not None and kind.kind in ("entry", "list"):
            after = self._state(kind)
            if after is None and kind.kind == "entry" and raw_type == b"hash":
                after = {
                    k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                    for k, v in zip(flat[0::2], flat[1::2], strict=False)
                }
            if before != after:
                self._report(
                    HotlistChange(
                        key=key,
                        list_name=kind.list_name,
                        entry=kind.text if kind.kind == "entry" else None,
                        before=before,
                        after=after,
                        seen_at=datetime.now(UTC),
                        problem=changes.get(key),
                    )
                )
        return changes

    def _state(self, kind: KeyKind) -> dict[str, Any] | None:
        """What the index holds for an entry or a list now (None: nothing)."""
        if kind.kind == "list":
            settings = self.index.lists.get(kind.list_name)
            return None if settings is None else _settings_fields(settings)
        if kind.kind == "entry":
            found = self.index.find(kind.list_name, kind.text)
            return None if found is None else dict(found.fields)
        return None

    def _report(self, change: HotlistChange) -> None:
        assert self.on_change is not None
        try:
            self.on_change(change)
        except Exception:  # whoever records changes must not stop the index following Redis
            log.exception("hotlist: reporting the change of %s failed", change.key)

    # ---- the errors hash ---------------------------------------------------------------------

    def _note_error(self, key: str, reason: str | None) -> bool:
        old = self.errors.get(key)
        if reason is None:
            return self.errors.pop(key, None) is not None
        if old != reason:
            self.errors[key] = reason
            metrics.MALFORMED_SEEN.inc()
            log.warning("hotlist: skipping %s: %s", key, reason)
            return True
        return False

    async def _write_errors(self, client: aioredis.Redis, changes: dict[str, str | None]) -> None:
        dirty = {k: v for k, v in changes.items() if self._note_error(k, v)}
        metrics.MALFORMED.set(len(self.errors))
        if not dirty:
            return
        pipe = client.pipeline(transaction=False)
        for key, reason in dirty.items():
            if reason is None:
                pipe.hdel(self.layout.errors_key, key)
            else:
                pipe.hset(self.layout.errors_key, key, reason)
        with contextlib.suppress(redis.RedisError):
            await pipe.execute()

    async def _replace_errors(self, client: aioredis.Redis, errors: dict[str, str]) -> None:
        quiet = len(errors) > 50
        for key, reason in errors.items():
            if self.errors.get(key) != reason and not quiet:
                log.warning("hotlist: skipping %s: %s", key, reason)
        if quiet:
            log.warning(
                "hotlist: %d malformed keys skipped (see HGETALL %s)", len(errors), self.layout.errors_key
            )
        metrics.MALFORMED_SEEN.inc(sum(1 for k, v in errors.items() if self.errors.get(k) != v))
        self.errors = dict(errors)
        metrics.MALFORMED.set(len(errors))
        with contextlib.suppress(redis.RedisError):
            stored = await client.hkeys(self.layout.errors_key)
            stale = [
                k
                for k in stored
                if (k.decode("utf-8", "replace") if isinstance(k, bytes) else k) not in errors
            ]
            pipe = client.pipeline(transaction=False)
            if stale:
                pipe.hdel(self.layout.errors_key, *stale)
            if errors:
                pipe.hset(self.layout.errors_key, mapping=dict(errors))  # type: ignore[arg-type]
            await pipe.execute()
