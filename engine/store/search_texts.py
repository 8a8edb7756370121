"""The plate dictionary (`plate_texts`): the distinct plate texts of `reads`, for pattern searches.

A partial plate (`*C123`, `7AB?1*`) cannot use the plate btree, and a trigram index over every read
grew with the reads: at 10 M reads over 30 days a leading-wildcard pattern's bitmap covered
thousands of rows in each of 30 partitions (299 ms p95 through the API). A fleet of reads repeats a
much smaller set of plates, so the pattern is matched against the texts instead (a trigram index
on a few million rows at most), and the reads are then fetched by the exact plate-key index for the
texts that matched, as an exact search fetches them (engine/store/search.py).

Kept by the writer in the same transaction as the reads (`note_texts`), so a read that any search
can see always has its text here; each text carries the first and last UTC day it was read, so a
time-ranged pattern skips texts not read in its days, and retention drops the texts whose last day
has been purged (`prune_texts`). A stale text costs only an empty index probe. Held reads leave
`reads` with their day (they are copied to the evidence tables, which search does not read), so
holds change nothing here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import psycopg

_DAY_US = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)

# Sorted, so two writers upserting overlapping texts take the rows' locks in one order and never
# deadlock; the WHERE leaves a text whose days already cover the batch's untouched.
_UPSERT = """
INSERT INTO plate_texts AS t (plate_norm, first_day, last_day)
SELECT v.plate_norm, v.first_day, v.last_day
FROM unnest(%s::text[], %s::date[], %s::date[]) AS v(plate_norm, first_day, last_day)
ORDER BY v.plate_norm
ON CONFLICT (plate_norm) DO UPDATE
SET first_day = least(t.first_day, excluded.first_day), last_day = greatest(t.last_day, excluded.last_day)
WHERE t.first_day > excluded.first_day OR t.last_day < excluded.last_day
"""


def text_days(plates: Iterable[str], micros: Iterable[int]) -> dict[str, tuple[date, date]]:
    """Each normalised plate with the first and last UTC day it was read; `micros`: each read's time
    in microseconds since 1970 (`reads.epoch_micros`), in the same order as `plates`."""
    spans: dict[str, tuple[int, int]] = {}
    for plate, us in zip(plates, micros, strict=True):
        if not plate:
            continue  # a plate-less pass (a vehicle whose plate could not be read) has no text
        day = us // _DAY_US
        seen = spans.get(plate)
        if seen is None:
            spans[plate] = (day, day)
        elif day < seen[0] or day > seen[1]:
            spans[plate] = (min(seen[0], day), max(seen[1], day))
    return {
        p: (_EPOCH_DAY + timedelta(days=a), _EPOCH_DAY + timedelta(days=b)) for p, (a, b) in spans.items()
    }


def note_texts(conn: psycopg.Connection, plates: Iterable[str], micros: Iterable[int]) -> None:
    """Add the texts of a batch of reads (or widen their days), in the caller's transaction: their
    normalised plates and times (as `text_days` takes them)."""
    note_spans(conn, text_days(plates, micros))


def note_spans(conn: psycopg.Connection, spans: dict[str, tuple[date, date]]) -> None:
    """`note_texts` for spans already worked out (the writer leaves out those it knows are there)."""
    if not spans:
        return
    plates = sorted(spans)
    conn.execute(_UPSERT, (plates, [spans[p][0] for p in plates], [spans[p][1] for p in plates]))


class CoveredTexts:
    """The texts, with their days, that this writer has already committed to `plate_texts`.

    Most of a day's reads are of vehicles already read that day (commuters, buses, the same car
    passing two cameras), and the upsert leaves such a text untouched but still probes its index
    and locks its row. A writer that remembers what its own committed transactions put there skips
    them. Only committed spans are remembered (`remember` after the commit), so a rolled-back batch
    is upserted again. Retention prunes only texts whose last day is older than every day the store
    still accepts, so a remembered span can never hide a text that a read the store takes needs.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self._spans: dict[str, tuple[date, date]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def uncovered(self, spans: dict[str, tuple[date, date]]) -> dict[str, tuple[date, date]]:
        with self._lock:
            known = self._spans
            return {
                p: s for p, s in spans.items() if (k := known.get(p)) is None or k[0] > s[0] or k[1] < s[1]
            }

    def remember(self, spans: dict[str, tuple[date, date]]) -> None:
        with self._lock:
            if len(self._spans) + len(spans) > self._limit:
                self._spans.clear()  # bounded memory: start again rather than track recency
            for p, (first, last) in spans.items():
                k = self._spans.get(p)
                self._spans[p] = (first, last) if k is None else (min(k[0], first), max(k[1], last))


def prune_texts(conn: psycopg.Connection, cutoff: datetime) -> int:
    """Drop the texts last read on a UTC day before `cutoff`'s: retention has dropped every read of
    theirs (it drops whole days older than the cutoff). Returns how many went."""
    day = cutoff.astimezone(UTC).date()
    return conn.execute("DELETE FROM plate_texts WHERE last_day < %s", (day,)).rowcount
