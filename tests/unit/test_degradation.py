"""The degradation statistics (`models/training/degradation.py`) rank crops as a camera degrades them,
the synthetic samples carry their kind (two rows, small stacked characters, one row), and a matched
set follows the real crops' statistics rather than the pool's. No openalpr data needed: the
"real" statistics here are made up for the test."""

from __future__ import annotations

import cv2
import numpy as np

from platewatch.models.training import degradation, synth


def _plate() -> np.ndarray:
    img = np.full((80, 160, 3), 230, np.uint8)
    cv2.putText(img, "7ABC123", (8, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    return img


def test_blur_noise_and_contrast_are_measured_apart() -> None:
    sharp = _plate()
    width, contrast, blur, noise = degradation.stats(sharp)
    assert width == 160
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    assert degradation.stats(blurred)[2] > blur + 0.5  # the edges measured wider
    rng = np.random.default_rng(0)
    noisy = np.clip(sharp + rng.normal(0, 12, sharp.shape), 0, 255).astype(np.uint8)
    assert degradation.stats(noisy)[3] > noise + 0.02
    flat = ((sharp.astype(np.float32) - 125) * 0.3 + 125).astype(np.uint8)
    assert degradation.stats(flat)[1] < 0.5 * contrast
    # contrast alone leaves blur and noise (both relative to the contrast) about where they were
    assert abs(degradation.stats(flat)[2] - blur) < 0.2


def test_synthetic_samples_carry_their_kind_and_small_characters() -> None:
    samples = degradation.synth_samples("us_stacked", 3, 24, degrade=False)
    kinds = {s.kind for s in samples}
    assert kinds == {"two", "letters"}
    for s in samples:
        assert (s.kind == "letters") == bool(s.small)
        assert s.text.startswith(s.small) and len(s.small) <= 2
    # watching the renderer changes nothing it draws
    again = synth.synth_sample(np.random.default_rng(3), style="us_stacked", degrade=False)
    assert again[1] == samples[0].text and np.array_equal(again[0], samples[0].image)
    assert {s.kind for s in degradation.synth_samples("us", 3, 8, degrade=False)} == {"one"}


def test_a_matched_set_follows_the_real_statistics() -> None:
    # "real" crops: narrow (70-90 pixels), as sharp as the clean synthetic ones and noise-free
    clean = np.array([degradation.stats(s.image) for s in degradation.synth_samples("us", 5, 40, False)])
    real = clean.copy()
    real[:, 0] = np.linspace(70, 90, len(real))
    matched = degradation.matched_set("us", 5, 20, real, pool_factor=5)
    assert len(matched) == 20 and len({id(s) for s in matched}) == 20
    widths = np.array([degradation.stats(s.image)[0] for s in matched])
    pool = np.array([degradation.stats(s.image)[0] for s in degradation.synth_samples("us", 5, 100)])
    assert np.median(widths) < np.median(pool)
