"""The issuing state of a US plate, from the name printed above its characters.

Why a second recognizer: the plate recognizer reads the characters and nothing else; the state's
name (``TEXAS``, ``ARIZONA``, a script ``California``) is printed in a thin band at the plate's top.
PP-OCRv4's text-line recognizer (Apache-2.0, from the ``rapidocr-onnxruntime`` 1.4.4 wheel,
converted to OpenVINO FP16: ``models/state_text.*``) reads such bands; its alphabet is 6,623
characters, so only the Latin letters' columns are kept (``models/state_text_latin.json``) and
renormalised, which turns a Chinese guess for a smudge into the nearest letter instead.

Two ways to name the state, chosen on the labelled training photos (never the held-out third):

* the band's greedy reading matched fuzzily against the 50 names and DC (``TEXNS`` -> TX):
  a similarity of at least `FUZZY_MIN` names it;
* otherwise every name, in capitals and as printed (`PRINTED_NAMES`), scored under the band's
  CTC lattice, anywhere in the band (a frame's dealer text may sit beside it): the best name's
  mean log-probability per letter at least `CTC_MIN` and `CTC_MARGIN` above the next state's;
* otherwise California's design (`plate_design`): its small red script is too few pixels for the
  text recognizer, so a classifier of the top band's edges names CA when it scores at least the
  model's threshold (chosen by leave-one-out on the training photos). The text reading wins:
  the design is asked only where the reading named nothing.

Run it once per vehicle pass, on the pass's best frame (a band costs ~5-15 ms on one core).
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from difflib import SequenceMatcher
from importlib import resources
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import openvino as ov

from .plate_design import MODEL_FILE as DESIGN_FILE
from .plate_design import DesignModel, band_of, features
from .types import Box, Image, VisionError
from .us_states import PRINTED_NAMES, STATE_NAMES

MODEL_FILE: Final = "state_text.xml"
LATIN_FILE: Final = "state_text_latin.json"
INPUT_H: Final = 48
MAX_W: Final = 480
#: Chosen on the training photos (see the module docstring).
FUZZY_MIN: Final = 0.75
CTC_MIN: Final = -2.1
CTC_MARGIN: Final = 0.5
#: Names shorter than this are too easily found in any band by the CTC score (OHIO, IOWA, UTAH:
#: a short name fits a smudge); they are named only from the band's reading.
CTC_MIN_LETTERS: Final = 5
#: Bands of the plate box (fractions of its height) where the state's name is printed.
BANDS: Final = ((-0.15, 0.35), (-0.35, 0.2), (0.0, 0.3))
_FLOOR: Final = 1e-8


@dataclass(frozen=True, slots=True)
class StateGuess:
    """A state named from a plate: its USPS code, how (``text`` or ``ctc``) and the score."""

    state: str
    how: str  # text, ctc or design
    score: float


def models_dir() -> Path:
    return Path(str(resources.files("platewatch.models")))


def greedy_text(log_probs: npt.NDArray[np.floating], alphabet: str) -> str:
    """The band's best-path reading (CTC: repeats merged, blanks dropped; class 0 is the blank)."""
    best = np.argmax(log_probs, axis=1)
    out = [alphabet[k - 1] for i, k in enumerate(best) if k != 0 and (i == 0 or k != best[i - 1])]
    return "".join(out)


def fuzzy_state(text: str) -> tuple[float, str]:
    """The state whose name best matches a window of `text` (letters only, capitals): (similarity,
    code); a longer name wins a tie, so ``WASHINGTONDC`` is DC, not WA."""
    letters = "".join(c for c in text.upper() if "A" <= c <= "Z")
    if len(letters) < 3:
        return 0.0, ""
    best = (0.0, 0, "")
    for code, name in STATE_NAMES.items():
        n = len(name)
        sim = max(
            SequenceMatcher(None, letters[i : i + n], name).ratio()
            for i in range(max(1, len(letters) - n + 1))
        )
        best = max(best, (sim, n, code))
    return best[0], best[2]


def ctc_scores(log_probs: npt.NDArray[np.floating], spellings: list[list[int]]) -> npt.NDArray[np.float64]:
    """Mean log-probability per letter of each spelling read anywhere in the band: the CTC forward
    pass, free to start and end at any frame (the rest of the band is other text), all spellings at
    once (padded lattices, one step per frame)."""
    count = len(spellings)
    lengths = np.array([max(len(s), 1) for s in spellings])
    states = 2 * int(lengths.max()) + 1
    ext = np.zeros((count, states), dtype=np.int64)
    for i, s in enumerate(spellings):
        ext[i, 1 : 2 * len(s) : 2] = s
    skip = np.zeros((count, states), dtype=bool)
    skip[:, 3::2] = (ext[:, 3::2] != ext[:, 1:-2:2]) & (ext[:, 3::2] != 0)
    rows = np.arange(count)
    last = 2 * lengths  # each spelling's final blank; its last letter is one before
    neg = -1e9
    alpha = np.full((count, states), neg)
    best = np.full(count, neg)
    pad = np.full((count, 2), neg)
    for t in range(log_probs.shape[0]):
        step = np.concatenate((pad[:, :1], alpha[:, :-1]), axis=1)
        jump = np.where(skip, np.concatenate((pad, alpha[:, :-2]), axis=1), neg)
        prev = np.logaddexp(np.logaddexp(alpha, step), jump)
        prev[:, :2] = np.logaddexp(prev[:, :2], 0.0)  # the name may start at this frame
        alpha = prev + log_probs[t][ext]
        best = np.maximum(best, np.logaddexp(alpha[rows, last], alpha[rows, last - 1]))
    out: npt.NDArray[np.float64] = best / lengths
    return out


