"""Shared pieces of the OCR training scripts: alphabet, splits, real-data loading, preprocessing.

Dev-time only.  The data lives outside the repo (the AGPL-3.0 openalpr benchmark dataset,
`benchmarks/endtoend`: us/ eu/ br/ ocr-crops/, under `$PLATEWATCH_DATA`) and is never copied into it.

Splits are a pure function of file names (md5 of the name), so every script, every run and
every machine agrees on them; the held-out lists are also written to `models/training/holdout_*.txt`.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from platewatch.engine.plates import PLATE_ALPHABET as ALPHABET

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("PLATEWATCH_DATA", "/work/shared/datasets/openalpr"))
BLANK = 0  # CTC blank is class 0; character i of ALPHABET is class i + 1


def parse_input_size(text: str) -> tuple[int, int]:
    """Parse "HxW" into (H, W): the recognizer's input, a multiple of 32 high and of 4 wide (model.py)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"PLATEWATCH_OCR_INPUT must look like 64x160, got {text!r}") from None
    if height < 32 or height % 32 or width < 4 or width % 4:
        raise SystemExit(f"PLATEWATCH_OCR_INPUT {text!r}: height must be a multiple of 32, width of 4")
    return height, width


#: The size crops are resized to for training and evaluation. 64x160 is the shipped recognizer's;
#: PLATEWATCH_OCR_INPUT=96x240 trains one from scratch at a larger input (models/README.md), where a
#: condensed font's shallow M keeps more pixels. Checkpoints record their size (`input_hw`).
INPUT_H, INPUT_W = parse_input_size(os.environ.get("PLATEWATCH_OCR_INPUT", "64x160"))
TRAINING_DIR = Path(__file__).resolve().parent


def encode(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in text if c in ALPHABET]


def _h(name: str) -> int:
    return int(hashlib.md5(name.encode()).hexdigest(), 16)


def is_holdout_scene(name: str) -> bool:
    """A fixed third of the scene images (US, EU, BR) never used for training."""
    return _h(name) % 3 == 0


def is_val_crop(name: str) -> bool:
    """A fixed sixth of ocr-crops kept for monitoring (never trained on)."""
    return _h("crop:" + name) % 6 == 0


@dataclass
class SceneBox:
    image: str  # path
    name: str
    x: int
    y: int
    w: int
    h: int
    text: str
    region: str


def scene_boxes(region: str) -> list[SceneBox]:
    out: list[SceneBox] = []
    d = DATA / region
    if not d.is_dir():
        return out
    for txt in sorted(d.glob("*.txt")):
        for line in txt.read_text().splitlines():
            parts = line.strip().split("\t")
            if len(parts) < 6:
                continue
            name, x, y, w, h, plate = parts[:6]
            img = d / name
            if not img.exists():
                img = txt.with_suffix(".jpg")
            out.append(SceneBox(str(img), img.name, int(x), int(y), int(w), int(h), plate.upper(), region))
    return out


def ocr_crops() -> list[tuple[str, str]]:
    """(path, label) of the clean US crops."""
    d = DATA / "ocr-crops"
    gt = d / "groundtruth.csv"
    if not gt.exists():
        return []
    with gt.open() as f:
        return [(str(d / r[0]), r[2].strip().upper()) for r in csv.reader(f) if len(r) >= 3]


def write_holdout_lists() -> None:
    for region in ("us", "eu", "br"):
        names = sorted({b.name for b in scene_boxes(region) if is_holdout_scene(b.name)})
        if names:
            (TRAINING_DIR / f"holdout_{region}.txt").write_text("\n".join(names) + "\n")
    vals = sorted(Path(p).name for p, _ in ocr_crops() if is_val_crop(Path(p).name))
    if vals:
        (TRAINING_DIR / "val_ocr_crops.txt").write_text("\n".join(vals) + "\n")


def loose_crop(
    img: np.ndarray, b: SceneBox, fx: float = 1.14, fy: float = 1.4, dx: float = 0.0, dy: float = 0.0
) -> np.ndarray:
    """Crop a label box enlarged to fx x fy (detector-like), shifted by dx, dy (fractions of w, h)."""
    cx, cy = b.x + b.w / 2 + dx * b.w, b.y + b.h / 2 + dy * b.h
    w, h = b.w * fx, b.h * fy
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    x1, y1 = round(cx + w / 2), round(cy + h / 2)
    H, W = img.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    return img[y0:y1, x0:x1]


def fix_eu_label(text: str) -> str:
    """openalpr EU labels mix O and 0; in LL NNN LL (IT/FR) the middle is digits."""
    if len(text) == 7 and text[:2].isalpha() and text[5:].isalpha():
        mid = text[2:5].replace("O", "0")
        if mid.isdigit():
            return text[:2] + mid + text[5:]
    return text


def preprocess(crop: np.ndarray, size: tuple[int, int] = (INPUT_H, INPUT_W)) -> np.ndarray:
    """BGR crop -> uint8 HxWx3 model input of `size` (H, W).  Must match engine/vision/ocr.py."""
    h, w = crop.shape[:2]
    out_h, out_w = size
    interp = cv2.INTER_AREA if (w > out_w or h > out_h) else cv2.INTER_LINEAR
    return cv2.resize(crop, (out_w, out_h), interpolation=interp)
