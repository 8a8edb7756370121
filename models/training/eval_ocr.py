"""Evaluate the shipped (or any) OpenVINO plate OCR model on the held-out real data.

Runs with the *runtime* venv (no torch): it exercises `platewatch.engine.vision.ocr.PlateOCR`
and `regions.choose` exactly as the pipeline does.

    .venv/bin/python models/training/eval_ocr.py [--model models/plate_ocr.xml] [--json out.json]

Sets (held-out lists in models/training/):
- crops_val: the sixth of ocr-crops/ never trained on (tight, clean US crops), as they are.
- us_holdout / eu_holdout / br_holdout: the third of the scene images never trained on, cropped
  from the label boxes with detector-like loose margins (1.14x wide, 1.4x tall).
- eu_all / br_all: every EU/BR scene (two thirds were trained on: optimistic, for reference).
`--sets crops_val` reads only the named sets: the way to compare candidates without seeing (and so
without choosing by) their held-out scores.
EU exact-match counts O and 0 alike (the openalpr EU labels mix them).
Reports exact and within-one-character (Levenshtein <= 1), raw (best path/beam) and after the
region rules, the most frequent character confusions, and throughput f32 vs bf16.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from platewatch.engine.plates import edit_distance as lev
from platewatch.engine.vision import regions
from platewatch.engine.vision.ocr import PlateOCR
from platewatch.models.training.common import (
    is_holdout_scene,
    is_val_crop,
    loose_crop,
    ocr_crops,
    scene_boxes,
)


def load_sets() -> dict[str, tuple[list[np.ndarray], list[str], str]]:
    sets: dict[str, tuple[list[np.ndarray], list[str], str]] = {}
    xs, ys = [], []
    for path, label in ocr_crops():
        if is_val_crop(Path(path).name):
            img = cv2.imread(path)
            if img is not None:
                xs.append(img)
                ys.append(label)
    if xs:
        sets["crops_val"] = (xs, ys, "us")
    for region in ("us", "eu", "br"):
        hx, hy, ax, ay = [], [], [], []
        cache: dict[str, np.ndarray | None] = {}
        for b in scene_boxes(region):
            if b.image not in cache:
                cache[b.image] = cv2.imread(b.image)
            img = cache[b.image]
            if img is None:
                continue
            crop = loose_crop(img, b)
            if not crop.size:
                continue
            ax.append(crop)
            ay.append(b.text)
            if is_holdout_scene(b.name):
                hx.append(crop)
                hy.append(b.text)
        if hx:
            sets[f"{region}_holdout"] = (hx, hy, region)
        if region != "us" and ax:
            sets[f"{region}_all"] = (ax, ay, region)
    return sets


def synth_sets(n: int) -> dict[str, tuple[list[np.ndarray], list[str], str]]:
    """Fixed-seed synthetic crops per style (degraded like training), for what real data lacks."""
    from platewatch.models.training import synth

    sets: dict[str, tuple[list[np.ndarray], list[str], str]] = {}
    for style, region in (
        ("us", "us"),
        ("us_stacked", "us"),
        ("eu", "eu"),
        ("br_old", "br"),
        ("mercosur", "br"),
    ):
        rng = np.random.default_rng(7)
        xs, ys = [], []
        for _ in range(n):
            img, text = synth.synth_sample(rng, style=style)
            xs.append(img)
            ys.append(text)
        sets[f"synth_{style}"] = (xs, ys, region)
    return sets


def confusions(pairs: list[tuple[str, str]]) -> Counter[str]:
    """Substitutions (truth->read) in same-length misreads; insertions/deletions otherwise."""
    c: Counter[str] = Counter()
    for truth, read in pairs:
        if truth == read:
            continue
        if len(truth) == len(read):
            for t, r in zip(truth, read, strict=True):
                if t != r:
                    c[f"{t}->{r}"] += 1
        elif len(read) > len(truth):
            c["extra char"] += 1
        else:
            c["missing char"] += 1
    return c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--show-errors", type=int, default=0)
    ap.add_argument("--synth", type=int, default=200, help="synthetic crops per style (0: none)")
    ap.add_argument(
        "--sets",
        default="",
        help="comma-separated set names to read (e.g. crops_val), so that picking among candidates"
        " never shows their held-out scores; default: all",
    )
    args = ap.parse_args()
    ocr = PlateOCR(args.model, inference_precision="f32")
    sets = load_sets()
    if args.synth:
        sets |= synth_sets(args.synth)
    if args.sets:
        wanted = args.sets.split(",")
        if unknown := set(wanted) - sets.keys():
            raise SystemExit(f"unknown sets {sorted(unknown)}; known: {sorted(sets)}")
        sets = {name: sets[name] for name in wanted}
    report: dict[str, dict[str, float]] = {}
    all_pairs: list[tuple[str, str]] = []
    print(f"{'set':12} {'n':>4} {'exact':>7} {'<=1':>7} {'exact+rules':>12} {'<=1+rules':>10}")
    for name, (xs, ys, region) in sets.items():
        results = []
        for i in range(0, len(xs), 16):
            results += ocr.read_batch(xs[i : i + 16])
        norm = (lambda s: s.replace("O", "0")) if region == "eu" else (lambda s: s)
        raw = [r.text for r in results]
        ruled = [regions.choose(r, region).text for r in results]
        n = len(ys)
        m = {
            "n": n,
            "exact": sum(norm(p) == norm(y) for p, y in zip(raw, ys, strict=True)) / n,
            "within_one": sum(lev(norm(p), norm(y)) <= 1 for p, y in zip(raw, ys, strict=True)) / n,
            "exact_rules": sum(norm(p) == norm(y) for p, y in zip(ruled, ys, strict=True)) / n,
            "within_one_rules": sum(lev(norm(p), norm(y)) <= 1 for p, y in zip(ruled, ys, strict=True)) / n,
        }
        report[name] = m
        print(
            f"{name:12} {n:4d} {m['exact']:7.3f} {m['within_one']:7.3f} {m['exact_rules']:12.3f} "
            f"{m['within_one_rules']:10.3f}"
        )
        if not name.endswith("_all") and not name.startswith("synth"):
            all_pairs += [(norm(y), norm(p)) for p, y in zip(ruled, ys, strict=True)]
        if args.show_errors:
            errs = [(y, p) for p, y in zip(ruled, ys, strict=True) if norm(p) != norm(y)]
            print("   errors (truth read):", " ".join(f"{y}:{p}" for y, p in errs[: args.show_errors]))
    conf = confusions(all_pairs)
    print("most frequent errors on held-out sets:", ", ".join(f"{k} x{v}" for k, v in conf.most_common(12)))
    report["confusions"] = dict(conf.most_common(20))  # type: ignore[assignment]
    if not args.no_speed:
        crops = sets["crops_val"][0] if "crops_val" in sets else [np.zeros((60, 120, 3), np.uint8)]
        crops16 = (crops * 16)[:16]
        for prec in ("f32", "bf16"):
            o = PlateOCR(args.model, inference_precision=prec)
            ot = PlateOCR(args.model, inference_precision=prec, performance_hint="THROUGHPUT")
            o.read(crops16[0])
            t = time.perf_counter()
            n = 0
            while time.perf_counter() - t < 3.0:
                o.probabilities([crops16[n % 16]])
                n += 1
            lat_ms = (time.perf_counter() - t) / n * 1000
            t = time.perf_counter()
            n = 0
            while time.perf_counter() - t < 3.0:
                o.read(crops16[n % 16])
                n += 1
            read_ms = (time.perf_counter() - t) / n * 1000
            ot.probabilities(crops16)
            t = time.perf_counter()
            n = 0
            while time.perf_counter() - t < 3.0:
                ot.probabilities(crops16)
                n += 16
            b16 = n / (time.perf_counter() - t)
            t = time.perf_counter()
            n = 0
            while time.perf_counter() - t < 3.0:
                ot.read_batch(crops16)
                n += 16
            b16_dec = n / (time.perf_counter() - t)
            report[f"speed_{prec}"] = {
                "single_infer_ms": lat_ms,
                "single_read_ms": read_ms,
                "batch16_infer_per_s": b16,
                "batch16_read_per_s": b16_dec,
            }
            print(
                f"{prec}: single crop infer {lat_ms:.2f} ms, read (infer+beam decode) {read_ms:.2f} ms; "
                f"batch 16: {b16:.0f} crops/s infer, {b16_dec:.0f} crops/s with decoding"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
