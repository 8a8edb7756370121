"""`platewatch camera add|remove|list`: the durable camera list and each camera's health.

Operating the ALPR equipment is an admin's work with current training (policy 462.2(d)), so these
commands act as the user of `platewatch login`, through the API, and each lands in the access log.
The API keeps definitions in the database (engine/ingest/camera_store.py); running workers pick a
change up within seconds (they reseed pw.cameras from it), and the worker that owns the camera
starts or stops its capture. Health comes from Redis, where each worker publishes the cameras it
captures. (`platewatch up` adds its demo camera on a fresh install directly, as the operator.)
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.api_client import call_as_user
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.config.choices import DIRECTIONS, REGIONS, RTSP_TRANSPORTS, one_of
from platewatch.engine.config.settings import format_errors

out = Console()
err = Console(stderr=True)
CAMERAS = "/api/v1/admin/cameras"
camera_app = typer.Typer(
    help="Cameras: add, remove, list (with health); as a trained admin (platewatch login).",
    no_args_is_help=True,
)


def _roi(text: str | None) -> tuple[tuple[float, float], ...] | None:
    """'x,y;x,y;x,y' in fractions of the frame."""
    if not text:
        return None
    try:
        return tuple((float(x), float(y)) for x, y in (p.split(",") for p in text.split(";") if p.strip()))
    except ValueError:
        raise typer.BadParameter(
            "--roi takes 'x,y;x,y;x,y' with x and y fractions of the frame (0..1)"
        ) from None


@camera_app.command("add")
def add(
    camera_id: Annotated[str, typer.Argument(help="Camera id (a-z 0-9 _ -), the Kafka key.")],
    url: Annotated[
        str,
        typer.Argument(
            help="rtsp://user:${ENV_VAR}@host/path, whep+https://host/path, http(s):// MJPEG, or a file."
        ),
    ],
    name: Annotated[str, typer.Option(help="Human-readable location.")] = "",
    fps: Annotated[float, typer.Option(help="Frames per second sampled for recognition.")] = 10.0,
    region: Annotated[str | None, typer.Option(help=f"Plate region hint: {', '.join(REGIONS)}.")] = None,
    roi: Annotated[str | None, typer.Option(help="Region of interest polygon 'x,y;x,y;x,y' (0..1).")] = None,
    motion_gate: Annotated[bool, typer.Option(help="Skip frames in which nothing moves.")] = False,
    transport: Annotated[str, typer.Option(help=f"RTSP transport: {one_of(RTSP_TRANSPORTS)}.")] = "tcp",
    stall_timeout: Annotated[float, typer.Option(help="Seconds without a frame before reconnecting.")] = 10.0,
    direction: Annotated[str, typer.Option(help=f"Direction of travel: {', '.join(DIRECTIONS)}.")] = "any",
    token: Annotated[
        str | None, typer.Option(help="WHEP bearer token, best as ${ENV_VAR} (kept unexpanded).")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Define it without capturing.")] = False,
    latitude: Annotated[
        float | None, typer.Option(help="Where it stands: latitude, WGS 84 degrees (for area searches).")
    ] = None,
    longitude: Annotated[
        float | None, typer.Option(help="Where it stands: longitude, WGS 84 degrees.")
    ] = None,
    address: Annotated[str, typer.Option(help="Street address or description of the site.")] = "",
    heading: Annotated[
        float | None, typer.Option(help="Which way it looks: compass degrees (0 north, 90 east).")
    ] = None,
) -> None:
    """Add or replace a camera (as the logged-in admin); its worker starts capture within seconds."""
    if region is not None and region not in REGIONS:
        raise typer.BadParameter(f"--region must be {one_of(REGIONS)}")
    try:  # the rules of a camera in the configuration file
        spec = CameraSpec.model_validate(
            {
                "id": camera_id,
                "url": url,
                "name": name,
                "fps": fps,
                "region": region,
                "enabled": not disabled,
                "roi": _roi(roi),
                "motion_gate": motion_gate,
                "rtsp_transport": transport,
                "stall_timeout_s": stall_timeout,
                "direction": direction,
                "bearer_token": token,
                "latitude": latitude,
                "longitude": longitude,
                "address": address,
                "heading": heading,
            }
        )
    except ValidationError as exc:
        out.print(f"[red]invalid camera:[/red] {'; '.join(format_errors(exc))}", highlight=False)
        raise typer.Exit(2) from None
    added = call_as_user("POST", CAMERAS, json=spec.model_dump(mode="json"), errors=err)
    out.print(f"camera {camera_id} added: {added['url']}", highlight=False, soft_wrap=True)


@camera_app.command("remove")
def remove(camera_id: Annotated[str, typer.Argument(help="Camera id.")]) -> None:
    """Remove a camera (also one defined in the configuration); its capture stops within seconds."""
    call_as_user("DELETE", f"{CAMERAS}/{quote(camera_id, safe='')}", errors=err)
    out.print(f"camera {camera_id} removed")


@camera_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The cameras, where they are captured, and their health."""
    rows: list[dict[str, Any]] = call_as_user("GET", CAMERAS, errors=err)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="cameras")
    for col in (
        "id",
        "url",
        "worker",
        "state",
        "in/s",
        "done/s",
        "last frame",
        "reconnects",
        "errors",
        "reads",
    ):
        table.add_column(col)
    for r in rows:
        if not r["enabled"]:
            state = "disabled"
        elif r["worker"] is None:
            state = "[yellow]not captured[/yellow]"
        else:
            state = "[green]streaming[/green]" if r["connected"] else "[red]down[/red]"
        age = r["last_frame_age_s"]
        table.add_row(
            r["id"],
            r["url"],
            r["worker"] or "-",
            state,
            str(r["frames_in_per_s"] if r["frames_in_per_s"] is not None else "-"),
            str(r["processed_per_s"] if r["processed_per_s"] is not None else "-"),
            f"{age:.1f}s ago" if isinstance(age, int | float) else "-",
            str(r["reconnects"] if r["reconnects"] is not None else "-"),
            str(r["errors"] if r["errors"] is not None else "-"),
            str(r["reads"] if r["reads"] is not None else "-"),
        )
    out.print(table)
