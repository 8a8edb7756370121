"""The private faust and aiokafka attributes the worker relies on, in one place.

Why private ones: neither library offers a public call for what the embedded broker's restarts need
(fresh metadata now, a consumer's longest fetch wait). Each use is a single
attribute here, and tests/unit/test_kafka_internals.py builds the real faust and aiokafka objects
and fails when a release renames or removes one of them, rather than a worker silently missing a
restarted broker in production.

Duck-typed on purpose: callers pass faust's transport and consumer as they come from `app`.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Fetch the cluster's metadata now rather than at the next `metadata_max_age_ms`.

    aiokafka's consumer has no public call for it (its client's is what a subscription change uses).
    """
    await consumer._client.force_metadata_update()


def cap_consumer_fetch_wait(max_wait_ms: int) -> None:
    """Make the consumers faust's aiokafka driver creates wait at most `max_wait_ms` for data.

    The driver passes `fetch_max_wait_ms=1500` to aiokafka itself, with no setting to change it, and
    a broker that does not answer a waiting fetch as soon as a record arrives (the embedded tansu)
    then holds each hop for part of that: the frame → read → alert path crosses two, and measured
    1.3 s of a 1.5 s alert latency there. aiokafka keeps the value until the consumer starts, so it
    is set on each new consumer before then. Process-wide (one worker per process); idempotent.
    """
    from faust.transport.drivers import aiokafka as driver

    cls: Any = driver.AIOKafkaConsumerThread
    current = cls._create_worker_consumer
    base = getattr(current, "_pw_original", current)

    def create_worker_consumer(self: Any, transport: Any) -> AIOKafkaConsumer:
        consumer: AIOKafkaConsumer = base(self, transport)
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    create_worker_consumer._pw_original = base  # type: ignore[attr-defined]
    cls._create_worker_consumer = create_worker_consumer


def table_manager_without_start_pause() -> type:
    """Faust's table manager, less the fixed 1 s pause it takes before starting when it has no table.

    Why: faust's `TableManager.on_start` sleeps 1 s before it starts table recovery, and the
    consumer joins its group only after that, so every worker start (a crashed worker's, the fresh
    workers after a broker restart) waited 1 s for tables that platewatch does not have (its state
    lives in PostgreSQL and Redis). An app that registers a table keeps faust's own pause. Returned
    from a function so that importing this module does not import faust. Overrides the private
    `_update_channels` and `recovery` steps of faust's own `on_start`; tests/unit/test_kafka_internals.py
    fails when a release changes them.
    """
    from faust.tables import TableManager

    class StartNowTableManager(TableManager):  # type: ignore[misc]  # faust is untyped
        async def on_start(self) -> None:
            if len(self):  # tables registered: faust's own start, pause included
                await super().on_start()
                return
            if not self.should_stop:
                await self._update_channels()
                await self.recovery.start()

    return StartNowTableManager
