"""A Read produced to pw.reads goes through a real Faust worker on a real broker into PostgreSQL.

The worker runs as `platewatch worker` in a child process, as in production, so the test covers
the CLI, the services wiring, the migrations and the agent together.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

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


def _send_when_back(bootstrap: str, reads: list[Read], timeout: float = 60) -> None:
    """Send as soon as the broker listens again, as a camera's producer reconnecting would."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError

    async def listening() -> None:
        deadline = time.monotonic() + timeout
        while True:
            probe = AIOKafkaProducer(bootstrap_servers=bootstrap)
            try:
                await probe.start()
                return
            except KafkaConnectionError:
                assert time.monotonic() < deadline, "the broker did not come back"
                await asyncio.sleep(0.02)
            finally:
                await probe.stop()

    asyncio.run(listening())
    _send(bootstrap, reads)


def _wait_log(worker: WorkerProcess, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log.read_text(errors="replace"):
        assert worker.proc is not None and worker.proc.poll() is None, "worker died"
        assert time.monotonic() < deadline, f"no {text!r} in the worker's log"
        time.sleep(0.5)


def test_a_worker_carries_on_after_taking_over_the_embedded_services(tmp_path: Path) -> None:
    """`platewatch worker` joined to another platewatch's embedded services: when that one stops
    them, the worker starts them again itself, declares its topics on the (empty, in-memory) broker
    again and goes on storing reads in the same database. A producer that reconnects the moment the
    broker is back may name pw.reads before the worker declares it (tansu then creates it with 4
    partitions, not 2): its reads are stored too (they were not, in CI)."""
    data_dir = tmp_path / "data"
    owner = start_owner(data_dir)
    camera = '[{"id": "gate-1", "url": "rtsp://127.0.0.1:9/none", "enabled": false}]'
    worker = WorkerProcess(embedded_worker_env(data_dir, PLATEWATCH_CAMERAS=camera), tmp_path / "worker.log")
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
        racing = _reads(12)
        racer = threading.Thread(target=_send_when_back, args=(bootstrap, racing))
        racer.start()
        _wait_log(worker, "embedded broker runs in this process now")
        _send(bootstrap, second)
        racer.join(60)
        assert not racer.is_alive()
        assert _wait_rows(database_url, 52, worker) == (52, 52)
        with psycopg.connect(database_url) as conn:
            ids = {r[0] for r in conn.execute("SELECT read_id::text FROM reads").fetchall()}
        assert ids == {r.read_id for r in first + racing + second}
        # The restarted broker lost pw.cameras: the worker notices and defines its cameras there again,
        # so a worker joining later knows them.
        assert b"gate-1" in {r.key for r in asyncio.run(_records(bootstrap, "pw.cameras", 1))}
        assert "pw.cameras partitions" in worker.log.read_text(errors="replace")
        assert "UnknownTopicOrPartition" not in worker.log.read_text(errors="replace")
        children = psutil.Process(worker.pid).children(recursive=True)
        assert children  # the servers run under the worker now
        worker.stop(signal.SIGTERM)
        assert worker.proc is not None and worker.proc.returncode is not None
        assert psutil.wait_procs(children, timeout=10)[1] == []  # and stop with it
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        worker.stop(signal.SIGKILL)
        print(worker.log.read_text(errors="replace")[-4000:])
