"""A read's plate and its alternatives against the hotlist index."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from platewatch.codecs import Read
from platewatch.engine.config import HotlistConfig
from platewatch.engine.hotlist import HotlistIndex, ListSettings, Match
from platewatch.engine.hotlist import metrics as hm
from platewatch.engine.hotlist.matcher import SecondScorer, match_read_text


class CropScorer(Protocol):
    """The second opinion (engine/vision/second_opinion.py): log P(text) of each text on an
    encoded crop, None when the crop does not decode."""

    def score_jpeg(self, jpeg: bytes, texts: Sequence[str]) -> list[float] | None: ...


def crop_scorer(read: Read, opinion: CropScorer | None, spent: list[float]) -> SecondScorer | None:
    """What the matcher asks the second opinion through for this read: its crop scored on demand
    (only reads with a doubtful match pay the inference), timed into `spent`; None without a crop
    or a model."""
    crop = read.crop_jpeg
    if opinion is None or not crop:
        return None

    def ask(texts: Sequence[str]) -> list[float] | None:
        began = time.perf_counter()
        try:
            return opinion.score_jpeg(crop, texts)
        finally:
            took = time.perf_counter() - began
            spent.append(took)
            hm.VERIFY_SECONDS.observe(took)

    return ask


def match_read(index: HotlistIndex, read: Read, opinion: CropScorer | None = None) -> list[Match]:
    """Every entry the read fits, weighed by the read's own evidence (a pass's frames together,
    where the read carries them) and, for a doubtful match, the second opinion on its crop: each
    with its tier ("alert", "possible", or "" below the list's possible threshold, which raises
    nothing)."""
    spent: list[float] = []
    began = time.perf_counter()
    matches = match_read_text(
        index,
        read.plate,
        read.confidence,
        read.candidates,
        read.char_confidences,
        crop_scorer(read, opinion, spent),
        read.frames,
    )
    # the matching's own time; the second opinion's is VERIFY_SECONDS
    hm.MATCH_SECONDS.observe(time.perf_counter() - began - sum(spent))
    for m in matches:
        hm.MATCHES.labels(kind=m.kind).inc()
    return list(matches)


def list_defaults(hotlists: Iterable[HotlistConfig]) -> list[ListSettings]:
    """The configured per-list behaviour (the `hotlists` section); `pw:hot:<list>` hashes in Redis
    override it."""
    return [ListSettings(h.name, h.priority, h.fuzzy, h.partial) for h in hotlists]
