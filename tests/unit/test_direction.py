"""Direction of travel from a pass's plate boxes, and the vehicle's look voted over a pass's frames."""

from __future__ import annotations

import numpy as np
import pytest

from platewatch.codecs import Read
from platewatch.engine.track import Tracker
from platewatch.engine.track.direction import travel
from platewatch.engine.vision.types import Box, Candidate, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import VehicleLook, look_from


def test_a_growing_plate_approaches_and_a_shrinking_one_recedes() -> None:
    assert travel(Box(100, 100, 50, 20), Box(99, 100, 60, 20))[0] == ""  # 20 %: an edge-cut plate, not motion
    assert travel(Box(100, 100, 50, 20), Box(85, 194, 80, 32)) == ("approaching", 270.0)
    assert travel(Box(100, 200, 80, 32), Box(100, 100, 50, 20))[0] == "receding"


def test_heading_is_counter_clockwise_from_the_right_in_the_picture() -> None:
    assert travel(Box(0, 100, 50, 20), Box(200, 100, 50, 20)) == ("", 0.0)
    assert travel(Box(200, 100, 50, 20), Box(0, 100, 50, 20)) == ("", 180.0)
    assert travel(Box(100, 300, 50, 20), Box(100, 100, 50, 20)) == ("", 90.0)
    _, heading = travel(Box(0, 200, 50, 20), Box(100, 100, 50, 20))
    assert heading == pytest.approx(45.0)


def test_a_heading_just_below_the_right_rounds_to_zero_not_360() -> None:
    assert travel(Box(0, 100, 50, 20), Box(1000, 100, 50, 20 + 1)) == ("", 0.0)
    assert travel(Box(0, 1000, 50, 20), Box(10000, 1003, 50, 20))[1] == 0.0


def test_a_plate_that_barely_moves_has_no_heading_nor_direction() -> None:
    assert travel(Box(100, 100, 50, 20), Box(105, 102, 52, 21)) == ("", None)


def _plate(x: int, y: int, w: int, conf: float) -> Observation:
    box = Box(x, y, w, w // 3)
    return Observation("ABC123", conf, (conf,) * 6, (Candidate("ABC123", conf),), box, 0.9, "us")


class _Describer:
    """Looks in turn: two gray frames and one red one (brake lights), then fails (a broken frame)."""

    def __init__(self) -> None:
        self.calls: list[Box] = []

    def __call__(self, frame: Image, box: Box) -> VehicleLook | None:
        self.calls.append(box)
        gray, red = [0.0, 1.0, 0, 0.0, 0, 0, 0.0], [0.0, 0.45, 0, 0.55, 0, 0, 0.0]
        if len(self.calls) > 3:
            raise VisionError("broken frame")
        return look_from(np.array(red if len(self.calls) == 2 else gray), np.array([0.9, 0, 0.1, 0]))


def test_a_pass_carries_its_vehicle_voted_over_a_few_frames_and_its_direction() -> None:
    describer = _Describer()
    tracker = Tracker("cam", describe_vehicle=describer)
    frame = np.zeros((720, 1280, 3), np.uint8)
    out: list[Read] = []
    # Approaching up the picture: the plate grows and rises; each read better than the last.
    for i in range(6):
        out += tracker.update([_plate(600, 600 - 40 * i, 90 + 10 * i, 0.80 + 0.03 * i)], 100 + i / 10, frame)
    out += tracker.flush()
    final = [r for r in out if not r.provisional][-1]
    assert len(describer.calls) == 3  # at most MAX_LOOKS frames are described
    assert final.colour == "gray"  # the red frame is outvoted
    assert final.colour_confidence == pytest.approx((1.0 + 0.45 + 1.0) / 3, abs=1e-3)
    assert final.vehicle_type == ""  # withheld
    assert final.direction == "approaching"
    assert final.heading is not None and 80 < final.heading < 100


def test_a_tracker_without_a_describer_leaves_the_vehicle_empty() -> None:
    tracker = Tracker("cam")
    out: list[Read] = []
    for i in range(4):
        out += tracker.update([_plate(100 + 60 * i, 300, 90, 0.9)], 100 + i / 10, None)
    final = [r for r in [*out, *tracker.flush()] if not r.provisional][-1]
    assert (final.colour, final.colour_confidence) == ("", 0.0)
    assert final.direction == "" and final.heading == 0.0
