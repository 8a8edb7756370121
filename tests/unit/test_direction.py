"""Direction of travel from a pass's plate boxes, and the vehicle's look voted over a pass's frames."""

from __future__ import annotations

import numpy as np
import pytest

from platewatch.codecs import Read
from platewatch.engine.track import Tracker
from platewatch.engine.track.direction import angle_between, cut, direction_right, travel, travel_along
from platewatch.engine.vision.types import Box, Candidate, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import VehicleLook, look_from


def test_a_growing_plate_approaches_and_a_shrinking_one_recedes() -> None:
    assert travel(Box(100, 100, 50, 20), Box(99, 100, 54, 21))[0] == ""  # under 10 %: box jitter, not motion
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


def test_a_fit_over_the_pass_is_not_swayed_by_a_plate_cut_by_the_frame_edge() -> None:
    # A plate crossing a 1280-wide frame at one size; it enters cut by the left edge (40 px wide of 100).
    path = [(0.0, Box(0, 300, 40, 30))] + [(0.1 * k, Box(60 * k, 300, 100, 30)) for k in range(1, 12)]
    assert travel(path[0][1], path[-1][1])[0] == "approaching"  # first against last: the cut box decides
    assert travel_along(path, (1280, 720)) == ("", 0.0)
    # and leaving by the right edge, cut again
    path += [(1.2, Box(1280 - 45, 300, 45, 30))]
    assert travel_along(path, (1280, 720)) == ("", 0.0)


def test_a_fit_over_the_pass_is_not_swayed_by_one_bad_box() -> None:
    # A steady crossing whose last detection is a third too wide (a box that took in the frame).
    path = [(0.1 * k, Box(200 + 40 * k, 300, 100, 30)) for k in range(10)]
    path.append((1.0, Box(600, 300, 135, 40)))
    assert travel(path[0][1], path[-1][1])[0] == "approaching"
    direction, heading = travel_along(path, (1280, 720))
    assert direction == "" and heading is not None and angle_between(heading, 0.0) < 2


def test_a_steady_approach_and_its_reverse_are_told_apart() -> None:
    # The plate grows by 40 % over a pass and moves down the picture (towards the camera below).
    widths = [round(100 * 1.4 ** (k / 14)) for k in range(15)]
    path = [(0.1 * k, Box(550 - w // 2, 200 + 20 * k, w, w * 3 // 10)) for k, w in enumerate(widths)]
    assert travel_along(path, (1280, 720)) == ("approaching", 270.0)
    backwards = [(1.4 - t, b) for t, b in reversed(path)]
    assert travel_along(backwards, (1280, 720)) == ("receding", 90.0)


def test_a_pass_of_one_sighting_or_all_boxes_cut_still_answers() -> None:
    assert travel_along([], (1280, 720)) == ("", None)
    assert travel_along([(0.0, Box(10, 10, 50, 20))], (1280, 720)) == ("", None)
    edge = [(0.0, Box(0, 100, 30, 20)), (0.1, Box(0, 100, 60, 20))]  # only cut boxes: used all the same
    assert travel_along(edge, (1280, 720))[0] == "approaching"
    assert travel_along([(1.0, Box(0, 0, 50, 20)), (1.0, Box(100, 0, 50, 20))]) == ("", 0.0)  # one instant


def test_a_box_touching_the_frame_edge_is_cut() -> None:
    assert cut(Box(0, 100, 50, 20), (640, 360)) and cut(Box(600, 100, 40, 20), (640, 360))
    assert cut(Box(100, 345, 50, 15), (640, 360)) and not cut(Box(100, 100, 50, 20), (640, 360))


def test_direction_right_scores_the_direction_and_the_heading_within_45_degrees() -> None:
    assert angle_between(350.0, 10.0) == pytest.approx(20.0) and angle_between(0.0, 180.0) == 180.0
    assert direction_right("", 40.0, "", 0.0) and not direction_right("", 50.0, "", 0.0)
    assert direction_right("", 320.0, "", 0.0) and not direction_right("approaching", 0.0, "", 0.0)
    assert not direction_right("", None, "", 0.0)  # a heading was expected
    assert direction_right("receding", None, "receding", 90.0, heading_required=False)
    assert direction_right("receding", None, "receding", None)
    assert not direction_right("receding", 90.0, "receding", None)  # no move, yet a heading


def test_the_tracker_leaves_out_the_cut_boxes_of_a_crossing_plate() -> None:
    tracker = Tracker("cam")
    frame = np.zeros((720, 1280, 3), np.uint8)
    out: list[Read] = []
    widths = [30, 60, 90, 90, 90, 90, 90, 90]  # entering at the left edge, cut, then whole
    for i, w in enumerate(widths):
        x = 0 if i < 2 else 80 * i
        out += tracker.update([_plate(x, 300, w, 0.9)], 100 + i / 10, frame)
    final = [r for r in [*out, *tracker.flush()] if not r.provisional][-1]
    assert (final.direction, final.heading) == ("", 0.0)


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
