"""A demo camera: an MP4 of cars with readable plates crossing a road, generated on the spot.

Why generated: the project ships no video (licences, size), yet a newcomer should see reads the
moment `platewatch up` starts, and the stream tests need footage whose plates are known exactly.
The cars and plates are the benches' synthetic scenes (`scenes.py`, plates drawn by the training
renderer, `platewatch.models.training.synth`), moved across the frame; the returned `DemoVideo`
says which plate passes when. Encoded as H.264 without B-frames and with a keyframe every second,
so an RTSP or WebRTC client that joins mid-stream shows a picture within a second.

It lives with the benches, not in ingest: it draws with their scenes, and a stage must not import
a surface; `platewatch up` (a command, above the benches) adds it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.camera_store import add_camera
from platewatch.engine.ingest.frame import Image
from platewatch.models.training.synth import random_plate_text

from .scenes import add_car, paste_clipped, road

#: Plates the demo uses first: formats the shipped OCR reads reliably on these drawings.
DEMO_PLATES = ("7ABC123", "8XYZ902", "4KPL617", "6TRW245", "3MNB780", "2JVC854", "9FRS406")


@dataclass(frozen=True, slots=True)
class DemoPass:
    """One car crossing: its plate, when the car enters and leaves (s from the start), and its lane."""

    plate: str
    enter_s: float
    leave_s: float
    lane: int


@dataclass(frozen=True, slots=True)
class DemoVideo:
    path: Path
    width: int
    height: int
    fps: int
    seconds: float
    passes: tuple[DemoPass, ...]

    def manifest(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path)}


def _car_sprite(text: str, plate_w: int, width: int, height: int, seed: int) -> Image:
    """A car rear drawn once and cut out, so each frame only pastes it (drawing a plate costs ms)."""
    canvas = road(width, height, seed)
    cx, cy = width // 2, height // 2
    add_car(canvas, text, "us", plate_w, (cx, cy), seed)
    body_w, body_h = int(plate_w * 5.0), int(plate_w * 1.9)
    x0, y0 = cx - body_w // 2 - 4, cy - int(body_h * 0.6) - body_h // 3
    y1 = cy + int(plate_w * 0.5) * 2 + 4
    return canvas[max(0, y0) : min(height, y1), max(0, x0) : min(width, x0 + body_w + 8)].copy()


def plan(
    seconds: float,
    lanes: int = 1,
    cross_s: float = 2.5,
    gap_s: float = 1.5,
    lead_s: float = 1.0,
    seed: int = 0,
) -> list[DemoPass]:
    """When each car crosses: one after another in each lane, lanes offset by half a period."""
    rng = np.random.default_rng(seed)
    passes: list[DemoPass] = []
    period = cross_s + gap_s
    n = 0
    for lane in range(lanes):
        t = lead_s + lane * period / 2
        while t + cross_s <= seconds:
            text = DEMO_PLATES[n] if n < len(DEMO_PLATES) else random_plate_text("us", rng)
            passes.append(DemoPass(text, round(t, 3), round(t + cross_s, 3), lane))
            n += 1
            t += period
    return sorted(passes, key=lambda p: p.enter_s)


def generate(
    path: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 10,
    seconds: float = 12.0,
    lanes: int = 1,
    lead_s: float = 1.0,
    seed: int = 0,
) -> DemoVideo:
    """Write the demo MP4 (and `<path>.json`, its manifest) and return what it shows."""
    passes = plan(seconds, lanes, lead_s=lead_s, seed=seed)
    plate_w = max(60, width * 9 // 64)
    background = road(width, height, seed)
    sprites = {p.plate: _car_sprite(p.plate, plate_w, width, height, seed + _stable(p.plate)) for p in passes}
    lane_y = [height // 2 if lanes == 1 else height * (1 + 2 * i) // (2 * lanes) for i in range(lanes)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "crf": "20"}
        for i in range(int(seconds * fps)):
            t = i / fps
            frame = background.copy()
            for p in passes:
                if p.enter_s <= t <= p.leave_s:
                    sprite = sprites[p.plate]
                    sh, sw = sprite.shape[:2]
                    progress = (t - p.enter_s) / (p.leave_s - p.enter_s)
                    x = round(progress * (width - sw * 0.2) - sw * 0.4)
                    y = lane_y[p.lane] - sh // 2
                    paste_clipped(frame, sprite, x, y)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = DemoVideo(path, width, height, fps, seconds, tuple(passes))
    path.with_suffix(path.suffix + ".json").write_text(json.dumps(video.manifest(), indent=1))
    return video


def _stable(text: str) -> int:
    """A seed from the plate text: the same plate is drawn the same way in every demo."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text)) % 1000


def ensure_demo_camera(
    settings: Any, database_url: str, *, width: int = 1280, height: int = 720, seconds: float = 24.0
) -> CameraSpec | None:
    """On a fresh install (no camera in the configuration or the database, none ever removed), add
    the `demo` camera: the generated video, looped, so a newcomer sees reads at once.

    `platewatch camera remove demo` keeps it away (the removal is remembered in the database).
    """
    from platewatch.engine.ingest.camera_store import database_cameras

    added, removed = database_cameras(database_url)
    if settings.cameras or added or removed:
        return None
    video = generate(
        Path(settings.data_dir) / "demo" / "demo.mp4", width=1280, height=720, fps=10, seconds=30
    )
    spec = CameraSpec(id="demo", url=str(video.path), name="Demo: generated cars with known plates", fps=10)
    add_camera(database_url, spec)
    return spec
