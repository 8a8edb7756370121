"""The public recognition API: an image in, the plates read in it out.

`recognize(image)` is the whole stack for one image (API uploads, the accuracy bench):
decode/validate -> detect (LATENCY, weak boxes too) -> OCR top-k of three crops per plate, fused
-> for plates still unsure, re-detect zoomed in and read three more crops -> pick by region rules
-> keep weak boxes only if they read as a confident plate -> if no plate was found, the same on
the detector's boxes in half-size tiles (`views.tiles`), seen at twice the scale. The extra crops,
the zoomed re-detection and the tiles (`views.py`) are the "thorough" reading; camera frames get
one crop per plate unless `vision.thorough` is `always`.
`Recognizer.recognize_async(frame)` and `recognize_stream(frames)` are the same for camera
streams: the detector runs compiled for THROUGHPUT behind an `AsyncInferQueue`, and the CPU work
(decoding, letterboxing, cropping, the OCR call) runs in worker threads, so the event loop that
also serves Kafka and websockets is never blocked by inference.

The plate OCR and the region rules are another engineer's modules (`ocr.py`, `regions.py`);
this module depends only on the small `PlateReader` interface below, so either side can be
swapped (a different OCR, a test double) without touching the other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from platewatch.engine.config import VisionConfig
from platewatch.engine.config.choices import REGIONS, THOROUGH

from .boxes import iou
from .detector import DetectorStream, PlateDetector
from .image import as_image
from .model_files import OCR_MODEL
from .runtime import Runtime, get_runtime
from .stacked import FrameReader, needs_look, read_stacked
from .stream_reading import MAX_LENGTH, StreamReading
from .types import Box, Detection, Image, Observation, OcrResult, VisionError
from .views import VIEWS, BoxRefiner, fuse_views, tiles
from .zoomed_search import ZoomedSearch

#: Crops for the OCR are the detector's (tightened) box grown by these factors about its centre,
#: i.e. the model's own loose box, which the OCR was trained on (label boxes grown 0.97-1.35x
#: wide, 1.0-1.7x tall). Measured on openalpr us/eu/br (exact reads): 1.0x1.0 gives 54/58/80 %,
#: 1.08x1.2 71/91/93 %, 1.14x1.4 74/94/95 %, 1.2x1.6 68/96/92 %, 1.3x1.8 60/92/76 %.
CROP_GROW: Final = (1.14, 1.4)
#: A thorough reading this confident (weakest character) skips the zoomed re-detection.
SURE_CONFIDENCE: Final = 0.9
#: Thorough reading also reads the detector's boxes scoring from WEAK_SCORE up to its threshold (at
#: most MAX_WEAK, best first) and keeps those reading this confidently. Measured on the openalpr
#: sets: 3 of the 5 US plates the detector misses at its threshold score 0.019-0.11 and read at
#: 0.95-1.0; the weak boxes kept elsewhere were 1 unlabelled plate, 1 plate cut by the frame and 1
#: company name on a van (MIKROS read as IKR0S3S).
WEAK_SCORE: Final = 0.01
MAX_WEAK: Final = 4
WEAK_MIN_CONFIDENCE: Final = 0.9
#: An image in which thorough reading found nothing is searched again in `views.tiles` (twice the
#: detector's scale); the best MAX_TILE_BOXES boxes from WEAK_SCORE up are read and kept on the same
#: terms as weak boxes. Measured: a plate seen through a trailer's mesh gate scored below 0.01 in the
#: full frame at every input size up to 1280 and 0.033 in one tile, where it read at 0.99. Images with
#: no plate pay for it (nine detector runs, about 200 ms on 2 cores); images with one never do.
MAX_TILE_BOXES: Final = 6
#: Images smaller than this (either side) are not tiled: the full frame is already seen at full size.
MIN_TILED_SIDE: Final = 320
#: Smallest crop handed to the OCR; a sliver at the frame edge cannot hold a legible plate.
MIN_CROP: Final = (8, 4)

ImageInput = Image | bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Analysis:
    """One image's way through the pipeline: the decoded frame, every detection, the reads."""

    frame: Image
    detections: list[Detection]
    reads: list[Observation]


