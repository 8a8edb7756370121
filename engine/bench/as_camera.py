"""`platewatch bench accuracy DIR --as-camera`: labelled photos played as a camera, passes scored.

Why: cameras are the main job, and a photo read singly is not what a camera sees. Each labelled
photo becomes a vehicle's approach (`APPROACH_FRAMES` frames at `FPS`: the view zooms in by
`ZOOM` while it pans towards the plates, so the plate grows from 80 % to 100 % of its size in the
photo, through JPEG compression like a video stream's) followed by empty road long enough for the
tracker to close the pass and forget it. The frames go through the real stream path: the camera
runner (`ingest.CameraRunner`) with the recognizer's stream reading and the tracker, so the figures
are those of `platewatch up` on the same photos, without a broker. `widen` (`--widen`) plays each
photo through a wider view (`widened`): the photo's pixels amid its repeated edges, so the
full-frame detector sees its plates smaller, a harder test that leaves held-out photos alone.

Scoring is per labelled plate and its photo's passes (final reads): `exact` and `within_one` for
the pass whose box overlaps the plate, `lost` when no pass does (the vehicle left no read), `split`
when more than one does (one vehicle made several passes), and `unmatched_passes` for passes over
no labelled plate (an unlabelled plate, or a false one).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from platewatch.codecs import Read
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.frame import Frame
from platewatch.engine.ingest.runner import CameraRunner, Recognize
from platewatch.engine.ingest.source import Source
from platewatch.engine.track import TrackerConfig
from platewatch.engine.track.confirm import Reread
from platewatch.engine.track.direction import MIN_MOVE, direction_right
from platewatch.engine.track.geometry import centre

from ..plates import edit_distance
from ..vision.pipeline import Recognizer
from ..vision.types import Box, Image, Observation
from .accuracy import Sample, normalise, overlaps, run_accuracy
from .scenes import road

#: Frames sampled per second, as a camera's `fps` (the default of `camera add`).
FPS: Final = 10.0
#: The approach: 1.5 s at `FPS`.
APPROACH_FRAMES: Final = 15
#: Share of the photo in view at the end of the approach (the first frame shows all of it).
ZOOM: Final = 0.8
#: Empty road after each photo: frames and their spacing. Long enough for the tracker to close
#: the pass (`max_gap_s`, 1 s) and to forget it (`dedupe_s`, 3 s), so two photos of the same car
#: count as two passes, as two vehicles an hour apart would.
ROAD_FRAMES: Final = 3
ROAD_STEP_S: Final = 1.2
#: Frames are JPEG-compressed at this quality, as a video stream's are.
JPEG_QUALITY: Final = 80
#: A photo wider than this is scaled down first: cameras send at most 1080p.
MAX_WIDTH: Final = 1920


@dataclass(frozen=True, slots=True)
class View:
    """Where one frame looked: frame pixel (u, v) is photo pixel (x0 + u / scale, y0 + v / scale)."""

    photo: int
    time: float
    x0: float
    y0: float
    scale: float

    def to_photo(self, box: Box) -> Box:
        s = self.scale
        return Box(round(self.x0 + box.x / s), round(self.y0 + box.y / s), round(box.w / s), round(box.h / s))

    def to_frame(self, box: Box) -> Box:
        """The inverse of `to_photo`: where a box of the photo shows in this frame."""
        s = self.scale
        return Box(
            round((box.x - self.x0) * s), round((box.y - self.y0) * s), round(box.w * s), round(box.h * s)
        )


def _fit(image: Image) -> Image:
    h, w = image.shape[:2]
    if w <= MAX_WIDTH:
        return image
    return cast(Image, cv2.resize(image, (MAX_WIDTH, round(h * MAX_WIDTH / w)), interpolation=cv2.INTER_AREA))


def _compress(image: Image) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    decoded = cast(Image | None, cv2.imdecode(buf, cv2.IMREAD_COLOR)) if ok else None
    return image if decoded is None else decoded


def widened(photo: Image, widen: float) -> tuple[Image, int, int]:
    """The photo seen by a camera with a `widen` times wider field of view: the photo at its own
    pixel size in the middle of a frame `widen` times its width and height, whose margin
    repeats the photo's edge pixels (streaks, no second plate); returns the frame and where the
    photo's top-left corner lies in it.

    Why: the training photos played as a camera read 98.8 % exact, so they cannot choose among
    steps for the plates a camera loses. Shrinking the photo instead makes its plates illegible
    (at 3x, 15-30 pixels wide: the detector still finds them, the OCR cannot read them); a wider
    view keeps the plate's pixels (up to `MAX_WIDTH`) while the full-frame detector, which sees the
    frame at 640 pixels, sees it smaller: the plates the photo path finds only in its tiles.
    """
    if widen <= 1.0:
        return photo, 0, 0
    height, width = photo.shape[:2]
    w, h = round(width * widen), round(height * widen)
    left, top = (w - width) // 2, (h - height) // 2
    framed = cv2.copyMakeBorder(photo, top, h - height - top, left, w - width - left, cv2.BORDER_REPLICATE)
    return cast(Image, framed), left, top


def approach(
    photo: Image, target: tuple[float, float], frames: int = APPROACH_FRAMES
) -> list[tuple[Image, Box]]:
    """The approach frames of one photo, each with its window (in photo pixels).

    Every frame is `ZOOM` times the photo's size; the window shrinks from the whole photo to
    `ZOOM` of it while its centre moves from the photo's centre towards `target` (the plates'
    centre), so the plate grows and drifts as a vehicle's does.
    """
    height, width = photo.shape[:2]
    out_w, out_h = max(16, round(width * ZOOM)), max(16, round(height * ZOOM))
    out: list[tuple[Image, Box]] = []
    for k in range(frames):
        a = k / max(1, frames - 1)
        frac = 1.0 - (1.0 - ZOOM) * a
        win_w, win_h = width * frac, height * frac
        cx = width / 2 + (target[0] - width / 2) * a
        cy = height / 2 + (target[1] - height / 2) * a
        x0 = min(max(0.0, cx - win_w / 2), width - win_w)
        y0 = min(max(0.0, cy - win_h / 2), height - win_h)
        window = Box(round(x0), round(y0), max(1, round(win_w)), max(1, round(win_h)))
        crop = photo[window.y : window.y + window.h, window.x : window.x + window.w]
        frame = cast(Image, cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA))
        out.append((_compress(frame), window))
    return out


class PhotoCamera(Source):
    """A `Source` playing labelled photos as vehicle passes, as fast as recognition takes them.

    Frames carry made-up capture times `FPS` apart (the tracker works on capture times), so the
    figures do not depend on how fast the machine is; `views` records where each frame looked.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        start: float = 1_700_000_000.0,
        both_ways: bool = False,
        widen: float = 1.0,
    ) -> None:
        super().__init__(
            "file:///bench/as-camera", reconnect=False, stall_timeout_s=600.0, open_timeout_s=600.0
        )
        self.samples = samples
        self.both_ways = both_ways
        self.widen = max(1.0, widen)
        self.start = start
        self.views: list[View] = []
        self.errors: list[dict[str, str]] = []
        self.frames_played = 0

    async def _session(self) -> AsyncIterator[Frame]:
        t = self.start
        for index, sample in enumerate(self.samples):
            photo = cast(
                Image | None, await asyncio.to_thread(cv2.imread, str(sample.image), cv2.IMREAD_COLOR)
            )
            if photo is None:
                self.errors.append({"image": sample.image.name, "error": "not a readable image"})
                continue
            photo, left, top = widened(photo, self.widen)
            scale0 = 1.0  # fitted canvas pixels per canvas (and photo) pixel
            if photo.shape[1] > MAX_WIDTH:
                scale0 = MAX_WIDTH / photo.shape[1]
                photo = _fit(photo)
            boxes = [lb.box for lb in sample.labels]
            target = (
                float(np.mean([(left + b.x + b.w / 2) * scale0 for b in boxes])),
                float(np.mean([(top + b.y + b.h / 2) * scale0 for b in boxes])),
            )
            frames = await asyncio.to_thread(approach, photo, target)
            if self.way(index) == "receding":  # the approach played backwards: the vehicle drives away
                frames.reverse()
            out_w = frames[0][0].shape[1]
            for image, window in frames:
                scale = out_w / window.w  # frame pixels per (fitted) photo pixel
                x0, y0 = window.x / scale0 - left, window.y / scale0 - top
                self.views.append(View(index, t, x0, y0, scale * scale0))
                yield Frame(image, t, self._next_seq())
                self.frames_played += 1
                t += 1.0 / FPS
            empty = road(frames[0][0].shape[1], frames[0][0].shape[0], seed=index)
            for _ in range(ROAD_FRAMES):
                yield Frame(empty, t, self._next_seq())
                self.frames_played += 1
                t += ROAD_STEP_S

    def way(self, photo: int) -> str:
        """How photo `photo` is played: "approaching", or with `both_ways` every other one "receding"."""
        return "receding" if self.both_ways and photo % 2 else "approaching"

    def expected_travel(self, photo: int, box: Box) -> tuple[str, float | None, bool]:
        """(direction, heading, heading required) of a labelled plate (`box`, photo pixels) over its pass.

        The heading is that of the plate's true box between the pass's first and last frame; it is
        None when the plate moves under half `MIN_MOVE` plate widths, and a heading is not required
        (none is right too) under twice `MIN_MOVE`, where either answer is fair."""
        views = [v for v in self.views if v.photo == photo]
        if not views:
            return self.way(photo), None, False
        first, last = (v.to_frame(box) for v in (views[0], views[-1]))
        (x0, y0), (x1, y1) = centre(first), centre(last)
        move = math.hypot(x1 - x0, y1 - y0) / max(first.w, last.w, 1)
        if move < MIN_MOVE / 2:
            return self.way(photo), None, False
        heading = math.degrees(math.atan2(-(y1 - y0), x1 - x0)) % 360.0
        return self.way(photo), heading, move >= 2 * MIN_MOVE

    def view_at(self, t: float) -> View | None:
        """The view of the frame captured at `t` (a read's time is its best frame's)."""
        times = [v.time for v in self.views]
        i = bisect.bisect_left(times, t - 1e-6)
        if i < len(self.views) and abs(self.views[i].time - t) < 1e-3:
            return self.views[i]
        return None


