"""`platewatch up` on the embedded default: all comes up, doctor is green, a read flows, Ctrl-C stops all;
and `up` joined to another platewatch's services takes them over when that one stops."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from workers import read_owner, start_owner

from platewatch.codecs import Read, encode_read

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATEWATCH_")}
    ports = {name: _free_port() for name in ("BROKER", "REDIS", "POSTGRES")}
    env.update({f"PLATEWATCH_SERVICES__EMBEDDED_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(
        PLATEWATCH_DATA_DIR=str(data_dir),
        PLATEWATCH_API__PORT=str(_free_port()),
        PLATEWATCH_KAFKA__WEB_PORT=str(_free_port()),
        PLATEWATCH_KAFKA__PARTITIONS="2",
        PLATEWATCH_SERVICES__START_TIMEOUT_S="90",
    )
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "platewatch.engine", *args]


async def _produce(bootstrap: str, read: Read) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("pw.reads", encode_read(read), key=read.camera_id.encode())
    finally:
        await producer.stop()


def test_up_runs_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(_cli("up"), env=env, stdout=log, stderr=subprocess.STDOUT)
    family: set[int] = set()
    try:
        _wait_up(up, env, tmp_path / "up.log")
        doctor = subprocess.run(_cli("doctor"), env=env, capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert doctor.stdout.count("embedded") >= 3 and "✘" not in doctor.stdout

        read = Read(
            read_id=str(uuid.uuid4()), camera_id="cam-up", time=time.time(), plate="UP12345", confidence=0.9
        )
        asyncio.run(_produce(f"127.0.0.1:{env['PLATEWATCH_SERVICES__EMBEDDED_BROKER_PORT']}", read))
        db = f"postgresql://127.0.0.1:{env['PLATEWATCH_SERVICES__EMBEDDED_POSTGRES_PORT']}/platewatch"
        user = psutil.Process(up.pid)
        family = {p.pid for p in user.children(recursive=True)}
        deadline = time.monotonic() + 90
        found = None
        while found is None and time.monotonic() < deadline:
            time.sleep(1)
            try:
                with psycopg.connect(db, user=_db_user(tmp_path), password=_db_password(tmp_path)) as conn:
                    found = conn.execute(
                        "SELECT plate FROM reads WHERE read_id = %s", (read.read_id,)
                    ).fetchone()
            except psycopg.Error:
                pass
        assert found == ("UP12345",), (tmp_path / "up.log").read_text()[-3000:]
    finally:
        up.send_signal(signal.SIGINT)
        try:
            assert up.wait(60) == 0
        finally:
            up.kill()
    time.sleep(1)
    left = [
        pid
        for pid in family
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, f"processes left behind: {left}"


def _wait_up(up: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
    api = f"http://127.0.0.1:{env['PLATEWATCH_API__PORT']}"
    deadline = time.monotonic() + 120
    while True:
        assert up.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{api}/healthz", timeout=2).json()["status"] == "ok":
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "API did not come up"
        time.sleep(1)


def _reads_stored(bootstrap: str, database_url: str, prefix: str, log: Path, n: int = 12) -> None:
    """Send `n` reads from as many cameras (so every partition gets some) and wait for their rows
    (a worker restarting takes a while)."""
    reads = [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{prefix}-{i}",
            time=time.time(),
            plate=f"{prefix}{i}",
            confidence=0.9,
        )
        for i in range(n)
    ]
    for read in reads:
        for attempt in range(20):  # a broker just started may refuse the first requests
            try:
                asyncio.run(_produce(bootstrap, read))
                break
            except KafkaError:
                assert attempt < 19, "the broker refused the read for 20 s"
                time.sleep(1)
    ids = [r.read_id for r in reads]
    stored = 0
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            with psycopg.connect(database_url) as conn:
                row = conn.execute("SELECT count(*) FROM reads WHERE read_id = ANY(%s)", (ids,)).fetchone()
        except psycopg.Error:
            continue
        stored = row[0] if row else 0
        if stored == n:
            return
    raise AssertionError(
        f"{stored} of {n} {prefix} reads stored:\n" + log.read_text(errors="replace")[-4000:]
    )


def test_up_takes_over_the_services_it_joined_and_its_worker_carries_on(tmp_path: Path) -> None:
    """`up` joined to another platewatch's embedded services starts them again when that one
    stops; the broker comes back empty, so `up` restarts its worker, which declares the topics
    again (its "Worker ready" comes a second time), and reads sent afterwards are stored."""
    data_dir = tmp_path / "data"
    owner = start_owner(data_dir)
    env = {k: v for k, v in _env(data_dir).items() if "__EMBEDDED_" not in k}
    log = tmp_path / "up.log"
    up = None
    try:
        urls = read_owner(owner)
        bootstrap = urls["broker"].removeprefix("kafka://")
        with log.open("wb") as out:
            up = subprocess.Popen(_cli("up"), env=env, stdout=out, stderr=subprocess.STDOUT)
        _wait_up(up, env, log)
        _reads_stored(bootstrap, urls["database"], "JOIN", log)

        owner.send_signal(signal.SIGTERM)
        owner.wait(30)
        deadline = time.monotonic() + 90
        while "the embedded broker stopped; it runs here now" not in " ".join(
            log.read_text(errors="replace").split()
        ):
            assert up.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        # The restarted broker is empty: reads go to it once the new worker has declared the topics.
        while log.read_text(errors="replace").count("Worker ready") < 2:
            assert up.poll() is None and time.monotonic() < deadline + 90, log.read_text(errors="replace")
            time.sleep(0.5)
        _reads_stored(bootstrap, urls["database"], "TAKE", log)
        # The old worker may still have committed to the vanished partitions before it was
        # stopped; the new one must not.
        after_restart = log.read_text(errors="replace").split("Worker ready")[2]
        assert "UnknownTopicOrPartition" not in after_restart
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if up is not None:
            up.send_signal(signal.SIGINT)
            try:
                assert up.wait(60) == 0
            finally:
                up.kill()


def _embedded_pid(up: subprocess.Popen[bytes], binary: str) -> int:
    """The pid of `up`'s own embedded server `binary` (its direct child, not a database backend)."""
    found = [p.pid for p in psutil.Process(up.pid).children() if p.name().startswith(binary)]
    assert len(found) == 1, found
    return found[0]


