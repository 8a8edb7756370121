"""Synthetic licence-plate renderer (numpy + OpenCV only).

Why it exists: the plate recognizer is trained mostly on synthetic plates (real labelled crops are
few), and the tests and the demo need plates with *known* text drawn onto scenes.  One renderer
serves both, so what the tests check is what the model was trained on.

Public API (stable, used by training, tests, demo and the pipeline engineer):

- `random_plate_text(region, rng)`: a registration string (A-Z0-9 only) plausible for a region
  (`"us"`, `"eu"`, `"br"`, `"mercosur"`).
- `render_plate(text, style, rng)`: the flat, front-on plate as a BGR image.  `style` is one of
  `STYLES`.  The label is only the registration: state names, slogans, stickers, country bands and
  separators are drawn as distractors the recognizer must learn to ignore.
- `camera_crop(plate, rng, ...)`: what a detector would hand the recognizer: the plate warped with
  perspective/rotation onto a background with loose or tight margins, then degraded (blur, noise,
  JPEG, low light/IR, glare, shadows).
- `synth_sample(rng)`: one (crop, label) pair from the training mix.
- `paste_plate(scene, plate, corners)`: draw a plate into a scene at four corners (demo, tests).

Glyphs come from `models/fonts/` (DejaVu, Bitstream Vera licence: see models/LICENSES.md) plus
OpenCV's built-in Hershey fonts, so no Pillow/FreeType is needed at run time.
"""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from platewatch.engine.plates import PLATE_ALPHABET

Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]

# The recognizer's alphabet, split into the pools the registration patterns draw from. ALNUM keeps
# letters first: the order is part of what a seed renders, and the benches' scenes are seeded.
DIGITS: Final = PLATE_ALPHABET[:10]
LETTERS: Final = PLATE_ALPHABET[10:]
ALNUM: Final = LETTERS + DIGITS
assert DIGITS == "0123456789" and LETTERS == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

STYLES: Final = ("us", "us_stacked", "eu", "br_old", "mercosur")
REGION_STYLES: Final = {
    "us": ("us", "us_stacked"),
    "eu": ("eu",),
    "br": ("br_old", "mercosur"),
    "mercosur": ("mercosur",),
}

_FONTS_DIR: Final = Path(__file__).resolve().parents[1] / "fonts"

US_STATES: Final = (
    "Alabama",
    "Alaska",
    "Arizona",
    "Arkansas",
    "California",
    "Colorado",
    "Connecticut",
    "Delaware",
    "Florida",
    "Georgia",
    "Hawaii",
    "Idaho",
    "Illinois",
    "Indiana",
    "Iowa",
    "Kansas",
    "Kentucky",
    "Louisiana",
    "Maine",
    "Maryland",
    "Massachusetts",
    "Michigan",
    "Minnesota",
    "Mississippi",
    "Missouri",
    "Montana",
    "Nebraska",
    "Nevada",
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "New York",
    "North Carolina",
    "North Dakota",
    "Ohio",
    "Oklahoma",
    "Oregon",
    "Pennsylvania",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "Tennessee",
    "Texas",
    "Utah",
    "Vermont",
    "Virginia",
    "Washington",
    "West Virginia",
    "Wisconsin",
    "Wyoming",
)
SLOGANS: Final = (
    "Sunshine State",
    "Land of Lincoln",
    "Empire State",
    "Garden State",
    "Live Free or Die",
    "Great Lakes",
    "Famous Potatoes",
    "Grand Canyon State",
    "The Lone Star State",
    "Big Sky Country",
    "Wild Wonderful",
    "First in Flight",
    "Keystone State",
    "Heart of Dixie",
    "America's Dairyland",
    "Ocean State",
    "Green Mountains",
    "Beehive State",
    "Show Me State",
    "Peach State",
    "Evergreen State",
    "Centennial",
    "dmv.ca.gov",
    "visitPA.com",
    "In God We Trust",
    "Vacationland",
    "Pure Michigan",
    "Explore Minnesota",
    "Spirit of America",
    "Volunteer State",
    "Sportsman's Paradise",
)
EU_CODES: Final = ("D", "F", "I", "NL", "B", "E", "PL", "CZ", "A", "P", "S", "FIN", "L", "SK", "H", "RO")
BR_CITIES: Final = (
    "SP - SAO PAULO",
    "RJ - RIO DE JANEIRO",
    "MG - BELO HORIZONTE",
    "PR - CURITIBA",
    "RS - PORTO ALEGRE",
    "BA - SALVADOR",
    "SC - JOINVILLE",
    "GO - GOIANIA",
)

# Letters/digits a plate pattern draws from: L = letter, N = digit, X = either.
_US_PATTERNS: Final = (
    ("LLLNNNN", 6),
    ("NLLLNNN", 6),
    ("LLLNNN", 4),
    ("NNNLLL", 3),
    ("NLLNNN", 2),
    ("LLNNNNN", 2),
    ("NNLLNN", 1),
    ("LNNLLL", 1),
    ("NNNNNN", 1),
    ("NLNNNN", 1),
    ("LLNLLN", 1),
    ("NNNLNN", 1),
    ("LLNNLL", 1),
    ("NNNNLL", 1),
    ("LLLLNN", 1),
    ("NLLNLL", 1),
    ("XXXXX", 1),
    ("XXXXXX", 2),
    ("XXXXXXX", 2),
    ("XXXX", 1),
    ("LLLLLLL", 1),
    ("XXX", 1),
    ("XXXXXXXX", 1),
)
_EU_PATTERNS: Final = (
    ("LLNNNLL", 5),
    ("LLNNNNN", 2),
    ("LLLNNNN", 2),
    ("NNNNLLL", 2),
    ("LLNNLLL", 2),
    ("NNLLLN", 1),
    ("LLNNNN", 1),
    ("LNNNNN", 1),
    ("LLLNLLL", 1),
    ("NLLLNNN", 1),
    ("LLLNNN", 1),
    ("XXXXXXX", 1),
    ("LLLLNNN", 1),
    ("LNNNLL", 1),
    ("XXXXXX", 1),
)


