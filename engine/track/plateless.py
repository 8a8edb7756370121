"""Passes of vehicles whose plate could not be read: a read with no plate text and `plateless` set.

Why: a vehicle whose plate is dirty, bent, covered or missing is exactly the one an investigator
asks about ("a gray pickup came through at 2 am"), and the plate tracker, which follows plates,
leaves no trace of it. This tracker follows vehicles instead, from the vehicle detector run a few
times a second (`DETECT_EVERY_S`, not every frame: the plate path keeps the CPU), and emits a pass
for a vehicle seen in at least `MIN_SIGHTINGS` detections during which no plate was read inside
its box. Such a read is stored and searchable by camera, time and colour; the match agent never
matches it (no plate), so it never alerts, and benches count it apart from plate reads.

What it costs is kept to what a pass needs (the detector was most of a camera's time with
vehicles on, docs/streams.md): a frame whose vehicles the describer already found for a plate's
look is used as it is, free, and counts as the detection due (`update`'s `detected`); while no
vehicle is being followed, a due detection waits for something in the view to move (`moved`, a
thumbnail comparison, well under a millisecond); and a vehicle is described only once its pass is
known to be plate-less, at its end, not in every pass's frames as they come.

Pure like the plate tracker (no I/O, no clock): the caller hands each frame's plate reads and
capture time; the detector and the describer are injected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from platewatch.codecs import Read
from platewatch.engine.vision.boxes import iou
from platewatch.engine.vision.types import Box, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import Vehicle, VehicleLook, read_fields, vote_looks

from .direction import travel
from .ids import time_ordered_id

DetectVehicles = Callable[[Image], list[Vehicle]]
#: Whether anything moved in the view since the last frame asked about (`ingest.gate.MotionGate`).
Moved = Callable[[Image], bool]
#: The look of a vehicle (its box) in a frame, without a plate to place the body panel by.
LookAt = Callable[[Image, Box], VehicleLook | None]
JpegEncoder = Callable[[Image], bytes | None]

#: Vehicle detection at most this often per camera (2.5 a second): a vehicle crossing a view in
#: 1.5 s is seen about four times; four cameras cost ten detector runs a second in all.
DETECT_EVERY_S: Final = 0.4
#: A pass needs this many sightings: a parked car's flicker or a shadow is not a pass.
MIN_SIGHTINGS: Final = 3
#: A pass ends when its vehicle has not been seen for this long.
MAX_GAP_S: Final = 1.5
#: Least overlap of a detection with a vehicle's last box to continue it.
MIN_IOU: Final = 0.3
#: A plate read this close outside a vehicle's box (fraction of its size) still counts as its
#: own: plates are read between vehicle detections, while the vehicle moves on.
PLATE_MARGIN: Final = 0.2
MAX_LOOKS: Final = 3
#: A vehicle's box must change width by this much to count as approaching or receding: the
#: detector's boxes of one vehicle vary more than a plate's, and one cut by the frame edge as it
#: enters is narrow. On the demo (cars crossing at one size, plates unreadable) 25 % called one
#: crossing in eight approaching; an approaching vehicle doubles in width over a pass.
VEHICLE_SIZE_RATIO: Final = 1.5
PLATELESS_NAMESPACE: Final = uuid.UUID("0c5e3e0a-31d4-5f0b-8f0e-3b1f8a2f7d41")


@dataclass(slots=True)
class _VehicleTrack:
    pass_id: str
    first_seen: float
    last_seen: float
    first_box: Box
    box: Box
    scores: list[float] = field(default_factory=list)
    #: Sightings to describe if the pass ends plate-less (up to MAX_LOOKS, each larger than the last).
    to_describe: list[tuple[Image, Box]] = field(default_factory=list)
    had_plate: bool = False
    best_frame: Image | None = None
    best_time: float = 0.0
    best_box: Box | None = None


def _holds(vehicle: Box, plate: Box, margin: float = PLATE_MARGIN) -> bool:
    cx, cy = plate.x + plate.w / 2, plate.y + plate.h / 2
    mx, my = vehicle.w * margin, vehicle.h * margin
    inside_x = vehicle.x - mx <= cx <= vehicle.x + vehicle.w + mx
    return inside_x and vehicle.y - my <= cy <= vehicle.y + vehicle.h + my


class PlatelessTracker:
    """One camera's vehicle tracker for plate-less passes. Not thread-safe (one task at a time)."""

    def __init__(
        self,
        camera_id: str,
        detect: DetectVehicles,
        look_at: LookAt | None = None,
        encode_jpeg: JpegEncoder | None = None,
        region: str = "",
        every_s: float = DETECT_EVERY_S,
        moved: Moved | None = None,
    ) -> None:
        """`moved` (None: detect whenever due) lets a due detection wait, while no vehicle is
        followed, until something in the view moves."""
        self.camera_id = camera_id
        self.detect = detect
        self.look_at = look_at
        self.region = region
        self.every_s = every_s
        self.moved = moved
        self._encode = encode_jpeg
        self._tracks: list[_VehicleTrack] = []
        self._plates: list[Box] = []  # plates read since the last detection
        self._last_detection: float | None = None

    def update(
        self,
        reads: Sequence[Observation],
        t: float,
        frame: Image | None,
        detected: Sequence[Vehicle] | None = None,
    ) -> list[Read]:
        """Feed one frame's plate reads; detects vehicles when it is time; returns finished passes.

        `detected` is the frame's vehicles where they were found already (the describer looked
        for a plate's vehicle in it): they are a sighting whether one is due or not, and the next
        detection is due `every_s` after them."""
        self._plates.extend(r.box for r in reads if r.text)
        out = self._expire(t)
        if frame is None:
            return out
        if detected is not None:
            self._last_detection = t
            vehicles = list(detected)
        else:
            if self._last_detection is not None and t - self._last_detection < self.every_s:
                return out
            self._last_detection = t
            still = self.moved is not None and not self.moved(frame)  # asked every time: fresh
            if still and not self._tracks:
                self._plates = []  # nothing followed, nothing moving: no vehicle to give them to
                return out
            try:
                vehicles = self.detect(frame)
            except VisionError:  # a frame the detector cannot use costs this sighting only
                return out
        plates, self._plates = self._plates, []
        for vehicle, track in self._associate(vehicles):
            if track is None:
                track = self._start(vehicle.box, t)
            self._observe(track, vehicle, t, frame, plates)
        return out

    def flush(self) -> list[Read]:
        out = [r for track in self._tracks if (r := self._final(track)) is not None]
        self._tracks.clear()
        return out

    def _associate(self, vehicles: Sequence[Vehicle]) -> list[tuple[Vehicle, _VehicleTrack | None]]:
        pairs = sorted(
            (
                (iou(track.box, v.box), ti, vi)
                for ti, track in enumerate(self._tracks)
                for vi, v in enumerate(vehicles)
                if iou(track.box, v.box) >= MIN_IOU
            ),
            reverse=True,
        )
        used: set[int] = set()
        matched: dict[int, _VehicleTrack] = {}
        for _, ti, vi in pairs:
            if ti not in used and vi not in matched:
                used.add(ti)
                matched[vi] = self._tracks[ti]
        return [(v, matched.get(vi)) for vi, v in enumerate(vehicles)]

    def _start(self, box: Box, t: float) -> _VehicleTrack:
        key = f"{self.camera_id}|{t:.6f}|{box.x},{box.y},{box.w},{box.h}|vehicle"
        track = _VehicleTrack(str(uuid.uuid5(PLATELESS_NAMESPACE, key)), t, t, box, box)
        self._tracks.append(track)
        return track

    def _observe(
        self, track: _VehicleTrack, vehicle: Vehicle, t: float, frame: Image, plates: Sequence[Box]
    ) -> None:
        track.box, track.last_seen = vehicle.box, t
        track.scores.append(vehicle.score)
        track.had_plate = track.had_plate or any(_holds(vehicle.box, p) for p in plates)
        if track.had_plate:
            track.to_describe.clear()  # never a plate-less pass: nothing to describe
        # The nearest (largest) sighting is the one worth keeping and describing.
        if track.best_box is None or vehicle.box.w * vehicle.box.h >= track.best_box.w * track.best_box.h:
            track.best_frame, track.best_time, track.best_box = frame, t, vehicle.box
            if self.look_at is not None and len(track.to_describe) < MAX_LOOKS and not track.had_plate:
                track.to_describe.append((frame, vehicle.box))

    def _looks(self, track: _VehicleTrack) -> list[VehicleLook]:
        """The plate-less pass's vehicle described in its kept sightings (at its end: most
        vehicles turn out to carry a readable plate, and describing those would be wasted)."""
        looks = []
        for frame, box in track.to_describe:
            try:
                look = self.look_at(frame, box) if self.look_at is not None else None
            except VisionError:
                look = None
            if look is not None:
                looks.append(look)
        track.to_describe.clear()
        return looks

    def _expire(self, t: float) -> list[Read]:
        out, alive = [], []
        for track in self._tracks:
            if t - track.last_seen > MAX_GAP_S:
                if (read := self._final(track)) is not None:
                    out.append(read)
            else:
                alive.append(track)
        self._tracks = alive
        return out

    def _final(self, track: _VehicleTrack) -> Read | None:
        if track.had_plate or len(track.scores) < MIN_SIGHTINGS or track.best_box is None:
            return None
        look = vote_looks(self._looks(track))
        direction, heading = travel(track.first_box, track.box, VEHICLE_SIZE_RATIO)
        crop = overview = None
        if self._encode is not None and track.best_frame is not None:
            b = track.best_box
            crop = self._encode(track.best_frame[b.y : b.y + b.h, b.x : b.x + b.w])
            overview = self._encode(track.best_frame)
        b = track.best_box
        return Read(
            read_id=time_ordered_id(PLATELESS_NAMESPACE, f"{track.pass_id}|final", track.best_time),
            camera_id=self.camera_id,
            time=track.best_time,
            plate="",
            confidence=round(sum(track.scores) / len(track.scores), 4),
            region=self.region,
            box=(b.x, b.y, b.w, b.h),
            track_length=len(track.scores),
            pass_id=track.pass_id,
            crop_jpeg=crop,
            overview_jpeg=overview,
            **read_fields(look),
            direction=direction,
            heading=heading,
            plateless=True,
        )