class PlateReader(Protocol):
    """What the pipeline needs from a plate OCR: top-k readings for a batch of BGR crops."""

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]: ...


RegionChooser = Callable[[OcrResult, str], OcrResult]


def crop_box(frame: Image, box: Box, grow: tuple[float, float] = CROP_GROW) -> Image:
    """The OCR crop around a plate box: a view into the frame (no copy), clipped to it."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    half_w, half_h = box.w * grow[0] / 2, box.h * grow[1] / 2
    height, width = frame.shape[:2]
    x0, x1 = max(0, round(cx - half_w)), min(width, round(cx + half_w))
    y0, y1 = max(0, round(cy - half_h)), min(height, round(cy + half_h))
    return frame[y0:y1, x0:x1]


def _default_reader(runtime: Runtime) -> PlateReader:
    """The project's plate OCR, compiled on the same `Core`, device and precision as the detector."""
    from .ocr import PlateOCR  # imported late: the detector works (and is tested) without it

    try:
        path = runtime.model_file(OCR_MODEL)
    except VisionError:
        raise VisionError(
            f"the plate OCR model ({OCR_MODEL}) is not installed; train and export it "
            "(models/README.md) or pass a reader to Recognizer"
        ) from None
    reader: PlateReader = PlateOCR(
        path, runtime.device, core=runtime.core, inference_precision=runtime.inference_precision
    )
    return reader


def _default_chooser() -> RegionChooser:
    from .regions import choose

    return choose


def _check_region(region: str) -> str:
    if region not in REGIONS:
        raise VisionError(f"unknown plate region {region!r}; choose one of {', '.join(REGIONS)}")
    return region


def _check_thorough(thorough: str) -> str:
    if thorough not in THOROUGH:
        raise VisionError(f"unknown thorough setting {thorough!r}; choose one of {', '.join(THOROUGH)}")
    return thorough


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


