"""A closer look at one region of a camera frame in which nothing was read (issue #23).

Why: played as a camera, the photos whose plates the single-photo path finds only in its tiles
(`views.tiles`: the detector at twice the scale, nine runs an image) left passes without a read,
and nine detector runs a frame is more than four cameras leave room for. A vehicle stays in view
for a dozen frames, so one region a frame is enough to find its plate: a frame whose reading
found no plate gets one more detector run on a half-size window: every other time centred where
the full-frame detector saw the most plate-like thing it did not read (a score from `SEEK_SCORE`
up), otherwise (and whenever it saw nothing) the next of the tiles in turn. The boxes found there are read the
thorough way and kept only as confident plates (`pipeline.WEAK_MIN_CONFIDENCE`), as the
single-photo path keeps its tiles' boxes.

Cost: a frame with a plate read pays nothing; a frame without pays one detector run on a
half-size window (the same input size as a full frame's) and, where that finds a box, three to
six OCR crops of at most `MAX_ZOOM_BOXES` boxes. Behind a motion gate (`motion_gate`), empty road
reaches the recognizer only while a pass is open.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Final

from .boxes import iou
from .detector import DetectorStream
from .stream_reading import StreamReading
from .types import Box, Detection, Image, Observation
from .views import tiles

#: The thorough reading of boxes: (frame, detections, region, timings) -> reads (`Recognizer.read_plates`).
ReadThorough = Callable[[Image, Sequence[Detection], str, dict[str, float]], list[Observation]]

#: Full-frame detections from this score up point the closer look (the pipeline reads boxes from
#: `pipeline.WEAK_SCORE` up; below it the detector still ranks a small or faint plate first).
SEEK_SCORE: Final = 0.001
#: Boxes of the closer look read (best first); the rest are the same plate or noise.
MAX_ZOOM_BOXES: Final = 2
#: Frames smaller than this (either side) are not searched: the detector sees them at full size.
MIN_SEARCHED_SIDE: Final = 320


def window_at(centre: tuple[float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The half-size window (x0, y0, x1, y1) of a `width` x `height` frame centred on `centre`,
    shifted inside the frame: the size of one of `views.tiles`, so seen at twice the scale."""
    tw, th = -(-width // 2), -(-height // 2)
    x0 = min(max(0, round(centre[0] - tw / 2)), width - tw)
    y0 = min(max(0, round(centre[1] - th / 2)), height - th)
    return x0, y0, x0 + tw, y0 + th


class ZoomedSearch:
    """How `Recognizer` reads a camera frame under `vision.thorough: single` with
    `vision.zoom_search` on: the frame reading (`stream_reading`), then the closer look where it
    read nothing.

    The tiles are taken in turn across the frames it is given: one recognizer serves all of a
    worker's cameras, so with several cameras searching at once each camera's frames step through
    the nine tiles by their number (every tile still comes round unless it is a multiple of three).
    """

    def __init__(self, read_thorough: ReadThorough, weak_score: float, keep_confidence: float) -> None:
        self.read_thorough = read_thorough
        self.weak_score = weak_score
        self.keep_confidence = keep_confidence
        self._turn = itertools.count()
        self._tile = itertools.count()
        #: Frames searched and plates the search added (benches report them).
        self.searched = 0
        self.found = 0

    async def read(
        self,
        stream: DetectorStream,
        reading: StreamReading,
        frame: Image,
        region: str,
        timings: dict[str, float],
    ) -> list[Observation]:
        """The reads of one camera frame (`timings` holds its decoding so far)."""
        start = time.perf_counter()
        found = await stream.detect_async(frame, SEEK_SCORE)
        timings["detect"] = _ms(start)
        candidates = [d for d in found if d.score >= self.weak_score]
        reads = await asyncio.to_thread(reading.read_frame, frame, candidates, region, timings)
        if reads or min(frame.shape[:2]) < MIN_SEARCHED_SIDE:
            return reads
        start = time.perf_counter()
        x0, y0, x1, y1 = self.window(frame, found)
        boxes = [
            Detection(Box(d.box.x + x0, d.box.y + y0, d.box.w, d.box.h), d.score)
            for d in await stream.detect_async(frame[y0:y1, x0:x1], self.weak_score)
        ][:MAX_ZOOM_BOXES]
        timings["zoom"] = _ms(start)
        self.searched += 1
        if not boxes:
            return reads
        more = await asyncio.to_thread(self.read_thorough, frame, boxes, region, timings)
        for read in more:
            if read.confidence >= self.keep_confidence and not any(iou(read.box, r.box) > 0.3 for r in reads):
                reads.append(read)
                self.found += 1
        return reads

    def window(self, frame: Image, found: Sequence[Detection]) -> tuple[int, int, int, int]:
        """Where to look closer: every other search around the best full-frame box (none of which
        read as a plate), the others and all those of frames where the detector saw nothing at the
        next tile in turn, so a box that is never a plate (a sign, a grille) cannot hold the look."""
        height, width = frame.shape[:2]
        turn = next(self._turn)
        if found and turn % 2 == 0:
            box = found[0].box
            return window_at((box.x + box.w / 2, box.y + box.h / 2), width, height)
        grid = tiles(width, height)
        return grid[next(self._tile) % len(grid)]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


__all__ = ["MAX_ZOOM_BOXES", "MIN_SEARCHED_SIDE", "SEEK_SCORE", "ZoomedSearch", "window_at"]
