"""Two-row (stacked) plates: an unsure plate showing two text bands is also read reflowed into one
line, and row by row, and the most confident reading that keeps every character wins.

Why: the recognizer reads a plate as one line (64x160 input, CTC over columns); squeezed into it, a
two-row plate's rows overlap column by column and it reads none of the synthetic two-row plates
exactly, often reading the bottom row alone, confidently. Retraining is the real fix
(models/README.md); without it, the crop is cut at the gap between its rows and
- reflowed (`reflow.py`): the rows set side by side and read once, with the recognizer's context
  over the whole text;
- read row by row: each row read as a one-row plate, the readings joined (the rows' characters
  are then read without the other row's context, but each at its full height).
Which wins is the recognizer's confidence (after the region rules): a reading replaces the
one-line reading when it is more confident, no shorter (a shorter one lost characters: on plates
with small stacked characters beside the registration, the reflowed line drops them) and no longer
than the region's plates (a state name read as a top row makes a long, confident join).

Cost: only plates whose one-line reading is unsure or short (`needs_look`) are looked at again,
and only those whose crop shows a gap; each gap tried costs three more crops read (two rows, one
line), at most `reflow.MAX_GAPS` gaps a plate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from . import reflow
from .types import Candidate, Image, OcrResult

#: A one-line reading at least this confident (and longer than `SHORT`) is not looked at again
#: (the pipeline's `SURE_CONFIDENCE`: the thorough reading's other second looks stop there too).
SURE: Final = 0.9
#: A reading this short is looked at again however confident: a two-row plate's one-line reading
#: is often its bottom row alone (chosen on the synthetic training sets: 41.0 -> 43.0 % exact on
#: seed 11, 43.0 -> 46.0 % on seed 13, one-row plates unchanged).
SHORT: Final = 4

Choose = Callable[[OcrResult], OcrResult]


@runtime_checkable
class FrameReader(Protocol):
    """A recognizer that also gives its per-frame CTC probabilities (`ocr.PlateOCR`): the reflow
    needs to know where in a row's crop it saw characters."""

    def probabilities(self, crops: Sequence[Image]) -> npt.NDArray[np.float32]: ...

    def decode(self, probs: npt.NDArray[np.float32]) -> OcrResult: ...

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]: ...


def needs_look(one_line: OcrResult) -> bool:
    """Whether a plate's one-line reading is unsure or short enough to be a two-row plate's row."""
    return one_line.confidence < SURE or len(one_line.text) <= SHORT


def join(top: OcrResult, bottom: OcrResult) -> OcrResult:
    """One reading from the two rows' (best candidates only: the rows' alternatives multiply)."""
    text = top.text + bottom.text
    confs = tuple(top.char_confidences) + tuple(bottom.char_confidences)
    return OcrResult(
        text, min(top.confidence, bottom.confidence), confs, (Candidate(text, float(np.prod(confs))),)
    )


def readings(reader: FrameReader, crop: Image) -> list[OcrResult]:
    """The crop's readings as a two-row plate (reflowed lines, then joined rows), one or two per
    gap found; empty when the crop shows no gap between rows."""
    level = reflow.straighten(crop)
    gaps = reflow.row_gaps(level)
    if not gaps:
        return []
    rows = [row for gap in gaps for row in reflow.rows_at(level, gap)]
    probs = reader.probabilities(rows)
    lines = [reflow.one_line(level, gap, list(probs[2 * i : 2 * i + 2])) for i, gap in enumerate(gaps)]
    ready = [line for line in lines if line is not None]
    found = reader.read_batch(ready) if ready else []
    decoded = [reader.decode(p) for p in probs]
    for top, bottom in zip(decoded[::2], decoded[1::2], strict=True):
        if top.text and bottom.text:
            found.append(join(top, bottom))
    return found


def read_stacked(
    reader: FrameReader, crop: Image, one_line: OcrResult, choose: Choose, max_length: int
) -> OcrResult:
    """`one_line` (the crop's one-line reading, region rules applied), or the most confident of the
    crop's two-row readings (`choose` applies the region rules to each) where that is more confident
    than `one_line`, no shorter, and no longer than the region's plates (`max_length`: a state name
    read as a top row makes a long, confident join)."""
    if not needs_look(one_line):
        return one_line
    best = one_line
    for reading in readings(reader, crop):
        chosen = choose(reading)
        fits = len(one_line.text) <= len(chosen.text) <= max_length
        if chosen.text and fits and chosen.confidence > best.confidence:
            best = chosen
    return best
