"""What every bench's report shares: the JSON file, the console table and the HTML page.

The JSON is what targets are checked against, so every bench writes it the same way. The pages
draw their charts as inline SVG with no plotting library: a report must open anywhere, offline,
and a bench must run on an install that has none. `page` styles the chart classes `target`,
`axis` and `label` once for every chart.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

_STYLE = """\
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; } th, td { padding: .25rem .75rem; text-align: left; }
.target { stroke: #c0392b; stroke-dasharray: 4 3; } .axis { stroke: #555; }
.label { font-size: 11px; fill: #555; }
"""


def write_json(path: Path, figures: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def print_figures(
    title: str, figures: Mapping[str, Any], keys: Iterable[str] | None = None, console: Console | None = None
) -> None:
    """One row per figure (`keys` picks and orders them); a figure not measured shows as "-"."""
    table = Table(title=title, show_header=False)
    for key in figures if keys is None else keys:
        value = figures[key]
        shown = "-" if value is None else f"{value:,}" if type(value) is int else str(value)
        table.add_row(key, shown)
    (console or Console()).print(table)


def cell(value: Any) -> str:
    """A value for an HTML page: escaped (camera ids and paths are the user's), None as "-"."""
    return html.escape("-" if value is None else str(value))


def figures_table(figures: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{cell(k)}</th><td>{cell(v)}</td></tr>" for k, v in figures.items())
    return f"<table>{rows}</table>"


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    header = "".join(f"<th>{cell(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def page(name: str, heading: str, body: str, style: str = "") -> str:
    """The whole page of `platewatch bench NAME`; `body` is HTML, `style` CSS of its own."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>platewatch bench {cell(name)}</title>
<style>
{_STYLE}{style}</style></head><body>
<h1>bench {cell(name)}: {cell(heading)}</h1>
{body}
</body></html>
"""


def histogram(values: Sequence[float], bin_width: float) -> list[tuple[float, int]]:
    """(bin start, count) from 0 to the largest value, every bin present (empty ones too)."""
    if not values:
        return []
    bins = max(1, math.floor(max(values) / bin_width) + 1)
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, math.floor(value / bin_width)))] += 1
    return [(i * bin_width, n) for i, n in enumerate(counts)]


class Chart:
    """An inline SVG drawing `width` x `height` pixels, `pad` of them left around the plot for
    the axes and their labels. Coordinates are SVG's: y grows downwards."""

    def __init__(self, width: int, height: int, pad: int) -> None:
        self.width, self.height, self.pad = width, height, pad
        self.parts: list[str] = []

    @property
    def bottom(self) -> float:
        """The y of the x axis."""
        return float(self.height - self.pad)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def line(self, x1: float, y1: float, x2: float, y2: float, css: str) -> None:
        self.add(f'<line class="{css}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>')

    def label(self, x: float, y: float, text: str) -> None:
        self.add(f'<text class="label" x="{x:.1f}" y="{y:.1f}">{html.escape(text)}</text>')

    def polyline(self, points: Sequence[tuple[float, float]], css: str) -> None:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.add(f'<polyline class="{css}" fill="none" points="{coords}"/>')

    def axes(self, *, y_axis: bool = False) -> None:
        self.line(self.pad, self.bottom, self.width - self.pad, self.bottom, "axis")
        if y_axis:
            self.line(self.pad, self.pad / 2, self.pad, self.bottom, "axis")

    def svg(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}"'
            f' role="img">{"".join(self.parts)}</svg>'
        )
