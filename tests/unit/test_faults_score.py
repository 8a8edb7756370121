"""The fault bench's counting: passes placed per capture session, and each one's reads and alerts."""

from __future__ import annotations

from platewatch.engine.bench import faults_score as fs
from platewatch.engine.bench.faults import memory_growth, scan_logs


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


PLATES = ["AAA111", "BBB222", "CCC333", "DDD444"]
LOOP = [fs.PassPlan(p, 1.0 + 4 * i, 3.5 + 4 * i) for i, p in enumerate(PLATES)]


def _score(reads, alerts, sessions=None, listed=None, slots=(), start=0.0, end=1e9):  # type: ignore[no-untyped-def]
    sessions = sessions or [fs.Session("c", 100.0, 1000.0)]
    listed = set(PLATES[:3]) if listed is None else listed
    return fs.score(LOOP, 16.0, sessions, listed, reads, alerts, list(slots), start=start, end=end)


def test_a_capture_that_steps_through_the_video_in_order_lost_nothing() -> None:
    # late and bunched, as a starved file source plays: only the order counts
    times = [101.0, 105.5, 106.0, 113.2, 117.0, 122.0, 125.0, 129.9]
    reads = [("c", PLATES[i % 4], t) for i, t in enumerate(times)]
    alerts = [("c", p, t + 0.2) for _, p, t in reads if p in PLATES[:3]]
    total, _, stray = _score(reads, alerts)
    assert (total.expected, total.lost, total.duplicated) == (8, 0, 0)
    assert (total.listed, total.alerts_lost, total.alerts_duplicated, stray) == (6, 0, 0, 0)


def test_skipped_plates_are_lost_and_a_plate_read_again_soon_is_stored_twice() -> None:
    reads = [
        ("c", "AAA111", 101.0),
        ("c", "AAA11I", 102.0),  # the same pass again (one OCR slip still names it): duplicated
        ("c", "DDD444", 113.0),  # BBB222 and CCC333 skipped: lost
        ("c", "AAA111", 117.0),
        ("other", "BBB222", 105.0),  # another camera's read counts for nothing here
    ]
    alerts = [
        ("c", "AAA111", 101.1),
        ("c", "AAA111", 101.3),  # received twice: duplicated
        ("c", "BBB222", 105.0),  # its read was lost, its alert came: not an alert lost
        # CCC333 at 109: neither read nor alert
        # AAA111 at 117: no alert
    ]
    slots = [("worker", 110.0), ("api", 116.0)]
    total, per, stray = _score(reads, alerts, slots=slots)
    assert (total.expected, total.lost, total.duplicated) == (5, 2, 1)
    assert (total.listed, total.alerts_lost, total.alerts_duplicated) == (4, 2, 1)
    assert stray == 1  # BBB222's alert has no stored pass to belong to
    assert (per["steady"].duplicated, per["steady"].alerts_duplicated) == (1, 1)
    assert (per["worker"].lost, per["worker"].alerts_lost) == (2, 1)
    assert per["api"].alerts_lost == 1


def test_a_capture_begun_in_the_window_must_start_at_the_first_pass() -> None:
    sessions = [fs.Session("c", 100.0, 200.0), fs.Session("c", 300.0, 400.0)]
    reads = [("c", "AAA111", 101.0), ("c", "BBB222", 105.0), ("c", "CCC333", 309.0)]
    total, _, _ = _score(reads, [], sessions=sessions, listed=set(), start=50.0)
    assert total.lost == 2  # the second capture's AAA111 and BBB222
    # counted from inside the first capture, which began before the window: its start is not checked
    total, _, _ = _score(reads[1:], [], sessions=sessions, listed=set(), start=104.0)
    assert total.lost == 2


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
