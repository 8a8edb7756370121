"""`platewatch login`, `search` and `logout` against the real API: a CLI search is a logged access.

Policy 462.2(a)(b)(d), 462.4(a)(b): the shell user is a named, trained user with a second factor,
every search states a purpose and a case number, and it lands in the access log like a web search.
"""

from __future__ import annotations

import json
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from api_server import api_settings, enrol_totp, serve_api
from policy_people import PASSWORD, cheap_hashes, found_department
from typer.testing import CliRunner

from platewatch.codecs import Read
from platewatch.engine.cli import app
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter

CASE = "24-001234"
PURPOSE = "criminal investigation"


@dataclass
class Site:
    api: str
    conn: psycopg.Connection
    env: dict[str, str]
    config_dir: Path
    totp_code: str


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone, so a sentence matches wherever the terminal broke it."""
    return " ".join(text.split())


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    cheap_hashes(monkeypatch)
    migrate(database_url)
    writer = ReadWriter(database_url, connections=1)
    now = time.time()
    try:
        writer.write(
            [
                Read(read_id=str(uuid.uuid4()), camera_id="cam-9", time=now - i, plate=p, confidence=0.9)
                for i, p in enumerate(["7ABC123", "7ABC123", "7ABD123", "XYZ999"])
            ]
        )
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("ivy", Role.INVESTIGATOR)
        totp, _codes = enrol_totp(dept, "ivy", datetime.now(UTC) - timedelta(minutes=5))
        config_dir = tmp_path / "config"
        env = {
            "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
            "PLATEWATCH_DATA_DIR": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(config_dir),
        }
        with serve_api(api_settings(tmp_path / "data", database_url, redis_url)) as url:
            yield Site(url, conn, env, config_dir, totp.now())


def _login(site: Site, runner: CliRunner) -> dict[str, str]:
    done = runner.invoke(
        app,
        ["login", "--api", site.api, "--username", "ivy"],
        input=f"{PASSWORD}\n{site.totp_code}\n",
        env=site.env,
    )
    assert done.exit_code == 0, done.output
    assert "Ivy" in done.output and "investigator" in done.output and "training: current" in done.output
    stored = json.loads((site.config_dir / "platewatch" / "session.json").read_text())
    assert stored["token"] not in done.output and PASSWORD not in done.output
    return stored


def test_login_search_logout(site: Site) -> None:
    runner = CliRunner()
    stored = _login(site, runner)
    path = site.config_dir / "platewatch" / "session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stored["api"] == site.api and stored["username"] == "ivy" and stored["expires_at"]

    found = runner.invoke(
        app,
        ["search", "--purpose", PURPOSE, "--case", CASE, "--pattern", "7AB?123", "--json"],
        env=site.env,
    )
    assert found.exit_code == 0, found.output
    rows = [json.loads(line) for line in found.output.splitlines() if line.startswith("{")]
    assert sorted(r["plate"] for r in rows) == ["7ABC123", "7ABC123", "7ABD123"]
    assert all(r["case"] == CASE for r in rows)
    assert stored["token"] not in found.output

    logged = [
        r
        for r in access_log.query(site.conn, username="ivy", case_number=CASE, outcome="allowed")
        if r.returned_count
    ]
    assert len(logged) == 1, logged
    row = logged[0]
    assert (row.purpose, row.organisation, row.returned_count) == (PURPOSE, "PAPD", 3)
    assert sorted(row.returned_ids) == sorted(r["read_id"] for r in rows)

    table = runner.invoke(
        app, ["search", "--purpose", PURPOSE, "--case", CASE, "--plate", "XYZ999"], env=site.env
    )
    assert table.exit_code == 0, table.output
    assert "XYZ999" in table.output and f"reads (case {CASE})" in table.output

    bad = runner.invoke(app, ["search", "--purpose", PURPOSE, "--case", CASE, "--pattern", "*"], env=site.env)
    assert bad.exit_code != 0 and "known characters" in _flat(bad.output), bad.output

    out = runner.invoke(app, ["logout"], env=site.env)
    assert out.exit_code == 0, out.output
    assert not path.exists()
    me = httpx.get(f"{site.api}/api/v1/auth/me", headers={"Authorization": f"Bearer {stored['token']}"})
    assert me.status_code == 401, me.text
    after = runner.invoke(
        app, ["search", "--purpose", PURPOSE, "--case", CASE, "--plate", "XYZ999"], env=site.env
    )
    assert after.exit_code != 0 and "run `platewatch login` first" in _flat(after.output)


def test_search_without_purpose_is_refused_and_logged(site: Site) -> None:
    runner = CliRunner()
    stored = _login(site, runner)
    refused = runner.invoke(app, ["search", "--case", CASE, "--plate", "7ABC123", "--json"], env=site.env)
    assert refused.exit_code != 0
    assert "purpose" in _flat(refused.output) and not refused.output.lstrip().startswith("{")
    assert stored["token"] not in refused.output
    rows = access_log.query(site.conn, username="ivy", outcome="refused")
    assert any("purpose" in (r.reason or "") for r in rows), rows
    assert not access_log.query(site.conn, username="ivy", case_number=CASE, outcome="allowed")


def test_search_without_login_is_refused(site: Site) -> None:
    runner = CliRunner()
    refused = runner.invoke(
        app, ["search", "--purpose", PURPOSE, "--case", CASE, "--plate", "7ABC123"], env=site.env
    )
    assert refused.exit_code != 0
    assert "run `platewatch login` first" in _flat(refused.output)
    assert not access_log.query(site.conn, username="ivy", action=None, case_number=CASE)


def test_a_wrong_password_stores_nothing(site: Site) -> None:
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["login", "--api", site.api, "--username", "ivy"],
        input="not the password at all\n",
        env=site.env,
    )
    assert done.exit_code != 0 and "login refused" in _flat(done.output)
    assert "wrong password" in _flat(done.output), done.output
    assert not (site.config_dir / "platewatch" / "session.json").exists()
