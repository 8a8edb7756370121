"""The synthetic plate renderer used by training, tests and the demo."""

from __future__ import annotations

import re

import numpy as np
import pytest

from platewatch.models.training import synth


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


def _ink_rows(glyph: np.ndarray, column: int) -> np.ndarray:
    return np.nonzero(glyph[:, column] > 127)[0]


@pytest.mark.parametrize("font", ["sans_cond_bold", "sans_bold", "hershey_duplex_5"])
@pytest.mark.parametrize("depth", [0.3, 0.7])
def test_shallow_m_and_w_reach_only_their_depth(font: str, depth: float) -> None:
    h = synth._fonts()[font].glyphs["H"]
    rows = np.nonzero((h > 127).any(axis=1))[0]
    top, bottom = rows[0], rows[-1]
    cap = bottom - top
    m = synth._shallow_glyph(h, "M", depth)
    w = synth._shallow_glyph(h, "W", depth)
    assert m is not None and w is not None
    mid = h.shape[1] // 2
    # The H's crossbar is gone: M's V hangs from the top, W's inverted V stands on the baseline.
    m_mid, w_mid = _ink_rows(m, mid), _ink_rows(w, mid)
    assert abs(m_mid.max() - (top + depth * cap)) <= 0.2 * cap
    assert abs(w_mid.min() - (bottom - depth * cap)) <= 0.2 * cap
    assert m[top, mid] < 128 and w[bottom, mid] < 128  # a V's point in the middle, not a bar
    # The stems are the H's own.
    stems = (h[top : bottom + 1] > 127).mean(axis=0) > 0.85
    assert stems.sum() >= 2
    for glyph in (m, w):
        assert ((glyph[top : bottom + 1, stems] > 127).mean(axis=0) > 0.85).all()


def test_plate_glyphs_swap_m_and_w_at_the_set_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    font = synth._fonts()["sans_cond_bold"]
    rng = np.random.default_rng(3)
    monkeypatch.setattr(synth, "SHALLOW_MW_RATE", 0.0)
    state = rng.bit_generator.state
    assert all(synth._plate_glyphs(font, rng) is font for _ in range(50))
    assert rng.bit_generator.state == state  # off: renders stay as they were, draw for draw
    monkeypatch.setattr(synth, "SHALLOW_MW_RATE", 0.35)
    swapped = [synth._plate_glyphs(font, rng) for _ in range(400)]
    changed = [f for f in swapped if f is not font]
    assert 0.25 < len(changed) / len(swapped) < 0.45
    assert all(f.glyphs["H"] is font.glyphs["H"] and f.glyphs["M"] is not font.glyphs["M"] for f in changed)


def test_shallow_letters_limits_the_swap_to_the_named_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    font = synth._fonts()["sans_cond_bold"]
    rng = np.random.default_rng(4)
    monkeypatch.setattr(synth, "SHALLOW_MW_RATE", 1.0)
    monkeypatch.setattr(synth, "SHALLOW_LETTERS", "M")
    swapped = synth._plate_glyphs(font, rng)
    assert swapped.glyphs["M"] is not font.glyphs["M"]
    assert swapped.glyphs["W"] is font.glyphs["W"]  # the plain W stays, blurred by the camera later
