"""The thorough reading of a pass's best frames when it closes, to confirm or correct its vote.

Why: per frame the camera path reads cheaply and votes; when its frames agree on the same wrong
reading (a character every cheap crop drops, a plate the cheap crops read short), the vote is
confidently wrong, while the single-photo path (three crops, a zoomed re-detection of an unsure
plate) reads the same frame right. A pass closes once per vehicle, so the thorough reading of two of
its frames costs a few OCR crops and at most two small detector runs per vehicle, against a dozen
frames of cheap reading: the headroom is there. The frames re-read are the pass's most confident
read and its largest plate (an approaching vehicle's last frame).

Only the final read changes: the provisional read has already gone out for the fastest alert, and
its correction arrives with the final read of the same pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from platewatch.codecs import Read
from platewatch.engine.vision.types import Box, Image, Observation, VisionError

from .state import StateOf, with_state
from .tracker import Tracker, _Track
from .vote import MAX_CANDIDATES

#: The thorough reading of the plate in `box` of a frame (`Recognizer.reread`), or None.
Reread = Callable[[Image, Box, str], Observation | None]


def confirmed(read: Read, rereads: list[Observation]) -> Read:
    """`read` (a pass's final read) after the thorough rereads of its frames.

    The most confident reread replaces the vote when it reads another text more confidently than
    the vote's weakest character; the vote's text then stays among the candidates, for the
    hotlist's fuzzy match. Rereads that agree with the vote change nothing.
    """
    if not rereads:
        return read
    best = max(rereads, key=lambda r: r.confidence)
    if not best.text or best.text == read.plate or best.confidence <= read.confidence:
        return read
    others = [(t, s) for t, s in read.candidates if t != best.text]
    candidates = ((best.text, round(best.confidence, 4)), *others)[:MAX_CANDIDATES]
    return dataclasses.replace(
        read,
        plate=best.text,
        confidence=max(0.0, min(1.0, best.confidence)),
        char_confidences=tuple(round(c, 4) for c in best.char_confidences),
        candidates=candidates,
    )


class ConfirmingTracker(Tracker):
    """A `Tracker` whose final reads are confirmed by `reread` (see the module's docstring).

    `reread` runs in the thread that calls `update`/`flush` (the camera runner's worker thread).
    """

    def __init__(
        self, *args: Any, reread: Reread | None, state_of: StateOf | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reread = reread
        #: Names the plate's state on the pass's best frame once it closes (`track.state`).
        self.state_of = state_of
        self._largest: dict[str, tuple[Image, Observation]] = {}  # pass id -> its largest plate

    def _observe(self, track: _Track, read: Observation, t: float, frame: Image | None) -> None:
        super()._observe(track, read, t, frame)
        if frame is None:
            return
        largest = self._largest.get(track.pass_id)
        if largest is None or read.box.w > largest[1].box.w:
            self._largest[track.pass_id] = (frame, read)

    def _final(self, track: _Track) -> Read | None:
        largest = self._largest.pop(track.pass_id, None)
        read = super()._final(track)
        if read is None:
            return None
        frames: list[tuple[Image, Observation]] = []
        if track.best_frame is not None and track.best is not None:
            frames.append((track.best_frame, track.best))
        if largest is not None and (not frames or largest[0] is not frames[0][0]):
            frames.append(largest)
        rereads: list[Observation] = []
        reread = self.reread
        for frame, seen in frames:
            if reread is None:  # vision.thorough: never
                break
            try:
                again = reread(frame, seen.box, seen.region or self.region)
            except VisionError:  # a frame the recognizer cannot use keeps the vote
                continue
            if again is not None:
                rereads.append(again)
        read = confirmed(read, rereads)
        if self.state_of is not None and frames:
            with contextlib.suppress(VisionError):  # a frame it cannot use leaves the state unknown
                read = with_state(read, self.state_of(frames[0][0], frames[0][1].box))
        return read

    def flush(self) -> list[Read]:
        out = super().flush()
        self._largest.clear()
        return out
