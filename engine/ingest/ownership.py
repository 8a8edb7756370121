"""Camera ownership: which worker captures which camera, through rebalances and broker restarts.

A camera is captured by the worker that holds the pw.cameras partition of its key: the worker's
`cameras` agent subscribes to the topic, so Kafka's group protocol hands each worker a share of
its partitions (`CameraPartitions` follows the assignment). Beside that, three jobs run while the
worker owns cameras (`CameraOwnership.running`):

- a catalog reader (`CatalogReader`, a plain consumer outside the group) reads all of pw.cameras
  from the start, because a worker that takes over a partition must know the cameras defined in
  it long ago, which the group's committed offsets would skip;
- a reseeder (`Reseeder`) writes the durable definitions (configs/ plus the database) to pw.cameras
  at start and whenever they change, and tombstones removed ones: the embedded broker forgets
  everything on restart;
- a health publisher (`HealthPublisher`) puts each running camera's health into Redis
  (`pw:camera:<id>:health`, JSON, expiring), which `platewatch camera list` shows.

A rebalance first revokes and then assigns partitions; cameras whose partition is revoked keep
running for a grace period (a little longer than a rebalance) in case the same worker gets it
back, so a rebalance does not interrupt every camera in the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from platewatch.codecs import CodecError
from platewatch.codecs.cameras import encode_spec
from platewatch.engine import metrics
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.retry import backoff_delays
from platewatch.engine.services.kafka_internals import refresh_metadata

from .manager import CameraCatalog, CameraManager

log = logging.getLogger(__name__)

HEALTH_KEY = "pw:camera:{}:health"
HEALTH_TTL_S = 15
# How soon the catalog reader notices partitions added to pw.cameras (RestartWatch.follow_partitions).
CATALOG_METADATA_AGE_MS = 10_000
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"

Records = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
#: Sends one definition to pw.cameras: (camera id as key, encoded spec, or None for a tombstone).
SendDefinition = Callable[[bytes, bytes | None], Awaitable[None]]


class RestartWatch:
    """Notices a partition whose log ended lower than it did before: the broker lost it.

    Why: a Kafka log never gets shorter at its end (retention trims the start), but the embedded
    broker keeps nothing across a restart (a worker taking over from a stopped `platewatch up`
    restarts it). The catalog reader's positions then lie beyond the new end, tansu answers such a
    fetch with nothing rather than "offset out of range", and every camera defined after the
    restart was missed. Only the high-water mark's drop is trusted, not position > end: tansu
    under-reports the end after a batch of several records (tests/integration/test_tansu_end_offset.py),
    but never below an end it reported before. It also follows the partitions the topic comes back
    with (`follow_partitions`).
    """

    def __init__(self) -> None:
        self._last_end: dict[TopicPartition, int] = {}

    def restarted(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The assigned partitions whose end dropped since the last call (each then starts afresh)."""
        lost = []
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            if end < self._last_end.get(tp, 0):
                lost.append(tp)
            self._last_end[tp] = end
        return lost

    async def getmany(
        self, consumer: AIOKafkaConsumer, timeout_ms: int
    ) -> tuple[Records, list[TopicPartition]]:
        """One fetch, and the partitions found lost, which are read from the start again (what the
        fetch holds of them is dropped: the next fetches bring it back)."""
        batch = await consumer.getmany(timeout_ms=timeout_ms)
        lost = self.restarted(consumer)
        if lost:
            await consumer.seek_to_beginning(*lost)
            batch = {tp: records for tp, records in batch.items() if tp not in lost}
            await refresh_metadata(consumer)  # the topic came back: maybe with other partitions
        await self.follow_partitions(consumer)
        return batch, lost

    async def follow_partitions(self, consumer: AIOKafkaConsumer) -> None:
        """Follow the partitions the assigned topics have now; the new ones are read from the start.

        Why: a topic the restarted broker lost may come back with more partitions than before (tansu
        auto-creates a topic that a producer names before it is declared, with 4), and a manual
        assignment never grows by itself. Positions of the partitions kept are carried over, since
        `assign` forgets them. Uses the consumer's cached metadata (refreshed every
        `metadata_max_age_ms`, and at once after a restart), so it costs nothing when nothing changed.
        """
        assigned = consumer.assignment()
        want = set()
        for topic in {tp.topic for tp in assigned}:
            parts = consumer.partitions_for_topic(topic)
            if not parts:  # unknown for now (the broker is restarting): keep what is assigned
                return
            want |= {TopicPartition(topic, p) for p in parts}
        if not want or want == assigned:
            return
        kept = {tp: await consumer.position(tp) for tp in assigned & want}
        consumer.assign(sorted(want))
        for tp, offset in kept.items():
            consumer.seek(tp, offset)
        new = sorted(want - assigned)
        if new:
            await consumer.seek_to_beginning(*new)
        log.info(
            "now following partitions %s (new: %s)",
            [f"{tp.topic}[{tp.partition}]" for tp in sorted(want)],
            [f"{tp.topic}[{tp.partition}]" for tp in new],
        )


