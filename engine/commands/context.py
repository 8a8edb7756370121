"""What every command shares: the `--config` given to the root command and the settings it names.

Kept apart from cli.py, which imports every command to register it: a command importing the
root back would close an import cycle.
"""

from __future__ import annotations

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
