"""`platewatch worker` as a child process, as in production, for the integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: A child process that starts all three embedded services (any free ports) in the data directory
#: given as its argument, prints {"pids": every server process, "broker": URL, "database": URL} as
#: one JSON line, and keeps them until it is stopped.
OWNER_SCRIPT = """
import json, sys, time
from pathlib import Path
import psutil
from platewatch.engine.config import load_settings
from platewatch.engine.services import Services
ports = {f"embedded_{s}_port": 0 for s in ("broker", "redis", "postgres")}
urls = {"broker_url": None, "redis_url": None, "database_url": None}
services = Services(load_settings(data_dir=Path(sys.argv[1]), services=ports | urls))
endpoints = services.start()
pids = []
for root in services.pids().values():
    pids += [root, *(c.pid for c in psutil.Process(root).children(recursive=True))]
found = {"pids": pids, "broker": endpoints.broker_url, "database": endpoints.database_url}
print(json.dumps(found), flush=True)
time.sleep(300)
"""


def start_owner(data_dir: Path) -> subprocess.Popen[bytes]:
    """`OWNER_SCRIPT` running on `data_dir`."""
    return subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def read_owner(owner: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The owner's JSON line, once its services answer."""
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line, owner.stderr.read().decode() if owner.stderr else "no output"
    found: dict[str, Any] = json.loads(line)
    return found


def embedded_worker_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker with no service URLs (it joins or starts embedded ones), and
    nothing from the caller's PLATEWATCH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATEWATCH_")}
    env.update(
        PLATEWATCH_DATA_DIR=str(data_dir),
        PLATEWATCH_KAFKA__PARTITIONS="2",
        PLATEWATCH_KAFKA__WEB_PORT="0",
        PLATEWATCH_LOGGING__LEVEL="INFO",
    )
    env.update(extra)
    return env


def worker_env(
    broker_url: str, database_url: str, redis_url: str, data_dir: Path, app_id: str, **extra: str
) -> dict[str, str]:
    """The environment of a worker on the test's services (and nothing from the caller's PLATEWATCH_*)."""
    return embedded_worker_env(
        data_dir,
        PLATEWATCH_SERVICES__BROKER_URL=broker_url,
        PLATEWATCH_SERVICES__BROKER_KIND="tansu",
        PLATEWATCH_SERVICES__DATABASE_URL=database_url,
        PLATEWATCH_SERVICES__REDIS_URL=redis_url,
        PLATEWATCH_KAFKA__APP_ID=app_id,
        **extra,
    )


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path, *, nice: bool = False) -> None:
        self.env, self.log, self.nice = env, log, nice
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "platewatch.engine", "worker"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["nice", *cmd] if self.nice else cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]], **options: Any) -> None:
    """Send (key, value) messages to `topic` one by one, each acknowledged by the broker."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    """Declare `topic` unless the broker has it (tansu would auto-create it with 4 partitions)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def produce_values(
    bootstrap: str, topic: str, values: list[bytes], *, one_batch: bool, partition: int = 0
) -> None:
    """Send `values` to one partition of `topic`, in one producer batch or one batch each."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        if one_batch:
            batch = producer.create_batch()
            for value in values:
                assert batch.append(key=None, value=value, timestamp=None) is not None
            await (await producer.send_batch(batch, topic, partition=partition))
        else:
            for value in values:
                await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()
