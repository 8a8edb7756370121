"""Data at rest on the embedded default: passwords on both servers, a private data directory, and an
application database role that cannot change the access log.

Real embedded servers started through `Services` in a data directory of the module's own, as
`platewatch up` starts them; never the machine's services, whatever the environment says.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from platewatch.engine.config import Settings, load_settings
from platewatch.engine.logs import RedactingFilter
from platewatch.engine.policy import access_log
from platewatch.engine.policy.directory import Actor
from platewatch.engine.services import Endpoints, Services
from platewatch.engine.services.postgres import (
    APP_ROLE,
    SUPERUSER,
    _let_reach,
    _server_env,
    _server_user,
    postgres_bin_dir,
)
from platewatch.engine.services.process import ChildProcess
from platewatch.engine.services.urls import with_userinfo, without_userinfo
from platewatch.engine.store import migrate
from platewatch.engine.store.images import DirectoryImageStore

ROOT = os.geteuid() == 0
#: As root the embedded PostgreSQL runs as its own system user, which must pass through (o+x only).
PRIVATE_DIR = 0o701 if ROOT else 0o700
OPERATOR = Actor.console("tester")


def make_settings(data_dir: Path, **services: Any) -> Settings:
    base: dict[str, Any] = {
        "broker_url": None,
        "redis_url": None,
        "database_url": None,
        "embedded_redis_port": 0,
        "embedded_postgres_port": 0,
        "start_timeout_s": 60,
    }
    return load_settings(data_dir=data_dir, services=base | services)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("at-rest")


@pytest.fixture(scope="module")
def endpoints(data_dir: Path) -> Iterator[Endpoints]:
    with Services(make_settings(data_dir), need={"redis", "database"}, handle_sigterm=False) as found:
        migrate(found.database_owner_url)
        yield found


def test_postgres_refuses_a_connection_without_its_password(endpoints: Endpoints) -> None:
    address = without_userinfo(endpoints.database_url)
    for user in (SUPERUSER, APP_ROLE):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(address.replace("://", f"://{user}@"), connect_timeout=5).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(with_userinfo(address, user, "wrong"), connect_timeout=5).close()
    with psycopg.connect(endpoints.database_url) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (APP_ROLE, "platewatch")
    with psycopg.connect(endpoints.database_owner_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (SUPERUSER,)


def test_redis_refuses_ping_without_its_password(endpoints: Endpoints) -> None:
    client = redis.Redis.from_url(without_userinfo(endpoints.redis_url))
    with pytest.raises(redis.RedisError, match=r"(?i)auth"):
        client.ping()
    client.close()
    client = redis.Redis.from_url(endpoints.redis_url)
    assert client.ping()
    client.close()


def test_only_the_application_role_goes_to_child_processes(endpoints: Endpoints, data_dir: Path) -> None:
    env = endpoints.as_env()
    assert env["PLATEWATCH_SERVICES__DATABASE_URL"] == endpoints.database_url
    assert endpoints.database_owner_url not in env.values()
    superuser_password = (data_dir / "secrets" / f"{SUPERUSER}.password").read_text().strip()
    assert not any(superuser_password in value for value in env.values())
    # ... and a child on this data directory finds the owner's URL itself, for migrations and upkeep.
    settings = make_settings(data_dir, database_url=endpoints.database_url, redis_url=endpoints.redis_url)
    with Services(settings, need={"redis", "database"}, handle_sigterm=False) as child:
        assert child.database_origin == "configured"
        assert child.database_owner_url == endpoints.database_owner_url


def test_passwords_are_kept_0600_and_never_logged(endpoints: Endpoints, data_dir: Path) -> None:
    secrets = data_dir / "secrets"
    assert mode(secrets) == 0o700
    names = sorted(p.name for p in secrets.iterdir())
    assert names == [f"{APP_ROLE}.password", f"{SUPERUSER}.password", "redis.password"]
    assert all(mode(secrets / name) == 0o600 for name in names)
    passwords = [(secrets / name).read_text().strip() for name in names]
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "urls %s", (endpoints.as_env(),), None)
    RedactingFilter().filter(record)
    assert not any(secret in record.getMessage() for secret in passwords)
    assert not any(secret in repr(endpoints) for secret in passwords)
    assert mode(data_dir / "services" / "redis" / "redis.conf") == 0o600  # it holds requirepass


def test_the_data_directory_and_images_are_not_readable_by_others(
    endpoints: Endpoints, data_dir: Path
) -> None:
    assert mode(data_dir) == PRIVATE_DIR
    assert mode(data_dir / "services") == PRIVATE_DIR
    for log in (data_dir / "services").glob("*.log"):
        assert mode(log) == 0o600, log
    store = DirectoryImageStore(data_dir / "images")
    store.put("reads/2026/05/01/r1", "crop.jpg", b"\xff\xd8jpeg")
    store.copy("reads/2026/05/01/r1", "evidence/7/r1")
    for name in ("reads/2026/05/01/r1/crop.jpg", "evidence/7/r1/crop.jpg"):
        image = data_dir / "images" / name
        assert mode(image) == 0o600, name
        assert mode(image) & (stat.S_IRWXG | stat.S_IRWXO) == 0
    for folder in ("images", "images/reads", "images/reads/2026/05/01/r1", "images/evidence/7"):
        assert mode(data_dir / folder) == 0o700, folder


def test_a_wide_data_directory_from_before_is_tightened_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "old"
    (data_dir / "services").mkdir(parents=True)
    data_dir.chmod(0o755)
    (data_dir / "services").chmod(0o755)
    with (
        caplog.at_level(logging.WARNING, logger="platewatch.services"),
        Services(make_settings(data_dir), need={"redis"}, handle_sigterm=False),
    ):
        assert mode(data_dir) == PRIVATE_DIR
        assert mode(data_dir / "services") == PRIVATE_DIR
    assert any("readable by other users (mode 0755)" in r.getMessage() for r in caplog.records)


def _old_row(conn: psycopg.Connection, days_ago: int) -> None:
    """A row from before the retention, written straight in by the owner (numbered as append numbers)."""
    conn.execute(
        "INSERT INTO access_log (time, username, organisation, action, outcome)"
        " VALUES (%s, 'old', 'PAPD', 'login', 'allowed')",
        (datetime.now(UTC) - timedelta(days=days_ago),),
    )


def test_the_application_role_only_reads_and_appends_to_the_access_log(endpoints: Endpoints) -> None:
    with psycopg.connect(endpoints.database_owner_url, autocommit=True) as owner:
        _old_row(owner, 500)
    with psycopg.connect(endpoints.database_url, autocommit=True) as app:
        row = access_log.append(app, access_log.LogEntry.by(OPERATOR, "test"))
        assert row.seq == 2
        for statement in (
            "UPDATE access_log SET username = 'someone else'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "UPDATE access_log_chain SET hash = prev_hash",
            "DELETE FROM access_log_chain",
            "TRUNCATE access_log_chain",
            "ALTER TABLE access_log DISABLE TRIGGER access_log_no_change",
            "DROP TABLE access_log",
            "UPDATE pw_schema_version SET checksum = ''",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        assert app.execute("SELECT count(*) FROM access_log").fetchone() == (2,)
        # The purge is the one deletion allowed: through the owner's function, expired rows only.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not past the retention"):
            app.execute("SELECT pw_access_log_purge(2, 400)")
        assert access_log.purge_expired(app, OPERATOR, 400) == 1
        assert [r[0] for r in app.execute("SELECT seq FROM access_log ORDER BY seq").fetchall()] == [2, 3]
        assert access_log.verify(app).ok  # the chain's entry of row 1 went with it, and the purge says so
        # The application's own tables: reads and writes, as before.
        app.execute("INSERT INTO camera_definitions (camera_id, removed) VALUES ('c1', true)")
        app.execute("DELETE FROM camera_definitions WHERE camera_id = 'c1'")
        app.execute("SELECT pw_ensure_read_partitions(current_date, current_date + 1)")


def test_a_trust_cluster_from_before_is_converted_on_start(tmp_path: Path) -> None:
    """A data directory made before passwords: initdb with trust, as the earlier versions ran it."""
    data_dir = tmp_path / "trusting"
    services_dir = data_dir / "services"
    pgdata = services_dir / "postgres"
    pgdata.mkdir(parents=True, mode=0o700)
    user = _server_user()
    if user is not None:
        os.chown(pgdata, user.pw_uid, user.pw_gid)
        _let_reach(pgdata)
    argv = [str(postgres_bin_dir() / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust"]
    ChildProcess(
        "initdb", [*argv, "--encoding=UTF8", "--no-locale", "--no-instructions"], services_dir / "initdb.log",
        env=_server_env(user), cwd=services_dir, user=user,
    ).run_to_end(120)  # fmt: skip
    assert " trust" in (pgdata / "pg_hba.conf").read_text()
    with Services(make_settings(data_dir), need={"database"}, handle_sigterm=False) as found:
        address = without_userinfo(found.database_url)
        for user_name in (SUPERUSER, APP_ROLE):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(address.replace("://", f"://{user_name}@"), connect_timeout=5).close()
        with psycopg.connect(found.database_owner_url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (SUPERUSER,)
    hba = [
        line.split()
        for line in (pgdata / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert hba and all(fields[-1] == "scram-sha-256" for fields in hba)
