"""The plate recognizer network: small CNN -> 40 columns -> transformer encoder -> CTC.

The CNN (stride 4 in width, 32 in height) turns the 64x160 crop into 2x40 cells; a learned (2, 1)
convolution collapses them into 40 column features; a 2-layer transformer encoder (global
attention, learned positions) gives every column the whole plate as context, so the readout can
skip state names, slogans and stickers and emit stacked characters one after the other; CTC runs
over the 40 columns.  (`rows=2` keeps both rows and reads row-major, which could read two-row
plates, but it did not leave the all-blank CTC plateau in a first run, so it is not the default.)
Input is the raw uint8 BGR crop resized to 64x160 (NHWC): the network casts and scales itself.
Another input size (`input_hw`: height a multiple of 32, width of 4) gives H/32 cells per column,
collapsed by an (H/32, 1) convolution, and W/4 columns; a checkpoint records its size, and
`load_checkpoint` builds the network to match.

About 1.1 M parameters, ~0.17 GMAC per crop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

#: The shipped recognizer's input, and that of every checkpoint written before sizes were recorded.
SHIPPED_INPUT_HW = (64, 160)


def cbr(cin: int, cout: int, stride: tuple[int, int] | int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv(x))


class PlateNet(nn.Module):
    def __init__(
        self,
        n_classes: int = 37,
        d: int = 160,
        layers: int = 2,
        heads: int = 4,
        rows: int = 1,
        input_hw: tuple[int, int] = SHIPPED_INPUT_HW,
    ) -> None:
        super().__init__()
        height, width = input_hw
        if height % 32 or width % 4:
            raise ValueError(f"input {height}x{width}: height must be a multiple of 32, width of 4")
        self.input_hw = (height, width)
        cells, cols = height // 32, width // 4
        self.cnn = nn.Sequential(
            cbr(3, 32, 2),  # 32x80
            cbr(32, 64, 2),  # 16x40
            Res(64),
            cbr(64, 96, (2, 1)),  # 8x40
            Res(96),
            cbr(96, 128, (2, 1)),  # 4x40
            Res(128),
            cbr(128, d, (2, 1)),  # 2x40
        )
        # rows == 1: a learned (cells, 1) convolution collapses the rows (classic CRNN readout).
        self.collapse = nn.Conv2d(d, d, (cells, 1)) if rows == 1 else nn.Identity()
        self.pos = nn.Parameter(torch.zeros(1, (1 if rows == 1 else cells) * cols, d))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d, heads, 2 * d, dropout=0.1, batch_first=True, norm_first=True, activation="gelu"
        )
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: uint8 or float [N, H, W, 3] BGR 0..255 -> logits [N, T=W/4 (x rows kept), C]."""
        x = x.permute(0, 3, 1, 2).float() * (1.0 / 127.5) - 1.0
        f = self.collapse(self.cnn(x))  # N, d, rows, W/4
        t = f.flatten(2).transpose(1, 2) + self.pos  # row-major: N, T, d
        return self.head(self.norm(self.enc(t)))


def recorded_input_hw(checkpoint: dict[str, Any]) -> tuple[int, int]:
    """The input size a checkpoint was trained at."""
    height, width = checkpoint.get("input_hw", SHIPPED_INPUT_HW)
    return height, width


def load_checkpoint(path: str | Path) -> tuple[PlateNet, dict[str, Any]]:
    """The network of a checkpoint (train.py, train_gpu.py, ir_to_checkpoint.py), built at the input
    size it records (64x160 when it records none: every checkpoint before sizes were recorded), in
    eval mode, and the checkpoint itself."""
    ck = torch.load(path, map_location="cpu")
    if "model" not in ck:
        ck = {"model": ck}
    net = PlateNet(input_hw=recorded_input_hw(ck))
    net.load_state_dict(ck["model"])
    return net.eval(), ck
