"""A pass's frames weighed together: evidence for an entry from every frame's own reading.

The tracker's vote keeps each character's support on one frame's confidence scale: three frames
that read O at 0.999 support O at 0.999, as one frame does, so frames that agree add nothing
against a character the recognizer is known to misread confidently. Each frame's reading is
weighed on its own (the single-frame evidence, calibrated on single reads) and the frames'
log-odds are combined with the vote's by a logistic model fitted on the alerts bench's passes
(`pass_weights.py`). A pass's frames share the plate, the light and the angle, so their errors are
not independent: the fit says how much a further frame counts rather than assuming it counts fully
(weights of 1 on the frames' sum and 0 elsewhere would be independent frames).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import pass_weights

#: log-odds are clipped here: beyond, the calibration has no data and one frame could outvote all
CLIP = 10.0
#: fewest frames that are weighed together (one frame is the vote itself)
MIN_FRAMES = 2
#: weights under which the combination is the vote's own evidence (clipped): the fit collects its
#: rows under these, so each match carries its frames' evidence without it changing anything
NEUTRAL = (0.0, 1.0, 0.0, 0.0, 0.0)


def logit(p: float) -> float:
    p = min(1.0 - 1e-9, max(1e-9, p))
    return max(-CLIP, min(CLIP, math.log(p / (1.0 - p))))


def pass_features(vote: float, frames: Sequence[float]) -> list[float]:
    """What the combination is fitted on (the fit calls this too): bias, the vote's log-odds, the
    frames' mean log-odds, that mean times the further frames (n - 1: how much agreeing frames
    add), and the least sure frame's log-odds (one frame that refutes the entry)."""
    odds = [logit(e) for e in frames]
    mean = sum(odds) / len(odds)
    return [1.0, logit(vote), mean, (len(odds) - 1) * mean, min(odds)]


def combine(vote: float, frames: Sequence[float]) -> float:
    """P(the vehicle is the entry | the vote's evidence and each frame's), fitted; the vote's
    evidence where there are too few frames or no fit."""
    weights = pass_weights.WEIGHTS
    if weights is None or len(frames) < MIN_FRAMES:
        return vote
    z = sum(w * x for w, x in zip(weights, pass_features(vote, frames), strict=True))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
