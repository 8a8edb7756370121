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


async def test_the_table_manager_starts_without_fausts_pause_when_there_is_no_table() -> None:
    """faust's TableManager sleeps 1 s before its recovery starts (and so before the consumer joins
    its group); with no table, ours must go straight to the same two private steps."""
    import time

    manager_class = kafka_internals.table_manager_without_start_pause()
    app = faust.App("pw-tables", broker="kafka://127.0.0.1:9", autodiscover=False, TableManager=manager_class)
    manager = app.tables
    assert isinstance(manager, manager_class) and len(manager) == 0
    steps: list[str] = []

    async def update_channels() -> None:
        steps.append("channels")

    async def start_recovery() -> None:
        steps.append("recovery")

    assert callable(manager._update_channels) and callable(manager.recovery.start)  # faust's own
    manager._update_channels = update_channels
    manager.recovery.start = start_recovery
    began = time.monotonic()
    await manager.on_start()
    assert steps == ["channels", "recovery"]
    assert time.monotonic() - began < 0.5  # faust's own waits 1.0 s first


def test_an_app_with_a_table_keeps_fausts_own_start() -> None:
    manager_class = kafka_internals.table_manager_without_start_pause()
    app = faust.App(
        "pw-tables2", broker="kafka://127.0.0.1:9", autodiscover=False, TableManager=manager_class
    )
    app.Table("counts", default=int)
    assert len(app.tables) == 1  # so on_start takes faust's path, pause included
