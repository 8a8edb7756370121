"""A camera's vehicle detections: each frame's made once, whichever tracker asks first."""

from __future__ import annotations

import cv2
import numpy as np

from platewatch.engine.vision.camera_vehicles import CameraVehicles
from platewatch.engine.vision.types import Box
from platewatch.engine.vision.vehicles import VehicleReader


def test_a_camera_detects_a_frame_once_however_often_it_is_asked() -> None:
    frame = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(frame, (120, 100), (520, 420), (40, 40, 200), -1)  # a red rear with a plate
    plate = Box(280, 320, 80, 40)
    cv2.rectangle(frame, (plate.x, plate.y), (plate.x + plate.w, plate.y + plate.h), (245, 245, 245), -1)
    camera = CameraVehicles(VehicleReader())  # the shipped networks
    assert camera.detected(frame) is None  # not looked at yet: nothing is run to answer
    found = camera.detect(frame)
    camera.describe(frame, plate)  # the plate's vehicle, from the same detection
    assert camera.detect(frame) is found and camera.detected(frame) is found
    assert camera.detections == 1
    other = frame.copy()  # equal pixels, another frame
    assert camera.detected(other) is None
    assert camera.detect(other) == found and camera.detections == 2
    assert camera.look_at(other, Box(120, 100, 400, 320)) is not None  # a plate-less vehicle
