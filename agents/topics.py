"""The topics of the system (the flow is drawn in docs/architecture.md).

Values are raw bytes: the agents decode with `platewatch.codecs` themselves, so a message
that does not decode is quarantined on pw.deadletter with its reason instead of crashing the
stream inside Faust's deserialiser, where it could only be logged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import faust
from faust.types import TopicT

CAMERAS = "pw.cameras"
FRAMES = "pw.frames"
READS = "pw.reads"
#: Reads that arrived before the hotlist was first loaded (Redis down at a worker's start): the
#: match agent parks them here instead of holding pw.reads, which the persist agent shares.
MATCH_PENDING = "pw.match-pending"
ALERTS = "pw.alerts"
DEADLETTER = "pw.deadletter"


@dataclass(frozen=True)
class Topics:
    cameras: TopicT
    frames: TopicT
    reads: TopicT
    match_pending: TopicT
    alerts: TopicT
    deadletter: TopicT

    def all(self) -> tuple[TopicT, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


def declare_topics(app: faust.App, partitions: int, replicas: int, max_message_bytes: int) -> Topics:
    def topic(name: str, **extra: object) -> TopicT:
        return app.topic(
            name,
            partitions=partitions,
            replicas=replicas,
            key_serializer="raw",
            value_serializer="raw",
            internal=True,  # declared by the app when missing
            config={"max.message.bytes": str(max_message_bytes), **extra},  # type: ignore[dict-item]
        )

    return Topics(
        cameras=topic(CAMERAS, **{"cleanup.policy": "compact"}),
        frames=topic(FRAMES),
        reads=topic(READS),
        match_pending=topic(MATCH_PENDING),
        alerts=topic(ALERTS),
        deadletter=topic(DEADLETTER),
    )
