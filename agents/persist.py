"""The `persist` agent: pw.reads → the reads table, in batches, at least once.

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
from platewatch.engine.store.reads import WriteResult, write_reads

from .deadletter import DeadLetterSink

log = logging.getLogger(__name__)


class ReadStore:
    """A single database connection used from one thread, reconnected after failures."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="persist-db")

    def _write(self, reads: Sequence[Read]) -> WriteResult:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        try:
            return write_reads(self._conn, reads)
        except psycopg.OperationalError:
            self._conn.close()
            self._conn = None
            raise

    async def write(self, reads: Sequence[Read]) -> WriteResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write, reads)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._executor.shutdown(wait=False)


def _withhold_acks(events: Sequence[EventT[bytes]]) -> None:
    # Faust's take_events() acks every event of a batch in a `finally` when the batch ends,
    # also when the body was cancelled and the generator is finalised later (asyncgen shutdown
    # hooks). Marking the messages acked beforehand turns that ack into a no-op, so the
    # consumer can never record these offsets as safe to commit. Defensive: in the shutdown
    # order measured so far the commit happens first, but that order is Faust's to change.
    for event in events:
        event.message.acked = True


async def persist_batches(
    stream: Stream[bytes], store: ReadStore, sink: DeadLetterSink, batch: int = 500, within: float = 0.5
) -> AsyncIterator[int]:
    """Consume pw.reads forever; yields the number of new rows after each stored batch."""
    async for events in stream.take_events(batch, within=within):
        reads: list[Read] = []
        for event in events:
            try:
                reads.append(decode_read(event.value))
            except CodecError as exc:
                await sink.quarantine(event, exc.reason, kind="decode")
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
        except psycopg.OperationalError as exc:
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
