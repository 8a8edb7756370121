"""Average two checkpoints of the plate recognizer weight by weight (WiSE-FT).

Why: a fine-tune aimed at one weakness (say the shallow Texas `M`) learns it, but on 2 CPU cores it
also drifts elsewhere (models/EXPERIMENTS.md: a real `W` began to read as `M`). Wortsman et al., "Robust
fine-tuning of zero-shot models" (CVPR 2022), showed that the straight line between a network and its
own fine-tune keeps most of the fine-tune's gain and most of the original's robustness, best near the
middle; `--alpha 0.5` is their default and ours, fixed before looking at any held-out score (choosing
alpha by the held-out score would make that set a training set). Both checkpoints must come from the
same starting weights (a fine-tune of the other, or two fine-tunes of one network: `--alpha 0.5` is
then their uniform soup, Wortsman et al., "Model soups", ICML 2022), otherwise the average of two
networks is noise.

    /work/train-venv/bin/python models/training/interpolate.py /tmp/ocr_ir.pt \
        /work/ocr_runs/ft2/last.pt /tmp/wise.pt --alpha 0.5
    # two seeds' soup, then halfway back to the shipped network (weights 0.5 / 0.25 / 0.25):
    python interpolate.py /work/ocr_runs/s1/last.pt /work/ocr_runs/s2/last.pt /tmp/soup.pt
    python interpolate.py /tmp/ocr_ir.pt /tmp/soup.pt /tmp/cand.pt
"""

from __future__ import annotations

import argparse

import torch

from platewatch.models.training.model import recorded_input_hw


def interpolate(
    base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * base + alpha * tuned for every float tensor; counters are taken from `tuned`."""
    if base.keys() != tuned.keys():
        raise SystemExit(f"the checkpoints differ in their tensors: {sorted(base.keys() ^ tuned.keys())}")
    out = {}
    for name, b in base.items():
        t = tuned[name]
        if b.shape != t.shape:
            raise SystemExit(f"{name}: shape {tuple(b.shape)} against {tuple(t.shape)}")
        out[name] = torch.lerp(b.float(), t.float(), alpha).to(b.dtype) if b.is_floating_point() else t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the weights the fine-tune started from")
    ap.add_argument("tuned", help="the end of the fine-tune")
    ap.add_argument("out")
    ap.add_argument("--alpha", type=float, default=0.5, help="0 = base, 1 = tuned")
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit("--alpha must lie in [0, 1]")
    base = torch.load(args.base, map_location="cpu")
    tuned = torch.load(args.tuned, map_location="cpu")
    sd = interpolate(base.get("model", base), tuned.get("model", tuned), args.alpha)
    torch.save(
        {
            "model": sd,
            "interpolated": {"base": args.base, "tuned": args.tuned, "alpha": args.alpha},
            "input_hw": recorded_input_hw(tuned),  # equal shapes: both were trained at it
        },
        args.out,
    )
    print(f"saved {args.out} (alpha {args.alpha})")


if __name__ == "__main__":
    main()
