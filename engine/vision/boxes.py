"""Box overlap: how recognition tells two boxes apart as the same plate or two.

Vision needs it (merging views and dropping duplicate detections) and tracking builds on it, so
it lives at the bottom of the two: tracking imports it from here, vision never imports tracking.
"""

from __future__ import annotations

from platewatch.engine.vision.types import Box


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0
