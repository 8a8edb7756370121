"""Search of stored reads: exact plate, partial-plate pattern, OCR-fuzzy, time range, cameras, area.

Investigators search history for plates, including partial plates reported during major crimes
(policy 462.2(c)). The API layer adds purpose, case number and the audit record; this module only
turns a validated query into one parameterised SQL statement. Nothing from the caller is ever put
into SQL text: plates and patterns are reduced to A–Z, 0–9, `?` and `*` and bounded in length, and
go in as parameters.

Syntax: `7ABC123` exact; `7AB?123` one unknown character; `7AB*` any run (also empty). `fuzzy=True`
treats OCR confusions as equal (0/O/D/Q, 1/I/L/T, 2/Z, 5/S, 6/G, 8/B), for plain plates and
patterns alike. Every plate index is on that folded form (`pw_plate_key`), so the fuzzy search is as
fast as the exact one; the exact search filters the real plate on top.

An area (a point and a radius in metres, policy 462.2(c): a canvass around a crime scene) is
turned into the cameras standing in it, by great-circle distance over the camera catalogue the
caller passes in (the configuration's cameras and the database's); cameras without a position are
never in an area. Cameras and an area together mean the cameras in both.

A read whose plate was corrected (Civil Code 1798.90.51, `read_corrections`) is found by its own
plate and by its current (newest) correction; a row found only through the correction says so.

One row per vehicle pass: the tracker sends a provisional read while a vehicle is in view and a
final read when it has gone (same `pass_id`, same camera). A provisional read is left out when the
final read of its pass matches the same search, unless `provisional=True`; a provisional read
whose final read does not match (it read another plate) stays, so the collapse never hides a hit.
A plate search looks the final up by the plate index within `PASS_WINDOW` of the provisional read
(one or two daily partitions; a pass whose two best frames lie further apart, a car parked in view,
shows both rows there); a pattern or time-range search collects its matching finals' pass ids once.

Pages are keyset-paginated on (time, read_id), newest first: a cursor stays valid while rows arrive,
and the pages of one search hold every matching row exactly once.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.vision.vehicles import COLOURS, TYPES

from .native_sql import native, native_params
from .reads import normalise_plate

MAX_INPUT = 64  # characters of raw plate or pattern accepted at all
MAX_PLATE = 16  # characters after normalising (the longest real plates are 10)
MIN_KNOWN = 2  # known characters a pattern needs, else it would read most of the table
MAX_LIMIT = 1000
MAX_CAMERAS = 200
_PATTERN_CHARS = re.compile(r"[^0-9A-Z?*]")
CONFUSIONS = str.maketrans("ODQILTZSGB", "0001112568")
MAX_RADIUS_M = 50_000.0  # a canvass is a neighbourhood, not a county
_PAGE_ORDER = "time DESC, read_id::uuid DESC"  # a page's order, in its result columns (read_id is text)
EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
PASS_WINDOW = timedelta(hours=1)
#: A pattern matching more plate texts than this reads its time range's rows instead: by then an
#: index probe per text and partition costs more than the scan (see docs/store.md, "Patterns").
MAX_TEXTS = 5000


class SearchError(ValueError):
    """A query that cannot be run as given; the message is meant for the person who typed it."""


@dataclass(frozen=True)
class Area:
    """A circle on the ground: WGS 84 degrees and a radius in metres."""

    latitude: float
    longitude: float
    radius_m: float

    def check(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0) or not (-180.0 <= self.longitude <= 180.0):
            raise SearchError("an area's latitude is -90 to 90 and its longitude -180 to 180")
        if not (0.0 < self.radius_m <= MAX_RADIUS_M):
            raise SearchError(f"an area's radius is more than 0 and at most {MAX_RADIUS_M:,.0f} metres")


@dataclass(frozen=True)
class SearchQuery:
    plate: str | None = None
    pattern: str | None = None
    fuzzy: bool = False
    time_from: datetime | None = None
    time_to: datetime | None = None
    cameras: tuple[str, ...] = ()
    area: Area | None = None
    provisional: bool = False  # also the provisional reads of passes whose final read matches
    limit: int = 50
    cursor: str | None = None
    colour: str | None = None  # the vehicle's colour as shown on the read (vision.vehicles.COLOURS)
    vehicle_type: str | None = None  # car, bus, truck, van (reads carry none while type is withheld)


@dataclass(frozen=True)
class ReadRow:
    read_id: str
    time: datetime
    camera_id: str
    plate: str
    plate_norm: str
    confidence: float
    region: str
    box: tuple[int, ...]
    track_length: int
    provisional: bool
    pass_id: str
    image_key: str | None
    corrected_plate: str | None = None  # the read's current correction, if any
    correction_note: str | None = None
    corrected_by: str | None = None
    corrected_at: datetime | None = None
    via_correction: bool = False  # found through the correction only, not the read's own plate
    colour: str | None = None  # the vehicle (migration 0013); None where not seen or not sure
    colour_confidence: float | None = None
    vehicle_type: str | None = None
    direction: str | None = None
    heading: float | None = None
    plateless: bool = False

    @classmethod
    def of(cls, row: dict[str, Any]) -> ReadRow:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in row.items() if k in known}
        values["box"] = tuple(values["box"])
        return cls(**values)


@dataclass(frozen=True)
class SearchPage:
    rows: list[ReadRow]
    next_cursor: str | None


def plate_key(plate_norm: str) -> str:
    """The OCR-confusion-folded form, identical to SQL `pw_plate_key()`."""
    return plate_norm.translate(CONFUSIONS)


def normalise_pattern(pattern: str) -> str:
    """`7ab-?1 2*` → `7AB?12*`; runs of `*` collapse; raises SearchError when it cannot be searched."""
    if len(pattern) > MAX_INPUT:
        raise SearchError(f"pattern longer than {MAX_INPUT} characters")
    p = re.sub(r"\*+", "*", _PATTERN_CHARS.sub("", pattern.upper()))
    if len(p) > MAX_PLATE:
        raise SearchError(f"pattern longer than {MAX_PLATE} plate characters")
    if sum(c not in "?*" for c in p) < MIN_KNOWN:
        raise SearchError(f"a pattern needs at least {MIN_KNOWN} known characters")
    return p


def pattern_to_like(pattern: str) -> str:
    """`?` → `_`, `*` → `%`; the pattern holds nothing else that LIKE treats specially."""
    return pattern.replace("?", "_").replace("*", "%")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The same pattern as a Python regex over plate_norm (for tests and in-memory filtering)."""
    body = "".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres; within 0.5 % of the ellipsoid's at any range."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def cameras_in_area(catalogue: Iterable[CameraSpec], area: Area) -> tuple[str, ...]:
    """The ids of the cameras with a position inside `area`, sorted."""
    return tuple(
        sorted(
            c.id
            for c in catalogue
            if c.latitude is not None
            and c.longitude is not None
            and distance_m(area.latitude, area.longitude, c.latitude, c.longitude) <= area.radius_m
        )
    )


