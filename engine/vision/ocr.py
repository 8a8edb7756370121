"""Plate recognizer (OCR) runtime: OpenVINO inference + CTC decoding into `OcrResult`.

The network (trained by the project, see models/README.md) takes the plate crop resized to
64x160 as uint8 BGR NHWC and returns per-frame softmax over CTC blank + `PLATE_ALPHABET` for 40
frames (one per 4 pixel columns; a small transformer encoder gives each frame the whole plate as
context, which is what lets it read stacked characters and ignore state names/slogans).

Stable API used by the pipeline:

    ocr = PlateOCR()                                  # models/plate_ocr.xml on "CPU"
    result = ocr.read(crop_bgr)                       # OcrResult for one crop (LATENCY hint)
    results = ocr.read_batch([crop1, crop2, ...])     # one inference for many crops
    probs = ocr.probabilities([crop1, ...])           # raw [N, 80, 37] for evaluation/tools

Thread-safety: one `PlateOCR` owns one infer request guarded by a lock; create one per worker
thread for parallel throughput.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import openvino as ov

from platewatch.engine.plates import PLATE_ALPHABET
from platewatch.engine.vision.ctc import greedy_decode, prefix_beam_search
from platewatch.engine.vision.types import Candidate, OcrResult, VisionError

#: The input size of the shipped recognizer; a network exported with another static size is fed at
#: its own (`PlateOCR.input_size`), these are used only when the IR leaves height or width dynamic.
INPUT_H: Final = 64
INPUT_W: Final = 160
DEFAULT_MODEL: Final = Path(__file__).resolve().parents[2] / "models" / "plate_ocr.xml"
MAX_CROP_PIXELS: Final = 4096 * 4096


def _as_bgr(crop: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Validate a crop and view it as HxWx3 uint8 BGR (converting only grey/BGRA inputs)."""
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8:
        raise VisionError("plate crop must be a uint8 numpy array")
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    elif crop.ndim == 3 and crop.shape[2] == 4:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
    elif crop.ndim == 3 and crop.shape[2] == 1:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise VisionError(f"plate crop must be HxW, HxWx1, HxWx3 or HxWx4, got shape {crop.shape}")
    h, w = crop.shape[:2]
    if h < 2 or w < 2:
        raise VisionError(f"plate crop too small: {w}x{h}")
    if h * w > MAX_CROP_PIXELS:
        raise VisionError(f"plate crop too large: {w}x{h}")
    return np.asarray(crop, np.uint8)


def preprocess_into(crop: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8]) -> None:
    """Resize a BGR crop straight into `out` (an [H, W, 3] uint8 slot of the batch tensor).

    Plain resize (no letterbox): the network was trained on stretched crops, which keeps plates of
    any aspect (US 2:1, EU 4.7:1, loose detector boxes) filling the input.  INTER_AREA when
    shrinking avoids aliasing of thin strokes.
    """
    h, w = crop.shape[:2]
    out_h, out_w = out.shape[:2]
    interp = cv2.INTER_AREA if (w > out_w or h > out_h) else cv2.INTER_LINEAR
    cv2.resize(crop, (out_w, out_h), dst=out, interpolation=interp)


def input_size(model: ov.CompiledModel) -> tuple[int, int]:
    """(height, width) the recognizer takes, from its NHWC input; why: a recognizer retrained at
    another size (models/README.md) then runs without a code change."""
    shape = model.input(0).get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape[3].compatible(ov.Dimension(3)):
        raise VisionError(f"plate OCR model input must be NHWC with 3 channels, got {shape}")
    height = shape[1].get_length() if shape[1].is_static else INPUT_H
    width = shape[2].get_length() if shape[2].is_static else INPUT_W
    return height, width


