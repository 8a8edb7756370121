"""How camera frames are read (`vision/stream_reading.py`): one crop for sure plates, three for
unsure ones, weak boxes kept only when confident, readings longer than the plate dropped."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from platewatch.engine.vision.stream_reading import StreamReading, max_chars, run_on
from platewatch.engine.vision.types import Box, Candidate, Detection, Image, OcrResult
from platewatch.engine.vision.views import VIEWS

FRAME: Image = np.zeros((1080, 1920, 3), np.uint8)


def _result(text: str, p: float) -> OcrResult:
    return OcrResult(text, p, (p,) * len(text), (Candidate(text, p),))


class Script:
    """Stand-in OCR by box and crop margin: `readings[(box.x, view)]`, recording what was read."""

    def __init__(self, readings: dict[tuple[int, tuple[float, float]], OcrResult]) -> None:
        self.readings = readings
        self.calls: list[tuple[int, tuple[float, float]]] = []

    def __call__(
        self, frame: Image, boxes: Sequence[Box], views: Sequence[tuple[float, float]]
    ) -> list[list[OcrResult]]:
        out = []
        for box in boxes:
            rs = []
            for view in views:
                self.calls.append((box.x, view))
                rs.append(self.readings.get((box.x, view), _result("", 0.0)))
            out.append(rs)
        return out


def _reading(script: Script) -> StreamReading:
    return StreamReading(
        read_views=script,
        choose=lambda result, region: result,
        sure=lambda fused, chosen: chosen.confidence >= 0.9 and chosen.text == fused.text,
        score_threshold=0.15,
        weak_min_confidence=0.9,
    )


def _all_views(x: int, text: str, p: float) -> dict[tuple[int, tuple[float, float]], OcrResult]:
    return {(x, v): _result(text, p) for v in VIEWS}


def test_sure_plates_cost_one_crop_and_unsure_ones_three() -> None:
    sure, unsure = Box(100, 500, 200, 100), Box(900, 500, 200, 100)
    script = Script(_all_views(100, "7ABC123", 0.97) | _all_views(900, "8XYZ999", 0.6))
    found = [Detection(sure, 0.8), Detection(unsure, 0.7)]
    reads = _reading(script).read_frame(FRAME, found, "us", {"detect": 1.0})
    assert [r.text for r in reads] == ["7ABC123", "8XYZ999"]
    assert sum(1 for x, _ in script.calls if x == 100) == 1
    assert sum(1 for x, _ in script.calls if x == 900) == len(VIEWS)
    assert reads[0].timings_ms == {"detect": 1.0}


def test_weak_boxes_are_kept_only_when_they_read_as_a_confident_plate() -> None:
    plate, road, dim = Box(100, 500, 200, 100), Box(900, 500, 200, 100), Box(1500, 500, 200, 100)
    script = Script(
        _all_views(100, "7ABC123", 0.95) | _all_views(900, "IKR0S3S", 0.6) | _all_views(1500, "X1", 0.2)
    )
    found = [Detection(plate, 0.05), Detection(road, 0.04), Detection(dim, 0.02)]
    reads = _reading(script).read_frame(FRAME, found, "us", {})
    assert [(r.text, r.detection_score) for r in reads] == [("7ABC123", 0.05)]
    assert sum(1 for x, _ in script.calls if x == 1500) == 1  # too faint for two more crops


def test_a_reading_that_runs_into_a_neighbouring_plate_is_reread_tight_or_dropped() -> None:
    box = Box(100, 500, 200, 100)
    # The wider crops hold the neighbour's edge; the tightest does not.
    readings = {(100, v): _result("5VCF20377", 0.8) for v in VIEWS[1:]}
    readings[(100, VIEWS[0])] = _result("5VCF203", 0.8)
    reads = _reading(Script(readings)).read_frame(FRAME, [Detection(box, 0.6)], "us", {})
    assert [r.text for r in reads] == ["5VCF203"]
    # Every crop runs on: nothing is better than a wrong plate sent to the hotlist.
    reads = _reading(Script(_all_views(100, "5VCF20377", 0.8))).read_frame(
        FRAME, [Detection(box, 0.6)], "us", {}
    )
    assert reads == []


def test_how_many_characters_a_plate_box_holds() -> None:
    us = Box(0, 0, 200, 100)
    assert max_chars(us, "us") == 8 and not run_on("ABC1234", us, "us") and run_on("5VCF20377", us, "us")
    assert max_chars(Box(0, 0, 450, 100), "eu") == 10
    assert max_chars(Box(0, 0, 100, 100), "auto") == 7  # a square box (a stacked plate) holds fewer
