"""The public `recognize()` pipeline: detector + plate OCR + region rules on rendered plates.

The reading tests need the trained OCR (`models/plate_ocr.xml`) and are skipped, saying so, when
it is not installed. The plumbing (crops, timings, bad input, the async stream) is checked with a
stand-in OCR so it runs on any clone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import cv2
import numpy as np
import pytest

from platewatch.engine.bench.scenes import road, scene
from platewatch.engine.vision.detector import PlateDetector
from platewatch.engine.vision.image import Frame
from platewatch.engine.vision.pipeline import Recognizer
from platewatch.engine.vision.runtime import Runtime, has_model
from platewatch.engine.vision.types import Candidate, OcrResult, PlateRead, VisionError

needs_ocr = pytest.mark.skipif(
    not has_model("plate_ocr.xml"),
    reason="models/plate_ocr.xml is not installed yet (the plate OCR is trained and exported separately)",
)

PLATES = [
    # text, style, width, centre: three cars in one 1080p frame, near to far
    ("7ABC123", "us", 200, (400, 700)),
    ("ABC1234", "br_old", 140, (1500, 650)),
    ("KM482PL", "eu", 120, (960, 280)),
]


class EchoOCR:
    """Stand-in OCR: reads every crop as its size, so tests can see which crops it was given."""

    def __init__(self) -> None:
        self.crops: list[Frame] = []

    def read_batch(self, crops: Sequence[Frame]) -> list[OcrResult]:
        self.crops.extend(crops)
        return [
            OcrResult(
                f"W{c.shape[1]}H{c.shape[0]}",
                0.9,
                (0.9,) * 4,
                (Candidate(f"W{c.shape[1]}H{c.shape[0]}", 0.9),),
            )
            for c in crops
        ]


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime("CPU")


@pytest.fixture(scope="module")
def detector(runtime: Runtime) -> PlateDetector:
    """Compiled once for the module: the tests differ in OCR and region, not in detector."""
    return PlateDetector(runtime)


@pytest.fixture(scope="module")
def recognizer(runtime: Runtime, detector: PlateDetector) -> Recognizer:
    """The real pipeline (trained OCR, region rules); the region is chosen per call."""
    return Recognizer(runtime, region="auto", detector=detector)


@pytest.fixture(scope="module")
def frame() -> tuple[Frame, list[str]]:
    image, placed = scene(PLATES, seed=6)  # detector scores 0.67, 0.47, 0.55
    return image, [p.text for p in placed]


def _identity(result: OcrResult, region: str) -> OcrResult:
    return result


def test_pipeline_plumbing_with_stand_in_ocr(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Frame, list[str]]
) -> None:
    ocr = EchoOCR()
    recognizer = Recognizer(runtime, region="auto", reader=ocr, chooser=_identity, detector=detector)
    _, jpeg = cv2.imencode(".jpg", frame[0])
    reads = recognizer.recognize(jpeg.tobytes())
    assert len(reads) == len(PLATES) == len(ocr.crops)
    for read, crop in zip(reads, ocr.crops, strict=True):
        assert read.text == f"W{crop.shape[1]}H{crop.shape[0]}"
        # The crop is the plate box grown 1.14 x 1.4 (what the OCR was trained on).
        assert crop.shape[1] == pytest.approx(read.box.w * 1.14, abs=2)
        assert crop.shape[0] == pytest.approx(read.box.h * 1.4, abs=2)
        assert set(read.timings_ms) == {"decode", "detect", "ocr"}
        assert all(v >= 0 for v in read.timings_ms.values())
    assert recognizer.recognize(road()) == []


@pytest.mark.parametrize(
    "image",
    [b"", b"\xff\xd8\xff\xe0garbage", np.zeros((10, 10, 3), np.float32), np.zeros((0, 5, 3), np.uint8)],
    ids=["empty", "corrupt", "float", "zero"],
)
def test_bad_input_is_a_vision_error(runtime: Runtime, detector: PlateDetector, image: object) -> None:
    recognizer = Recognizer(runtime, region="us", reader=EchoOCR(), chooser=_identity, detector=detector)
    with pytest.raises(VisionError):
        recognizer.recognize(image)  # type: ignore[arg-type]


def test_unknown_region_is_a_vision_error(runtime: Runtime, detector: PlateDetector) -> None:
    with pytest.raises(VisionError, match="region"):
        Recognizer(runtime, region="mars", reader=EchoOCR(), chooser=_identity, detector=detector)
    recognizer = Recognizer(runtime, region="us", reader=EchoOCR(), chooser=_identity, detector=detector)
    with pytest.raises(VisionError, match="region"):
        recognizer.recognize(road(), region="mars")


def test_async_stream_keeps_order(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Frame, list[str]]
) -> None:
    recognizer = Recognizer(runtime, region="auto", reader=EchoOCR(), chooser=_identity, detector=detector)
    frames = [frame[0], road(), frame[0]]

    async def source() -> AsyncIterator[Frame]:
        for f in frames:
            yield f

    async def collect() -> list[list[PlateRead]]:
        return [reads async for reads in recognizer.recognize_stream(source())]

    out = asyncio.run(collect())
    assert [len(r) for r in out] == [len(PLATES), 0, len(PLATES)]
    assert [r.text for r in out[0]] == [r.text for r in recognizer.recognize(frame[0])]


@needs_ocr
def test_recognize_reads_rendered_plates(recognizer: Recognizer, frame: tuple[Frame, list[str]]) -> None:
    reads = recognizer.recognize(frame[0])
    assert sorted(r.text for r in reads) == sorted(frame[1])
    for read in reads:
        assert 0 < read.confidence <= 1 and read.candidates and read.candidates[0].score > 0


@needs_ocr
@pytest.mark.parametrize(
    ("text", "style", "region", "seed"),
    [
        ("8XYZ345", "us", "us", 5),
        ("GH123JK", "eu", "eu", 2),
        ("BRA2E19", "mercosur", "br", 6),
        ("QWE4567", "br_old", "br", 5),
    ],
)
def test_recognize_per_region(recognizer: Recognizer, text: str, style: str, region: str, seed: int) -> None:
    image, _ = scene([(text, style, 220, (960, 560))], seed=seed)
    reads = recognizer.recognize(image, region=region)
    assert [r.text for r in reads] == [text]
    assert reads[0].region == region


@needs_ocr
def test_module_level_recognize_accepts_png_bytes() -> None:
    from platewatch.engine.vision import recognize

    image, _ = scene([("5LMN678", "us", 240, (960, 560))], seed=4)
    _, png = cv2.imencode(".png", image)
    assert [r.text for r in recognize(png.tobytes(), region="us")] == ["5LMN678"]
