"""Several looks at one plate: a zoomed re-detection of its box, and reading it from several crops.

Why: the full-frame detector sees a 1080p frame shrunk to 640 pixels, so a plate 80 pixels wide is
25 pixels to it and its box is loose or shifted (sometimes twice the plate's width, bumper
included). The OCR reads well what it was trained on (a plate with a margin) and badly a crop
that cuts a character or holds half a bumper. Two cheap remedies, measured on the openalpr sets
(US held-out exact reads 77.8 % -> 88.9 %, the rest of US 94.0 % -> 96.4 %, BR held-out
97.4 % -> 100 %, EU held-out unchanged at 100 %):

- `BoxRefiner` runs the same detector again on the neighbourhood of each box (3x the plate's
  width, 6x its height), at 320 pixels, where the plate is several times larger, and keeps the box
  that overlaps the first one most.
- `fuse_views` reads each plate from `VIEWS` crops of different margins, of both boxes, in one OCR
  batch and keeps the candidate the crops agree on, so a character one crop cuts off, or a state
  name one crop reads as characters, is outvoted.

Cost: three OCR crops per plate instead of one, and for the plates still unsure after them (about
one in ten on the openalpr sets) one 320-pixel detector inference (a quarter of a full-frame one)
and three more crops. Single images (API uploads, the accuracy bench) get both by default; camera
streams vote over many frames instead (see `vision.thorough` in the settings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .boxes import iou
from .detector import NMS_THRESHOLD, SCORE_THRESHOLD, _with_preprocessing, decode, letterbox
from .model_files import DETECTOR_MODEL
from .runtime import Mode, Runtime
from .types import Box, Candidate, Detection, Image, OcrResult, VisionError

#: Crop margins (width, height factors about the box centre) read for each plate; the middle one is
#: the pipeline's single crop. Measured: these three beat one crop on every set; five added nothing.
VIEWS: Final = ((1.08, 1.25), (1.14, 1.4), (1.22, 1.55))
#: Input size of the zoomed re-detection: 320 matched 640 in accuracy at a quarter of the cost
#: (256 lost a plate on the rest of US, 213 lost three).
REFINE_SIZE: Final = 320
#: The neighbourhood re-detected, in plate widths and plate heights (the detector needs context:
#: 2x lost plates, 4x let other objects win).
REFINE_CONTEXT: Final = (3.0, 6.0)
#: Probability a crop is taken to give a text it did not offer, in `fuse_views`; 1e-2 beat 1e-3,
#: 1e-4 and a plain mean on the openalpr sets.
FUSION_FLOOR: Final = 1e-2
#: A re-detected box must overlap the first one at least this much to replace it.
REFINE_MIN_IOU: Final = 0.2


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Regions (x0, y0, x1, y1) of the closer look at an image in which nothing was found: a 3x3
    grid of half-size tiles overlapping by half, so a plate is whole in at least one, seen by the
    detector at twice the scale of the full frame."""
    tw, th = -(-width // 2), -(-height // 2)
    xs = sorted({0, (width - tw) // 2, width - tw})
    ys = sorted({0, (height - th) // 2, height - th})
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


def neighbourhood(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The region (x0, y0, x1, y1) re-detected around `box`: 2:1, clipped to the frame."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    side = max(box.w * REFINE_CONTEXT[0], box.h * REFINE_CONTEXT[1])
    x0, x1 = max(0, int(cx - side / 2)), min(width, int(cx + side / 2))
    y0, y1 = max(0, int(cy - side / 4)), min(height, int(cy + side / 4))
    return x0, y0, x1, y1


class BoxRefiner:
    """The plate detector compiled at `REFINE_SIZE` for re-detecting single plates zoomed in.

    Compiled for LATENCY, one plate after the other: a THROUGHPUT compile would run the plates of
    an image side by side (13 ms instead of 21 ms for three, alone), but beside the LATENCY-compiled
    full-frame detector and OCR in the same process it slowed every stage (a 1080p image with three
    plates took 100-120 ms instead of 80). Thread-safe: each call makes its own infer requests.
    """

    def __init__(self, runtime: Runtime, size: int = REFINE_SIZE) -> None:
        model = runtime.read_model(DETECTOR_MODEL)
        try:
            model.reshape([1, 3, size, size])
        except RuntimeError as exc:  # a detector exported with a fixed input (before 2026-11)
            raise VisionError(
                f"the plate detector cannot run at {size}x{size}; re-export it with a dynamic input "
                "(models/training/export_detector.py)"
            ) from exc
        self.size = size
        self.compiled = runtime.compile(_with_preprocessing(model), Mode.LATENCY)

    def refine(self, frame: Image, detection: Detection) -> Detection:
        """`detection` with its box re-detected zoomed in, or unchanged when nothing better is found."""
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = neighbourhood(detection.box, width, height)
        if x1 - x0 < 8 or y1 - y0 < 4:
            return detection
        canvas, placement = letterbox(frame[y0:y1, x0:x1], self.size)
        output: NDArray[np.float32] = self.compiled.create_infer_request().infer(canvas, share_inputs=True)[0]
        return _closest(detection, decode(output, placement, SCORE_THRESHOLD, NMS_THRESHOLD), x0, y0)

    def refine_all(self, frame: Image, detections: Sequence[Detection]) -> list[Detection]:
        return [self.refine(frame, d) for d in detections]


def _closest(detection: Detection, found: Sequence[Detection], x0: int, y0: int) -> Detection:
    """The re-detected box (found in the neighbourhood at x0, y0) overlapping `detection` most."""
    best, best_iou = None, REFINE_MIN_IOU
    for candidate in found:
        box = Box(candidate.box.x + x0, candidate.box.y + y0, candidate.box.w, candidate.box.h)
        overlap = iou(box, detection.box)
        if overlap >= best_iou:
            best, best_iou = box, overlap
    return detection if best is None else Detection(best, detection.score, detection.corners)


def fuse_views(results: Sequence[OcrResult], top_k: int = 8) -> OcrResult:
    """One reading from the readings of several crops of the same plate.

    A candidate's score is the geometric mean of its probability over the crops, each floored at
    `FUSION_FLOOR` (a crop that did not offer it counts as the floor), so the winner is the text the
    crops agree on: one crop confidently misreading a slogan as the plate cannot outvote the others,
    as it does with a plain mean. The per-character confidences are those of the crop that read the
    winner most confidently.
    """
    if len(results) == 1:
        return results[0]
    texts = {c.text for r in results for c in r.candidates}
    if not texts:
        return OcrResult("", 0.0, (), ())
    scores: dict[str, float] = {}
    for text in texts:
        logs = 0.0
        for result in results:
            p = next((c.score for c in result.candidates if c.text == text), 0.0)
            logs += math.log(max(p, FUSION_FLOOR))
        scores[text] = math.exp(logs / len(results))
    ranked = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    winner = ranked[0][0]
    source = max((r for r in results if r.text == winner), key=lambda r: r.confidence, default=None)
    if source is not None:
        confs = source.char_confidences
    else:  # no crop's best path was the winner: its fused probability per character
        confs = (ranked[0][1] ** (1.0 / max(1, len(winner))),) * len(winner)
    return OcrResult(
        text=winner,
        confidence=float(min(confs)) if confs else 0.0,
        char_confidences=tuple(confs),
        candidates=tuple(Candidate(text, score) for text, score in ranked[:top_k]),
    )
