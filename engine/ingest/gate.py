"""Which frames are worth recognising, and which reads are inside the watched area.

The motion gate skips frames in which nothing moved (a quiet street at night is most frames): it
compares a small grey thumbnail with the previous one, which costs well under a millisecond at
any resolution. The region of interest is a polygon in normalised coordinates (0..1, so it
survives a resolution change); reads whose plate centre lies outside it are dropped. The detector
still sees the whole frame, because a masked frame confuses it near the mask's edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np

from platewatch.engine.vision.types import Observation

from .frame import Image

Polygon = Sequence[tuple[float, float]]


@dataclass
class MotionGate:
    """True when the frame differs from the last one by more than `threshold` (share of pixels)."""

    threshold: float = 0.002
    pixel_delta: int = 18
    width: int = 160
    _last: Image | None = field(default=None, repr=False)

    def moved(self, image: Image) -> bool:
        h, w = image.shape[:2]
        small = cv2.resize(
            image, (self.width, max(1, h * self.width // max(1, w))), interpolation=cv2.INTER_AREA
        )
        grey = cast(Image, cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0))
        last, self._last = self._last, grey
        if last is None or last.shape != grey.shape:
            return True
        changed = np.count_nonzero(cv2.absdiff(grey, last) > self.pixel_delta)
        return bool(changed > self.threshold * grey.size)


def inside(points: Polygon, x: float, y: float) -> bool:
    """Even-odd rule point-in-polygon."""
    result = False
    n = len(points)
    for i in range(n):
        (x0, y0), (x1, y1) = points[i], points[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < (x1 - x0) * (y - y0) / (y1 - y0) + x0:
            result = not result
    return result


def in_roi(reads: Sequence[Observation], roi: Polygon | None, width: int, height: int) -> list[Observation]:
    if not roi:
        return list(reads)
    return [
        r for r in reads if inside(roi, (r.box.x + r.box.w / 2) / width, (r.box.y + r.box.h / 2) / height)
    ]
