"""A read's plate and its alternatives against the hotlist index."""

from __future__ import annotations

import time
from collections.abc import Iterable

from platewatch.codecs import Read
from platewatch.engine.config import HotlistConfig
from platewatch.engine.hotlist import HotlistIndex, ListSettings, Match
from platewatch.engine.hotlist import metrics as hm
from platewatch.engine.hotlist.matcher import match_read_text


def match_read(index: HotlistIndex, read: Read) -> list[Match]:
    """Every entry the read fits, weighed by the read's own evidence: each with its tier ("alert",
    "possible", or "" below the list's possible threshold, which raises nothing)."""
    began = time.perf_counter()
    matches = match_read_text(index, read.plate, read.confidence, read.candidates, read.char_confidences)
    hm.MATCH_SECONDS.observe(time.perf_counter() - began)
    for m in matches:
        hm.MATCHES.labels(kind=m.kind).inc()
    return list(matches)


def list_defaults(hotlists: Iterable[HotlistConfig]) -> list[ListSettings]:
    """The configured per-list behaviour (the `hotlists` section); `pw:hot:<list>` hashes in Redis
    override it."""
    return [ListSettings(h.name, h.priority, h.fuzzy, h.partial) for h in hotlists]
