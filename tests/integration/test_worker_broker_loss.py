"""A worker that outlives a restart of the embedded broker stops by itself, and SIGTERM always stops it.

The restarted tansu broker is empty: the worker's consumer positions belong to the broker that died,
and aiokafka retried the commit of them for ever (an error line every ~150 ms, and a stop that never
ended). The worker must say so once and exit with status 75 so that its supervisor starts a clean
one (engine/services/broker_loss.py). Real `platewatch worker` processes on a real tansu broker.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from workers import WorkerProcess, produce, worker_env

from platewatch.codecs import Read, encode_read
from platewatch.engine.services import Embedded, bootstrap_servers, start_embedded_broker
from platewatch.engine.services.broker_loss import EXIT_BROKER_LOST, SHUTDOWN_DEADLINE_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

LOST_LINE = "lost this worker's topics and consumer offsets"


class _Broker:
    """An embedded broker that can be restarted (empty) on its port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.now: Embedded = start_embedded_broker(directory, "127.0.0.1", 0, 30.0)
        self.url = self.now.url
        self.port = urlsplit(self.url).port or 0

    def restart(self) -> None:
        self.now.stop()
        self.now = start_embedded_broker(self.directory, "127.0.0.1", self.port, 30.0)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[_Broker]:
    b = _Broker(tmp_path / "broker")
    yield b
    b.now.stop()


@pytest.fixture
def worker(broker: _Broker, database_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    # One camera whose video is missing: it never reads (no models load), but its definition is
    # on pw.cameras, as on any site, and the catalog notices that record vanish.
    camera = {"id": "cam-gone", "name": "gone", "url": str(tmp_path / "missing.mp4"), "fps": 1}
    env = worker_env(
        broker.url,
        database_url,
        redis_url,
        tmp_path / "data",
        f"pwloss-{uuid.uuid4().hex[:8]}",
        PLATEWATCH_CAMERAS=json.dumps([camera]),
    )
    w = WorkerProcess(env, tmp_path / "worker.log")
    w.start()
    yield w
    w.stop(signal.SIGKILL)
    print(w.log.read_text(errors="replace")[-4000:])


def _stored(database_url: str) -> int:
    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM reads").fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def _traffic_then_restart(broker: _Broker, database_url: str, worker: WorkerProcess) -> None:
    """Reads flow until the worker has stored some and has more of them to commit, then the
    broker dies and comes back empty."""
    bootstrap = bootstrap_servers(broker.url)
    reads = [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 4}",
            time=time.time(),
            plate=f"BL{i:04d}",
            confidence=0.9,
        )
        for i in range(40)
    ]
    items = [(r.camera_id.encode(), encode_read(r)) for r in reads]
    deadline = time.monotonic() + 180  # the worker's start on a busy machine
    asyncio.run(produce(bootstrap, "pw.reads", items[:10]))
    while _stored(database_url) < 10:
        assert worker.proc is not None and worker.proc.poll() is None, worker.log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the worker stored nothing:\n" + worker.log.read_text()[-3000:]
        time.sleep(0.5)
    asyncio.run(produce(bootstrap, "pw.reads", items[10:]))
    while _stored(database_url) < 11:  # consumed and stored, its offset not committed yet (every 2.8 s)
        time.sleep(0.05)
    broker.restart()


def _wait_exit(worker: WorkerProcess, seconds: float) -> int:
    assert worker.proc is not None
    try:
        return worker.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"the worker still runs {seconds:.0f} s on:\n" + worker.log.read_text(errors="replace")[-4000:]
        ) from None


def test_a_worker_that_outlived_the_broker_says_so_once_and_exits_for_a_clean_start(
    broker: _Broker, database_url: str, worker: WorkerProcess
) -> None:
    _traffic_then_restart(broker, database_url, worker)
    restarted = time.monotonic()
    status = _wait_exit(worker, 60)
    log = worker.log.read_text(errors="replace")
    assert status == EXIT_BROKER_LOST, log[-4000:]
    assert log.count(LOST_LINE) == 1, log[-4000:]
    # Before: one such line every ~150 ms until the worker was killed.
    assert log.count("OffsetCommit failed") <= 3, log[-4000:]
    assert time.monotonic() - restarted < 30


def test_sigterm_stops_a_worker_whose_broker_lost_its_state(
    broker: _Broker, database_url: str, worker: WorkerProcess
) -> None:
    _traffic_then_restart(broker, database_url, worker)
    time.sleep(1.0)  # back, empty; the worker's commits fail from now on
    asked = time.monotonic()
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    _wait_exit(worker, SHUTDOWN_DEADLINE_S + 10)
    assert time.monotonic() - asked <= SHUTDOWN_DEADLINE_S + 5
