"""How a camera frame's plates are read: cheaply where the frame is sure, thoroughly where it is not.

Why: a camera sees each vehicle in a dozen frames and the tracker votes over them, so one crop per
plate per frame is usually enough; but the recognizer runs about 57 crops/s against the 20-40
frames/s of four cameras, and the frames that decide a pass are the unsure ones. Played as a camera,
the photos the single-photo path reads right were misread or lost exactly where it spends more:
an unsure plate read from three crops, a weak detector box confirmed by a confident reading, a
reading that ran into a neighbouring plate. Here each frame gets:

- one crop of every strong box, and the other two `views.VIEWS` crops only for the plates whose
  reading is unsure (`Recognizer._sure`), fused as for single photos;
- the detector's weak boxes (`pipeline.WEAK_SCORE` up to its threshold, at most `MAX_WEAK`), kept
  only when their fused reading is confident (`pipeline.WEAK_MIN_CONFIDENCE`), as for photos;
- a reading longer than its box can hold (`run_on`) re-read from the tightest crop, and dropped if
  that one is too long as well.

The zoomed re-detection and the nine tiles stay with single photos: they cost a detector run each,
which four 1080p cameras do not leave room for on every frame. A frame in which this reads nothing
gets one tile's worth (`zoomed_search.py`, `vision.zoom_search`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from .boxes import iou
from .types import Box, Detection, Image, Observation, OcrResult
from .views import VIEWS, fuse_views

#: The OCR's readings of each box's crops, one list per box (`Recognizer._read_views`).
ReadViews = Callable[[Image, Sequence[Box], Sequence[tuple[float, float]]], list[list[OcrResult]]]

#: Weak boxes read per frame, best first (the single-photo path reads as many).
MAX_WEAK: Final = 4
#: A weak box whose single crop reads below this is not worth the two more crops.
WEAK_FIRST_CONFIDENCE: Final = 0.5
#: Most characters a plate of a region shows (`regions.py`: US vanity plates up to 8, Brazil 7,
#: EU registrations up to 8 plus a misread country band).
MAX_LENGTH: Final = {"us": 8, "br": 7, "eu": 10, "auto": 10}
#: And most a box of a given aspect (width / height) holds: `aspect * CHARS_PER_ASPECT +
#: CHARS_SLACK`. Detector boxes of correctly read plates on the openalpr training photos span
#: aspects 1.5-2.6 (US), 2.0-3.4 (BR), 2.5-4.5 (EU); at these factors none of them is cut.
CHARS_PER_ASPECT: Final = 2.0
CHARS_SLACK: Final = 5.0
#: The tightest crop, re-read when a reading runs on.
TIGHT_VIEW: Final = VIEWS[0]


def max_chars(box: Box, region: str) -> int:
    """The most characters a plate of `region` in `box` can show."""
    aspect = box.w / max(1, box.h)
    return min(MAX_LENGTH.get(region, MAX_LENGTH["auto"]), int(aspect * CHARS_PER_ASPECT + CHARS_SLACK))


def run_on(text: str, box: Box, region: str) -> bool:
    """Whether `text` is longer than a plate in `box` can be: it ran into something beside it
    (`5VCF203` read `5VCF20377` from a crop that held a neighbouring plate's edge)."""
    return len(text) > max_chars(box, region)


@dataclass(frozen=True, slots=True)
class StreamReading:
    """What the frame reading needs from the recognizer (handed down, so this module never imports
    the pipeline that calls it)."""

    read_views: ReadViews
    choose: Callable[[OcrResult, str], OcrResult]
    sure: Callable[[OcrResult, OcrResult], bool]
    score_threshold: float
    weak_min_confidence: float
    crop_grow: tuple[float, float] = VIEWS[1]

    def read_frame(
        self, frame: Image, found: Sequence[Detection], region: str, timings: dict[str, float]
    ) -> list[Observation]:
        """The reads of one camera frame from its detections (strong and weak, best first)."""
        strong = [d for d in found if d.score >= self.score_threshold]
        weak = [d for d in found if d.score < self.score_threshold][:MAX_WEAK]
        detections = (*strong, *weak)
        boxes = [d.box for d in detections]
        others = tuple(v for v in VIEWS if v != self.crop_grow)
        results = [list(r) for r in self.read_views(frame, boxes, (self.crop_grow,))]
        # Worth two more crops: unsure or run-on strong plates, and weak boxes that read like a plate.
        more: list[int] = []
        for i, rs in enumerate(results):
            fused = fuse_views(rs)
            if i < len(strong):
                unsure = not self.sure(fused, self.choose(fused, region))
                if unsure or run_on(fused.text, boxes[i], region):
                    more.append(i)
            elif fused.confidence >= WEAK_FIRST_CONFIDENCE:
                more.append(i)
        if more:
            extra = self.read_views(frame, [boxes[i] for i in more], others)
            for i, rs in zip(more, extra, strict=True):
                results[i].extend(rs)
        reads: list[Observation] = []
        for i, (detection, rs) in enumerate(zip(detections, results, strict=True)):
            ocr = self._within_box(frame, detection.box, rs, region)
            if ocr is None or not ocr.text:
                continue
            if i >= len(strong) and (
                ocr.confidence < self.weak_min_confidence
                or any(iou(detection.box, r.box) > 0.3 for r in reads)
            ):
                continue
            reads.append(Observation.of(detection, ocr, region, timings))
        return reads

    def _within_box(self, frame: Image, box: Box, results: list[OcrResult], region: str) -> OcrResult | None:
        """The chosen reading of a box's crops, unless it runs on past the plate.

        A reading too long for its box is fused again without the crops that read it so (the wider
        margins hold the neighbour's characters); when every crop runs on, the tightest crop is read
        on its own, and a reading that still runs on is dropped rather than sent to the hotlist.
        """
        chosen = self.choose(fuse_views(results), region) if results else None
        if chosen is None or not run_on(chosen.text, box, region):
            return chosen
        fitting = [r for r in results if r.text and not run_on(r.text, box, region)]
        if not fitting:
            fitting = self.read_views(frame, [box], (TIGHT_VIEW,))[0]
        chosen = self.choose(fuse_views(fitting), region) if fitting else None
        return None if chosen is None or run_on(chosen.text, box, region) else chosen
