"""`bench accuracy` over the openalpr format: its scoring on a synthetic set, and a small sample
of the openalpr US benchmark against a floor.

The dataset is not part of the repository (AGPL-3.0 benchmark data kept beside it); the test is
skipped when it is absent. The floor is far below the targets: it catches a broken pipeline (wrong
colour order, boxes mapped to the wrong place, crops cut off), not a regression of a few points.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import pytest

from platewatch.engine.bench.accuracy import run_accuracy
from platewatch.engine.bench.scenes import road, scene
from platewatch.engine.vision.pipeline import Recognizer
from platewatch.engine.vision.runtime import Runtime, has_model
from platewatch.engine.vision.types import Candidate, Image, OcrResult, VisionError

DATA = (
    Path(os.environ.get("PLATEWATCH_DATA", Path(__file__).resolve().parents[3] / "shared/datasets/openalpr"))
    / "us"
)
SAMPLE = 16


@pytest.mark.skipif(not DATA.is_dir(), reason=f"openalpr benchmark not found at {DATA} (set PLATEWATCH_DATA)")
@pytest.mark.skipif(not has_model("plate_ocr.xml"), reason="models/plate_ocr.xml is not installed yet")
def test_us_sample_floor(tmp_path: Path) -> None:
    recognizer = Recognizer(Runtime("CPU"), region="us")
    figures = run_accuracy(DATA, "us", json_out=tmp_path / "acc.json", limit=SAMPLE, recognizer=recognizer)
    assert figures["images"] == SAMPLE
    assert figures["detected"] >= 0.8
    assert figures["exact"] >= 0.4
    assert figures["within_one"] >= figures["exact"]
    assert (tmp_path / "acc.html").is_file()


class FixedOCR:
    """Stand-in OCR that reads every crop as the same text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]:
        result = OcrResult(self.text, 0.9, (0.9,) * len(self.text), (Candidate(self.text, 0.9),))
        return [result for _ in crops]


def _write_dataset(directory: Path) -> None:
    """Two synthetic photos in the openalpr format, plus a corrupt one and an unlabelled one."""
    for name, text in (("car1", "7ABC123"), ("car2", "7ABC128")):
        image, placed = scene([(text, "us", 200, (900, 600))], seed=1)
        cv2.imwrite(str(directory / f"{name}.jpg"), image)
        b = placed[0].box
        (directory / f"{name}.txt").write_text(f"{name}.jpg\t{b.x}\t{b.y}\t{b.w}\t{b.h}\t{text}\n")
    (directory / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (directory / "broken.txt").write_text("broken.jpg\t1\t1\t10\t10\tAAA111\n")
    cv2.imwrite(str(directory / "unlabelled.jpg"), road())


def test_bench_accuracy_scores_and_reports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _write_dataset(data)
    recognizer = Recognizer(Runtime("CPU"), region="us", reader=FixedOCR("7ABC123"))
    figures = run_accuracy(data, "us", json_out=tmp_path / "acc.json", recognizer=recognizer)
    assert figures["images"] == 3 and figures["plates"] == 3
    assert figures["detected"] == pytest.approx(2 / 3, abs=1e-3)  # the corrupt image counts as a miss
    assert figures["exact"] == pytest.approx(1 / 3, abs=1e-3)
    low, high = figures["exact_ci95"]
    assert 0.0 < low < 1 / 3 < high < 1.0  # one of three plates: the interval is wide
    assert figures["within_one"] == pytest.approx(2 / 3, abs=1e-3)
    assert figures["errors"][0]["image"] == "broken.jpg"
    assert Path(figures["models"]["detector"]).name == "plate_det.xml"
    assert figures["models"]["ocr"] == "?"  # a stand-in reader has no model file
    assert [m["truth"] for m in figures["misreads"]] == ["7ABC128"]
    assert json.loads((tmp_path / "acc.json").read_text())["exact"] == figures["exact"]
    html = (tmp_path / "acc.html").read_text()
    assert "7ABC128" in html and "data:image/png;base64," in html
    assert f"detector {figures['models']['detector']}" in html

    (tmp_path / "only.txt").write_text("# just one\ncar2.jpg\n")
    only = run_accuracy(data, "us", only_list=tmp_path / "only.txt", recognizer=recognizer)
    assert only["images"] == 1 and only["exact"] == 0
    (tmp_path / "skip.txt").write_text("car2\nbroken\n")
    rest = run_accuracy(data, "us", exclude_list=tmp_path / "skip.txt", recognizer=recognizer)
    assert rest["images"] == 1 and rest["exact"] == 1


def test_bench_accuracy_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(VisionError, match="no labelled images"):
        run_accuracy(tmp_path, recognizer=Recognizer(Runtime("CPU"), region="us", reader=FixedOCR("X")))
