"""Camera ownership: pw.cameras → the capture runners of the worker that owns each camera.

Wiring only; the logic is in engine/ingest (catalog, manager, registry, runner). Four pieces:

- the `cameras` agent subscribes to pw.cameras, so Kafka's group protocol hands each worker a share
  of its partitions: a camera is captured by the worker that holds the partition of its key;
- a catalog reader (a plain consumer outside the group) reads all of pw.cameras from the start,
  because a worker that takes over a partition must know the cameras defined in it long ago,
  which the group's committed offsets would skip;
- a reseeder writes the durable definitions (configs/ plus the database) to pw.cameras at start and
  whenever they change, tombstones removed ones — the embedded broker forgets everything on restart;
- a health publisher puts each running camera's health into Redis (`pw:camera:<id>:health`, JSON,
  expiring), which `platewatch camera list` shows.

It also registers the `frames` agent (agents/frames.py: edge gateways' JPEGs on pw.frames), so
create_app needs one line for all of capture.

A rebalance first revokes and then assigns partitions; cameras whose partition is revoked keep
running for a grace period (a little longer than a rebalance) in case the same worker gets it
back, so a rebalance does not interrupt every camera in the cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.types import StreamT

from platewatch.codecs import CodecError, Read, encode_read
from platewatch.codecs.cameras import encode_spec
from platewatch.codecs.frames import MAX_FRAME_BYTES
from platewatch.engine import metrics
from platewatch.engine.config import Settings
from platewatch.engine.ingest.camera_store import desired_cameras
from platewatch.engine.ingest.manager import CameraManager
from platewatch.engine.retry import backoff_delays

from .frames import register_frame_agent
from .topics import CAMERAS, Topics

log = logging.getLogger(__name__)

HEALTH_KEY = "pw:camera:{}:health"
HEALTH_TTL_S = 15
# How soon the catalog reader notices partitions added to pw.cameras (RestartWatch.follow_partitions).
CATALOG_METADATA_AGE_MS = 10_000
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


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
    ) -> tuple[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], list[TopicPartition]]:
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


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Fetch the cluster's metadata now rather than at the next `metadata_max_age_ms`.

    aiokafka's consumer has no public call for it (its client's is what a subscription change uses).
    """
    await consumer._client.force_metadata_update()


def _bootstrap(app: faust.App) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


