"""A Read produced to pw.reads goes through a real Faust worker on a real broker into PostgreSQL.

The worker runs as `platewatch worker` in a child process, as in production, so the test covers
the CLI, the services wiring, the migrations and the agent together.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import msgpack
import psutil
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from workers import WorkerProcess, embedded_worker_env, produce, read_owner, start_owner, worker_env

from platewatch.codecs import Read, decode_deadletter, encode_read

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_factory(
    broker_url: str, database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    env = worker_env(broker_url, database_url, redis_url, tmp_path / "data", f"pwtest-{uuid.uuid4().hex[:8]}")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    yield worker
    worker.stop(signal.SIGKILL)
    print(worker.log.read_text(errors="replace")[-4000:])


def _reads(n: int) -> list[Read]:
    now = time.time()
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 4}",
            time=now + i / 1000,
            plate=f"RT{i:05d}",
            confidence=0.95,
        )
        for i in range(n)
    ]


async def _records(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list[ConsumerRecord]:
    """At least `expect` records of `topic` from its start, or what came within `timeout`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [m for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return got


def _count(database_url: str) -> tuple[int, int]:
    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT read_id) FROM reads").fetchone()
            return (row[0], row[1]) if row else (0, 0)
    except psycopg.errors.UndefinedTable:
        return (0, 0)


def _wait_rows(database_url: str, n: int, worker: WorkerProcess, timeout: float = 90) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    count = _count(database_url)
    while count[0] < n and time.monotonic() < deadline:
        assert worker.proc is not None and worker.proc.poll() is None, "worker died"
        time.sleep(0.5)
        count = _count(database_url)
    return count


def _send(bootstrap: str, reads: list[Read]) -> None:
    items = [(r.camera_id.encode(), encode_read(r)) for r in reads]
    asyncio.run(produce(bootstrap, "pw.reads", items, max_batch_size=16384))


def _bootstrap(broker_url: str) -> str:
    return broker_url.removeprefix("kafka://")


def test_reads_land_in_postgres_and_survive_a_killed_worker(
    worker_factory: WorkerProcess, broker_url: str, database_url: str
) -> None:
    bootstrap = _bootstrap(broker_url)
    worker_factory.start()
    first, second = _reads(40), _reads(40)
    garbage = [(b"cam-x", b"\xc1not msgpack"), (b"cam-y", msgpack.packb({"v": 99}))]
    asyncio.run(
        produce(
            bootstrap,
            "pw.reads",
            [(r.camera_id.encode(), encode_read(r)) for r in first[:20]]
            + garbage
            + [(r.camera_id.encode(), encode_read(r)) for r in first[20:]],
            max_batch_size=16384,
        )
    )
    assert _wait_rows(database_url, 40, worker_factory) == (40, 40)

    records = asyncio.run(_records(bootstrap, "pw.deadletter", 2))
    letters = [decode_deadletter(r.value) for r in records if r.value is not None]
    assert sorted(letter.reason.split(":")[0] for letter in letters) == [
        "not msgpack",
        "unknown schema version 99 (this worker reads v1)",
    ]
    assert {letter.payload for letter in letters} == {g[1] for g in garbage}

    # A worker killed without warning may leave offsets uncommitted: the next one re-reads them,
    # and the idempotent write absorbs the replay.
    worker_factory.stop(signal.SIGKILL)
    _send(bootstrap, second)
    worker_factory.start()
    assert _wait_rows(database_url, 80, worker_factory) == (80, 80)
    time.sleep(2)  # anything replayed late would show up as extra rows
    assert _count(database_url) == (80, 80)
    with psycopg.connect(database_url) as conn:
        ids = {r[0] for r in conn.execute("SELECT read_id::text FROM reads").fetchall()}
    assert ids == {r.read_id for r in first + second}


