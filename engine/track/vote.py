"""Per-character voting over a pass: many noisy reads of one plate make one good read.

One frame's OCR confuses 8/B or drops an edge character; a vehicle is seen in dozens of frames,
and the errors rarely agree. The vote first settles the length (weighted by read confidence),
then each position among reads of that length, each read weighing in with its per-character
confidence. A character's support is its share of the evidence at that position, so a plate read
the same way by every frame scores near its OCR confidence and a contested one scores low.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from platewatch.codecs import FrameReading
from platewatch.engine.vision.types import Observation

#: Most alternative readings carried in a read's candidates (the hotlist's fuzzy match uses them).
MAX_CANDIDATES = 5
#: Most frames whose own readings a read carries (`Vote.frames`): the matcher's weighing of a
#: pass's frames together is fitted on passes of 2 and 3 frames (docs/hotlist.md, "A pass's frames
#: weighed together"), and a handful keeps the message small.
MAX_FRAMES = 3


@dataclass(frozen=True, slots=True)
class Vote:
    """The pass's reading: text, its confidence (weakest character), per-character support, candidates."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    candidates: tuple[tuple[str, float], ...]
    observations: int
    #: the most confident frames' own readings, in the order seen (none for a one-frame pass)
    frames: tuple[FrameReading, ...] = ()


def _char_weights(read: Observation) -> tuple[float, ...]:
    if len(read.char_confidences) == len(read.text):
        return tuple(min(1.0, max(0.0, c)) for c in read.char_confidences)
    return (min(1.0, max(0.0, read.confidence)),) * len(read.text)


def vote(reads: Sequence[Observation]) -> Vote:
    """Vote over the reads of one pass (at least one, each with a non-empty text)."""
    if not reads:
        raise ValueError("vote needs at least one read")
    by_length: dict[int, float] = defaultdict(float)
    for read in reads:
        by_length[len(read.text)] += max(read.confidence, 1e-6)
    # Ties go to the longer reading: a dropped edge character is the commoner error.
    length = max(by_length, key=lambda n: (by_length[n], n))
    same = [r for r in reads if len(r.text) == length]
    chars: list[str] = []
    support: list[float] = []
    for pos in range(length):
        tally: dict[str, float] = defaultdict(float)
        for read in same:
            tally[read.text[pos]] += _char_weights(read)[pos]
        best = max(sorted(tally), key=lambda ch: tally[ch])
        chars.append(best)
        support.append(round(tally[best] / len(same), 4))
    text = "".join(chars)
    confidence = min(support) if support else 0.0
    return Vote(
        text, confidence, tuple(support), _candidates(text, confidence, reads), len(reads), _frames(reads)
    )


def _frames(reads: Sequence[Observation]) -> tuple[FrameReading, ...]:
    """The MAX_FRAMES most confident reads as the frames' readings the matcher weighs together;
    none for one read (the vote is that read)."""
    if len(reads) < 2:
        return ()
    best = sorted(range(len(reads)), key=lambda i: -reads[i].confidence)[:MAX_FRAMES]
    return tuple(
        (
            reads[i].text,
            round(_unit(reads[i].confidence), 4),
            tuple(round(_unit(q), 4) for q in _char_weights(reads[i])),
            tuple((c.text, _unit(c.score)) for c in reads[i].candidates[:MAX_CANDIDATES]),
        )
        for i in sorted(best)
    )


def _unit(value: float) -> float:
    """A score as the read message carries it: within 0..1 and finite (the codec refuses NaN)."""
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0


def _candidates(text: str, confidence: float, reads: Sequence[Observation]) -> tuple[tuple[str, float], ...]:
    """The voted text first, then the other readings seen, scored by their mean share of the pass."""
    scores: dict[str, float] = defaultdict(float)
    for read in reads:
        options = read.candidates or ()
        if options:
            for cand in options:
                scores[cand.text] += max(0.0, min(1.0, cand.score))
        else:
            scores[read.text] += max(0.0, min(1.0, read.confidence))
    ranked = sorted(
        ((t, s / len(reads)) for t, s in scores.items() if t != text), key=lambda p: (-p[1], p[0])
    )
    out = [(text, round(confidence, 4))] + [(t, round(s, 4)) for t, s in ranked]
    return tuple(out[:MAX_CANDIDATES])
