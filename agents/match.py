"""The `match` agent: pw.reads → the hotlist index → pw.alerts, once per pass and entry.

The agent is thin: `process_read` does the work and is tested without a broker.

Once per pass, surviving restarts. A vehicle's pass yields several reads (provisional, final), and
at-least-once delivery replays reads after a crash, so the same (pass, entry) pair comes up more
than once. Two guards, because each alone is not enough:

1. The alert id is deterministic: uuid5(pass id, or the read id when the tracker set none; entry
   key). Whatever gets through twice carries the same id, and the API stores alerts idempotently
   on it, so a dispatcher never sees a duplicate.
2. A ledger in Redis (`SET pw:alerted:<alert id> 1 EX 86400`, written after the alert was delivered)
   keeps replays and later reads of the pass off the topic at all. It is written *after* the send:
   a crash in between causes a duplicate (absorbed by 1), never a lost alert. If Redis is away the
   ledger fails open — the alert goes out — for the same reason.
3. A pass split in two is still one vehicle: a camera handed to another worker mid-pass, or a car
   hidden longer than the tracker waits, gives two pass ids. A read of an entry at a camera within
   `alerts.repeat_window_s` (read time) of that camera's last sighting of that entry does not alert
   again (`pw:alerted:repeat:<camera>:<entry key>`, `…:<entry key>|<plate>` for a partial entry,
   which matches many vehicles, holds that read time). Reads are keyed by camera, so one match agent
   sees all of a camera's reads in order.

Redis down when a worker starts: until the hotlist is first loaded, reads are parked on
pw.match-pending (a topic of their own, consumed by the `match-pending` agent once the index is
ready) instead of being held on pw.reads, which would stall the persist agent too.

A read that does not decode is skipped here and counted: the persist agent on the same topic already
quarantines it on pw.deadletter, and a second dead letter for the same message would only mislead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
import redis
import redis.asyncio as aioredis
from faust.types import StreamT

from platewatch.codecs import Alert, CodecError, Read, decode_read, encode_alert
from platewatch.engine.config import Settings
from platewatch.engine.hotlist import ListSettings, Match, match_candidates, read_candidates
from platewatch.engine.hotlist import metrics as hm
from platewatch.engine.hotlist.sync import HotlistSync

from .topics import Topics

log = logging.getLogger(__name__)

ALERT_NAMESPACE = uuid.UUID("6f1c0b9e-4f6a-5d8e-9a43-70c1a4e2d462")
LEDGER_PREFIX = "pw:alerted"
LEDGER_TTL_S = 86400
ENTRY_EXTRA = ("ref", "source", "state", "vehicle")


def alert_id(read: Read, entry_key: str) -> str:
    """The same for every read of one pass against one entry, in every worker, across restarts."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{read.pass_id or read.read_id}\x1f{entry_key}"))


def build_alert(read: Read, match: Match, now: float) -> Alert:
    extra = {name: match.fields[name] for name in ENTRY_EXTRA if match.fields.get(name)}
    extra |= {"entry_key": match.key, "candidate": match.candidate}
    return Alert(
        alert_id=alert_id(read, match.key),
        read=read,
        hotlist=match.list_name,
        entry=match.entry,
        match_kind=match.kind,
        score=match.score,
        priority=match.priority,
        reason=match.fields.get("reason", ""),
        case_number=match.fields.get("case", ""),
        time=now,
        extra=extra,
    )


def match_read(sync: HotlistSync, read: Read) -> list[Match]:
    began = time.perf_counter()
    cands = read_candidates(read.plate, read.confidence, read.candidates, read.char_confidences)
    matches = match_candidates(sync.index, cands)
    hm.MATCH_SECONDS.observe(time.perf_counter() - began)
    for m in matches:
        hm.MATCHES.labels(kind=m.kind).inc()
    return list(matches)


