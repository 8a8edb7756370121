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
from platewatch.engine.vision.boxes import iou
from platewatch.engine.vision.detector import PlateDetector
from platewatch.engine.vision.pipeline import Recognizer
from platewatch.engine.vision.runtime import Runtime, has_model
from platewatch.engine.vision.types import (
    Box,
    Candidate,
    Detection,
    Image,
    Observation,
    OcrResult,
    VisionError,
)
from platewatch.engine.vision.views import VIEWS, BoxRefiner

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

    def __init__(self, confidence: float = 0.9) -> None:
        self.crops: list[Image] = []
        self.confidence = confidence

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]:
        self.crops.extend(crops)
        p = self.confidence
        return [
            OcrResult(
                f"W{c.shape[1]}H{c.shape[0]}", p, (p,) * 4, (Candidate(f"W{c.shape[1]}H{c.shape[0]}", p),)
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
def frame() -> tuple[Image, list[str]]:
    image, placed = scene(PLATES, seed=6)  # detector scores 0.67, 0.47, 0.55
    return image, [p.text for p in placed]


def _identity(result: OcrResult, region: str) -> OcrResult:
    return result


def test_pipeline_plumbing_with_stand_in_ocr(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Image, list[str]]
) -> None:
    ocr = EchoOCR()
    recognizer = Recognizer(
        runtime, region="auto", reader=ocr, chooser=_identity, detector=detector, thorough="never"
    )
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


def _views_of(box: Box, crops: list[Image]) -> bool:
    return all(
        abs(c.shape[1] - box.w * gw) <= 2 and abs(c.shape[0] - box.h * gh) <= 2
        for (gw, gh), c in zip(VIEWS, crops, strict=True)
    )


def test_thorough_reading_of_sure_plates_is_three_crops(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Image, list[str]]
) -> None:
    ocr = EchoOCR(confidence=0.95)
    recognizer = Recognizer(runtime, region="auto", reader=ocr, chooser=_identity, detector=detector)
    assert recognizer.thorough == "single"  # the default: single images get the thorough reading
    reads = recognizer.recognize(frame[0])
    assert len(reads) == len(PLATES)
    assert len(ocr.crops) == len(PLATES) * len(VIEWS)
    for n, read in enumerate(reads):
        assert _views_of(read.box, ocr.crops[n * len(VIEWS) : (n + 1) * len(VIEWS)])
        assert set(read.timings_ms) == {"decode", "detect", "ocr"}  # no second look needed


def test_thorough_reading_of_unsure_plates_refines_their_boxes(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Image, list[str]]
) -> None:
    ocr = EchoOCR(confidence=0.5)
    recognizer = Recognizer(
        runtime, region="auto", reader=ocr, chooser=_identity, detector=detector, two_rows=False
    )
    reads = recognizer.recognize(frame[0])
    first = detector.detect(frame[0])
    assert len(reads) == len(PLATES) == len(first)
    # Three crops of the detector's box, then three of the refined box where it differs.
    assert len(ocr.crops) % len(VIEWS) == 0
    assert len(PLATES) * len(VIEWS) < len(ocr.crops) <= 2 * len(PLATES) * len(VIEWS)
    groups = [ocr.crops[i : i + len(VIEWS)] for i in range(0, len(ocr.crops), len(VIEWS))]
    for read, detection in zip(reads, first, strict=True):
        assert _views_of(detection.box, groups[first.index(detection)])
        assert any(_views_of(read.box, g) for g in groups)  # the read carries the box it was read from
        assert {"decode", "detect", "refine", "ocr"} == set(read.timings_ms)
    assert any(read.box != detection.box for read, detection in zip(reads, first, strict=True))


def test_stream_path_follows_the_thorough_setting(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Image, list[str]]
) -> None:
    # "single": camera frames read unsure plates (and weak boxes) from three crops, see
    # test_stream_reading.py; "never" one crop a plate; "always" the single-photo reading.
    for setting, per_plate in (("never", (1,)), ("always", (len(VIEWS), 2 * len(VIEWS)))):
        ocr = EchoOCR(confidence=0.5)
        recognizer = Recognizer(
            runtime,
            region="auto",
            reader=ocr,
            chooser=_identity,
            detector=detector,
            thorough=setting,
            two_rows=False,  # the rows of unsure plates: test_stacked.py and below
        )
        reads = asyncio.run(recognizer.recognize_async(frame[0]))
        assert len(reads) == len(PLATES)
        assert min(per_plate) * len(PLATES) <= len(ocr.crops) <= max(per_plate) * len(PLATES), setting
    ocr = EchoOCR(confidence=0.5)
    recognizer = Recognizer(runtime, region="auto", reader=ocr, chooser=_identity, detector=detector)
    reads = asyncio.run(recognizer.recognize_async(frame[0]))
    assert len(reads) == len(PLATES)  # weak boxes reading at 0.5 are not kept
    assert len(ocr.crops) >= len(VIEWS) * len(PLATES)  # every unsure plate from three crops
    with pytest.raises(VisionError, match="thorough"):
        Recognizer(runtime, region="us", reader=EchoOCR(), detector=detector, thorough="sometimes")


