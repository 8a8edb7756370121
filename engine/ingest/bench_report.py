"""The HTML page `platewatch bench pipeline` writes beside its JSON: what a person would rather see.

A histogram of alert latencies (inline SVG, no plotting library: the page must open anywhere,
offline) with the 150 ms target marked, the figures, and one row per camera (frames processed,
reads, alerts, its own latency percentiles), so a camera that lags behind the others shows at once.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

#: The provisional-read target the histogram marks (issue: alert within a fraction of a second).
TARGET_MS = 150.0
BIN_MS = 10.0
_W, _H, _PAD = 640, 220, 30


def histogram(latencies_ms: Sequence[float], bin_ms: float = BIN_MS) -> list[tuple[float, int]]:
    """(bin start, count) from 0 to the largest latency, every bin present (empty ones too)."""
    if not latencies_ms:
        return []
    bins = max(1, math.floor(max(latencies_ms) / bin_ms) + 1)
    counts = [0] * bins
    for value in latencies_ms:
        counts[min(bins - 1, max(0, math.floor(value / bin_ms)))] += 1
    return [(i * bin_ms, n) for i, n in enumerate(counts)]


def _svg(latencies_ms: Sequence[float]) -> str:
    bars = histogram(latencies_ms)
    if not bars:
        return "<p>No alerts were raised, so there are no latencies to show.</p>"
    top = max(n for _, n in bars)
    span = max(bars[-1][0] + BIN_MS, TARGET_MS * 1.2)
    scale_x = (_W - 2 * _PAD) / span
    scale_y = (_H - 2 * _PAD) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">']
    for start, n in bars:
        if n:
            x, h, w = _PAD + start * scale_x, n * scale_y, max(1.0, BIN_MS * scale_x - 1)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{_H - _PAD - h:.1f}" width="{w:.1f}" height="{h:.1f}">'
                f"<title>{start:.0f}-{start + BIN_MS:.0f} ms: {n}</title></rect>"
            )
    tx = _PAD + TARGET_MS * scale_x
    parts.append(f'<line x1="{tx:.1f}" y1="{_PAD / 2}" x2="{tx:.1f}" y2="{_H - _PAD}" class="target"/>')
    parts.append(f'<text x="{tx + 4:.1f}" y="{_PAD}" class="label">target {TARGET_MS:.0f} ms</text>')
    parts.append(f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>')
    for tick in range(0, int(span) + 1, 50 if span <= 500 else 250):
        x = _PAD + tick * scale_x
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" class="label">{tick}</text>')
    parts.append(f'<text x="{_W / 2:.0f}" y="{_H - 2}" class="label">alert latency, ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rows(items: Sequence[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape('-' if v is None else str(v))}</td></tr>"
        for k, v in items
    )


def render(figures: dict[str, Any], latencies_ms: Sequence[float], cameras: Sequence[dict[str, Any]]) -> str:
    """The whole page."""
    title = " ".join(html.escape(str(figures.get(k))) for k in ("cameras", "resolution", "camera_fps"))
    head = ("camera", "frames processed", "reads", "alerts", "latency p50 ms", "latency p95 ms")
    camera_rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('-' if c.get(k) is None else str(c.get(k)))}</td>" for k in keys)
        + "</tr>"
        for c in cameras
        for keys in [("id", "frames_processed", "reads", "alerts", "latency_p50_ms", "latency_p95_ms")]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>platewatch bench pipeline</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ padding: .25rem .75rem; text-align: left; }}
tr:nth-child(even) {{ background: #f3f3f3; }} .bar {{ fill: #3b7dd8; }} .target {{ stroke: #c0392b;
stroke-dasharray: 4 3; }} .axis {{ stroke: #555; }} .label {{ font-size: 11px; fill: #555; }}
</style></head><body>
<h1>bench pipeline (cameras, resolution, fps): {title}</h1>
<h2>Alert latency ({len(latencies_ms)} alerts)</h2>
{_svg(latencies_ms)}
<h2>Figures</h2><table>{_rows(list(figures.items()))}</table>
<h2>Cameras</h2><table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{camera_rows}</table>
</body></html>
"""
