"""The tracker: association, per-character voting, provisional/final emission, no duplicates."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platewatch.codecs import Read, decode_read, encode_read
from platewatch.engine.plates import edit_distance
from platewatch.engine.track import Tracker, TrackerConfig, vote
from platewatch.engine.track.geometry import text_similarity
from platewatch.engine.vision.boxes import iou
from platewatch.engine.vision.types import Box, Candidate, Observation


def plate(
    text: str, x: int, y: int = 100, conf: float = 0.9, chars: tuple[float, ...] | None = None
) -> Observation:
    cc = chars if chars is not None else (conf,) * len(text)
    return Observation(
        text=text,
        confidence=conf,
        char_confidences=cc,
        candidates=(Candidate(text, conf),),
        box=Box(x, y, 100, 40),
        detection_score=0.9,
        region="us",
    )


def drive(
    tracker: Tracker, frames: list[list[Observation]], fps: float = 10.0, t0: float = 1000.0
) -> list[Read]:
    out: list[Read] = []
    for i, reads in enumerate(frames):
        out += tracker.update(reads, t0 + i / fps)
    return out + tracker.flush()


def test_geometry() -> None:
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(20, 0, 10, 10)) == 0.0
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert edit_distance("7ABC123", "7A8C123") == 1
    assert edit_distance("ABC", "") == 3
    assert text_similarity("ABC123", "ABC123") == 1.0


def test_vote_fixes_single_frame_confusions() -> None:
    reads = [plate("7ABC123", 0), plate("7A8C123", 0, conf=0.6), plate("7ABC123", 0), plate("7ABC12", 0)]
    result = vote(reads)
    assert result.text == "7ABC123"
    assert result.observations == 4
    assert result.candidates[0][0] == "7ABC123"
    assert "7A8C123" in [c for c, _ in result.candidates]
    # position 2 is contested (B vs 8): its support is lower than the unanimous ones
    assert result.char_confidences[2] < result.char_confidences[0]
    assert result.confidence == min(result.char_confidences)


def test_vote_weighs_by_character_confidence() -> None:
    strong = plate("ABC123", 0, chars=(0.9, 0.95, 0.9, 0.9, 0.9, 0.9))
    weak = [plate("A8C123", 0, chars=(0.9, 0.2, 0.9, 0.9, 0.9, 0.9)) for _ in range(2)]
    assert vote([strong, *weak]).text == "ABC123"


def test_one_car_gives_one_provisional_then_one_final() -> None:
    tracker = Tracker("cam-1")
    frames = [[plate("7ABC123", 50 + 30 * i)] for i in range(15)]
    out = drive(tracker, frames)
    assert [r.provisional for r in out] == [True, False]
    provisional, final = out
    assert provisional.plate == final.plate == "7ABC123"
    assert provisional.pass_id == final.pass_id
    assert provisional.read_id != final.read_id
    assert final.track_length == 15
    assert provisional.track_length == 2  # confident after two agreeing frames
    assert final.camera_id == "cam-1"
    uuid.UUID(final.read_id)
    assert decode_read(encode_read(final)) == final


def test_a_very_confident_first_read_is_provisional_at_once() -> None:
    tracker = Tracker("cam-1")
    assert [r.provisional for r in tracker.update([plate("7ABC123", 0, conf=0.99)], 0.0)] == [True]


def test_provisional_waits_for_confidence() -> None:
    tracker = Tracker("cam-1")
    out = tracker.update([plate("7ABC123", 0, conf=0.5)], 0.0)
    out += tracker.update([plate("7ABC123", 10, conf=0.5)], 0.1)
    assert out == []
    assert tracker.flush()[0].provisional is False


def test_pass_ends_after_the_gap_and_its_final_comes_out_on_the_next_frame() -> None:
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=0.5))
    tracker.update([plate("7ABC123", 0)], 0.0)
    tracker.update([plate("7ABC123", 10)], 0.1)
    assert tracker.update([], 0.5) == []
    out = tracker.update([], 0.7)
    assert [(r.plate, r.provisional) for r in out] == [("7ABC123", False)]
    assert tracker.open_passes == 0


def test_two_cars_in_one_frame_are_two_passes() -> None:
    tracker = Tracker("cam-1")
    frames = [[plate("AAA111", 50 + 20 * i, 100), plate("BBB222", 600 - 20 * i, 300)] for i in range(10)]
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert sorted(r.plate for r in finals) == ["AAA111", "BBB222"]
    assert len({r.pass_id for r in finals}) == 2
    assert all(r.track_length == 10 for r in finals)


def test_crossing_cars_keep_their_identity_by_text() -> None:
    tracker = Tracker("cam-1")
    # two cars on one row moving towards each other; their boxes overlap in the middle frames
    frames = [[plate("AAA111", 100 + 40 * i), plate("BBB222", 700 - 40 * i)] for i in range(12)]
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert sorted((r.plate, r.track_length) for r in finals) == [("AAA111", 12), ("BBB222", 12)]


def test_fast_car_jumping_past_its_box_is_followed_by_motion() -> None:
    tracker = Tracker("cam-1")
    frames = [[plate("FAST99", 120 * i)] for i in range(6)]  # 120 px a frame, box 100 px wide
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert len(finals) == 1 and finals[0].track_length == 6


def test_a_car_hidden_for_a_moment_is_not_read_twice() -> None:
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=0.3, dedupe_s=3.0))
    frames: list[list[Observation]] = [[plate("7ABC123", 100)] for _ in range(5)]
    frames += [[] for _ in range(8)]  # occluded by a truck: the pass ends
    frames += [[plate("7ABC123", 100)] for _ in range(5)]  # same car, still there
    out = drive(tracker, frames)
    assert [(r.plate, r.provisional) for r in out] == [("7ABC123", True), ("7ABC123", False)]


def test_same_plate_much_later_is_a_new_pass() -> None:
    tracker = Tracker("cam-1", TrackerConfig(dedupe_s=2.0))
    first = drive(tracker, [[plate("7ABC123", 100)] for _ in range(3)], t0=0.0)
    second = drive(tracker, [[plate("7ABC123", 100)] for _ in range(3)], t0=100.0)
    assert len([r for r in first + second if not r.provisional]) == 2


def test_weak_single_garbage_read_emits_nothing() -> None:
    tracker = Tracker("cam-1")
    assert drive(tracker, [[plate("X1", 0, conf=0.1)]]) == []


def test_pass_and_read_ids_are_deterministic() -> None:
    frames = [[plate("7ABC123", 50 + 30 * i)] for i in range(5)]
    a, b = drive(Tracker("cam-1"), frames), drive(Tracker("cam-1"), frames)
    assert [r.read_id for r in a] == [r.read_id for r in b]
    c = drive(Tracker("cam-2"), frames)
    assert {r.read_id for r in a}.isdisjoint(r.read_id for r in c)


def test_crops_and_overview_come_from_the_best_frame() -> None:
    encoded: list[tuple[int, ...]] = []

    def encoder(image: np.ndarray) -> bytes:
        encoded.append(image.shape)
        return b"\xff\xd8jpeg"

    tracker = Tracker("cam-1", encode_jpeg=encoder)
    frame = np.zeros((360, 640, 3), np.uint8)
    tracker.update([plate("7ABC123", 100, conf=0.6)], 0.0, frame)
    tracker.update([plate("7ABC123", 120, conf=0.8)], 0.1, frame)
    final = tracker.flush()[-1]
    assert final.crop_jpeg == final.overview_jpeg == b"\xff\xd8jpeg"
    assert final.box == (120, 100, 100, 40)  # the best read's box
    assert (360, 640, 3) in encoded and any(s[0] < 100 for s in encoded)


# -- properties ----------------------------------------------------------------------------------

TEXTS = st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=5, max_size=8)


@st.composite
def scenes(draw: st.DrawFn) -> list[tuple[str, int, int, int, float]]:
    """Cars as (text, lane, first frame, frames seen, confidence); lanes keep cars apart."""
    cars = draw(
        st.lists(
            st.tuples(TEXTS, st.integers(0, 3), st.integers(0, 30), st.integers(1, 25), st.floats(0.35, 1.0)),
            max_size=6,
            unique_by=lambda c: c[0],
        )
    )
    # at most one car per lane at a time, so every car is one pass by construction
    kept: list[tuple[str, int, int, int, float]] = []
    for car in cars:
        _text, lane, start, length, _conf = car
        if all(not (lane == k[1] and start < k[2] + k[3] + 20 and k[2] < start + length + 20) for k in kept):
            kept.append(car)
    return kept


@settings(max_examples=60, deadline=None)
@given(scenes())
def test_each_pass_emits_exactly_one_final_and_at_most_one_provisional(
    cars: list[tuple[str, int, int, int, float]],
) -> None:
    tracker = Tracker("cam-p", TrackerConfig(final_min_confidence=0.0))
    total = max((s + n for _, _, s, n, _ in cars), default=0) + 30
    out: list[Read] = []
    for f in range(total):
        reads = [
            plate(text, 20 + 15 * (f - s), 60 + 150 * lane, conf)
            for text, lane, s, n, conf in cars
            if s <= f < s + n
        ]
        out += tracker.update(reads, f / 10)
    out += tracker.flush()
    finals = [r for r in out if not r.provisional]
    provisionals = [r for r in out if r.provisional]
    assert sorted(r.plate for r in finals) == sorted(c[0] for c in cars)
    assert len({r.pass_id for r in finals}) == len(finals)
    per_pass = [r.pass_id for r in provisionals]
    assert len(per_pass) == len(set(per_pass))
    assert set(per_pass) <= {r.pass_id for r in finals}
    assert len({r.read_id for r in out}) == len(out)
    for r in finals:
        assert r.track_length == next(n for t, _, _, n, _ in cars if t == r.plate)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(TEXTS, st.integers(0, 600), st.integers(0, 300), st.floats(0, 1)), max_size=4),
        max_size=30,
    )
)
def test_arbitrary_input_never_crashes_and_never_repeats_a_read(
    frames: list[list[tuple[str, int, int, float]]],
) -> None:
    tracker = Tracker("cam-f")
    out: list[Read] = []
    for i, reads in enumerate(frames):
        out += tracker.update([plate(t, x, y, c) for t, x, y, c in reads], i / 10)
    out += tracker.flush()
    assert len({r.read_id for r in out}) == len(out)
    assert sum(not r.provisional for r in out) == len({r.pass_id for r in out if not r.provisional})
    assert all(0.0 <= r.confidence <= 1.0 for r in out)


def test_a_plate_boxed_twice_in_one_frame_is_one_pass() -> None:
    tracker = Tracker("cam-1")
    frames = [[plate("7ABC123", 50 + 30 * i), plate("7ABC123", 52 + 30 * i, conf=0.8)] for i in range(5)]
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert len(finals) == 1 and finals[0].track_length == 5


@pytest.mark.parametrize(
    ("direction", "step", "grow", "expected"),
    [
        ("any", -30, 0, 1),
        ("left", -30, 0, 1),
        ("left", 30, 0, 0),
        ("right", 30, 0, 1),
        ("towards", 0, 4, 1),
        ("away", 0, 4, 0),
    ],
)
def test_direction_of_travel_drops_passes_going_the_other_way(
    direction: str, step: int, grow: int, expected: int
) -> None:
    tracker = Tracker("cam-1", TrackerConfig(direction=direction))
    frames = [
        [Observation("7ABC123", 0.9, (0.9,) * 7, (), Box(300 + step * i, 100, 100 + grow * i, 40), 0.9, "us")]
        for i in range(8)
    ]
    out = drive(tracker, frames)
    assert len([r for r in out if not r.provisional]) == expected
    assert len([r for r in out if r.provisional]) == expected


def test_a_pass_across_a_stall_of_the_frames_is_one_pass() -> None:
    """A starved worker skipped 2 s of frames mid-pass: the plate, further along, is still this pass."""
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=1.0))
    out: list[Read] = []
    for i in range(5):
        out += tracker.update([plate("7ABC123", 100 + 30 * i)], 10.0 + i * 0.1)
    for i in range(5):  # 2 s later, where its motion took it
        out += tracker.update([plate("7ABC123", 700 + 30 * i)], 12.4 + i * 0.1)
    out += tracker.flush()
    finals = [r for r in out if not r.provisional]
    assert [(r.plate, r.track_length) for r in finals] == [("7ABC123", 10)]


def test_after_a_stall_a_pass_nobody_continues_ends_and_a_new_car_is_its_own() -> None:
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=1.0))
    out: list[Read] = []
    for i in range(5):
        out += tracker.update([plate("7ABC123", 100 + 30 * i)], 10.0 + i * 0.1)
    out += tracker.update([plate("5XYZ999", 100, y=300)], 12.4)  # the first car left meanwhile
    assert [(r.plate, r.provisional) for r in out if not r.provisional] == [("7ABC123", False)]
    out += tracker.flush()
    assert sorted(r.plate for r in out if not r.provisional) == ["5XYZ999", "7ABC123"]


def test_a_split_pass_that_comes_back_misread_by_one_character_is_not_stored_twice() -> None:
    """The pass ended early (nothing fed for longer than the gap, then a frame without the plate);
    its plate comes back one character off, where the car was heading."""
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=0.3, dedupe_s=3.0))
    frames: list[list[Observation]] = [[plate("7ABC123", 100 + 20 * i)] for i in range(5)]
    frames += [[] for _ in range(5)]  # a frame or two without it: the pass ends
    frames += [[plate("7ABC128" if i == 0 else "7ABC123", 300 + 20 * i)] for i in range(5)]
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert [r.plate for r in finals] == ["7ABC123"]


def test_a_fleet_car_with_the_next_plate_number_right_behind_is_its_own_pass() -> None:
    """Two cars of a fleet, plates one character apart, one after the other: the second enters the
    view where the first did, far from where the first was last seen, and is read and stored."""
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=0.3, dedupe_s=3.0))
    frames: list[list[Observation]] = [[plate("7ABC123", 100 + 100 * i)] for i in range(8)]
    frames += [[] for _ in range(5)]
    frames += [[plate("7ABC124", 100 + 100 * i)] for i in range(8)]
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert [r.plate for r in finals] == ["7ABC123", "7ABC124"]


def test_a_parked_car_beside_the_one_read_with_a_plate_one_character_off_is_its_own_pass() -> None:
    """Standing traffic: the car behind, its plate one character off, is not where the first was."""
    tracker = Tracker("cam-1", TrackerConfig(max_gap_s=0.3, dedupe_s=3.0))
    frames: list[list[Observation]] = [[plate("7ABC123", 400, y=500)] for _ in range(5)]
    frames += [[] for _ in range(5)]
    frames += [[plate("7ABC124", 400, y=200)] for _ in range(5)]  # 7.5 plate widths up the lane
    finals = [r for r in drive(tracker, frames) if not r.provisional]
    assert [r.plate for r in finals] == ["7ABC123", "7ABC124"]


def demo_plate(x: int, text: str = "6TRW245", y: int = 571) -> Observation:
    """A plate as the demo video shows it at 1080p (box 264 x 132 px, about 65 px a frame at 10 fps)."""
    return Observation(text, 1.0, (1.0,) * len(text), (Candidate(text, 1.0),), Box(x, y, 264, 132), 0.9, "us")


def test_a_pass_whose_picture_paused_in_a_stall_is_one_pass() -> None:
    """The 30-minute soak's split (6TRW245 stored twice on both cameras): the worker stalled 1.6 s
    mid-pass and its decoder with it, so the next frame shows the plate just past where it was,
    not where 1.6 s of motion predicts it. It is still this pass (fails on the tracker before)."""
    tracker = Tracker("cam-1")
    out: list[Read] = []
    for i in range(5):
        out += tracker.update([demo_plate(19 + 65 * i)], 13.0 + i * 0.1)
    for i in range(6):  # 1.6 s later, the frames after the last one seen
        out += tracker.update([demo_plate(335 + 65 * i)], 15.0 + i * 0.1)
    out += tracker.flush()
    finals = [r for r in out if not r.provisional]
    assert [(r.plate, r.track_length) for r in finals] == [("6TRW245", 11)]
    assert len([r for r in out if r.provisional]) == 1


def test_a_pass_whose_frames_catch_up_after_a_stall_is_one_pass() -> None:
    """After a stall the decoder catches up, handing on one frame in several: the plate, read once
    after the stall, is read next 12 frames on (3 plate widths) 0.15 s later. The same text is the
    same pass wherever it is read (fails on the tracker before)."""
    tracker = Tracker("cam-1")
    out = tracker.update([demo_plate(335)], 14.55)
    for i, x in enumerate((1128, 1192, 1257, 1324, 1391)):
        out += tracker.update([demo_plate(x)], 14.7 + i * 0.1)
    out += tracker.flush()
    finals = [r for r in out if not r.provisional]
    assert [(r.plate, r.track_length) for r in finals] == [("6TRW245", 6)]


def test_after_a_stall_a_fleet_car_in_the_next_lane_ahead_is_its_own_pass() -> None:
    """The way from a pass's last box to its predicted one reaches no further aside than a plate
    width: a car of the same fleet in the next lane, ahead of the first, stays its own pass."""
    tracker = Tracker("cam-1")
    out: list[Read] = []
    for i in range(5):
        out += tracker.update([demo_plate(19 + 65 * i)], 13.0 + i * 0.1)
    for i in range(4):  # after the stall only the other car is read: 1.5 plate widths below
        out += tracker.update([demo_plate(700 + 65 * i, "6TRW246", y=571 + 396)], 15.0 + i * 0.1)
    out += tracker.flush()
    finals = sorted((r.plate, r.track_length) for r in out if not r.provisional)
    assert finals == [("6TRW245", 5), ("6TRW246", 4)]
