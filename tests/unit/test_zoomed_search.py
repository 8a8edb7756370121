"""The closer look at camera frames in which nothing was read (`vision/zoomed_search.py`): only
such frames pay for it, it looks around the most plate-like box or at the tiles in turn, and it
keeps only confident plates, in frame coordinates."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from platewatch.engine.vision.detector import DetectorStream
from platewatch.engine.vision.stream_reading import StreamReading
from platewatch.engine.vision.types import Box, Candidate, Detection, Image, Observation, OcrResult
from platewatch.engine.vision.views import tiles
from platewatch.engine.vision.zoomed_search import SEEK_SCORE, ZoomedSearch, window_at

FRAME: Image = np.zeros((1080, 1920, 3), np.uint8)
WEAK = 0.01


def _observation(box: Box, text: str, p: float) -> Observation:
    ocr = OcrResult(text, p, (p,) * len(text), (Candidate(text, p),))
    return Observation.of(Detection(box, 0.5), ocr, "us", {})


class Stream:
    """Stand-in detector queue: the full frame's detections, then each window's, recording calls."""

    def __init__(self, full: list[Detection], window: list[Detection]) -> None:
        self.full, self.window = full, window
        self.calls: list[tuple[tuple[int, ...], float | None]] = []

    async def detect_async(self, frame: Image, score_threshold: float | None = None) -> list[Detection]:
        self.calls.append((frame.shape[:2], score_threshold))
        whole = frame.shape[:2] == FRAME.shape[:2]
        found = self.full if whole else self.window
        return [d for d in found if score_threshold is None or d.score >= score_threshold]


class Reading:
    """Stand-in frame reading: reads `plates` (box x -> text) from the boxes it is given."""

    def __init__(self, plates: dict[int, str]) -> None:
        self.plates = plates
        self.given: list[Sequence[Detection]] = []

    def read_frame(
        self, frame: Image, found: Sequence[Detection], region: str, timings: dict[str, float]
    ) -> list[Observation]:
        self.given.append(found)
        return [_observation(d.box, self.plates[d.box.x], 0.95) for d in found if d.box.x in self.plates]


def _search(readings: dict[int, tuple[str, float]]) -> tuple[ZoomedSearch, list[Sequence[Detection]]]:
    read: list[Sequence[Detection]] = []

    def thorough(
        frame: Image, boxes: Sequence[Detection], region: str, timings: dict[str, float]
    ) -> list[Observation]:
        read.append(boxes)
        return [_observation(d.box, *readings[d.box.x]) for d in boxes if d.box.x in readings]

    return ZoomedSearch(thorough, WEAK, 0.9), read


def _run(search: ZoomedSearch, stream: Stream, reading: Reading) -> list[Observation]:
    return asyncio.run(
        search.read(
            cast(DetectorStream, stream),
            cast(StreamReading, cast(Any, reading)),
            FRAME,
            "us",
            {"decode": 0.1},
        )
    )


def test_a_frame_with_a_plate_read_pays_nothing_more() -> None:
    stream = Stream([Detection(Box(100, 500, 120, 60), 0.8)], [])
    reading = Reading({100: "7ABC123"})
    search, thorough = _search({})
    reads = _run(search, stream, reading)
    assert [r.text for r in reads] == ["7ABC123"]
    assert len(stream.calls) == 1 and stream.calls[0][1] == SEEK_SCORE
    assert thorough == [] and search.searched == 0


def test_nothing_read_looks_around_the_best_box_and_keeps_confident_plates_in_frame_coordinates() -> None:
    faint = Detection(Box(1500, 800, 40, 20), 0.004)  # below the weak boxes: not read in the frame
    stream = Stream([faint], [Detection(Box(500, 250, 80, 40), 0.3), Detection(Box(10, 10, 80, 40), 0.2)])
    reading = Reading({})
    x0, y0, _, _ = window_at((1520, 810), 1920, 1080)
    search, thorough = _search({x0 + 500: ("8XYZ999", 0.97), x0 + 10: ("LLL", 0.5)})
    reads = _run(search, stream, reading)
    assert reading.given == [[]]  # the faint box was not among the frame's boxes
    assert stream.calls[1] == ((540, 960), WEAK)  # one half-size window, down to the weak score
    assert (x0, y0) == (960, 540)  # centred on the faint box, shifted inside the frame
    assert [d.box for d in thorough[0]] == [Box(x0 + 500, y0 + 250, 80, 40), Box(x0 + 10, y0 + 10, 80, 40)]
    assert [(r.text, r.box) for r in reads] == [("8XYZ999", Box(x0 + 500, y0 + 250, 80, 40))]
    assert search.searched == 1 and search.found == 1


def test_a_frame_showing_nothing_gets_the_tiles_in_turn() -> None:
    search, _ = _search({})
    seen = [search.window(FRAME, []) for _ in range(10)]
    grid = tiles(1920, 1080)
    assert seen[:9] == grid and seen[9] == grid[0]


def test_small_frames_are_not_searched() -> None:
    small = Stream([], [])
    search, _ = _search({})
    reads = asyncio.run(
        search.read(
            cast(DetectorStream, small),
            cast(StreamReading, cast(Any, Reading({}))),
            np.zeros((240, 320, 3), np.uint8),
            "us",
            {},
        )
    )
    assert reads == [] and len(small.calls) == 1 and search.searched == 0


def test_a_box_that_never_reads_cannot_hold_the_look() -> None:
    search, _ = _search({})
    sign = [Detection(Box(100, 100, 60, 30), 0.005)]
    seen = [search.window(FRAME, sign) for _ in range(6)]
    around = window_at((130, 115), 1920, 1080)
    grid = tiles(1920, 1080)
    assert seen == [around, grid[0], around, grid[1], around, grid[2]]
