"""The HTML page `platewatch bench store` writes beside its JSON: the ingest rate as the table grows.

The single figure at the end hides the shape: whether the persist path slowed down as the day's
partition and its trigram index grew, or whether the plain COPY fell behind only late (its
unpartitioned indexes outgrowing memory). So the page plots both rates, averaged from the start,
after every chunk of the run, with the 50 k reads/s target marked (inline SVG, no plotting library:
the page must open anywhere, offline).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

#: The ingest target the chart marks (issue: ≥ 50 k reads/s on 2 cores with all search indexes).
TARGET_ROWS_PER_S = 50_000.0
_W, _H, _PAD = 640, 240, 44

#: (reads written so far, persist rows/s so far, plain COPY rows/s so far or None on PGlite)
Point = tuple[int, float, float | None]


def _polyline(points: Sequence[tuple[float, float]], css: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline class="{css}" fill="none" points="{coords}"/>'


def chart(curve: Sequence[Point]) -> str:
    """Both rates against reads written, and the target; a sentence when there is nothing to draw."""
    if not curve:
        return "<p>No reads were written, so there is no rate to show.</p>"
    top_rate = max([TARGET_ROWS_PER_S] + [r for _, p, c in curve for r in (p, c) if r is not None]) * 1.1
    last = max(n for n, _, _ in curve)

    def at(n: float, rate: float) -> tuple[float, float]:
        return _PAD + n / last * (_W - 2 * _PAD), _H - _PAD - rate / top_rate * (_H - 2 * _PAD)

    persist = [at(0, p) for n, p, _ in curve[:1]] + [at(n, p) for n, p, _ in curve]
    copy = [at(n, c) for n, _, c in curve if c is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">']
    parts.append(_polyline(persist, "persist"))
    if copy:
        parts.append(_polyline([(_PAD, copy[0][1]), *copy], "copy"))
    _, ty = at(0, TARGET_ROWS_PER_S)
    parts.append(f'<line class="target" x1="{_PAD}" y1="{ty:.1f}" x2="{_W - _PAD}" y2="{ty:.1f}"/>')
    parts.append(
        f'<text class="label" x="{_PAD + 4}" y="{ty - 4:.1f}">target {TARGET_ROWS_PER_S:,.0f}/s</text>'
    )
    parts.append(f'<line class="axis" x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}"/>')
    parts.append(f'<line class="axis" x1="{_PAD}" y1="{_PAD / 2}" x2="{_PAD}" y2="{_H - _PAD}"/>')
    step = next(s for s in (5e3, 1e4, 2e4, 2.5e4, 5e4, 1e5, 2.5e5, 1e6) if top_rate / s <= 6)
    for k in range(int(top_rate // step) + 1):
        _, y = at(0, k * step)
        parts.append(f'<text class="label" x="2" y="{y + 4:.1f}">{k * step / 1000:.0f}k</text>')
    parts.append(f'<text class="label" x="{_PAD}" y="{_H - _PAD + 16}">0</text>')
    parts.append(f'<text class="label" x="{_W - _PAD - 40}" y="{_H - _PAD + 16}">{last:,} reads</text>')
    parts.append(
        f'<text class="label" x="{_W / 2 - 90:.0f}" y="{_H - 4}">rows/s so far, against reads written</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render(figures: dict[str, Any], curve: Sequence[Point]) -> str:
    """The whole page."""
    title = f"{figures.get('reads')} reads, {figures.get('backend')}"
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape('-' if v is None else str(v))}</td></tr>"
        for k, v in figures.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>platewatch bench store</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .25rem .75rem; text-align: left; }}
.persist {{ stroke: #3b7dd8; stroke-width: 2; }} .copy {{ stroke: #888; stroke-width: 2; }}
.target {{ stroke: #c0392b; stroke-dasharray: 4 3; }} .axis {{ stroke: #555; }}
.label {{ font-size: 11px; fill: #555; }} .key-persist {{ color: #3b7dd8; }} .key-copy {{ color: #888; }}
</style></head><body>
<h1>bench store: {html.escape(title)}</h1>
<p><span class="key-persist">■ persist path</span> &nbsp;
<span class="key-copy">■ plain COPY, same rows</span></p>
{chart(curve)}
<h2>Figures</h2><table>{rows}</table>
</body></html>
"""
