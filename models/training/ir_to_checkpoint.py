"""Recover a PyTorch checkpoint of the plate recognizer from the shipped OpenVINO IR.

Why: training runs on machines that are wiped afterwards, and the checkpoint behind the shipped
`models/plate_ocr.xml` was lost with one. The IR holds every weight (FP16), with each BatchNorm
folded into the convolution before it; this script puts them back into `PlateNet` with those
BatchNorms made identities (scale 1, shift = the folded bias, running mean 0, variance 1), checks
that the network's output matches OpenVINO's on real-looking crops, and saves a checkpoint that
`train.py --init ... --freeze-bn` can continue from (BatchNorm statistics stay frozen: batch
statistics would undo the folding).

    /work/train-venv/bin/python models/training/ir_to_checkpoint.py models/plate_ocr.xml /tmp/ocr_ir.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from platewatch.models.training.model import PlateNet


def _constants(model: ov.Model) -> list[tuple[str, np.ndarray]]:
    """The model's weight tensors in graph order, as float32 (FP16 ones decompressed)."""
    out = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant":
            continue
        shape = list(op.get_output_shape(0))
        if not shape or (len(shape) == 1 and shape[0] <= 4) or int(np.prod(shape)) <= 1:
            continue
        out.append((op.get_friendly_name(), np.asarray(op.get_data(), dtype=np.float32).reshape(shape)))
    return out


def recover(xml: Path) -> PlateNet:
    model = ov.Core().read_model(xml)
    consts = _constants(model)
    shape = model.input(0).get_partial_shape()
    net = PlateNet(input_hw=(shape[1].get_length(), shape[2].get_length()))
    sd = net.state_dict()
    it = iter(consts)

    def take(shape: tuple[int, ...]) -> np.ndarray:
        name, value = next(it)
        if value.size != int(np.prod(shape)):
            raise SystemExit(f"{name}: {value.shape} does not fit {shape}")
        return value.reshape(shape)

    head_bias = take((37,))  # the graph lists it first
    convs = [m for m in net.cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.cnn.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for conv, bn in zip(convs, bns, strict=True):
        conv.weight.data = torch.from_numpy(take(tuple(conv.weight.shape)).copy())
        bn.weight.data.fill_(1.0)
        bn.bias.data = torch.from_numpy(take((bn.num_features,)).copy())
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # 1/sqrt(var + eps) == 1 exactly
    sd = net.state_dict()
    sd["collapse.weight"] = torch.from_numpy(take(tuple(sd["collapse.weight"].shape)).copy())
    sd["collapse.bias"] = torch.from_numpy(take(tuple(sd["collapse.bias"].shape)).copy())
    sd["pos"] = torch.from_numpy(take(tuple(sd["pos"].shape)).copy())

    def norm_pair(prefix: str) -> None:
        a, b = take((160,)), take((160,))
        weight, bias = (a, b) if abs(a.mean() - 1) < abs(b.mean() - 1) else (b, a)  # scales sit near 1
        sd[f"{prefix}.weight"] = torch.from_numpy(weight.copy())
        sd[f"{prefix}.bias"] = torch.from_numpy(bias.copy())

    for i in range(len(net.enc.layers)):
        p = f"enc.layers.{i}"
        sd[f"{p}.self_attn.in_proj_bias"] = torch.from_numpy(take((480,)).copy())
        norm_pair(f"{p}.norm1")
        sd[f"{p}.self_attn.in_proj_weight"] = torch.from_numpy(take((480, 160)).copy())
        sd[f"{p}.self_attn.out_proj.weight"] = torch.from_numpy(take((160, 160)).copy())
        sd[f"{p}.self_attn.out_proj.bias"] = torch.from_numpy(take((160,)).copy())
        sd[f"{p}.linear2.bias"] = torch.from_numpy(take((160,)).copy())
        sd[f"{p}.linear1.bias"] = torch.from_numpy(take((320,)).copy())
        norm_pair(f"{p}.norm2")
        sd[f"{p}.linear1.weight"] = torch.from_numpy(take((320, 160)).copy())
        sd[f"{p}.linear2.weight"] = torch.from_numpy(take((160, 320)).copy())
    norm_pair("norm")
    sd["head.weight"] = torch.from_numpy(take((37, 160)).copy())
    sd["head.bias"] = torch.from_numpy(head_bias.copy())
    net.load_state_dict(sd)
    return net.eval()


def check(net: PlateNet, xml: Path, crops: np.ndarray) -> float:
    """Largest difference between the recovered network's and OpenVINO's probabilities."""
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ours = net(torch.from_numpy(crops)).softmax(-1).detach().numpy()
    theirs = compiled(crops)[0]
    return float(np.abs(ours - theirs).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("xml", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    net = recover(args.xml)
    rng = np.random.default_rng(0)
    height, width = net.input_hw
    crops = rng.integers(0, 256, (8, height, width, 3), dtype=np.uint8)
    ramp = np.linspace(80, 200, width, dtype=np.uint8)[None, None, :, None]
    crops[:4] = np.clip(crops[:4] // 4 + ramp, 0, 255)  # half noise, half smooth gradients
    diff = check(net, args.xml, crops)
    print(f"max |p_torch - p_openvino| = {diff:.5f}")
    if diff > 2e-2:
        raise SystemExit("the recovered network does not match the IR")
    ck = {"model": net.state_dict(), "source": str(args.xml), "max_diff": diff, "input_hw": net.input_hw}
    torch.save(ck, args.out)
    print("saved", args.out)


if __name__ == "__main__":
    main()
