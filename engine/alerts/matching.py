"""A read's plate and its alternatives against the hotlist index."""

from __future__ import annotations

import time
from collections.abc import Iterable

from platewatch.codecs import Read
from platewatch.engine.config import HotlistConfig
from platewatch.engine.hotlist import HotlistIndex, ListSettings, Match, lookup_texts, match_texts
from platewatch.engine.hotlist import metrics as hm


def match_read(index: HotlistIndex, read: Read) -> list[Match]:
    began = time.perf_counter()
    lookups = lookup_texts(read.plate, read.confidence, read.candidates, read.char_confidences)
    matches = match_texts(index, lookups)
    hm.MATCH_SECONDS.observe(time.perf_counter() - began)
    for m in matches:
        hm.MATCHES.labels(kind=m.kind).inc()
    return list(matches)


def list_defaults(hotlists: Iterable[HotlistConfig]) -> list[ListSettings]:
    """The configured per-list behaviour (the `hotlists` section); `pw:hot:<list>` hashes in Redis
    override it."""
    return [ListSettings(h.name, h.priority, h.fuzzy, h.partial) for h in hotlists]
