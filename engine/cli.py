"""The `platewatch` command: the front door to every feature (docs/architecture.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from platewatch.engine.commands.context import state

app = typer.Typer(
    name="platewatch",
    help="Real-time licence plate reader (ALPR) alerting engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_callback(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Site configuration YAML (also PLATEWATCH_CONFIG).", show_default=False
        ),
    ] = None,
) -> None:
    state.config = config


def _register() -> None:
    from .commands import doctor, migrate, run
    from .commands.hotlist import hotlist_app

    app.command()(run.up)
    app.command()(doctor.doctor)
    app.command()(run.worker)
    app.command()(run.api)
    app.command()(migrate.migrate)
    from .commands import backup

    app.command()(backup.backup)
    app.command()(backup.restore)
    app.add_typer(hotlist_app, name="hotlist", help="Hotlists in Redis: import, add, remove, show, errors.")
    from .commands.camera import camera_app

    app.add_typer(camera_app, name="camera", help="Cameras: add, remove, list (with health).")
    from .commands import store

    app.add_typer(store.retention_app, name="retention")
    from .commands import evidence

    app.add_typer(evidence.hold_app, name="hold")
    app.add_typer(evidence.export_app, name="export")
    app.command()(store.search)
    from .commands.audit import audit_app
    from .commands.training import training_app
    from .commands.user import user_app

    app.add_typer(user_app, name="user")
    app.add_typer(training_app, name="training")
    app.add_typer(audit_app, name="audit")
    from .commands import login

    app.command()(login.login)
    app.command()(login.logout)
    try:
        from .commands.bench import bench_app
    except ImportError as exc:  # the bench needs the vision stack; say why rather than vanish
        logging.getLogger(__name__).debug("bench commands unavailable: %s", exc)
    else:
        app.add_typer(bench_app, name="bench", help="Measure accuracy, speed and memory.")


_register()


def main() -> None:
    app()
