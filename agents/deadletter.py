"""Quarantine of messages that cannot be processed: pw.deadletter, a log line and a metric."""

from __future__ import annotations

import logging

from faust.types import EventT, TopicT

from platewatch.codecs import DeadLetter, Read, encode_deadletter, encode_read
from platewatch.engine import metrics

log = logging.getLogger(__name__)


class DeadLetterSink:
    def __init__(self, topic: TopicT) -> None:
        self._topic = topic

    async def quarantine(self, event: EventT[bytes], reason: str, kind: str) -> None:
        msg = event.message
        letter = DeadLetter(
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            reason=reason,
            payload=bytes(event.value) if isinstance(event.value, bytes | bytearray) else b"",
            key=msg.key if isinstance(msg.key, bytes) else None,
        )
        await self._send(letter, kind)

    async def quarantine_read(self, read: Read, reason: str) -> None:
        letter = DeadLetter(
            source_topic="pw.reads",
            partition=-1,
            offset=-1,
            reason=reason,
            payload=encode_read(read),
            key=read.camera_id.encode(),
        )
        await self._send(letter, "database")

    async def _send(self, letter: DeadLetter, kind: str) -> None:
        log.warning(
            "quarantined %s[%d]@%d: %s", letter.source_topic, letter.partition, letter.offset, letter.reason
        )
        metrics.DEADLETTERS.labels(source_topic=letter.source_topic, reason=kind).inc()
        await self._topic.send(key=letter.key, value=encode_deadletter(letter))
