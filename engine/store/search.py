"""Search of stored reads: exact plate, partial-plate pattern, OCR-fuzzy, time range, cameras.

Investigators search history for plates, including partial plates reported during major crimes
(policy 462.2(c)). The API layer adds purpose, case number and the audit record; this module only
turns a validated query into one parameterised SQL statement. Nothing from the caller is ever put
into SQL text: plates and patterns are reduced to A–Z, 0–9, `?` and `*` and bounded in length, and
go in as parameters.

Syntax: `7ABC123` exact; `7AB?123` one unknown character; `7AB*` any run (also empty). `fuzzy=True`
treats OCR confusions as equal (0/O/D/Q, 1/I/L/T, 2/Z, 5/S, 6/G, 8/B), for plain plates and
patterns alike. Every plate index is on that folded form (`pw_plate_key`), so the fuzzy search is as
fast as the exact one; the exact search filters the real plate on top.

Pages are keyset-paginated on (time, read_id), newest first: a cursor stays valid while rows arrive.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .reads import normalise_plate

MAX_INPUT = 64  # characters of raw plate or pattern accepted at all
MAX_PLATE = 16  # characters after normalising (the longest real plates are 10)
MIN_KNOWN = 2  # known characters a pattern needs, else it would read most of the table
MAX_LIMIT = 1000
MAX_CAMERAS = 200
_PATTERN_CHARS = re.compile(r"[^0-9A-Z?*]")
CONFUSIONS = str.maketrans("ODQILTZSGB", "0001112568")


class SearchError(ValueError):
    """A query that cannot be run as given; the message is meant for the person who typed it."""


@dataclass(frozen=True)
class SearchQuery:
    plate: str | None = None
    pattern: str | None = None
    fuzzy: bool = False
    time_from: datetime | None = None
    time_to: datetime | None = None
    cameras: tuple[str, ...] = ()
    limit: int = 50
    cursor: str | None = None


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


def build_query(q: SearchQuery) -> tuple[str, dict[str, Any]]:
    """The SQL text (fixed shapes only) and its parameters; validates the query."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if q.plate is not None and q.pattern is not None:
        raise SearchError("give a plate or a pattern, not both")
    if q.plate is not None:
        if len(q.plate) > MAX_INPUT:
            raise SearchError(f"plate longer than {MAX_INPUT} characters")
        plate = normalise_plate(q.plate)
        if not plate or len(plate) > MAX_PLATE:
            raise SearchError(f"a plate is 1 to {MAX_PLATE} letters and digits")
        where.append("pw_plate_key(plate_norm) = %(key)s")
        params["key"] = plate_key(plate)
        if not q.fuzzy:
            where.append("plate_norm = %(plate)s")
            params["plate"] = plate
    elif q.pattern is not None:
        like = pattern_to_like(normalise_pattern(q.pattern))
        where.append("pw_plate_key(plate_norm) LIKE %(key_like)s")
        params["key_like"] = plate_key(like)
        if not q.fuzzy:
            where.append("plate_norm LIKE %(like)s")
            params["like"] = like
    elif q.time_from is None or q.time_to is None:
        raise SearchError("without a plate or pattern, give a time range (from and to)")
    for name, value in (("time_from", q.time_from), ("time_to", q.time_to)):
        if value is not None and value.tzinfo is None:
            raise SearchError(f"{name} needs a time zone")
    if q.time_from is not None:
        where.append("time >= %(time_from)s")
        params["time_from"] = q.time_from
    if q.time_to is not None:
        where.append("time < %(time_to)s")
        params["time_to"] = q.time_to
    if q.time_from and q.time_to and q.time_from >= q.time_to:
        raise SearchError("time_from must be before time_to")
    if q.cameras:
        if len(q.cameras) > MAX_CAMERAS or any(len(c) > MAX_INPUT for c in q.cameras):
            raise SearchError(f"at most {MAX_CAMERAS} cameras of up to {MAX_INPUT} characters")
        where.append("camera_id = ANY(%(cameras)s)")
        params["cameras"] = list(q.cameras)
    if not 1 <= q.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be 1 to {MAX_LIMIT}")
    if q.cursor:
        params["c_time"], params["c_id"] = decode_cursor(q.cursor)
        where.append("(time, read_id) < (%(c_time)s, %(c_id)s::uuid)")
    params["limit"] = q.limit + 1
    sql = (
        "SELECT read_id::text, time, camera_id, plate, plate_norm, confidence, region, box,"
        " track_length, provisional, pass_id, image_key FROM reads WHERE "
        + " AND ".join(where)
        + " ORDER BY time DESC, read_id DESC LIMIT %(limit)s"
    )
    return sql, params


def search_reads(conn: psycopg.Connection, q: SearchQuery) -> SearchPage:
    """One page of reads matching `q`, newest first, and the cursor of the next page (None: last).

    A plate search is prepared once per connection with a generic plan: the policy keeps a year of
    reads, so the plain backend holds some 370 daily partitions, and planning the query afresh over
    all of them took 20-50 ms of a search whose index scans take a few (runtime pruning still skips
    the partitions outside a time range). A connection opened with ``prepare_threshold=None`` (PGlite,
    or a pooler that cannot keep prepared statements) is never given one. Pattern searches are planned
    each time: the trigram index's cost depends on the pattern, which a generic plan cannot see.
    """
    sql, params = build_query(q)
    generic = q.plate is not None and conn.prepare_threshold is not None
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # A search over all history costs enough for PostgreSQL to JIT-compile it, which alone takes
        # hundreds of ms across the partitions — far more than the index scans it would speed up.
        cur.execute("SET LOCAL jit = off")
        if generic:
            cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        rows = cur.execute(sql.encode(), params, prepare=generic).fetchall()
    page = [ReadRow(**{**r, "box": tuple(r["box"])}) for r in rows[: q.limit]]
    cursor = encode_cursor(page[-1].time, page[-1].read_id) if len(rows) > q.limit else None
    return SearchPage(page, cursor)
