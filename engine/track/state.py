"""The issuing state of a pass's plate, named once when the pass closes, and what it changes.

Why once per pass: the state reader (`vision.plate_state`) costs a text-line recognizer run per
band, about 0.1 s on one core, far more than a frame's plate reading; a pass's best frame shows
the state as well as any. The state then chooses among the final read's candidates by the state's
formats (`vision.plate_formats`, only on strong evidence) and is recorded on the read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from platewatch.codecs import Read
from platewatch.engine.vision.plate_formats import choose_by_state
from platewatch.engine.vision.types import Box, Image

#: The state shown by the plate in `box` of a frame (USPS code), or "" where none is legible.
StateOf = Callable[[Image, Box], str]


def with_state(read: Read, state: str) -> Read:
    """`read` carrying `state`, its plate the candidate the state's formats choose (if another)."""
    if not state or read.plateless:
        return read
    chosen = choose_by_state(read.candidates, state)
    if chosen == 0:
        return dataclasses.replace(read, state=state)
    text, score = read.candidates[chosen]
    others = tuple(c for i, c in enumerate(read.candidates) if i != chosen)
    return dataclasses.replace(
        read,
        state=state,
        plate=text,
        confidence=max(0.0, min(1.0, score)),
        char_confidences=(),  # the recognizer's belong to its best reading, not this one
        candidates=((text, score), *others),
    )


__all__ = ["StateOf", "with_state"]
