"""The Faust application: topics, agents and the worker's settings.

Agents are thin: each wires a topic to an engine function. The app is built by a factory rather
than at import time because its broker, partitions and tansu workarounds come from the settings and
the services module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from platewatch.engine.config import Settings
from platewatch.engine.policy.audit_watch import keep_audits
from platewatch.engine.policy.upkeep import keep_up
from platewatch.engine.services import TANSU_FAUST_SETTINGS
from platewatch.engine.services.kafka_internals import (
    cap_consumer_fetch_wait,
    forget_declared_topics,
    refresh_group_metadata,
)
from platewatch.engine.store.images import image_store_for
from platewatch.engine.store.jobs import INTERVAL_S, maintain
from platewatch.engine.store.persist import ReadStore

from .cameras import register_camera_agents
from .dispatch import register_dispatch_agent
from .match import register_match_agent
from .persist import register_persist_agent
from .topics import Topics, declare_topics
from .webhooks import register_webhook_sender


@dataclass(frozen=True)
class Wiring:
    app: faust.App
    topics: Topics

    async def declare_topics_again(self) -> None:
        """Create every topic again, on a broker that has lost them.

        Why: the embedded broker keeps nothing on disk, so when a worker takes it over from a
        stopped `platewatch up` (`Services.adopt_in_background`) it comes back empty, and the
        consumer would try to commit offsets of partitions that no longer exist for ever. Faust
        declares a topic once per process (`maybe_declare` caches its first result and the aiokafka
        transport keeps a waiter per created topic), so both are bypassed here.

        Then the group consumer is made to see the topics as they are now. Why: tansu creates a
        topic that a producer names before it is declared, with its own partition count (4), and a
        producer that reconnects the moment the broker listens can beat the declaration. The
        consumer still holds the old broker's metadata (2 partitions, say) and would never be
        assigned the others, so the reads sent there were never stored (seen in CI). Fresh metadata
        with other partition counts makes aiokafka rejoin the group and assign every partition there is.
        """
        forget_declared_topics(self.app.transport)
        for topic in self.topics.all():
            await topic.declare()
        await refresh_group_metadata(self.app.consumer)


def faust_settings(settings: Settings, broker_url: str, *, tansu: bool) -> dict[str, Any]:
    """Worker settings; the tansu ones work around measured defects of the embedded broker."""
    k = settings.kafka
    options: dict[str, Any] = {
        "broker": broker_url,
        "processing_guarantee": "at_least_once",
        "topic_partitions": k.partitions,
        "topic_replication_factor": k.replication,
        "topic_allow_declare": True,
        "broker_session_timeout": k.session_timeout_s,
        "broker_rebalance_timeout": k.rebalance_timeout_s,
        "broker_heartbeat_interval": min(3.0, k.session_timeout_s / 3),
        "producer_max_request_size": k.max_message_bytes,
        "consumer_max_fetch_size": k.max_message_bytes,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": k.web_port != 0,
        "web_port": k.web_port or 6066,
        "web_bind": "127.0.0.1",
        "web_in_thread": False,
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "autodiscover": False,
        "datadir": str(settings.data_dir / "faust"),
    }
    if tansu:
        options.update(TANSU_FAUST_SETTINGS)  # why each one: engine/services/faust_tuning.py
    return options


def create_app(
    settings: Settings,
    broker_url: str,
    database_url: str,
    *,
    tansu: bool,
    redis_url: str = "",
    owner_url: str = "",
) -> Wiring:
    """`owner_url`: the store's upkeep creates and drops partitions, which takes the tables' owner
    (on the embedded database the application's role may not); "" means `database_url`."""
    cap_consumer_fetch_wait(settings.kafka.fetch_max_wait_ms)  # before faust makes its consumer
    app = faust.App(settings.kafka.app_id, **faust_settings(settings, broker_url, tansu=tansu))
    k = settings.kafka
    topics = declare_topics(app, k.partitions, k.replication, k.max_message_bytes)
    store = ReadStore(database_url, image_store_for(settings), connections=settings.store.writer_connections)
    register_persist_agent(app, topics, store)  # agents/persist.py
    images = image_store_for(settings)  # its own: maintenance runs in another thread

    async def store_maintenance() -> None:  # partitions ahead, aggregate, daily retention
        await maintain(owner_url or database_url, images, int(settings.retention.days))

    cast(Any, app.timer(interval=INTERVAL_S, on_leader=True))(store_maintenance)  # untyped decorator

    async def policy_upkeep() -> None:  # access-log purge and anchor, unused accounts disabled
        await keep_up(
            database_url, settings.access, retention_days=settings.retention.days, data_dir=settings.data_dir
        )

    upkeep_s = settings.access.anchor_interval_minutes * 60
    cast(Any, app.timer(interval=upkeep_s, on_leader=True))(policy_upkeep)

    async def audit_upkeep() -> None:  # unusual access notified, scheduled audits produced (docs/audit.md)
        await keep_audits(
            database_url, redis_url or None, settings.audit, settings.access, data_dir=settings.data_dir
        )

    cast(Any, app.timer(interval=settings.audit.scan_minutes * 60, on_leader=True))(audit_upkeep)

    register_dispatch_agent(app, topics, settings, database_url)  # agents/dispatch.py
    register_webhook_sender(app, settings, database_url)  # agents/webhooks.py

    if redis_url:  # the hotlist matcher (agents/match.py) needs Redis; without it, persist only
        register_match_agent(app, topics, settings, redis_url, database_url)
    # No `on_broker_restart` here: a worker that outlives an embedded broker's restart still holds
    # its old consumer positions, and once its topics exist again it commits them into the empty
    # broker, so the next worker skips that many new records (tests/e2e/test_up.py lost 3 of 12
    # reads that way). `up` restarts the worker after reviving the broker instead: it starts clean.
    wiring = Wiring(app=app, topics=topics)
    register_camera_agents(  # agents/cameras.py
        app,
        topics,
        settings,
        database_url,
        redis_url or None,
        max_frame_bytes=settings.kafka.max_frame_bytes,
    )

    async def create_missing_topics() -> None:
        # Agents only declare the topics they consume; producers need the others to exist on
        # brokers that do not auto-create topics (production Kafka usually does not).
        for topic in topics.all():
            await topic.maybe_declare()

    app.task(create_missing_topics)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return wiring