def test_up_restarts_a_killed_embedded_service_and_reads_flow_on(tmp_path: Path) -> None:
    """SIGKILL the embedded Redis, PostgreSQL and then the broker under `up`: each is back on its
    address (Redis and PostgreSQL with their data), the worker's writes carry on, and `doctor`
    shows the restarts."""
    env = _env(tmp_path / "data")
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(_cli("up"), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_up(up, env, log)
        bootstrap = f"127.0.0.1:{env['PLATEWATCH_SERVICES__EMBEDDED_BROKER_PORT']}"
        db = (
            f"postgresql://{_db_user(tmp_path)}:{_db_password(tmp_path)}@127.0.0.1:"
            f"{env['PLATEWATCH_SERVICES__EMBEDDED_POSTGRES_PORT']}/platewatch"
        )
        _reads_stored(bootstrap, db, "BEFORE", log, n=4)
        for name, binary in (("redis", "redis-server"), ("database", "postgres")):
            os.kill(_embedded_pid(up, binary), signal.SIGKILL)
            killed = time.monotonic()
            while f"the embedded {name} died; it runs again" not in " ".join(
                log.read_text(errors="replace").split()
            ):
                assert up.poll() is None and time.monotonic() - killed < 15, log.read_text(errors="replace")
                time.sleep(0.2)
        _reads_stored(bootstrap, db, "AFTER", log, n=4)
        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM reads WHERE plate LIKE 'BEFORE%'").fetchone()
        assert row == (4,)  # what was stored before the kill survived it

        # The broker comes back empty (in memory): up restarts the worker, which declares the topics.
        os.kill(_embedded_pid(up, "tansu"), signal.SIGKILL)
        killed = time.monotonic()
        while log.read_text(errors="replace").count("Worker ready") < 2:
            assert up.poll() is None and time.monotonic() - killed < 90, log.read_text(errors="replace")
            time.sleep(0.5)
        assert "the embedded broker died; it runs again" in " ".join(log.read_text(errors="replace").split())
        _reads_stored(bootstrap, db, "BROKER", log, n=4)
        wide = {**env, "COLUMNS": "200"}  # rich wraps a narrow table's cells
        doctor = subprocess.run(_cli("doctor"), env=wide, capture_output=True, text=True, timeout=120)
        for name in ("redis", "database", "broker"):
            assert f"{name} restarts" in doctor.stdout, doctor.stdout
        assert "killed by signal 9" in doctor.stdout
    finally:
        up.send_signal(signal.SIGINT)
        try:
            assert up.wait(60) == 0
        finally:
            up.kill()


def _db_user(tmp_path: Path) -> str:
    from platewatch.engine.services.postgres import SUPERUSER

    return SUPERUSER


def _db_password(tmp_path: Path) -> str:
    """The embedded database asks for a password: the one `up` generated in the data directory."""
    from platewatch.engine.services.postgres import SUPERUSER

    return (tmp_path / "data" / "secrets" / f"{SUPERUSER}.password").read_text().strip()
