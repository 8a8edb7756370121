"""Fit the vehicle colour calibration (models/vehicle_colour.json) on the labelled training photos.

    .venv/bin/python models/training/fit_vehicle_colour.py DIR [DIR ...]

Each DIR is an openalpr-format directory (us/, eu/, br/); its labels are
tests/data/vehicles/<DIR name>_labels.tsv (each photo's vehicle colour, labelled by looking). Only
the training two thirds of each are read (`is_held_out` leaves out md5(name) % 3 == 0), each photo's
vehicle is the detected one that holds the labelled plate, and its features are exactly what
`VehicleReader.describe` computes. A multinomial logistic regression with an L2 penalty is fitted;
the penalty is chosen by leave-one-out accuracy on the training photos (ties go to the stronger
penalty, the smoother model). The held-out third is for `platewatch bench accuracy --vehicles`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from platewatch.engine.bench.vehicle_labels import is_held_out, read_vehicle_labels
from platewatch.engine.vision.types import Box, Image
from platewatch.engine.vision.vehicles import COLOURS, ColourCalibration, VehicleReader, vehicle_of

PENALTIES = (0.01, 0.03, 0.1, 0.3)
ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests/data/vehicles"


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True), np.float64)


def fit(x: NDArray[np.float64], y: NDArray[np.int64], penalty: float, steps: int = 400) -> ColourCalibration:
    """Gradient descent on the mean cross-entropy plus penalty/2 * |W|^2, on standardised features."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    weights = np.zeros((z.shape[1], len(COLOURS)))
    bias = np.zeros(len(COLOURS))
    target = np.eye(len(COLOURS))[y]
    for _ in range(steps):
        grad = _softmax(z @ weights + bias) - target
        weights -= 0.3 * (z.T @ grad / len(y) + penalty * weights)
        bias -= 0.3 * grad.mean(axis=0)
    return ColourCalibration(mean, scale, weights, bias)


def leave_one_out(x: NDArray[np.float64], y: NDArray[np.int64], penalty: float) -> float:
    right = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        right += int(fit(x[keep], y[keep], penalty).probabilities(x[i]).argmax() == y[i])
    return right / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "models/vehicle_colour.json")
    args = parser.parse_args()
    reader = VehicleReader()
    rows, classes = [], []
    photos = [
        (directory, image, label)
        for directory in args.directories
        for image, label in sorted(read_vehicle_labels(LABELS / f"{directory.name}_labels.tsv").items())
    ]
    for directory, image, label in photos:
        if is_held_out(image) or label.colour is None:
            continue
        frame = cv2.imread(str(directory / image))
        if frame is None:
            print(f"{image}: unreadable; left out")
            continue
        frame = cast(Image, frame)
        fields = (directory / image).with_suffix(".txt").read_text().split("\t")
        plate = Box(*(int(v) for v in fields[1:5]))
        vehicle = vehicle_of(plate, reader.detect(frame))
        if vehicle is None:
            print(f"{image}: no vehicle holds the plate; left out")
            continue
        rows.append(reader.features(frame, vehicle.box, plate)[0])
        classes.append(COLOURS.index(label.colour))
    x, y = np.stack(rows), np.asarray(classes, np.int64)
    network = float(np.mean(x[:, : len(COLOURS)].argmax(axis=1) == y))
    print(f"{len(y)} training photos; the network alone: {network:.3f}")
    scores = {p: leave_one_out(x, y, p) for p in PENALTIES}
    for penalty, score in scores.items():
        print(f"penalty {penalty}: leave-one-out {score:.3f}")
    best = max(PENALTIES, key=lambda p: (scores[p], p))
    # How sure a colour must be to be shown (vehicles.COLOUR_MIN_CONFIDENCE): each photo's
    # probabilities from a fit without it, then the share shown and right from each threshold.
    loo = np.stack(
        [
            fit(x[np.arange(len(y)) != i], y[np.arange(len(y)) != i], best).probabilities(x[i])
            for i in range(len(y))
        ]
    )
    sure, right = loo.max(axis=1), loo.argmax(axis=1) == y
    for threshold in (0.4, 0.5, 0.6, 0.7, 0.8):
        shown = sure >= threshold
        print(f"shown from {threshold}: {shown.mean():.3f}, right when shown {right[shown].mean():.3f}")
    args.out.write_text(fit(x, y, best).to_json() + "\n", encoding="utf-8")
    print(f"wrote {args.out} (penalty {best})")


if __name__ == "__main__":
    main()
