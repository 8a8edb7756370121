"""The command line: every command documents itself, and a broken config stops it with readable lines."""

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from platewatch.engine.cli import app

runner = CliRunner()


def _all_commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, cmd in getattr(group, "commands", {}).items():
        path = (*prefix, name)
        found.append(path)
        found += _all_commands(cmd, path)
    return found


def test_every_command_has_help() -> None:
    commands = _all_commands(get_command(app))
    assert {("up",), ("doctor",), ("worker",), ("api",), ("migrate",)} <= set(commands)
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_a_broken_config_exits_2_naming_key_and_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    site = tmp_path / "site.yaml"
    site.write_text("retention: {days: 90}\n")
    result = runner.invoke(app, ["--config", str(site), "migrate"])
    assert result.exit_code == 2
    assert "retention.days" in result.output and "462.3" in result.output
    assert "Traceback" not in result.output
