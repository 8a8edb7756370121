"""Result types of recognition, shared by the detector, the OCR, tracking and the codecs.

Frozen dataclasses: results travel between threads and tasks, and a result that cannot be
mutated after the fact is one nobody has to defend against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: A decoded picture: BGR, uint8, height x width x 3. (A *frame* is such an image with the time it
#: was captured: `platewatch.engine.ingest.frame.Frame`.) Here, with the result types, so tracking
#: and ingest can name it without loading OpenCV.
Image = NDArray[np.uint8]


class VisionError(ValueError):
    """Input the vision stack cannot work on (empty, corrupt, wrong dtype/shape, too large)."""


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixels of the full frame."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Detection:
    """A plate found in a frame: box, score, and the four corners when the model gives them."""

    box: Box
    score: float
    corners: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One reading of a crop with its score (product of per-character probabilities)."""

    text: str
    score: float


@dataclass(frozen=True, slots=True)
class OcrResult:
    """What the plate recognizer read from one crop.

    `candidates` are the top-k readings, best first; `char_confidences` belong to the best.
    Later stages (region rules, tracking votes, fuzzy hotlist matching) use the candidates.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """One plate read in one image: a frame's observation. A vehicle pass's observations are
    voted into its `Read` (`platewatch.codecs.Read`, the pw.reads message)."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    candidates: tuple[Candidate, ...]
    box: Box
    detection_score: float
    region: str
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(
        cls, detection: Detection, ocr: OcrResult, region: str, timings_ms: dict[str, float]
    ) -> Observation:
        """The plate `detection` found, as `ocr` read it (the single-photo and camera paths alike)."""
        return cls(
            text=ocr.text,
            confidence=ocr.confidence,
            char_confidences=ocr.char_confidences,
            candidates=ocr.candidates,
            box=detection.box,
            detection_score=detection.score,
            region=region,
            timings_ms=dict(timings_ms),
        )
