"""A pass's frames weighed together: the read message carries the frames' own readings (old
messages decode without them), the vote picks the most confident frames, and the matcher combines
each frame's evidence with the vote's as the fitted weights say."""

from __future__ import annotations

import uuid
from dataclasses import asdict

import pytest

from platewatch.codecs import CodecError, FrameReading, Read, decode_read, encode_read
from platewatch.codecs.envelope import pack_map
from platewatch.engine.alerts import match_read
from platewatch.engine.hotlist import HotlistIndex, ListSettings, pass_weights
from platewatch.engine.hotlist.matcher import match_read_text
from platewatch.engine.hotlist.pass_evidence import combine, pass_features
from platewatch.engine.track import Tracker
from platewatch.engine.track.vote import MAX_FRAMES, vote
from platewatch.engine.vision.types import Box, Candidate, Observation

#: frames counting as fully independent: logit E = the sum of the frames' log-odds
INDEPENDENT = (0.0, 0.0, 1.0, 1.0, 0.0)
SURE = (0.999,) * 6


def _index(*plates: str) -> HotlistIndex:
    index = HotlistIndex({"stolen": ListSettings("stolen")}, "pw:hot")
    index.build(["stolen"] * len(plates), list(plates), [b"reason\x1fx"] * len(plates))
    return index


def _frame(text: str, q: float = 0.999) -> FrameReading:
    return (text, q, (q,) * len(text), ((text, q),))


def _read(frames: tuple[FrameReading, ...] = ()) -> Read:
    return Read(str(uuid.uuid4()), "cam", 1.0, "7OC123", 0.999, char_confidences=SURE, frames=frames)


def test_frames_round_trip_and_an_old_read_decodes_without_them() -> None:
    read = _read((_frame("7OC123"), _frame("70C123", 0.8)))
    assert decode_read(encode_read(read)) == read
    old = asdict(read)
    del old["frames"]
    assert decode_read(pack_map(old)).frames == ()
    bad = {**asdict(read), "frames": [["7OC123", float("nan"), [], []]]}
    with pytest.raises(CodecError, match="frames"):
        decode_read(pack_map(bad))


def _obs(text: str, q: float) -> Observation:
    return Observation(text, q, (q,) * len(text), (Candidate(text, q),), Box(0, 0, 1, 1), 1.0, "us")


def test_the_vote_carries_its_most_confident_frames_in_order() -> None:
    reads = [_obs("7OC123", q) for q in (0.5, 0.9, float("nan"), 0.7, 0.95)]
    frames = vote(reads).frames
    assert len(frames) == MAX_FRAMES == 3
    assert [f[1] for f in frames] == [0.9, 0.7, 0.95]  # the most confident, as seen; NaN never carried
    assert vote(reads[:1]).frames == ()


def test_without_weights_or_frames_the_vote_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pass_weights, "WEIGHTS", None)
    assert combine(0.3, [0.1, 0.1, 0.1]) == 0.3
    monkeypatch.setattr(pass_weights, "WEIGHTS", INDEPENDENT)
    assert combine(0.3, [0.1]) == 0.3  # one frame is the vote itself
    assert pass_features(0.5, [0.5, 0.5]) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_agreeing_frames_weigh_more_than_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # the recognizer reads O where the plate has 0 even when sure, so one sure read of 7OC123
    # leaves the listed 70C123 a real chance; three frames that agree leave it much less
    monkeypatch.setattr(pass_weights, "WEIGHTS", INDEPENDENT)
    index = _index("70C123")
    args = ("7OC123", 0.999, [("7OC123", 0.999)], SURE)
    [alone] = match_read_text(index, *args)
    [agreed] = match_read_text(index, *args, frames=(_frame("7OC123"),) * 3)
    assert agreed.single == alone.evidence and len(agreed.per_frame) == 3
    assert agreed.evidence < alone.evidence / 10
    # a frame that read the entry itself lifts it again
    [mixed] = match_read_text(index, *args, frames=(_frame("7OC123"), _frame("70C123"), _frame("7OC123")))
    assert mixed.evidence > agreed.evidence
    # the match agent's call hands the read's frames to the matcher
    [via_agent] = match_read(index, _read((_frame("7OC123"),) * 3))
    assert via_agent.evidence == agreed.evidence


def test_a_sure_exact_pass_still_alerts_and_bad_frames_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index("7ABC123")
    sure = (0.99,) * 7
    frames = (_frame("7ABC123", 0.99),) * 3
    [m] = match_read_text(index, "7ABC123", 0.99, [("7ABC123", 0.99)], sure, frames=frames)
    assert m.tier == "alert" and m.evidence > 0.9 and m.per_frame == ()  # shipped off: frames cost nothing
    monkeypatch.setattr(pass_weights, "WEIGHTS", pass_weights.LAST_FIT)
    [m] = match_read_text(index, "7ABC123", 0.99, [("7ABC123", 0.99)], sure, frames=frames)
    assert m.tier == "alert" and m.evidence > 0.9 and len(m.per_frame) == 3
    monkeypatch.setattr(pass_weights, "WEIGHTS", INDEPENDENT)
    hostile = (("", 0.0, (), ()), ("???", 0.0, (0.0,), ()), *frames * 100)
    [h] = match_read_text(index, "7ABC123", 0.99, [("7ABC123", 0.99)], sure, frames=hostile)
    assert h.tier == "alert" and len(h.per_frame) <= 8


def test_with_the_last_fit_a_frame_that_read_the_entry_lifts_the_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the vote read 7OC123 (a sure O the recognizer is known to misread), one frame read the listed
    # 70C123 itself: weighed together the pass alerts far more surely than the vote alone says
    monkeypatch.setattr(pass_weights, "WEIGHTS", pass_weights.LAST_FIT)
    index = _index("70C123")
    args = ("7OC123", 0.999, [("7OC123", 0.999)], SURE)
    [alone] = match_read_text(index, *args)
    frames = (_frame("7OC123"), _frame("70C123", 0.99), _frame("7OC123"))
    [weighed] = match_read_text(index, *args, frames=frames)
    assert weighed.tier == "alert" and weighed.evidence > 10 * alone.evidence


def test_the_trackers_reads_carry_their_frames_through_the_codec() -> None:
    tracker = Tracker("cam-1")
    seen = [
        Observation(
            "7ABC123", q, (q,) * 7, (Candidate("7ABC123", q),), Box(50 + 30 * i, 100, 100, 40), 0.9, "us"
        )
        for i, q in enumerate([0.8, 0.95, 0.9, 0.97, 0.85, 0.99, 0.9, 0.92])
    ]
    out = [r for i, o in enumerate(seen) for r in tracker.update([o], 1000.0 + i / 10)] + tracker.flush()
    final = out[-1]
    confidences = [f[1] for f in final.frames]
    assert not final.provisional and len(final.frames) == MAX_FRAMES and 0.99 in confidences
    assert min(confidences) >= 0.95 and {f[0] for f in final.frames} == {"7ABC123"}
    assert decode_read(encode_read(final)).frames == final.frames
