"""`platewatch user|training|audit` and the first-start admin, through the CLI on a real database.

The operator acts as `os:<login>`; these tests walk the way a site starts: the operator adds the
first supervisor, approves their role and records their training (allowed while no trained
supervisor exists), and is refused the same once one does.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from platewatch.engine.cli import app
from platewatch.engine.commands.run import _first_admin
from platewatch.engine.policy import access_log
from platewatch.engine.policy.bootstrap import ensure_first_admin
from platewatch.engine.policy.directory import Actor, get_user
from platewatch.engine.policy.passwords import check_password, verify_password
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from tests.policy_people import PASSWORD, cheap_hashes

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    cheap_hashes(monkeypatch)
    return {
        "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
        "PLATEWATCH_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }


def cli(env: dict[str, str], *args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=env, input=input)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_user_add_refuses_a_weak_password_and_stores_nothing(env: dict[str, str], database_url: str) -> None:
    weak = cli(
        env, "user", "add", "bob", "--name", "Bob", "--org", "PAPD", input="password\npassword\n", code=1
    )
    assert "refused" in weak and "at least 12 characters" in weak and "commonly used" in weak
    named = cli(
        env, "user", "add", "bob", "--name", "Bob", "--org", "PAPD", input="bob-is-great-2024\n" * 2, code=1
    )
    assert "must not contain the username" in named
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_the_operator_founds_a_department_then_gives_way_to_its_supervisor(
    env: dict[str, str], database_url: str
) -> None:
    added = cli(
        env, "user", "add", "sam", "--name", "Sam S", "--org", "PAPD", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert "added sam" in added
    shown = cli(env, "user", "add", "ivan", "--name", "Ivan I", "--org", "PAPD", "--generate-password")
    generated = re.search(r"shown once.*: (\S+)", shown)
    assert generated is not None
    check_password(generated.group(1), "ivan")

    asked = cli(env, "user", "grant", "sam", "supervisor", "--reason", "watch commander")
    number = re.search(r"grant #(\d+)", asked)
    assert number is not None and "awaits a supervisor's approval" in asked
    assert "now holds supervisor" in cli(env, "user", "approve", number.group(1))  # bootstrap
    assert "recorded ALPR operation and data access for sam" in cli(env, "training", "add", "sam")

    asked = cli(env, "user", "grant", "ivan", "investigator")
    number = re.search(r"grant #(\d+)", asked)
    assert number is not None
    refused = cli(env, "user", "approve", number.group(1), code=1)
    assert "a supervisor must do this" in refused
    assert "a supervisor must do this" in cli(env, "training", "add", "ivan", code=1)

    assert "now holds auditor" in cli(env, "user", "grant", "ivan", "auditor")
    listing = cli(env, "user", "list")
    assert "sam" in listing and "supervisor" in listing and "ivan" in listing
    review = cli(env, "user", "review")
    assert f"#{number.group(1)} investigator" in review and "current to" in review
    assert "sam" in cli(env, "training", "list") and "never trained" in cli(env, "training", "lapsing")

    assert "disabled ivan: left" in cli(env, "user", "disable", "ivan", "--reason", "left")
    assert "enabled ivan" in cli(env, "user", "enable", "ivan")
    assert "reset" in cli(env, "user", "reset", "ivan", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert "nobody" in cli(env, "user", "enable", "nobody", code=1)

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT username, action FROM access_log ORDER BY seq").fetchall()
    operator = f"os:{getpass.getuser()}"
    assert (operator, "role.approve") in rows and (operator, "training.record") in rows
    assert {name for name, _ in rows} == {operator}


def test_audit_verify_names_the_tampered_row_and_exits_non_zero(
    env: dict[str, str], database_url: str
) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for i in range(5):
            access_log.append(conn, access_log.LogEntry.by(Actor.console("t"), "test.write", terms={"i": i}))
    assert re.search(r"access log OK: 5 rows \(rows 1-5\)", cli(env, "audit", "verify"))
    assert "anchored row 5" in cli(env, "audit", "anchor")
    assert "5 rows (rows 1-5), 1 anchors checked" in cli(env, "audit", "verify")

    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("ALTER TABLE access_log DISABLE TRIGGER USER")
        conn.execute("UPDATE access_log SET username = 'mallory' WHERE seq = 3")
        conn.execute("ALTER TABLE access_log ENABLE TRIGGER USER")
    broken = cli(env, "audit", "verify", code=1)
    assert "broken at row 3" in broken and "row 3 was altered" in broken


def test_the_first_admin_is_created_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    password = _first_admin(database_url)
    assert password is not None
    check_password(password, "admin")
    assert _first_admin(database_url) is None
    with psycopg.connect(database_url, autocommit=True) as conn:
        admin = get_user(conn, "admin")
        assert admin.roles == frozenset({Role.ADMIN}) and not admin.reaches_read_data
        assert admin.must_change_password
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()
        assert stored is not None and verify_password(stored[0], password)
        assert ensure_first_admin(conn, Actor.console("t")) is None
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
        actions = [r[0] for r in conn.execute("SELECT action FROM access_log ORDER BY seq").fetchall()]
    assert actions == ["user.create", "role.grant"]