def _pick_pattern(patterns: tuple[tuple[str, int], ...], rng: np.random.Generator) -> str:
    weights = np.array([w for _, w in patterns], dtype=np.float64)
    return patterns[int(rng.choice(len(patterns), p=weights / weights.sum()))][0]


def _fill(pattern: str, rng: np.random.Generator) -> str:
    pools = {"L": LETTERS, "N": DIGITS, "X": ALNUM}
    return "".join(pools[p][int(rng.integers(len(pools[p])))] for p in pattern)


def random_plate_text(region: str, rng: np.random.Generator) -> str:
    """A random registration (A-Z0-9 only) that looks like a plate of `region`.

    Regions: `us`, `eu`, `br` (old `LLLNNNN` or Mercosur `LLLNLNN`), `mercosur`, `br_old`.
    German-style variable-length EU registrations (`B MW 1234` -> `BMW1234`) are included.
    """
    if region == "us":
        # Most US serials avoid O, I, Q: keep them, but rarer (as in real US plates).
        text = _fill(_pick_pattern(_US_PATTERNS, rng), rng)
        return "".join(
            LETTERS[int(rng.integers(26))] if ch in "OIQ" and rng.random() < 0.6 else ch for ch in text
        )
    if region == "eu":
        if rng.random() < 0.2:  # German: 1-3 letters city, 1-2 letters, 1-4 digits
            a, b, c = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 5))
            return _fill("L" * a + "L" * b + "N" * c, rng)
        return _fill(_pick_pattern(_EU_PATTERNS, rng), rng)
    if region == "br":
        return _fill("LLLNLNN" if rng.random() < 0.5 else "LLLNNNN", rng)
    if region == "mercosur":
        return _fill("LLLNLNN", rng)
    if region == "br_old":
        return _fill("LLLNNNN", rng)
    raise ValueError(f"unknown region {region!r}")


# --------------------------------------------------------------------------------------------
# Glyphs
# --------------------------------------------------------------------------------------------

_HERSHEY: Final = {"hershey_simplex": cv2.FONT_HERSHEY_SIMPLEX, "hershey_duplex": cv2.FONT_HERSHEY_DUPLEX}
_HERSHEY_CHARS: Final = ALNUM + "abcdefghijklmnopqrstuvwxyz-.'&"


class _Font:
    """Glyph masks (uint8, cap height = `cap`) of one font, cropped tight horizontally."""

    def __init__(self, name: str, glyphs: dict[str, Image], cap: int) -> None:
        self.name = name
        self.glyphs = glyphs
        self.cap = cap


