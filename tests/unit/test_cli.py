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


@pytest.mark.parametrize(
    "args",
    [
        ["camera", "add", "gate", "rtsp://cam/gate"],
        ["camera", "remove", "gate"],
        ["camera", "list"],
        ["hotlist", "add", "stolen", "7ABC123", "--reason", "stolen vehicle"],
        ["hotlist", "remove", "stolen", "7ABC123"],
        ["hotlist", "show"],
        ["hotlist", "errors"],
        ["hotlist", "import", "{feed}", "--list", "stolen", "--format", "ncic-csv"],
    ],
)
def test_equipment_commands_need_a_login(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operating the ALPR equipment is a trained admin's work (policy 462.2(d)): no login, no request."""
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PLATEWATCH_DATA_DIR", str(tmp_path / "data"))
    feed = tmp_path / "feed.csv"
    feed.write_text("PLATE,STATE\n")
    result = runner.invoke(app, [a.replace("{feed}", str(feed)) for a in args])
    assert result.exit_code == 1, result.output
    assert "run `platewatch login` first" in result.output