class Recognizer:
    """Detector + OCR + region rules, compiled once and reused for every image.

    Thread-safe (detections use a request per call; the OCR serialises its own). The streaming
    detector is compiled on first use of `recognize_async`, so single-image users never pay for it.
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        region: str | None = None,
        reader: PlateReader | None = None,
        chooser: RegionChooser | None = None,
        detector: PlateDetector | None = None,
        crop_grow: tuple[float, float] = CROP_GROW,
        thorough: str | None = None,
        two_rows: bool = True,
        zoom_search: bool | None = None,
    ) -> None:
        self.runtime = runtime or get_runtime()
        self.crop_grow = crop_grow
        defaults = VisionConfig()
        self.region = _check_region(region or defaults.region)
        #: "single": zoomed re-detection and three crops for single images only; "always": for
        #: camera frames too; "never": one crop of the full-frame box everywhere (fastest).
        self.thorough = _check_thorough(thorough or defaults.thorough)
        #: Thorough reading also reads unsure or short readings as two-row plates (`stacked.py`).
        self.two_rows = two_rows
        self.detector = detector or PlateDetector(self.runtime)
        self.reader = reader or _default_reader(self.runtime)
        self.chooser = chooser or _default_chooser()
        self._stream: DetectorStream | None = None
        self._stream_lock = threading.Lock()
        self._refiner: BoxRefiner | None = None
        #: Camera frames in which nothing was read get a closer look at one region (`zoomed_search.py`).
        self.zoomed = (
            ZoomedSearch(self._read_thorough, WEAK_SCORE, WEAK_MIN_CONFIDENCE)
            if (defaults.zoom_search if zoom_search is None else zoom_search)
            else None
        )

    def refiner(self) -> BoxRefiner:
        """The zoomed re-detector, compiled on first use (streams on the fast path never need it)."""
        with self._stream_lock:
            if self._refiner is None:
                self._refiner = BoxRefiner(self.runtime)
            return self._refiner

    def read_plates(
        self,
        frame: Image,
        detections: Sequence[Detection],
        region: str | None = None,
        timings: dict[str, float] | None = None,
        thorough: bool = False,
    ) -> list[Observation]:
        """OCR every detection (one batch) and apply the region rules.

        `thorough` reads each plate from three crops (`views.VIEWS`) and, for the plates whose
        reading is still unsure, re-detects the plate zoomed in and adds three crops of that box
        (`views.py`). `timings` (decode and detect ms so far) is completed with ``ocr`` (and
        ``refine`` when a plate needed it) and given to each read.
        """
        timings = dict(timings or {})
        region = _check_region(region) if region else self.region
        start = time.perf_counter()
        views = VIEWS if thorough else (self.crop_grow,)
        readings = self._read_views(frame, [d.box for d in detections], views)
        plates = list(zip(detections, readings, strict=True))
        fused = [fuse_views(results) for _, results in plates]
        chosen = [(d, self.chooser(f, region)) for (d, _), f in zip(plates, fused, strict=True)]
        timings["ocr"] = _ms(start)
        if thorough:
            unsure = [i for i, f in enumerate(fused) if not self._sure(f, chosen[i][1])]
            if unsure:
                start = time.perf_counter()
                refined = self.refiner().refine_all(frame, [detections[i] for i in unsure])
                timings["refine"] = _ms(start)
                start = time.perf_counter()
                changed = [(i, r) for i, r in zip(unsure, refined, strict=True) if r.box != detections[i].box]
                more = self._read_views(frame, [r.box for _, r in changed], views)
                for (i, detection), extra in zip(changed, more, strict=True):
                    # The read carries the refined box (the tighter one), read from all six crops.
                    results = plates[i][1] + extra
                    chosen[i] = (detection, self.chooser(fuse_views(results), region))
                timings["ocr"] += _ms(start)
            if self.two_rows:
                self._read_rows(frame, chosen, region)
        reads = []
        for detection, ocr in chosen:
            if not ocr.text:  # nothing legible: a false detection or an unreadable plate
                continue
            reads.append(Observation.of(detection, ocr, region, timings))
        return reads

    def _read_rows(self, frame: Image, chosen: list[tuple[Detection, OcrResult]], region: str) -> None:
        """Unsure or short readings read again as two-row plates (`stacked.py`), in place where
        that reads better; a reader without CTC probabilities (a stand-in) is left alone."""
        reader = self.reader
        if not isinstance(reader, FrameReader):
            return
        for i, (detection, ocr) in enumerate(chosen):
            if not needs_look(ocr):
                continue
            crop = crop_box(frame, detection.box, self.crop_grow)
            longest = MAX_LENGTH.get(region, MAX_LENGTH["auto"])
            two = read_stacked(reader, crop, ocr, lambda r: self.chooser(r, region), longest)
            if two is not ocr:
                chosen[i] = (detection, two)

    def _read_views(
        self, frame: Image, boxes: Sequence[Box], views: Sequence[tuple[float, float]]
    ) -> list[list[OcrResult]]:
        """The OCR's readings of each box's crops (one batch for all), one list per box.

        A crop too small to hold a plate (a sliver at the frame's edge) is left out; a box with no
        usable crop gets an empty list, and fuses to an empty reading.
        """
        crops = [[crop_box(frame, box, grow) for grow in views] for box in boxes]
        crops = [[c for c in cs if c.shape[1] >= MIN_CROP[0] and c.shape[0] >= MIN_CROP[1]] for cs in crops]
        flat = [c for cs in crops for c in cs]
        results = iter(self.reader.read_batch(flat) if flat else [])
        return [[next(results) for _ in cs] for cs in crops]

    @staticmethod
    def _sure(fused: OcrResult, chosen: OcrResult) -> bool:
        """Whether a plate's reading needs no second look: every character confident and the
        region rules agreeing with the OCR's own best reading (measured on the openalpr sets: the
        zoomed re-detection then changed no read, and only one plate in ten needed it)."""
        return chosen.confidence >= SURE_CONFIDENCE and chosen.text == fused.text

    def analyse(self, image: ImageInput, region: str | None = None) -> Analysis:
        """`recognize` keeping the intermediate results (the accuracy bench scores detections too).

        Thorough reading also looks at the detector's weak boxes (score `WEAK_SCORE` up to its
        threshold, at most `MAX_WEAK`): a plate at the frame's edge or half in shadow often scores
        there. Such a box is kept only if it reads as a confident plate (`WEAK_MIN_CONFIDENCE`), so
        the road and the car body, which read as nothing or as low-confidence noise, stay out.
        """
        start = time.perf_counter()
        frame = as_image(image)
        decode_ms = _ms(start)
        thorough = self.thorough != "never"
        start = time.perf_counter()
        found = self.detector.detect(frame, WEAK_SCORE if thorough else None)
        strong = [d for d in found if d.score >= self.detector.score_threshold]
        weak = [d for d in found if d.score < self.detector.score_threshold][:MAX_WEAK]
        timings = {"decode": decode_ms, "detect": _ms(start)}
        reads = self.read_plates(frame, strong, region, timings, thorough)
        detections = list(strong)
        if weak:
            self._keep_confident(frame, weak, region, timings, reads, detections)
        if thorough and not reads and min(frame.shape[:2]) >= MIN_TILED_SIDE:
            start = time.perf_counter()
            boxes = self._tile_boxes(frame)
            timings["tiles"] = _ms(start)
            self._keep_confident(frame, boxes, region, timings, reads, detections)
        return Analysis(frame, detections, reads)

    def _keep_confident(
        self,
        frame: Image,
        boxes: Sequence[Detection],
        region: str | None,
        timings: dict[str, float],
        reads: list[Observation],
        detections: list[Detection],
    ) -> None:
        """Read doubtful boxes; add to `reads` those reading as a confident plate not yet read."""
        for read in self.read_plates(frame, boxes, region, timings, thorough=True):
            if read.confidence >= WEAK_MIN_CONFIDENCE and not any(iou(read.box, r.box) > 0.3 for r in reads):
                reads.append(read)
                detections.append(Detection(read.box, read.detection_score))

    def _tile_boxes(self, frame: Image) -> list[Detection]:
        """The detector's best boxes over `views.tiles` of the frame, in frame coordinates."""
        height, width = frame.shape[:2]
        found: list[Detection] = []
        for x0, y0, x1, y1 in tiles(width, height):
            for d in self.detector.detect(frame[y0:y1, x0:x1], WEAK_SCORE):
                found.append(Detection(Box(d.box.x + x0, d.box.y + y0, d.box.w, d.box.h), d.score))
        kept: list[Detection] = []
        for d in sorted(found, key=lambda d: d.score, reverse=True):  # the same plate in two tiles
            if not any(iou(d.box, k.box) > 0.3 for k in kept):
                kept.append(d)
            if len(kept) == MAX_TILE_BOXES:
                break
        return kept

    def _read_thorough(
        self, frame: Image, boxes: Sequence[Detection], region: str, timings: dict[str, float]
    ) -> list[Observation]:
        """`read_plates` the thorough way: how the closer look reads the boxes it found."""
        return self.read_plates(frame, boxes, region, timings, thorough=True)

    def reread(self, frame: Image, box: Box, region: str | None = None) -> Observation | None:
        """The thorough reading of one plate box of a camera frame (three crops, and the zoomed
        re-detection when unsure): how a pass's best frames are read when it closes
        (`track.confirm`)."""
        reads = self.read_plates(frame, [Detection(box, 1.0)], region, {}, thorough=True)
        return reads[0] if reads else None

    def recognize(self, image: ImageInput, region: str | None = None) -> list[Observation]:
        """Plates read in one image (BGR array or JPEG/PNG bytes), best detection first."""
        return self.analyse(image, region).reads

    def stream(self) -> DetectorStream:
        with self._stream_lock:
            if self._stream is None:
                self._stream = self.detector.stream()
            return self._stream

    async def recognize_async(self, image: ImageInput, region: str | None = None) -> list[Observation]:
        """`recognize` for asyncio code: concurrent calls share the THROUGHPUT detector queue."""
        stream = self._stream
        if stream is None:
            stream = await asyncio.to_thread(self.stream)  # compiling takes a while: not on the loop
        start = time.perf_counter()
        frame = await asyncio.to_thread(as_image, image)
        decode_ms = _ms(start)
        start = time.perf_counter()
        if self.thorough == "single" and self.zoomed is not None:
            region = _check_region(region) if region else self.region
            timings = {"decode": decode_ms}
            return await self.zoomed.read(stream, self.stream_reading(), frame, region, timings)
        if self.thorough == "single":  # camera frames: thorough only where a plate is unsure
            found = await stream.detect_async(frame, WEAK_SCORE)
            timings = {"decode": decode_ms, "detect": _ms(start)}
            reading = self.stream_reading()
            region = _check_region(region) if region else self.region
            return await asyncio.to_thread(reading.read_frame, frame, found, region, timings)
        detections = await stream.detect_async(frame)
        timings = {"decode": decode_ms, "detect": _ms(start)}
        thorough = self.thorough == "always"
        return await asyncio.to_thread(self.read_plates, frame, detections, region, timings, thorough)

    def stream_reading(self) -> StreamReading:
        """How camera frames are read under `thorough: single` (`stream_reading.py`)."""
        return StreamReading(
            read_views=self._read_views,
            choose=self.chooser,
            sure=self._sure,
            score_threshold=self.detector.score_threshold,
            weak_min_confidence=WEAK_MIN_CONFIDENCE,
            crop_grow=self.crop_grow,
        )

    async def recognize_stream(
        self, frames: AsyncIterable[ImageInput], region: str | None = None, in_flight: int | None = None
    ) -> AsyncIterator[list[Observation]]:
        """Reads for each frame of an async stream, in order, with several frames in flight.

        Bad frames raise `VisionError` out of the iterator at their position; a caller that
        wants to skip them should validate upstream or catch and restart.
        """
        limit = in_flight or (await asyncio.to_thread(self.stream)).jobs + 1
        pending: asyncio.Queue[asyncio.Task[list[Observation]] | None] = asyncio.Queue(maxsize=limit)

        async def feed() -> None:
            try:
                async for frame in frames:
                    await pending.put(asyncio.create_task(self.recognize_async(frame, region)))
            finally:
                await pending.put(None)

        feeder = asyncio.create_task(feed())
        try:
            while (task := await pending.get()) is not None:
                yield await task
            await feeder
        finally:
            feeder.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()


