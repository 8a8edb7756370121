"""The fault bench's counting: passes placed per capture session, and each one's reads and alerts."""

from __future__ import annotations

from platewatch.engine.bench import faults_score as fs
from platewatch.engine.bench.faults import memory_growth, scan_logs

PLAN = [fs.PassPlan("ABC123", 1.0, 3.5), fs.PassPlan("XYZ789", 5.0, 7.5)]
LENGTH = 10.0


def _health(camera: str, first: float, at: float, age: float = 0.1) -> dict[str, object]:
    return {"camera_id": camera, "first_frame_at": first, "at": at, "last_frame_age_s": age}


def test_sessions_are_told_apart_by_their_first_frame() -> None:
    samples = [_health("c", 100.0, 102.0), _health("c", 100.0, 130.0), _health("c", 140.0, 150.0)]
    samples.append({"camera_id": "c", "first_frame_at": None, "at": 151.0, "last_frame_age_s": None})
    sessions = fs.sessions_from_health(samples)
    assert [(s.first_frame_at, round(s.last_frame_at, 1)) for s in sessions] == [
        (100.0, 129.9),
        (140.0, 149.9),
    ]


def test_a_pass_cut_short_by_the_session_end_is_interrupted_not_expected() -> None:
    # watched 100..118: loop 0 (101-103.5, 105-107.5), loop 1 (111-113.5) whole; 115-117.5 + margin is not
    sessions = [fs.Session("c", 100.0, 118.0)]
    expected, interrupted = fs.expected_passes(PLAN, LENGTH, sessions, {"ABC123"}, start=0.0, end=1e9)
    assert [(e.plate, e.enter_at) for e in expected] == [
        ("ABC123", 101.0),
        ("XYZ789", 105.0),
        ("ABC123", 111.0),
    ]
    assert interrupted == 1
    assert [e.listed for e in expected] == [True, False, True]


def test_the_window_bounds_what_is_expected() -> None:
    sessions = [fs.Session("c", 100.0, 200.0)]
    expected, _ = fs.expected_passes(PLAN, LENGTH, sessions, set(), start=110.0, end=125.0)
    assert [e.enter_at for e in expected] == [111.0, 115.0]


def test_each_pass_needs_one_read_and_one_alert() -> None:
    sessions = [fs.Session("c", 100.0, 130.0)]
    expected, _ = fs.expected_passes(PLAN, LENGTH, sessions, {"ABC123", "XYZ789"}, start=0, end=1e9)
    assert len(expected) == 5  # 101, 105, 111, 115, 121 (125 + margin is past 130? 127.5+3 > 130)
    reads = [
        ("c", "ABC123", 102.0),
        ("c", "XYZ789", 106.0),
        ("c", "XYZ789", 106.5),  # a second read of one pass: duplicated
        ("c", "ABC12B", 112.0),  # one OCR slip still reads the pass
        # 115 XYZ789: no read, lost
        ("c", "ABC123", 122.0),
        ("other", "ABC123", 102.0),  # another camera's read counts for nothing here
    ]
    alerts = [
        ("c", "ABC123", 102.0),
        ("c", "ABC123", 102.1),  # received twice: duplicated
        ("c", "XYZ789", 106.0),
        ("c", "ABC123", 112.0),
        ("c", "XYZ789", 116.0),
        # 121 ABC123: no alert, lost
        ("c", "ABC123", 190.0),  # fits no pass: stray
    ]
    slots = [("worker", 110.0), ("api", 120.0)]
    total, per, stray = fs.score(expected, reads, alerts, slots)
    assert (total.expected, total.lost, total.duplicated) == (5, 1, 1)
    assert (total.listed, total.alerts_lost, total.alerts_duplicated) == (5, 1, 1)
    assert stray == 1
    # charged to the slot the pass ended in
    assert (per["steady"].duplicated, per["steady"].alerts_duplicated) == (1, 1)
    assert (per["worker"].lost, per["worker"].alerts_lost) == (1, 0)
    assert (per["api"].lost, per["api"].alerts_lost) == (0, 1)


def test_error_lines_inside_a_fault_window_are_provoked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_000_000.0))
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_000_100.0))
    log = tmp_path / "w.log"
    log.write_text(
        f"{stamp},000 ERROR platewatch.store: the database is gone\n"
        "Traceback (most recent call last):\n  File x\n"
        f"{later},000 INFO platewatch: fine\n"
        f"{later},500 ERROR platewatch.match: something else\n"
    )
    found = scan_logs({"w": log}, [(999_999.0, 1_000_010.0)])
    assert (found["errors_provoked"], found["errors_unprovoked"], found["tracebacks_unprovoked"]) == (1, 1, 0)
    assert "something else" in found["error_examples"][0]


def test_memory_growth_leaves_the_broker_out() -> None:
    rss = [
        {"at": 0.0, "api": 100.0, "broker": 10.0},
        {"at": 10.0, "api": 100.0, "broker": 20.0},
        {"at": 20.0, "api": 103.0, "broker": 40.0},
    ]
    found = memory_growth(rss, 0.0, 5.0)
    assert found["memory_growth_pct"] == 3.0
    assert found["memory_growth_by_process_pct"]["broker"] == 100.0


def test_coverage_counts_blind_and_doubly_captured_time() -> None:
    sessions = [fs.Session("a", 0.0, 50.0), fs.Session("a", 60.0, 100.0), fs.Session("a", 90.0, 120.0)]
    sessions.append(fs.Session("b", 0.0, 200.0))
    blind, double = fs.coverage(sessions, ["a", "b", "c"], 10.0, 110.0)
    assert blind == 10.0 + 100.0  # a between its two workers, c never captured
    assert double == 10.0  # a's two sessions overlapped from 90 to 100
