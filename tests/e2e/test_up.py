"""`platewatch up` on the embedded default: all comes up, doctor is green, a read flows, Ctrl-C stops all."""

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
        api = f"http://127.0.0.1:{env['PLATEWATCH_API__PORT']}"
        deadline = time.monotonic() + 120
        while True:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            try:
                if httpx.get(f"{api}/healthz", timeout=2).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "API did not come up"
            time.sleep(1)

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
                with psycopg.connect(db, user=_db_user(tmp_path)) as conn:
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


def _db_user(tmp_path: Path) -> str:
    from platewatch.engine.services.postgres import SUPERUSER

    return SUPERUSER
