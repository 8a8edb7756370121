"""`platewatch bench pipeline`: cameras → recognize → track, end to end, in one process.

Each camera plays the generated demo video (`demo.py`) as a looped, real-time file
source at the camera's resolution, through the real recognizer and tracker, so the figures are
those of a worker (minus Kafka, whose cost is a few reads per vehicle). Because the video's passes
are known, every final read is matched to the pass it belongs to:

- `frames_per_s`: frames recognised per second, all cameras together, over the whole run (the
  streams' opening included);
- `processed_share`: frames recognised over the frames the cameras offered, each camera counted from
  its first frame at its frame rate (`frames_offered`): the worker's share of the cameras' frames,
  which the time a stream takes to open (`first_frame_s`, the slowest camera's) does not dilute;
- `reads`: final reads; `alerts`: passes that produced a provisional read (the read an alert is
  raised from, every demo plate standing for a hotlist entry);
- `alert_latency_p50_ms` / `_p95_ms`: from the capture of the first frame in which the plate was
  read to the provisional read being out (what the 150 ms target is about);
- `lost`: passes that ended during the run without a final read of their plate (±1 character);
  `duplicated`: extra final reads of one pass; `unmatched`: final reads that fit no pass.

- `provisional_frame_lag_p50_ms` / `_p95_ms`: how much later than that first frame the frame is
  whose time the provisional read carries (`Read.time`, the pass's best observation so far): what
  `--api`'s `ws_latency_*`, which counts from the read's time, leaves out.

With `--api` the cameras run in a real worker and the figures are those of the whole path to a
dispatcher's websocket (`pipeline_api.py`: `ws_latency_p50_ms` / `_p95_ms` and their parts).

With `--json F` (or `--html`) the run also writes a page: a histogram of alert latencies with the
150 ms target marked, the figures, and one row per camera (frames processed, reads, alerts, its
own latency percentiles), so a camera that lags behind the others shows at once.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platewatch.codecs import Read
from platewatch.engine.plates import edit_distance

from .report import Chart, figures_table, histogram, page, table, write_json

if TYPE_CHECKING:  # imported when the bench runs: `platewatch --help` must not load PyAV and OpenCV
    from platewatch.engine.config import VisionConfig
    from platewatch.engine.ingest.runner import CameraRunner

    from .demo import DemoVideo

#: The provisional-read target the histogram marks (issue: alert within a fraction of a second).
TARGET_MS = 150.0
BIN_MS = 10.0


@dataclass
class _Camera:
    runner: CameraRunner
    started: float = 0.0
    finals: list[tuple[float, Read]] = field(default_factory=list)  # (pass start, read)
    latencies_ms: list[float] = field(default_factory=list)
    frame_lags_ms: list[float] = field(default_factory=list)  # read.time - first read's capture
    provisionals: int = 0
    plateless: int = 0  # plate-less passes: counted apart, never as plate reads


def _direction_right(reads: list[Read]) -> tuple[float | None, list[dict[str, Any]]]:
    """Share of final reads that travel as the demo's cars do (right, at one size: heading 0, no
    approaching or receding), and the others."""
    from platewatch.engine.track.direction import direction_right  # loads OpenCV: not at import

    if not reads:
        return None, []
    wrong = [r for r in reads if not direction_right(r.direction, r.heading, "", 0.0)]
    misses = [
        {"plate": r.plate, "direction": r.direction, "heading": r.heading, "track_length": r.track_length}
        for r in wrong
    ]
    return round(1 - len(wrong) / len(reads), 4), misses


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


def _video(
    width: int, height: int, fps: int, cache: Path | None, seconds: float = 16.0, lanes: int = 1
) -> DemoVideo:
    """The demo video, generated once per size, length and lanes (a longer one with more lanes
    gives more distinct passes, some at once, for scoring direction: the loop repeats its passes)."""
    from .demo import generate

    folder = cache or Path(tempfile.gettempdir()) / "platewatch-bench"
    name = f"demo-{width}x{height}-{fps}" + (
        "" if (seconds, lanes) == (16.0, 1) else f"-{seconds:g}s-{lanes}"
    )
    return generate(
        folder / f"{name}.mp4", width=width, height=height, fps=fps, seconds=seconds, lanes=lanes, lead_s=1.0
    )


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
    cameras: int,
    seconds: float,
    video: DemoVideo,
    fps: float,
    vision: VisionConfig | None,
    data_dir: Path | None,
) -> tuple[dict[str, Any], list[float], list[dict[str, Any]]]:
    """The figures, every alert latency, and one summary per camera (for the HTML report)."""
    from platewatch.engine.config import VisionConfig
    from platewatch.engine.config.camera import CameraSpec
    from platewatch.engine.ingest.runner import (
        CameraRunner,
        default_recognize,
        default_reread,
        default_vehicle_describer,
    )

    recognize = await asyncio.to_thread(default_recognize, vision, data_dir)
    reread = await asyncio.to_thread(default_reread, vision, data_dir)  # passes confirmed as they close
    vehicles = (vision or VisionConfig()).vehicles  # as a worker runs: vehicles described, plate-less passes
    describer = await asyncio.to_thread(default_vehicle_describer, vision, data_dir) if vehicles else None
    cams: list[_Camera] = []
    for n in range(cameras):
        spec = CameraSpec(id=f"bench-{n}", url=str(video.path), fps=fps)

        async def publish(read: Read, n: int = n) -> None:
            cam = cams[n]
            if read.plateless:
                cam.plateless += 1
                return
            started = cam.runner.tracker.started_at(read.pass_id) or read.time
            if read.provisional:
                cam.provisionals += 1
                cam.latencies_ms.append((time.time() - started) * 1000.0)
                cam.frame_lags_ms.append((read.time - started) * 1000.0)
            else:
                cam.finals.append((started, read))

        cams.append(_Camera(CameraRunner(spec, publish, recognize, reread=reread)))
        if describer is not None:
            cams[-1].runner.describe_vehicles(describer)
    # compile once, before any stream opens, so every camera starts on an equal footing
    for cam in cams:
        await cam.runner.warm_up(recognize)
    began = time.monotonic()
    for cam in cams:
        cam.started = time.time()
    tasks = [asyncio.create_task(cam.runner.run()) for cam in cams]
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - began
    ended = time.time()
    processed = sum(cam.runner.health.frames_processed for cam in cams)
    offered = frames_offered([cam.runner.health.first_frame_at for cam in cams], ended, fps)
    opened = [
        cam.runner.health.first_frame_at - cam.started for cam in cams if cam.runner.health.first_frame_at
    ]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lost = duplicated = unmatched = 0
    for cam in cams:
        cam.started = cam.runner.health.first_frame_at or cam.started  # media time 0 of the file
        lo, du, un = _score(video, cam, elapsed)
        lost, duplicated, unmatched = lost + lo, duplicated + du, unmatched + un
    latencies = [ms for cam in cams for ms in cam.latencies_ms]
    lags = [ms for cam in cams for ms in cam.frame_lags_ms]
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
    right, misses = _direction_right([read for cam in cams for _, read in cam.finals])
    figures = {
        "cameras": cameras,
        "seconds": round(elapsed, 1),
        "resolution": f"{video.width}x{video.height}",
        "camera_fps": fps,
        "frames_per_s": round(processed / elapsed, 2),
        "frames_processed": processed,
        "frames_offered": round(offered),
        "frames_skipped_backlog": sum(cam.runner.health.skipped_by.get("backlog", 0) for cam in cams),
        "frames_skipped_rate": sum(cam.runner.health.skipped_by.get("rate", 0) for cam in cams),
        "processed_share": round(processed / offered, 4) if offered else None,
        "first_frame_s": round(max(opened), 2) if opened else None,
        "reads": sum(len(cam.finals) for cam in cams),
        "alerts": sum(cam.provisionals for cam in cams),
        "alert_latency_p50_ms": _percentile(latencies, 0.5),
        "alert_latency_p95_ms": _percentile(latencies, 0.95),
        "provisional_frame_lag_p50_ms": _percentile(lags, 0.5),
        "provisional_frame_lag_p95_ms": _percentile(lags, 0.95),
        "lost": lost,
        "duplicated": duplicated,
        "unmatched": unmatched,
        "vehicles": vehicles,
        "plateless_passes": sum(cam.plateless for cam in cams),
        # The demo's cars drive to the right at one size: heading 0 degrees, neither approaching
        # nor receding. Share of final reads whose heading is within 45 degrees of it, and size-steady.
        "direction_right": right,
        "direction_misses": misses,
        "cpus": os.cpu_count(),
    }
    return figures, latencies, per_camera


def frames_offered(first_frames: Sequence[float | None], ended: float, fps: float) -> float:
    """The frames the cameras delivered or should have, each from its first frame until `ended`.

    Why from the first frame: a camera's stream takes a moment to open (a file's decoder, an RTSP
    handshake), during which it offers nothing; counting that time as frames the worker failed to
    process would charge the worker for the camera. A camera that never delivered offers none."""
    return sum(fps * (ended - first) + 1 for first in first_frames if first is not None and ended >= first)


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
    vision: VisionConfig | None = None,
    data_dir: Path | None = None,
    api_owner_url: str | None = None,
    api_database_url: str | None = None,
    video_seconds: float = 16.0,
    lanes: int = 1,
) -> dict[str, Any]:
    """Run the bench and return its figures (also written to `json_path` when given, with the HTML
    report beside it unless `html_path` names another place). Recognition runs with `vision` (the
    command hands down `settings.vision`).

    With `api_owner_url` (a PostgreSQL server's owner URL; `api_database_url` the application's
    role there) the cameras run in a real worker behind the API instead (`pipeline_api.py`); the
    worker takes its vision settings from the package defaults and `PLATEWATCH_VISION__*`.
    `video_seconds` and `lanes` shape the looped demo video (16 s, one lane by default)."""
    if cameras < 1 or seconds <= 0:
        raise ValueError("need at least one camera and a positive duration")
    video = _video(width, height, fps, cache, video_seconds, lanes)
    if api_owner_url is not None:
        from .pipeline_api import run_api_path

        figures, latencies, per_camera = run_api_path(
            cameras, seconds, video, float(fps), owner_url=api_owner_url, database_url=api_database_url
        )
        what = "websocket latency (frame → dispatcher's client)"
    else:
        figures, latencies, per_camera = asyncio.run(
            _run(cameras, seconds, video, float(fps), vision, data_dir)
        )
        what = "alert latency"
    if json_path is not None:
        write_json(json_path, figures)
        html_path = html_path or json_path.with_suffix(".html")
    if html_path is not None:
        html_path.write_text(render(figures, latencies, per_camera, what), encoding="utf-8")
    return figures


def latency_chart(latencies_ms: Sequence[float], what: str = "alert latency") -> str:
    """Alert latencies in bins of BIN_MS, the target marked; a sentence when there were none."""
    bars = histogram(latencies_ms, BIN_MS)
    if not bars:
        return "<p>No alerts were raised, so there are no latencies to show.</p>"
    chart = Chart(640, 220, 30)
    pad, bottom = chart.pad, chart.bottom
    top = max(n for _, n in bars)
    span = max(bars[-1][0] + BIN_MS, TARGET_MS * 1.2)
    scale_x = (chart.width - 2 * pad) / span
    scale_y = (chart.height - 2 * pad) / top
    for start, n in bars:
        if n:
            x, h, w = pad + start * scale_x, n * scale_y, max(1.0, BIN_MS * scale_x - 1)
            chart.add(
                f'<rect class="bar" x="{x:.1f}" y="{bottom - h:.1f}" width="{w:.1f}" height="{h:.1f}">'
                f"<title>{start:.0f}-{start + BIN_MS:.0f} ms: {n}</title></rect>"
            )
    tx = pad + TARGET_MS * scale_x
    chart.line(tx, pad / 2, tx, bottom, "target")
    chart.label(tx + 4, pad, f"target {TARGET_MS:.0f} ms")
    chart.axes()
    for tick in range(0, int(span) + 1, 50 if span <= 500 else 250):
        chart.label(pad + tick * scale_x, bottom + 14, str(tick))
    chart.label(chart.width / 2, chart.height - 2, f"{what}, ms")
    return chart.svg()


def render(
    figures: dict[str, Any],
    latencies_ms: Sequence[float],
    cameras: Sequence[dict[str, Any]],
    what: str = "alert latency",
) -> str:
    """The HTML page: latency histogram, figures, one row per camera."""
    heading = (
        f"{figures.get('cameras')} cameras, {figures.get('resolution')} at {figures.get('camera_fps')} fps"
    )
    keys = ("id", "frames_processed", "reads", "alerts", "latency_p50_ms", "latency_p95_ms")
    head = ("camera", "frames processed", "reads", "alerts", "latency p50 ms", "latency p95 ms")
    body = (
        f"<h2>{what.capitalize()} ({len(latencies_ms)} alerts)</h2>\n{latency_chart(latencies_ms, what)}\n"
        f"<h2>Figures</h2>{figures_table(figures)}\n"
        f"<h2>Cameras</h2>{table(head, ([c.get(k) for k in keys] for c in cameras))}"
    )
    return page(
        "pipeline", heading, body, ".bar { fill: #3b7dd8; } tr:nth-child(even) { background: #f3f3f3; }\n"
    )