@dataclass(slots=True)
class PassTally:
    plates: int = 0
    exact: int = 0
    within_one: int = 0
    lost: int = 0
    split: int = 0
    passes: int = 0
    unmatched_passes: int = 0
    provisional_exact: int = 0
    direction_right: int = 0  # of the plates with a pass: its direction and heading as expected
    misreads: list[dict[str, Any]] = field(default_factory=list)
    direction_misses: list[dict[str, Any]] = field(default_factory=list)


def score_passes(
    samples: Sequence[Sample], camera: PhotoCamera, reads: Sequence[Read], region: str
) -> PassTally:
    """Match each labelled plate with the passes (final reads) over it, photo by photo."""
    tally = PassTally()
    passes: dict[int, list[tuple[Read, Box]]] = {}
    provisional: dict[str, str] = {}
    for read in reads:
        if read.provisional:
            provisional.setdefault(read.pass_id, read.plate)
            continue
        tally.passes += 1
        view = camera.view_at(read.time)
        if view is None:  # a pass whose best frame was empty road: nothing to match it with
            tally.unmatched_passes += 1
            continue
        x, y, w, h = read.box
        passes.setdefault(view.photo, []).append((read, view.to_photo(Box(x, y, w, h))))
    matched: set[str] = set()
    for index, sample in enumerate(samples):
        mine = passes.get(index, [])
        for label in sample.labels:
            tally.plates += 1
            over = [(r, b) for r, b in mine if overlaps(b, label.box)]
            matched.update(r.read_id for r, _ in over)
            truth = normalise(label.plate, region)
            if not over:
                tally.lost += 1
                tally.misreads.append(
                    {"image": sample.image.name, "truth": label.plate, "read": "", "passes": 0}
                )
                continue
            tally.split += len(over) > 1
            best = max(over, key=lambda rb: rb[0].track_length)[0]
            text = normalise(best.plate, region)
            tally.exact += text == truth
            tally.within_one += edit_distance(text, truth) <= 1
            tally.provisional_exact += normalise(provisional.get(best.pass_id, ""), region) == truth
            way, heading, required = camera.expected_travel(index, label.box)
            if direction_right(best.direction, best.heading, way, heading, required):
                tally.direction_right += 1
            else:
                tally.direction_misses.append(
                    {
                        "image": sample.image.name,
                        "expected": [way, None if heading is None else round(heading, 1), required],
                        "got": [best.direction, best.heading],
                        "track_length": best.track_length,
                    }
                )
            if text != truth or len(over) > 1:
                tally.misreads.append(
                    {
                        "image": sample.image.name,
                        "truth": label.plate,
                        "read": best.plate,
                        "candidates": [c[0] for c in best.candidates],
                        "passes": len(over),
                    }
                )
    tally.unmatched_passes += sum(1 for rs in passes.values() for r, _ in rs if r.read_id not in matched)
    return tally


