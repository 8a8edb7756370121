"""The camera catalog reader notices that the embedded broker restarted empty, and reads again.

After a restart its positions lie beyond the new end of pw.cameras and tansu answers such fetches
with nothing, so cameras defined afterwards were never seen. `RestartWatch` trusts only a drop of
the end offset, because tansu under-reports the end after a batch of several records.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from workers import create_topic, produce_values

from platewatch.engine.ingest.ownership import RestartWatch
from platewatch.engine.services import bootstrap_servers, start_embedded_broker

pytestmark = pytest.mark.slow
TOPIC = "pw.cameras"
TP = TopicPartition(TOPIC, 0)


async def _produce(
    bootstrap: str, values: list[bytes], *, one_batch: bool = False, partitions: int = 1, partition: int = 0
) -> None:
    await create_topic(bootstrap, TOPIC, partitions)
    await produce_values(bootstrap, TOPIC, values, one_batch=one_batch, partition=partition)


async def _follow(consumer: AIOKafkaConsumer, watch: RestartWatch, want: int, seconds: float) -> list[bytes]:
    """Read as the catalog reader does; a partition found lost shows as `<restart>`."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        batch, lost = await watch.getmany(consumer, timeout_ms=300)
        got += [b"<restart>"] * len(lost)
        got += [r.value for records in batch.values() for r in records if r.value is not None]
    return got


class _Broker:
    """An embedded broker that restarts empty on its port, and readers of pw.cameras' partition 0
    started as the catalog reader starts (from the beginning, outside any group)."""

    def __init__(self, tmp_path: Path) -> None:
        self._dir = tmp_path / "tansu"
        self._broker = start_embedded_broker(self._dir, "127.0.0.1", 0, 10.0)
        port = urlsplit(self._broker.url).port
        assert port
        self._port = port
        self.bootstrap = bootstrap_servers(self._broker.url)
        self._readers: list[AIOKafkaConsumer] = []

    def restart(self) -> None:
        self._broker.stop()
        self._broker = start_embedded_broker(self._dir, "127.0.0.1", self._port, 10.0)

    async def reader(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        self._readers.append(consumer)
        consumer.assign([TP])
        await consumer.seek_to_beginning(TP)
        return consumer

    async def close(self) -> None:
        for consumer in self._readers:
            await consumer.stop()
        self._broker.stop()


def test_the_catalog_reader_reads_again_after_the_broker_restarts_empty(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = _Broker(tmp_path)
        try:
            # A batch of several records after single ones: tansu then reports an end lower than the
            # position, which must not be taken for a restart.
            await _produce(broker.bootstrap, [b"cam-a", b"cam-b"])
            await _produce(broker.bootstrap, [b"cam-c", b"cam-d", b"cam-e"], one_batch=True)
            consumer, watch = await broker.reader(), RestartWatch()
            assert await _follow(consumer, watch, 5, 20) == [b"cam-a", b"cam-b", b"cam-c", b"cam-d", b"cam-e"]
            assert await _follow(consumer, watch, 1, 2) == []  # idle: no false alarm

            broker.restart()
            await _produce(broker.bootstrap, [b"cam-new"])
            assert await _follow(consumer, watch, 2, 30) == [b"<restart>", b"cam-new"]
        finally:
            await broker.close()

    asyncio.run(scenario())


def test_the_catalog_reader_follows_partitions_the_topic_came_back_with(tmp_path: Path) -> None:
    """After the restart pw.cameras has 4 partitions, not 1 (tansu auto-creates it so when a producer
    names it first); a camera sent to a new one is read, and the old one is read from its start."""

    async def scenario() -> None:
        broker = _Broker(tmp_path)
        try:
            await _produce(broker.bootstrap, [b"cam-a", b"cam-b"])
            consumer, watch = await broker.reader(), RestartWatch()
            assert await _follow(consumer, watch, 2, 20) == [b"cam-a", b"cam-b"]

            broker.restart()
            await _produce(broker.bootstrap, [b"cam-on-3"], partitions=4, partition=3)
            await produce_values(broker.bootstrap, TOPIC, [b"cam-on-0"], one_batch=False, partition=0)
            got = await _follow(consumer, watch, 3, 30)
            assert sorted(got) == [b"<restart>", b"cam-on-0", b"cam-on-3"]
            assert consumer.assignment() == {TopicPartition(TOPIC, p) for p in range(4)}
            # Positions carried over when the assignment grew: nothing is read twice.
            await produce_values(broker.bootstrap, TOPIC, [b"cam-later"], one_batch=False, partition=1)
            assert await _follow(consumer, watch, 2, 5) == [b"cam-later"]
        finally:
            await broker.close()

    asyncio.run(scenario())
