"""`platewatch bench store`: ingest rate of the persist path against a plain COPY, and search latency.

Machines are noisy (this one shares two cores with model training), so an absolute rows/s figure
alone says little. In the same run, chunk by chunk and in alternating order, the same rows go
(1) through the persist path the agent uses (`ReadStore.write_now`, batches of PERSIST_BATCH) into
`reads`, and (2) through a plain psycopg text COPY, one per chunk, into `pw_bench_copy`, a bare
table made `LIKE reads INCLUDING INDEXES` (same indexes, no partitions). Only the writes are timed;
making the synthetic reads is not. The ratio of the two is the figure that holds across machines.

The reads are synthetic but shaped like a deployment: a pool of vehicles that come back (one plate
per four reads), US-style plates, 50 cameras, spread evenly over `days` days, arriving in time order.
Search figures are medians over searches for plates and partial plates that exist, run newest first
with a page of 50 over all history (no time range: the hardest case), after the trigram pending lists
are merged and statistics taken, as the worker's hourly upkeep does. On the plain backend the
database also holds the empty daily partitions of the year before (the policy keeps a year, so a
deployment has some 370), and searches run on one long-lived connection as the API's would: plate
searches reuse their prepared generic plan, pattern searches are planned over every partition each
time (`search.py` says why), and that planning is in the figure.

With `--json F` the run also writes `F.html`: both rates, averaged from the start, after every
chunk against the 50 k reads/s target. The single figure at the end hides the shape: whether the
persist path slowed down as the day's partition and its trigram index grew, or whether the plain
COPY fell behind only late (its unpartitioned indexes outgrowing memory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import statistics
import string
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console

from platewatch.codecs import Read
from platewatch.engine.store.copy_writer import is_pglite
from platewatch.engine.store.migrate import migrate
from platewatch.engine.store.persist import PERSIST_BATCH, ReadStore
from platewatch.engine.store.reads import image_key, normalise_plate
from platewatch.engine.store.retention import clean_gin_pending, store_backend
from platewatch.engine.store.search import SearchQuery, search_reads
from platewatch.engine.track.ids import time_ordered_id
from platewatch.engine.track.tracker import PASS_NAMESPACE

from .report import Chart, figures_table, page, write_json

log = logging.getLogger(__name__)
CHUNK = 50_000
CAMERAS = 50
YEAR_OF_PARTITIONS = 365
_FORMATS = ("DLLLDDD", "LLLDDDD", "DDDLLLD", "LLDDDLL")
#: The ingest target the chart marks (issue: ≥ 50 k reads/s on 2 cores with all search indexes).
TARGET_ROWS_PER_S = 50_000.0

#: (reads written so far, persist rows/s so far, plain COPY rows/s so far or None on PGlite)
Point = tuple[int, float, float | None]


def _plate(rng: random.Random) -> str:
    fmt = rng.choice(_FORMATS)
    return "".join(rng.choice(string.digits if c == "D" else string.ascii_uppercase) for c in fmt)


def plate_pool(reads: int, seed: int = 462) -> list[str]:
    rng = random.Random(seed)
    return [_plate(rng) for _ in range(max(1000, reads // 4))]


def synthetic_reads(
    start: int, count: int, total: int, plates: list[str], *, end: float, days: float, seed: int = 462
) -> list[Read]:
    """Reads `start … start+count` of a deterministic stream of `total` reads ending at `end`."""
    rng = random.Random(seed * 1_000_003 + start)
    step = days * 86400 / total
    t0 = end - days * 86400
    out = []
    for i in range(start, start + count):
        t = t0 + i * step
        plate = plates[rng.randrange(len(plates))]
        conf = round(rng.uniform(0.6, 0.99), 3)
        out.append(
            Read(
                read_id=time_ordered_id(PASS_NAMESPACE, f"p{i}|final", t),  # as the tracker makes them
                camera_id=f"cam-{rng.randrange(CAMERAS):02d}",
                time=t,
                plate=plate,
                confidence=conf,
                region="us",
                box=(rng.randrange(1600), rng.randrange(900), 120, 40),
                char_confidences=tuple(conf for _ in plate),
                candidates=((plate, conf), (_plate(rng), conf / 2)),
                track_length=rng.randrange(1, 12),
                pass_id=f"p{i}",
            )
        )
    return out


def _baseline_copy(conn: psycopg.Connection, reads: list[Read]) -> None:
    """What a plain psycopg user writes: a text COPY of tuples, one transaction."""
    cols = (
        "read_id, time, camera_id, plate, plate_norm, confidence, region, box, char_confidences,"
        " candidates, track_length, provisional, pass_id, image_key"
    )
    with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY pw_bench_copy ({cols}) FROM STDIN") as cp:
        for r in reads:
            cp.write_row(
                (
                    r.read_id,
                    datetime.fromtimestamp(r.time, tz=UTC),
                    r.camera_id,
                    r.plate,
                    normalise_plate(r.plate),
                    r.confidence,
                    r.region,
                    list(r.box),
                    list(r.char_confidences),
                    json.dumps(r.candidates),
                    r.track_length,
                    r.provisional,
                    r.pass_id,
                    image_key(r),
                )
            )


@contextlib.contextmanager
def _scratch_database(url: str, keep: bool) -> Iterator[str]:
    """A fresh database on the server at `url`, dropped afterwards; PGlite has one database only."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        if is_pglite(conn):
            yield url
            return
        name = f"pw_bench_{uuid.uuid4().hex[:8]}"
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield psycopg.conninfo.make_conninfo(url, dbname=name)
    finally:
        if not keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _median_ms(conn: psycopg.Connection, queries: list[SearchQuery]) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        page = search_reads(conn, q)
        times.append((time.perf_counter() - t) * 1000)
        if not page.rows:
            log.warning("bench search found nothing for %s", q)
    return round(statistics.median(times), 2)


