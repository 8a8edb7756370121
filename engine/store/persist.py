"""The persist path: reads → the image store and the reads table, in batches, at least once.

Images are written before the rows, so a stored row never points at images that are not there
(a crash between the two leaves orphan images, which retention purges with their day). Rows go in
through the store's fast path (binary COPY on two connections, the idempotent INSERT for replays:
copy_writer.py).

A batch is stored before `store_batch` returns: while the database is down it retries with
backoff and holds the batch, so the caller commits the batch's offsets only after it is in the
database. If the caller is stopped meanwhile it must not commit them; the next worker reads them
again, and the write is idempotent on read_id, so that is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import psycopg

from platewatch.codecs import CodecError, Read, decode_read
from platewatch.engine import metrics
from platewatch.engine.retry import backoff_delays

from .copy_writer import ReadWriter
from .images import ImageStore, store_read_images
from .reads import WriteResult

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
        """The synchronous write (`write` calls it in the store's thread; the store bench directly)."""
        if self._images is not None:
            store_read_images(self._images, list(reads))
        return self._writer.write(reads)

    async def write(self, reads: Sequence[Read]) -> WriteResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.write_now, reads)

    async def decode(self, values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
        """Decode a batch in the store's thread: at tens of thousands of reads a second, msgpack
        decoding in the event loop took most of a core from the consumer's heartbeats and fetches.
        Returns the reads and, for the values that did not decode, (index in `values`, reason)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, decode_all, values)

    def close(self) -> None:
        self._writer.close()
        self._executor.shutdown(wait=False)


class BatchStore(Protocol):
    """What `store_batch` needs of a `ReadStore` (tests hand it a fake)."""

    async def decode(self, values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]: ...

    async def write(self, reads: Sequence[Read]) -> WriteResult: ...


def decode_all(values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
    reads: list[Read] = []
    bad: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            reads.append(decode_read(value))
        except CodecError as exc:
            bad.append((i, exc.reason))
    return reads, bad


async def store_batch(
    values: Sequence[bytes],
    store: BatchStore,
    undecodable: Callable[[int, str], Awaitable[None]],
    rejected: Callable[[Read, str], Awaitable[None]],
) -> WriteResult:
    """Decode and store one batch of pw.reads values; returns once it is in the database.

    `undecodable(index in values, reason)` and `rejected(read, reason)` quarantine what cannot be
    stored (a value that does not decode, a read the database refuses).
    """
    reads, bad = await store.decode(values)
    for index, reason in bad:
        await undecodable(index, reason)
    result = await write_until_stored(store, reads)
    for read, reason in result.rejected:
        await rejected(read, reason)
    metrics.READS_PERSISTED.inc(result.inserted)
    metrics.READS_REPLAYED.inc(result.duplicates)
    return result


async def write_until_stored(store: BatchStore, reads: list[Read]) -> WriteResult:
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
