"""Two-row plates (`vision/stacked.py`): the gap between rows is found, one-row plates are left
alone, and the rows' joined reading replaces the one-line reading only when both read better."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from platewatch.engine.vision.stacked import read_two_rows, row_gap, rows
from platewatch.engine.vision.types import Candidate, Image, OcrResult


def plate(lines: Sequence[str], size: tuple[int, int] = (120, 240)) -> Image:
    """A plate drawn with one row of text, or two with a gap of a tenth of its height between them."""
    h, w = size
    img = np.full((h, w, 3), 235, np.uint8)
    scale = 1.4 if len(lines) == 2 else 2.0
    baselines = (50, 104) if len(lines) == 2 else (80,)
    for text, y in zip(lines, baselines, strict=True):
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 4)
        cv2.putText(img, text, ((w - tw) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 4)
    return img


def result(text: str, p: float) -> OcrResult:
    return OcrResult(text, p, (p,) * len(text), (Candidate(text, p),))


def test_the_gap_between_two_rows_is_found_and_one_row_plates_are_left_alone() -> None:
    two = plate(["6Z", "173TCN"])
    gap = row_gap(two)
    assert gap is not None and 0.35 * 120 < gap < 0.65 * 120
    top, bottom = rows(two) or (None, None)
    assert top is not None and bottom is not None
    assert top.shape[0] + bottom.shape[0] > 120  # the rows overlap a little at the gap
    assert row_gap(plate(["7ABC123"])) is None
    assert row_gap(np.zeros((10, 10, 3), np.uint8)) is None


class Rows:
    def __init__(self, *answers: OcrResult) -> None:
        self.answers, self.calls = list(answers), 0

    def __call__(self, crops: Sequence[Image]) -> list[OcrResult]:
        self.calls += 1
        assert len(crops) == 2
        return self.answers


def test_the_rows_reading_replaces_the_one_line_reading_only_when_both_rows_read_better() -> None:
    two = plate(["6Z", "173TCN"])
    one_line = result("173TCN", 0.6)
    joined = read_two_rows(Rows(result("6Z", 0.99), result("173TCN", 0.95)), two, one_line)
    assert joined.text == "6Z173TCN" and joined.confidence == 0.95
    assert len(joined.char_confidences) == 8
    assert read_two_rows(Rows(result("6Z", 0.99), result("17", 0.5)), two, one_line) is one_line
    assert read_two_rows(Rows(result("", 0.0), result("173TCN", 0.99)), two, one_line) is one_line
    reader = Rows()
    assert read_two_rows(reader, plate(["7ABC123"]), one_line) is one_line and reader.calls == 0