@lru_cache(maxsize=1)
def _fonts() -> dict[str, _Font]:
    fonts: dict[str, _Font] = {}
    index_path = _FONTS_DIR / "atlas.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
        for name, meta in index.items():
            strip = cv2.imread(str(_FONTS_DIR / meta["file"]), cv2.IMREAD_GRAYSCALE)
            if strip is None:
                continue
            glyphs = {
                ch: np.ascontiguousarray(strip[:, x : x + w], dtype=np.uint8)
                for ch, (x, w) in meta["glyphs"].items()
            }
            fonts[name] = _Font(name, glyphs, int(meta["cap_height"]))
    for name, face in _HERSHEY.items():
        for thick in (3, 5):
            scale = 3.0
            (_, cap), _ = cv2.getTextSize("H", face, scale, thick)
            pad = 3 * thick
            hglyphs: dict[str, Image] = {}
            for ch in _HERSHEY_CHARS:
                (w, _), base = cv2.getTextSize(ch, face, scale, thick)
                canvas = np.zeros((cap + base + 2 * pad, w + 2 * pad), np.uint8)
                cv2.putText(canvas, ch, (pad, pad + cap), face, scale, 255, thick, cv2.LINE_AA)
                cols = np.nonzero(canvas.max(axis=0) > 0)[0]
                glyph = canvas[pad - thick // 2 :, cols[0] : cols[-1] + 1] if len(cols) else canvas[:, :4]
                hglyphs[ch] = np.ascontiguousarray(glyph, dtype=np.uint8)
            fonts[f"{name}_{thick}"] = _Font(f"{name}_{thick}", hglyphs, cap + thick)
    return fonts


# Fonts used for registrations (plate-like: bold, condensed) and for decorations.
_REG_FONTS: Final = (
    ("sans_cond_bold", 5),
    ("sans_bold", 3),
    ("mono_bold", 2),
    ("sans_cond", 1),
    ("hershey_duplex_5", 2),
    ("hershey_simplex_5", 2),
    ("hershey_duplex_3", 1),
    ("serif_bold", 1),
)
_DECO_FONTS: Final = (
    "sans_bold",
    "sans_cond",
    "serif_bold",
    "sans_bold_oblique",
    "hershey_simplex_3",
    "hershey_duplex_3",
    "sans_cond_bold",
)


#: Share of registrations drawn with the shallow M and W of condensed plate fonts (`_plate_glyphs`).
#: Off by default: five fine-tunes with it at 0.35 (0.2 M to 1.2 M samples, 2026-11-29) learnt the
#: rendered shallow M, but no model built from them met both US targets on real plates, and four of
#: them read a blurred plain `W` as `M` (models/EXPERIMENTS.md); `train.py --shallow-mw` sets it.
SHALLOW_MW_RATE = 0.0
#: Which of M and W are drawn shallow at that rate. The fifth attempt drew only the M (the real
#: Texas `M` matches the rendered one; no real W looks like the rendered shallow W) and still read
#: that blurred `W` as `M`; `train.py --shallow-letters` sets it.
SHALLOW_LETTERS = "MW"


def _shallow_glyph(h_glyph: Image, ch: str, depth: float) -> Image | None:
    """An M or W built on a font's H: its two stems, the crossbar removed, and a V (M) or an
    inverted V (W) reaching only `depth` of the cap height into the letter.

    Why: condensed plate fonts (Texas, and many other US states) draw M with a V that stops far
    above the baseline, and W likewise, so at plate resolution they sit next to H; DejaVu's M and W
    reach down (up) to the middle or further, and a network trained on them read a real Texas `M`
    as `H` with the truth second. None when the H has no two clear stems (then the font's own
    glyph is kept)."""
    ink = h_glyph > 127
    rows = np.nonzero(ink.any(axis=1))[0]
    if len(rows) < 8:
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    stems = np.nonzero(ink[top : bottom + 1].mean(axis=0) > 0.85)[0]
    if len(stems) < 2:
        return None
    gaps = np.nonzero(np.diff(stems) > 1)[0]
    if len(gaps) == 0:
        return None
    left_end, right_start = int(stems[gaps[0]]), int(stems[gaps[-1] + 1])
    stroke = max(1, left_end - int(stems[0]) + 1)
    counter = right_start - left_end - 1
    if counter < stroke:
        return None
    out = h_glyph.copy()
    out[:, left_end + 1 : right_start] = 0
    mid = (left_end + right_start) / 2
    reach = depth * (bottom - top)
    if ch == "M":
        points = [(left_end - stroke / 2, top), (mid, top + reach), (right_start + stroke / 2, top)]
    else:
        points = [(left_end - stroke / 2, bottom), (mid, bottom - reach), (right_start + stroke / 2, bottom)]
    shift = 4  # sub-pixel coordinates for cv2.line
    pts = [(round(x * (1 << shift)), round(y * (1 << shift))) for x, y in points]
    for a, b in itertools.pairwise(pts):
        cv2.line(out, a, b, 255, max(1, round(min(0.9 * stroke, 0.45 * counter))), cv2.LINE_AA, shift)
    out[:top, :] = 0
    out[bottom + 1 :, :] = 0
    return out


def _plate_glyphs(font: _Font, rng: np.random.Generator) -> _Font:
    """`font`, sometimes (`SHALLOW_MW_RATE`) with a shallow M and/or W (`SHALLOW_LETTERS`)."""
    h_glyph = font.glyphs.get("H")
    if h_glyph is None or SHALLOW_MW_RATE <= 0 or rng.random() >= SHALLOW_MW_RATE:
        return font
    glyphs = dict(font.glyphs)
    for ch in SHALLOW_LETTERS:
        glyph = _shallow_glyph(h_glyph, ch, float(rng.uniform(0.3, 0.7)))
        if glyph is not None:
            glyphs[ch] = glyph
    return _Font(font.name, glyphs, font.cap)


def _pick_font(rng: np.random.Generator, fonts: tuple[tuple[str, int], ...] = _REG_FONTS) -> _Font:
    avail = _fonts()
    cands = [(n, w) for n, w in fonts if n in avail]
    weights = np.array([w for _, w in cands], dtype=np.float64)
    return avail[cands[int(rng.choice(len(cands), p=weights / weights.sum()))][0]]


def _text_mask(
    text: str, font: _Font, cap_px: int, squeeze: float = 1.0, spacing: float = 0.12, bold: int = 0
) -> FloatImage:
    """Alpha mask (float32 0..1) of `text` whose capital letters are `cap_px` high.

    `squeeze` narrows glyphs (plate fonts are condensed), `spacing` is the gap in cap heights,
    `bold` > 0 dilates / < 0 erodes strokes (plates vary in stroke weight).
    """
    cap_px = max(4, int(cap_px))
    scale = cap_px / font.cap
    parts: list[FloatImage] = []
    gap = max(1, round(spacing * cap_px))
    height = 0
    for ch in text:
        if ch == " ":
            parts.append(np.zeros((1, max(2, int(0.4 * cap_px))), np.float32))
            continue
        g = font.glyphs.get(ch) if ch in font.glyphs else font.glyphs.get(ch.upper())
        if g is None:
            continue
        h = max(4, round(g.shape[0] * scale))
        w = max(1, round(g.shape[1] * scale * squeeze))
        gm = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        parts.append(gm.astype(np.float32) * (1.0 / 255.0))
        parts.append(np.zeros((1, gap), np.float32))
        height = max(height, h)
    if not parts or height == 0:
        return np.zeros((cap_px, cap_px), np.float32)
    width = sum(p.shape[1] for p in parts)
    mask = np.zeros((height, width), np.float32)
    x = 0
    for p in parts:
        mask[: p.shape[0], x : x + p.shape[1]] = p
        x += p.shape[1]
    if bold and cap_px >= 14:
        k = np.ones((1 + abs(bold), 1 + abs(bold)), np.uint8)
        mask = cv2.dilate(mask, k) if bold > 0 else cv2.erode(mask, k)
    return mask


def _blend(img: FloatImage, mask: FloatImage, x: int, y: int, color: tuple[float, float, float]) -> None:
    """Alpha-blend `color` through `mask` into `img` (float32 BGR) at top-left (x, y), clipped."""
    h, w = mask.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x, None]
    roi = img[y0:y1, x0:x1]
    roi *= 1.0 - m
    roi += m * np.asarray(color, np.float32)


