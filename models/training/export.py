"""Export a training checkpoint to ONNX (opset 17, dynamic batch) and OpenVINO IR (FP16).

Usage (training venv, repo root):
    /work/train-venv/bin/python models/training/export.py /work/ocr_runs/run1/best.pt \
        --onnx /tmp/plate_ocr.onnx --xml models/plate_ocr.xml

The exported graph takes uint8 [N, H, W, 3] BGR (the resized crop, no normalisation; 64x160 for
the shipped network, the checkpoint's recorded size otherwise) and returns softmax probabilities
[N, W/4, 37] (class 0 = CTC blank, then 0-9, A-Z), so the runtime only resizes and decodes; it
reads H and W from the IR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from platewatch.models.training.common import REPO
from platewatch.models.training.model import PlateNet, load_checkpoint


class WithSoftmax(torch.nn.Module):
    def __init__(self, net: PlateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).softmax(-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--onnx", default="/tmp/plate_ocr.onnx")
    ap.add_argument("--xml", default=str(REPO / "models" / "plate_ocr.xml"))
    args = ap.parse_args()
    net, sd = load_checkpoint(args.ckpt)
    model = WithSoftmax(net).eval()
    x = torch.randint(0, 256, (2, *net.input_hw, 3), dtype=torch.uint8)
    torch.onnx.export(
        model,
        (x,),
        args.onnx,
        opset_version=17,
        input_names=["image"],
        output_names=["probs"],
        dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
        dynamo=False,
    )
    ovm = ov.convert_model(args.onnx)
    ov.save_model(ovm, args.xml, compress_to_fp16=True)
    # Sanity: OpenVINO output matches torch.
    core = ov.Core()
    cm = core.compile_model(args.xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    with torch.no_grad():
        ref = model(x).numpy()
    got = cm(x.numpy())[0]
    print("max abs diff torch vs OpenVINO:", float(np.abs(ref - got).max()))
    print(
        "wrote",
        args.xml,
        Path(args.xml).with_suffix(".bin").stat().st_size,
        "bytes;",
        # the monitoring split only: a checkpoint's held-out reads are not shown before it is judged
        "crops_val:",
        (sd.get("eval") or {}).get("crops_val"),
    )


if __name__ == "__main__":
    main()