class PlateOCR:
    """Reads plate crops into characters A-Z0-9 with per-character confidences and top-k candidates.

    Args:
        model_path: OpenVINO IR (.xml) of the recognizer; defaults to the shipped models/plate_ocr.xml.
        device: OpenVINO device string ("CPU", "GPU", "AUTO", ...).
        beam_width: prefix beam search width (more = better candidates, slower).
        top_k: number of candidates kept in each `OcrResult`.
        performance_hint: "LATENCY" (default; one crop at a time on the live path) or "THROUGHPUT".
        inference_precision: e.g. "f32" or "bf16"; None lets OpenVINO choose (bf16 on any CPU with
            AVX512-BF16); the pipeline passes its runtime's choice (`Runtime.inference_precision`).
        core: an existing `openvino.Core` to share with the detector.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "CPU",
        *,
        beam_width: int = 10,
        top_k: int = 5,
        performance_hint: str = "LATENCY",
        inference_precision: str | None = None,
        core: ov.Core | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not path.exists():
            raise FileNotFoundError(f"plate OCR model not found: {path}")
        self.model_path = path
        self.device = device
        self.beam_width = max(1, beam_width)
        self.top_k = max(1, top_k)
        self._core = core if core is not None else ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
        if inference_precision:
            config["INFERENCE_PRECISION_HINT"] = inference_precision
        self._compiled = self._core.compile_model(str(path), device, config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self.input_size = input_size(self._compiled)
        out_shape = self._compiled.output(0).get_partial_shape()
        n_classes = out_shape[2].get_length() if out_shape[2].is_static else len(PLATE_ALPHABET) + 1
        if n_classes != len(PLATE_ALPHABET) + 1:
            raise VisionError(f"model has {n_classes} classes, expected {len(PLATE_ALPHABET) + 1}")

    def probabilities(self, crops: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Per-frame CTC probabilities [N, T, 37] (T=40 for the shipped network) for a batch of BGR crops."""
        if len(crops) == 0:
            return np.zeros((0, 0, len(PLATE_ALPHABET) + 1), np.float32)
        batch = np.empty((len(crops), *self.input_size, 3), np.uint8)
        for i, crop in enumerate(crops):
            preprocess_into(_as_bgr(crop), batch[i])
        with self._lock:
            self._request.infer({0: batch})
            probs = np.array(self._request.get_output_tensor(0).data, dtype=np.float32, copy=True)
        return probs

    def decode(self, probs: npt.NDArray[np.float32]) -> OcrResult:
        """Decode one [T, 37] probability matrix: best path + beam-search candidates."""
        text, confs = greedy_decode(probs)
        beams = prefix_beam_search(probs, beam_width=self.beam_width, top_k=self.top_k)
        candidates = [Candidate(t, float(s)) for t, s in beams if t]
        if text and all(c.text != text for c in candidates):
            # Best path and best beam can differ; the best path is always offered.
            candidates.insert(0, Candidate(text, float(np.prod(confs))))
        candidates.sort(key=lambda c: c.score, reverse=True)
        if candidates and candidates[0].text != text:
            # The beam's best sums over alignments and is the better reading; give it confidences
            # from the best path where the characters line up, else its geometric-mean probability.
            best = candidates[0]
            fallback = best.score ** (1.0 / max(1, len(best.text)))
            confs = tuple(
                confs[i] if i < len(confs) and i < len(text) and text[i] == ch else fallback
                for i, ch in enumerate(best.text)
            )
            text = best.text
        confidence = float(min(confs)) if confs else 0.0
        return OcrResult(
            text=text,
            confidence=confidence,
            char_confidences=tuple(float(c) for c in confs),
            candidates=tuple(candidates[: self.top_k]),
        )

    def read_batch(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[OcrResult]:
        """Read many crops with one inference call."""
        probs = self.probabilities(crops)
        return [self.decode(p) for p in probs]

    def read(self, crop: npt.NDArray[np.uint8]) -> OcrResult:
        """Read one BGR crop (HxWx3 uint8; grey and BGRA are accepted)."""
        return self.read_batch([crop])[0]
