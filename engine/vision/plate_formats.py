"""Choosing among the recognizer's candidates by the plate's state's formats.

Why only on strong evidence: a state's format table lists its standard passenger series, but
vanity, dealer, commercial and exempt plates fit none of them (``59 CADI``, ``CA EXEMPT 1366026``),
so a best reading that fits no format is often still right. The best reading is replaced only
when it fits none of the state's formats, a candidate of the same length does, and that
candidate's score is at least `MIN_RATIO` of the best's: the recognizer itself was nearly torn.
Measured on the training photos (the recognizer reads all 83 right): nothing changes, so no
correct read turns wrong; what it gains is measured once on the held-out third (docs/streams.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .us_states import fits_state

#: A fitting candidate must score at least this share of the best one's score.
MIN_RATIO: Final = 0.5


def choose_by_state(candidates: Sequence[tuple[str, float]], state: str, min_ratio: float = MIN_RATIO) -> int:
    """The index of the candidate to read as the plate (0: keep the recognizer's best)."""
    if not candidates or not state:
        return 0
    best_text, best_score = candidates[0]
    if fits_state(best_text, state) is not False:  # fits, or the state has no formats listed
        return 0
    for i, (text, score) in enumerate(candidates[1:], start=1):
        if len(text) == len(best_text) and score >= min_ratio * best_score and fits_state(text, state):
            return i
    return 0


__all__ = ["MIN_RATIO", "choose_by_state"]
