"""A vehicle's colour from two views that err differently: its painted body, and the network.

Why two: Intel's attributes network alone named 56 % of the labelled training photos (us, eu, br)
right: it sees the whole box, so lit brake lights make dark cars red and a bright sky on the glass
makes silver white. The body view looks only at the vehicle's body: the detector box less its
border (road, neighbours) and its top fifth (roof, much of the glass), with the plate cut out, and
sorts every pixel into perceptual colour bins in CIE Lab: achromatic pixels (chroma under 14) by
lightness into five bins from black to white, chromatic ones by Lab hue into six sectors, dark or
light; then lightness percentiles, median chroma,
a and b, and the plate's own white as the exposure's reference. Each view has a small multinomial
logistic head fitted on the labelled training photos (`models/training/fit_vehicle_colour.py`,
coefficients in models/vehicle_colour.json), and the colour is the mean of the two heads'
probabilities. Averaging two independently fitted heads was steadier in cross-validation than one
head over both feature sets (10-fold on the 210 training photos, three shuffles: 70.8 % against
69.8 %) and its sure answers were more often right (from 0.6: 46 % shown, 85 % right).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from .types import Box, Image, VisionError

#: Chroma (Lab, a and b in -128..127) from which a pixel counts as coloured, not white/gray/black.
CHROMA_MIN: Final = 14.0
#: Lightness (0..100) edges of the five achromatic bins: black, dark gray, gray, light gray, white.
LIGHTNESS_EDGES: Final = (22.0, 40.0, 58.0, 75.0)
#: Lab hue edges (degrees, after turning the circle by 30 so the reds are one sector). The sectors,
#: in Lab hue: 330-40 reds and pinks, 40-100 oranges, browns and yellows, 100-170 yellow-greens and
#: greens, 170-230 cyans and teals, 230-290 light blues, 290-330 deep blues and violets (sRGB's pure
#: blue sits at 306, a navy car's paint there too).
HUE_EDGES: Final = (70.0, 130.0, 200.0, 260.0, 320.0)
#: The body: this share of the box's width off each side, of its height off the top and bottom.
BODY_MARGINS: Final = (0.1, 0.2, 0.05)
#: The body is measured at most this many pixels a side (the histogram needs no more).
BODY_SIDE: Final = 96
BODY_FEATURES: Final = 5 + 12 + 5 + 4 + 1


def _lab(bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Pixels as CIE Lab rows (L 0..100, a and b signed), from float so no 8-bit rounding."""
    return np.asarray(cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3))


def colour_bins(lab: NDArray[np.float32]) -> NDArray[np.float64]:
    """The body's pixels summarised: shares in the 5 achromatic and 12 chromatic bins, lightness
    percentiles (10, 25, 50, 75, 90), median chroma, median a and b, and the spread of lightness."""
    if len(lab) < 10:
        return np.zeros(BODY_FEATURES - 1)
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    hue = (np.degrees(np.arctan2(b, a)) + 360.0) % 360.0
    chromatic = chroma > CHROMA_MIN
    level = np.digitize(lightness, LIGHTNESS_EDGES)
    sector = np.digitize((hue + 30.0) % 360.0, HUE_EDGES)
    shares = [np.mean(~chromatic & (level == i)) for i in range(len(LIGHTNESS_EDGES) + 1)]
    for i in range(len(HUE_EDGES) + 1):
        for light in (False, True):
            shares.append(np.mean(chromatic & (sector == i) & ((lightness > 50) == light)))
    spread = [
        *(np.percentile(lightness, [10, 25, 50, 75, 90]) / 100),
        np.median(chroma) / 50,
        np.median(a) / 50,
        np.median(b) / 50,
        np.std(lightness) / 50,
    ]
    return np.asarray(shares + spread, np.float64)