def run_store_bench(
    reads: int,
    json_out: Path | None = None,
    *,
    database_url: str,
    days: float = 30.0,
    searches: int = 25,
    keep: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure and return the bench figures (and write them to `json_out` as one JSON object).

    The bench works in a scratch database it makes on the server at `database_url`.
    """
    with _scratch_database(database_url, keep) as url:
        migrate(url)
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
        backend = store_backend(conn)
        pglite = is_pglite(conn)
        if not pglite:
            conn.prepare_threshold = 5  # psycopg's default: searches may prepare, as the API's would
            conn.execute("CREATE TABLE pw_bench_copy (LIKE reads INCLUDING DEFAULTS INCLUDING INDEXES)")
            # What a deployment holds: the policy's year of daily partitions before the bench's days
            # (searches plan over all of them; ingest writes only today's few).
            conn.execute(
                "SELECT pw_ensure_read_partitions((now() AT TIME ZONE 'UTC')::date - %s,"
                " (now() AT TIME ZONE 'UTC')::date)",
                (YEAR_OF_PARTITIONS + int(days) + 1,),
            )
        else:
            conn.close()  # PGlite has one session: the writer opens its own
        store = ReadStore(url)
        plates = plate_pool(reads)
        end = time.time()
        t_store = t_copy = 0.0
        last: list[Read] = []
        curve: list[Point] = []
        for n, start in enumerate(range(0, reads, CHUNK)):
            chunk = synthetic_reads(start, min(CHUNK, reads - start), reads, plates, end=end, days=days)
            for first in ("store", "copy") if n % 2 == 0 else ("copy", "store"):
                t = time.perf_counter()
                if first == "store":
                    for b in range(0, len(chunk), PERSIST_BATCH):
                        store.write_now(chunk[b : b + PERSIST_BATCH])
                    t_store += time.perf_counter() - t
                elif not pglite:
                    _baseline_copy(conn, chunk)
                    t_copy += time.perf_counter() - t
            last = chunk
            done = start + len(chunk)
            curve.append((done, done / t_store, done / t_copy if t_copy else None))
            if progress:
                Console(stderr=True).print(
                    f"{done}/{reads} reads: persist {done / t_store:,.0f}/s"
                    + (f", plain COPY {done / t_copy:,.0f}/s" if t_copy else ""),
                    highlight=False,
                )
        store.close()
        if pglite:
            conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
        clean_gin_pending(conn)  # what the worker's hourly upkeep does (engine/store/jobs.py)
        conn.execute("ANALYZE reads")
        row = (
            conn.execute("SELECT count(*) FROM pw_read_partitions()").fetchone()
            if backend == "postgres"
            else None
        )
        rng = random.Random(7)
        sample = [r.plate for r in rng.sample(last, min(searches, len(last)))]
        exact = [SearchQuery(plate=p) for p in sample]
        partial = [SearchQuery(pattern=f"{p[:3]}?{p[4]}*") for p in sample]
        _median_ms(conn, exact[:3])  # warm the caches the way a running server has them
        figures: dict[str, Any] = {
            "reads": reads,
            "ingest_rows_per_s": round(reads / t_store),
            "copy_baseline_rows_per_s": round(reads / t_copy) if t_copy else None,
            "ratio": round(t_copy / t_store, 3) if t_copy else None,
            "search_exact_ms": _median_ms(conn, exact),
            "search_partial_ms": _median_ms(conn, partial),
            "backend": backend + (" (PGlite)" if pglite else ""),
            "partitions": row[0] if row else None,
            "batch": PERSIST_BATCH,
            "days": days,
        }
        conn.close()
    if json_out is not None:
        write_json(json_out, figures)
        json_out.with_suffix(".html").write_text(render(figures, curve), encoding="utf-8")
    return figures


def rate_chart(curve: Sequence[Point]) -> str:
    """Both rates against reads written, and the target; a sentence when there is nothing to draw."""
    if not curve:
        return "<p>No reads were written, so there is no rate to show.</p>"
    chart = Chart(640, 240, 44)
    pad, bottom = chart.pad, chart.bottom
    top_rate = max([TARGET_ROWS_PER_S] + [r for _, p, c in curve for r in (p, c) if r is not None]) * 1.1
    last = max(n for n, _, _ in curve)

    def at(n: float, rate: float) -> tuple[float, float]:
        return pad + n / last * (chart.width - 2 * pad), bottom - rate / top_rate * (chart.height - 2 * pad)

    chart.polyline([at(0, p) for n, p, _ in curve[:1]] + [at(n, p) for n, p, _ in curve], "persist")
    copy = [at(n, c) for n, _, c in curve if c is not None]
    if copy:
        chart.polyline([(pad, copy[0][1]), *copy], "copy")
    _, ty = at(0, TARGET_ROWS_PER_S)
    chart.line(pad, ty, chart.width - pad, ty, "target")
    chart.label(pad + 4, ty - 4, f"target {TARGET_ROWS_PER_S:,.0f}/s")
    chart.axes(y_axis=True)
    step = next(s for s in (5e3, 1e4, 2e4, 2.5e4, 5e4, 1e5, 2.5e5, 1e6) if top_rate / s <= 6)
    for k in range(int(top_rate // step) + 1):
        _, y = at(0, k * step)
        chart.label(2, y + 4, f"{k * step / 1000:.0f}k")
    chart.label(pad, bottom + 16, "0")
    chart.label(chart.width - pad - 40, bottom + 16, f"{last:,} reads")
    chart.label(chart.width / 2 - 90, chart.height - 4, "rows/s so far, against reads written")
    return chart.svg()


def render(figures: dict[str, Any], curve: Sequence[Point]) -> str:
    """The HTML page: both rates as the table grew, and the figures."""
    body = (
        '<p><span class="key-persist">■ persist path</span> &nbsp;\n'
        '<span class="key-copy">■ plain COPY, same rows</span></p>\n'
        f"{rate_chart(curve)}\n<h2>Figures</h2>{figures_table(figures)}"
    )
    style = (
        ".persist { stroke: #3b7dd8; stroke-width: 2; } .copy { stroke: #888; stroke-width: 2; }\n"
        ".key-persist { color: #3b7dd8; } .key-copy { color: #888; }\n"
    )
    return page("store", f"{figures.get('reads')} reads, {figures.get('backend')}", body, style)
