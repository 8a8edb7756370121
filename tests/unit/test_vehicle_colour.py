"""The colour model's parts: the body's perceptual colour bins, the two heads and their file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from platewatch.engine.vision.types import Box, VisionError
from platewatch.engine.vision.vehicle_colour import (
    BODY_FEATURES,
    ColourModel,
    LogisticHead,
    body_colour,
    colour_bins,
)

# colour_bins' layout: 5 achromatic bins (black .. white), 6 Lab hue sectors x (dark, light), then
# the spread; the reds are the first sector, the deep blues the last.
BLACK, WHITE = 0, 4
RED_DARK, RED_LIGHT, BLUE_DARK, BLUE_LIGHT = 5, 6, 15, 16


def _car(body: tuple[int, int, int]) -> tuple[np.ndarray, Box, Box]:
    """A flat-coloured rear filling its box, a white plate and two red lamps at the sides."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    vehicle = Box(120, 100, 400, 320)
    cv2.rectangle(frame, (120, 100), (520, 420), body, -1)
    cv2.rectangle(frame, (130, 250), (190, 290), (0, 0, 255), -1)
    cv2.rectangle(frame, (450, 250), (510, 290), (0, 0, 255), -1)
    plate = Box(280, 320, 80, 40)
    cv2.rectangle(frame, (plate.x, plate.y), (plate.x + plate.w, plate.y + plate.h), (245, 245, 245), -1)
    return frame, vehicle, plate


def test_a_blue_body_is_blue_and_a_white_one_white_the_plate_cut_out() -> None:
    blue = body_colour(*_car((160, 60, 20)))
    white = body_colour(*_car((235, 235, 235)))
    black = body_colour(*_car((20, 20, 20)))
    assert blue.shape == (BODY_FEATURES,)
    assert blue[BLUE_DARK] + blue[BLUE_LIGHT] > 0.9
    assert white[WHITE] > 0.9 and black[BLACK] > 0.9
    # The plate's white is cut out of the body: nothing of the black body's pixels is white.
    assert black[WHITE] == 0
    # The lamps sit inside the body, a small share of it.
    assert 0 < black[RED_DARK] + black[RED_LIGHT] < 0.1
    # The plate's own white (lightness 0..1) is the last feature.
    assert blue[-1] == pytest.approx(white[-1]) and blue[-1] > 0.9


def test_without_a_plate_the_plate_white_is_unknown_and_outside_the_frame_empty() -> None:
    frame, vehicle, _ = _car((160, 60, 20))
    features = body_colour(frame, vehicle, None)
    assert np.isnan(features[-1]) and features[BLUE_DARK] + features[BLUE_LIGHT] > 0.9
    outside = body_colour(frame, Box(700, 500, 50, 50), None)
    assert not outside[:-1].any()


def test_colour_bins_share_sum_to_one() -> None:
    rng = np.random.default_rng(3)
    lab = np.column_stack([rng.uniform(0, 100, 500), rng.uniform(-60, 60, (500, 2))]).astype(np.float32)
    bins = colour_bins(lab)
    assert bins.shape == (BODY_FEATURES - 1,)
    assert bins[:17].sum() == pytest.approx(1.0)
    assert not colour_bins(lab[:3]).any()  # too few pixels to say anything


def _head(rng: np.random.Generator, features: int, colours: int = 7) -> LogisticHead:
    return LogisticHead(
        rng.normal(size=features), np.ones(features), rng.normal(size=(features, colours)), np.zeros(colours)
    )


def test_the_model_averages_its_heads_round_trips_and_refuses_a_wrong_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = ColourModel(_head(rng, 7), _head(rng, BODY_FEATURES))
    path = tmp_path / "colour.json"
    path.write_text(model.to_json())
    again = ColourModel.load(path, 7)
    network = rng.dirichlet(np.ones(7))
    body = rng.normal(size=BODY_FEATURES)
    found = again.probabilities(network, body)
    assert found == pytest.approx(model.probabilities(network, body))
    assert found.sum() == pytest.approx(1.0)
    expected = (model.network.probabilities(np.log(network)) + model.body.probabilities(body)) / 2
    assert found == pytest.approx(expected)
    # A missing plate white stands at the training mean: the same as giving the mean.
    body[-1] = np.nan
    at_mean = body.copy()
    at_mean[-1] = model.body.mean[-1]
    assert again.probabilities(network, body) == pytest.approx(again.probabilities(network, at_mean))
    with pytest.raises(VisionError):
        ColourModel.load(path, 5)
    path.write_text(json.dumps({"network": model.network.to_dict()}))
    with pytest.raises(VisionError):
        ColourModel.load(path, 7)
    path.write_text("{not json")
    with pytest.raises(VisionError):
        ColourModel.load(path, 7)


def test_the_shipped_model_file_fits_the_network_and_the_body() -> None:
    shipped = Path(__file__).parents[2] / "models" / "vehicle_colour.json"
    model = ColourModel.load(shipped, 7)
    frame, vehicle, plate = _car((160, 60, 20))
    blue_network = np.array([0.02, 0.05, 0.01, 0.02, 0.05, 0.8, 0.05])
    found = model.probabilities(blue_network, body_colour(frame, vehicle, plate))
    assert found.argmax() == 5  # blue, by both views
