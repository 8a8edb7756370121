"""Render glyph atlases from DejaVu TrueType fonts (dev-time; needs Pillow).

Why an atlas instead of the TTF: the runtime plate renderer (`models/training/synth.py`) must only
depend on numpy + OpenCV, so the glyphs are rasterised once here, at a generous size, into one
grey PNG strip per font plus a JSON index.  The renderer scales and stretches them as it needs.

Usage (training venv):
    /work/train-venv/bin/python models/training/build_font_atlas.py [--fonts-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONTS = {
    "sans_bold": "DejaVuSans-Bold.ttf",
    "sans_cond_bold": "DejaVuSansCondensed-Bold.ttf",
    "mono_bold": "DejaVuSansMono-Bold.ttf",
    "sans_cond": "DejaVuSansCondensed.ttf",
    "serif_bold": "DejaVuSerif-Bold.ttf",
    "sans_bold_oblique": "DejaVuSans-BoldOblique.ttf",
}
CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz-.'&"
SIZE = 96


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fonts-dir", default="/usr/share/fonts/truetype/dejavu")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "fonts"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, object]] = {}
    for name, fname in FONTS.items():
        font = ImageFont.truetype(str(Path(args.fonts_dir) / fname), SIZE)
        # Cell spans cap height (top of 'H') to descender, so upper-case letters and digits fill it.
        cap_top = font.getbbox("H")[1]
        _, descent = font.getmetrics()
        baseline = font.getmetrics()[0]
        height = baseline + descent - cap_top
        cells = []
        boxes: dict[str, list[int]] = {}
        x = 0
        for ch in CHARS:
            adv = round(font.getlength(ch))
            bbox = font.getbbox(ch)
            w = max(adv, bbox[2]) + 2
            img = Image.new("L", (w, height), 0)
            ImageDraw.Draw(img).text((1, -cap_top), ch, font=font, fill=255)
            arr = np.asarray(img)
            cols = np.nonzero(arr.max(axis=0) > 0)[0]
            # Tight horizontal crop: spacing is decided by the renderer, not by the font.
            arr = arr[:, cols[0] : cols[-1] + 1] if len(cols) else arr[:, :4] * 0
            cells.append(arr)
            boxes[ch] = [x, arr.shape[1]]
            x += arr.shape[1]
        strip = np.concatenate(cells, axis=1)
        Image.fromarray(strip).save(out / f"{name}.png", optimize=True)
        index[name] = {
            "file": f"{name}.png",
            "cap_height": baseline - cap_top,
            "height": height,
            "glyphs": boxes,
            "source": fname,
        }
    (out / "atlas.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    print("wrote", out)


if __name__ == "__main__":
    main()
