"""The shipped plate detector, run for real: rendered plates pasted into synthetic frames are found.

Scenes come from `platewatch.engine.bench.scenes` (plates drawn by `models/training/synth.py` on a
crude car rear); each case is a fixed seed, so the figures are reproducible. Scores on these
drawings sit between 0.5 and 0.8, well above the 0.15 threshold, in f32 and in bf16.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from platewatch.engine.bench.scenes import road, scene
from platewatch.engine.vision.boxes import iou
from platewatch.engine.vision.detector import SCORE_THRESHOLD, PlateDetector, letterbox
from platewatch.engine.vision.runtime import Runtime
from platewatch.engine.vision.types import Detection, VisionError


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    return PlateDetector(Runtime("CPU"))


def _best(found: list[Detection], frame_box: object) -> tuple[float, float]:
    scored = [(iou(d.box, frame_box), d.score) for d in found]  # type: ignore[arg-type]
    return max(scored, default=(0.0, 0.0))


CASES = [
    # style, text, plate width (px), seed: near, mid and far plates in a 1080p frame
    ("us", "7ABC123", 260, 1),
    ("us", "8DEF456", 180, 2),
    ("br_old", "ABC1234", 120, 2),
    ("eu", "KM482PL", 120, 2),
    ("us", "4GHJ789", 90, 7),  # far: 90 px wide, ~30 px after letterboxing
]


@pytest.mark.parametrize(("style", "text", "width", "seed"), CASES, ids=[f"{c[0]}-{c[2]}px" for c in CASES])
def test_plate_found_at_known_position(
    detector: PlateDetector, style: str, text: str, width: int, seed: int
) -> None:
    frame, placed = scene([(text, style, width, (700 + seed * 60, 500 + seed * 40))], seed=seed)
    assert frame.shape == (1080, 1920, 3)
    overlap, score = _best(detector.detect(frame), placed[0].box)
    assert overlap >= 0.5, f"best IoU {overlap:.2f} (score {score:.2f}) for {placed[0]}"
    assert score >= SCORE_THRESHOLD


def test_empty_scene_has_no_detection(detector: PlateDetector) -> None:
    assert detector.detect(road()) == []
    assert detector.detect(np.full((720, 1280, 3), 127, np.uint8)) == []


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 720), (3840, 2160), (1080, 1920)], ids=["720p", "4k", "portrait"]
)
def test_boxes_map_back_to_any_frame_size(detector: PlateDetector, width: int, height: int) -> None:
    frame, placed = scene([("7ABC123", "us", 180, (1000, 500))], seed=2)  # 1080p, plate 180 px
    resized = cv2.resize(
        frame, (width, height), interpolation=cv2.INTER_AREA if width < 1920 else cv2.INTER_LINEAR
    )
    sx, sy = width / 1920, height / 1080
    box = placed[0].box
    expected = type(box)(round(box.x * sx), round(box.y * sy), round(box.w * sx), round(box.h * sy))
    overlap, _ = _best(detector.detect(resized), expected)
    assert overlap >= 0.5


def test_letterbox_geometry() -> None:
    canvas, box = letterbox(np.zeros((1080, 1920, 3), np.uint8))
    assert canvas.shape == (1, 640, 640, 3) and canvas.dtype == np.uint8
    assert box.scale == pytest.approx(1 / 3) and box.pad_x == 0 and box.pad_y == 140


def test_stream_paths_agree_with_single_detection(detector: PlateDetector) -> None:
    frames = [
        scene([(t, s, w, (700 + seed * 60, 500 + seed * 40))], seed=seed)[0] for s, t, w, seed in CASES[:3]
    ]
    single = [detector.detect(f) for f in frames]
    stream = detector.stream(jobs=2)
    assert list(stream.detect_many(frames)) == single

    async def concurrently() -> list[list[Detection]]:
        return list(await asyncio.gather(*(stream.detect_async(f) for f in frames)))

    assert asyncio.run(concurrently()) == single
    assert asyncio.run(concurrently()) == single  # a second event loop works too


def test_bad_frame_is_a_vision_error(detector: PlateDetector) -> None:
    with pytest.raises(VisionError):
        detector.detect(np.zeros((1080, 1920, 4), np.uint8))


def test_missing_device_falls_back_to_cpu(caplog: pytest.LogCaptureFixture) -> None:
    runtime = Runtime("NPU")
    if any(d.name.startswith("NPU") for d in runtime.devices()):
        pytest.skip("this machine has an NPU")
    assert runtime.device == "CPU"
    assert "falling back to CPU" in caplog.text
    assert "CPU" in [d.name for d in runtime.devices()]


def test_compiled_models_are_cached(tmp_path: Path) -> None:
    PlateDetector(Runtime("CPU", cache_dir=tmp_path / "ov-cache"))
    assert any((tmp_path / "ov-cache").iterdir())


def test_unknown_device_or_precision_is_refused() -> None:
    with pytest.raises(VisionError, match="device"):
        Runtime("TPU")
    with pytest.raises(VisionError, match="precision"):
        Runtime("CPU", precision="f8")
    assert Runtime("CPU", precision="int8").describe_precision().startswith("int8")
    assert Runtime("CPU", precision="f32").describe_precision() == "f32 (set)"


def test_a_models_dir_replaces_only_the_files_it_holds(tmp_path: Path) -> None:
    """A department's retrained detector in `vision.models_dir` is the one compiled; a model it lacks
    (the OCR here) still comes from the package, and a broken file there is an error, not a silent
    fallback to the shipped one."""
    shipped = Runtime("CPU").model_file("plate_det.xml")
    own = tmp_path / "models"
    own.mkdir()
    for suffix in (".xml", ".bin"):
        shutil.copy(shipped.with_suffix(suffix), own / f"plate_det{suffix}")
    runtime = Runtime("CPU", models_dir=own)
    detector = PlateDetector(runtime)
    assert detector.model_file == own / "plate_det.xml"
    assert runtime.model_file("plate_ocr.xml") == Runtime("CPU").model_file("plate_ocr.xml")
    frame, placed = scene([("7ABC123", "us", 260, (760, 540))], seed=1)
    assert _best(detector.detect(frame), placed[0].box)[0] >= 0.5

    (own / "plate_det.bin").write_bytes(b"not weights")
    with pytest.raises(RuntimeError):
        PlateDetector(Runtime("CPU", models_dir=own))


def test_bench_vision_command_writes_its_keys(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from platewatch.engine.commands.bench import bench_app

    out = tmp_path / "vision.json"
    result = CliRunner().invoke(
        bench_app, ["vision", "--seconds", "1", "--precision", "f32", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ("detector_fps", "ocr_per_s", "e2e_1080p_fps", "single_image_p50_ms", "device", "precision"):
        assert key in figures
    assert figures["detector_fps"] > 0 and figures["single_image_p50_ms"] > 0
    assert figures["precision"] == "f32"


def test_the_default_precision_is_the_faster_one_measured_once_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`precision: default` on a CPU whose OpenVINO default is bf16 times the detector at bf16 and
    f32 once, keeps the faster (f32 only when clearly faster) and remembers it in the cache, so a
    later start neither measures again nor changes its mind; a corrupt record is measured anew."""
    import openvino.properties.hint as hints

    from platewatch.engine.vision import runtime as rt

    cache = tmp_path / "ov-cache"
    first = Runtime("CPU", cache_dir=cache)
    if first.core.get_property("CPU", hints.inference_precision) != rt.ov.Type.bf16:
        assert first.inference_precision is None  # f32 is the default already: nothing to measure
        assert not (cache / rt.PRECISION_CHOICE_FILE).exists()
        return
    chosen = first.inference_precision
    assert chosen in (None, "f32")
    assert first.describe_precision().startswith(chosen or "bf16")  # what `platewatch doctor` shows
    record = json.loads((cache / rt.PRECISION_CHOICE_FILE).read_text())
    assert list(record.values()) == ["f32" if chosen else "bf16"]
    compiled = PlateDetector(first).compiled
    assert compiled.get_property(hints.inference_precision) == rt._PRECISIONS[chosen or "bf16"]

    def no_timing(*_args: object, **_kwargs: object) -> float:
        raise AssertionError("measured again")

    monkeypatch.setattr(rt, "_process_choices", {})
    monkeypatch.setattr(Runtime, "_time_detector", no_timing)
    assert Runtime("CPU", cache_dir=cache).inference_precision == chosen

    (cache / rt.PRECISION_CHOICE_FILE).write_text("{not json")
    timings = {"bf16": 0.05, "f32": 0.03}
    monkeypatch.setattr(Runtime, "_time_detector", lambda _self, _path, precision: timings[precision])
    assert Runtime("CPU", cache_dir=cache).inference_precision == "f32"
    assert list(json.loads((cache / rt.PRECISION_CHOICE_FILE).read_text()).values()) == ["f32"]


@pytest.mark.parametrize(
    ("bf16_ms", "f32_ms", "chosen"),
    [(61.3, 42.6, "f32"), (20.0, 32.0, "bf16"), (50.0, 47.0, "bf16"), (50.0, 44.0, "f32")],
)
def test_f32_replaces_bf16_only_when_clearly_faster(bf16_ms: float, f32_ms: float, chosen: str) -> None:
    from platewatch.engine.vision.runtime import pick_float_precision

    assert pick_float_precision({"bf16": bf16_ms / 1e3, "f32": f32_ms / 1e3}) == chosen
