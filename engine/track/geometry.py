"""Motion prediction and plate-text similarity: with box overlap (`vision.boxes.iou`), the three
cues of association.

Kept apart from the tracker so each cue is tested on its own and the association rule reads
as a formula over them.
"""

from __future__ import annotations

from platewatch.engine.plates import edit_distance
from platewatch.engine.vision.types import Box


def centre(box: Box) -> tuple[float, float]:
    return box.x + box.w / 2, box.y + box.h / 2


def shifted(box: Box, dx: float, dy: float) -> Box:
    return Box(round(box.x + dx), round(box.y + dy), box.w, box.h)


def centre_distance(a: Box, b: Box) -> float:
    """Distance of the centres in units of the larger box width (scale-free: near and far plates)."""
    (ax, ay), (bx, by) = centre(a), centre(b)
    scale = max(a.w, b.w, 1)
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / scale)


def text_similarity(a: str, b: str) -> float:
    """1 for equal texts, 0 for nothing in common: 1 - edit distance / longer length."""
    longest = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longest if longest else 1.0
