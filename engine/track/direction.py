"""Direction of travel of a pass, from its plate's boxes over the pass.

Why from the plate: its size is the one distance cue a single camera has (a plate that grows comes
closer), and its centre's movement is the heading in the picture. Below the thresholds a pass says
nothing rather than guess.

Why a fit over every box, not the first and the last: one box is one detection, a few pixels off,
and the first and last boxes are the worst of a pass, often cut by the frame edge as the plate
enters or leaves (a cut plate is narrower: on the demo video, where every car crosses at one
size, one pass in eight changed width by over 10 % between its first and last box). Boxes that
touch the frame edge are left out, and the width's trend (log width against time) and the
centre's (least squares) over the rest say how the plate moved, so no single box decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from platewatch.engine.vision.types import Box

from .geometry import centre

#: A plate this much larger (smaller) at the end of a pass than at its start came closer (went away),
#: the sizes read off the fitted trend. Chosen on training data (docs/streams.md, "Direction of
#: travel"): on the demo video, where cars cross at one size, the fit stayed within 5 % on 44 of 44
#: passes; the training photos played as a camera, whose approach grows the plate by 25 %, came
#: out between 5 % and 40 %. 10 % is also the change the tracker waits for before it decides a
#: camera's expected direction (`Tracker._heading_ok`).
SIZE_RATIO: Final = 1.10
#: A box this close to the frame's edge (pixels) may be cut by it: left out of the fit.
EDGE_MARGIN: Final = 3
#: A heading needs the plate's centre to move at least this many plate widths.
MIN_MOVE: Final = 0.3


#: A heading this many degrees or less from the expected one counts as right (the benches'
#: `direction_right`): a quarter turn either way still tells left from right and up from down.
HEADING_TOLERANCE: Final = 45.0


def angle_between(a: float, b: float) -> float:
    """The smaller angle between two headings, in degrees (0 to 180)."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def direction_right(
    direction: str,
    heading: float | None,
    expected_direction: str,
    expected_heading: float | None,
    heading_required: bool = True,
) -> bool:
    """Whether a pass's (direction, heading) is the expected one, as the benches score it.

    `expected_heading` None: the plate moved too little for a heading, so none must be given.
    With `heading_required` False (a plate that moved about `MIN_MOVE` widths, where either answer
    is fair) no heading is right too, and a heading must be within `HEADING_TOLERANCE`.
    """
    if direction != expected_direction:
        return False
    if expected_heading is None:
        return heading is None
    if heading is None:
        return not heading_required
    return angle_between(heading, expected_heading) <= HEADING_TOLERANCE


def travel(first: Box, last: Box, size_ratio: float = SIZE_RATIO) -> tuple[str, float | None]:
    """("approaching" | "receding" | "", heading in degrees or None) from a pass's first and last box.

    `size_ratio`: the change in width that counts as closer or farther (`SIZE_RATIO` for plates).
    The heading is in the image plane, counter-clockwise from the right: 0 right, 90 up the
    picture, 180 left, 270 down.
    """
    (x0, y0), (x1, y1) = centre(first), centre(last)
    return _judge(last.w / max(first.w, 1), x1 - x0, y1 - y0, max(first.w, last.w, 1), size_ratio)


def _judge(ratio: float, dx: float, dy: float, width: float, size_ratio: float) -> tuple[str, float | None]:
    """(direction, heading) from the plate's growth, its centre's move and its larger width."""
    direction = "approaching" if ratio > size_ratio else "receding" if ratio < 1 / size_ratio else ""
    if math.hypot(dx, dy) < MIN_MOVE * width:
        return direction, None
    return direction, round(math.degrees(math.atan2(-dy, dx)) % 360.0, 1) % 360.0  # 359.96 is 0.0


def cut(box: Box, frame: tuple[int, int]) -> bool:
    """Whether `box` touches the edge of a `frame` (width, height): the plate may be cut by it."""
    width, height = frame
    m = EDGE_MARGIN
    return box.x <= m or box.y <= m or box.x + box.w >= width - m or box.y + box.h >= height - m


def _slope(ts: Sequence[float], vs: Sequence[float]) -> float:
    """Least-squares slope of `vs` against `ts` (`ts` not all equal)."""
    n = len(ts)
    mt, mv = sum(ts) / n, sum(vs) / n
    return sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / sum((t - mt) ** 2 for t in ts)


def _median_slope(ts: Sequence[float], vs: Sequence[float]) -> float:
    """Theil-Sen slope: the median of the slopes between every two points at different times, so
    one box far off (a detection that took in the plate's frame) moves it little."""
    slopes = sorted(
        (vs[j] - vs[i]) / (ts[j] - ts[i])
        for i in range(len(ts))
        for j in range(i + 1, len(ts))
        if ts[j] != ts[i]
    )
    if not slopes:
        return 0.0
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


def travel_along(
    path: Sequence[tuple[float, Box]],
    frame: tuple[int, int] | None = None,
    size_ratio: float = SIZE_RATIO,
) -> tuple[str, float | None]:
    """`travel` over a pass's sightings (capture time, box), fitted rather than first against last.

    `frame` (width, height): boxes touching its edge are left out, unless no two others remain.
    The plate's size (the geometric mean of its box's width and height: the detector's boxes
    jitter by about a tenth from frame to frame, width and height apart) is fitted in log (a
    steady approach grows it by a steady factor a second) by the median of pairwise slopes, and
    its centre by least squares, against time; the fitted growth and move over the pass decide as
    in `travel`. (At most 128 sightings: the median's pairs cost well under a millisecond.)
    """
    whole = [(t, b) for t, b in path if frame is None or not cut(b, frame)]
    if len(whole) < 2:
        whole = list(path)
    if len(whole) < 2:
        return ("", None) if not whole else travel(whole[0][1], whole[0][1], size_ratio)
    ts = [t for t, _ in whole]
    span = max(ts) - min(ts)
    if span <= 0:
        return travel(whole[0][1], whole[-1][1], size_ratio)
    mid = [(t, *centre(b)) for t, b in whole]
    sizes = [0.5 * math.log(max(b.w, 1) * max(b.h, 1)) for _, b in whole]  # log of sqrt(w * h)
    growth = math.exp(_median_slope(ts, sizes) * span)
    dx = _slope(ts, [x for _, x, _ in mid]) * span
    dy = _slope(ts, [y for _, _, y in mid]) * span
    width = max(b.w for _, b in whole)
    return _judge(growth, dx, dy, width, size_ratio)
