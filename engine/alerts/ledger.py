"""Which alerts were already delivered, and when a camera last saw an entry.

Redis holds both, shared by the workers and kept across restarts: `pw:alerted:<alert id>` (1, a
day) and `pw:alerted:repeat:<camera>:<entry key>` (the read time of the camera's last sighting of
the entry; `…:<entry key>|<plate>` for a partial entry, which matches many vehicles), each with a
local cache in front. If Redis is away the ledger fails open, so the alert goes out: a duplicate
is absorbed by the alert id, a missing alert would not be.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import redis
import redis.asyncio as aioredis

log = logging.getLogger(__name__)

LEDGER_PREFIX = "pw:alerted"
LEDGER_TTL_S = 86400
LOCAL_ENTRIES = 100_000


class Ledger(Protocol):
    """What `process_read` needs of a ledger (tests hand it one in memory)."""

    async def delivered(self, ids: Sequence[str]) -> set[str]: ...

    async def record(self, aid: str) -> None: ...

    async def repeated(self, camera: str, entry_key: str, t: float, window_s: float) -> bool: ...

    async def record_repeat(self, camera: str, entry_key: str, t: float, window_s: float) -> None: ...


class AlertLedger:
    """The ledger in Redis (shared, survives restarts) plus a small local cache."""

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
        while len(self._local) > LOCAL_ENTRIES:
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
        while len(self._repeats) > LOCAL_ENTRIES:
            self._repeats.popitem(last=False)
        with contextlib.suppress(redis.RedisError, OSError):
            key = f"{self._prefix}:repeat:{camera}:{entry_key}"
            await self._client.set(key, repr(t).encode(), ex=max(1, math.ceil(window_s * 2)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()