def catalog_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """The catalog reader's consumer: outside any group, so it is assigned nothing and commits nothing."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        metadata_max_age_ms=CATALOG_METADATA_AGE_MS,
    )


class CameraPartitions:
    """The pw.cameras partitions this worker holds; revoked ones are kept for `grace_s` first."""

    def __init__(
        self, manager: CameraManager, grace_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._manager = manager
        self.grace_s = grace_s
        self._clock = clock
        self.revoked_at: dict[int, float] = {}
        self._pending: set[asyncio.Future[None]] = set()  # referenced until done (the loop keeps weak ones)

    def _soon(self, job: Awaitable[None]) -> None:
        future = asyncio.ensure_future(job)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def assigned(self, partitions: set[int]) -> None:
        """The worker's whole pw.cameras assignment after a rebalance."""
        self._manager.partitions = set(partitions)
        self.revoked_at.clear()
        log.info("camera partitions of this worker: %s", sorted(partitions))
        self._soon(self._manager.reconcile())

    def revoked(self, partitions: Iterable[int]) -> None:
        now = self._clock()
        for p in partitions:
            self.revoked_at[p] = now
        self._soon(self.reconcile_after(self.grace_s))

    def expire(self) -> set[int]:
        """Give up the revoked partitions whose grace ran out (none if they were assigned again)."""
        now = self._clock()
        expired = {p for p, t in self.revoked_at.items() if now - t >= self.grace_s}
        self._manager.partitions -= expired
        for p in expired:
            del self.revoked_at[p]
        return expired

    async def reconcile_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.expire()
        await self._manager.reconcile()


class CatalogReader:
    """Follows every partition of pw.cameras from its beginning into the manager's catalog."""

    def __init__(
        self,
        manager: CameraManager,
        open_consumer: Callable[[], AIOKafkaConsumer],
        declare_topic: Callable[[], Awaitable[None]],
        on_lost: Callable[[], None],
        topic: str,
    ) -> None:
        self._manager = manager
        self._open = open_consumer
        self._declare = declare_topic
        self._on_lost = on_lost
        self.topic = topic

    async def run(self) -> None:
        # Declared first: asking a broker about a missing topic may auto-create it with the wrong
        # number of partitions (tansu does), which would scatter cameras differently.
        await self._declare()
        consumer = self._open()
        await consumer.start()
        try:
            while not (parts := consumer.partitions_for_topic(self.topic)):
                await refresh_metadata(consumer)  # the topic may not be declared yet
                await asyncio.sleep(0.5)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            watch = RestartWatch()
            while True:
                await self.step(consumer, watch)
        finally:
            await consumer.stop()

    async def step(self, consumer: AIOKafkaConsumer, watch: RestartWatch, timeout_ms: int = 1000) -> None:
        """One fetch into the catalog; the manager reconciles when it changed."""
        batch, lost = await watch.getmany(consumer, timeout_ms=timeout_ms)
        if lost:
            log.warning(
                "%s partitions %s lost their records (broker restarted): reading them again",
                self.topic,
                sorted(tp.partition for tp in lost),
            )
            self._on_lost()  # what this worker knows is no longer on the broker
        if self.apply(batch):
            await self._manager.reconcile()

    def apply(self, batch: Records) -> bool:
        """Apply the records to the catalog; True when it changed. A bad record is counted and skipped."""
        changed = False
        for tp, records in batch.items():
            for record in records:
                try:
                    changed |= self._manager.catalog.apply(record.key, record.value, tp.partition)
                except CodecError as exc:
                    log.warning("%s[%d]@%d: %s", self.topic, tp.partition, record.offset, exc.reason)
                    metrics.DEADLETTERS.labels(source_topic=self.topic, reason="decode").inc()
        return changed


