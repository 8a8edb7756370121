"""How often checkpoints read M, W and H right on rendered condensed-font serials.

Why: the held-out US set has one Texas `M` and one Texas `W`, too few to say whether a change to
the training (`train.py --shallow-mw`) taught the network these letters or moved an error from one
plate to another. This renders 600 `LLLNNNN` serials from letters that are easy to confuse
(`MWHNKVAXE`) twice: with the fonts' own glyphs, and with every M and W drawn shallow as condensed
plate fonts draw them (`synth._shallow_glyph`). It reports exact reads and, for each of M, W and H
in the letter part, the share read as the same letter, plus the common confusions (`?`: the read
had another length). Fixed seeds, so checkpoints are compared on the same crops.

    /work/train-venv/bin/python models/training/probe_mw.py /tmp/ocr_ir.pt /work/ocr_runs/ft2/last.pt
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from platewatch.models.training import synth
from platewatch.models.training.common import preprocess
from platewatch.models.training.model import PlateNet, load_checkpoint
from platewatch.models.training.train import greedy

LETTERS = "MWHNKVAXE"
PROBED = "MWH"


def rendered(shallow_rate: float, n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    synth.SHALLOW_MW_RATE = shallow_rate
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        text = "".join(rng.choice(list(LETTERS), 3)) + "".join(rng.choice(list("0123456789"), 4))
        plate = synth.render_plate(text, "us", rng)
        xs.append(synth.camera_crop(plate, rng, degrade=True))
        ys.append(text)
    return xs, ys


def probe(net: PlateNet, x: np.ndarray, ys: list[str]) -> dict[str, object]:
    with torch.no_grad():
        preds: list[str] = []
        for i in range(0, len(x), 100):
            preds += greedy(net(torch.from_numpy(x[i : i + 100])).float())
    pairs: Counter[tuple[str, str]] = Counter()
    for pred, truth in zip(preds, ys, strict=True):
        for k, ch in enumerate(truth[:3]):
            if ch in PROBED:
                pairs[(ch, pred[k] if len(pred) == len(truth) else "?")] += 1
    right = {ch: pairs[(ch, ch)] / max(1, sum(v for (t, _), v in pairs.items() if t == ch)) for ch in PROBED}
    return {
        "exact": round(sum(p == y for p, y in zip(preds, ys, strict=True)) / len(ys), 3),
        "right": {ch: round(v, 3) for ch, v in right.items()},
        "confusions": {f"{t}->{r}": v for (t, r), v in pairs.most_common() if t != r and v >= 3},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("-n", type=int, default=600, help="serials per set")
    args = ap.parse_args()
    sets = {"own glyphs": rendered(0.0, args.n, 11), "shallow M/W": rendered(1.0, args.n, 11)}
    for ck in args.checkpoints:
        net, _ = load_checkpoint(ck)
        for name, (crops, ys) in sets.items():
            x = np.stack([preprocess(c, net.input_hw) for c in crops])
            print(Path(ck).name, name, probe(net, x, ys), flush=True)


if __name__ == "__main__":
    main()
