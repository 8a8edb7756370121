"""Camera ownership without a broker or Redis: the revoke grace, the restart watch and the catalog
reader (on a consumer over an in-memory log that can restart empty), the reseeder, the health
records and the jobs' supervision."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from platewatch.codecs import Read
from platewatch.codecs.cameras import decode_spec, encode_spec
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest import ownership
from platewatch.engine.ingest.health import CameraHealth
from platewatch.engine.ingest.manager import CameraManager
from platewatch.engine.ingest.ownership import (
    HEALTH_KEY,
    CameraOwnership,
    CameraPartitions,
    CatalogReader,
    HealthPublisher,
    Reseeder,
    RestartWatch,
    keep_running,
)

TOPIC = "pw.cameras"


class Broker:
    """pw.cameras in memory: a list of (key, value) per partition; `restart` loses them all."""

    def __init__(self, partitions: int = 1) -> None:
        self.logs: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in range(partitions)}

    def send(self, key: bytes, value: bytes | None, partition: int = 0) -> None:
        self.logs[partition].append((key, value))

    def restart(self, partitions: int | None = None) -> None:
        self.logs = {p: [] for p in range(partitions or len(self.logs))}


class FakeConsumer:
    """What the restart watch and catalog reader use of an AIOKafkaConsumer, over a `Broker`."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.started = self.stopped = False
        self.refreshes = 0
        self._assigned: set[TopicPartition] = set()
        self._pos: dict[TopicPartition, int] = {}
        consumer = self

        class Client:
            async def force_metadata_update(self) -> bool:
                consumer.refreshes += 1
                return True

        self._client = Client()

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.broker.logs) if topic == TOPIC else None

    def assign(self, tps: list[TopicPartition]) -> None:
        self._assigned, self._pos = set(tps), {}  # as aiokafka: positions are forgotten

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self._pos[tp] = 0

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._pos[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self._pos[tp]

    def highwater(self, tp: TopicPartition) -> int | None:
        return len(self.broker.logs.get(tp.partition, []))

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        out = {}
        for tp in sorted(self._assigned):
            log = self.broker.logs.get(tp.partition, [])
            start = self._pos.get(tp, 0)
            if start < len(log):
                out[tp] = [
                    SimpleNamespace(key=k, value=v, offset=start + i) for i, (k, v) in enumerate(log[start:])
                ]
                self._pos[tp] = len(log)
        await asyncio.sleep(0 if out else min(timeout_ms, 5) / 1000)  # a real fetch waits for data
        return out


def _consumer(broker: Broker) -> AIOKafkaConsumer:
    return cast(AIOKafkaConsumer, FakeConsumer(broker))


async def _assigned(consumer: AIOKafkaConsumer, partitions: int = 1) -> AIOKafkaConsumer:
    tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


class IdleRunner:
    """Stands in for a CameraRunner: runs until cancelled."""

    def __init__(self, spec: CameraSpec, health: CameraHealth) -> None:
        self.spec = spec

    async def run(self) -> None:
        await asyncio.Event().wait()


async def _publish(read: Read) -> None:
    raise AssertionError("no reads in these tests")


def _manager() -> CameraManager:
    return CameraManager(_publish, runner_factory=cast(Any, IdleRunner))


def _spec(cid: str, **extra: Any) -> CameraSpec:
    return CameraSpec(id=cid, url=f"rtsp://cams/{cid}", **extra)


async def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `check` to hold (the jobs run as tasks beside the test)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def _define(broker: Broker, cid: str, partition: int = 0) -> None:
    broker.send(cid.encode(), encode_spec(_spec(cid)), partition)


async def test_a_revoked_partition_is_kept_for_the_grace_and_dropped_after() -> None:
    now = [100.0]
    manager = _manager()
    parts = CameraPartitions(manager, grace_s=12.0, clock=lambda: now[0])
    manager.catalog.apply(b"a", encode_spec(_spec("a")), 0)
    manager.catalog.apply(b"b", encode_spec(_spec("b")), 1)

    parts.assigned({0, 1})
    await _until(lambda: set(manager.running) == {"a", "b"})  # the reconcile it scheduled

    parts.revoked([1])
    now[0] += 5
    assert parts.expire() == set() and manager.partitions == {0, 1}  # within the grace: still ours
    now[0] += 8
    assert parts.expire() == {1} and manager.partitions == {0}
    await manager.reconcile()
    assert set(manager.running) == {"a"}

    parts.revoked([0])
    parts.assigned({0})  # the same worker got it back: nothing expires
    now[0] += 60
    assert parts.expire() == set() and manager.partitions == {0}
    await manager.stop_all()


async def test_revoked_cameras_stop_once_the_grace_ran_out() -> None:
    manager = _manager()
    parts = CameraPartitions(manager, grace_s=0.05)
    manager.catalog.apply(b"a", encode_spec(_spec("a")), 0)
    parts.assigned({0})
    await _until(lambda: set(manager.running) == {"a"})
    parts.revoked([0])
    await _until(lambda: manager.running == {})
    assert manager.partitions == set()


async def test_the_restart_watch_trusts_only_a_drop_of_the_end() -> None:
    broker = Broker()
    consumer = await _assigned(_consumer(broker))
    watch = RestartWatch()
    for cid in ("a", "b", "c"):
        _define(broker, cid)
    batch, lost = await watch.getmany(consumer, timeout_ms=0)
    assert lost == [] and [r.key for r in batch[TopicPartition(TOPIC, 0)]] == [b"a", b"b", b"c"]
    assert await watch.getmany(consumer, timeout_ms=0) == ({}, [])  # idle: no false alarm

    broker.restart()
    _define(broker, "new")  # the end is now 1, below the 3 seen before
    batch, lost = await watch.getmany(consumer, timeout_ms=0)
    assert lost == [TopicPartition(TOPIC, 0)] and batch == {}
    assert cast(FakeConsumer, consumer).refreshes == 1  # the topic may have come back otherwise
    batch, lost = await watch.getmany(consumer, timeout_ms=0)  # read again from the start
    assert lost == [] and [r.key for r in batch[TopicPartition(TOPIC, 0)]] == [b"new"]


async def test_the_restart_watch_follows_partitions_the_topic_came_back_with() -> None:
    broker = Broker()
    consumer = await _assigned(_consumer(broker))
    watch = RestartWatch()
    _define(broker, "a")
    await watch.getmany(consumer, timeout_ms=0)

    broker.logs |= {1: [], 2: []}  # more partitions: a new one is read from its start
    _define(broker, "on-2", partition=2)
    _define(broker, "b")
    await watch.follow_partitions(consumer)
    assert consumer.assignment() == {TopicPartition(TOPIC, p) for p in range(3)}
    batch, _ = await watch.getmany(consumer, timeout_ms=0)
    keys = {tp.partition: [r.key for r in records] for tp, records in batch.items()}
    assert keys == {0: [b"b"], 2: [b"on-2"]}  # partition 0's position was carried over


async def test_the_catalog_reader_fills_the_catalog_and_notices_a_restart() -> None:
    broker = Broker()
    manager = _manager()
    declared, lost = [], []

    async def declare() -> None:
        declared.append(TOPIC)

    reader = CatalogReader(manager, lambda: _consumer(broker), declare, lambda: lost.append(1), TOPIC)
    manager.partitions = {0}
    _define(broker, "a")
    broker.send(b"bad", b"\xc1 not a spec")
    _define(broker, "b")
    task = asyncio.create_task(reader.run())
    try:
        await _until(lambda: set(manager.running) == {"a", "b"})
        assert declared == [TOPIC]
        assert set(manager.catalog.cameras) == {"a", "b"}  # the bad record skipped
        broker.send(b"a", None)  # a tombstone removes the camera
        await _until(lambda: set(manager.running) == {"b"})
        assert lost == []

        broker.restart()
        _define(broker, "c")
        await _until(lambda: "c" in manager.catalog.cameras)
        assert lost == [1] and set(manager.catalog.cameras) == {"b", "c"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.stop_all()


async def test_the_reseeder_sends_differences_and_everything_after_a_restart() -> None:
    manager = _manager()
    desired: dict[str, CameraSpec] = {"a": _spec("a"), "b": _spec("b")}
    sent: list[tuple[bytes, str | None]] = []

    async def send(key: bytes, value: bytes | None) -> None:
        sent.append((key, decode_spec(value).url if value else None))

    reseeder = Reseeder(manager.catalog, lambda: desired, send)
    manager.catalog.apply(b"a", encode_spec(_spec("a")), 0)
    manager.catalog.apply(b"gone", encode_spec(_spec("gone")), 0)
    await reseeder.once()
    assert sorted(sent) == [(b"b", "rtsp://cams/b"), (b"gone", None)]

    sent.clear()
    manager.catalog.apply(b"b", encode_spec(_spec("b")), 0)
    manager.catalog.apply(b"gone", None, 0)
    await reseeder.once()
    assert sent == []  # nothing differs
    reseeder.resend_all.set()
    await reseeder.once()
    assert sorted(sent) == [(b"a", "rtsp://cams/a"), (b"b", "rtsp://cams/b")]
    assert not reseeder.resend_all.is_set()


async def test_the_reseeder_outlives_a_database_that_is_away() -> None:
    calls = 0

    def desired() -> Mapping[str, CameraSpec]:
        nonlocal calls
        calls += 1
        raise OSError("database away")

    async def send(key: bytes, value: bytes | None) -> None:
        raise AssertionError

    task = asyncio.create_task(Reseeder(_manager().catalog, desired, send, every_s=0.01).run())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls > 2


async def test_health_records_name_the_camera_and_the_worker() -> None:
    manager = _manager()
    manager.catalog.apply(b"a", encode_spec(_spec("a")), 0)
    manager.partitions = {0}
    await manager.reconcile()
    try:
        records = HealthPublisher(manager, lambda: None, worker="host:1").records(now=50.0)
        assert list(records) == [HEALTH_KEY.format("a")] == ["pw:camera:a:health"]
        snap = json.loads(records["pw:camera:a:health"])
        assert (snap["camera_id"], snap["worker"], snap["at"]) == ("a", "host:1", 50.0)
    finally:
        await manager.stop_all()


async def test_keep_running_restarts_a_failing_job(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    monkeypatch.setattr(ownership.asyncio, "sleep", lambda _d: real_sleep(0))
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ConnectionError("broker away")

    await keep_running("job", job)
    assert runs == 3


async def test_ownership_runs_its_jobs_and_stops_every_camera_after() -> None:
    broker = Broker()
    _define(broker, "a")
    manager = _manager()

    async def declare() -> None:
        pass

    async def send(key: bytes, value: bytes | None) -> None:
        broker.send(key, value)

    owner = CameraOwnership(
        manager,
        topic=TOPIC,
        grace_s=1.0,
        open_consumer=lambda: _consumer(broker),
        declare_topic=declare,
        send_definition=send,
        desired=lambda: {"a": _spec("a"), "b": _spec("b", region="eu")},
        reseed_s=0.01,
    )
    assert owner.health is None  # no Redis: no health publisher
    owner.partitions.assigned({0})
    async with owner.running():
        await _until(lambda: set(manager.running) == {"a", "b"})  # b: through the reseeder and the reader
        assert owner.region_of("b") == "eu" and owner.region_of("nope") is None
    assert manager.running == {}


async def test_ownership_tells_the_worker_when_the_broker_came_back_empty() -> None:
    # The worker declares its topics again then (agents/app.py): without them every offset commit
    # fails for ever on the restarted embedded broker (bench pipeline --faults broker).
    broker = Broker()
    _define(broker, "a")
    manager = _manager()
    restarts: list[int] = []

    async def declare() -> None:
        pass

    async def send(key: bytes, value: bytes | None) -> None:
        broker.send(key, value)

    owner = CameraOwnership(
        manager,
        topic=TOPIC,
        grace_s=1.0,
        open_consumer=lambda: _consumer(broker),
        declare_topic=declare,
        send_definition=send,
        desired=lambda: {"a": _spec("a")},
        reseed_s=0.01,
        on_broker_restart=lambda: restarts.append(1),
    )
    owner.partitions.assigned({0})
    async with owner.running():
        await _until(lambda: set(manager.running) == {"a"})
        assert restarts == []
        broker.restart()
        await _until(lambda: restarts == [1])
        await _until(lambda: "a" in manager.catalog.cameras)  # reseeded on the empty broker
