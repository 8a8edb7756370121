"""The vehicle stage: decoding the detector, finding a plate's vehicle, voting over frames, and the
shipped networks on drawn pictures (the colour model's own parts: test_vehicle_colour.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from platewatch.engine.bench.vehicle_labels import is_held_out, parse_fields, read_vehicle_labels
from platewatch.engine.vision.types import Box, VisionError
from platewatch.engine.vision.vehicles import (
    COLOUR_MIN_CONFIDENCE,
    COLOURS,
    TYPES,
    Vehicle,
    VehicleLook,
    VehicleReader,
    decode_vehicles,
    look_from,
    vehicle_of,
    vote_looks,
)

LABELS = Path(__file__).parents[1] / "data" / "vehicles" / "us_labels.tsv"


def test_decode_keeps_confident_boxes_in_frame_pixels_best_first() -> None:
    rows = np.zeros((1, 1, 200, 7), np.float32)
    rows[0, 0, 0] = [0, 0, 0.5, 0.1, 0.2, 0.3, 0.6]
    rows[0, 0, 1] = [0, 0, 0.9, 0.5, 0.5, 1.2, 1.0]  # runs off the right edge: clipped
    rows[0, 0, 2] = [0, 0, 0.1, 0.0, 0.0, 1.0, 1.0]  # too weak
    found = decode_vehicles(rows, 1000, 500)
    assert [v.score for v in found] == pytest.approx([0.9, 0.5])
    assert found[0].box == Box(500, 250, 500, 250)
    assert found[1].box == Box(100, 100, 200, 200)


def test_a_plate_belongs_to_the_most_confident_vehicle_holding_its_centre() -> None:
    near = Vehicle(Box(0, 0, 400, 300), 0.6)
    sure = Vehicle(Box(100, 100, 400, 300), 0.9)
    far = Vehicle(Box(800, 0, 200, 200), 0.99)
    plate = Box(200, 200, 60, 20)
    assert vehicle_of(plate, [near, sure, far]) == sure
    assert vehicle_of(plate, [near, far]) == near
    assert vehicle_of(Box(600, 600, 10, 10), [near, sure, far]) is None


def _car(body: tuple[int, int, int]) -> tuple[np.ndarray, Box]:
    """A flat-coloured rear with a white plate and two red lamps at the sides."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(frame, (120, 100), (520, 420), body, -1)
    cv2.rectangle(frame, (130, 250), (190, 290), (0, 0, 255), -1)
    cv2.rectangle(frame, (450, 250), (510, 290), (0, 0, 255), -1)
    plate = Box(280, 320, 80, 40)
    cv2.rectangle(frame, (plate.x, plate.y), (plate.x + plate.w, plate.y + plate.h), (245, 245, 245), -1)
    return frame, plate


def _look(colour: list[float]) -> VehicleLook:
    return look_from(np.array(colour), np.array([0.7, 0.1, 0.1, 0.1]))


def test_a_colour_is_shown_only_when_sure_and_frames_vote() -> None:
    sure = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    unsure = [0.0, 0.45, 0.0, 0.55, 0.0, 0.0, 0.0]  # a frame lit by the brake lights
    assert _look(sure).colour == "gray"
    assert _look(unsure).colour is None and _look(unsure).colour_confidence < COLOUR_MIN_CONFIDENCE
    voted = vote_looks([_look(sure), _look(unsure), _look(sure)])
    assert voted is not None and voted.colour == "gray"
    assert voted.colour_confidence == pytest.approx((1.0 + 0.45 + 1.0) / 3)
    assert vote_looks([]) is None
    assert voted.type is None  # type is withheld (SHOW_TYPE)


def test_vehicle_labels_parse_tsv_and_inline_fields(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text(
        "# note\nimage\tcolour\ttype\ta.jpg\tsilver\tsuv\nb.jpg\t-\tvan\n".replace("\ta.jpg", "\na.jpg")
    )
    labels = read_vehicle_labels(path)
    assert labels["a.jpg"].colour == "gray" and labels["a.jpg"].type_group == "car"
    assert labels["b.jpg"].colour is None and labels["b.jpg"].type_group == "van"
    inline = parse_fields(["colour=Red", "state=tx", "junk"])
    assert inline is not None and inline.colour == "red" and inline.state == "TX"
    assert parse_fields(["nothing"]) is None
    with pytest.raises(VisionError):
        parse_fields(["colour=purple"])


def test_the_shipped_label_file_is_complete_and_its_held_out_third_fixed() -> None:
    labels = read_vehicle_labels(LABELS)
    assert len(labels) == 119
    assert {label.colour for label in labels.values()} <= {*COLOURS, None}
    held = [name for name in labels if is_held_out(name)]
    assert len(held) == 36  # the plate recognizer's held-out US photos (models/training/holdout_us.txt)


@pytest.fixture(scope="module")
def reader() -> VehicleReader:
    return VehicleReader()


def test_shipped_networks_run_on_a_drawn_scene(reader: VehicleReader) -> None:
    frame, plate = _car((40, 40, 200))
    vehicles = reader.detect(frame)
    assert all(v.box.x >= 0 and v.box.x + v.box.w <= 640 for v in vehicles)
    look = reader.describe(frame, Box(120, 100, 400, 320), plate)
    assert len(look.colour_probs) == len(COLOURS) and sum(look.colour_probs) == pytest.approx(1.0, abs=1e-5)
    assert len(look.type_probs) == len(TYPES)
    # A plate-less vehicle is described too, its panel placed by the plate's usual position.
    assert reader.describe(frame, Box(120, 100, 400, 320)).colour_confidence > 0
    with pytest.raises(VisionError):
        reader.describe(frame, Box(700, 500, 10, 10))
