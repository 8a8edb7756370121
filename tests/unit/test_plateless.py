"""Plate-less passes: a vehicle seen several times with no plate read inside it makes a read with no
plate text; a vehicle whose plate was read, or a flicker, makes none."""

from __future__ import annotations

import asyncio
import itertools
from typing import cast

import numpy as np
from memory_source import MemorySource

from platewatch.codecs import Read, decode_read, encode_read
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.runner import CameraRunner
from platewatch.engine.track.plateless import MIN_SIGHTINGS, PlatelessTracker
from platewatch.engine.vision.types import Box, Candidate, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import Vehicle, VehicleDescriber, VehicleLook, VehicleReader, look_from

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


def test_a_frame_already_looked_at_is_a_sighting_and_postpones_the_next_detection() -> None:
    road = _Road(_approaching(50))
    tracker = PlatelessTracker("cam", road, every_s=0.4)
    known = [Vehicle(Box(10, 10, 200, 150), 0.8)]
    tracker.update([], 100.0, FRAME, detected=known)  # the describer found these: free
    assert road.calls == 0 and len(tracker._tracks) == 1
    tracker.update([], 100.3, FRAME)  # 0.3 s after the shared detection: not due yet
    assert road.calls == 0
    tracker.update([], 100.4, FRAME)
    assert road.calls == 1


def test_with_nothing_followed_a_due_detection_waits_for_motion() -> None:
    road = _Road([[Box(400, 200, 200, 150)]] + [[]] * 10)
    motion = iter([False, False, True] + [False] * 20)  # still, still, a car enters, then it stops
    tracker = PlatelessTracker("cam", road, every_s=0.4, moved=lambda frame: next(motion))
    tracker.update([_plate(Box(10, 10, 60, 20))], 100.0, FRAME)
    tracker.update([], 100.5, FRAME)
    assert road.calls == 0 and tracker._plates == []  # nothing detected, no plate left waiting
    tracker.update([], 101.0, FRAME)  # moved: detects, and follows the vehicle it finds
    assert road.calls == 1
    for t in (101.5, 102.0, 102.5):  # nothing moves, but a vehicle is followed: detection goes on
        tracker.update([], t, FRAME)
    assert road.calls == 4
    tracker.update([], 103.0, FRAME)  # the vehicle is gone (1.5 s unseen) and nothing moves
    assert road.calls == 4


def test_only_a_plate_less_pass_is_described_and_at_most_max_looks_times() -> None:
    looked: list[Box] = []

    def look(frame: Image, box: Box) -> VehicleLook | None:
        looked.append(box)
        return _gray(frame, box)

    boxes = _approaching(6)
    plate_box = Box(boxes[2][0].x + 80, boxes[2][0].y + 110, 60, 20)
    assert _run(PlatelessTracker("cam", _Road(boxes), look), 6, {1: [_plate(plate_box)]}) == []
    assert looked == []  # its plate was read: never described
    out = _run(PlatelessTracker("cam", _Road(_approaching(6)), look), 6)
    assert len(out) == 1 and out[0].colour == "gray"
    assert looked == [b[0] for b in _approaching(3)]  # the first three, each larger than the last


class _Reader:
    """The vehicle networks as a camera's trackers use them, counting detector runs per frame."""

    def __init__(self) -> None:
        self.detected: list[int] = []  # id() of each frame the detector ran on

    def detect(self, frame: Image) -> list[Vehicle]:
        self.detected.append(id(frame))
        return [Vehicle(Box(20, 20, 280, 150), 0.9)]

    def describe(self, frame: Image, vehicle: Box, plate: Box | None = None) -> VehicleLook:
        return _gray(frame, vehicle)


def test_a_camera_detects_each_frame_s_vehicles_once_for_both_trackers() -> None:
    """The describer looks at the first three frames (each read better than the last); the
    plate-less tracker takes those detections and is next due 0.4 s after the third."""
    out: list[Read] = []
    reader = _Reader()
    frames: list[Image] = []

    async def recognize(image: np.ndarray, region: str | None) -> list[Observation]:
        if image.shape[0] <= 64:
            return []  # the warm-up
        frames.append(image)
        conf = min(0.95, 0.6 + 0.1 * len(frames))
        return [Observation("7ABC123", conf, (conf,) * 7, (), Box(140, 120, 40, 20), conf, "us")]

    async def publish(read: Read) -> None:
        out.append(read)

    async def main() -> None:
        runner = CameraRunner(
            CameraSpec(id="mem", url="file:///mem"),
            publish,
            recognize,
            source=MemorySource(12, numbered=True),
        )
        runner.describe_vehicles(VehicleDescriber(cast(VehicleReader, reader)))
        await runner.run()

    asyncio.run(main())
    finals = [r for r in out if not r.provisional]
    assert [r.plate for r in finals] == ["7ABC123"] and finals[0].colour == "gray"  # described
    assert len(reader.detected) == len(set(reader.detected))  # no frame detected twice
    ids = [id(f) for f in frames]
    seen = [ids.index(i) for i in reader.detected]  # asked separately: 0, 1, 2 and 0, 4, 8
    assert seen[:3] == [0, 1, 2] and len(seen) >= 4
    assert all(b - a >= 4 for a, b in itertools.pairwise(seen[2:]))  # every 0.4 s after
