"""A killed embedded service comes back on the same address with its data, logged and counted.

Real servers, killed with SIGKILL, under the same `Services` object `platewatch up` polls.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from platewatch.engine.config import load_settings
from platewatch.engine.services import Services, check_database, probe_broker
from platewatch.engine.services.restarts import Backoff, RestartLog, RestartsCollector

RECOVERY_S = 15.0


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        services={
            "broker_url": None,
            "redis_url": None,
            "database_url": None,
            "embedded_broker_port": 0,
            "embedded_redis_port": 0,
            "embedded_postgres_port": 0,
        },
    )
    running = Services(settings)
    running.start()
    yield running
    running.stop()


def _kill_and_revive(services: Services, name: str) -> tuple[float, list[str]]:
    """SIGKILL `name`, then poll as `up` does until it is started again; (seconds taken, names seen).

    `on_died` must run once, before the new server exists: `up` kills the worker of a dead broker
    there, before the new broker answers (a worker left running rejoins its group first)."""
    dead_pid = services.embedded[name].pid
    os.kill(dead_pid, signal.SIGKILL)
    began = time.monotonic()
    started: list[str] = []
    died: list[tuple[str, int]] = []

    def on_died(service: str) -> None:
        assert not started, "on_died ran after the service was started again"
        died.append((service, services.embedded[service].pid))

    while time.monotonic() - began < RECOVERY_S:
        if services.revive_crashed(on_started=started.append, on_died=on_died):
            break
        time.sleep(0.2)
    assert died == [(name, dead_pid)]
    return time.monotonic() - began, started


def test_each_killed_service_is_back_on_its_address_with_its_data(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    endpoints = services.endpoints
    assert services.revive_crashed() == []  # all alive: nothing to do
    redis.Redis.from_url(endpoints.redis_url).set("pw:hot:stolen:KEPT1", "still here")
    with psycopg.connect(endpoints.database_owner_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (462)")
    before = {name: (e.url, e.pid) for name, e in services.embedded.items()}

    caplog.set_level(logging.WARNING, logger="platewatch.services")
    for name in ("redis", "database", "broker"):
        seconds, started = _kill_and_revive(services, name)
        assert started == [name], f"{name} not back within {RECOVERY_S} s"
        assert seconds < RECOVERY_S
        assert services.embedded[name].url == before[name][0]  # same address (and password)
        assert services.embedded[name].pid != before[name][1]

    assert redis.Redis.from_url(endpoints.redis_url).get("pw:hot:stolen:KEPT1") == b"still here"
    assert check_database(endpoints.database_url, 5.0).version
    with psycopg.connect(endpoints.database_owner_url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(462,)]
    assert probe_broker(endpoints.broker_url).reachable

    text = caplog.text
    for name in ("redis", "database", "broker"):
        assert f"embedded {name} (pid {before[name][1]}) died (killed by SIGKILL)" in text
    record = RestartLog(services.settings.embedded_dir).read()
    assert {n: (r.count, r.last_status) for n, r in record.items()} == {
        name: (1, -signal.SIGKILL) for name in ("redis", "database", "broker")
    }
    registry = CollectorRegistry()
    registry.register(RestartsCollector(services.settings.embedded_dir))
    scraped = generate_latest(registry).decode()
    assert 'platewatch_embedded_service_restarts_total{service="database"} 1.0' in scraped


def _revived(services: Services, name: str, old_pid: int) -> bool:
    """Whether `name` runs again under another pid. Read from outside the supervisor's lock, as a
    watcher would: while the thread swaps the dead server for the new one, the old entry is already
    reaped and still names its old pid (`ChildProcess.pid`)."""
    service = services.embedded[name]
    return service.pid != old_pid and service.process.running()


def test_a_background_thread_revives_what_its_process_started(services: Services) -> None:
    """A worker run on its own owns its embedded services; its adopt thread also revives them."""
    services.adopt_in_background(every_s=0.1)
    pid = services.embedded["redis"].pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + RECOVERY_S
    while not _revived(services, "redis", pid):
        assert time.monotonic() < deadline, "redis not revived by the background thread"
        time.sleep(0.1)
    assert redis.Redis.from_url(services.endpoints.redis_url).ping()


def test_backoff_is_immediate_first_and_doubles_while_a_service_dies_young() -> None:
    backoff = Backoff(stable_after_s=60, max_delay_s=30, started_at=0.0)
    assert backoff.died(now=100.0) == 0.0  # ran long enough: clients are waiting, no delay
    backoff.started(now=100.0)
    delays = []
    for i in range(1, 8):
        delays.append(backoff.died(now=100.0 + i))
        backoff.started(now=100.0 + i)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert not backoff.due(now=100.0 + 7 + 29)
    assert backoff.due(now=100.0 + 7 + 30)
    assert backoff.died(now=1000.0) == 0.0  # stable again after a long run
