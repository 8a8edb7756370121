"""The store bench's chart: both rates plotted where they were measured, the target marked."""

from __future__ import annotations

import re

from platewatch.engine.bench.store import rate_chart, render


def _points(svg: str, css: str) -> list[tuple[float, float]]:
    match = re.search(rf'<polyline class="{css}" fill="none" points="([^"]+)"', svg)
    assert match, svg
    return [(float(x), float(y)) for x, y in (p.split(",") for p in match[1].split())]


def test_a_faster_path_is_drawn_higher_and_a_slowing_one_falls() -> None:
    curve = [(50_000 * i, 48_000.0 - 1000 * i, 30_000.0 - 2000 * i) for i in range(1, 6)]
    svg = rate_chart(curve)
    persist, copy = _points(svg, "persist"), _points(svg, "copy")
    assert len(persist) == len(copy) == 6  # from the axis, then one point per chunk
    assert all(p[1] < c[1] for p, c in zip(persist, copy, strict=True))  # SVG y grows downwards
    assert [y for _, y in copy] == sorted(y for _, y in copy)  # falling rate: y grows
    assert persist[-1][0] > persist[1][0] and "target 50,000/s" in svg


def test_pglite_runs_have_no_copy_line_and_an_empty_run_says_so() -> None:
    svg = rate_chart([(3000, 3700.0, None)])
    assert svg.count("<polyline") == 1
    assert "no rate to show" in rate_chart([])
    page = render({"reads": 3000, "backend": "timescaledb <PGlite>"}, [])
    assert "timescaledb &lt;PGlite&gt;" in page
