"""The HTML report of `bench pipeline`: the latency histogram and the per-camera table."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.bench.pipeline import BIN_MS, frames_offered, render
from platewatch.engine.bench.report import histogram


@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), max_size=200))
def test_histogram_counts_every_latency_once_in_its_bin(latencies: list[float]) -> None:
    bins = histogram(latencies, BIN_MS)
    assert sum(n for _, n in bins) == len(latencies)
    assert [start for start, _ in bins] == [i * BIN_MS for i in range(len(bins))]
    for value in latencies:
        start = min(bins[-1][0], (value // BIN_MS) * BIN_MS)
        assert any(s == start and n > 0 for s, n in bins)


def test_report_shows_the_histogram_the_figures_and_each_camera() -> None:
    figures = {"cameras": 2, "resolution": "1920x1080", "camera_fps": 10.0, "alert_latency_p50_ms": 78.0}
    cameras = [
        {"id": "gate-north", "frames_processed": 600, "reads": 15, "alerts": 15, "latency_p50_ms": 77.0},
        {"id": "<yard>", "frames_processed": 590, "reads": 15, "alerts": 15, "latency_p50_ms": None},
    ]
    page = render(figures, [71.0, 75.5, 79.0, 152.0], cameras)
    assert page.count('<rect class="bar"') == 2  # 70-80 ms holds three, 150-160 ms one
    assert "70-80 ms: 3" in page and "150-160 ms: 1" in page
    assert "target 150 ms" in page
    assert "alert_latency_p50_ms" in page and "gate-north" in page
    assert "&lt;yard&gt;" in page and "<yard>" not in page  # camera ids are escaped
    assert "No alerts" in render(figures, [], cameras)


def test_frames_offered_counts_each_camera_from_its_first_frame() -> None:
    # two cameras at 10 fps until t=100: one opened at 90 (101 frames), one at 95 (51), one never
    assert frames_offered([90.0, 95.0, None], 100.0, 10) == 152.0
    # a camera whose first frame came after the end (clock skew) offers nothing rather than less than nothing
    assert frames_offered([101.0], 100.0, 10) == 0
