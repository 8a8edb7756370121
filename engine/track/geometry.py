"""Box overlap, motion prediction and plate-text similarity: the three cues of association.

Kept apart from the tracker so each cue is tested on its own and the association rule reads
as a formula over them.
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


def centre(box: Box) -> tuple[float, float]:
    return box.x + box.w / 2, box.y + box.h / 2


def shifted(box: Box, dx: float, dy: float) -> Box:
    return Box(round(box.x + dx), round(box.y + dy), box.w, box.h)


def centre_distance(a: Box, b: Box) -> float:
    """Distance of the centres in units of the larger box width (scale-free: near and far plates)."""
    (ax, ay), (bx, by) = centre(a), centre(b)
    scale = max(a.w, b.w, 1)
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / scale)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance; plates are short, so the quadratic table costs nothing."""
    if a == b:
        return 0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def text_similarity(a: str, b: str) -> float:
    """1 for equal texts, 0 for nothing in common: 1 - edit distance / longer length."""
    longest = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longest if longest else 1.0
