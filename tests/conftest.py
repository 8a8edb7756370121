"""Shared fixtures: real services for the integration tests, through the project's services module.

PLATEWATCH_TEST_DATABASE_URL / PLATEWATCH_TEST_REDIS_URL point the tests at existing servers (CI
uses the machine's); without them the embedded PostgreSQL and Redis are started, so a clone runs its
tests with nothing installed by hand. Each test that asks for `database_url` gets a fresh database,
and each that asks for `broker_url` a fresh embedded broker (tansu starts in milliseconds), so tests
never see each other's topics or rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from platewatch.engine.config import Settings, load_settings
from platewatch.engine.services import Endpoints, Services, start_embedded_broker


def _test_settings(data_dir: Path, **services: object) -> Settings:
    return load_settings(
        data_dir=data_dir,
        services={
            "embedded_broker_port": 0,
            "embedded_redis_port": 0,
            "embedded_postgres_port": 0,
            "start_timeout_s": 60,
            **services,
        },
    )


@pytest.fixture(scope="session")
def shared_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """PostgreSQL and Redis for the whole session (configured, or embedded once)."""
    settings = _test_settings(
        tmp_path_factory.mktemp("services"),
        database_url=os.environ.get("PLATEWATCH_TEST_DATABASE_URL"),
        redis_url=os.environ.get("PLATEWATCH_TEST_REDIS_URL"),
    )
    with Services(settings, need={"database", "redis"}, handle_sigterm=False) as endpoints:
        yield endpoints


@pytest.fixture
def database_url(shared_services: Endpoints) -> Iterator[str]:
    """A fresh, empty database, dropped after the test."""
    admin = shared_services.database_owner_url  # the embedded one's application role may not create databases
    name = f"pwt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(shared_services: Endpoints) -> str:
    return shared_services.redis_url


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded tansu broker (in memory) for this test alone."""
    with start_embedded_broker(tmp_path / "broker", "127.0.0.1", 0, 30.0) as broker:
        yield broker.url