def encode_cursor(time: datetime, read_id: str) -> str:
    return base64.urlsafe_b64encode(f"{time.isoformat()}|{read_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, read_id = raw.split("|")
        return datetime.fromisoformat(when), str(uuid.UUID(read_id))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SearchError("invalid cursor") from exc


# Columns of a result row; `r` is the read. The current correction is joined on at the end.
_COLUMNS = (
    "r.read_id, r.time, r.camera_id, r.plate, r.plate_norm, r.confidence, r.region, r.box,"
    " r.track_length, r.provisional, r.pass_id, r.image_key,"
    " r.colour, r.colour_confidence, r.vehicle_type, r.direction, r.heading, r.plateless"
)
_CURRENT = (
    "{k}.correction_id = (SELECT max(k2.correction_id) FROM read_corrections k2"
    " WHERE k2.read_id = {k}.read_id)"
)


def _plate_terms(q: SearchQuery, params: dict[str, Any]) -> str | None:
    """The plate condition as a template over `{col}` (a plate_norm-like column); None: no plate asked.

    A pattern is a LIKE here: what the corrections' small table is searched with, and what reads are
    searched with when the pattern matched too many texts (`_read_terms` otherwise).
    """
    if q.plate is not None and q.pattern is not None:
        raise SearchError("give a plate or a pattern, not both")
    if q.plate is not None:
        if len(q.plate) > MAX_INPUT:
            raise SearchError(f"plate longer than {MAX_INPUT} characters")
        plate = normalise_plate(q.plate)
        if not plate or len(plate) > MAX_PLATE:
            raise SearchError(f"a plate is 1 to {MAX_PLATE} letters and digits")
        params["key"] = plate_key(plate)
        if q.fuzzy:
            return "pw_plate_key({col}) = %(key)s"
        params["plate"] = plate
        return "pw_plate_key({col}) = %(key)s AND {col} = %(plate)s"
    if q.pattern is not None:
        like = pattern_to_like(normalise_pattern(q.pattern))
        params["key_like"] = plate_key(like)
        if q.fuzzy:
            return "pw_plate_key({col}) LIKE %(key_like)s"
        params["like"] = like
        return "pw_plate_key({col}) LIKE %(key_like)s AND {col} LIKE %(like)s"
    return None


def _read_terms(
    q: SearchQuery, like: str | None, keys: list[str] | None, params: dict[str, Any]
) -> str | None:
    """The plate condition over the reads' own plate: a pattern's matching texts (`keys`, their
    plate keys from the dictionary) go through the plate-key index as an exact search does."""
    if q.pattern is None or keys is None or like is None:
        return like
    params["keys"] = keys
    if q.fuzzy:
        return "pw_plate_key({col}) = ANY(%(keys)s)"
    return "pw_plate_key({col}) = ANY(%(keys)s) AND {col} LIKE %(like)s"


def texts_query(q: SearchQuery) -> tuple[str, dict[str, Any]]:
    """The lookup of a pattern search's plate texts in the dictionary (engine/store/search_texts.py):
    the texts matching the pattern and read on a day the time range (and cursor) reaches, at most
    MAX_TEXTS + 1 of them. Validates the pattern."""
    if q.pattern is None:
        raise SearchError("only a pattern is looked up in the plate dictionary")
    params: dict[str, Any] = {"limit": MAX_TEXTS + 1}
    where = [str(_plate_terms(q, params)).format(col="plate_norm")]
    if q.time_from is not None:
        where.append("last_day >= %(day_from)s")
        params["day_from"] = q.time_from.astimezone(UTC).date()
    upper = [t for t in (q.time_to, decode_cursor(q.cursor)[0] if q.cursor else None) if t is not None]
    if upper:
        where.append("first_day <= %(day_to)s")
        params["day_to"] = min(t.astimezone(UTC) for t in upper).date()
    return "SELECT plate_norm FROM plate_texts WHERE " + " AND ".join(where) + " LIMIT %(limit)s", params


def _filter_terms(
    q: SearchQuery, params: dict[str, Any], catalogue: Iterable[CameraSpec] | None
) -> list[str]:
    """Time range and cameras (or area) as templates over `{r}`, a reads alias."""
    where: list[str] = []
    for name, value in (("time_from", q.time_from), ("time_to", q.time_to)):
        if value is not None and value.tzinfo is None:
            raise SearchError(f"{name} needs a time zone")
    if q.time_from and q.time_to and q.time_from >= q.time_to:
        raise SearchError("time_from must be before time_to")
    if q.time_from is not None:
        where.append("{r}.time >= %(time_from)s")
        params["time_from"] = q.time_from
    if q.time_to is not None:
        where.append("{r}.time < %(time_to)s")
        params["time_to"] = q.time_to
    if len(q.cameras) > MAX_CAMERAS or any(len(c) > MAX_INPUT for c in q.cameras):
        raise SearchError(f"at most {MAX_CAMERAS} cameras of up to {MAX_INPUT} characters")
    cameras: list[str] | None = list(q.cameras) if q.cameras else None
    if q.area is not None:
        q.area.check()
        if catalogue is None:
            raise SearchError("an area search needs the camera catalogue")
        inside = cameras_in_area(catalogue, q.area)
        cameras = [c for c in inside if cameras is None or c in cameras]
    if cameras is not None:
        where.append("{r}.camera_id = ANY(%(cameras)s)")
        params["cameras"] = cameras
    # The vehicle narrows a search bounded by plate, time or camera ("a blue car, plate starts 7AB").
    for name, wanted, allowed in (("colour", q.colour, COLOURS), ("vehicle_type", q.vehicle_type, TYPES)):
        if wanted is not None:
            if wanted not in allowed:
                raise SearchError(f"{name} must be one of {', '.join(allowed)}")
            where.append(f"{{r}}.{name} = %({name})s")
            params[name] = wanted
    return where


def _collapse(
    q: SearchQuery, plate: str | None, own: str | None, filters: list[str], params: dict[str, Any]
) -> tuple[str, str | None]:
    """The condition that leaves out a provisional read `r` whose pass's final read matches too,
    and the CTE it reads (None: none).

    The final read matches through its own plate or through its current correction: two subqueries,
    so each keeps its index. A plate search (exact or fuzzy) looks each final up by the plate-key
    index within PASS_WINDOW of the provisional read; a pattern or a time-range search collects the
    matching finals' pass ids instead (a hashed subplan), as a per-row lookup there has only the
    time's block-range index to go on. `plate` matches a correction, `own` a read's own plate.

    A pattern's finals are collected once, in a materialised CTE: as a subquery in the condition,
    each day partition's scan built its own copy of the set, so at 30 days of reads the pattern's
    matches were fetched 31 times (860 ms of an 886 ms search for `7A*` at 1 M reads).
    """
    on_f = "".join(f" AND {f.format(r='f')}" for f in filters)
    current = _CURRENT.format(k="kf")
    if q.plate is not None:
        assert plate is not None
        params["pass_window"] = PASS_WINDOW
        near = (
            " f.pass_id = r.pass_id AND NOT f.provisional"
            " AND f.time >= r.time - %(pass_window)s AND f.time <= r.time + %(pass_window)s"
        )
        by_own = f"EXISTS (SELECT 1 FROM reads f WHERE{near} AND {plate.format(col='f.plate_norm')}{on_f})"
        fixed = (
            "EXISTS (SELECT 1 FROM read_corrections kf JOIN reads f ON f.read_id = kf.read_id"
            f" AND f.time = kf.read_time WHERE{near} AND {current}"
            f" AND {plate.format(col='kf.corrected_plate')}{on_f})"
        )
        found = f"({by_own} OR {fixed})"
    elif q.pattern is not None:
        assert plate is not None and own is not None
        finals = (
            f"finals AS MATERIALIZED (SELECT f.pass_id FROM reads f WHERE NOT f.provisional"
            f" AND f.pass_id <> '' AND {own.format(col='f.plate_norm')}{on_f}"
            " UNION ALL SELECT f.pass_id FROM read_corrections kf JOIN reads f"
            " ON f.read_id = kf.read_id AND f.time = kf.read_time WHERE NOT f.provisional"
            f" AND f.pass_id <> '' AND {current} AND {plate.format(col='kf.corrected_plate')}{on_f})"
        )
        return "NOT (r.provisional AND r.pass_id <> '' AND r.pass_id IN (SELECT pass_id FROM finals))", finals
    else:
        found = f"r.pass_id IN (SELECT f.pass_id FROM reads f WHERE NOT f.provisional{on_f})"
    return f"NOT (r.provisional AND r.pass_id <> '' AND {found})", None


def build_query(
    q: SearchQuery, catalogue: Iterable[CameraSpec] | None = None, keys: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """The SQL text and its parameters (`query_parts`, as one statement)."""
    ctes, select, params = query_parts(q, catalogue, keys)
    return _statement(ctes, select), params


def _statement(ctes: Sequence[str], select: str) -> str:
    return (f"WITH {', '.join(ctes)} " if ctes else "") + select


def query_parts(
    q: SearchQuery, catalogue: Iterable[CameraSpec] | None = None, keys: list[str] | None = None
) -> tuple[list[str], str, dict[str, Any]]:
    """The CTEs the query needs, its SELECT (fixed shapes only: which terms are given, never their
    values) and its parameters.

    Two branches, each ordered and limited so each keeps its index plan: reads whose own plate
    matches, and reads whose current correction matches (the small corrections table first);
    DISTINCT ON merges a read found both ways. Validates the query.

    `keys`: for a pattern, the plate keys of the dictionary's texts that match it (`texts_query`);
    the reads are then found by the plate-key index. Without them a pattern is a LIKE over the
    reads in the time range (the reference, and what too broad a pattern runs).
    """
    params: dict[str, Any] = {}
    plate = _plate_terms(q, params)
    own_terms = _read_terms(q, plate, keys, params)
    filters = _filter_terms(q, params, catalogue)
    if plate is None and (q.time_from is None or q.time_to is None):
        raise SearchError("without a plate or pattern, give a time range (from and to)")
    if not 1 <= q.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be 1 to {MAX_LIMIT}")

    common = [f.format(r="r") for f in filters]
    if q.cursor:
        params["c_time"], params["c_id"] = decode_cursor(q.cursor)
        common.append("(r.time, r.read_id) < (%(c_time)s, %(c_id)s::uuid)")
    cte = None
    if not q.provisional:
        collapse, cte = _collapse(q, plate, own_terms, filters, params)
        common.append(collapse)
    params["limit"] = q.limit + 1
    order = " ORDER BY r.time DESC, r.read_id DESC LIMIT %(limit)s"
    own = [own_terms.format(col="r.plate_norm")] if own_terms is not None else []
    branches = [
        f"SELECT {_COLUMNS}, false AS via_correction FROM reads r WHERE " + " AND ".join(own + common) + order
    ]
    if plate is not None:
        corrected = [_CURRENT.format(k="k"), plate.format(col="k.corrected_plate")]
        branches.append(
            f"SELECT {_COLUMNS}, true AS via_correction FROM read_corrections k"
            " JOIN reads r ON r.read_id = k.read_id AND r.time = k.read_time WHERE "
            + " AND ".join(corrected + common)
            + order
        )
    union = " UNION ALL ".join(f"({b})" for b in branches)
    select = (
        "SELECT h.read_id::text AS read_id, h.time, h.camera_id, h.plate, h.plate_norm, h.confidence,"
        " h.region, h.box, h.track_length, h.provisional, h.pass_id, h.image_key, h.via_correction,"
        " h.colour, h.colour_confidence, h.vehicle_type, h.direction, h.heading, coalesce(h.plateless, false)"
        " AS plateless,"
        " c.corrected_plate, c.note AS correction_note, c.corrected_by, c.corrected_at"
        f" FROM (SELECT DISTINCT ON (time, read_id) * FROM ({union}) u"
        " ORDER BY time DESC, read_id DESC, via_correction) h"
        " LEFT JOIN LATERAL (SELECT corrected_plate, note, corrected_by, corrected_at FROM read_corrections k"
        " WHERE k.read_id = h.read_id ORDER BY k.correction_id DESC LIMIT 1) c ON true"
        " ORDER BY h.time DESC, h.read_id DESC LIMIT %(limit)s"
    )
    return ([cte] if cte else []), select, params


class StatementLog(Protocol):
    """A row about what a query returned, written by the query's own statement and committed with
    it (the API passes the access log's row, policy/access_log.py `ResultRow`): the store only
    places it."""

    def statement(
        self, found: str, params: dict[str, Any], ctes: Sequence[str], key: str, order: str, limit: int
    ) -> str:
        """The statement that runs `found` (after `ctes`) and writes the row; see `ResultRow`."""

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]: ...


@contextmanager
def one_round_trip(conn: psycopg.Connection) -> Iterator[None]:
    """One transaction whose commands (its settings, its queries) go to the server together, and
    whose commit is answered with their results: one round trip instead of one per command.

    Why: a search was five round trips (BEGIN, two settings, the query, COMMIT), each a wait for a
    core on a loaded 2-core machine, and its access-log row is made durable by its commit, which
    must be answered before any data leaves. The block's commands are queued in pipeline mode on
    an idle autocommit connection: up to the pipeline's Sync they are one implicit transaction
    (a local setting holds in it; a failing command rolls back the commands before it), committed at the
    Sync, its WAL flushed, before the server answers. Read their results after the block. A
    connection in a transaction of its own, or opened with ``prepare_threshold=None`` (PGlite, or a
    pooler that keeps no state), runs them one by one in `conn.transaction()`.
    """
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if (
        not (conn.autocommit and idle)
        or conn.prepare_threshold is None
        or not psycopg.Pipeline.is_supported()
    ):
        with conn.transaction():
            yield
        return
    with conn.pipeline():
        yield


def search_reads(
    conn: psycopg.Connection,
    q: SearchQuery,
    catalogue: Iterable[CameraSpec] | None = None,
    *,
    log: StatementLog | None = None,
) -> SearchPage:
    """One page of reads matching `q`, newest first, and the cursor of the next page (None: last).

    `catalogue`: the cameras an area search picks from (needed only with `q.area`). `log`: a row
    naming the page's reads, written by the search's own statement and committed with it (durably:
    its transaction's commit is answered before this returns); a search whose row cannot be written
    raises and returns nothing.

    The search is one round trip (`one_round_trip`), two for a pattern (its plate texts first).

    A plate search is prepared once per connection with a generic plan: the policy keeps a year of
    reads, so the plain backend holds some 370 daily partitions, and planning the query afresh over
    all of them took 20-50 ms of a search whose index scans take a few (runtime pruning still skips
    the partitions outside a time range). A connection opened with ``prepare_threshold=None`` (PGlite,
    or a pooler that cannot keep prepared statements) is never given one.

    A pattern is first matched against the plate dictionary (`texts_query`, a custom plan on one
    small table); the reads of the texts it matched are then fetched like a plate search's, on the
    same kind of generic plan. A pattern matching more than MAX_TEXTS texts is a LIKE over the reads
    instead, planned each time (a scan of its time range).
    """
    build_query(q, catalogue)  # refuses what cannot be searched before anything is sent
    keys: list[str] | None = None
    with conn.cursor(row_factory=dict_row) as cur, psycopg.RawCursor(conn, row_factory=dict_row) as raw:
        with one_round_trip(conn):
            if q.pattern is not None:
                text_sql, text_params = texts_query(q)
                texts = [r["plate_norm"] for r in cur.execute(text_sql.encode(), text_params).fetchall()]
                keys = sorted({plate_key(t) for t in texts}) if len(texts) <= MAX_TEXTS else None
            ctes, select, params = query_parts(q, catalogue, keys)
            if log is None:
                sql = _statement(ctes, select)
            else:
                sql = log.statement(select, params, ctes, "read_id", _PAGE_ORDER, q.limit)
            generic = (q.plate is not None or keys is not None) and conn.prepare_threshold is not None
            # A search over all history costs enough for PostgreSQL to JIT-compile it, which alone
            # takes hundreds of ms across the partitions — far more than the index scans it would
            # speed up.
            # set_config(..., true), not SET LOCAL: in a pipeline the transaction is implicit, where
            # SET LOCAL takes effect all the same but warns, once per setting and search, into the
            # server's log and back to the client as a notice (67,450 lines in 4 minutes of bench).
            conn.execute("SELECT set_config('jit', 'off', true)")
            if generic:
                conn.execute("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
            if q.plate is None and q.pattern is None:
                # A time-range search (a canvass): the day partitions have no btree on time (it would
                # cost ingest), and the planner's alternative to the BRIN bitmap was walking each
                # day's whole primary-key index for the time condition (12 ms a day at 10 k reads a
                # day, growing with the day). The bitmap reads only the range's block ranges.
                conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
            text, names = native(sql)  # converted once per text, at any length (native_sql.py)
            raw.execute(text, native_params(names, params), prepare=generic)
        rows = raw.fetchall()  # the commit has been answered: the log's row is durable
    if log is not None:
        rows = log.rows(rows)
    page = [ReadRow.of(r) for r in rows[: q.limit]]
    cursor = encode_cursor(page[-1].time, page[-1].read_id) if len(rows) > q.limit else None
    return SearchPage(page, cursor)