class Reseeder:
    """Makes pw.cameras say what configs/ and the database say.

    Only differences from the catalog are sent, except after the broker lost the topic's records
    (`resend_all`, set by the catalog reader): this worker's catalog still holds them, the broker
    does not, and a worker joining later would start without those cameras.
    """

    def __init__(
        self,
        catalog: CameraCatalog,
        desired: Callable[[], Mapping[str, CameraSpec]],
        send: SendDefinition,
        every_s: float = 5.0,
    ) -> None:
        self._catalog = catalog
        self._desired = desired
        self._send = send
        self.every_s = every_s
        self.resend_all = asyncio.Event()

    async def once(self) -> None:
        desired = await asyncio.to_thread(self._desired)  # reads the database
        current = {cid: c.spec for cid, c in self._catalog.cameras.items()}
        everything = self.resend_all.is_set()
        for cid, spec in desired.items():
            if everything or current.get(cid) != spec:
                await self._send(cid.encode(), encode_spec(spec))
        if everything:
            self.resend_all.clear()
        for cid in current.keys() - desired.keys():
            await self._send(cid.encode(), None)

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a while: try again later
                log.warning("camera definitions not reseeded: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.every_s)


class HealthPublisher:
    """Each running camera's health into Redis, for `platewatch camera list` on any host."""

    def __init__(
        self,
        manager: CameraManager,
        open_client: Callable[[], Any],
        every_s: float = 2.0,
        worker: str = WORKER_ID,
    ) -> None:
        self._manager = manager
        self._open = open_client
        self.every_s = every_s
        self.worker = worker

    def records(self, now: float) -> dict[str, str]:
        """Redis key → JSON snapshot, for every camera running here."""
        return {
            HEALTH_KEY.format(cid): json.dumps(
                {**self._manager.health[cid].snapshot(), "worker": self.worker, "at": now}
            )
            for cid in self._manager.running
        }

    async def run(self) -> None:
        client = self._open()
        try:
            while True:
                await asyncio.sleep(self.every_s)
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for key, value in self.records(time.time()).items():
                            pipe.set(key, value, ex=HEALTH_TTL_S)
                        await pipe.execute()
                except (OSError, aioredis.RedisError) as exc:
                    log.debug("camera health not published: %s", exc)
        finally:
            await client.aclose()


async def keep_running(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Run `job` until it returns, restarting it with backoff when it fails."""
    delays = backoff_delays(0.5, 10.0)
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broker or Redis hiccup must not end camera ownership
            delay = next(delays)
            log.warning("%s failed (%s: %s); restarting in %.1fs", name, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)


class CameraOwnership:
    """The pieces above for one worker, sharing its camera manager."""

    def __init__(
        self,
        manager: CameraManager,
        *,
        topic: str,
        grace_s: float,
        open_consumer: Callable[[], AIOKafkaConsumer],
        declare_topic: Callable[[], Awaitable[None]],
        send_definition: SendDefinition,
        desired: Callable[[], Mapping[str, CameraSpec]],
        redis_url: str | None = None,
        reseed_s: float = 5.0,
        health_s: float = 2.0,
        on_broker_restart: Callable[[], None] | None = None,
    ) -> None:
        self.manager = manager
        self.partitions = CameraPartitions(manager, grace_s)
        self.reseeder = Reseeder(manager.catalog, desired, send_definition, reseed_s)

        def lost() -> None:
            self.reseeder.resend_all.set()
            if on_broker_restart is not None:
                on_broker_restart()

        self.reader = CatalogReader(manager, open_consumer, declare_topic, lost, topic)
        self.health = (
            HealthPublisher(manager, lambda: aioredis.from_url(redis_url), health_s) if redis_url else None
        )

    def region_of(self, camera_id: str) -> str | None:
        cataloged = self.manager.catalog.cameras.get(camera_id)
        return cataloged.spec.region if cataloged else None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The catalog reader, reseeder and health publisher run inside; every camera stops after."""
        jobs: dict[str, Callable[[], Awaitable[None]]] = {
            "camera catalog": self.reader.run,
            "camera reseed": self.reseeder.run,
        }
        if self.health is not None:
            jobs["camera health"] = self.health.run
        background = [asyncio.create_task(keep_running(name, job)) for name, job in jobs.items()]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.manager.stop_all()
