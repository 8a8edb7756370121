"""One API process's copy of the alert change stream, fanned out to its websocket clients.

Why the database and not each instance reading pw.alerts: the stream dispatchers need holds more
than new alerts (every acknowledgement, verification and expiry, made by any instance), it must be
replayable from an offset long after Kafka's consumer has moved on, and one total order across all
alerts is what makes "send me everything after offset N" a complete answer; pw.alerts has none of
the three (its order is per partition, and it never sees a dispatcher's step). `alert_events` has
all three, written in the transaction of each change (engine/alerts/stream.py). Each instance runs
one follower: a task on the event loop that LISTENs for the stream's NOTIFY (async psycopg) and
reads the events after the last one it saw (polling every `POLL_S` too, so a lost notification
costs a delay, never an event), then wakes every client. It ran in a thread before; each burst then
crossed to the loop (`call_soon_threadsafe`) and the thread took the GIL from the sending loop
while it read and serialised the burst.

Each event is serialised once per process, and so is each frame: clients that are at the same
offset (all of them, unless one is catching up) are sent the very same string, built by the first
of them to ask (`pending`), rather than each joining its own copy of the batch.

The process keeps the newest `alerts.ws_queue` events in one ring shared by all its clients; each
client has only a cursor into it and its own sending task, so memory does not grow with clients and
nobody waits for anybody. A client that falls out of the ring (it is that far behind), or whose
socket takes no data for `alerts.ws_send_timeout_s`, is cut off (close code 4408) rather than
allowed to hold anything up; it reconnects and replays the rest from the database.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from platewatch.engine.alerts import records, stream
from platewatch.engine.alerts.views import event_view

from . import alert_metrics as m

log = logging.getLogger(__name__)
POLL_S = 1.0
BATCH = 1000
TOO_SLOW = 4408


@dataclass(frozen=True)
class Outgoing:
    """One event as it goes to every client: serialised once."""

    seq: int
    alert_id: str
    kind: str
    raised_at: float
    read_time: float
    text: str


@dataclass(eq=False)
class Subscriber:
    """One websocket client's place in the fan-out: how far it has been sent, and its wake-up."""

    cursor: int  # the newest offset this client has (joined at the follower's position)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class FellBehind(Exception):
    """The client's cursor is older than the ring holds: it must reconnect and replay."""


def frame(items: Sequence[Outgoing]) -> str:
    """One websocket message for `items`: the event itself for one, a `batch` frame for several
    (a burst of alerts costs each client one message, not one per alert)."""
    if len(items) == 1:
        return items[0].text
    return '{"type":"batch","events":[' + ",".join(i.text for i in items) + "]}"


def to_outgoing(row: dict[str, Any]) -> Outgoing:
    view = event_view(row)
    return Outgoing(
        seq=int(row["seq"]),
        alert_id=str(row["alert_id"]),
        kind=str(row["kind"]),
        raised_at=row["raised_at"].timestamp(),
        read_time=row["read_time"].timestamp(),
        text=json.dumps(view, separators=(",", ":")),
    )


class Fanout:
    """The follower task and the set of subscribed clients of one API process."""

    def __init__(self, database_url: str, queue_size: int) -> None:
        self._url = database_url
        self._subscribers: set[Subscriber] = set()
        self._ring: deque[Outgoing] = deque(maxlen=queue_size)
        self._frames: dict[tuple[int, int], tuple[Sequence[Outgoing], str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.last_seq = 0  # the newest offset handed to the clients
        self.epoch = ""

    # -- lifecycle (called from the app's lifespan) --------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop's own thread: the follower becomes one of its tasks."""
        self._loop = loop
        self._task = loop.create_task(self._follow(), name="alert-fanout")

    def stop(self) -> None:
        """From another thread (the lifespan calls it through `to_thread`) or the loop's own."""
        loop, task = self._loop, self._task
        if loop is None or task is None or task.done() or loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            task.cancel()
            return
        with contextlib.suppress(RuntimeError, TimeoutError):  # the loop went meanwhile
            asyncio.run_coroutine_threadsafe(self._cancel(task), loop).result(timeout=5)

    @staticmethod
    async def _cancel(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # its connections close on the way out

    async def ready(self, timeout_s: float = 10.0) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self._ready.is_set()

    # -- clients ----------------------------------------------------------------------------
    def subscribe(self) -> Subscriber:
        sub = Subscriber(cursor=self.last_seq)
        self._subscribers.add(sub)
        m.WS_CLIENTS.set(len(self._subscribers))
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)
        m.WS_CLIENTS.set(len(self._subscribers))

    def after(self, cursor: int, limit: int = 500) -> list[Outgoing]:
        """The events after `cursor` that this process has followed, oldest first; raises
        `FellBehind` when some of them have already left the ring."""
        if cursor >= self.last_seq:
            return []
        ring = self._ring
        if not ring or ring[0].seq > cursor + 1:
            raise FellBehind(cursor)
        start = bisect.bisect_right(ring, cursor, key=lambda o: o.seq)
        return [ring[i] for i in range(start, min(len(ring), start + limit))]

    def pending(self, cursor: int, limit: int) -> tuple[Sequence[Outgoing], str] | None:
        """What a client at `cursor` is to be sent next, with its frame: shared by every client at
        the same offset until the next broadcast. None when it is up to date; raises `FellBehind`
        as `after` does."""
        if cursor >= self.last_seq:
            return None
        key = (cursor, limit)
        found = self._frames.get(key)
        if found is None:
            items = self.after(cursor, limit)
            if not items:
                return None
            found = self._frames[key] = (items, frame(items))
        return found

    def _broadcast(self, batch: list[Outgoing], last_seq: int) -> None:
        """On the event loop: into the ring, and every client woken to send at its own pace."""
        self._ring.extend(o for o in batch if o.seq > self.last_seq)
        self.last_seq = max(self.last_seq, last_seq)
        self._frames.clear()  # a frame cut at the old end would now be too short
        for sub in self._subscribers:
            sub.wake.set()

    # -- the follower ---------------------------------------------------------------------------
    async def _follow(self) -> None:
        while True:
            try:
                async with (
                    await psycopg.AsyncConnection.connect(self._url, autocommit=True) as listen,
                    await psycopg.AsyncConnection.connect(self._url, autocommit=True) as reader,
                ):
                    await listen.execute(f"LISTEN {stream.CHANNEL}")
                    head = await stream.head_async(reader)
                    self.epoch = head.epoch
                    if not self._ready.is_set():
                        self.last_seq = head.last_seq
                        self._ready.set()
                    await self._drain(reader)
                    while True:
                        async for _ in listen.notifies(timeout=POLL_S, stop_after=1):
                            pass
                        async for _ in listen.notifies(timeout=0.0):  # the others already here: one query
                            pass
                        await self._drain(reader)
            except psycopg.Error as exc:
                log.warning("alert fan-out lost the database (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)
            except Exception:  # a row it cannot serialise, say: the feed waits, the process lives on
                log.exception("alert fan-out failed; following again in 1 s")
                await asyncio.sleep(1.0)

    async def _drain(self, reader: psycopg.AsyncConnection) -> None:
        while True:
            rows = await records.events_since_async(reader, self.last_seq, BATCH)
            if not rows:
                return
            batch = [to_outgoing(r) for r in rows]
            for r in rows:
                m.ALERT_EVENTS.labels(kind=r["kind"], hotlist=r["hotlist"], tier=r["tier"]).inc()
            self._broadcast(batch, batch[-1].seq)
            if len(rows) < BATCH:
                return
