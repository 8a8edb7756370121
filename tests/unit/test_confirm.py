"""Passes confirmed by the thorough reading of their best frames when they close (`track/confirm.py`)."""

from __future__ import annotations

import numpy as np

from platewatch.engine.track.confirm import ConfirmingTracker, confirmed
from platewatch.engine.track.tracker import Tracker
from platewatch.engine.vision.types import Box, Candidate, Image, Observation, VisionError


def obs(text: str, x: int, w: int = 100, conf: float = 0.9) -> Observation:
    return Observation(
        text, conf, (conf,) * len(text), (Candidate(text, conf),), Box(x, 100, w, w // 2), 0.9, "us"
    )


class Rereads:
    """Stand-in thorough reading: answers `text` at `conf`, recording the frames and boxes asked."""

    def __init__(self, text: str, conf: float, fail: bool = False) -> None:
        self.text, self.conf, self.fail = text, conf, fail
        self.asked: list[tuple[int, Box, str]] = []

    def __call__(self, frame: Image, box: Box, region: str) -> Observation | None:
        self.asked.append((int(frame[0, 0, 0]), box, region))
        if self.fail:
            raise VisionError("unusable frame")
        return obs(self.text, box.x, box.w, self.conf) if self.text else None


def drive(tracker: Tracker, texts: list[str], conf: float = 0.8) -> list:
    out = []
    for i, text in enumerate(texts):
        frame = np.full((8, 8, 3), i, np.uint8)  # the frame's number in its pixels
        out += tracker.update([obs(text, 300 + 5 * i, 100 + 4 * i, conf)], 1000.0 + i / 10, frame)
    return out + tracker.update([], 1000.0 + len(texts) / 10 + 2.0)


def test_a_confidently_wrong_vote_is_corrected_by_the_thorough_reading() -> None:
    rereads = Rereads("CG2H2U", 0.95)
    tracker = ConfirmingTracker("cam", reread=rereads)
    reads = drive(tracker, ["CG22U"] * 6, conf=0.8)
    final = [r for r in reads if not r.provisional]
    assert [r.plate for r in final] == ["CG2H2U"]
    assert final[0].candidates[0][0] == "CG2H2U" and "CG22U" in [c[0] for c in final[0].candidates]
    # the provisional read went out uncorrected (it is not held back for the reread)
    assert [r.plate for r in reads if r.provisional] == ["CG22U"]
    # the best read's frame (all equally confident: the first) and the largest plate's (the last)
    assert [a[0] for a in rereads.asked] == [0, 5] and rereads.asked[1][1].w == 120


def test_a_vote_the_thorough_reading_does_not_beat_stays() -> None:
    for rereads in (
        Rereads("CG22U", 0.99),
        Rereads("XXXXXX", 0.5),
        Rereads("", 0.0),
        Rereads("A", 1.0, fail=True),
    ):
        final = [
            r
            for r in drive(ConfirmingTracker("cam", reread=rereads), ["CG22U"] * 6, 0.8)
            if not r.provisional
        ]
        assert [r.plate for r in final] == ["CG22U"], rereads.text


def test_confirmed_keeps_the_read_when_nothing_was_reread() -> None:
    read = drive(Tracker("cam"), ["7ABC123"] * 3)[-1]
    assert confirmed(read, []) is read
    better = confirmed(read, [obs("7ABC128", 0, conf=0.99)])
    assert better.plate == "7ABC128" and better.read_id == read.read_id and better.pass_id == read.pass_id


def test_flush_confirms_open_passes_too() -> None:
    rereads = Rereads("8XYZ999", 0.97)
    tracker = ConfirmingTracker("cam", reread=rereads)
    for i in range(4):
        tracker.update([obs("8XYZ99", 300 + 5 * i, conf=0.7)], 1000.0 + i / 10, np.zeros((8, 8, 3), np.uint8))
    assert [r.plate for r in tracker.flush()] == ["8XYZ999"]


def test_without_a_reread_the_vote_stands() -> None:
    """`vision.thorough: never`: the runner tracks with reread None (the state reader may still run)."""
    final = [r for r in drive(ConfirmingTracker("cam", reread=None), ["CG22U"] * 6, 0.8) if not r.provisional]
    assert [r.plate for r in final] == ["CG22U"]