_defaults: dict[tuple[VisionConfig, Path | None], Recognizer] = {}
_default_lock = threading.Lock()


def default_recognizer(vision: VisionConfig | None = None, data_dir: Path | None = None) -> Recognizer:
    """The process's shared recognizer for the vision settings it is handed, built on first use.

    Vision never reads the configuration itself: a worker or a command hands it `settings.vision`
    (and the data directory that holds the compiled-model cache). Without them it runs on the
    section's defaults, which is what the library helpers below do.
    """
    vision = vision or VisionConfig()
    key = (vision, data_dir)
    with _default_lock:
        recognizer = _defaults.get(key)
        if recognizer is None:
            runtime = get_runtime(vision, data_dir)
            recognizer = _defaults[key] = Recognizer(
                runtime, region=vision.region, thorough=vision.thorough, zoom_search=vision.zoom_search
            )
        return recognizer


def recognize(image: ImageInput, region: str | None = None) -> list[Observation]:
    """Read the plates in one image: a BGR uint8 array, or JPEG/PNG bytes.

    Uses the default vision settings (`VisionConfig()`); a program with its own builds a
    `Recognizer` or calls `default_recognizer(settings.vision, settings.data_dir)`.
    Raises `VisionError` for input that is not a usable image (empty, corrupt, truncated, of
    the wrong dtype/shape, too large) and when the models are missing.
    """
    return default_recognizer().recognize(image, region)


async def recognize_stream(
    frames: AsyncIterable[ImageInput], region: str | None = None
) -> AsyncIterator[list[Observation]]:
    """`Recognizer.recognize_stream` on the shared recognizer of the default vision settings."""
    async for reads in default_recognizer().recognize_stream(frames, region):
        yield reads


__all__ = [
    "CROP_GROW",
    "Analysis",
    "PlateReader",
    "Recognizer",
    "VisionError",
    "crop_box",
    "default_recognizer",
    "recognize",
    "recognize_stream",
]