def _fit(mask: FloatImage, max_w: int, max_h: int) -> FloatImage:
    """Shrink a mask to fit in (max_w, max_h), keeping aspect (only ever shrinks)."""
    h, w = mask.shape
    s = min(1.0, max_w / max(w, 1), max_h / max(h, 1))
    if s >= 1.0:
        return mask
    out = cv2.resize(mask, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return np.asarray(out, np.float32)


def _put_text(
    img: FloatImage,
    text: str,
    font: _Font,
    cap: int,
    cx: float,
    cy: float,
    color: tuple[float, float, float],
    max_w: int,
    squeeze: float = 1.0,
    spacing: float = 0.08,
) -> None:
    """Draw `text` centred at (cx, cy), shrunk to at most `max_w` wide."""
    m = _fit(_text_mask(text, font, cap, squeeze, spacing), max_w, 10 * cap)
    _blend(img, m, int(cx - m.shape[1] / 2), int(cy - m.shape[0] / 2), color)


def _rand_color(rng: np.random.Generator, lo: int, hi: int) -> tuple[float, float, float]:
    c = rng.integers(lo, hi, 3)
    return (float(c[0]), float(c[1]), float(c[2]))


def _dark_ink(rng: np.random.Generator) -> tuple[float, float, float]:
    inks = (
        (20, 20, 20),
        (110, 30, 10),
        (90, 20, 20),
        (20, 20, 130),
        (30, 80, 20),
        (60, 10, 60),
        (10, 40, 90),
    )
    b, g, r = inks[int(rng.integers(len(inks)))]
    j = rng.integers(-15, 16, 3)
    return (float(max(0, b + j[0])), float(max(0, g + j[1])), float(max(0, r + j[2])))


# --------------------------------------------------------------------------------------------
# Plates
# --------------------------------------------------------------------------------------------


def _groups(text: str, rng: np.random.Generator) -> list[str]:
    """Split a registration into 1-3 visual groups (separators are drawn between them)."""
    n = len(text)
    r = rng.random()
    if n <= 3 or r < 0.3:
        return [text]
    # Prefer letter/digit boundaries, like real plates do.
    cuts = [i for i in range(1, n) if text[i - 1].isalpha() != text[i].isalpha()]
    if not cuts or rng.random() < 0.3:
        cuts = [n // 2] if n < 7 else [3]
    if r < 0.85 or len(cuts) < 2:
        c = cuts[int(rng.integers(len(cuts)))]
        return [text[:c], text[c:]]
    c1, c2 = sorted(rng.choice(cuts, 2, replace=False).tolist())
    return [text[:c1], text[c1:c2], text[c2:]]


def _registration(
    img: FloatImage,
    text: str,
    rng: np.random.Generator,
    box: tuple[int, int, int, int],
    color: tuple[float, float, float],
    sep_kind: str,
    font: _Font | None = None,
) -> None:
    """Draw the registration centred in box (x, y, w, h) with separators between groups."""
    x, y, w, h = box
    font = _plate_glyphs(font or _pick_font(rng), rng)
    squeeze = (
        float(rng.uniform(0.6, 1.0)) if font.name.startswith("sans_bold") else float(rng.uniform(0.75, 1.1))
    )
    cap = int(h)
    spacing = float(rng.uniform(0.04, 0.2))
    bold = int(rng.choice([-1, 0, 0, 0, 1, 2]))
    groups = _groups(text, rng) if sep_kind != "none" else [text]
    masks = [_text_mask(g, font, cap, squeeze, spacing, bold) for g in groups]
    sep_w = int(cap * (0.45 if sep_kind in ("logo", "sticker", "star", "sticker_mid") else 0.3))
    total = sum(m.shape[1] for m in masks) + sep_w * (len(masks) - 1)
    if total > w:  # shrink horizontally (plates squeeze long registrations)
        f = w / total
        masks = [
            np.asarray(cv2.resize(m, (max(1, int(m.shape[1] * f)), m.shape[0])), np.float32) for m in masks
        ]
        sep_w = int(sep_w * f)
        total = sum(m.shape[1] for m in masks) + sep_w * (len(masks) - 1)
    cx = x + (w - total) // 2 + int(rng.integers(-max(1, (w - total) // 6), max(2, (w - total) // 6 + 1)))
    for i, m in enumerate(masks):
        _blend(img, m, cx, y, color)
        cx += m.shape[1]
        if i < len(masks) - 1:
            _separator(img, rng, sep_kind, cx, y, sep_w, cap, color)
            cx += sep_w


def _separator(
    img: FloatImage,
    rng: np.random.Generator,
    kind: str,
    x: int,
    y: int,
    w: int,
    h: int,
    color: tuple[float, float, float],
) -> None:
    cx, cy = x + w // 2, y + h // 2
    if kind == "dash":
        t = max(1, h // 10)
        cv2.rectangle(img, (x + w // 5, cy - t), (x + w - w // 5, cy + t), color, -1)
    elif kind == "dot":
        cv2.circle(img, (cx, cy), max(1, h // 10), color, -1, cv2.LINE_AA)
    elif kind == "logo":  # state outline / heart / badge in some colour
        c = _rand_color(rng, 0, 255)
        r = max(2, int(w * 0.4))
        shape = int(rng.integers(4))
        if shape == 0:
            cv2.circle(img, (cx, cy), r, c, -1, cv2.LINE_AA)
        elif shape == 1:
            pts = np.array([[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]], np.int32)
            cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
        elif shape == 2:
            pts = (rng.uniform(-1, 1, (7, 2)) * r + [cx, cy]).astype(np.int32)
            cv2.fillPoly(img, [cv2.convexHull(pts)], c, cv2.LINE_AA)
        else:
            cv2.ellipse(img, (cx, cy), (r, int(r * 1.3)), 0, 0, 360, c, max(1, h // 12), cv2.LINE_AA)
    elif kind == "star":  # Texas-style star
        r = max(2, int(w * 0.4))
        ang = np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        pts = np.stack([cx + rad * np.cos(ang), cy - rad * np.sin(ang)], axis=1).astype(np.int32)
        cv2.fillPoly(img, [pts], color if rng.random() < 0.6 else _rand_color(rng, 0, 255), cv2.LINE_AA)
    elif kind == "sticker_mid":  # registration sticker between the groups, with tiny digits
        sw, sh = max(3, int(w * 0.8)), max(3, int(h * 0.5))
        sx, sy = cx - sw // 2, cy - sh // 2 + int(rng.integers(-h // 5, h // 5 + 1))
        cv2.rectangle(img, (sx, sy), (sx + sw, sy + sh), _rand_color(rng, 40, 256), -1)
        fonts = _fonts()
        f = fonts["sans_bold"] if "sans_bold" in fonts else _pick_font(rng)
        _put_text(
            img,
            str(int(rng.integers(10, 30))),
            f,
            max(4, sh // 2),
            cx,
            sy + sh / 2,
            (20.0, 20.0, 20.0),
            sw - 1,
        )
    elif kind == "sticker":  # German-style round seals
        cv2.circle(img, (cx, cy - h // 4), max(2, int(w * 0.35)), _rand_color(rng, 40, 230), -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy + h // 4), max(2, int(w * 0.35)), _rand_color(rng, 40, 230), -1, cv2.LINE_AA)


def _background(h: int, w: int, rng: np.random.Generator, base: tuple[float, float, float]) -> FloatImage:
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    if rng.random() < 0.5:  # vertical/horizontal gradient or a pictorial band
        g = np.linspace(0, 1, h if rng.random() < 0.7 else w, dtype=np.float32)
        tint = np.asarray(_rand_color(rng, 0, 255), np.float32) - np.asarray(base, np.float32)
        amt = float(rng.uniform(0.1, 0.5))
        if g.shape[0] == h:
            img += (g[:, None, None] ** float(rng.uniform(0.5, 3))) * tint * amt
        else:
            img += (g[None, :, None] ** float(rng.uniform(0.5, 3))) * tint * amt
    if rng.random() < 0.25:  # faint pictorial blobs (mountains, sun, waves)
        for _ in range(int(rng.integers(1, 4))):
            c = _rand_color(rng, 60, 255)
            ctr = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            ax = (int(rng.integers(w // 8, w // 2)), int(rng.integers(h // 8, h // 2)))
            over = img.copy()
            cv2.ellipse(over, ctr, ax, float(rng.uniform(0, 180)), 0, 360, c, -1)
            a = float(rng.uniform(0.1, 0.35))
            cv2.addWeighted(over, a, img, 1 - a, 0, dst=img)
    return img


def _us_plate(text: str, rng: np.random.Generator, stacked: bool) -> FloatImage:
    h = int(rng.integers(96, 121))
    w = int(h * rng.uniform(1.9, 2.1))
    dark_bg = rng.random() < 0.12
    if dark_bg:
        base = _rand_color(rng, 0, 70)
        ink = _rand_color(rng, 170, 256)
    else:
        base = _rand_color(rng, 200, 256) if rng.random() < 0.7 else _rand_color(rng, 130, 256)
        ink = _dark_ink(rng)
    img = _background(h, w, rng, base)
    deco = _fonts()
    deco_ink = ink if rng.random() < 0.5 else (_dark_ink(rng) if not dark_bg else _rand_color(rng, 150, 256))
    # State name on top.
    if rng.random() < 0.9:
        name = US_STATES[int(rng.integers(len(US_STATES)))]
        name = name.upper() if rng.random() < 0.6 else name
        f = deco[_DECO_FONTS[int(rng.integers(len(_DECO_FONTS)))]]
        cap = int(h * rng.uniform(0.1, 0.2))
        _put_text(
            img,
            name,
            f,
            cap,
            w / 2 + rng.uniform(-0.1, 0.1) * w,
            h * rng.uniform(0.1, 0.18),
            deco_ink,
            int(w * rng.uniform(0.4, 0.85)),
        )
    # Slogan at the bottom.
    if rng.random() < 0.75:
        slogan = SLOGANS[int(rng.integers(len(SLOGANS)))]
        slogan = slogan.upper() if rng.random() < 0.4 else slogan
        f = deco[_DECO_FONTS[int(rng.integers(len(_DECO_FONTS)))]]
        cap = int(h * rng.uniform(0.07, 0.13))
        _put_text(img, slogan, f, cap, w / 2, h * rng.uniform(0.85, 0.92), deco_ink, int(w * 0.8))
    # Stickers in the top corners, with tiny month/year text.
    for side in (0, 1):
        if rng.random() < 0.4:
            sw, sh = int(w * rng.uniform(0.1, 0.16)), int(h * rng.uniform(0.12, 0.2))
            sx = int(w * rng.uniform(0.03, 0.08)) if side == 0 else w - sw - int(w * rng.uniform(0.03, 0.08))
            sy = int(h * rng.uniform(0.03, 0.08)) if rng.random() < 0.7 else h - sh - int(h * 0.05)
            sc = _rand_color(rng, 30, 256)
            cv2.rectangle(img, (sx, sy), (sx + sw, sy + sh), sc, -1)
            txt = str(int(rng.integers(20, 30))) if rng.random() < 0.5 else LETTERS[int(rng.integers(26))] * 3
            f = deco["sans_bold"] if "sans_bold" in deco else next(iter(deco.values()))
            _put_text(img, txt, f, int(sh * 0.5), sx + sw / 2, sy + sh / 2, (0.0, 0.0, 0.0), sw - 2)
    # Bolt holes.
    if rng.random() < 0.5:
        for bx in (0.25, 0.75):
            cv2.circle(img, (int(w * bx), int(h * 0.1)), max(2, h // 30), (60, 60, 60), -1, cv2.LINE_AA)
    sep = str(rng.choice(["none", "none", "space", "dash", "dot", "logo", "star", "sticker_mid"]))
    sep = "none" if sep == "space" and rng.random() < 0.3 else sep
    reg_h = int(h * rng.uniform(0.36, 0.5))
    top = int(h * 0.5 - reg_h / 2 + rng.uniform(-0.04, 0.05) * h)
    margin = int(w * rng.uniform(0.04, 0.1))
    if stacked and len(text) >= 4:
        kind = rng.random()
        if kind < 0.5:  # two rows of registration (motorcycle / square plates)
            k = len(text) // 2 if rng.random() < 0.6 else int(rng.integers(2, len(text) - 1))
            rh = int(h * rng.uniform(0.26, 0.33))
            gap = int(h * rng.uniform(0.02, 0.06))
            y0 = int(h * 0.5 - rh - gap / 2)
            font = _pick_font(rng)
            _registration(img, text[:k], rng, (margin, y0, w - 2 * margin, rh), ink, "none", font)
            _registration(img, text[k:], rng, (margin, y0 + rh + gap, w - 2 * margin, rh), ink, "none", font)
        else:  # 2-3 small stacked characters at the left, then the main registration
            k = int(rng.integers(1, 3)) if len(text) >= 5 else 1
            sh = int(reg_h * 0.46)
            col_w = int(sh * 1.1)
            font = _pick_font(rng)
            for i, ch in enumerate(text[:k]):
                m = _text_mask(ch, font, sh)
                _blend(img, m, margin, top + i * (sh + max(1, reg_h - 2 * sh)), ink)
            _registration(
                img,
                text[k:],
                rng,
                (margin + col_w + 4, top, w - 2 * margin - col_w - 4, reg_h),
                ink,
                "none",
                font,
            )
    else:
        _registration(img, text, rng, (margin, top, w - 2 * margin, reg_h), ink, sep)
    # Dealer frame: a dark border, thicker at the bottom, often with text covering the slogan.
    if rng.random() < 0.3:
        fc = _rand_color(rng, 0, 80) if rng.random() < 0.7 else _rand_color(rng, 150, 230)
        t, b = int(h * rng.uniform(0.02, 0.08)), int(h * rng.uniform(0.06, 0.16))
        side = int(w * rng.uniform(0.01, 0.04))
        img[:t] = fc
        img[h - b :] = fc
        img[:, :side] = fc
        img[:, w - side :] = fc
        if rng.random() < 0.6:
            f = deco[_DECO_FONTS[int(rng.integers(len(_DECO_FONTS)))]]
            words = [
                "AUTO",
                "MALL",
                "DEALER",
                "MOTORS",
                "HONDA",
                "TOYOTA",
                "FORD",
                "CHEVROLET",
                "NISSAN",
                "SALES",
            ]
            txt = " ".join(rng.choice(words, int(rng.integers(1, 3))).tolist())
            inv = tuple(255.0 - c for c in fc)
            _put_text(img, txt, f, int(b * 0.6), w / 2, h - b / 2, (inv[0], inv[1], inv[2]), int(w * 0.8))
        if rng.random() < 0.3 and t >= 4:
            f = deco[_DECO_FONTS[int(rng.integers(len(_DECO_FONTS)))]]
            inv = tuple(255.0 - c for c in fc)
            txt = str(
                rng.choice(["HORNE", "AUTONATION", "CARMAX", "BOB'S AUTO", "DRIVE SAFE", "I LOVE MY DOG"])
            )
            _put_text(img, txt, f, max(4, int(t * 0.7)), w / 2, t / 2, (inv[0], inv[1], inv[2]), int(w * 0.6))
    else:
        cv2.rectangle(img, (1, 1), (w - 2, h - 2), _dark_ink(rng), max(1, h // 60), cv2.LINE_AA)
    return img


def _eu_plate(text: str, rng: np.random.Generator) -> FloatImage:
    h = int(rng.integers(60, 80))
    w = int(h * rng.uniform(4.2, 4.8))
    yellow = rng.random() < 0.15
    base = (20.0, 200.0, 240.0) if yellow else _rand_color(rng, 225, 256)
    img = _background(h, w, rng, base) if rng.random() < 0.2 else np.full((h, w, 3), base, np.float32)
    band = int(w * rng.uniform(0.07, 0.09))
    if rng.random() < 0.9:
        img[:, :band] = (150.0, 50.0, 0.0) if rng.random() < 0.8 else (170, 70, 20)
        for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
            cv2.circle(
                img,
                (int(band / 2 + np.cos(a) * band * 0.28), int(h * 0.3 + np.sin(a) * band * 0.28)),
                max(1, h // 45),
                (0, 210, 250),
                -1,
                cv2.LINE_AA,
            )
        code = EU_CODES[int(rng.integers(len(EU_CODES)))]
        f = _fonts()["sans_bold"] if "sans_bold" in _fonts() else _pick_font(rng)
        _put_text(img, code, f, int(h * 0.22), band / 2, h * 0.75, (255.0, 255.0, 255.0), band - 2)
    else:
        band = 0
    ink = (20.0, 20.0, 20.0) if rng.random() < 0.9 else _dark_ink(rng)
    sep = str(rng.choice(["none", "space", "dash", "sticker"], p=[0.3, 0.35, 0.2, 0.15]))
    reg_h = int(h * rng.uniform(0.62, 0.76))
    font = _pick_font(
        rng,
        (
            ("sans_cond_bold", 5),
            ("sans_cond", 2),
            ("mono_bold", 1),
            ("hershey_simplex_5", 1),
            ("sans_bold", 1),
        ),
    )
    m = int(w * 0.03)
    _registration(img, text, rng, (band + m, int((h - reg_h) / 2), w - band - 2 * m, reg_h), ink, sep, font)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), ink, max(1, h // 30), cv2.LINE_AA)
    return img


def _br_plate(text: str, rng: np.random.Generator, mercosur: bool) -> FloatImage:
    h = int(rng.integers(80, 110))
    w = int(h * rng.uniform(2.9, 3.2))
    if mercosur:
        img = np.full((h, w, 3), _rand_color(rng, 225, 256), np.float32)
        bh = int(h * rng.uniform(0.2, 0.26))
        img[:bh] = (160.0, 60.0, 0.0)
        f = _fonts()["sans_bold"] if "sans_bold" in _fonts() else _pick_font(rng)
        _put_text(img, "BRASIL", f, int(bh * 0.6), w / 2, bh / 2, (255.0, 255.0, 255.0), int(w * 0.4))
        cv2.rectangle(img, (int(w * 0.85), int(bh * 0.2)), (int(w * 0.95), int(bh * 0.8)), (40, 150, 30), -1)
        cv2.rectangle(img, (int(w * 0.03), int(bh * 0.2)), (int(w * 0.1), int(bh * 0.8)), (200, 200, 200), -1)
        ink = (20.0, 20.0, 20.0)
        reg_top, reg_h = bh + int(h * 0.1), int(h * rng.uniform(0.48, 0.58))
        sep = "none"
    else:
        img = np.full((h, w, 3), _rand_color(rng, 150, 215), np.float32)
        ink = (30.0, 30.0, 30.0) if rng.random() < 0.85 else (30.0, 30.0, 150.0)
        city = BR_CITIES[int(rng.integers(len(BR_CITIES)))]
        f = _fonts()["sans_cond_bold"] if "sans_cond_bold" in _fonts() else _pick_font(rng)
        _put_text(img, city, f, int(h * 0.13), w / 2, h * 0.14, ink, int(w * 0.7))
        reg_top, reg_h = int(h * 0.3), int(h * rng.uniform(0.5, 0.6))
        sep = "dash" if rng.random() < 0.85 else "dot"
    font = _pick_font(
        rng, (("sans_cond_bold", 4), ("sans_bold", 2), ("mono_bold", 1), ("hershey_duplex_5", 1))
    )
    m = int(w * 0.05)
    if sep != "none" and len(text) == 7:
        # Old plates always split letters/digits with a dash: draw exactly that.
        _registration_fixed(img, [text[:3], text[3:]], rng, (m, reg_top, w - 2 * m, reg_h), ink, sep, font)
    else:
        _registration(img, text, rng, (m, reg_top, w - 2 * m, reg_h), ink, sep, font)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (20, 20, 20), max(1, h // 40), cv2.LINE_AA)
    return img


def _registration_fixed(
    img: FloatImage,
    groups: list[str],
    rng: np.random.Generator,
    box: tuple[int, int, int, int],
    color: tuple[float, float, float],
    sep: str,
    font: _Font,
) -> None:
    x, y, w, h = box
    masks = [
        _text_mask(g, font, h, float(rng.uniform(0.7, 1.0)), float(rng.uniform(0.05, 0.15))) for g in groups
    ]
    sep_w = int(h * 0.35)
    total = sum(m.shape[1] for m in masks) + sep_w * (len(masks) - 1)
    if total > w:
        f = w / total
        masks = [
            np.asarray(cv2.resize(m, (max(1, int(m.shape[1] * f)), m.shape[0])), np.float32) for m in masks
        ]
        sep_w = int(sep_w * f)
        total = sum(m.shape[1] for m in masks) + sep_w * (len(masks) - 1)
    cx = x + (w - total) // 2
    for i, m in enumerate(masks):
        _blend(img, m, cx, y, color)
        cx += m.shape[1]
        if i < len(masks) - 1:
            _separator(img, rng, sep, cx, y, sep_w, h, color)
            cx += sep_w


def render_plate(text: str, style: str, rng: np.random.Generator) -> Image:
    """Render the flat, front-on plate (BGR uint8) showing registration `text`.

    `style` is one of `STYLES`: `us` (state name, slogan, stickers, separators, frames), `us_stacked`
    (two-row or stacked-letter variants), `eu` (blue band + country code), `br_old` (grey,
    `ABC-1234`), `mercosur` (white, blue `BRASIL` band).  Only A-Z0-9 in `text` are drawn as the
    registration; everything else on the plate is decoration.  Deterministic for a given `rng` state.
    """
    text = "".join(ch for ch in text.upper() if ch in PLATE_ALPHABET)
    if not text:
        raise ValueError("plate text must contain at least one of A-Z0-9")
    if style == "us":
        img = _us_plate(text, rng, stacked=False)
    elif style == "us_stacked":
        img = _us_plate(text, rng, stacked=True)
    elif style == "eu":
        img = _eu_plate(text, rng)
    elif style in ("br_old", "mercosur"):
        img = _br_plate(text, rng, mercosur=style == "mercosur")
    else:
        raise ValueError(f"unknown plate style {style!r}; expected one of {STYLES}")
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Camera simulation
# --------------------------------------------------------------------------------------------


def _scene_background(h: int, w: int, rng: np.random.Generator) -> FloatImage:
    """Car body / bumper / road-like surroundings: a colour, gradient, texture and some edges."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = _rand_color(rng, 0, 256)
    g = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None]
    img += g * float(rng.uniform(-60, 60))
    if rng.random() < 0.7:
        noise = cv2.resize(rng.normal(0, 1, (max(2, h // 8), max(2, w // 8))).astype(np.float32), (w, h))
        img += noise[:, :, None] * float(rng.uniform(5, 40))
    for _ in range(int(rng.integers(0, 4))):  # bumper lines, grille bars, text-like clutter
        y = int(rng.integers(0, h))
        cv2.line(
            img,
            (0, y),
            (w, y + int(rng.integers(-h // 4, h // 4 + 1))),
            _rand_color(rng, 0, 256),
            int(rng.integers(1, max(2, h // 10))),
        )
    return img


def camera_crop(
    plate: Image,
    rng: np.random.Generator,
    *,
    margin_x: tuple[float, float] = (-0.02, 0.12),
    margin_y: tuple[float, float] = (-0.02, 0.35),
    max_tilt: float = 0.08,
    max_rot_deg: float = 7.0,
    degrade: bool = True,
) -> Image:
    """What a detector would crop around `plate` in a camera frame (BGR uint8).

    Margins are fractions of the plate size on each side (negative cuts the plate border); the
    defaults span tight label boxes to the loose boxes of our detector (about 1.14x wide and 1.3-1.5x
    tall).  `degrade` adds blur, noise, JPEG, low light/IR, glare and shadows.
    """
    ph, pw = plate.shape[:2]
    scale = float(rng.uniform(0.35, 1.3))  # final plate width in pixels varies ~60-300
    pw_s, ph_s = max(8, int(pw * scale)), max(4, int(ph * scale))
    mx = [float(rng.uniform(*margin_x)) * pw_s for _ in range(2)]
    my = [float(rng.uniform(*margin_y)) * ph_s for _ in range(2)]
    W = max(8, round(pw_s + mx[0] + mx[1]))
    H = max(4, round(ph_s + my[0] + my[1]))
    # Plate corners in the crop, then perspective tilt and in-plane rotation around the centre.
    dst = np.array(
        [[mx[0], my[0]], [mx[0] + pw_s, my[0]], [mx[0] + pw_s, my[0] + ph_s], [mx[0], my[0] + ph_s]],
        np.float32,
    )
    dst += (
        rng.uniform(-max_tilt, max_tilt, (4, 2)).astype(np.float32) * np.array([pw_s, ph_s], np.float32) * 0.5
    )
    ang = np.deg2rad(float(rng.uniform(-max_rot_deg, max_rot_deg)))
    c = dst.mean(axis=0)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
    dst = (dst - c) @ rot.T + c
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    bg = _scene_background(H, W, rng)
    warped = cv2.warpPerspective(
        plate.astype(np.float32), M, (W, H), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), M, (W, H))[:, :, None]
    img = bg * (1.0 - mask) + warped * mask
    if degrade:
        img = _degrade(img, rng)
    return np.asarray(np.clip(img, 0, 255), np.uint8)


def _degrade(img: FloatImage, rng: np.random.Generator) -> FloatImage:
    h, w = img.shape[:2]
    if rng.random() < 0.3:  # shadow: a dark half-plane across the plate
        p = rng.uniform(0, 1, 2) * [w, h]
        n = rng.normal(0, 1, 2)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = ((xx - p[0]) * n[0] + (yy - p[1]) * n[1]) > 0
        img = img * np.where(side, float(rng.uniform(0.3, 0.7)), 1.0).astype(np.float32)[:, :, None]
    if rng.random() < 0.2:  # glare: a bright soft blob
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = float(rng.uniform(0.1, 0.5)) * w
        blob = np.exp(-((xx - cx) ** 2 + ((yy - cy) * 2) ** 2) / (2 * r * r))
        img = img + blob[:, :, None] * float(rng.uniform(80, 255))
    mode = rng.random()
    if mode < 0.15:  # IR / night: grey, high contrast, plate bright and ink dark
        g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        g = (g - g.mean()) * float(rng.uniform(1.2, 2.2)) + float(rng.uniform(90, 170))
        img = np.repeat(g[:, :, None], 3, axis=2)
    elif mode < 0.25:  # plain greyscale camera
        g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        img = np.repeat(g[:, :, None], 3, axis=2)
    if rng.random() < 0.15:  # haze / dirty plate / underexposed night: squash the contrast
        m = float(img.mean())
        img = m + (img - m) * float(rng.uniform(0.25, 0.6))
    # Exposure: contrast, brightness, gamma (low light), colour cast.
    img = img * float(rng.uniform(0.5, 1.3)) + float(rng.uniform(-50, 40))
    img = img + rng.uniform(-20, 20, 3).astype(np.float32)
    if rng.random() < 0.25:
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** float(rng.uniform(1.2, 2.5))
    # Resolution loss / blur.
    r = rng.random()
    if r < 0.35:
        k = int(rng.choice([3, 5]))
        img = np.asarray(cv2.GaussianBlur(img, (k, k), float(rng.uniform(0.5, 1.5))), np.float32)
    elif r < 0.5:
        k = int(rng.integers(3, 8))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kern = np.asarray(cv2.warpAffine(kern, M, (k, k)), np.float32)
        img = np.asarray(cv2.filter2D(img, -1, kern / max(float(kern.sum()), 1e-6)), np.float32)
    if rng.random() < 0.3:
        f = float(rng.uniform(0.3, 0.7))
        small = cv2.resize(img, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA)
        img = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    if rng.random() < 0.6:
        img = img + rng.normal(0, float(rng.uniform(2, 12)), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 90))])
        if ok:
            dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            if dec is not None:
                out = np.asarray(dec, np.uint8)
    return out.astype(np.float32)


_MIX: Final = (("us", 0.58), ("us_stacked", 0.07), ("eu", 0.15), ("br_old", 0.1), ("mercosur", 0.1))
_STYLE_REGION: Final = {
    "us": "us",
    "us_stacked": "us",
    "eu": "eu",
    "br_old": "br_old",
    "mercosur": "mercosur",
}


def synth_sample(
    rng: np.random.Generator, style: str | None = None, degrade: bool = True
) -> tuple[Image, str]:
    """One training pair (camera-like BGR crop, registration label) from the default style mix."""
    if style is None:
        p = np.array([w for _, w in _MIX])
        style = _MIX[int(rng.choice(len(_MIX), p=p / p.sum()))][0]
    text = random_plate_text(_STYLE_REGION[style], rng)
    if style == "us_stacked" and len(text) < 4:
        text = random_plate_text("us", rng) + "1"
    plate = render_plate(text, style, rng)
    return camera_crop(plate, rng, degrade=degrade), text


def synth_pass(rng: np.random.Generator, style: str, frames: int) -> tuple[list[Image], str]:
    """One plate seen in `frames` camera crops (a vehicle's pass): the plate is rendered once, each
    frame has its own framing and degradation. The frames' errors are therefore less alike than a
    real pass's, whose frames share the light and the angle."""
    text = random_plate_text(_STYLE_REGION[style], rng)
    if style == "us_stacked" and len(text) < 4:
        text = random_plate_text("us", rng) + "1"
    plate = render_plate(text, style, rng)
    return [camera_crop(plate, rng) for _ in range(frames)], text


def paste_plate(scene: Image, plate: Image, corners: npt.ArrayLike) -> Image:
    """Draw `plate` into `scene` (both BGR uint8) with its corners at `corners` (TL, TR, BR, BL).

    Returns a new image; used by the demo and tests to make frames with known plates.
    """
    ph, pw = plate.shape[:2]
    dst = np.asarray(corners, np.float32).reshape(4, 2)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    h, w = scene.shape[:2]
    warped = cv2.warpPerspective(plate, M, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), M, (w, h))
    out = scene.copy()
    cv2.copyTo(warped, mask, out)
    return out


def degrade(img: Image, rng: np.random.Generator) -> Image:
    """Camera degradations alone (shadow, glare, IR/grey, exposure, blur, noise, JPEG) on a BGR crop."""
    return np.clip(_degrade(img.astype(np.float32), rng), 0, 255).astype(np.uint8)