async def play(
    samples: Sequence[Sample],
    recognize: Recognize,
    region: str,
    tracker_config: TrackerConfig | None = None,
    reread: Reread | None = None,
    both_ways: bool = False,
    widen: float = 1.0,
) -> tuple[PhotoCamera, list[Read]]:
    """Run the photos through a camera runner; returns the camera (its views) and every read.
    `reread` confirms passes as they close, as a worker's runner does with the shared recognizer;
    `both_ways` plays every other photo backwards (a receding vehicle); `widen` plays them
    through a wider view (`widened`)."""
    camera = PhotoCamera(samples, both_ways=both_ways, widen=widen)
    reads: list[Read] = []

    async def publish(read: Read) -> None:
        reads.append(read)

    spec = CameraSpec(id="bench-as-camera", url="file:///bench/as-camera", fps=FPS, region=region)
    runner = CameraRunner(
        spec, publish, recognize, source=camera, tracker_config=tracker_config, reread=reread
    )
    await runner.run()
    return camera, reads


def camera_figures(tally: PassTally, camera: PhotoCamera) -> dict[str, Any]:
    plates = max(tally.plates, 1)
    return {
        "plates": tally.plates,
        "frames": camera.frames_played,
        "passes": tally.passes,
        "exact": round(tally.exact / plates, 4),
        "within_one": round(tally.within_one / plates, 4),
        "lost": round(tally.lost / plates, 4),
        "split": round(tally.split / plates, 4),
        "provisional_exact": round(tally.provisional_exact / plates, 4),
        # of the plates that made a pass (lost ones are counted by `lost`)
        "direction_right": round(tally.direction_right / max(tally.plates - tally.lost, 1), 4),
        "direction_misses": tally.direction_misses,
        "unmatched_passes": tally.unmatched_passes,
        "camera_errors": camera.errors,
        "pass_misreads": tally.misreads,
    }


