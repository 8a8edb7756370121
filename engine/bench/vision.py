"""`platewatch bench vision`: how fast recognition runs on this machine.

Why these four figures: a site is sized by frames per second per camera (`e2e_1080p_fps`, the
streaming path: THROUGHPUT hint, AsyncInferQueue, OCR in worker threads), an API upload by its
latency (`single_image_p50_ms`, the LATENCY path), and the two stages' own rates
(`detector_fps`, `ocr_per_s`) show which one to optimise. The frame is a synthetic 1080p road
with three cars (see `scenes.py`), so the bench runs on any install without a dataset.
`--precision f32|bf16` forces OpenVINO's inference precision, to compare CPUs with and without
bf16 (AMX / AVX512-BF16) support; without it the device picks its default.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from platewatch.engine.config import VisionConfig

from ..vision.detector import DetectorStream, PlateDetector
from ..vision.model_files import OCR_MODEL
from ..vision.pipeline import PlateReader, Recognizer, crop_box
from ..vision.runtime import Runtime, get_runtime, has_model
from ..vision.types import Image, VisionError
from .report import print_figures, write_json
from .scenes import PlacedPlate, scene

OCR_BATCH = 16
#: Share of `seconds` given to each measurement.
_SHARE = {"detector": 0.3, "ocr": 0.15, "e2e": 0.35, "single": 0.2}


def bench_frame() -> tuple[Image, list[PlacedPlate]]:
    """The 1080p synthetic frame: three cars, plates 200, 150 and 110 pixels wide."""
    return scene(
        [
            ("7ABC123", "us", 200, (400, 700)),
            ("KM482PL", "eu", 150, (1500, 650)),
            ("BRA2E19", "mercosur", 110, (960, 280)),
        ],
        seed=2,
    )


def _frames_until(frame: Image, deadline: float) -> Iterator[Image]:
    while time.perf_counter() < deadline:
        yield frame


def detector_fps(stream: DetectorStream, frame: Image, seconds: float) -> float:
    """Frames per second through letterbox + AsyncInferQueue + decode, `jobs` frames in flight."""
    start = time.perf_counter()
    count = sum(1 for _ in stream.detect_many(_frames_until(frame, start + seconds)))
    return count / (time.perf_counter() - start)


def ocr_per_s(reader: PlateReader, crops: list[Image], seconds: float) -> float:
    """Crops per second read in batches of OCR_BATCH."""
    batch = (crops * (OCR_BATCH // max(1, len(crops)) + 1))[:OCR_BATCH]
    reader.read_batch(batch)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        reader.read_batch(batch)
        count += len(batch)
    return count / (time.perf_counter() - start)


async def e2e_fps(recognizer: Recognizer, frame: Image, seconds: float) -> float:
    """Frames per second through `recognize_stream` (the camera path)."""

    async def frames(deadline: float) -> AsyncIterator[Image]:
        while time.perf_counter() < deadline:
            yield frame

    start = time.perf_counter()
    count = 0
    async for _ in recognizer.recognize_stream(frames(start + seconds)):
        count += 1
    return count / (time.perf_counter() - start)


def single_image_ms(
    recognizer: Recognizer | None, detector: PlateDetector, frame: Image, seconds: float
) -> float:
    """Median latency of one `recognize` (or detection alone without an OCR model)."""
    call = (lambda: recognizer.recognize(frame)) if recognizer else (lambda: detector.detect(frame))
    call()
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _recognizer(
    runtime: Runtime, detector: PlateDetector, thorough: str, console: Console
) -> Recognizer | None:
    if not has_model(OCR_MODEL):
        console.print(f"[yellow]models/{OCR_MODEL} is missing: OCR figures are skipped")
        return None
    try:
        return Recognizer(runtime, region="auto", detector=detector, thorough=thorough)
    except (ImportError, VisionError) as exc:
        console.print(f"[yellow]plate OCR unavailable ({exc}): OCR figures are skipped")
        return None


def run_vision(
    json_out: Path | None = None,
    seconds: float = 10,
    precision: str | None = None,
    device: str | None = None,
    console: Console | None = None,
    vision: VisionConfig | None = None,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Measure detector, OCR, end-to-end and single-image speed; `seconds` is the total budget.

    `precision` and `device` override those of `vision` (the command hands down `settings.vision`).
    """
    console = console or Console(stderr=True)
    forced = {"precision": precision, "device": device}
    vision = (vision or VisionConfig()).model_copy(update={k: v for k, v in forced.items() if v})
    runtime = get_runtime(vision, data_dir)
    frame, placed = bench_frame()
    detector = PlateDetector(runtime)
    recognizer = _recognizer(runtime, detector, vision.thorough, console)
    stream = recognizer.stream() if recognizer else detector.stream()
    with console.status("bench vision: detector (THROUGHPUT, AsyncInferQueue)"):
        stream.detector.detect(frame)  # warm-up
        det_fps = detector_fps(stream, frame, seconds * _SHARE["detector"])
    figures: dict[str, Any] = {
        "detector_fps": round(det_fps, 2),
        "ocr_per_s": None,
        "e2e_1080p_fps": None,
        "single_image_p50_ms": None,
        "device": runtime.device,
        "device_name": ", ".join(
            d.full_name for d in runtime.devices() if runtime.device in (d.name, "AUTO")
        ),
        "precision": runtime.effective_precision(detector.compiled),
        "requested_precision": precision or "default",
        "detector_jobs": stream.jobs,
        "plates_in_frame": len(placed),
        "plates_read": None,
    }
    if recognizer is not None:
        with console.status("bench vision: OCR (batched crops)"):
            crops = [crop_box(frame, p.box) for p in placed]
            figures["ocr_per_s"] = round(ocr_per_s(recognizer.reader, crops, seconds * _SHARE["ocr"]), 1)
        with console.status("bench vision: end to end (recognize_stream)"):
            figures["e2e_1080p_fps"] = round(
                asyncio.run(e2e_fps(recognizer, frame, seconds * _SHARE["e2e"])), 2
            )
        reads = {r.text for r in recognizer.recognize(frame)}
        figures["plates_read"] = sum(p.text in reads for p in placed)
    with console.status("bench vision: single image (LATENCY)"):
        figures["single_image_p50_ms"] = round(
            single_image_ms(recognizer, detector, frame, seconds * _SHARE["single"]), 2
        )
    print_figures(
        f"bench vision: {figures['device']} ({figures['device_name']}), {figures['precision']}",
        figures,
        ("detector_fps", "ocr_per_s", "e2e_1080p_fps", "single_image_p50_ms", "plates_read"),
        console,
    )
    if json_out:
        write_json(json_out, figures)
    return figures
