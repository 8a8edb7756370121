"""The private faust and aiokafka attributes the worker relies on, in one place.

Why private ones: neither library offers a public call for what the embedded broker's restarts need
(fresh metadata now, a topic declared again after the broker lost it). Each use is a single
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


def forget_declared_topics(transport: Any) -> None:
    """Make faust's aiokafka transport create topics again that it created before.

    It keeps a waiter per created topic and never asks the broker again; faust itself clears them
    only when its producer or consumer stops.
    """
    waiters = getattr(transport, "_topic_waiters", None)
    if isinstance(waiters, dict):
        waiters.clear()


async def refresh_group_metadata(app_consumer: Any) -> None:
    """`refresh_metadata` for the group consumer faust runs in its consumer thread (a no-op before
    that consumer started). It is called in the thread, as aiokafka objects belong to one loop."""
    thread = getattr(app_consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    if thread is None or consumer is None:
        return
    await thread.call_thread(refresh_metadata, consumer)


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
