"""Carry a recognizer checkpoint to a larger input size, as the starting point of a fine-tune there.

Why: the ninth attempt (models/EXPERIMENTS.md) showed that at 64x160 the network's features for a Texas
`M` and a blurred plain `W` are alike, so the next recognizer should compute its features from more
pixels. Training one from scratch needs a GPU session; none has been lent for ten sessions. The
CNN is fully convolutional and the transformer and head do not care how many columns there are, so
the shipped network's weights carry over to a larger input nearly whole, and a fine-tune there
starts from a network that already reads plates (progressive resizing; Touvron et al., "Fixing the
train-test resolution discrepancy", NeurIPS 2019, fine-tune at the new size for the same reason).
Only two tensors depend on the size:

- `collapse` (a (H/32, 1) convolution over the rows of cells) gets H/32 taps, linearly interpolated
  from the old ones and scaled so their sum (the response to a uniform column) is unchanged;
- `pos` (one learned position per column, W/4 of them) is linearly interpolated along the plate.

    PLATEWATCH_OCR_INPUT=96x240 /work/train-venv/bin/python models/training/upsize.py \\
        /tmp/ocr_ir.pt /tmp/ocr_96x240.pt

The size is the one every training script reads, `PLATEWATCH_OCR_INPUT` (common.py), so the fine-tune
that follows trains at the size the checkpoint was carried to.
"""

from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from platewatch.models.training.common import INPUT_H, INPUT_W
from platewatch.models.training.model import PlateNet, recorded_input_hw


def resample_taps(weight: torch.Tensor, taps: int) -> torch.Tensor:
    """A [out, in, k, 1] row-collapsing kernel resampled to `taps` rows. Linear resampling scaled
    by k/taps keeps each kernel's sum exactly from 2 taps to 3 (a, b -> 2/3 (a, (a+b)/2, b)) and
    nearly so otherwise, so a uniform column gives the same response as before."""
    k = weight.shape[2]
    flat = weight.permute(0, 1, 3, 2).reshape(-1, 1, k).float()  # [out*in, 1, k]
    resampled = F.interpolate(flat, size=taps, mode="linear", align_corners=True) * (k / taps)
    out, cin = weight.shape[:2]
    return resampled.reshape(out, cin, 1, taps).permute(0, 1, 3, 2).to(weight.dtype)


def resample_positions(pos: torch.Tensor, columns: int) -> torch.Tensor:
    """[1, T, d] learned positions resampled to `columns` along the plate."""
    along = pos.transpose(1, 2).float()  # [1, d, T]
    return F.interpolate(along, size=columns, mode="linear", align_corners=True).transpose(1, 2).to(pos.dtype)


def upsize(state: dict[str, torch.Tensor], input_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The state dict of a 1-row PlateNet carried to `input_hw` (loads into PlateNet(input_hw=...))."""
    target = PlateNet(input_hw=input_hw).state_dict()
    out = dict(state)
    out["collapse.weight"] = resample_taps(state["collapse.weight"], target["collapse.weight"].shape[2])
    out["pos"] = resample_positions(state["pos"], target["pos"].shape[1])
    for name, tensor in target.items():
        if out[name].shape != tensor.shape:
            raise SystemExit(f"{name}: {tuple(out[name].shape)} cannot be carried to {tuple(tensor.shape)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a checkpoint (train.py, ir_to_checkpoint.py)")
    ap.add_argument("out")
    args = ap.parse_args()
    height, width = INPUT_H, INPUT_W
    ck = torch.load(args.checkpoint, map_location="cpu")
    state = ck.get("model", ck)
    sd = upsize(state, (height, width))
    PlateNet(input_hw=(height, width)).load_state_dict(sd)  # fails loudly on anything missed
    torch.save(
        {
            "model": sd,
            "input_hw": (height, width),
            "upsized": {"from": args.checkpoint, "was": recorded_input_hw(ck)},
        },
        args.out,
    )
    print(f"{args.checkpoint} ({recorded_input_hw(ck)}) -> {args.out} ({height}x{width})")


if __name__ == "__main__":
    main()
