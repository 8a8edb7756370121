"""The synthetic plate renderer used by training, tests and the demo."""

from __future__ import annotations

import re

import numpy as np
import pytest

from platewatch.engine.vision import synth


@pytest.mark.parametrize("style", synth.STYLES)
def test_render_plate_every_style(style: str) -> None:
    rng = np.random.default_rng(1)
    img = synth.render_plate("ABC1234", style, rng)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    h, w = img.shape[:2]
    assert 40 <= h <= 200 and w > h
    assert img.std() > 10  # something was drawn


def test_render_is_deterministic_per_seed() -> None:
    a = synth.render_plate("7ABC123", "us", np.random.default_rng(5))
    b = synth.render_plate("7ABC123", "us", np.random.default_rng(5))
    c = synth.render_plate("7ABC123", "us", np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_render_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        synth.render_plate("--", "us", rng)
    with pytest.raises(ValueError):
        synth.render_plate("ABC123", "mars", rng)


@pytest.mark.parametrize(
    ("region", "pattern"),
    [
        ("us", r"[A-Z0-9]{3,8}"),
        ("eu", r"[A-Z0-9]{2,8}"),
        ("br", r"[A-Z]{3}[0-9][A-Z0-9][0-9]{2}"),
        ("mercosur", r"[A-Z]{3}[0-9][A-Z][0-9]{2}"),
        ("br_old", r"[A-Z]{3}[0-9]{4}"),
    ],
)
def test_random_plate_text_formats(region: str, pattern: str) -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        assert re.fullmatch(pattern, synth.random_plate_text(region, rng))
    with pytest.raises(ValueError):
        synth.random_plate_text("mars", rng)


def test_camera_crop_margins_and_degradation() -> None:
    rng = np.random.default_rng(3)
    plate = synth.render_plate("ABC123", "us", rng)
    loose = synth.camera_crop(plate, rng, margin_x=(0.07, 0.07), margin_y=(0.2, 0.2), degrade=False)
    assert loose.dtype == np.uint8 and loose.ndim == 3
    ratio = loose.shape[1] / loose.shape[0]
    assert 1.2 < ratio < 2.2  # 2:1 plate, 1.14x wide, 1.4x tall
    assert synth.degrade(loose, rng).shape == loose.shape


def test_synth_sample_labels_are_registration_only() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        img, label = synth.synth_sample(rng)
        assert re.fullmatch(r"[A-Z0-9]+", label)
        assert img.dtype == np.uint8 and img.shape[0] >= 4 and img.shape[1] >= 4


def test_paste_plate_into_scene() -> None:
    rng = np.random.default_rng(5)
    scene = np.zeros((240, 320, 3), np.uint8)
    plate = synth.render_plate("XYZ789", "eu", rng)
    out = synth.paste_plate(scene, plate, [(100, 100), (220, 105), (220, 135), (100, 130)])
    assert out.shape == scene.shape and not np.array_equal(out, scene)
    assert out[:90].max() == 0 and out[150:].max() == 0  # only the quad was drawn
    assert scene.max() == 0  # input untouched
