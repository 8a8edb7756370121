"""Reads in → alerts out through a real `platewatch worker`, a real broker and a real Redis.

The hotlist lives in a Redis of this test's own (the worker uses the default `pw:hot` layout, which
must not meet other tests' keys). Covered: a B/8 confusion, a witness's partial plate, a miss, a
second read of the same pass, a replayed read, a live HSET, and a replay after a worker restart.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from aiokafka import AIOKafkaConsumer
from workers import WorkerProcess, produce, worker_env

from platewatch.codecs import Alert, Read, decode_alert, encode_read
from platewatch.engine.services import Embedded, credentials, start_embedded_redis
from platewatch.engine.services.redis_server import PASSWORD_NAME as REDIS_PASSWORD

pytestmark = pytest.mark.slow


def _bootstrap(broker_url: str) -> str:
    return broker_url.removeprefix("kafka://")


@pytest.fixture
def hot_redis(tmp_path: Path) -> Iterator[Embedded]:
    server = start_embedded_redis(tmp_path / "hot", "127.0.0.1", 0, 30.0)
    yield server
    server.stop()


@pytest.fixture
def worker(
    broker_url: str, database_url: str, hot_redis: Embedded, tmp_path: Path
) -> Iterator[WorkerProcess]:
    env = worker_env(
        broker_url, database_url, hot_redis.url, tmp_path / "data", f"pwm-{uuid.uuid4().hex[:8]}"
    )
    process = WorkerProcess(env, tmp_path / "worker.log")
    yield process
    process.stop(signal.SIGKILL)
    print(process.log.read_text(errors="replace")[-4000:])


def read(plate: str, pass_id: str, **extra: object) -> Read:
    return Read(
        read_id=str(uuid.uuid4()),
        camera_id="cam-1",
        time=time.time(),
        plate=plate,
        confidence=0.9,
        pass_id=pass_id,
        **extra,  # type: ignore[arg-type]
    )


async def collect_alerts(bootstrap: str, expect: int, timeout: float, settle: float = 0.0) -> list[Alert]:
    """Every alert on pw.alerts: waits for `expect`, then `settle` seconds more for any extra."""
    consumer = AIOKafkaConsumer(
        "pw.alerts", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: list[Alert] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(got) >= expect:
                deadline = min(deadline, time.monotonic() + settle)
            batch = await consumer.getmany(timeout_ms=300)
            got += [decode_alert(m.value) for msgs in batch.values() for m in msgs if m.value is not None]
    finally:
        await consumer.stop()
    return got


def produce_reads(bootstrap: str, reads: list[Read]) -> None:
    asyncio.run(produce(bootstrap, "pw.reads", [(r.camera_id.encode(), encode_read(r)) for r in reads]))


def test_reads_become_alerts_once_per_pass(
    worker: WorkerProcess, broker_url: str, hot_redis: Embedded, database_url: str
) -> None:
    bootstrap = _bootstrap(broker_url)
    admin = redis.Redis.from_url(hot_redis.url, decode_responses=True)
    admin.hset(
        "pw:hot:stolen:7ABC123", mapping={"reason": "stolen vehicle", "case": "24-1187", "priority": "1"}
    )
    admin.hset("pw:hot:shooting", mapping={"partial": "true", "priority": "1"})
    admin.hset("pw:hot:shooting:6?K*4", mapping={"reason": "witness: shooting", "case": "26-0042"})
    worker.start()

    confused = read("7A8C123", "pass-1", candidates=(("7A8C123", 0.9), ("7ABC128", 0.5)))
    partial = read("6XK9934", "pass-2")
    miss = read("1NOHIT1", "pass-3")
    same_pass = read("7ABC123", "pass-1")  # the final read of pass-1: no second alert
    produce_reads(bootstrap, [confused, partial, miss, same_pass, partial])  # `partial` replayed
    alerts = asyncio.run(collect_alerts(bootstrap, expect=2, timeout=90, settle=2))
    assert sorted((a.hotlist, a.entry, a.match_kind, a.read.read_id) for a in alerts) == sorted(
        [("stolen", "7ABC123", "fuzzy", confused.read_id), ("shooting", "6?K*4", "partial", partial.read_id)]
    )
    stolen = next(a for a in alerts if a.hotlist == "stolen")
    assert (stolen.reason, stolen.case_number, stolen.priority) == ("stolen vehicle", "24-1187", 1)
    assert 0.9 < stolen.score < 1.0 and not stolen.verified

    # a live edit through a plain client is matched
    admin.hset("pw:hot:stolen:9NEW999", "reason", "stolen plate")
    time.sleep(0.5)
    produce_reads(bootstrap, [read("9NEW999", "pass-4")])
    alerts = asyncio.run(collect_alerts(bootstrap, expect=3, timeout=30, settle=1))
    assert [a.entry for a in alerts].count("9NEW999") == 1

    # at-least-once replay after a restart: the ledger in Redis keeps it off pw.alerts; so does the
    # repeat window for the stolen car's pass split in two (pass-6); another car matching the
    # partial entry alerts
    worker.stop(signal.SIGTERM)
    worker.start()
    produce_reads(bootstrap, [confused, read("6ZK0014", "pass-5"), read("7ABC123", "pass-6")])
    alerts = asyncio.run(collect_alerts(bootstrap, expect=4, timeout=90, settle=2))
    assert len(alerts) == 4, [(a.entry, a.read.plate) for a in alerts]
    assert len({a.alert_id for a in alerts}) == 4
    assert admin.get("pw:alerted:repeat:cam-1:pw:hot:stolen:7ABC123") is not None
    assert 0 < admin.ttl("pw:alerted:repeat:cam-1:pw:hot:shooting:6?K*4|6ZK0014") <= 60
    admin.close()

    # the dispatch agent stored each once, new and unverified, with one `raised` event apiece
    stored: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while len(stored) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        with psycopg.connect(database_url) as conn:
            stored = conn.execute("SELECT alert_id, state FROM alerts").fetchall()
            raised = conn.execute("SELECT count(*) FROM alert_events WHERE kind = 'raised'").fetchone()
    assert sorted(stored) == sorted((a.alert_id, "new") for a in alerts)
    assert raised == (4,)


def test_redis_down_at_start_parks_reads_and_persist_flows_on(
    broker_url: str, database_url: str, tmp_path: Path
) -> None:
    """Reads keep landing in the database while Redis is away; the hot one alerts once it is back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens there yet; the Redis started later reads the password made here (as `up`'s would).
    password = credentials.password(tmp_path / "redis", REDIS_PASSWORD)
    redis_url = f"redis://:{password}@127.0.0.1:{port}/0"
    env = worker_env(broker_url, database_url, redis_url, tmp_path / "data", f"pwp-{uuid.uuid4().hex[:8]}")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    server: Embedded | None = None
    try:
        worker.start()
        bootstrap = _bootstrap(broker_url)
        hot = read("7ABC123", "pass-hot")
        # More reads than Faust buffers per agent (4096): a match agent holding pw.reads would
        # stall the persist agent on the same topic before the last of them.
        filler = [read(f"F{i:06d}", f"pass-f{i}") for i in range(4500)]
        produce_reads(bootstrap, [hot, *filler])
        deadline = time.monotonic() + 120
        stored = 0
        while stored < len(filler) + 1 and time.monotonic() < deadline:
            assert worker.proc is not None and worker.proc.poll() is None, "worker died"
            time.sleep(1)
            with psycopg.connect(database_url) as conn:
                stored = conn.execute("SELECT count(*) FROM reads").fetchone()[0]  # type: ignore[index]
        assert stored == len(filler) + 1  # all stored with Redis still down
        parked = asyncio.run(_topic_keys(bootstrap, "pw.match-pending"))
        assert len(parked) == len(filler) + 1
        assert set(parked) == {b"cam-1"}  # parked under the camera key: one partition, in order

        server = start_embedded_redis(tmp_path / "redis", "127.0.0.1", port, 30.0)
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        admin.hset("pw:hot:stolen:7ABC123", mapping={"reason": "stolen vehicle", "priority": "1"})
        admin.close()
        alerts = asyncio.run(collect_alerts(bootstrap, expect=1, timeout=120, settle=2))
        assert [(a.entry, a.read.read_id) for a in alerts] == [("7ABC123", hot.read_id)]
    finally:
        worker.stop(signal.SIGKILL)
        print(worker.log.read_text(errors="replace")[-4000:])
        if server is not None:
            server.stop()


async def _topic_keys(bootstrap: str, topic: str) -> list[bytes | None]:
    """The key of every message on `topic`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    keys: list[bytes | None] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return keys
            keys += [m.key for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
