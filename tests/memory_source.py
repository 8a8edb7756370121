"""A camera source that plays frames from memory: unit tests drive the runner without a decoder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from platewatch.engine.ingest.source import Frame, Source


class MemorySource(Source):
    """`n` frames, one every 0.1 s of capture time from t=1000, then the stream ends.

    Each frame is an array of its own (as a decoder's are), filled with its index when `numbered`,
    so a test can tell which frames a consumer looked at; else all black."""

    def __init__(self, n: int, *, numbered: bool = False) -> None:
        super().__init__("file:///mem", reconnect=False)
        self.n = n
        self.numbered = numbered

    async def _session(self) -> AsyncIterator[Frame]:
        for i in range(self.n):
            fill = i if self.numbered else 0
            yield Frame(np.full((180, 320, 3), fill, np.uint8), 1000.0 + i / 10, self._next_seq())
            await asyncio.sleep(0)
