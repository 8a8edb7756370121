"""What every command shares: the `--config` given to the root command and the settings it names.

Kept apart from cli.py, which imports every command to register it: a command importing the
root back would close an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from platewatch.engine.config import ConfigError, Settings, load_settings

console = Console(stderr=True)


class _State:
    config: Path | None = None


state = _State()


def settings() -> Settings:
    """Load settings once per command; a broken config ends the command with its readable lines."""
    try:
        return load_settings(state.config)
    except ConfigError as exc:
        for line in exc.lines:
            console.print(f"[red]config error[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def iso_time(text: str | None) -> datetime | None:
    """An ISO 8601 date or time from an option; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
