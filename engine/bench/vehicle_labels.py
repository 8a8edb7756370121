"""Vehicle labels for `platewatch bench accuracy`: colour, body type and issuing state per image.

Why a file beside the openalpr labels rather than in them: the openalpr ``IMAGE.txt`` lines are a
fixed six-column format other tools read. Labels come either as extra ``key=value`` columns after the
plate in those lines (``colour=gray``, ``type=suv``, ``state=TX``), or as a TSV with a header
naming ``image`` and any of ``colour``, ``type``, ``state`` (tests/data/vehicles/us_labels.tsv). A
``-`` or empty value means unlabelled (a gold car has none of the network's seven colours).

Body types are finer than the network's four: ``suv`` counts as a car and ``pickup`` as a truck
(`TYPE_GROUPS`), which is how the network's classes are drawn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..vision.types import VisionError
from ..vision.vehicles import COLOURS

#: The labels' body types as the network's four classes.
TYPE_GROUPS: Final = {
    "car": "car",
    "suv": "car",
    "pickup": "truck",
    "truck": "truck",
    "van": "van",
    "bus": "bus",
}
FIELDS: Final = ("colour", "type", "state")


@dataclass(frozen=True, slots=True)
class VehicleLabel:
    colour: str | None = None
    type: str | None = None
    state: str | None = None

    @property
    def type_group(self) -> str | None:
        return TYPE_GROUPS.get(self.type or "")


def is_held_out(image: str) -> bool:
    """The fixed held-out third: md5 of the image's file name, as for the recognizer's photos."""
    return int(hashlib.md5(image.encode()).hexdigest(), 16) % 3 == 0


def parse_fields(parts: list[str]) -> VehicleLabel | None:
    """``key=value`` columns (after the plate in an openalpr line); None when there are none."""
    found: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.strip().partition("=")
        if sep and key.strip().lower() in FIELDS:
            found[key.strip().lower()] = value.strip()
    return _label(found) if found else None


def _label(values: dict[str, str]) -> VehicleLabel:
    clean = {k: (v.strip().lower() if k != "state" else v.strip().upper()) for k, v in values.items()}
    clean = {k: v for k, v in clean.items() if v and v != "-"}
    colour = clean.get("colour")
    if colour == "silver":
        colour = "gray"  # the network has no silver; people say both
    if colour is not None and colour not in COLOURS:
        raise VisionError(f"unknown vehicle colour {colour!r}; use one of {', '.join(COLOURS)} or -")
    kind = clean.get("type")
    if kind is not None and kind not in TYPE_GROUPS and kind != "other":
        raise VisionError(f"unknown vehicle type {kind!r}; use one of {', '.join(TYPE_GROUPS)}, other or -")
    return VehicleLabel(colour=colour, type=kind, state=clean.get("state"))


def read_vehicle_labels(path: Path) -> dict[str, VehicleLabel]:
    """A label TSV (``#`` comments allowed), keyed by image file name."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise VisionError(f"cannot read vehicle labels {path}: {exc.strerror}") from None
    rows = [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]
    if not rows or "image" not in rows[0]:
        raise VisionError(f"{path}: the first line must name the columns (image, colour, type, state)")
    header = [h.strip().lower() for h in rows[0]]
    labels = {}
    for row in rows[1:]:
        values = dict(zip(header, row, strict=False))
        image = values.pop("image", "").strip()
        if image:
            labels[image] = _label({k: v for k, v in values.items() if k in FIELDS})
    return labels