class AlertLedger:
    """Which alert ids were already delivered: Redis (shared, survives restarts) plus a small local cache."""

    def __init__(self, redis_url: str, prefix: str = LEDGER_PREFIX, ttl_s: int = LEDGER_TTL_S) -> None:
        self._client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        self._prefix = prefix
        self._ttl = ttl_s
        self._local: OrderedDict[str, None] = OrderedDict()
        #: (camera, entry key) → read time of its last sighting (the repeat window's local copy)
        self._repeats: OrderedDict[tuple[str, str], float] = OrderedDict()

    def _remember(self, aid: str) -> None:
        self._local[aid] = None
        self._local.move_to_end(aid)
        while len(self._local) > 100_000:
            self._local.popitem(last=False)

    async def delivered(self, ids: Sequence[str]) -> set[str]:
        found = {aid for aid in ids if aid in self._local}
        rest = [aid for aid in ids if aid not in found]
        if rest:
            try:
                pipe = self._client.pipeline(transaction=False)
                for aid in rest:
                    pipe.exists(f"{self._prefix}:{aid}")
                for aid, exists in zip(rest, await pipe.execute(), strict=True):
                    if exists:
                        found.add(aid)
                        self._remember(aid)
            except (redis.RedisError, OSError) as exc:
                log.warning("alert ledger unavailable (%s): alerting anyway", type(exc).__name__)
        return found

    async def record(self, aid: str) -> None:
        self._remember(aid)
        with contextlib.suppress(redis.RedisError, OSError):
            await self._client.set(f"{self._prefix}:{aid}", b"1", ex=self._ttl)

    async def repeated(self, camera: str, entry_key: str, t: float, window_s: float) -> bool:
        """Whether `camera` alerted on `entry_key` for a read within `window_s` of time `t`."""
        last = self._repeats.get((camera, entry_key))
        if last is None:
            try:
                raw = await self._client.get(f"{self._prefix}:repeat:{camera}:{entry_key}")
                last = float(raw) if raw is not None else None
            except (redis.RedisError, OSError, ValueError):
                last = None  # fail open, like the ledger: an extra alert, never a missing one
        return last is not None and abs(t - last) < window_s

    async def record_repeat(self, camera: str, entry_key: str, t: float, window_s: float) -> None:
        """The camera saw the entry at `t`: the window runs from its latest sighting, so a car
        standing in view for an hour (its pass split many times) alerts once."""
        t = max(t, self._repeats.get((camera, entry_key), t))
        self._repeats[(camera, entry_key)] = t
        self._repeats.move_to_end((camera, entry_key))
        while len(self._repeats) > 100_000:
            self._repeats.popitem(last=False)
        with contextlib.suppress(redis.RedisError, OSError):
            key = f"{self._prefix}:repeat:{camera}:{entry_key}"
            await self._client.set(key, repr(t).encode(), ex=max(1, math.ceil(window_s * 2)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()


async def process_read(
    read: Read,
    sync: HotlistSync,
    ledger: AlertLedger,
    send: Callable[[Alert], Awaitable[None]],
    now: Callable[[], float] = time.time,
    repeat_window_s: float = 0.0,
) -> list[Alert]:
    """Match one read and send an alert for each entry this pass (or, within `repeat_window_s`,
    this camera) has not alerted on yet."""
    matches = match_read(sync, read)
    if not matches:
        return []
    alerts = [build_alert(read, m, now()) for m in matches]
    done = await ledger.delivered([a.alert_id for a in alerts])
    sent = []
    for alert in alerts:
        # A partial entry matches many vehicles: there the read's plate is part of the repeat key.
        key = str(alert.extra["entry_key"]) + (f"|{read.plate}" if alert.match_kind == "partial" else "")
        if alert.alert_id in done:
            hm.ALERTS_SUPPRESSED.inc()
            continue
        if repeat_window_s and await ledger.repeated(read.camera_id, key, read.time, repeat_window_s):
            hm.ALERTS_SUPPRESSED.inc()
            log.info("no second alert for %s at %s: a pass split in two", alert.entry, read.camera_id)
            await ledger.record_repeat(read.camera_id, key, read.time, repeat_window_s)  # still in view
            continue
        await send(alert)
        await ledger.record(alert.alert_id)
        if repeat_window_s:
            await ledger.record_repeat(read.camera_id, key, read.time, repeat_window_s)
        hm.ALERTS.labels(hotlist=alert.hotlist, kind=alert.match_kind).inc()
        log.info(
            "alert %s: %s on %s/%s (%s, score %.2f) at %s",
            alert.alert_id,
            read.plate,
            alert.hotlist,
            alert.entry,
            alert.match_kind,
            alert.score,
            read.camera_id,
        )
        sent.append(alert)
    return sent


def list_defaults(settings: Settings) -> list[ListSettings]:
    """The config's per-list behaviour; `pw:hot:<list>` hashes in Redis override it."""
    return [ListSettings(h.name, h.priority, h.fuzzy, h.partial) for h in settings.hotlists]


def register_match_agent(app: faust.App, topics: Topics, settings: Settings, redis_url: str) -> HotlistSync:
    """Add the `match` agent to the app; returns the sync that owns the index (started by the agent)."""
    sync = HotlistSync(redis_url, defaults=list_defaults(settings))
    ledger = AlertLedger(redis_url)

    async def send(alert: Alert) -> None:
        delivery: Any = await topics.alerts.send(key=alert.read.camera_id.encode(), value=encode_alert(alert))
        await delivery  # delivered before the ledger says so (see the module docstring)

    async def handle(value: bytes) -> None:
        try:
            read = decode_read(value)
        except CodecError:
            return  # the persist agent quarantines it
        await process_read(read, sync, ledger, send, repeat_window_s=settings.alerts.repeat_window_s)

    @app.agent(topics.reads, name="match")
    async def match(stream: StreamT[bytes]) -> None:
        await sync.start()
        try:
            # Until the index is first loaded (Redis down when the worker started), reads are parked
            # on pw.match-pending: matching against an empty index would silently miss alerts, and
            # holding them here would stall pw.reads for the persist agent too once Faust's buffer
            # is full. A read's offset is committed only after it is safely parked.
            async for value in cast(faust.Stream[bytes], stream):
                if sync.ready.is_set():
                    await handle(value)
                    continue
                delivery: Any = await topics.match_pending.send(value=value)
                await delivery
        finally:
            await sync.stop()
            await ledger.close()

    @app.agent(topics.match_pending, name="match-pending")
    async def match_pending(stream: StreamT[bytes]) -> None:
        await sync.wait_ready()  # only this topic waits; pw.reads flows on
        async for value in cast(faust.Stream[bytes], stream):
            await handle(value)

    return sync
