"""The `persist` agent: pw.reads → the image store and the reads table, in batches, at least once.

Images are written before the rows, so a stored row never points at images that are not there
(a crash between the two leaves orphan images, which retention purges with their day). Rows go in
through the store's fast path (binary COPY on two connections, the idempotent INSERT for replays:
engine/store/copy_writer.py).

Offsets are committed only after the batch is in the database. While the database is down
the agent retries with backoff and holds the batch; if the worker is stopped meanwhile the
batch's events are withheld from acknowledgement so their offsets are not committed and the
next worker reads them again (the write is idempotent on read_id, so that is harmless).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg
from faust import Stream
from faust.types import EventT

from platewatch.codecs import CodecError, Read, decode_read
from platewatch.engine import metrics
from platewatch.engine.retry import backoff_delays
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import ImageStore, store_read_images
from platewatch.engine.store.reads import WriteResult

from .deadletter import DeadLetterSink

log = logging.getLogger(__name__)


# Large enough that a commit (one WAL flush) per batch is cheap next to the rows, small enough that
# a batch of reads with their JPEGs stays a few tens of MB. The store bench writes in batches this size.
PERSIST_BATCH = 2000


class ReadStore:
    """The write path used from one thread: images, then rows; connections reconnect after failures."""

    def __init__(self, database_url: str, images: ImageStore | None = None, *, connections: int = 2) -> None:
        self._writer = ReadWriter(database_url, connections=connections)
        self._images = images
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="persist-db")

    def write_now(self, reads: Sequence[Read]) -> WriteResult:
        """The synchronous write (the agent calls it in its thread; the store bench calls it directly)."""
        if self._images is not None:
            store_read_images(self._images, list(reads))
        return self._writer.write(reads)

    async def write(self, reads: Sequence[Read]) -> WriteResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.write_now, reads)

    async def decode(self, events: Sequence[EventT[bytes]]) -> tuple[list[Read], list[tuple[int, str]]]:
        """Decode a batch in the store's thread: at tens of thousands of reads a second, msgpack
        decoding in the event loop took most of a core from the consumer's heartbeats and fetches.
        Returns the reads and, for the events that did not decode, (index in `events`, reason)."""
        values = [event.value for event in events]
        return await asyncio.get_running_loop().run_in_executor(self._executor, _decode_all, values)

    def close(self) -> None:
        self._writer.close()
        self._executor.shutdown(wait=False)


def _decode_all(values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
    reads: list[Read] = []
    bad: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            reads.append(decode_read(value))
        except CodecError as exc:
            bad.append((i, exc.reason))
    return reads, bad


def _withhold_acks(events: Sequence[EventT[bytes]]) -> None:
    # Faust's take_events() acks every event of a batch in a `finally` when the batch ends,
    # also when the body was cancelled and the generator is finalised later (asyncgen shutdown
    # hooks). Marking the messages acked beforehand turns that ack into a no-op, so the
    # consumer can never record these offsets as safe to commit. Defensive: in the shutdown
    # order measured so far the commit happens first, but that order is Faust's to change.
    for event in events:
        event.message.acked = True


async def persist_batches(
    stream: Stream[bytes],
    store: ReadStore,
    sink: DeadLetterSink,
    batch: int = PERSIST_BATCH,
    within: float = 0.5,
) -> AsyncIterator[int]:
    """Consume pw.reads forever; yields the number of new rows after each stored batch."""
    async for events in stream.take_events(batch, within=within):
        reads, bad = await store.decode(events)
        for index, reason in bad:
            await sink.quarantine(events[index], reason, kind="decode")
        try:
            result = await _write_until_stored(store, reads)
        except BaseException:
            _withhold_acks(events)
            raise
        for read, reason in result.rejected:
            await sink.quarantine_read(read, reason)
        metrics.READS_PERSISTED.inc(result.inserted)
        metrics.READS_REPLAYED.inc(result.duplicates)
        yield result.inserted


async def _write_until_stored(store: ReadStore, reads: list[Read]) -> WriteResult:
    delays = backoff_delays(base=0.2, cap=10.0)
    while True:
        try:
            result = await store.write(reads)
            metrics.DB_UP.set(1)
            return result
        except (psycopg.OperationalError, OSError) as exc:  # database down, or image store full/unreachable
            metrics.DB_UP.set(0)
            metrics.DB_WRITE_RETRIES.inc()
            delay = next(delays)
            log.warning(
                "database write failed (%s); retrying %d reads in %.1fs",
                type(exc).__name__,
                len(reads),
                delay,
            )
            await asyncio.sleep(delay)