def camera_run(
    samples: list[Sample],
    recognizer: Recognizer,
    region: str,
    single: dict[str, Any],
    console: Console,
    both_ways: bool = False,
    widen: float = 1.0,
) -> dict[str, Any]:
    """The photos played as a camera through the stream path; the single-photo figures beside.
    `both_ways`: every other photo is played backwards, a vehicle driving away (`--both-ways`);
    `widen`: through a view that many times wider and taller (`--widen`, `widened`)."""

    async def recognize(image: Image, region_hint: str | None) -> list[Observation]:
        return await recognizer.recognize_async(image, region_hint)

    zoomed = recognizer.zoomed
    searched, found = (zoomed.searched, zoomed.found) if zoomed else (0, 0)
    with console.status(f"bench accuracy --as-camera: playing {len(samples)} photos as a camera"):
        start = time.perf_counter()
        camera, reads = asyncio.run(
            play(
                samples,
                recognize,
                region,
                reread=recognizer.reread,
                both_ways=both_ways,
                widen=widen,
            )
        )
        seconds = time.perf_counter() - start
    tally = score_passes(samples, camera, reads, region)
    figures: dict[str, Any] = {
        "directory": single["directory"],
        "region": region,
        "mode": "camera",
        "both_ways": both_ways,
        "widen": widen,
        "images": single["images"],
        **camera_figures(tally, camera),
        "frames_per_s": round(camera.frames_played / max(seconds, 1e-9), 1),
        # the closer look at frames in which nothing was read (`vision.zoom_search`): frames searched,
        # plates it added (frames with a plate read pay nothing)
        "zoom_searched": zoomed.searched - searched if zoomed else 0,
        "zoom_found": zoomed.found - found if zoomed else 0,
        "single": {k: v for k, v in single.items() if k not in ("directory", "region")},
    }
    _print_camera_table(console, figures)
    return figures


def _print_camera_table(console: Console, figures: dict[str, Any]) -> None:
    table = Table(title=f"bench accuracy --as-camera: {figures['directory']} (region {figures['region']})")
    names = ("plates", "passes", "exact", "within one", "lost", "split", "provisional exact", "single exact")
    for name in names:
        table.add_column(name, justify="right")
    pct = "{:.1%}".format
    table.add_row(
        str(figures["plates"]),
        str(figures["passes"]),
        pct(figures["exact"]),
        pct(figures["within_one"]),
        pct(figures["lost"]),
        pct(figures["split"]),
        pct(figures["provisional_exact"]),
        pct(figures["single"]["exact"]),
    )
    console.print(table)


def run_camera_accuracy(directory: Path, region: str = "auto", **options: Any) -> dict[str, Any]:
    """`run_accuracy` with the photos also played as a camera (`platewatch bench accuracy
    --as-camera`): the pass figures at the top level, the single-photo ones under ``single``."""
    return run_accuracy(directory, region, extend=camera_run, **options)


__all__ = [
    "PassTally",
    "PhotoCamera",
    "View",
    "approach",
    "camera_figures",
    "camera_run",
    "play",
    "run_camera_accuracy",
    "score_passes",
    "widened",
]