def register_camera_agents(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    database_url: str | None = None,
    redis_url: str | None = None,
    *,
    reseed_s: float = 5.0,
    health_s: float = 2.0,
    revoke_grace_s: float | None = None,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> CameraManager:
    """Add camera capture to the app; returns the manager (its `health` and `running` are live)."""

    async def publish(read: Read) -> None:
        # Waits for the broker's ack: a final read sent while the worker stops must not sit in a
        # buffer that is never flushed.
        delivery: Any = await topics.reads.send(key=read.camera_id.encode(), value=encode_read(read))
        await delivery

    manager = CameraManager(publish, vision=settings.vision, data_dir=settings.data_dir)
    # Longer than a rebalance: a worker normally gets its new assignment within the rebalance
    # timeout, and only one that was dropped from the group stops its cameras after the grace.
    grace = revoke_grace_s if revoke_grace_s is not None else settings.kafka.rebalance_timeout_s + 2
    revoked_at: dict[int, float] = {}
    pending: set[asyncio.Future[None]] = set()  # referenced until done (the loop keeps weak ones)

    def soon(job: Awaitable[None]) -> None:
        future = asyncio.ensure_future(job)
        pending.add(future)
        future.add_done_callback(pending.discard)

    async def reconcile_after(delay: float) -> None:
        await asyncio.sleep(delay)
        now = time.monotonic()
        expired = {p for p, t in revoked_at.items() if now - t >= grace}
        manager.partitions -= expired
        for p in expired:
            revoked_at.pop(p, None)
        await manager.reconcile()

    def camera_partitions() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == CAMERAS}

    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        now = time.monotonic()
        for tp in revoked:
            if tp.topic == CAMERAS:
                revoked_at[tp.partition] = now
        soon(reconcile_after(grace))

    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        # Before the producer stops: the runners' final reads of the passes under way go out.
        await manager.stop_all()

    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        manager.partitions = camera_partitions()
        revoked_at.clear()
        log.info("camera partitions of this worker: %s", sorted(manager.partitions))
        soon(manager.reconcile())

    # Faust calls receivers as (sender, *args, signal=..., **kwargs); its stubs do not say so.
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.on_before_shutdown.connect(cast(Any, on_shutdown))

    async def read_catalog() -> None:
        """Follow every partition of pw.cameras from its beginning (outside the consumer group)."""
        # Declared first: asking a broker about a missing topic may auto-create it with the wrong
        # number of partitions (tansu does), which would scatter cameras differently.
        await topics.cameras.maybe_declare()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=_bootstrap(app),
            group_id=None,
            enable_auto_commit=False,
            metadata_max_age_ms=CATALOG_METADATA_AGE_MS,
        )
        await consumer.start()
        try:
            while not (parts := consumer.partitions_for_topic(CAMERAS)):
                await refresh_metadata(consumer)  # the topic may not be declared yet
                await asyncio.sleep(0.5)
            tps = [TopicPartition(CAMERAS, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            watch = RestartWatch()
            while True:
                batch, lost = await watch.getmany(consumer, timeout_ms=1000)
                if lost:
                    log.warning(
                        "pw.cameras partitions %s lost their records (broker restarted): reading them again",
                        sorted(tp.partition for tp in lost),
                    )
                    resend_all.set()  # what this worker knows is no longer on the broker
                changed = False
                for tp, records in batch.items():
                    for record in records:
                        try:
                            changed |= manager.catalog.apply(record.key, record.value, tp.partition)
                        except CodecError as exc:
                            log.warning("pw.cameras[%d]@%d: %s", tp.partition, record.offset, exc.reason)
                            metrics.DEADLETTERS.labels(source_topic=CAMERAS, reason="decode").inc()
                if changed:
                    await manager.reconcile()
        finally:
            await consumer.stop()

    resend_all = asyncio.Event()

    async def reseed() -> None:
        """Make pw.cameras say what configs/ and the database say.

        Only differences from the catalog are sent, except after the broker lost the topic's records
        (`RestartWatch`): this worker's catalog still holds them, the broker does not, and a worker
        joining later would start without those cameras.
        """
        while True:
            try:
                desired = await asyncio.to_thread(desired_cameras, settings.cameras, database_url)
                current = {cid: e.spec for cid, e in manager.catalog.entries.items()}
                everything = resend_all.is_set()
                for cid, spec in desired.items():
                    if everything or current.get(cid) != spec:
                        await topics.cameras.send(key=cid.encode(), value=encode_spec(spec))
                if everything:
                    resend_all.clear()
                for cid in current.keys() - desired.keys():
                    await topics.cameras.send(key=cid.encode(), value=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a while: try again later
                log.warning("camera definitions not reseeded: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(reseed_s)

    async def publish_health() -> None:
        if not redis_url:
            return
        client = aioredis.from_url(redis_url)
        try:
            while True:
                await asyncio.sleep(health_s)
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for cid in manager.running:
                            snap = {**manager.health[cid].snapshot(), "worker": WORKER_ID, "at": time.time()}
                            pipe.set(HEALTH_KEY.format(cid), json.dumps(snap), ex=HEALTH_TTL_S)
                        await pipe.execute()
                except (OSError, aioredis.RedisError) as exc:
                    log.debug("camera health not published: %s", exc)
        finally:
            await client.aclose()

    async def forever(name: str, job: Callable[[], Awaitable[None]]) -> None:
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

    def region_of(camera_id: str) -> str | None:
        entry = manager.catalog.entries.get(camera_id)
        return entry.spec.region if entry else None

    # Edge gateways' frames (pw.frames) take the same recognize → track → pw.reads path.
    register_frame_agent(app, topics, publish, region_of, max_frame_bytes, settings.vision, settings.data_dir)

    @app.agent(topics.cameras, name="cameras")
    async def cameras(stream: StreamT[bytes]) -> None:
        # The events themselves are read by `read_catalog`; subscribing is what assigns partitions.
        jobs = {"camera catalog": read_catalog, "camera reseed": reseed, "camera health": publish_health}
        background = [asyncio.create_task(forever(name, job)) for name, job in jobs.items()]
        try:
            async for _ in cast(faust.Stream[bytes], stream):
                pass
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await manager.stop_all()

    return manager
