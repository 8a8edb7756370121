"""The Faust application: topics, agents and the worker's settings.

Agents are thin: each wires a topic to an engine function. The app is built by a factory rather
than at import time because its broker, partitions and tansu workarounds come from the settings and
the services module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from platewatch.engine.config import Settings
from platewatch.engine.policy.audit_watch import keep_audits
from platewatch.engine.policy.upkeep import keep_up
from platewatch.engine.services import TANSU_FAUST_SETTINGS
from platewatch.engine.services.broker_loss import PartitionCounts
from platewatch.engine.services.kafka_internals import (
    cap_consumer_fetch_wait,
    table_manager_without_start_pause,
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


def faust_settings(
    settings: Settings, broker_url: str, *, tansu: bool, group_instance_id: str | None = None
) -> dict[str, Any]:
    """Worker settings; the tansu ones work around measured defects of the embedded broker.

    `group_instance_id`: static group membership (engine/services/group_member.py), so a restarted
    worker takes its old partitions back at once; None: a new member each start."""
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
        "consumer_group_instance_id": group_instance_id,
        "web_enabled": k.web_port != 0,
        "web_port": k.web_port or 6066,
        "web_bind": "127.0.0.1",
        "web_in_thread": False,
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "autodiscover": False,
        "datadir": str(settings.data_dir / "faust"),
        # no faust tables here: the consumer joins its group without faust's 1 s pause for them
        "TableManager": table_manager_without_start_pause(),
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
    group_instance_id: str | None = None,
    on_broker_lost: Callable[[str], None] | None = None,
) -> Wiring:
    """`owner_url`: the store's upkeep creates and drops partitions, which takes the tables' owner
    (on the embedded database the application's role may not); "" means `database_url`.
    `on_broker_lost(reason)`: the camera catalog saw the broker restart empty under this worker
    (engine/services/broker_loss.py says why the worker then stops)."""
    cap_consumer_fetch_wait(settings.kafka.fetch_max_wait_ms)  # before faust makes its consumer
    options = faust_settings(settings, broker_url, tansu=tansu, group_instance_id=group_instance_id)
    app = faust.App(settings.kafka.app_id, **options)
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
    wiring = Wiring(app=app, topics=topics)

    def catalog_lost() -> None:
        if on_broker_lost is not None:
            on_broker_lost("pw.cameras now ends lower than it did: the broker restarted empty")

    counts = PartitionCounts()

    async def check_partition_counts(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        names = [name for topic in topics.all() for name in topic.topics]
        changed = counts.changed({name: app.consumer.topic_partitions(name) for name in names})
        if changed and on_broker_lost is not None:
            on_broker_lost(f"topics made again by the broker ({'; '.join(changed)})")

    if on_broker_lost is not None:  # Faust calls receivers as (sender, *args, **kwargs)
        app.on_partitions_assigned.connect(cast(Any, check_partition_counts))

    register_camera_agents(  # agents/cameras.py
        app,
        topics,
        settings,
        database_url,
        redis_url or None,
        max_frame_bytes=settings.kafka.max_frame_bytes,
        on_broker_restart=catalog_lost,
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