def test_a_worker_stopped_while_the_database_is_down_loses_nothing(
    worker_factory: WorkerProcess, broker_url: str, database_url: str
) -> None:
    """The batch held during the outage is not committed, so the next worker writes it."""
    bootstrap = _bootstrap(broker_url)
    worker_factory.start()
    before = _reads(10)
    _send(bootstrap, before)
    assert _wait_rows(database_url, 10, worker_factory) == (10, 10)

    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")

    def allow(on: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(on).lower()}')
            if not on:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
                )

    allow(False)
    during = _reads(15)
    _send(bootstrap, during)
    time.sleep(4)  # the worker is now retrying the held batch
    worker_factory.stop(signal.SIGTERM)  # a clean stop commits what was acked: the held batch must not be
    allow(True)
    worker_factory.start()
    assert _wait_rows(database_url, 25, worker_factory) == (25, 25)


def _wait_log(worker: WorkerProcess, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log.read_text(errors="replace"):
        assert worker.proc is not None and worker.proc.poll() is None, "worker died"
        assert time.monotonic() < deadline, f"no {text!r} in the worker's log"
        time.sleep(0.5)


def test_a_worker_that_took_over_an_emptied_broker_exits_for_a_clean_start(tmp_path: Path) -> None:
    """`platewatch worker` joined to another platewatch's embedded services: when that one stops
    them, the worker starts them again itself; the broker comes back empty (it keeps its topics in
    memory), so the positions the worker holds belong to partitions that are gone, and it exits with
    status 75 after one error line, its servers with it (docs/operations.md). Started again, as its
    supervisor would, it starts the servers on the same data and goes on storing reads in the same
    database, and defines its cameras on the new broker."""
    data_dir = tmp_path / "data"
    owner = start_owner(data_dir)
    camera = '[{"id": "gate-1", "url": "rtsp://127.0.0.1:9/none", "enabled": false}]'
    worker = WorkerProcess(embedded_worker_env(data_dir, PLATEWATCH_CAMERAS=camera), tmp_path / "worker.log")
    again: WorkerProcess | None = None
    try:
        urls = read_owner(owner)
        bootstrap, database_url = _bootstrap(urls["broker"]), urls["database"]
        worker.start()
        _wait_log(worker, "Worker ready")
        assert "joined the embedded broker" in worker.log.read_text(errors="replace")
        first, second = _reads(20), _reads(20)
        _send(bootstrap, first)
        assert _wait_rows(database_url, 20, worker) == (20, 20)

        owner.send_signal(signal.SIGTERM)
        owner.wait(30)
        assert worker.proc is not None
        assert worker.proc.wait(90) == 75
        text = worker.log.read_text(errors="replace")
        assert "embedded broker runs in this process now" in text
        assert text.count("lost this worker's topics and consumer offsets") == 1
        assert "UnknownTopicOrPartition" not in text

        ports = {
            "PLATEWATCH_SERVICES__EMBEDDED_BROKER_PORT": str(urlsplit(urls["broker"]).port),
            "PLATEWATCH_SERVICES__EMBEDDED_POSTGRES_PORT": str(urlsplit(database_url).port),
            "PLATEWATCH_SERVICES__EMBEDDED_REDIS_PORT": "0",
        }
        again = WorkerProcess(
            embedded_worker_env(data_dir, PLATEWATCH_CAMERAS=camera, **ports), tmp_path / "again.log"
        )
        again.start()
        _wait_log(again, "Worker ready")
        _send(bootstrap, second)
        assert _wait_rows(database_url, 40, again) == (40, 40)
        with psycopg.connect(database_url) as conn:
            ids = {r[0] for r in conn.execute("SELECT read_id::text FROM reads").fetchall()}
        assert ids == {r.read_id for r in first + second}
        assert b"gate-1" in {r.key for r in asyncio.run(_records(bootstrap, "pw.cameras", 1))}
        children = psutil.Process(again.pid).children(recursive=True)
        assert children  # the servers run under the restarted worker now
        again.stop(signal.SIGTERM)
        assert again.proc is not None and again.proc.returncode is not None
        assert psutil.wait_procs(children, timeout=10)[1] == []  # and stop with it
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        worker.stop(signal.SIGKILL)
        print(worker.log.read_text(errors="replace")[-4000:])
        if again is not None:
            again.stop(signal.SIGKILL)
            print(again.log.read_text(errors="replace")[-4000:])
