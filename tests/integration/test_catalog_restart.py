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

from platewatch.agents.cameras import RestartWatch
from platewatch.engine.services import bootstrap_servers, start_embedded_broker

pytestmark = pytest.mark.slow
TOPIC = "pw.cameras"
TP = TopicPartition(TOPIC, 0)


async def _produce(bootstrap: str, values: list[bytes], *, one_batch: bool = False) -> None:
    await create_topic(bootstrap, TOPIC)
    await produce_values(bootstrap, TOPIC, values, one_batch=one_batch)


async def _follow(consumer: AIOKafkaConsumer, watch: RestartWatch, want: int, seconds: float) -> list[bytes]:
    """Read as the catalog reader does; a partition found lost shows as `<restart>`."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        batch, lost = await watch.getmany(consumer, timeout_ms=300)
        got += [b"<restart>"] * len(lost)
        got += [r.value for records in batch.values() for r in records if r.value is not None]
    return got


def test_the_catalog_reader_reads_again_after_the_broker_restarts_empty(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = start_embedded_broker(tmp_path / "tansu", "127.0.0.1", 0, 10.0)
        port = urlsplit(broker.url).port
        assert port
        bootstrap = bootstrap_servers(broker.url)
        # A batch of several records after single ones: tansu then reports an end lower than the
        # position, which must not be taken for a restart.
        await _produce(bootstrap, [b"cam-a", b"cam-b"])
        await _produce(bootstrap, [b"cam-c", b"cam-d", b"cam-e"], one_batch=True)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TP])
            await consumer.seek_to_beginning(TP)
            watch = RestartWatch()
            assert await _follow(consumer, watch, 5, 20) == [b"cam-a", b"cam-b", b"cam-c", b"cam-d", b"cam-e"]
            assert await _follow(consumer, watch, 1, 2) == []  # idle: no false alarm

            broker.stop()
            broker = start_embedded_broker(tmp_path / "tansu", "127.0.0.1", port, 10.0)
            await _produce(bootstrap, [b"cam-new"])
            assert await _follow(consumer, watch, 2, 30) == [b"<restart>", b"cam-new"]
        finally:
            await consumer.stop()
            broker.stop()

    asyncio.run(scenario())
