"""The persist agent holds a batch and retries while the database is down (a fake store stands in)."""

import asyncio
import uuid
from collections.abc import Sequence

import psycopg
import pytest

from platewatch.agents import persist
from platewatch.codecs import Read
from platewatch.engine.store.reads import WriteResult


class FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def write(self, reads: Sequence[Read]) -> WriteResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return WriteResult(len(reads), 0, [])


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    monkeypatch.setattr(persist.asyncio, "sleep", lambda _d: real_sleep(0))


async def test_batch_is_written_once_the_database_is_back() -> None:
    store = FlakyStore(failures=3)
    reads = [Read(read_id=str(uuid.uuid4()), camera_id="c", time=1.0, plate="A", confidence=0.5)]
    result = await persist._write_until_stored(store, reads)  # type: ignore[arg-type]
    assert result.inserted == 1 and store.calls == 4


async def test_batch_decodes_off_the_event_loop_and_names_the_bad_events() -> None:
    import threading
    from types import SimpleNamespace

    from platewatch.codecs import encode_read

    good = Read(read_id=str(uuid.uuid4()), camera_id="c", time=1.0, plate="7ABC123", confidence=0.9)
    events = [SimpleNamespace(value=v) for v in (b"\xc1junk", encode_read(good), b"", encode_read(good))]
    store = persist.ReadStore("postgresql://127.0.0.1:1/never-connected")
    seen: list[str] = []
    real = persist._decode_all

    def spy(values: Sequence[bytes]) -> tuple[list[Read], list[tuple[int, str]]]:
        seen.append(threading.current_thread().name)
        return real(values)

    persist._decode_all, saved = spy, real  # type: ignore[assignment]
    try:
        reads, bad = await store.decode(events)  # type: ignore[arg-type]
    finally:
        persist._decode_all = saved  # type: ignore[assignment]
        store.close()
    assert reads == [good, good]
    assert [i for i, _ in bad] == [0, 2] and all(reason for _, reason in bad)
    assert seen and seen[0].startswith("persist-db")
