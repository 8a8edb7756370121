"""Direction of travel of a pass, from its plate's first and last boxes.

Why from the plate: its size is the one distance cue a single camera has (a plate that grows comes
closer), and its centre's movement is the heading in the picture. Below the thresholds a pass says
nothing rather than guess. The size threshold is 25 %, not the 10 % the tracker waits for before
deciding a camera's expected direction (`Tracker._heading_ok`): on the demo video, where every car
crosses at one size, one pass in eight changed width by over 10 % between its first and last box
(a plate cut by the frame edge as it enters or leaves), while an approaching car's plate grows by
far more than 25 % over a pass.
"""

from __future__ import annotations

import math
from typing import Final

from platewatch.engine.vision.types import Box

from .geometry import centre

#: A plate this much wider (narrower) at the end of a pass than at its start came closer (went away).
SIZE_RATIO: Final = 1.25
#: A heading needs the plate's centre to move at least this many plate widths.
MIN_MOVE: Final = 0.3


def travel(first: Box, last: Box, size_ratio: float = SIZE_RATIO) -> tuple[str, float | None]:
    """("approaching" | "receding" | "", heading in degrees or None) from a pass's first and last box.

    `size_ratio`: the change in width that counts as closer or farther (`SIZE_RATIO` for plates).
    The heading is in the image plane, counter-clockwise from the right: 0 right, 90 up the
    picture, 180 left, 270 down.
    """
    ratio = last.w / max(first.w, 1)
    direction = "approaching" if ratio > size_ratio else "receding" if ratio < 1 / size_ratio else ""
    (x0, y0), (x1, y1) = centre(first), centre(last)
    dx, dy = x1 - x0, y1 - y0
    if math.hypot(dx, dy) < MIN_MOVE * max(first.w, last.w, 1):
        return direction, None
    return direction, round(math.degrees(math.atan2(-dy, dx)) % 360.0, 1) % 360.0  # 359.96 is 0.0
