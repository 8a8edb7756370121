"""A camera's vehicle detections, each frame's made at most once and shared by its two trackers.

Why: a camera with `vision.vehicles` on asks the vehicle detector about its frames for two
reasons, the look of the vehicle holding a plate (the plate tracker's describer, a few frames of
each pass) and the vehicles themselves (the plate-less tracker, every `DETECT_EVERY_S`). Asked
separately, a frame both wanted cost two detector runs, and the detector was the largest part of
what vehicles cost a camera (docs/streams.md). `CameraVehicles` keeps the last frame's vehicles (by
identity: a camera hands its trackers the same array), so the second question is free, and
`detected` tells the plate-less tracker what is known of a frame already, so a detection the
describer made counts as its own.
"""

from __future__ import annotations

from .types import Box, Image
from .vehicles import Vehicle, VehicleLook, VehicleReader, vehicle_of


class CameraVehicles:
    """One camera's view of the shared vehicle networks. Not thread-safe: one camera's trackers
    run one frame at a time, and each camera has its own."""

    def __init__(self, reader: VehicleReader) -> None:
        self.reader = reader
        self._frame: Image | None = None
        self._vehicles: list[Vehicle] = []
        self.detections = 0  # detector runs (tests and benches count them)

    def detect(self, frame: Image) -> list[Vehicle]:
        """The frame's vehicles, most confident first (detected once per frame)."""
        if self._frame is not frame:
            vehicles = self.reader.detect(frame)
            self.detections += 1
            self._frame, self._vehicles = frame, vehicles
        return self._vehicles

    def detected(self, frame: Image) -> list[Vehicle] | None:
        """The frame's vehicles where it was already looked at, else None (nothing is run)."""
        return self._vehicles if self._frame is frame else None

    def describe(self, frame: Image, plate: Box) -> VehicleLook | None:
        """The look of the vehicle carrying a plate in the frame, or None where none holds it
        (`VehicleDescriber`'s question, from this camera's detection of the frame)."""
        vehicle = vehicle_of(plate, self.detect(frame))
        if vehicle is None:
            return None
        return self.reader.describe(frame, vehicle.box, plate)

    def look_at(self, frame: Image, vehicle: Box) -> VehicleLook | None:
        """The look of a plate-less vehicle (its box)."""
        return self.reader.describe(frame, vehicle)
