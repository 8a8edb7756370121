"""What every source yields: a decoded BGR image, when it was captured, and its number."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. `captured_at` is wall-clock seconds (epoch), `seq` counts frames of a source."""

    image: Image
    captured_at: float
    seq: int
