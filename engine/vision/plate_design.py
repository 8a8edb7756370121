"""California's plate design, recognised by the look of the plate's top band.

Why a classifier and not the text reader: California's name is a small red script
(``California``) about 6-10 pixels high on the cameras' plates, which PP-OCRv4's text-line
recognizer reads as nothing, upscaled or not, and whose red the JPEG's halved chroma mostly washes
out (a colour cue named as many wrong plates as right ones). The script's strokes still leave a
pattern of edges in the band above the characters. The band is warped to a fixed size from the
plate's box (`band_of`), described by histograms of gradient orientation over small cells
(`features`, HOG-like), and a ridge-regression score (`DesignModel.score`) says how much it looks
like the training photos' California plates against every other plate (other states, and plates
whose state is hidden). The model, its penalty, band and cell size were chosen by the training
two thirds' leave-one-out scores (``engine/bench/fit_state_design.py``); its weights ship as
``models/state_design.json``.

Only California has enough labelled plates here (18 of the 39 training plates that show a state)
for a classifier; every other state is left to the text reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from .types import Box, Image, VisionError

MODEL_FILE: Final = "state_design.json"
#: The plate is warped to this width and height (its box), with rows above its top.
PLATE_W: Final = 96
PLATE_H: Final = 48
#: The band's rows as fractions of the plate's height from its top: the script sits here.
BAND: Final = (-0.125, 0.375)
CELL: Final = 6
BINS: Final = 9

Vector = npt.NDArray[np.float64]


def band_of(frame: Image, plate: Box) -> npt.NDArray[np.uint8]:
    """The grey band across the plate's top, warped so the box is `PLATE_W` x `PLATE_H` (edges
    past the frame repeat its border, so a plate at the frame's top still gives a full band)."""
    sx, sy = PLATE_W / max(plate.w, 1), PLATE_H / max(plate.h, 1)
    top = plate.y + BAND[0] * plate.h
    rows = round((BAND[1] - BAND[0]) * PLATE_H)
    warp = np.array([[sx, 0.0, -plate.x * sx], [0.0, sy, -top * sy]], dtype=np.float32)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    band = cv2.warpAffine(grey, warp, (PLATE_W, rows), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(band, dtype=np.uint8)


def features(band: npt.NDArray[np.uint8]) -> Vector:
    """Per-cell histograms of gradient orientation (unsigned, `BINS` bins, weighted by magnitude),
    each cell normalised to unit length so the band's contrast and light do not count."""
    g = band.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = np.sqrt(gx * gx + gy * gy)
    bins = np.minimum(((np.arctan2(gy, gx) % np.pi) / np.pi * BINS).astype(np.int64), BINS - 1)
    height, width = band.shape[:2]
    cells = []
    for y in range(0, height - CELL + 1, CELL):
        for x in range(0, width - CELL + 1, CELL):
            cell_bins = bins[y : y + CELL, x : x + CELL].ravel()
            cell_mag = magnitude[y : y + CELL, x : x + CELL].ravel()
            cells.append(np.bincount(cell_bins, cell_mag, BINS))
    hist = np.array(cells, dtype=np.float64)
    hist /= np.linalg.norm(hist, axis=1, keepdims=True) + 1e-3
    out: Vector = hist.ravel()
    return out


@dataclass(frozen=True)
class DesignModel:
    """A ridge-regression score over standardised `features`: about +1 for a California plate's
    band, -1 for any other; `threshold` is where the state is named."""

    mean: Vector
    scale: Vector
    weights: Vector
    bias: float
    threshold: float

    def score(self, vector: Vector) -> float:
        return float(((vector - self.mean) / self.scale) @ self.weights + self.bias)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": "CA",
            "band": list(BAND),
            "cell": CELL,
            "bins": BINS,
            "plate": [PLATE_W, PLATE_H],
            "threshold": self.threshold,
            "bias": self.bias,
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": [round(float(v), 6) for v in self.weights],
        }

    @classmethod
    def load(cls, path: Path) -> DesignModel:
        if not path.is_file():
            raise VisionError(f"state design model not found: {path}")
        raw = json.loads(path.read_text(encoding="utf-8"))
        if (raw["cell"], raw["bins"], tuple(raw["band"]), tuple(raw["plate"])) != (
            CELL,
            BINS,
            BAND,
            (PLATE_W, PLATE_H),
        ):
            raise VisionError(f"{path} was fitted on other features than plate_design computes")
        return cls(
            mean=np.array(raw["mean"], dtype=np.float64),
            scale=np.array(raw["scale"], dtype=np.float64),
            weights=np.array(raw["weights"], dtype=np.float64),
            bias=float(raw["bias"]),
            threshold=float(raw["threshold"]),
        )


def fit_ridge(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], penalty: float, threshold: float
) -> DesignModel:
    """Ridge regression of `y` (+1 California, -1 other) on standardised features, solved in its
    dual form (far fewer photos than features); the penalty is relative to the feature count."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    dims = x.shape[1]
    kernel = z @ z.T / dims
    alpha = np.linalg.solve(kernel + penalty * np.eye(len(y)), y - y.mean())
    weights: Vector = z.T @ alpha / dims
    return DesignModel(mean, scale, weights, float(y.mean()), threshold)


def leave_one_out(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], penalty: float) -> Vector:
    """Each photo's score from a model fitted on all the others (how the threshold is chosen)."""
    out = np.zeros(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = fit_ridge(x[keep], y[keep], penalty, 0.0).score(x[i])
    return out


__all__ = ["DesignModel", "band_of", "features", "fit_ridge", "leave_one_out"]
