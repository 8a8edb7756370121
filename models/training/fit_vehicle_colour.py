"""Fit the vehicle colour model (models/vehicle_colour.json) on the labelled training photos.

    .venv/bin/python models/training/fit_vehicle_colour.py DIR [DIR ...]

Each DIR is an openalpr-format directory (us/, eu/, br/); its labels are
tests/data/vehicles/<DIR name>_labels.tsv (each photo's vehicle colour, labelled by looking). Only
the training two thirds of each are read (`is_held_out` leaves out md5(name) % 3 == 0), each photo's
vehicle is the detected one that holds the labelled plate, and its inputs are exactly what
`VehicleReader.describe` computes. Two multinomial logistic heads with an L2 penalty are fitted (the
network's colour probabilities; the body's colours, `vehicle_colour.body_colour`) and their
probabilities averaged (`ColourModel`). The penalties are chosen by the average's 10-fold accuracy
on the training photos over three shuffles (ties go to the stronger penalties, the smoother model);
the same folds give the table of how many colours are shown, and how many of those are right, from
each confidence (vehicles.COLOUR_MIN_CONFIDENCE). The held-out third is for `platewatch bench
accuracy --vehicles`.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from platewatch.engine.bench.vehicle_labels import is_held_out, read_vehicle_labels
from platewatch.engine.vision.types import Box, Image
from platewatch.engine.vision.vehicle_colour import ColourModel, LogisticHead, network_colour
from platewatch.engine.vision.vehicles import COLOURS, VehicleReader, vehicle_of

NETWORK_PENALTIES = (0.01, 0.03, 0.1)
BODY_PENALTIES = (0.003, 0.01, 0.03)
FOLDS = 10
SHUFFLES = (0, 1, 2)
ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests/data/vehicles"


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True), np.float64)


def fit(x: NDArray[np.float64], y: NDArray[np.int64], penalty: float, steps: int = 500) -> LogisticHead:
    """Gradient descent on the mean cross-entropy plus penalty/2 * |W|^2, on standardised features
    (a NaN feature, the body's plate white where no plate was known, stands at the mean)."""
    mean = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), mean, x)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    weights = np.zeros((z.shape[1], len(COLOURS)))
    bias = np.zeros(len(COLOURS))
    target = np.eye(len(COLOURS))[y]
    for _ in range(steps):
        grad = _softmax(z @ weights + bias) - target
        weights -= 0.3 * (z.T @ grad / len(y) + penalty * weights)
        bias -= 0.3 * grad.mean(axis=0)
    return LogisticHead(mean, scale, weights, bias)


def folded(
    network: NDArray[np.float64],
    body: NDArray[np.float64],
    y: NDArray[np.int64],
    penalties: tuple[float, float],
    seed: int,
) -> NDArray[np.float64]:
    """Each photo's averaged probabilities from heads fitted on the other nine folds."""
    order = np.random.default_rng(seed).permutation(len(y))
    found = np.zeros((len(y), len(COLOURS)))
    for fold in range(FOLDS):
        test = order[fold::FOLDS]
        train = np.setdiff1d(order, test)
        model = ColourModel(
            fit(network[train], y[train], penalties[0]), fit(body[train], y[train], penalties[1])
        )
        found[test] = (
            model.network.probabilities(network[test]) / 2 + model.body.probabilities(body[test]) / 2
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "models/vehicle_colour.json")
    args = parser.parse_args()
    reader = VehicleReader()
    networks, bodies, classes = [], [], []
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
        network, body, _ = reader.features(frame, vehicle.box, plate)
        networks.append(network_colour(network))
        bodies.append(body)
        classes.append(COLOURS.index(label.colour))
    network_x, body_x, y = np.stack(networks), np.stack(bodies), np.asarray(classes, np.int64)
    print(f"{len(y)} training photos; the network alone: {np.mean(network_x.argmax(axis=1) == y):.3f}")
    scores: dict[tuple[float, float], float] = {}
    for penalties in itertools.product(NETWORK_PENALTIES, BODY_PENALTIES):
        right = [
            np.mean(folded(network_x, body_x, y, penalties, seed).argmax(axis=1) == y) for seed in SHUFFLES
        ]
        scores[penalties] = float(np.mean(right))
        print(f"penalties network {penalties[0]}, body {penalties[1]}: 10-fold {scores[penalties]:.3f}")
    best = max(scores, key=lambda p: (round(scores[p], 6), p))
    # How sure a colour must be to be shown, on the same folds.
    for threshold in (0.5, 0.6, 0.7, 0.8):
        shown, right = [], []
        for seed in SHUFFLES:
            found = folded(network_x, body_x, y, best, seed)
            sure = found.max(axis=1) >= threshold
            shown.append(sure.mean())
            right.append(np.mean((found.argmax(axis=1) == y)[sure]) if sure.any() else float("nan"))
        print(f"shown from {threshold}: {np.mean(shown):.3f}, right when shown {np.mean(right):.3f}")
    model = ColourModel(fit(network_x, y, best[0]), fit(body_x, y, best[1]))
    args.out.write_text(model.to_json() + "\n", encoding="utf-8")
    print(f"wrote {args.out} (penalties network {best[0]}, body {best[1]})")


if __name__ == "__main__":
    main()
