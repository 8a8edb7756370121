"""`bench accuracy --as-camera`: photos played as vehicle passes through the camera runner and the
tracker, and the passes scored against the labels (lost, split, exact)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from platewatch.codecs import Read
from platewatch.engine.bench.accuracy import Label, Sample
from platewatch.engine.bench.as_camera import (
    APPROACH_FRAMES,
    ZOOM,
    PhotoCamera,
    View,
    approach,
    run_camera_accuracy,
    score_passes,
    widened,
)
from platewatch.engine.bench.scenes import scene
from platewatch.engine.vision.pipeline import Recognizer
from platewatch.engine.vision.runtime import Runtime
from platewatch.engine.vision.types import Box, Candidate, Image, OcrResult


class FixedOCR:
    """Stand-in OCR that reads every crop as the same text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def read_batch(self, crops: Sequence[Image]) -> list[OcrResult]:
        result = OcrResult(self.text, 0.95, (0.95,) * len(self.text), (Candidate(self.text, 0.95),))
        return [result for _ in crops]


def test_approach_zooms_towards_the_plate_and_maps_boxes_back() -> None:
    image, placed = scene([("7ABC123", "us", 200, (1400, 700))], seed=3)
    frames = approach(image, (1400.0, 700.0))
    assert len(frames) == APPROACH_FRAMES
    assert {f.shape[:2] for f, _ in frames} == {(round(1080 * ZOOM), round(1920 * ZOOM))}
    first, last = frames[0][1], frames[-1][1]
    assert (first.w, first.h) == (1920, 1080)  # the whole photo at first
    assert last.w == round(1920 * ZOOM) and last.x > first.x  # zoomed in, panned towards the plate
    # A box seen in the last frame maps back onto the label in the photo.
    scale = frames[-1][0].shape[1] / last.w
    view = View(0, 0.0, last.x, last.y, scale)
    box = placed[0].box
    seen = Box(
        round((box.x - last.x) * scale),
        round((box.y - last.y) * scale),
        round(box.w * scale),
        round(box.h * scale),
    )
    back = view.to_photo(seen)
    assert abs(back.x - box.x) <= 2 and abs(back.w - box.w) <= 2


def _read(
    plate: str,
    t: float,
    box: Box,
    pass_id: str,
    provisional: bool = False,
    length: int = 5,
    direction: str = "",
    heading: float | None = None,
) -> Read:
    return Read(
        read_id=f"{pass_id}-{'p' if provisional else 'f'}",
        camera_id="c",
        time=t,
        plate=plate,
        confidence=0.9,
        region="us",
        box=(box.x, box.y, box.w, box.h),
        char_confidences=(0.9,) * len(plate),
        candidates=((plate, 0.9),),
        track_length=length,
        provisional=provisional,
        pass_id=pass_id,
        direction=direction,
        heading=heading,
    )


def test_passes_are_scored_lost_split_and_exact(tmp_path: Path) -> None:
    samples = [
        Sample(tmp_path / "a.jpg", (Label(Box(100, 100, 80, 40), "7ABC123"),)),
        Sample(tmp_path / "b.jpg", (Label(Box(100, 100, 80, 40), "8XYZ999"),)),
        Sample(tmp_path / "c.jpg", (Label(Box(100, 100, 80, 40), "5VCF203"),)),
    ]
    camera = PhotoCamera(samples)
    camera.views = [View(0, 1.0, 0, 0, 1.0), View(1, 2.0, 0, 0, 1.0), View(2, 3.0, 0, 0, 1.0)]
    plate = Box(100, 100, 80, 40)
    reads = [
        _read("7ABC123", 1.0, plate, "p1", provisional=True),
        _read("7ABC123", 1.0, plate, "p1"),
        _read("5VCF20377", 3.0, plate, "p3", length=9),  # ran into a neighbour's characters
        _read("5VCF203", 3.0, plate, "p4", length=2),  # and the same vehicle split into two passes
        _read("OTHER1", 3.0, Box(900, 900, 80, 40), "p5"),  # over no label
    ]
    tally = score_passes(samples, camera, reads, "us")
    assert tally.plates == 3 and tally.passes == 4
    assert tally.exact == 1 and tally.provisional_exact == 1
    assert tally.lost == 1  # photo b left no pass
    assert tally.split == 1
    assert tally.within_one == 1  # the split pass is scored by its longest track: 2 characters too many
    assert tally.unmatched_passes == 1


