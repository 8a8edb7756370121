"""A second, independent plate recognizer that scores given texts against a crop.

Why a second model: the shipped recognizer's calibrated evidence cannot tell a confident misread
of a listed plate from a confident correct read of an innocent one that happens to sit one
confusion away from an entry; both look the same from its own outputs. fast-plate-ocr's
`cct_xs_v1_global` (MIT, trained by its author on ~220,000 real plates) errs in other ways, so
where the two disagree it is new evidence. Its output is one softmax per fixed slot (9 slots, `_`
pads after the text), so the probability of *any* text is the product of its slots'
probabilities: it scores the hotlist entry and the read's plate directly, without having to read
either one itself.

Preprocessing is fast-plate-ocr's for this model (its published plate config): the crop resized
to 128x64 without keeping the aspect ratio (bilinear), RGB, uint8, NHWC; the network scales it.
Use: `SecondOpinion.load()` once per process; `log_probs(crops)` for the per-slot log-probabilities;
`score(crop, texts)` for each text's log-probability (the alerts stage); `read(crops)` for its own
argmax reading (to check the preprocessing against its documented accuracy).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import openvino as ov

from .types import VisionError

MODEL_FILE: Final = "cct_xs_v1_global.onnx"
ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
PAD: Final = "_"
SLOTS: Final = 9
INPUT_H: Final = 64
INPUT_W: Final = 128
#: A probability is never taken as below this (log floor): one slot cannot veto a text outright.
FLOOR: Final = 1e-6
#: One thread: it scores one crop at a time beside the worker's other stages, and on a busy CPU a
#: multi-threaded request waits for its slowest thread (measured: 1.7 ms p50 on one thread, 11.7 ms
#: on two, with the two cores shared).
THREADS: Final = 1
_AT: Final = {c: i for i, c in enumerate(ALPHABET)}


def default_model_path() -> Path:
    return Path(str(resources.files("platewatch.models").joinpath(MODEL_FILE)))


def preprocess(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A BGR (or grey) crop as the model takes it: 64x128 RGB uint8, aspect ratio not kept."""
    image: Any = crop
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    resized = cv2.resize(image, (INPUT_W, INPUT_H), interpolation=cv2.INTER_LINEAR)
    out: npt.NDArray[np.uint8] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return out


def slot_indices(text: str) -> list[int] | None:
    """The slot classes of `text` padded to the model's slots; None for a text it cannot hold (too
    long, or a character outside its alphabet)."""
    if len(text) > SLOTS or any(c not in _AT or c == PAD for c in text):
        return None
    return [_AT[c] for c in text] + [_AT[PAD]] * (SLOTS - len(text))


def text_log_prob(log_probs: npt.NDArray[np.floating], text: str) -> float:
    """log P(text) under one crop's per-slot log-probabilities [SLOTS, len(ALPHABET)]; -inf for a
    text the model cannot hold."""
    idx = slot_indices(text)
    if idx is None:
        return float("-inf")
    return float(log_probs[np.arange(SLOTS), idx].sum())


def best_text(log_probs: npt.NDArray[np.floating]) -> str:
    """The model's own reading (argmax per slot, pads dropped)."""
    return "".join(ALPHABET[i] for i in np.argmax(log_probs, axis=-1)).replace(PAD, "")


class SecondOpinion:
    """fast-plate-ocr's recognizer compiled once (OpenVINO, CPU, latency hint); thread-safe."""

    def __init__(
        self, model_path: str | Path | None = None, core: ov.Core | None = None, threads: int = THREADS
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise VisionError(f"second-opinion model not found: {path}")
        self.model_path = path
        core = core if core is not None else ov.Core()
        model = core.read_model(str(path))
        shape = model.input(0).get_partial_shape()
        out = model.output(0).get_partial_shape()
        if (
            shape.rank.get_length() != 4
            or shape[1].get_length() != INPUT_H
            or shape[2].get_length() != INPUT_W
            or out[1].get_length() != SLOTS
            or out[2].get_length() != len(ALPHABET)
        ):
            raise VisionError(f"{path.name}: unexpected shapes {shape} -> {out}")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_path: str | Path | None = None) -> SecondOpinion:
        return cls(model_path)

    def log_probs(self, crops: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Per-slot log-probabilities [N, SLOTS, len(ALPHABET)] of BGR crops, floored at FLOOR."""
        if not crops:
            return np.zeros((0, SLOTS, len(ALPHABET)), np.float32)
        batch = np.stack([preprocess(c) for c in crops])
        with self._lock:
            self._request.infer({0: batch})
            probs = np.array(self._request.get_output_tensor(0).data, dtype=np.float32, copy=True)
        out: npt.NDArray[np.float32] = np.log(np.maximum(probs, FLOOR)).astype(np.float32)
        return out

    def score(self, crop: npt.NDArray[np.uint8], texts: Sequence[str]) -> list[float]:
        """log P(text) of each text for one crop (-inf for a text the model cannot hold)."""
        lp = self.log_probs([crop])[0]
        return [text_log_prob(lp, t) for t in texts]

    def score_jpeg(self, jpeg: bytes, texts: Sequence[str]) -> list[float] | None:
        """`score` on an encoded crop (a Read's `crop_jpeg`); None when it does not decode."""
        data = np.frombuffer(jpeg, np.uint8)
        crop: Any = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if crop is None or crop.size == 0:
            return None
        return self.score(crop, texts)

    def read(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[str]:
        """The model's own readings of BGR crops."""
        return [best_text(lp) for lp in self.log_probs(crops)]


__all__ = [
    "ALPHABET",
    "MODEL_FILE",
    "SLOTS",
    "SecondOpinion",
    "best_text",
    "preprocess",
    "slot_indices",
    "text_log_prob",
]
