"""Real inference with the shipped plate OCR model (models/plate_ocr.xml) on the CPU.

Synthetic plates with known text must be read exactly; the openalpr crops (if present on this
machine) must clear a floor far below the product target, to catch a broken model or
preprocessing without making the test flaky.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from platewatch.engine.plates import PLATE_ALPHABET
from platewatch.engine.vision import regions
from platewatch.engine.vision.ocr import DEFAULT_MODEL, PlateOCR
from platewatch.engine.vision.types import OcrResult, VisionError
from platewatch.models.training import synth

# The openalpr benchmark beside the checkout (or PLATEWATCH_DATA); the test skips without it.
OCR_CROPS = (
    Path(os.environ.get("PLATEWATCH_DATA", Path(__file__).resolve().parents[3] / "shared/datasets/openalpr"))
    / "ocr-crops"
)
VAL_LIST = Path(__file__).resolve().parents[2] / "models" / "training" / "val_ocr_crops.txt"

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="models/plate_ocr.xml not built")


@pytest.fixture(scope="module")
def ocr() -> PlateOCR:
    return PlateOCR()


def clean_renders(n: int = 20) -> list[tuple[np.ndarray, str]]:
    """Fixed-seed plates: US/EU/BR styles, front-on-ish, modest margins, no camera degradation."""
    rng = np.random.default_rng(20260101)
    styles = ("us", "us", "us", "eu", "br_old", "mercosur")
    region = {"us": "us", "eu": "eu", "br_old": "br_old", "mercosur": "mercosur"}
    out = []
    for i in range(n):
        style = styles[i % len(styles)]
        text = synth.random_plate_text(region[style], rng)
        plate = synth.render_plate(text, style, rng)
        crop = synth.camera_crop(
            plate,
            rng,
            margin_x=(0.02, 0.08),
            margin_y=(0.05, 0.25),
            max_tilt=0.03,
            max_rot_deg=3.0,
            degrade=False,
        )
        out.append((crop, text))
    return out


def test_reads_synthetic_plates_exactly(ocr: PlateOCR) -> None:
    samples = clean_renders()
    results = ocr.read_batch([c for c, _ in samples])
    got = [r.text for r in results]
    truth = [t for _, t in samples]
    ok = sum(g == t for g, t in zip(got, truth, strict=True))
    assert ok >= 18, list(zip(truth, got, strict=True))


def test_result_structure(ocr: PlateOCR) -> None:
    crop, _ = clean_renders(1)[0]
    r = ocr.read(crop)
    assert isinstance(r, OcrResult)
    assert set(r.text) <= set(PLATE_ALPHABET)
    assert len(r.char_confidences) == len(r.text)
    assert all(0.0 <= c <= 1.0 for c in r.char_confidences)
    assert r.confidence == pytest.approx(min(r.char_confidences))
    assert 1 <= len(r.candidates) <= ocr.top_k
    scores = [c.score for c in r.candidates]
    assert scores == sorted(scores, reverse=True)
    assert r.text in [c.text for c in r.candidates]
    assert regions.choose(r, "auto").text  # the region rules accept the result as is


def test_batch_equals_single_and_accepts_grey(ocr: PlateOCR) -> None:
    samples = [c for c, _ in clean_renders(4)]
    batch = ocr.read_batch(samples)
    single = [ocr.read(c) for c in samples]
    assert [r.text for r in batch] == [r.text for r in single]
    grey = samples[0].mean(axis=2).astype(np.uint8)
    assert isinstance(ocr.read(grey), OcrResult)
    assert ocr.read_batch([]) == []


def test_bad_input_raises(ocr: PlateOCR) -> None:
    with pytest.raises(VisionError):
        ocr.read(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(VisionError):
        ocr.read(np.zeros((1, 10, 3), np.uint8))
    with pytest.raises(VisionError):
        ocr.read(np.zeros((10, 10, 2), np.uint8))


@pytest.mark.skipif(not OCR_CROPS.is_dir(), reason="openalpr ocr-crops not available on this machine")
def test_openalpr_crops_floor(ocr: PlateOCR) -> None:
    import cv2

    with (OCR_CROPS / "groundtruth.csv").open() as f:
        labels = {r[0]: r[2].strip().upper() for r in csv.reader(f) if len(r) >= 3}
    names = VAL_LIST.read_text().split() if VAL_LIST.exists() else sorted(labels)
    names = [n for n in names if n in labels][:60]
    crops = [cv2.imread(str(OCR_CROPS / n)) for n in names]
    results = ocr.read_batch([c for c in crops if c is not None])
    ok = sum(regions.choose(r, "us").text == labels[n] for r, n in zip(results, names, strict=True))
    assert ok / len(names) >= 0.6, f"{ok}/{len(names)}"


def tiny_recognizer(path: Path, height: int, width: int, channels: int = 3) -> Path:
    """A real OpenVINO IR with the recognizer's interface (uint8 NHWC in, [N, 40, 37] softmax out)
    at another input size: its output depends on the mean brightness of the input, so the test
    also sees that the crop was fed whole."""
    import openvino as ov
    import openvino.opset13 as ops

    image = ops.parameter([-1, height, width, channels], ov.Type.u8, name="image")
    mean = ops.reduce_mean(ops.convert(image, ov.Type.f32), [1, 2, 3], keep_dims=False)  # [N]
    weights = np.zeros((1, 40, len(PLATE_ALPHABET) + 1), np.float32)
    weights[0, 10, 1 + PLATE_ALPHABET.index("7")] = 0.2  # bright input: "7" in frame 10, else blank
    blank = np.zeros_like(weights)
    blank[0, :, 0] = 10.0
    logits = ops.add(ops.multiply(ops.reshape(mean, [-1, 1, 1], special_zero=False), weights), blank)
    model = ov.Model([ops.softmax(logits, 2)], [image], "tiny")
    ov.save_model(model, str(path))
    return path


def test_runs_a_recognizer_at_its_own_input_size(tmp_path: Path) -> None:
    ocr = PlateOCR(tiny_recognizer(tmp_path / "tiny.xml", 48, 192))
    assert ocr.input_size == (48, 192)
    bright, dark = np.full((30, 90, 3), 250, np.uint8), np.full((300, 900, 3), 1, np.uint8)
    reads = ocr.read_batch([bright, dark])
    assert [r.text for r in reads] == ["7", ""]


def test_rejects_a_recognizer_without_three_channels(tmp_path: Path) -> None:
    with pytest.raises(VisionError, match="3 channels"):
        PlateOCR(tiny_recognizer(tmp_path / "grey.xml", 64, 160, channels=1))
