"""Synthetic camera frames with plates at known places, for `bench vision` and the tests.

Why synthetic: the speed bench must run on any install (no dataset shipped), and the detector
tests need ground truth that does not depend on a labelled photo. The plates come from the OCR
training renderer (`platewatch.models.training.synth`), so the text drawn is exactly the text
expected.
A plate alone on a flat background is not what the detector learnt; each plate sits on a crude
car rear (body, bumper, lights) on a road-like background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from platewatch.models.training.synth import paste_plate, render_plate

from ..vision.types import Box, Image


@dataclass(frozen=True, slots=True)
class PlacedPlate:
    text: str
    style: str
    box: Box  # where the plate was pasted, in frame pixels


def road(width: int = 1920, height: int = 1080, seed: int = 0) -> Image:
    """An empty road-like scene: grey asphalt gradient, noise, lane marks, a green verge."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = 95 + 40 * y + rng.normal(0, 6, (height, width)).astype(np.float32)
    img = np.repeat(np.clip(base, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    cv2.rectangle(img, (0, 0), (width, height // 6), (70, 120, 80), -1)  # verge
    for x in range(0, width, width // 8):
        cv2.line(
            img, (x, height // 2), (x + width // 16, height // 2), (230, 230, 230), max(2, height // 120)
        )
    return img


def add_car(
    frame: Image, text: str, style: str, plate_w: int, center: tuple[int, int], seed: int = 0
) -> PlacedPlate:
    """Draw a car rear around a plate `plate_w` pixels wide centred at `center`; returns where.

    The details matter to the detector: a shaded body, a darker recess and a frame around the plate
    and small lights raise its score on these drawings from ~0.1 to the range of real photos.
    """
    rng = np.random.default_rng(seed)
    plate = render_plate(text, style, rng)
    plate_h = round(plate_w * plate.shape[0] / plate.shape[1])
    cx, cy = center
    body_w, body_h = int(plate_w * 5.0), int(plate_w * 1.9)
    x0, y0 = cx - body_w // 2, cy - int(body_h * 0.6)
    colour = rng.integers(40, 200, 3).astype(np.float32)
    shade = np.linspace(1.15, 0.75, body_h, dtype=np.float32)[:, None, None]
    body = np.clip(colour[None, None, :] * shade, 0, 255).astype(np.uint8)
    paste_clipped(frame, np.broadcast_to(body, (body_h, body_w, 3)), x0, y0)
    cv2.rectangle(frame, (x0 + body_w // 7, y0 - body_h // 3), (x0 + body_w * 6 // 7, y0), (45, 45, 50), -1)
    bumper_y = cy + plate_h * 3 // 4
    cv2.rectangle(frame, (x0 - 4, bumper_y), (x0 + body_w + 4, bumper_y + plate_h), (30, 30, 30), -1)
    for lx in (x0 + body_w // 14, x0 + body_w * 13 // 14 - plate_w // 3):
        cv2.rectangle(frame, (lx, cy - plate_h), (lx + plate_w // 3, cy - plate_h // 3), (30, 30, 200), -1)
    recess_w, recess_h = int(plate_w * 1.25), int(plate_h * 1.35)
    cv2.rectangle(
        frame, (cx - recess_w // 2, cy - recess_h // 2), (cx + recess_w // 2, cy + recess_h // 2),
        tuple(int(c * 0.6) for c in colour), -1,
    )  # fmt: skip
    px, py = cx - plate_w // 2, cy - plate_h // 2
    border = max(1, plate_w // 60)
    cv2.rectangle(
        frame, (px - border, py - border), (px + plate_w + border, py + plate_h + border), (20, 20, 20), -1
    )
    corners = [[px, py], [px + plate_w, py], [px + plate_w, py + plate_h], [px, py + plate_h]]
    frame[:] = paste_plate(frame, plate, corners)
    return PlacedPlate(text, style, Box(px, py, plate_w, plate_h))


def paste_clipped(frame: Image, patch: Image, x: int, y: int) -> None:
    """Copy `patch` into `frame` at (x, y), clipped to the frame."""
    h, w = patch.shape[:2]
    fx0, fy0 = max(0, x), max(0, y)
    fx1, fy1 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if fx1 > fx0 and fy1 > fy0:
        frame[fy0:fy1, fx0:fx1] = patch[fy0 - y : fy1 - y, fx0 - x : fx1 - x]


def camera(frame: Image, blur: float = 0.8, quality: int = 85) -> Image:
    """What a camera adds: a little blur and JPEG compression."""
    out = cast(Image, cv2.GaussianBlur(frame, (0, 0), blur)) if blur > 0 else frame
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cast(Image | None, cv2.imdecode(buf, cv2.IMREAD_COLOR)) if ok else None
    return out if decoded is None else decoded


def scene(
    plates: list[tuple[str, str, int, tuple[int, int]]], width: int = 1920, height: int = 1080, seed: int = 0
) -> tuple[Image, list[PlacedPlate]]:
    """A road with one car per (text, style, plate width, centre)."""
    frame = road(width, height, seed)
    placed = [add_car(frame, t, s, w, c, seed + i) for i, (t, s, w, c) in enumerate(plates)]
    return camera(frame), placed
