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


def along_path(start: Box, end: Box, box: Box) -> float | None:
    """How far `box`'s centre lies from the segment between the centres of `start` and `end` (in
    units of the largest box width), or None where it is not alongside it: behind `start` or past
    `end` (that is, the distance from the path a track's motion predicts for its plate).

    A track's prediction assumes the plate moved for all the time since it was last seen, but after
    a stall of the frames the picture may have moved on less (a decoder that paused with the worker
    hands on the frame after the last one seen): the plate is then somewhere along that path,
    ahead of where it was. Behind it is where the vehicle following it is."""
    (sx, sy), (ex, ey), (bx, by) = centre(start), centre(end), centre(box)
    dx, dy = ex - sx, ey - sy
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return None
    k = ((bx - sx) * dx + (by - sy) * dy) / length2
    if not 0.0 <= k <= 1.0:
        return None
    px, py = sx + k * dx, sy + k * dy
    scale = max(start.w, end.w, box.w, 1)
    return float(((bx - px) ** 2 + (by - py) ** 2) ** 0.5 / scale)


def text_similarity(a: str, b: str) -> float:
    """1 for equal texts, 0 for nothing in common: 1 - edit distance / longer length."""
    longest = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longest if longest else 1.0