def body_colour(frame: Image, vehicle: Box, plate: Box | None) -> NDArray[np.float64]:
    """The body view's features (`BODY_FEATURES`): `colour_bins` of the body, then the plate's
    white (its 90th lightness percentile, 0..1), NaN where no plate is known (the head then takes
    the training photos' mean)."""
    side, top, bottom = BODY_MARGINS
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(vehicle.x + side * vehicle.w)), max(0, int(vehicle.y + top * vehicle.h))
    x1 = min(width, int(vehicle.x + (1 - side) * vehicle.w))
    y1 = min(height, int(vehicle.y + (1 - bottom) * vehicle.h))
    crop = frame[y0:y1, x0:x1]
    keep = np.ones(crop.shape[:2], bool)
    plate_white = float("nan")
    if plate is not None:
        keep[
            max(0, int(plate.y - 0.1 * plate.h) - y0) : max(0, int(plate.y + 1.1 * plate.h) - y0),
            max(0, int(plate.x - 0.05 * plate.w) - x0) : max(0, int(plate.x + 1.05 * plate.w) - x0),
        ] = False
        plate_px = frame[max(0, plate.y) : plate.y + plate.h, max(0, plate.x) : plate.x + plate.w]
        if plate_px.size:
            plate_white = float(np.percentile(_lab(plate_px)[:, 0], 90)) / 100
    if crop.size == 0:
        return np.concatenate([np.zeros(BODY_FEATURES - 1), [plate_white]])
    scale = BODY_SIDE / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
        keep = cv2.resize(keep.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return np.concatenate([colour_bins(_lab(crop)[keep.reshape(-1)]), [plate_white]])


def network_colour(probabilities: NDArray[np.floating]) -> NDArray[np.float64]:
    """The network view's features: its colour probabilities as logs (clipped off zero)."""
    return np.log(np.clip(np.asarray(probabilities, np.float64), 1e-4, 1.0))


@dataclass(frozen=True, slots=True)
class LogisticHead:
    """Multinomial logistic regression over standardised features; NaN features count as the mean."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]  # features x colours
    bias: NDArray[np.float64]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticHead:
        head = cls(*(np.asarray(data[k], np.float64) for k in ("mean", "scale", "weights", "bias")))
        if head.weights.shape != (head.mean.size, head.bias.size) or head.scale.size != head.mean.size:
            raise ValueError("coefficients of mismatched sizes")
        return head

    def to_dict(self) -> dict[str, list[Any]]:
        return {k: getattr(self, k).tolist() for k in ("mean", "scale", "weights", "bias")}

    def probabilities(self, features: NDArray[np.floating]) -> NDArray[np.float64]:
        x = np.asarray(features, np.float64)
        x = np.where(np.isnan(x), self.mean, x)
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.asarray(z / z.sum(axis=-1, keepdims=True), np.float64)


@dataclass(frozen=True, slots=True)
class ColourModel:
    """The two views' heads; the colour is the mean of their probabilities."""

    network: LogisticHead
    body: LogisticHead

    @classmethod
    def load(cls, path: Path, colours: int) -> ColourModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found = cls(LogisticHead.from_dict(data["network"]), LogisticHead.from_dict(data["body"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VisionError(f"unreadable vehicle colour model {path}: {exc}") from None
        if (
            found.network.bias.size != colours
            or found.body.bias.size != colours
            or found.network.mean.size != colours
            or found.body.mean.size != BODY_FEATURES
        ):
            raise VisionError(f"vehicle colour model {path} does not fit {colours} colours")
        return found

    def to_json(self) -> str:
        return json.dumps({"network": self.network.to_dict(), "body": self.body.to_dict()})

    def probabilities(self, network: NDArray[np.floating], body: NDArray[np.floating]) -> NDArray[np.float64]:
        """Colour probabilities from the network's own probabilities and `body_colour`'s features."""
        found = self.network.probabilities(network_colour(network)) + self.body.probabilities(body)
        return np.asarray(found / 2, np.float64)
