"""`platewatch camera add|remove|list`: the durable camera list and each camera's health.

Definitions go to the database (engine/ingest/camera_store.py); running workers pick a change up within
seconds (they reseed pw.cameras from it), and the worker that owns the camera starts or stops its
capture. Health comes from Redis, where each worker publishes the cameras it captures.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.context import settings
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.config.choices import DIRECTIONS, REGIONS, RTSP_TRANSPORTS, one_of
from platewatch.engine.config.settings import format_errors
from platewatch.engine.ingest.camera_store import add_camera, desired_cameras, remove_camera
from platewatch.engine.ingest.ownership import HEALTH_KEY
from platewatch.engine.redaction import redact_url
from platewatch.engine.services import Services

out = Console()
camera_app = typer.Typer(help="Cameras: add, remove, list (with health).", no_args_is_help=True)


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
) -> None:
    """Add or replace a camera; the worker owning it starts capture within seconds."""
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
            }
        )
    except ValidationError as exc:
        out.print(f"[red]invalid camera:[/red] {'; '.join(format_errors(exc))}", highlight=False)
        raise typer.Exit(2) from None
    with Services(settings(), need={"database"}) as endpoints:
        add_camera(endpoints.database_url, spec)
    out.print(f"camera {camera_id} added: {redact_url(url)}", highlight=False, soft_wrap=True)


@camera_app.command("remove")
def remove(camera_id: Annotated[str, typer.Argument(help="Camera id.")]) -> None:
    """Remove a camera (also one defined in the configuration); its capture stops within seconds."""
    with Services(settings(), need={"database"}) as endpoints:
        remove_camera(endpoints.database_url, camera_id)
    out.print(f"camera {camera_id} removed")


def camera_rows(specs: dict[str, CameraSpec], health: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per camera: its definition (URL without password) and its health, if captured."""
    rows = []
    for cid in sorted(specs):
        spec, h = specs[cid], health.get(cid) or {}
        rows.append(
            {
                "id": cid,
                "name": spec.name,
                "url": redact_url(spec.url),
                "enabled": spec.enabled,
                "fps": spec.fps,
                "worker": h.get("worker"),
                "connected": h.get("connected"),
                "frames_in_per_s": h.get("frames_in_per_s"),
                "processed_per_s": h.get("processed_per_s"),
                "last_frame_age_s": h.get("last_frame_age_s"),
                "reconnects": h.get("reconnects"),
                "outages": h.get("outages"),
                "errors": h.get("errors"),
                "reads": h.get("reads"),
                "last_error": h.get("last_error"),
            }
        )
    return rows


@camera_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The cameras, where they are captured, and their health."""
    import redis

    s = settings()
    with Services(s, need={"database", "redis"}) as endpoints:
        specs = desired_cameras(s.cameras, endpoints.database_url)
        client = redis.Redis.from_url(endpoints.redis_url)
        try:
            raw = client.mget([HEALTH_KEY.format(cid) for cid in specs]) if specs else []
        finally:
            client.close()
    health = {cid: json.loads(v) for cid, v in zip(specs, raw, strict=True) if v}
    rows = camera_rows(specs, health)
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
