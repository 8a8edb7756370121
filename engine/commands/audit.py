"""`platewatch audit …`: check the access log's hash chain and anchor its head (policy 462.4(a)).

`verify` walks every row and checks it against the anchors; it names the first bad row and exits 1,
so a cron job or a monitoring check can run it as it is. The worker anchors at least hourly;
`anchor` does it now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from platewatch.engine.commands.context import console
from platewatch.engine.commands.operator import policy_database
from platewatch.engine.policy import access_log

out = Console()
audit_app = typer.Typer(help="The access log: verify its hash chain, anchor its head.")

AnchorFile = Annotated[
    Path | None,
    typer.Option(
        "--anchors", help="The anchor file (default: access.anchor_file, or in the data directory)."
    ),
]


@audit_app.command("verify")
def verify(anchors: AnchorFile = None) -> None:
    """Check every row of the access log against the chain and the anchors; exit 1 at the first bad row."""
    with policy_database() as (conn, s, _operator):
        path = anchors or access_log.anchor_path(s.access, s.data_dir)
        report = access_log.verify(conn, path)
    if not report.ok:
        console.print(
            f"[red]access log broken at row {report.first_bad_seq}[/red]: {report.problem}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    span = f" (rows {report.first_seq}-{report.last_seq})" if report.rows else ""
    out.print(
        f"access log OK: {report.rows} rows{span}, {report.anchors_checked} anchors checked"
        f" in {report.seconds:.2f}s",
        highlight=False,
    )


@audit_app.command("anchor")
def anchor(anchors: AnchorFile = None) -> None:
    """Write the chain head to the anchor file now (after checking the rows since the last anchor)."""
    with policy_database() as (conn, s, _operator):
        path = anchors or access_log.anchor_path(s.access, s.data_dir)
        made = access_log.anchor(conn, path)
    if made is None:
        out.print("the access log is empty; nothing to anchor")
    else:
        out.print(f"anchored row {made.seq} ({made.hash[:16]}…) in {path}", highlight=False)
