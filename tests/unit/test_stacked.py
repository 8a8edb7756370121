"""Two-row plates (`vision/stacked.py`, `vision/reflow.py`): the gap between rows is found on a
straightened crop, one-row plates show none, the rows are trimmed to where the recognizer saw
characters and set side by side, and a two-row reading replaces the one-line reading only when it
is more confident, no shorter and no longer than the region's plates."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from platewatch.engine.vision import reflow
from platewatch.engine.vision.stacked import FrameReader, needs_look, read_stacked
from platewatch.engine.vision.types import Candidate, Image, OcrResult

FRAMES = 40
CLASSES = 37


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


def frames(first: int, last: int) -> npt.NDArray[np.float32]:
    """CTC probabilities with a character in frames first..last and blank elsewhere."""
    probs = np.zeros((FRAMES, CLASSES), np.float32)
    probs[:, 0] = 1.0
    probs[first : last + 1, 0], probs[first : last + 1, 5] = 0.0, 1.0
    return probs


def test_the_gap_between_two_rows_is_found_and_one_row_plates_show_none() -> None:
    two = plate(["6Z", "173TCN"])
    gaps = reflow.row_gaps(two)
    assert gaps and 0.35 * 120 < gaps[0] < 0.65 * 120
    top, bottom = reflow.rows_at(two, gaps[0])
    assert top.shape[0] + bottom.shape[0] > 120  # the rows overlap a little at the gap
    assert reflow.row_gaps(plate(["7ABC123"])) == []
    assert reflow.row_gaps(np.zeros((10, 10, 3), np.uint8)) == []


def test_a_turned_plate_is_straightened_and_a_level_one_left_as_it_is() -> None:
    level = plate(["6Z", "173TCN"])
    assert reflow.straighten(level) is level
    m = cv2.getRotationMatrix2D((120, 60), 6.0, 1.0)
    turned = cv2.warpAffine(level, m, (240, 120), borderMode=cv2.BORDER_REPLICATE)
    back = reflow.straighten(turned)
    assert back is not turned
    inner = (slice(30, 90), slice(40, 200))
    error = np.abs(back[inner].astype(int) - level[inner].astype(int)).mean()
    assert error < 0.5 * np.abs(turned[inner].astype(int) - level[inner].astype(int)).mean()


def test_a_row_is_trimmed_to_where_the_recognizer_saw_characters() -> None:
    # frames 10..19 of 40 over 400 columns: 100..200, widened by 0.3 of the row's height (30)
    assert reflow.text_columns(frames(10, 19), 400, 100) == (70, 230)
    assert reflow.text_columns(frames(0, 39), 400, 100) == (0, 400)
    blank = np.zeros((FRAMES, CLASSES), np.float32)
    blank[:, 0] = 1.0
    assert reflow.text_columns(blank, 400, 100) is None


def test_rows_are_set_side_by_side_at_one_height_top_row_first() -> None:
    top = np.full((20, 30, 3), 10, np.uint8)
    bottom = np.full((40, 50, 3), 200, np.uint8)
    line = reflow.side_by_side([top, bottom], (120, 120, 120))
    assert line.shape[0] == 40
    assert line.shape[1] == 60 + int(40 * reflow.ROW_SPACE) + 50
    assert (line[:, :60] == 10).all() and (line[:, -50:] == 200).all()
    assert (line[:, 60 : 60 + int(40 * reflow.ROW_SPACE)] == 120).all()


class Reader:
    """A recognizer stand-in: characters in the middle frames of every crop, rows read as `rows`
    (top, bottom per gap), reflowed lines read as `lines`."""

    def __init__(self, rows: Sequence[OcrResult] = (), lines: Sequence[OcrResult] = ()) -> None:
        self.rows, self.lines = list(rows), list(lines)
        self.row_crops: list[Image] = []
        self.line_crops: list[Image] = []

    def probabilities(self, crops: Sequence[Image]) -> npt.NDArray[np.float32]:
        self.row_crops += crops
        return np.stack([frames(12, 27) for _ in crops])

    def decode(self, probs: npt.NDArray[np.float32]) -> OcrResult:
        return self.rows.pop(0) if self.rows else result("", 0.0)

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]:
        self.line_crops += crops
        return [self.lines.pop(0) if self.lines else result("", 0.0) for _ in crops]


def same(r: OcrResult) -> OcrResult:
    return r


def test_a_two_row_reading_replaces_the_one_line_reading_only_when_more_confident_and_no_shorter() -> None:
    two = plate(["6Z", "173TCN"])
    assert isinstance(Reader(), FrameReader)
    one_line = result("173TCN", 0.6)
    # the reflowed line reads best
    reader = Reader(rows=[result("6Z", 0.7), result("173TCN", 0.9)] * 2, lines=[result("6Z173TCN", 0.95)] * 2)
    assert read_stacked(reader, two, one_line, same, 8).text == "6Z173TCN"
    assert reader.row_crops and reader.line_crops
    line = reader.line_crops[0]
    assert line.shape[1] / line.shape[0] > two.shape[1] / two.shape[0]  # the rows side by side
    # the joined rows read best
    reader = Reader(rows=[result("6Z", 0.99), result("173TCN", 0.97)] * 2, lines=[result("6Z17", 0.5)] * 2)
    joined = read_stacked(reader, two, one_line, same, 8)
    assert joined.text == "6Z173TCN" and joined.confidence == 0.97 and len(joined.char_confidences) == 8
    # more confident but shorter (a character lost), or longer than the region's plates: kept
    reader = Reader(lines=[result("73TCN", 0.99)] * 2)
    assert read_stacked(reader, two, one_line, same, 8) is one_line
    reader = Reader(rows=[result("KENTUCKY", 0.99), result("173TCN", 0.99)] * 2)
    assert read_stacked(reader, two, one_line, same, 8) is one_line
    # less confident: kept
    reader = Reader(lines=[result("6Z173TCN", 0.5)] * 2)
    assert read_stacked(reader, two, one_line, same, 8) is one_line


def test_only_unsure_or_short_readings_of_crops_showing_two_rows_are_looked_at() -> None:
    assert not needs_look(result("7ABC123", 0.95))
    assert needs_look(result("7ABC123", 0.5)) and needs_look(result("226", 0.99))
    reader = Reader(lines=[result("6Z173TCN", 0.99)] * 2)
    sure = result("7ABC123", 0.95)
    assert read_stacked(reader, plate(["6Z", "173TCN"]), sure, same, 8) is sure
    unsure = result("7ABC123", 0.5)
    assert read_stacked(reader, plate(["7ABC123"]), unsure, same, 8) is unsure
    assert not reader.row_crops and not reader.line_crops
    # a short confident reading (a two-row plate's bottom row alone) is looked at
    short = result("226", 0.95)
    assert read_stacked(reader, plate(["992", "226"]), short, same, 8).text == "6Z173TCN"
