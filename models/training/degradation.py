"""How harsh a crop's camera degradation is, and synthetic sets matched to the real crops' harshness.

Why: the synthetic evaluation sets (`synth.synth_sample`, degraded like training) are the only
measure for plates the openalpr photos lack (two-row plates), but their degradation was drawn to
make training hard, not to look like a camera. Whether a figure on them (e.g. one-row plates 85 %
exact) says something about real plates depends on how their blur, noise, contrast and size
compare with the real crops'. Four statistics per crop, each taken where the recognizer looks
(the crop resized to its 64x160 input, grey), except the width:

- ``width``: the crop's width in pixels (resolution: a 60-pixel plate is upsampled 2.7x);
- ``contrast``: the 95th less the 5th percentile of grey;
- ``blur``: the width (sigma, pixels) of the crop's edges: a step edge blurred by sigma ``s`` has a
  horizontal gradient energy proportional to ``1 / s``, so blurring it by 1 more scales the energy
  by ``r = s / sqrt(s^2 + 1)``, and ``s = r / sqrt(1 - r^2)`` (a measure of the edges, not of how
  much text the crop holds, unlike the gradient's size; noise reads as sharp);
- ``noise``: the robust sigma of what a 3x3 median filter removes, over the contrast.

`matched_set` draws a pool of synthetic crops and keeps, for each of a seeded sample of real crops,
the pool crop nearest in these statistics (standardised; each pool crop used once): a synthetic set
whose degradation follows the real crops', beside the training-like one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from platewatch.models.training import synth
from platewatch.models.training.common import is_holdout_scene, loose_crop, ocr_crops, scene_boxes

STATS = ("width", "contrast", "blur", "noise")
#: Where the statistics are taken: the recognizer's input (height, width).
VIEW = (64, 160)


@dataclass(frozen=True)
class Sample:
    """A synthetic crop, its label, its kind (``one``, ``two`` rows, stacked ``letters``) and its
    small stacked characters (the label's first characters on a ``letters`` plate; ``""`` else)."""

    image: npt.NDArray[np.uint8]
    text: str
    kind: str
    small: str


def stats(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """[width, contrast, blur, noise] of a BGR crop (see the module docstring)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = grey.shape[:2]
    interp = cv2.INTER_AREA if (w > VIEW[1] or h > VIEW[0]) else cv2.INTER_LINEAR
    g = cv2.resize(grey, (VIEW[1], VIEW[0]), interpolation=interp).astype(np.float32)
    p5, p95 = np.percentile(g, (5, 95))
    contrast = max(float(p95 - p5), 1.0)
    energy = float(np.square(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)).sum())
    soft = cv2.GaussianBlur(g, (0, 0), 1.0)
    ratio = min(float(np.square(cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)).sum()) / max(energy, 1e-6), 0.999)
    blur = ratio / float(np.sqrt(1.0 - ratio * ratio))
    resid = g - cv2.medianBlur(g.astype(np.uint8), 3).astype(np.float32)
    noise = 1.4826 * float(np.median(np.abs(resid))) / contrast
    return np.array([float(w), contrast, blur, noise])


def ocr_crop_images() -> list[npt.NDArray[np.uint8]]:
    """Every ocr-crops image as it is (all resized to 320 pixels wide by the benchmark, so their
    width says nothing of the camera's resolution: compared apart, never matched to)."""
    out: list[npt.NDArray[np.uint8]] = []
    for path, _ in ocr_crops():
        img = cv2.imread(path)
        if img is not None:
            out.append(np.asarray(img, np.uint8))
    return out


def real_crops() -> list[npt.NDArray[np.uint8]]:
    """The real camera crops the synthetic ones are matched to: every labelled box of the US
    training photos (never the held-out third) cropped as `eval_ocr.py` crops them (the
    detector-like loose box), at the photo's own resolution."""
    out: list[npt.NDArray[np.uint8]] = []
    cache: dict[str, npt.NDArray[np.uint8] | None] = {}
    for b in scene_boxes("us"):
        if is_holdout_scene(b.name):
            continue
        if b.image not in cache:
            img = cv2.imread(b.image)
            cache[b.image] = None if img is None else np.asarray(img, np.uint8)
        frame = cache[b.image]
        if frame is not None:
            crop = loose_crop(frame, b)
            if crop.size:
                out.append(np.asarray(crop, np.uint8))
    return out


def synth_samples(style: str, seed: int, n: int, degrade: bool = True) -> list[Sample]:
    """`n` crops of `synth.synth_sample(default_rng(seed), style, degrade)`, each with its kind,
    found by watching which registration texts the renderer drew (`synth._registration`)."""
    drawn: list[str] = []
    original = synth._registration

    def watch(img: object, text: str, *args: object, **kwargs: object) -> object:
        drawn.append(text)
        return original(img, text, *args, **kwargs)  # type: ignore[arg-type]

    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    synth._registration = watch  # type: ignore[assignment]
    try:
        for _ in range(n):
            drawn.clear()
            img, text = synth.synth_sample(rng, style=style, degrade=degrade)
            if len(drawn) == 2:
                kind, small = "two", ""
            elif drawn and drawn[0] != text:
                kind, small = "letters", text[: len(text) - len(drawn[0])]
            else:
                kind, small = "one", ""
            out.append(Sample(np.asarray(img, np.uint8), text, kind, small))
    finally:
        synth._registration = original
    return out


def matched_set(
    style: str, seed: int, n: int, real: npt.NDArray[np.float64], pool_factor: int = 5
) -> list[Sample]:
    """`n` synthetic crops whose statistics follow the real crops' (`real`: [N, 4] `stats` rows):
    a pool of `pool_factor * n` degraded crops (seed `seed`), and for each of `n` real crops drawn
    with the same seed, the nearest unused pool crop in standardised log-width, contrast,
    blur and noise."""
    pool = synth_samples(style, seed, pool_factor * n)
    feats = np.array([stats(s.image) for s in pool])

    def scale(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        y = x.copy()
        y[:, 0] = np.log(y[:, 0])
        return y

    ref = scale(real)
    mu, sd = ref.mean(axis=0), ref.std(axis=0) + 1e-9
    f = (scale(feats) - mu) / sd
    rng = np.random.default_rng(seed)
    targets = (ref[rng.choice(len(ref), size=n, replace=len(ref) < n)] - mu) / sd
    used = np.zeros(len(pool), bool)
    out = []
    for t in targets:
        d = np.square(f - t).sum(axis=1)
        d[used] = np.inf
        k = int(np.argmin(d))
        used[k] = True
        out.append(pool[k])
    return out


def quantiles(values: npt.NDArray[np.float64]) -> str:
    """p10 / p50 / p90 of each statistic, one line."""
    q = np.percentile(values, (10, 50, 90), axis=0)
    return "  ".join(f"{name} {q[0, i]:.3g}/{q[1, i]:.3g}/{q[2, i]:.3g}" for i, name in enumerate(STATS))


def main() -> None:
    """Print the statistics' p10/p50/p90 for the real crops and the synthetic sets."""
    real = np.array([stats(c) for c in real_crops()])
    print(f"real US scene crops ({len(real)}): {quantiles(real)}")
    crops = np.array([stats(c) for c in ocr_crop_images()])
    print(f"real ocr-crops ({len(crops)}, resized to 320 wide): {quantiles(crops)}")
    for style in ("us", "us_stacked"):
        for degrade in (True, False):
            s = np.array([stats(x.image) for x in synth_samples(style, 7, 200, degrade)])
            print(f"synth {style} seed 7 {'degraded' if degrade else 'clean'}: {quantiles(s)}")
        m = np.array([stats(x.image) for x in matched_set(style, 7, 200, real)])
        print(f"synth {style} seed 7 matched: {quantiles(m)}")


if __name__ == "__main__":
    main()


__all__ = [
    "STATS",
    "Sample",
    "matched_set",
    "ocr_crop_images",
    "quantiles",
    "real_crops",
    "stats",
    "synth_samples",
]
