"""Plate recognition with OpenVINO: `recognize(image) -> list[Observation]`.

The result types are imported eagerly (codecs, tracking and the API use them and must not pay
for OpenVINO and OpenCV); the recognition entry points load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .types import Box, Candidate, Detection, Observation, OcrResult, VisionError

if TYPE_CHECKING:
    from .pipeline import Recognizer, recognize, recognize_stream

_LAZY = {"Recognizer": "pipeline", "recognize": "pipeline", "recognize_stream": "pipeline"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)


__all__ = [
    "Box",
    "Candidate",
    "Detection",
    "Observation",
    "OcrResult",
    "Recognizer",
    "VisionError",
    "recognize",
    "recognize_stream",
]