def test_bench_accuracy_as_camera_runs_the_stream_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in (("car1", "7ABC123"), ("car2", "7ABC128")):
        image, placed = scene([(text, "us", 220, (900, 600))], seed=1)
        cv2.imwrite(str(data / f"{name}.jpg"), image)
        b = placed[0].box
        (data / f"{name}.txt").write_text(f"{name}.jpg\t{b.x}\t{b.y}\t{b.w}\t{b.h}\t{text}\n")
    recognizer = Recognizer(Runtime("CPU"), region="us", reader=FixedOCR("7ABC123"))
    figures = run_camera_accuracy(data, "us", json_out=tmp_path / "acc.json", recognizer=recognizer)
    assert figures["mode"] == "camera" and figures["plates"] == 2
    assert figures["frames"] > 2 * APPROACH_FRAMES
    assert figures["lost"] == 0.0 and figures["split"] == 0.0
    # car2 is read 7ABC123 by the stand-in: one pass exact, both within one; the second pass is
    # not swallowed by the first's dedupe (the road between photos outlasts it)
    assert figures["passes"] == 2
    assert figures["exact"] == pytest.approx(0.5) and figures["within_one"] == pytest.approx(1.0)
    assert figures["single"]["exact"] == pytest.approx(0.5)
    assert json.loads((tmp_path / "acc.json").read_text())["split"] == 0.0
    assert "played as a camera" in (tmp_path / "acc.html").read_text()


def test_both_ways_plays_every_other_photo_backwards_and_scores_the_direction(tmp_path: Path) -> None:
    samples = []
    for name, text in (("a", "7ABC123"), ("b", "8XYZ902")):
        image, placed = scene([(text, "us", 200, (1400, 700))], seed=3)
        cv2.imwrite(str(tmp_path / f"{name}.jpg"), image)
        samples.append(Sample(tmp_path / f"{name}.jpg", (Label(placed[0].box, text),)))
    camera = PhotoCamera(samples, both_ways=True)

    async def frames() -> int:
        return len([f async for f in camera._session()])

    assert asyncio.run(frames()) == 2 * (APPROACH_FRAMES + 3)
    widths = [[round(1920 * ZOOM / v.scale) for v in camera.views if v.photo == p] for p in (0, 1)]
    assert widths[0][0] == 1920 and widths[0][-1] == round(1920 * ZOOM)  # zooms in: approaching
    assert widths[1] == widths[0][::-1]  # the same approach backwards: receding
    assert (camera.way(0), camera.way(1)) == ("approaching", "receding")
    # The plate right of and below the centre: the pan towards it moves it left and up in the picture
    # as the car approaches, right and down as it recedes.
    way, heading, required = camera.expected_travel(0, samples[0].labels[0].box)
    assert way == "approaching" and heading is not None and 90 < heading < 180 and required
    way, heading, _ = camera.expected_travel(1, samples[1].labels[0].box)
    assert way == "receding" and heading is not None and 270 < heading < 360
    box = samples[0].labels[0].box
    first = next(v for v in camera.views if v.photo == 0)
    back = first.to_photo(first.to_frame(box))  # to_frame is to_photo's inverse
    assert abs(back.x - box.x) <= 2 and abs(back.w - box.w) <= 2
    t0 = [v.time for v in camera.views if v.photo == 0][-1]
    t1 = next(v.time for v in camera.views if v.photo == 1)
    reads = [
        _read(
            "7ABC123",
            t0,
            camera.views[APPROACH_FRAMES - 1].to_frame(box),
            "p1",
            direction="approaching",
            heading=135.0,
        ),
        _read(
            "8XYZ902", t1, camera.views[APPROACH_FRAMES + 3].to_frame(box), "p2", direction="", heading=315.0
        ),
    ]
    tally = score_passes(samples, camera, reads, "us")
    assert tally.exact == 2 and tally.direction_right == 1  # the second pass missed its receding
    assert [m["image"] for m in tally.direction_misses] == ["b.jpg"]


def test_widen_keeps_the_photos_pixels_in_a_wider_view_and_maps_its_boxes(tmp_path: Path) -> None:
    image, placed = scene([("7ABC123", "us", 120, (900, 450))], width=1280, height=720, seed=5)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    box = placed[0].box
    camera = PhotoCamera([Sample(tmp_path / "a.png", (Label(box, "7ABC123"),))], widen=1.5)

    async def frames() -> list[Image]:
        return [f.image async for f in camera._session()]

    played = asyncio.run(frames())[:APPROACH_FRAMES]
    assert played[0].shape[:2] == (round(1080 * ZOOM), round(1920 * ZOOM))  # 1.5 x 1280 = 1920 wide
    first, last = camera.views[0], camera.views[APPROACH_FRAMES - 1]
    assert (
        abs(first.scale - ZOOM) < 0.01 and abs(last.scale - 1.0) < 0.01
    )  # the photo's own pixels at the end
    for frame, view in ((played[0], first), (played[-1], last)):
        seen = view.to_frame(box)
        crop = frame[seen.y : seen.y + seen.h, seen.x : seen.x + seen.w].astype(np.float32)
        plate = cv2.resize(image[box.y : box.y + box.h, box.x : box.x + box.w], (seen.w, seen.h))
        assert np.abs(crop - plate.astype(np.float32)).mean() < 12  # the plate is where the view says
        assert abs(view.to_photo(seen).x - box.x) <= 2
    # the margin repeats the photo's edges: no second plate
    assert widened(image, 1.0)[0] is image
    wide, left, top = widened(image, 1.5)
    assert (left, top) == (320, 180) and np.array_equal(wide[top : top + 720, left : left + 1280], image)
