"""What every source yields: a decoded BGR image, when it was captured, and its number."""

from __future__ import annotations

from dataclasses import dataclass

from platewatch.engine.vision.types import Image

__all__ = ["Frame", "Image"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. `captured_at` is wall-clock seconds (epoch), `seq` counts frames of a source."""

    image: Image
    captured_at: float
    seq: int
