"""A department with a trained admin, a real API on loopback and a Redis of the test's own, for the
tests that run the camera and hotlist commands (API clients since issue 20) as a logged-in user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from api_server import api_settings, enrol_totp, serve_api
from click.testing import Result
from policy_people import COURSE, PASSWORD, Department, cheap_hashes, found_department
from typer.testing import CliRunner

from platewatch.engine.cli import app
from platewatch.engine.policy import access_log, training
from platewatch.engine.policy.roles import Role
from platewatch.engine.services import start_embedded_redis
from platewatch.engine.store import migrate


@dataclass
class EquipmentSite:
    api: str
    conn: psycopg.Connection
    dept: Department
    redis_url: str
    env: dict[str, str]
    runner: CliRunner = field(default_factory=CliRunner)

    def invoke(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args), env=self.env)

    def login(self, username: str, code: str | None = None) -> None:
        answers = f"{PASSWORD}\n" + (f"{code}\n" if code else "")
        done = self.runner.invoke(
            app, ["login", "--api", self.api, "--username", username], input=answers, env=self.env
        )
        assert done.exit_code == 0, done.output

    def last_seq(self) -> int:
        head = access_log.head(self.conn)
        return head.seq if head else 0

    def rows_since(self, seq: int) -> list[access_log.LogRow]:
        return [r for r in reversed(access_log.query(self.conn, limit=1000)) if r.seq > seq]


@contextmanager
def _own_redis(tmp_path: Path, redis_url: str | None) -> Iterator[str]:
    if redis_url:
        yield redis_url
        return
    with start_embedded_redis(tmp_path / "redis", "127.0.0.1", 0, 30.0) as server:
        yield server.url


@contextmanager
def equipment_site(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str | None = None
) -> Iterator[EquipmentSite]:
    """`ada` (admin, trained) logged in; `una` (admin, untrained); `ivy` (investigator, trained).

    The API uses `redis_url`, else a Redis started for this test alone (hotlist keys are global).
    """
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with _own_redis(tmp_path, redis_url) as hotlists, psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        yesterday = datetime.now(UTC) - timedelta(days=1)
        training.record_training(conn, dept.cfg, dept.supervisor, "ada", COURSE, yesterday)
        dept.add("una", Role.ADMIN, trained=False)
        dept.add("ivy", Role.INVESTIGATOR)
        env = {
            "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
            "PLATEWATCH_DATA_DIR": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        settings = api_settings(tmp_path / "data", database_url, hotlists)
        with serve_api(settings) as url:
            site = EquipmentSite(url, conn, dept, hotlists, env)
            site.login("ada")
            yield site


def investigator_code(site: EquipmentSite, username: str) -> str:
    """Enrol `username`'s second factor (their role reaches read data) and give a code for now."""
    totp, _codes = enrol_totp(site.dept, username, datetime.now(UTC) - timedelta(minutes=5))
    return totp.now()
