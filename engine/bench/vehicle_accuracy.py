"""Vehicle colour and type accuracy for `platewatch bench accuracy DIR --vehicles LABELS`.

Why apart from the plate figures: a colour is judged on the vehicle that carries the labelled
plate, so a plate the detector misses does not also count as a wrong colour, and the colour's
figure says how well colour is named, not how well plates are found. Each labelled image's vehicle
is the detected one holding the labelled plate box (`vehicle_of`); an image where none does counts
as ``no_vehicle`` and as wrong. Labels come from a TSV (`vehicle_labels.read_vehicle_labels`) and/or
``colour=``/``type=``/``state=`` columns after the plate in the openalpr ``IMAGE.txt`` lines.

Keys (under ``vehicles``): ``colour`` (share of the likeliest colour right), ``colour_labelled``,
``colour_ci95``, ``colour_shown`` (share sure enough to be shown on a read), ``colour_when_shown``
(share of those right) and its ``colour_when_shown_ci95``, ``type``
(the network's four classes, suv as car, pickup as truck) and ``type_labelled``, ``type_shown``
(whether reads carry a type at all), ``no_vehicle``, ``confusion`` (truth -> said -> count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from ..vision.image import as_image
from ..vision.runtime import Runtime
from ..vision.types import Box, VisionError
from ..vision.vehicles import COLOURS, SHOW_TYPE, TYPES, VehicleLook, VehicleReader, vehicle_of
from .vehicle_labels import VehicleLabel, parse_fields, read_vehicle_labels

#: A proportion's confidence interval from (successes, trials): the plate figures' (Wilson's).
Interval = Callable[[int, int], tuple[float, float]]


class _Sample(Protocol):
    @property
    def image(self) -> Path: ...


def inline_labels(image: Path) -> tuple[Box, VehicleLabel] | None:
    """The first plate line of IMAGE.txt that carries ``key=value`` vehicle columns."""
    txt = image.with_suffix(".txt")
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split("\t")
        if len(parts) > 6 and (label := parse_fields(parts[6:])) is not None:
            return _box(parts), label
    return None


def _box(parts: list[str]) -> Box:
    try:
        return Box(*(int(v) for v in parts[1:5]))
    except ValueError:
        raise VisionError(f"bad plate box in label line {parts!r}") from None


def _plate_box(image: Path) -> Box | None:
    try:
        first = image.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").splitlines()[0]
        return _box(first.strip().split("\t"))
    except (OSError, IndexError, VisionError):
        return None


def collect_labels(
    samples: Iterable[_Sample], labels_file: Path | None
) -> dict[Path, tuple[Box, VehicleLabel]]:
    """Each sample's plate box and vehicle label: the TSV's where it names the image, else inline."""
    table = read_vehicle_labels(labels_file) if labels_file is not None else {}
    found: dict[Path, tuple[Box, VehicleLabel]] = {}
    for sample in samples:
        label = table.get(sample.image.name) or table.get(sample.image.stem)
        if label is not None and (box := _plate_box(sample.image)) is not None:
            found[sample.image] = (box, label)
        elif (inline := inline_labels(sample.image)) is not None:
            found[sample.image] = inline
    return found


def score_vehicles(
    labelled: dict[Path, tuple[Box, VehicleLabel]], reader: VehicleReader, interval: Interval
) -> dict[str, Any]:
    """Colour and type of each labelled image's vehicle against its label."""
    colour = Counter[tuple[str, str]]()
    kind = Counter[tuple[str, str]]()
    shown = Counter[tuple[str, str]]()
    no_vehicle = 0
    for path, (plate, label) in sorted(labelled.items()):
        look: VehicleLook | None = None
        try:
            frame = as_image(path.read_bytes())
        except (OSError, VisionError):
            frame = None
        if frame is not None:
            vehicle = vehicle_of(plate, reader.detect(frame))
            if vehicle is not None:
                look = reader.describe(frame, vehicle.box, plate)
        no_vehicle += look is None
        if label.colour is not None:
            # The likeliest colour, shown or not: `colour` is the classifier's accuracy, and
            # `colour_when_shown` what a user sees where the colour clears COLOUR_MIN_CONFIDENCE.
            likeliest = COLOURS[max(range(len(COLOURS)), key=lambda i: look.colour_probs[i])] if look else "-"
            colour[(label.colour, likeliest)] += 1
            if look is not None and look.colour is not None:
                shown[(label.colour, look.colour)] += 1
        if label.type_group is not None:
            said = TYPES[max(range(len(TYPES)), key=lambda i: look.type_probs[i])] if look else "-"
            kind[(label.type_group, said)] += 1
    return figures(colour, kind, shown, no_vehicle, interval)


def figures(
    colour: Counter[tuple[str, str]],
    kind: Counter[tuple[str, str]],
    shown: Counter[tuple[str, str]],
    no_vehicle: int,
    interval: Interval,
) -> dict[str, Any]:
    def share(counts: Counter[tuple[str, str]]) -> tuple[int, int, float]:
        total = sum(counts.values())
        right = sum(n for (truth, said), n in counts.items() if truth == said)
        return right, total, round(right / total, 4) if total else 0.0

    c_right, c_total, c_share = share(colour)
    t_right, t_total, t_share = share(kind)
    s_right, s_total, s_share = share(shown)
    confusion: dict[str, dict[str, int]] = {}
    for (truth, said), n in sorted(colour.items()):
        confusion.setdefault(truth, {})[said] = n
    return {
        "colour": c_share,
        "colour_labelled": c_total,
        "colour_ci95": [round(v, 4) for v in interval(c_right, c_total)],
        "colour_shown": round(s_total / c_total, 4) if c_total else 0.0,
        "colour_when_shown": s_share,
        "colour_when_shown_ci95": [round(v, 4) for v in interval(s_right, s_total)],
        "type": t_share,
        "type_labelled": t_total,
        "type_ci95": [round(v, 4) for v in interval(t_right, t_total)],
        "type_shown": SHOW_TYPE,
        "no_vehicle": no_vehicle,
        "confusion": confusion,
    }


def run_vehicle_accuracy(
    samples: Iterable[_Sample], labels_file: Path | None, runtime: Runtime, interval: Interval
) -> dict[str, Any] | None:
    """The ``vehicles`` figures, or None when no sample carries a vehicle label. `interval` is the
    plate figures' confidence interval (Wilson's), for the same small sets."""
    labelled = collect_labels(samples, labels_file)
    if not labelled:
        return None
    return score_vehicles(labelled, VehicleReader(runtime), interval)


def print_vehicle_table(console: Console, found: dict[str, Any]) -> None:
    table = Table(title="vehicles (the vehicle holding each labelled plate)")
    for name in (
        "colour labelled",
        "colour right",
        "95 % interval",
        "colour shown",
        "right when shown",
        "type labelled",
        "type right",
        "type shown",
    ):
        table.add_column(name, justify="right")
    low, high = found["colour_ci95"]
    table.add_row(
        str(found["colour_labelled"]),
        f"{found['colour']:.1%}",
        f"{low:.0%}-{high:.0%}",
        f"{found['colour_shown']:.1%}",
        f"{found['colour_when_shown']:.1%}",
        str(found["type_labelled"]),
        f"{found['type']:.1%}",
        "yes" if found["type_shown"] else "no",
    )
    console.print(table)
