"""The `persist` agent: pw.reads → the store (engine/store/persist.py), a batch at a time.

A batch's offsets are committed only after `store_batch` returned, which is once the batch is in
the database. If the worker stops while it retries, its events are withheld from acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import faust
from faust.types import EventT, StreamT

from platewatch.engine.store.persist import PERSIST_BATCH, ReadStore, store_batch

from .deadletter import DeadLetterSink
from .topics import Topics


def withhold_acks(events: Sequence[EventT[bytes]]) -> None:
    # Faust's take_events() acks every event of a batch in a `finally` when the batch ends,
    # also when the body was cancelled and the generator is finalised later (asyncgen shutdown
    # hooks). Marking the messages acked beforehand turns that ack into a no-op, so the
    # consumer can never record these offsets as safe to commit. Defensive: in the shutdown
    # order measured so far the commit happens first, but that order is Faust's to change.
    for event in events:
        event.message.acked = True


def register_persist_agent(app: faust.App, topics: Topics, store: ReadStore, within: float = 0.5) -> None:
    sink = DeadLetterSink(topics.deadletter)

    @app.agent(topics.reads, name="persist")
    async def persist(stream: StreamT[bytes]) -> None:
        async for events in cast(faust.Stream[bytes], stream).take_events(PERSIST_BATCH, within=within):

            async def undecodable(index: int, reason: str, events: Sequence[EventT[bytes]] = events) -> None:
                await sink.quarantine(events[index], reason, kind="decode")

            try:
                values = [cast(bytes, event.value) for event in events]
                await store_batch(values, store, undecodable, sink.quarantine_read)
            except BaseException:
                withhold_acks(events)
                raise
