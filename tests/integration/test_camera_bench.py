"""`platewatch bench pipeline` runs end to end and reports its keys (small and short here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platewatch.engine.bench.pipeline import run_pipeline_bench

pytestmark = pytest.mark.slow

KEYS = {
    "frames_per_s",
    "reads",
    "alerts",
    "alert_latency_p50_ms",
    "alert_latency_p95_ms",
    "lost",
    "duplicated",
    "processed_share",
    "frames_offered",
}


def test_pipeline_bench_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    figures = run_pipeline_bench(1, 12, width=640, height=360, fps=10, json_path=out, cache=tmp_path)
    assert set(figures) >= KEYS
    assert json.loads(out.read_text()) == figures
    assert figures["frames_per_s"] > 2
    # a 640x360 camera at 10 fps is no load: nearly every frame offered is recognised, and never more
    assert 0.9 <= figures["processed_share"] <= 1.0
    assert figures["frames_processed"] <= figures["frames_offered"] + 1
    assert figures["reads"] >= 2 and figures["alerts"] >= 2
    assert figures["duplicated"] == 0
    assert figures["alert_latency_p50_ms"] is not None and figures["alert_latency_p50_ms"] > 0
    page = out.with_suffix(".html").read_text()  # the picture beside the figures
    assert page.count('<rect class="bar"') >= 1 and "bench-0" in page