class StateReader:
    """PP-OCRv4 text-line recognizer compiled once (OpenVINO, CPU, one thread); thread-safe."""

    def __init__(self, directory: Path | None = None, core: ov.Core | None = None) -> None:
        folder = directory if directory is not None else models_dir()
        path = folder / MODEL_FILE
        if not path.is_file():
            raise VisionError(f"state reader model not found: {path}")
        latin: dict[str, int] = json.loads((folder / LATIN_FILE).read_text(encoding="utf-8"))
        self.alphabet = "".join(sorted(latin))
        self._columns = np.array([0] + [latin[c] for c in self.alphabet], dtype=np.int64)
        self._at = {c: i + 1 for i, c in enumerate(self.alphabet)}
        core = core if core is not None else ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1}
        self._compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self.design = DesignModel.load(folder / DESIGN_FILE)
        self._codes: list[str] = []
        self._spellings: list[list[int]] = []
        for code, name in STATE_NAMES.items():
            for spelling in (name, *PRINTED_NAMES.get(code, ())):
                if len(spelling) >= CTC_MIN_LETTERS:
                    self._codes.append(code)
                    self._spellings.append([self._at[c] for c in spelling if c in self._at])

    def band_log_probs(self, band: Image) -> npt.NDArray[np.float32]:
        """Log-probabilities [frames, 1 + letters] of a BGR text band over the Latin columns."""
        h, w = band.shape[:2]
        width = max(INPUT_H, min(MAX_W, round(INPUT_H * w / max(h, 1))))
        x: Any = cv2.resize(band, (width, INPUT_H), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = ((x / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        with self._lock:
            self._request.infer({0: x})
            probs = np.array(self._request.get_output_tensor(0).data[0], dtype=np.float32, copy=True)
        kept = probs[:, self._columns]
        kept /= np.maximum(kept.sum(axis=1, keepdims=True), _FLOOR)
        out: npt.NDArray[np.float32] = np.log(np.maximum(kept, _FLOOR)).astype(np.float32)
        return out

    def bands(self, frame: Image, plate: Box) -> list[Image]:
        """The bands above and across the plate's top where a state's name is printed."""
        height, width = frame.shape[:2]
        x0, x1 = max(0, int(plate.x - 0.05 * plate.w)), min(width, int(plate.x + 1.05 * plate.w))
        out = []
        for top, bottom in BANDS:
            y0 = max(0, int(plate.y + top * plate.h))
            y1 = min(height, int(plate.y + bottom * plate.h))
            if y1 - y0 >= 4 and x1 - x0 >= 8:
                out.append(frame[y0:y1, x0:x1])
        return out

    def name_scores(self, log_probs: npt.NDArray[np.floating]) -> dict[str, float]:
        """Each state's best spelling's `ctc_scores`."""
        scores: dict[str, float] = {}
        for code, score in zip(self._codes, ctc_scores(log_probs, self._spellings), strict=True):
            scores[code] = max(scores.get(code, float("-inf")), float(score))
        return scores

    def read(self, frame: Image, plate: Box) -> StateGuess | None:
        """The plate's issuing state, or None where the photo does not show it clearly enough."""
        lps = [self.band_log_probs(band) for band in self.bands(frame, plate)]
        if not lps:
            return None
        sim, code = max(fuzzy_state(greedy_text(lp, self.alphabet)) for lp in lps[:2])
        if code and sim >= FUZZY_MIN:
            return StateGuess(code, "text", round(sim, 3))
        scores: dict[str, float] = {}
        for lp in lps:
            for name, s in self.name_scores(lp).items():
                scores[name] = max(scores.get(name, float("-inf")), s)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        (first, s1), (_, s2) = ranked[0], ranked[1]
        if s1 >= CTC_MIN and s1 - s2 >= CTC_MARGIN:
            return StateGuess(first, "ctc", round(s1, 3))
        return self.read_design(frame, plate)

    def read_design(self, frame: Image, plate: Box) -> StateGuess | None:
        """California where the top band looks like its design (`plate_design`), else None."""
        score = self.design.score(features(band_of(frame, plate)))
        return StateGuess("CA", "design", round(score, 3)) if score >= self.design.threshold else None


@functools.lru_cache(maxsize=1)
def shared_state_reader() -> StateReader:
    """The process's state reader (the shipped model), compiled on first use."""
    return StateReader()


def state_of(frame: Image, plate: Box) -> str:
    """The shared reader's state of a plate, "" where none is legible (`track.state.StateOf`)."""
    guess = shared_state_reader().read(frame, plate)
    return guess.state if guess is not None else ""


__all__ = [
    "StateGuess",
    "StateReader",
    "ctc_scores",
    "fuzzy_state",
    "greedy_text",
    "shared_state_reader",
    "state_of",
]
