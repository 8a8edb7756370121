"""Two real Faust workers on the real broker share the cameras of pw.cameras; stop one, its cameras move.

Cameras are added with `platewatch camera add` as a logged-in, trained admin (through the API; the
database is their durable home), the workers seed pw.cameras from it, and each captures the cameras
whose partitions it was assigned. Health in Redis says which worker captures which camera; reads
arrive on pw.reads. The demo video is a looped file camera, so a camera keeps producing passes
whoever captures it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from equipment_site import EquipmentSite, equipment_site
from workers import WorkerProcess, worker_env

from platewatch.codecs import Read, decode_read
from platewatch.engine.bench.demo import generate

pytestmark = pytest.mark.slow

PARTITIONS = 2


def _ids_on_each_partition() -> list[str]:
    """Camera ids whose keys land on different partitions (Kafka's default murmur2 partitioner)."""
    part = DefaultPartitioner()
    found: dict[int, str] = {}
    for i in range(100):
        cid = f"cam-{i}"
        found.setdefault(part(cid.encode(), list(range(PARTITIONS)), list(range(PARTITIONS))), cid)
        if len(found) == PARTITIONS:
            return [found[p] for p in sorted(found)]
    raise AssertionError("no spread of ids found")


@pytest.fixture
def admin(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EquipmentSite]:
    """A trained admin logged in to an API on the workers' database and Redis (for `camera add|list`)."""
    with equipment_site(database_url, tmp_path, monkeypatch, redis_url=redis_url) as site:
        yield site


@pytest.fixture
def env(
    broker_url: str, database_url: str, redis_url: str, tmp_path: Path, admin: EquipmentSite
) -> dict[str, str]:
    return worker_env(
        broker_url,
        database_url,
        redis_url,
        tmp_path / "data",
        f"pwcam-{uuid.uuid4().hex[:8]}",
        PLATEWATCH_KAFKA__PARTITIONS=str(PARTITIONS),
        PLATEWATCH_VISION__REGION="us",
        OMP_NUM_THREADS="1",
        XDG_CONFIG_HOME=admin.env["XDG_CONFIG_HOME"],  # the admin's stored login
    )


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    ws = [WorkerProcess(env, tmp_path / f"worker{i}.log", nice=True) for i in range(2)]
    yield ws
    for w in ws:
        w.stop(signal.SIGKILL)
    for w in ws:
        print(f"--- {w.log.name}\n" + w.log.read_text(errors="replace")[-3000:])


def _owners(redis_url: str, ids: list[str]) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        out = {}
        for cid in ids:
            raw = client.get(f"pw:camera:{cid}:health")
            if raw:
                health = json.loads(raw)
                if time.time() - health["at"] < 5 and health["connected"]:
                    out[cid] = int(health["worker"].rsplit(":", 1)[1])
        return out
    finally:
        client.close()


def _wait(cond: object, timeout: float, what: str, workers: list[WorkerProcess]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        for w in workers:
            assert w.proc is None or w.proc.poll() is None or w.proc.returncode in (0, -15), "worker died"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class ReadCollector:
    """Follows pw.reads in a thread of its own."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.reads: list[tuple[float, Read]] = []
        self._stop = False
        import threading

        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            "pw.reads", bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            while not self._stop:
                batch = await consumer.getmany(timeout_ms=300)
                for msgs in batch.values():
                    for m in msgs:
                        if m.value:
                            self.reads.append((time.monotonic(), decode_read(m.value)))
        finally:
            await consumer.stop()

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)


def test_two_workers_split_the_cameras_and_take_over_when_one_stops(
    workers: list[WorkerProcess], env: dict[str, str], broker_url: str, redis_url: str, tmp_path: Path
) -> None:
    video = generate(tmp_path / "demo.mp4", width=640, height=360, fps=10, seconds=12, lead_s=0.5)
    ids = _ids_on_each_partition()
    for cid in ids:
        subprocess.run(
            [sys.executable, "-m", "platewatch.engine", "camera", "add", cid, str(video.path), "--fps", "5"],
            env=env,
            check=True,
            timeout=60,
        )
    listed = subprocess.run(
        [sys.executable, "-m", "platewatch.engine", "camera", "list", "--json"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == sorted(ids)

    workers[0].start()
    time.sleep(3)  # the first worker forms the group; the second joins and takes half
    workers[1].start()
    collector = ReadCollector(broker_url.removeprefix("kafka://"))
    try:
        pids = {workers[0].pid, workers[1].pid}
        _wait(lambda: set(_owners(redis_url, ids).values()) == pids, 150, "cameras split over both", workers)
        owners = _owners(redis_url, ids)
        moved = next(cid for cid, pid in owners.items() if pid == workers[0].pid)

        _wait(
            lambda: {r.camera_id for _, r in collector.reads if not r.provisional} == set(ids),
            60,
            "final reads from both cameras",
            workers,
        )
        workers[0].stop(signal.SIGTERM)
        stopped_at = time.monotonic()
        _wait(
            lambda: _owners(redis_url, ids) == dict.fromkeys(ids, workers[1].pid),
            60,
            "the stopped worker's camera on the other worker",
            workers,
        )

        def finals_after_move() -> int:
            return sum(
                1 for t, r in collector.reads if t > stopped_at and r.camera_id == moved and not r.provisional
            )

        _wait(lambda: finals_after_move() >= 1, 60, "reads of the moved camera", workers)

        listed = subprocess.run(
            [sys.executable, "-m", "platewatch.engine", "camera", "list", "--json"],
            env=env,
            check=True,
            timeout=60,
            capture_output=True,
        )
        rows = {r["id"]: r for r in json.loads(listed.stdout)}
        assert {rows[cid]["worker"].rsplit(":", 1)[1] for cid in ids} == {str(workers[1].pid)}
        assert all(rows[cid]["frames_in_per_s"] > 0 for cid in ids)
        workers[1].stop(signal.SIGTERM)  # a clean stop ends the passes under way with their finals
        time.sleep(1)
    finally:
        collector.close()

    reads = [r for _, r in collector.reads]
    plates = {p.plate for p in video.passes}
    finals = [r for r in reads if not r.provisional]
    assert all(
        min(
            sum(a != b for a, b in zip(r.plate, p, strict=False)) + abs(len(r.plate) - len(p)) for p in plates
        )
        <= 1
        for r in finals
    ), [r.plate for r in finals]
    # No pass is lost: every pass that alerted (provisional) also got its final read, also the pass
    # that was under way on the stopped worker (it flushes its open passes on revocation).
    assert {r.pass_id for r in reads if r.provisional} <= {r.pass_id for r in finals}
    assert len({r.read_id for r in reads}) == len(reads)
