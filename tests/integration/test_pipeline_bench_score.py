"""`bench pipeline --api` matches the alerts a dispatcher received to the passes of the looped video.

The worker's media clock is not visible to the bench, so the phase is estimated from the alerts
themselves; these cases check that a lost pass, a duplicate, an alert of a plate the video does not
show and one at a time no pass of its plate was on screen are each counted as what they are, on
two cameras with different phases, and that passes outside the window count for nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from platewatch.engine.bench.demo import DemoPass, DemoVideo
from platewatch.engine.bench.live_stack import Received
from platewatch.engine.bench.pipeline_api import score

VIDEO = DemoVideo(
    Path("demo.mp4"),
    640,
    360,
    10,
    16.0,
    (DemoPass("7ABC123", 1.0, 3.5, 0), DemoPass("8XYZ902", 5.0, 7.5, 0), DemoPass("4KPL617", 9.0, 11.5, 0)),
)
T0 = 1_700_000_000.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def alert(camera: str, plate: str, read_at: float, delay: float = 0.1) -> Received:
    return Received(
        read_at + delay,
        {"camera_id": camera, "entry": plate, "read_time": _iso(read_at), "raised_at": _iso(read_at + 0.02)},
        _iso(read_at + 0.05),
    )


def loops(
    camera: str, zero: float, count: int, *, skip: frozenset[tuple[int, str]] = frozenset()
) -> list[Received]:
    """Every pass of `count` loops, read 0.4 s after the car enters, the media clock at `zero`."""
    return [
        alert(camera, p.plate, zero + k * VIDEO.seconds + p.enter_s + 0.4)
        for k in range(count)
        for p in VIDEO.passes
        if (k, p.plate) not in skip
    ]


def test_every_pass_once_is_neither_lost_nor_duplicated() -> None:
    got = loops("a", T0, 4) + loops("b", T0 + 6.3, 4)
    counts, firsts = score(VIDEO, got, T0, T0 + 4 * 16.0)
    # camera a: 12 passes read in [T0, T0 + 64]; camera b runs 6.3 s later, and its fourth loop's
    # last read (T0 + 6.3 + 48 + 9.4 = T0 + 63.7) is still in the window: 12 too
    assert counts == {"passes": 24, "ws_lost": 0, "ws_duplicated": 0, "ws_unmatched": 0}
    assert len(firsts) == 24


def test_a_lost_pass_a_duplicate_and_stray_alerts_are_counted() -> None:
    got = loops("a", T0, 3, skip=frozenset({(1, "8XYZ902")}))
    got.append(alert("a", "4KPL617", T0 + 16.0 + 9.0 + 0.9, delay=0.5))  # a second alert of one pass
    got.append(alert("a", "9ZZZ999", T0 + 20.0))  # a plate the video does not show
    got.append(alert("a", "7ABC123", T0 + 16.0 + 8.0))  # 7ABC123 was not on screen then
    counts, firsts = score(VIDEO, got, T0, T0 + 3 * 16.0)
    assert counts == {"passes": 9, "ws_lost": 1, "ws_duplicated": 1, "ws_unmatched": 2}
    assert len(firsts) == 8
    # of the duplicated pass, the first arrival counts
    second_loop_kpl = [r for r in firsts if r.alert["entry"] == "4KPL617" and T0 + 16 < r.read_time < T0 + 32]
    assert [round(r.at - T0, 2) for r in second_loop_kpl] == [25.5]


def test_passes_outside_the_window_count_for_nothing() -> None:
    got = loops("a", T0, 5)
    counts, firsts = score(VIDEO, got, T0 + 16.0, T0 + 32.0)
    assert counts["passes"] == 3 and counts["ws_lost"] == 0
    assert all(T0 + 16.0 <= r.read_time <= T0 + 32.0 for r in firsts)
