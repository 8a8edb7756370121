"""The persist path without a database: a batch is held and retried while the database is down,
decoded off the event loop, and what cannot be stored is handed to the quarantine callables."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence

import psycopg
import pytest

from platewatch.codecs import Read, encode_read
from platewatch.engine.store import persist
from platewatch.engine.store.reads import WriteResult


def _read(plate: str = "7ABC123") -> Read:
    return Read(read_id=str(uuid.uuid4()), camera_id="c", time=1.0, plate=plate, confidence=0.9)


class FlakyStore:
    """Fails its first `failures` writes as a database that went away does; rejects `refuse`."""

    def __init__(self, failures: int, refuse: str = "") -> None:
        self.failures, self.calls, self.refuse = failures, 0, refuse
        self.written: list[Read] = []

    async def decode(self, values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
        return persist.decode_all(values)

    async def write(self, reads: Sequence[Read]) -> WriteResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        kept = [r for r in reads if r.plate != self.refuse]
        self.written += kept
        return WriteResult(len(kept), 0, [(r, "refused") for r in reads if r.plate == self.refuse])


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(persist.asyncio, "sleep", sleep)
    return slept


async def test_batch_is_written_once_the_database_is_back(_no_sleep: list[float]) -> None:
    store = FlakyStore(failures=3)
    result = await persist.write_until_stored(store, [_read()])
    assert result.inserted == 1 and store.calls == 4
    assert len(_no_sleep) == 3  # one wait before each retry


async def test_store_batch_quarantines_what_cannot_be_stored_and_stores_the_rest() -> None:
    good, refused = _read(), _read("REFUSED")
    values = [b"\xc1junk", encode_read(good), b"", encode_read(refused)]
    store = FlakyStore(failures=1, refuse="REFUSED")
    undecodable: list[int] = []
    rejected: list[tuple[str, str]] = []

    async def on_undecodable(index: int, reason: str) -> None:
        assert reason
        undecodable.append(index)

    async def on_rejected(read: Read, reason: str) -> None:
        rejected.append((read.plate, reason))

    result = await persist.store_batch(values, store, on_undecodable, on_rejected)
    assert (result.inserted, store.written) == (1, [good])
    assert undecodable == [0, 2]
    assert rejected == [("REFUSED", "refused")]


async def test_a_failed_quarantine_fails_the_batch() -> None:
    """The caller must then not acknowledge the batch: nothing of it counts as stored."""

    async def broker_down(index: int, reason: str) -> None:
        raise ConnectionError("broker away")

    async def unused(read: Read, reason: str) -> None:
        raise AssertionError

    with pytest.raises(ConnectionError):
        await persist.store_batch([b"\xc1junk", encode_read(_read())], FlakyStore(0), broker_down, unused)


async def test_batch_decodes_off_the_event_loop_and_names_the_bad_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = _read()
    values = [b"\xc1junk", encode_read(good), b"", encode_read(good)]
    store = persist.ReadStore("postgresql://127.0.0.1:1/never-connected")
    seen: list[str] = []
    real = persist.decode_all

    def spy(values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
        seen.append(threading.current_thread().name)
        return real(values)

    monkeypatch.setattr(persist, "decode_all", spy)
    try:
        reads, bad = await store.decode(values)
    finally:
        store.close()
    assert reads == [good, good]
    assert [i for i, _ in bad] == [0, 2] and all(reason for _, reason in bad)
    assert seen and seen[0].startswith("persist-db")
