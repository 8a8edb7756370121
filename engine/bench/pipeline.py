"""`platewatch bench pipeline`: cameras → recognize → track, end to end, in one process.

Each camera plays the generated demo video (engine/ingest/demo.py) as a looped, real-time file
source at the camera's resolution, through the real recognizer and tracker, so the figures are
those of a worker (minus Kafka, whose cost is a few reads per vehicle). Because the video's passes
are known, every final read is matched to the pass it belongs to:

- `frames_per_s`: frames recognised per second, all cameras together;
- `reads`: final reads; `alerts`: passes that produced a provisional read (the read an alert is
  raised from, every demo plate standing for a hotlist entry);
- `alert_latency_p50_ms` / `_p95_ms`: from the capture of the first frame in which the plate was
  read to the provisional read being out (what the 150 ms target is about);
- `lost`: passes that ended during the run without a final read of their plate (±1 character);
  `duplicated`: extra final reads of one pass; `unmatched`: final reads that fit no pass.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from platewatch.codecs import Read
from platewatch.engine.plates import edit_distance

if TYPE_CHECKING:  # imported when the bench runs: `platewatch --help` must not load PyAV and OpenCV
    from platewatch.engine.ingest.runner import CameraRunner

    from .demo import DemoVideo


@dataclass
class _Camera:
    runner: CameraRunner
    started: float = 0.0
    finals: list[tuple[float, Read]] = field(default_factory=list)  # (pass start, read)
    latencies_ms: list[float] = field(default_factory=list)
    provisionals: int = 0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


def _video(width: int, height: int, fps: int, cache: Path | None) -> DemoVideo:
    from .demo import generate

    folder = cache or Path(tempfile.gettempdir()) / "platewatch-bench"
    path = folder / f"demo-{width}x{height}-{fps}.mp4"
    return generate(path, width=width, height=height, fps=fps, seconds=16.0, lead_s=1.0)


def _score(video: DemoVideo, cam: _Camera, elapsed: float) -> tuple[int, int, int]:
    """(lost, duplicated, unmatched) of one camera's final reads against the video's passes."""
    length = video.seconds
    got: dict[tuple[int, int], int] = {}
    unmatched = 0
    for started, read in cam.finals:
        rel = started - cam.started
        loop = int(rel // length)
        pos = rel - loop * length
        key = None
        for i, p in enumerate(video.passes):
            if p.enter_s - 0.5 <= pos <= p.leave_s + 0.5 and edit_distance(read.plate, p.plate) <= 1:
                key = (loop, i)
        if key is None:
            unmatched += 1
        else:
            got[key] = got.get(key, 0) + 1
    expected = [
        (loop, i)
        for loop in range(int(elapsed // length) + 1)
        for i, p in enumerate(video.passes)
        if loop * length + p.leave_s + 1.5 <= elapsed
    ]
    lost = sum(1 for k in expected if got.get(k, 0) == 0)
    duplicated = sum(n - 1 for n in got.values() if n > 1)
    return lost, duplicated, unmatched


async def _run(
    cameras: int, seconds: float, video: DemoVideo, fps: float
) -> tuple[dict[str, Any], list[float], list[dict[str, Any]]]:
    """The figures, every alert latency, and one summary per camera (for the HTML report)."""
    from platewatch.engine.ingest.runner import CameraRunner, default_recognize
    from platewatch.engine.ingest.spec import CameraSpec

    recognize = await asyncio.to_thread(default_recognize)
    cams: list[_Camera] = []
    for n in range(cameras):
        spec = CameraSpec(id=f"bench-{n}", url=str(video.path), fps=fps)

        async def publish(read: Read, n: int = n) -> None:
            cam = cams[n]
            started = cam.runner.tracker.started_at(read.pass_id) or read.time
            if read.provisional:
                cam.provisionals += 1
                cam.latencies_ms.append((time.time() - started) * 1000.0)
            else:
                cam.finals.append((started, read))

        cams.append(_Camera(CameraRunner(spec, publish, recognize)))
    # compile once, before any stream opens, so every camera starts on an equal footing
    for cam in cams:
        await cam.runner.warm_up(recognize)
    began = time.monotonic()
    for cam in cams:
        cam.started = time.time()
    tasks = [asyncio.create_task(cam.runner.run()) for cam in cams]
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - began
    processed = sum(cam.runner.health.frames_processed for cam in cams)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lost = duplicated = unmatched = 0
    for cam in cams:
        cam.started = cam.runner.health.first_frame_at or cam.started  # media time 0 of the file
        lo, du, un = _score(video, cam, elapsed)
        lost, duplicated, unmatched = lost + lo, duplicated + du, unmatched + un
    latencies = [ms for cam in cams for ms in cam.latencies_ms]
    per_camera = [
        {
            "id": cam.runner.spec.id,
            "frames_processed": cam.runner.health.frames_processed,
            "reads": len(cam.finals),
            "alerts": cam.provisionals,
            "latency_p50_ms": _percentile(cam.latencies_ms, 0.5),
            "latency_p95_ms": _percentile(cam.latencies_ms, 0.95),
        }
        for cam in cams
    ]
    figures = {
        "cameras": cameras,
        "seconds": round(elapsed, 1),
        "resolution": f"{video.width}x{video.height}",
        "camera_fps": fps,
        "frames_per_s": round(processed / elapsed, 2),
        "reads": sum(len(cam.finals) for cam in cams),
        "alerts": sum(cam.provisionals for cam in cams),
        "alert_latency_p50_ms": _percentile(latencies, 0.5),
        "alert_latency_p95_ms": _percentile(latencies, 0.95),
        "lost": lost,
        "duplicated": duplicated,
        "unmatched": unmatched,
        "cpus": os.cpu_count(),
    }
    return figures, latencies, per_camera


def run_pipeline_bench(
    cameras: int = 2,
    seconds: float = 30.0,
    *,
    width: int = 1920,
    height: int = 1080,
    fps: int = 10,
    json_path: Path | None = None,
    cache: Path | None = None,
    html_path: Path | None = None,
) -> dict[str, Any]:
    """Run the bench and return its figures (also written to `json_path` when given, with the HTML
    report beside it unless `html_path` names another place)."""
    from platewatch.engine.ingest.bench_report import render

    if cameras < 1 or seconds <= 0:
        raise ValueError("need at least one camera and a positive duration")
    video = _video(width, height, fps, cache)
    figures, latencies, per_camera = asyncio.run(_run(cameras, seconds, video, float(fps)))
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        html_path = html_path or json_path.with_suffix(".html")
    if html_path is not None:
        html_path.write_text(render(figures, latencies, per_camera), encoding="utf-8")
    return figures


def pipeline_bench(
    cameras: Annotated[int, typer.Option(min=1, help="cameras captured at once")] = 2,
    seconds: Annotated[float, typer.Option(min=1, help="measuring time")] = 30.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    width: Annotated[int, typer.Option(help="camera frame width")] = 1920,
    height: Annotated[int, typer.Option(help="camera frame height")] = 1080,
    fps: Annotated[int, typer.Option(min=1, max=30, help="camera frame rate (all frames recognised)")] = 10,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="HTML report: latency histogram, cameras (default: beside --json)"),
    ] = None,
) -> None:
    """Cameras through recognition and tracking (keys frames_per_s, reads, alerts, alert_latency_p50_ms,
    alert_latency_p95_ms, lost, duplicated)."""
    from rich.console import Console
    from rich.table import Table

    figures = run_pipeline_bench(
        cameras, seconds, width=width, height=height, fps=fps, json_path=json_out, html_path=html_out
    )
    table = Table(title="bench pipeline", show_header=False)
    for key, value in figures.items():
        table.add_row(key, "-" if value is None else str(value))
    Console().print(table)
