"""Fit California's plate-design model (models/state_design.json) on the labelled training photos.

    .venv/bin/python -m platewatch.engine.bench.fit_state_design /work/shared/datasets/openalpr/us

Only the training two thirds are read (`is_held_out` leaves out md5(name) % 3 == 0, the photos of
models/training/holdout_us.txt); the labels are tests/data/vehicles/us_labels.tsv's `state`
column. Each photo's plate is the box of the recognizer's read that overlaps the labelled plate
most (else the labelled box), as `platewatch bench accuracy --vehicles` and a camera's pass use it.
The target is +1 for a plate labelled CA and -1 for every other (other states, and plates whose
state is hidden). The penalty (`PENALTY`, and `plate_design`'s band and cell size) was chosen
among 30 settings by these photos' leave-one-out scores (2026-12-05: the most California plates
ranked above every other plate); the threshold is the highest leave-one-out score of a plate that
is not California's plus `MARGIN`, rounded up to 0.05, so that no training plate would have been
named California wrongly by a model that had not seen it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from platewatch.engine.config import VisionConfig

from ..vision.image import as_image
from ..vision.pipeline import Recognizer
from ..vision.plate_design import MODEL_FILE, band_of, features, fit_ridge, leave_one_out
from ..vision.runtime import get_runtime
from .accuracy import load_samples
from .state_accuracy import _overlap
from .vehicle_accuracy import collect_labels
from .vehicle_labels import is_held_out

PENALTY = 0.1
MARGIN = 0.05
ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--labels", type=Path, default=ROOT / "tests/data/vehicles/us_labels.tsv")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / MODEL_FILE)
    args = parser.parse_args()
    vision = VisionConfig()
    recognizer = Recognizer(get_runtime(vision), region="us", thorough=vision.thorough)
    rows, target, names = [], [], []
    for path, (labelled, label) in sorted(collect_labels(load_samples(args.directory), args.labels).items()):
        if is_held_out(path.name):
            continue
        frame = as_image(path.read_bytes())
        reads = recognizer.analyse(frame, "us").reads
        read = max(reads, key=lambda r: _overlap(r.box, labelled), default=None)
        rows.append(features(band_of(frame, read.box if read is not None else labelled)))
        target.append(1.0 if label.state == "CA" else -1.0)
        names.append(f"{path.name} {label.state or '-'}")
    x, y = np.array(rows), np.array(target)
    scores = leave_one_out(x, y, PENALTY)
    threshold = math.ceil((scores[y < 0].max() + MARGIN) * 20) / 20
    named = int(((scores >= threshold) & (y > 0)).sum())
    print(f"{len(y)} training photos, {int((y > 0).sum())} California; leave-one-out at {threshold}:")
    print(f"  {named} California plates named, {int(((scores >= threshold) & (y < 0)).sum())} others")
    for i in np.argsort(-scores)[:20]:
        print(f"  {scores[i]:6.2f} {names[i]}")
    model = fit_ridge(x, y, PENALTY, threshold)
    args.out.write_text(json.dumps(model.to_json()) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