class EchoFrames(EchoOCR):
    """`EchoOCR` that also gives CTC probabilities (characters in the middle frames), as the
    two-row reading needs (`stacked.FrameReader`); the crops it gets them for are `row_crops`."""

    def __init__(self, confidence: float = 0.9) -> None:
        super().__init__(confidence)
        self.row_crops: list[Image] = []

    def probabilities(self, crops: Sequence[Image]) -> np.ndarray:
        self.row_crops.extend(crops)
        probs = np.zeros((len(crops), 40, 37), np.float32)
        probs[:, :, 0] = 1.0
        probs[:, 10:30, 0], probs[:, 10:30, 5] = 0.0, 1.0
        return probs

    def decode(self, probs: np.ndarray) -> OcrResult:
        return OcrResult("A", 0.5, (0.5,), (Candidate("A", 0.5),))


def test_unsure_plates_showing_two_rows_are_read_reflowed_and_row_by_row(
    runtime: Runtime, detector: PlateDetector
) -> None:
    """The thorough reading cuts an unsure plate showing two text bands at their gap: both rows read
    (the plate's crop cut in two), then one more crop, the rows side by side (which reading wins:
    test_stacked.py). A stand-in reader without CTC probabilities leaves the rows out."""
    image, _ = scene([("6Z173TC", "us_stacked", 260, (900, 560))], seed=0)
    for two_rows in (False, True):
        ocr = EchoFrames(confidence=0.5)
        recognizer = Recognizer(
            runtime, region="auto", reader=ocr, chooser=_identity, detector=detector, two_rows=two_rows
        )
        recognizer.read_plates(image, detector.detect(image)[:1], thorough=True)
        if not two_rows:
            views = ocr.crops
    rows, lines = ocr.row_crops, ocr.crops[len(views) :]
    assert len(rows) in (2, 4) and len(lines) == len(rows) // 2
    for top, bottom in zip(rows[::2], rows[1::2], strict=True):
        assert top.shape[1] == bottom.shape[1]  # one crop cut in two rows that overlap a little
        whole = next(c for c in views if abs(c.shape[1] - top.shape[1]) <= 2)
        assert max(top.shape[0], bottom.shape[0]) < whole.shape[0] < top.shape[0] + bottom.shape[0]
    for line in lines:  # the rows side by side: a line wider for its height than the plate
        assert line.shape[1] / line.shape[0] > rows[0].shape[1] / (rows[0].shape[0] + rows[1].shape[0])
    plain = EchoOCR(confidence=0.5)
    Recognizer(runtime, region="auto", reader=plain, chooser=_identity, detector=detector).read_plates(
        image, detector.detect(image)[:1], thorough=True
    )
    assert len(plain.crops) == len(views)


def test_refiner_tightens_a_loose_box(runtime: Runtime) -> None:
    """A box twice the plate's width (bumper included) comes back close to the plate."""
    image, placed = scene([("6LSU216", "us", 90, (700, 500))], seed=3)
    plate = placed[0].box
    loose = Box(plate.x - plate.w // 2, plate.y - 2, plate.w * 2, plate.h + 4)
    refined = BoxRefiner(runtime).refine(image, Detection(loose, 0.3))
    assert iou(loose, plate) < 0.55
    assert iou(refined.box, plate) > 0.7
    assert refined.score == 0.3
    # Nothing plate-like near the box: the box is kept as it was.
    empty = Detection(Box(100, 100, 80, 30), 0.2)
    assert BoxRefiner(runtime).refine(road(), empty) == empty


def test_async_stream_keeps_order(
    runtime: Runtime, detector: PlateDetector, frame: tuple[Image, list[str]]
) -> None:
    recognizer = Recognizer(
        runtime, region="auto", reader=EchoOCR(), chooser=_identity, detector=detector, thorough="never"
    )
    frames = [frame[0], road(), frame[0]]

    async def source() -> AsyncIterator[Image]:
        for f in frames:
            yield f

    async def collect() -> list[list[Observation]]:
        return [reads async for reads in recognizer.recognize_stream(source())]

    out = asyncio.run(collect())
    assert [len(r) for r in out] == [len(PLATES), 0, len(PLATES)]
    assert [r.text for r in out[0]] == [r.text for r in recognizer.recognize(frame[0])]


@needs_ocr
def test_recognize_reads_rendered_plates(recognizer: Recognizer, frame: tuple[Image, list[str]]) -> None:
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


@needs_ocr
def test_int8_models_read_rendered_plates(frame: tuple[Image, list[str]]) -> None:
    """`vision.precision: int8` loads the quantized files, and they still read the plates exactly."""
    runtime = Runtime("CPU", precision="int8")
    assert runtime.model_file("plate_det.xml").name == "plate_det_int8.xml"
    assert runtime.inference_precision is None  # the float layers left run at the device default
    recognizer = Recognizer(runtime, region="auto")
    assert recognizer.runtime.effective_precision(recognizer.detector.compiled).startswith("int8+")
    assert sorted(r.text for r in recognizer.recognize(frame[0])) == sorted(frame[1])


class StubDetector:
    """Fixed detections (strong and weak), for the pipeline's handling of weak boxes."""

    score_threshold = 0.15

    def __init__(self, detections: list[Detection]) -> None:
        self.detections = detections
        self.thresholds: list[float | None] = []

    def detect(self, frame: Image, score_threshold: float | None = None) -> list[Detection]:
        self.thresholds.append(score_threshold)
        floor = self.score_threshold if score_threshold is None else score_threshold
        return [d for d in self.detections if d.score >= floor]


class BrightnessOCR:
    """Reads bright crops as a confident plate and dark ones as unsure noise."""

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]:
        out = []
        for crop in crops:
            text, p = ("7ABC123", 0.97) if crop.mean() > 150 else ("XQ1", 0.5)
            out.append(OcrResult(text, p, (p,) * len(text), (Candidate(text, p),)))
        return out


