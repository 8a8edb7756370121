"""Two-row (stacked) plates: found by the gap between their rows, each row read on its own.

Why: the recognizer reads a plate as one line (64x160 input, CTC over columns); squeezed into it, a
two-row plate's rows overlap column by column and it reads 20 % of synthetic stacked US plates
exactly. Retraining is the real fix (models/README.md); without it, a plate whose crop shows two
text bands with a gap between them is cut at the gap and each band read as a one-row plate, and the
joined reading replaces the one-line reading when both rows read more confidently than it did.

The gap is the least horizontal-gradient row in the middle of the crop (text has strong vertical
strokes, the gap between two rows has none). A one-row plate whose characters fill the middle shows
no gap; one with a state name above its registration often does, and costs two more crops, but its
"rows" (a name, a cut registration) read less confidently than the whole, so the one-line reading
stays: one-row synthetic plates and the openalpr training photos read the same with and without.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, cast

import cv2
import numpy as np

from .types import Candidate, Image, OcrResult

#: Where the gap is searched, as fractions of the crop's height.
GAP_SEARCH: Final = (0.3, 0.7)
#: The gap's text energy must be below this share of the weaker row's peak.
MAX_GAP_RATIO: Final = 0.6
#: Each row's crop reaches this share of the crop's height past the gap (a row's descenders).
ROW_OVERLAP: Final = 0.06
#: Columns left out of the profile at each side (the plate's frame, bolts).
SIDE_MARGIN: Final = 0.1

ReadBatch = Callable[[Sequence[Image]], list[OcrResult]]


def row_gap(crop: Image) -> int | None:
    """The row between a two-row plate's rows, or None when the crop shows no such gap."""
    height, width = crop.shape[:2]
    if height < 16 or width < 16:
        return None
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    strokes = np.abs(cast(np.ndarray, cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)))
    x0, x1 = int(width * SIDE_MARGIN), int(width * (1 - SIDE_MARGIN))
    profile = strokes[:, x0:x1].mean(axis=1).astype(np.float32)
    k = max(3, height // 15) | 1
    profile = cast(np.ndarray, cv2.GaussianBlur(profile.reshape(-1, 1), (1, k), 0)).ravel()
    lo, hi = int(height * GAP_SEARCH[0]), int(height * GAP_SEARCH[1])
    gap = lo + int(np.argmin(profile[lo:hi]))
    weaker_row = min(float(profile[:gap].max()), float(profile[gap:].max()))
    if weaker_row <= 0 or float(profile[gap]) / weaker_row >= MAX_GAP_RATIO:
        return None
    return gap


def rows(crop: Image) -> tuple[Image, Image] | None:
    """The crops of a two-row plate's top and bottom rows, or None for a one-row plate."""
    gap = row_gap(crop)
    if gap is None:
        return None
    pad = max(1, int(crop.shape[0] * ROW_OVERLAP))
    return crop[: gap + pad], crop[max(0, gap - pad) :]


def join(top: OcrResult, bottom: OcrResult) -> OcrResult:
    """One reading from the two rows' (best candidates only: the rows' alternatives multiply)."""
    text = top.text + bottom.text
    confs = tuple(top.char_confidences) + tuple(bottom.char_confidences)
    return OcrResult(
        text, min(top.confidence, bottom.confidence), confs, (Candidate(text, float(np.prod(confs))),)
    )


def read_two_rows(read_batch: ReadBatch, crop: Image, one_line: OcrResult) -> OcrResult:
    """`one_line` (the crop read as one line), or the two rows' joined reading when the crop shows
    two rows and both read more confidently than the one line did."""
    parts = rows(crop)
    if parts is None:
        return one_line
    top, bottom = read_batch(list(parts))
    if not top.text or not bottom.text or min(top.confidence, bottom.confidence) <= one_line.confidence:
        return one_line
    return join(top, bottom)
