"""The `cameras` agent: pw.cameras → the capture runners of the worker that owns each camera.

Wiring only; engine/ingest/ownership.py holds the logic (why subscribing decides ownership, the
catalog reader, reseeder, health publisher and the revoke grace). It also registers the `frames`
agent (agents/frames.py: edge gateways' JPEGs on pw.frames), so create_app needs one line for all
of capture.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.types import StreamT

from platewatch.codecs import Read, encode_read
from platewatch.codecs.frames import MAX_FRAME_BYTES
from platewatch.engine.config import Settings
from platewatch.engine.ingest.camera_store import desired_cameras
from platewatch.engine.ingest.manager import CameraManager
from platewatch.engine.ingest.ownership import CameraOwnership, catalog_consumer

from .frames import register_frame_agent
from .topics import CAMERAS, Topics


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
    on_broker_restart: Callable[[], None] | None = None,
) -> CameraManager:
    """Add camera capture to the app; returns the manager (its `health` and `running` are live).

    `on_broker_restart`: called when the catalogue sees pw.cameras lose its records (the embedded
    broker restarted empty), so the worker can stop and be started clean (agents/worker.py)."""

    async def publish(read: Read) -> None:
        # Waits for the broker's ack: a final read sent while the worker stops must not sit in a
        # buffer that is never flushed.
        delivery: Any = await topics.reads.send(key=read.camera_id.encode(), value=encode_read(read))
        await delivery

    async def send_definition(key: bytes, value: bytes | None) -> None:
        await topics.cameras.send(key=key, value=value)

    bootstrap = ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)
    manager = CameraManager(publish, vision=settings.vision, data_dir=settings.data_dir)
    ownership = CameraOwnership(
        manager,
        topic=CAMERAS,
        # Longer than a rebalance: a worker normally gets its new assignment within the rebalance
        # timeout, and only one that was dropped from the group stops its cameras after the grace.
        grace_s=revoke_grace_s if revoke_grace_s is not None else settings.kafka.rebalance_timeout_s + 2,
        open_consumer=functools.partial(catalog_consumer, bootstrap),
        declare_topic=topics.cameras.maybe_declare,
        send_definition=send_definition,
        desired=functools.partial(desired_cameras, settings.cameras, database_url),
        redis_url=redis_url,
        reseed_s=reseed_s,
        health_s=health_s,
        on_broker_restart=on_broker_restart,
    )

    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        ownership.partitions.revoked(tp.partition for tp in revoked if tp.topic == CAMERAS)

    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        ownership.partitions.assigned(
            {tp.partition for tp in app.consumer.assignment() if tp.topic == CAMERAS}
        )

    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        # Before the producer stops: the runners' final reads of the passes under way go out.
        await manager.stop_all()

    # Faust calls receivers as (sender, *args, signal=..., **kwargs); its stubs do not say so.
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.on_before_shutdown.connect(cast(Any, on_shutdown))

    # Edge gateways' frames (pw.frames) take the same recognize → track → pw.reads path.
    register_frame_agent(
        app, topics, publish, ownership.region_of, max_frame_bytes, settings.vision, settings.data_dir
    )

    @app.agent(topics.cameras, name="cameras")
    async def cameras(stream: StreamT[bytes]) -> None:
        # The events themselves are read by the catalog reader; subscribing is what assigns partitions.
        async with ownership.running():
            async for _ in cast(faust.Stream[bytes], stream):
                pass

    return manager
