"""Plate-less passes: a vehicle seen several times with no plate read inside it makes a read with no
plate text; a vehicle whose plate was read, or a flicker, makes none."""

from __future__ import annotations

import numpy as np

from platewatch.codecs import Read, decode_read, encode_read
from platewatch.engine.track.plateless import MIN_SIGHTINGS, PlatelessTracker
from platewatch.engine.vision.types import Box, Candidate, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import Vehicle, VehicleLook, look_from

FRAME = np.zeros((720, 1280, 3), np.uint8)


class _Road:
    """Detections by frame number: what the vehicle detector would see."""

    def __init__(self, script: list[list[Box]]) -> None:
        self.script = script
        self.calls = 0

    def __call__(self, frame: Image) -> list[Vehicle]:
        boxes = self.script[self.calls] if self.calls < len(self.script) else []
        self.calls += 1
        if boxes == "broken":
            raise VisionError("unusable frame")
        return [Vehicle(b, 0.9) for b in boxes]


def _gray(frame: Image, box: Box) -> VehicleLook | None:
    return look_from(np.array([0.0, 0.9, 0, 0.1, 0, 0, 0]), np.array([0.9, 0, 0.1, 0]))


def _approaching(n: int, x: int = 400) -> list[list[Box]]:
    """A vehicle coming closer: its box grows and moves down the picture."""
    return [[Box(x - 20 * i, 200 + 30 * i, 200 + 40 * i, 150 + 30 * i)] for i in range(n)]


def _plate(box: Box) -> Observation:
    return Observation("ABC123", 0.9, (0.9,) * 6, (Candidate("ABC123", 0.9),), box, 0.9, "us")


def _run(
    tracker: PlatelessTracker, frames: int, reads_at: dict[int, list[Observation]] | None = None
) -> list[Read]:
    out: list[Read] = []
    for i in range(frames):
        out += tracker.update((reads_at or {}).get(i, []), 100 + i * 0.5, FRAME)
    return out + tracker.flush()


def test_a_vehicle_without_a_readable_plate_makes_one_plateless_read() -> None:
    road = _Road(_approaching(5))
    tracker = PlatelessTracker("cam", road, _gray)
    out = _run(tracker, 5)
    assert len(out) == 1
    read = out[0]
    assert read.plateless and read.plate == "" and read.colour == "gray"
    assert read.direction == "approaching" and read.heading is not None and 240 < read.heading < 300
    assert read.track_length == 5
    assert decode_read(encode_read(read)) == read  # the codec takes it


def test_a_vehicle_whose_plate_was_read_makes_none() -> None:
    boxes = _approaching(5)
    plate_box = Box(boxes[2][0].x + 80, boxes[2][0].y + 110, 60, 20)
    out = _run(PlatelessTracker("cam", _Road(boxes), _gray), 5, {2: [_plate(plate_box)]})
    assert out == []


def test_a_flicker_or_an_unusable_frame_makes_none() -> None:
    assert _run(PlatelessTracker("cam", _Road(_approaching(MIN_SIGHTINGS - 1))), 6) == []
    broken: list = [*_approaching(2), "broken"]
    assert _run(PlatelessTracker("cam", _Road(broken)), 3) == []


def test_detection_runs_only_every_few_tenths_of_a_second() -> None:
    road = _Road(_approaching(50))
    tracker = PlatelessTracker("cam", road, every_s=0.4)
    for i in range(30):  # 3 s at 10 frames a second
        tracker.update([], 100 + i / 10, FRAME)
    assert 7 <= road.calls <= 8
