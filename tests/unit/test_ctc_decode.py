"""CTC decoding on hand-made probability matrices (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from platewatch.engine.plates import PLATE_ALPHABET
from platewatch.engine.vision.ctc import greedy_decode, prefix_beam_search

C = len(PLATE_ALPHABET) + 1


def cls(ch: str) -> int:
    return 0 if ch == "-" else PLATE_ALPHABET.index(ch) + 1


def frames(spec: list[dict[str, float]]) -> np.ndarray:
    """Each frame: {char: prob, '-' = blank}; the rest of the mass is spread evenly."""
    out = np.zeros((len(spec), C), np.float32)
    for t, f in enumerate(spec):
        rest = (1.0 - sum(f.values())) / (C - len(f))
        out[t] = rest
        for ch, p in f.items():
            out[t, cls(ch)] = p
    return out


def peaked(seq: str, p: float = 0.98) -> np.ndarray:
    return frames([{ch: p} for ch in seq])


def test_greedy_merges_repeats_and_drops_blanks() -> None:
    text, confs = greedy_decode(peaked("--AA--B-B7"))
    assert text == "AB B7".replace(" ", "")
    assert len(confs) == len(text)
    assert all(0.9 < c <= 1.0 for c in confs)


def test_greedy_repeated_char_needs_blank() -> None:
    assert greedy_decode(peaked("-11-1-"))[0] == "11"
    assert greedy_decode(peaked("-111--"))[0] == "1"


def test_greedy_confidence_is_best_frame_of_run() -> None:
    probs = frames([{"-": 0.9}, {"Z": 0.6}, {"Z": 0.95}, {"-": 0.9}])
    text, confs = greedy_decode(probs)
    assert text == "Z"
    assert confs[0] == pytest.approx(0.95, abs=1e-6)


def test_beam_matches_greedy_on_peaked_input() -> None:
    probs = peaked("-7-AB-C--1-2-3-")
    best = prefix_beam_search(probs, beam_width=8, top_k=3)
    assert best[0][0] == "7ABC123"
    # Sum over alignments: at least the best path's probability, and close to it when peaked.
    path = float(np.prod(probs.max(axis=1)))
    assert path <= best[0][1] <= path * 1.01


def test_beam_sums_alignments_where_greedy_fails() -> None:
    # Each frame: blank 0.6, 'A' 0.4.  Greedy reads "", but P("A") = 0.64 > P("") = 0.36.
    probs = np.zeros((2, C), np.float32)
    probs[:, 0] = 0.6
    probs[:, cls("A")] = 0.4
    assert greedy_decode(probs)[0] == ""
    best = prefix_beam_search(probs, beam_width=5, top_k=5)
    assert best[0][0] == "A"
    assert best[0][1] == pytest.approx(0.64, abs=1e-6)
    assert dict(best)[""] == pytest.approx(0.36, abs=1e-6)


def test_beam_top_k_offers_confusable_alternatives() -> None:
    probs = frames([{"-": 0.97}, {"8": 0.6, "B": 0.38}, {"-": 0.97}, {"A": 0.97}, {"-": 0.97}, {"1": 0.97}])
    out = prefix_beam_search(probs, beam_width=10, top_k=5)
    texts = [t for t, _ in out]
    assert texts[0] == "8A1"
    assert texts[1] == "BA1"
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-6


def test_beam_double_letter_vs_single() -> None:
    # "L L" with a weak blank in between: both "LL" and "L" are candidates, ranked by probability.
    probs = frames([{"L": 0.97}, {"-": 0.55, "L": 0.43}, {"L": 0.97}])
    out = dict(prefix_beam_search(probs, beam_width=10, top_k=5))
    assert set(out) >= {"LL", "L"}
    assert out["LL"] > out["L"]


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError):
        greedy_decode(np.zeros((5, 10), np.float32))
    with pytest.raises(ValueError):
        prefix_beam_search(np.zeros((5,), np.float32))
