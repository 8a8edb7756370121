"""The plate's issuing state for `platewatch bench accuracy DIR --vehicles LABELS`.

Why here and per photo: the state is named on the plate the recognizer found (the read whose box
overlaps the labelled one most, else the labelled box), as a camera pass names it on its best
frame, so the figure says how well a shown state is named. A photo whose label says no state is
shown counts apart (``state_said_unshown``): naming a state there is a mistake a user would see.
The formats' choice among the read's candidates is measured on the same reads: ``exact_before``
and ``exact_after`` over every labelled photo, and which reads it changed.

Keys (under ``state``): ``state`` (share of the plates showing their state that are named right),
``state_shown`` (how many show it), ``state_ci95``, ``state_wrong``, ``state_missed``,
``state_said_unshown`` of ``state_unshown``, ``formats_changed``, ``formats_fixed``,
``formats_broken``, ``exact_before``, ``exact_after``, ``photos``, ``ms_mean`` (the state
reader's time per plate), ``ms_p50``/``ms_p90``, and ``state_by``: for each way a state was named
(``text``, ``ctc``, ``design``), how many were named right, wrong and where none shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rich.console import Console
from rich.table import Table

from ..vision.image import as_image
from ..vision.pipeline import Recognizer
from ..vision.plate_formats import choose_by_state
from ..vision.plate_state import StateReader
from ..vision.types import Box, VisionError
from .vehicle_accuracy import collect_labels

Interval = Callable[[int, int], tuple[float, float]]


class _Sample(Protocol):
    @property
    def image(self) -> Path: ...


def _overlap(a: Box, b: Box) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(0, w) * max(0, h)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def _truth(image: Path) -> str:
    try:
        return image.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").split("\t")[5].strip()
    except (OSError, IndexError):
        return ""


def run_state_accuracy(
    samples: Iterable[_Sample],
    labels_file: Path | None,
    recognizer: Recognizer,
    region: str | None,
    interval: Interval,
    reader: StateReader | None = None,
) -> dict[str, Any] | None:
    """The ``state`` figures, or None when no labelled photo names a state (no state column)."""
    labelled = collect_labels(samples, labels_file)
    if not any(label.state for _, label in labelled.values()):
        return None
    reader = reader or StateReader()
    right = wrong = missed = shown = said_unshown = unshown = 0
    before = after = changed = fixed = broken = 0
    times: list[float] = []
    by: dict[str, dict[str, int]] = {}
    for path, (plate_box, label) in sorted(labelled.items()):
        truth = _truth(path)
        try:
            frame = as_image(path.read_bytes())
            reads = recognizer.analyse(frame, region).reads
        except (OSError, VisionError):
            frame, reads = None, []
        read = max(reads, key=lambda r: _overlap(r.box, plate_box), default=None)
        state = ""
        if frame is not None:
            start = time.perf_counter()
            try:
                guess = reader.read(frame, read.box if read is not None else plate_box)
            except VisionError:
                guess = None
            times.append(time.perf_counter() - start)
            state = guess.state if guess is not None else ""
            if guess is not None:
                tally = by.setdefault(guess.how, {"right": 0, "wrong": 0, "unshown": 0})
                key = "unshown" if not label.state else "right" if state == label.state else "wrong"
                tally[key] += 1
        if label.state:
            shown += 1
            right += state == label.state
            wrong += bool(state) and state != label.state
            missed += not state
        else:
            unshown += 1
            said_unshown += bool(state)
        if read is not None:
            pairs = tuple((c.text, c.score) for c in read.candidates) or ((read.text, read.confidence),)
            chosen = pairs[choose_by_state(pairs, state)][0]
            before += read.text == truth
            after += chosen == truth
            if chosen != read.text:
                changed += 1
                fixed += chosen == truth
                broken += read.text == truth
    low, high = interval(right, shown)
    photos = len(labelled)
    return {
        "state": round(right / shown, 4) if shown else 0.0,
        "state_shown": shown,
        "state_ci95": [round(low, 4), round(high, 4)],
        "state_wrong": wrong,
        "state_missed": missed,
        "state_said_unshown": said_unshown,
        "state_unshown": unshown,
        "formats_changed": changed,
        "formats_fixed": fixed,
        "formats_broken": broken,
        "exact_before": round(before / photos, 4) if photos else 0.0,
        "exact_after": round(after / photos, 4) if photos else 0.0,
        "photos": photos,
        "ms_mean": round(1000 * sum(times) / len(times), 1) if times else 0.0,
        "ms_p50": round(1000 * float(np.percentile(times, 50)), 1) if times else 0.0,
        "ms_p90": round(1000 * float(np.percentile(times, 90)), 1) if times else 0.0,
        "state_by": by,
    }


def print_state_table(console: Console, found: dict[str, Any]) -> None:
    table = Table(title="issuing state (plates that show it)")
    for name in (
        "shown",
        "right",
        "95 % interval",
        "wrong",
        "missed",
        "said where not shown",
        "formats changed",
        "ms a plate (p50)",
    ):
        table.add_column(name, justify="right")
    low, high = found["state_ci95"]
    table.add_row(
        str(found["state_shown"]),
        f"{found['state']:.1%}",
        f"{low:.0%}-{high:.0%}",
        str(found["state_wrong"]),
        str(found["state_missed"]),
        f"{found['state_said_unshown']}/{found['state_unshown']}",
        f"{found['formats_changed']} (fixed {found['formats_fixed']}, broke {found['formats_broken']})",
        f"{found['ms_p50']:.0f}",
    )
    console.print(table)
    for how, tally in sorted(found["state_by"].items()):
        console.print(
            f"  by {how}: {tally['right']} right, {tally['wrong']} wrong, {tally['unshown']} where none shows"
        )


__all__ = ["print_state_table", "run_state_accuracy"]