def _stub_recognizer(runtime: Runtime, detector: object, thorough: str = "single") -> Recognizer:
    """The pipeline with a stand-in detector and the brightness OCR, region rules left out."""
    return Recognizer(
        runtime,
        region="us",
        reader=BrightnessOCR(),
        chooser=_identity,
        detector=detector,  # type: ignore[arg-type]
        thorough=thorough,
    )


def test_weak_boxes_are_kept_only_when_they_read_as_a_confident_plate(runtime: Runtime) -> None:
    image = np.full((720, 1280, 3), 40, np.uint8)
    image[100:140, 100:220] = 230  # strong box: bright
    image[400:440, 600:720] = 230  # weak, bright: a plate the detector barely saw
    image[600:640, 900:1020] = 90  # weak, dark: noise
    strong = Detection(Box(100, 100, 120, 40), 0.6)
    weak_plate = Detection(Box(600, 400, 120, 40), 0.05)
    weak_noise = Detection(Box(900, 600, 120, 40), 0.03)
    weak_twin = Detection(Box(104, 102, 118, 38), 0.02)  # the strong plate again
    detector = StubDetector([strong, weak_plate, weak_noise, weak_twin])
    recognizer = _stub_recognizer(runtime, detector)
    analysis = recognizer.analyse(image)
    assert detector.thresholds == [0.01]
    assert [(r.box, r.text) for r in analysis.reads] == [(strong.box, "7ABC123"), (weak_plate.box, "7ABC123")]
    assert [d.box for d in analysis.detections] == [strong.box, weak_plate.box]

    fast = _stub_recognizer(runtime, detector, thorough="never")
    assert [r.box for r in fast.recognize(image)] == [strong.box]  # one look: weak boxes are not read
    assert detector.thresholds[-1] is None


class PatchDetector:
    """Sees the bright patch only when shown a region smaller than the whole image (a tile), weakly."""

    score_threshold = 0.15

    def __init__(self, full_shape: tuple[int, ...]) -> None:
        self.full_shape = full_shape
        self.calls: list[tuple[int, ...]] = []

    def detect(self, frame: Image, score_threshold: float | None = None) -> list[Detection]:
        self.calls.append(frame.shape)
        ys, xs = np.nonzero(frame[:, :, 0] > 200)
        if frame.shape == self.full_shape or not len(xs):
            return []
        x0, y0 = int(xs.min()), int(ys.min())
        box = Box(x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)
        return [Detection(box, 0.04)] if box.w > 60 else []  # a plate cut by the tile's edge is no plate


def test_an_image_with_nothing_found_is_searched_again_in_tiles(runtime: Runtime) -> None:
    image = np.full((720, 1280, 3), 40, np.uint8)
    image[500:540, 900:1020] = 230  # a plate only a closer look finds
    detector = PatchDetector(image.shape)
    recognizer = _stub_recognizer(runtime, detector)
    analysis = recognizer.analyse(image)
    # once (it is whole in two tiles), in the frame's coordinates
    assert [(r.box, r.text) for r in analysis.reads] == [(Box(900, 500, 120, 40), "7ABC123")]
    assert len(detector.calls) == 1 + 9 and all(s[:2] == (360, 640) for s in detector.calls[1:])
    assert "tiles" in analysis.reads[0].timings_ms

    detector.calls.clear()
    fast = _stub_recognizer(runtime, detector, thorough="never")
    assert fast.recognize(image) == [] and len(detector.calls) == 1  # one look only

    detector.calls.clear()
    image[500:540:2, 900:1020] = 40  # found in a tile but reads as noise: not kept
    assert recognizer.recognize(image) == [] and len(detector.calls) == 10


@needs_ocr
def test_a_plate_too_small_for_the_full_frame_is_read_from_a_tile(recognizer: Recognizer) -> None:
    image, placed = scene([("7ABC123", "us", 90, (2500, 1400))], width=3840, height=2160, seed=4)
    truth = placed[0].box
    # What makes this case: at 640 px the detector sees the plate 15 px wide and finds nothing.
    assert not [d for d in recognizer.detector.detect(image, 0.01) if iou(d.box, truth) > 0.1]
    reads = recognizer.recognize(image, "us")
    assert [r.text for r in reads] == ["7ABC123"] and iou(reads[0].box, truth) > 0.3
