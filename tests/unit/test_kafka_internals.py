"""The private faust and aiokafka attributes engine/services/kafka_internals.py uses exist on the real
objects: a release that renames or removes one fails here, not in a worker after a broker restart."""

from __future__ import annotations

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from faust.transport.drivers import aiokafka as faust_aiokafka

from platewatch.engine.services import kafka_internals


async def test_aiokafka_consumer_has_a_client_that_refreshes_metadata() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    try:
        assert isinstance(consumer._client, AIOKafkaClient)
        assert callable(consumer._client.force_metadata_update)  # returns a future
    finally:
        await consumer.stop()


async def test_refresh_metadata_goes_through_the_consumers_client() -> None:
    calls: list[str] = []

    class Client:
        async def force_metadata_update(self) -> bool:
            calls.append("refresh")
            return True

    class Consumer:
        _client = Client()

    await kafka_internals.refresh_metadata(Consumer())  # type: ignore[arg-type]
    assert calls == ["refresh"]


async def test_the_fetch_wait_cap_reaches_the_consumer_faust_creates() -> None:
    """faust hard-codes fetch_max_wait_ms=1500; the cap must land on the real aiokafka consumer."""
    kafka_internals.cap_consumer_fetch_wait(100)
    kafka_internals.cap_consumer_fetch_wait(100)  # twice: still one layer
    app = faust.App("pw-fetch-wait", broker="kafka://127.0.0.1:9", autodiscover=False)
    thread = faust_aiokafka.AIOKafkaConsumerThread(app.consumer)
    created = thread._create_worker_consumer(app.transport)
    assert created._fetch_max_wait_ms == 100
    kafka_internals.cap_consumer_fetch_wait(250)
    assert thread._create_worker_consumer(app.transport)._fetch_max_wait_ms == 250
