"""A two-row (stacked) plate's crop reflowed into one line that the one-line recognizer can read.

Why: the recognizer reads a 64x160 line with CTC over its columns. A two-row plate squeezed into
that input puts the rows' characters over one another, column by column, and it reads none of the
synthetic two-row plates exactly; read row by row, each short row is read as a whole plate and the
context over the whole text is lost. Reflowed, the top row's characters stand before the bottom
row's at one height, as on a one-row plate, and one reading covers both.

Steps (`stacked.read_stacked` runs them):
- `straighten`: the crop is turned to the angle whose row profile of vertical strokes is sharpest
  (a tilted plate blurs the gap between its rows into the rows' ink);
- `row_gaps`: the lines between two text bands, deepest first (a state name above the top row
  makes a second, shallower one; the recognizer's confidence decides between them);
- `text_columns`: where the recognizer put characters in a row's crop (its non-blank CTC frames).
  Pixel heuristics failed here: the plate's side edges, stickers and a state name wider than a
  short row all carry as much ink as characters do;
- `side_by_side`: both rows at one height, the top row first, on the plate's own colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

import cv2
import numpy as np
import numpy.typing as npt

from .ctc import BLANK
from .types import Image

#: Angles (degrees) tried to straighten a crop: camera crops turn a few degrees and lean by
#: perspective (the synthetic ones up to 7 degrees and 8 %).
ANGLES: Final = (-9.0, -6.0, -3.0, 0.0, 3.0, 6.0, 9.0)
#: Height (pixels) the crop is analysed at: the angle search is then the same cost for any crop.
WORK_H: Final = 96
#: Where the gap between the rows is searched, as fractions of the crop's height.
GAP_SEARCH: Final = (0.25, 0.75)
#: A gap's ink is below this share of the weaker side's peak (0.6 missed a fifth of the synthetic
#: two-row plates whose rows stand close; one-row plates with a state name pass either way).
MAX_GAP_RATIO: Final = 0.75
#: Two gaps closer than this share of the height are one.
MIN_GAP_DISTANCE: Final = 0.08
#: Gaps tried per crop (each costs three more crops read).
MAX_GAPS: Final = 2
#: Each row's crop reaches this share of the crop's height past the gap (descenders, tilt).
ROW_OVERLAP: Final = 0.06
#: Columns left out of the gap's profile at each side (the plate's frame, bolts).
SIDE_MARGIN: Final = 0.1
#: Margin kept beside a row's characters, as a share of the row's height (about half a character).
COLUMN_MARGIN: Final = 0.3
#: Space between the rows' texts in the line, as a share of the line's height.
ROW_SPACE: Final = 0.15


def _smooth(profile: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    k = max(3, size) | 1
    out = cv2.GaussianBlur(profile.astype(np.float32).reshape(-1, 1), (1, k), 0)
    return cast(npt.NDArray[np.float32], np.asarray(out, np.float32).ravel())


def _strokes(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """|d/dx|: strong on characters' vertical strokes, weak on plain plate and between rows."""
    return np.abs(np.asarray(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), np.float32))


def _grey(crop: Image) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), np.float32)


def _rotate(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return np.asarray(
        cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    )


def straighten(crop: Image) -> Image:
    """The crop turned so that its text lines run level: the angle (of `ANGLES`) whose profile of
    strokes per line changes most sharply from line to line (projection-profile deskew)."""
    h, w = crop.shape[:2]
    if h < 8 or w < 8:
        return crop
    small = cv2.resize(_grey(crop), (max(8, round(w * WORK_H / h)), WORK_H))
    strokes = _strokes(np.asarray(small, np.float32))
    sharpness = [float(np.square(np.diff(_rotate(strokes, a).mean(axis=1))).sum()) for a in ANGLES]
    angle = ANGLES[int(np.argmax(sharpness))]
    return cast(Image, _rotate(crop, angle)) if angle else crop


def row_gaps(crop: Image, limit: int = MAX_GAPS) -> list[int]:
    """Lines of a (straightened) crop that separate two text bands, deepest first; empty for a crop
    that shows no such gap. Depth: the line's ink against the weaker of the two sides' peaks."""
    h, w = crop.shape[:2]
    if h < 16 or w < 16:
        return []
    x0, x1 = int(w * SIDE_MARGIN), int(w * (1 - SIDE_MARGIN))
    profile = _smooth(_strokes(_grey(crop))[:, x0:x1].mean(axis=1), h // 15)
    found: list[tuple[float, int]] = []
    for y in range(max(1, int(h * GAP_SEARCH[0])), min(h - 1, int(h * GAP_SEARCH[1]))):
        if profile[y] <= profile[y - 1] and profile[y] <= profile[y + 1]:
            weaker = min(float(profile[:y].max()), float(profile[y:].max()))
            if weaker > 0 and float(profile[y]) / weaker < MAX_GAP_RATIO:
                found.append((float(profile[y]) / weaker, y))
    gaps: list[int] = []
    for _, y in sorted(found):
        if all(abs(y - g) > h * MIN_GAP_DISTANCE for g in gaps):
            gaps.append(y)
    return gaps[:limit]


def rows_at(crop: Image, gap: int) -> tuple[Image, Image]:
    """The crop's top and bottom rows cut at `gap`, each reaching a little past it."""
    pad = max(1, int(crop.shape[0] * ROW_OVERLAP))
    return crop[: gap + pad], crop[max(0, gap - pad) :]


def text_columns(probs: npt.NDArray[np.float32], width: int, height: int) -> tuple[int, int] | None:
    """The columns of a row's crop (`width` x `height`) holding the characters the recognizer saw
    (from its [T, C] CTC probabilities: the first and last frame not most likely blank), widened by
    about half a character; None when it saw none."""
    frames = np.flatnonzero(np.argmax(probs, axis=1) != BLANK)
    if len(frames) == 0:
        return None
    steps = probs.shape[0]
    margin = COLUMN_MARGIN * height
    x0 = max(0, int(frames[0] / steps * width - margin))
    x1 = min(width, int((frames[-1] + 1) / steps * width + margin))
    return (x0, x1) if x1 - x0 >= 2 else None


def side_by_side(parts: Sequence[Image], background: Sequence[int]) -> Image:
    """The parts scaled to one height and set left to right with a space of `background` colour."""
    height = max(p.shape[0] for p in parts)
    scaled = [cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height)) for p in parts]
    space = np.empty((height, max(1, int(height * ROW_SPACE)), 3), np.uint8)
    space[:] = np.asarray(background, np.uint8)
    pieces: list[np.ndarray] = []
    for part in scaled:
        pieces += [space, part] if pieces else [part]
    return cast(Image, np.hstack(pieces))


def one_line(crop: Image, gap: int, probs: Sequence[npt.NDArray[np.float32]]) -> Image | None:
    """The crop's two rows (cut at `gap`) trimmed to their characters and set side by side, given
    the recognizer's probabilities for `rows_at(crop, gap)`; None where a row shows no character."""
    parts = []
    for row, p in zip(rows_at(crop, gap), probs, strict=True):
        columns = text_columns(p, row.shape[1], row.shape[0])
        if columns is None:
            return None
        parts.append(row[:, columns[0] : columns[1]])
    background = [int(c) for c in np.median(crop.reshape(-1, 3), axis=0)]
    return side_by_side(parts, background)
