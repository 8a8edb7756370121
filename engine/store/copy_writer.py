"""The fast write path of the persist agent: binary COPY on two connections, INSERT as the fallback.

Why not the idempotent `INSERT … ON CONFLICT` every time: on a table carrying the search indexes,
COPY is the cheapest way in, and replays are rare (only after a worker dies before committing its
offsets). So each part of a batch is COPYed straight into `reads` in its own transaction; if the
primary key refuses it (a replay) or a row is malformed, that transaction rolls back and the part goes
through `write_reads()` (ON CONFLICT DO NOTHING, row-by-row fallback). Either way a read is stored at
most once, and a part is either all in or retried.

Two connections: the server's work (index maintenance, mostly the trigram GIN) runs in one backend
per connection, so two halves of a batch load in parallel while Python encodes them; the write
returns only when both halves are committed, so the agent's offsets still follow the database.

PGlite (the TimescaleDB test server) crashes on COPY FROM, so there the writer uses the INSERT only.
"""

from __future__ import annotations

import functools
import json
import logging
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date

import psycopg

from platewatch.codecs import Read

from .reads import WriteResult, epoch_micros, image_key, normalise_plate, read_days, write_reads
from .search_texts import CoveredTexts, note_spans, text_days

log = logging.getLogger(__name__)

COPY_COLUMNS = (
    "read_id",
    "time",
    "camera_id",
    "plate",
    "plate_norm",
    "confidence",
    "region",
    "box",
    "char_confidences",
    "candidates",
    "track_length",
    "provisional",
    "pass_id",
    "image_key",
    "colour",
    "colour_confidence",
    "vehicle_type",
    "direction",
    "heading",
    "plateless",
    "state",
)
MIN_SPLIT = 256  # below this a second connection costs more round trips than it saves
STREAM_ROWS = 200  # rows encoded per message of a COPY (about 40 kB)

# Binary COPY, encoded here rather than by psycopg's per-value dumpers: encoding dominated the
# write path (about 20 µs a row through `write_row`, against a few µs packed with struct).
# Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in µs since 1970: binary timestamps count from it
_OID_INT4, _OID_FLOAT4 = 23, 700
_HEAD = struct.Struct("!hi")  # field count, then the uuid's length
_TIME = struct.Struct("!iq")
_FLOAT4 = struct.Struct("!if")
_INT4 = struct.Struct("!ii")
_BOX = struct.Struct("!iiiIiiiiiiiiii")
_LEN = struct.Struct("!i")
_BOOL = (b"\x00\x00\x00\x01\x00", b"\x00\x00\x00\x01\x01")
_EMPTY_FLOAT4_ARRAY = struct.pack("!iiiI", 12, 0, 0, _OID_FLOAT4)
_float_arrays: dict[int, struct.Struct] = {}


def _text(value: str) -> bytes:
    data = value.encode()
    return _LEN.pack(len(data)) + data


#: Camera ids and regions repeat on every read of a site: encode each once.
_known_text = functools.lru_cache(maxsize=4096)(_text)
#: One encoder for all rows: `json.dumps` with options builds a new encoder per call.
_json = json.JSONEncoder(separators=(",", ":")).encode


def _float4_array(values: tuple[float, ...]) -> bytes:
    n = len(values)
    if n == 0:
        return _EMPTY_FLOAT4_ARRAY
    fmt = _float_arrays.get(n)
    if fmt is None:
        fmt = _float_arrays[n] = struct.Struct("!iiiIii" + "if" * n)
    args: list[float] = [4] * (2 * n)  # each element: its length (4), then the value
    args[1::2] = values
    return fmt.pack(20 + 8 * n, 1, 0, _OID_FLOAT4, n, 1, *args)


def encode_binary(reads: Sequence[Read]) -> bytes:
    """A complete binary COPY stream (signature, rows, trailer) of `reads` in COPY_COLUMNS order."""
    return _SIGNATURE + encode_rows(reads) + _TRAILER


def encode_rows(reads: Sequence[Read]) -> bytes:
    """The binary COPY rows of `reads` (no signature or trailer), in COPY_COLUMNS order."""
    out: list[bytes] = []
    append = out.append
    for r in reads:
        x, y, w, h = r.box
        cands = _json(r.candidates).encode()
        key = image_key(r)
        append(
            b"".join(
                (
                    _HEAD.pack(len(COPY_COLUMNS), 16),
                    bytes.fromhex(r.read_id.replace("-", "")),
                    _TIME.pack(8, epoch_micros(r.time) - _PG_EPOCH_US),
                    _known_text(r.camera_id),
                    _text(r.plate),
                    _text(normalise_plate(r.plate)),
                    _FLOAT4.pack(4, r.confidence),
                    _known_text(r.region),
                    _BOX.pack(52, 1, 0, _OID_INT4, 4, 1, 4, x, 4, y, 4, w, 4, h),
                    _float4_array(r.char_confidences),
                    _LEN.pack(len(cands) + 1) + b"\x01" + cands,
                    _INT4.pack(4, r.track_length),
                    _BOOL[r.provisional],
                    _text(r.pass_id),
                    _NULL if key is None else _text(key),
                    _known_text(r.colour) if r.colour else _NULL,
                    _FLOAT4.pack(4, r.colour_confidence) if r.colour else _NULL,
                    _known_text(r.vehicle_type) if r.vehicle_type else _NULL,
                    _known_text(r.direction) if r.direction else _NULL,
                    _NULL if r.heading is None else _FLOAT4.pack(4, r.heading),
                    _BOOL[r.plateless],
                    _known_text(r.state) if r.state else _NULL,
                )
            )
        )
    return b"".join(out)


def is_pglite(conn: psycopg.Connection) -> bool:
    """PGlite is PostgreSQL compiled to WebAssembly with Emscripten; its version string says so."""
    row = conn.execute("SELECT version()").fetchone()
    return bool(row and "emcc" in str(row[0]).lower())


def copy_reads(conn: psycopg.Connection, reads: Sequence[Read]) -> None:
    """One binary COPY of `reads` into the reads table, in the caller's transaction.

    The rows are encoded and sent STREAM_ROWS at a time, so the server inserts (and maintains the
    indexes for) one slice while this thread encodes the next: encoding a whole part before
    sending it kept the server idle for a third of the time.
    """
    cols = ", ".join(COPY_COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY reads ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_SIGNATURE)
        for k in range(0, len(reads), STREAM_ROWS):
            copy.write(encode_rows(reads[k : k + STREAM_ROWS]))
        copy.write(_TRAILER)


class ReadWriter:
    """Writes batches of reads over `connections` connections; call from one thread at a time."""

    def __init__(self, conninfo: str, *, connections: int = 2, use_copy: bool | None = None) -> None:
        self._conninfo = conninfo
        self._n = max(1, connections)
        self._use_copy = use_copy
        self._conns: list[psycopg.Connection | None] = [None] * self._n
        self._pool = ThreadPoolExecutor(max_workers=self._n, thread_name_prefix="read-writer")
        self._days: set[date] = set()
        self._days_lock = threading.Lock()
        self._texts = CoveredTexts()

    def _conn(self, i: int) -> psycopg.Connection:
        conn = self._conns[i]
        if conn is None or conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5, prepare_threshold=None)
            self._conns[i] = conn
            if self._use_copy is None:
                self._use_copy = not is_pglite(conn)
                if not self._use_copy:
                    self._n = 1  # PGlite has one session: a second connection would share it
        return conn

    def _ensure_partitions(self, conn: psycopg.Connection, reads: Sequence[Read]) -> None:
        # Outside the COPY's transaction: the function takes an advisory lock when it creates a
        # partition, and holding it through a COPY would serialise the two connections.
        days = read_days(reads)
        with self._days_lock:
            missing = days - self._days
        if missing:
            conn.execute("SELECT pw_ensure_read_partitions(%s, %s)", (min(missing), max(missing)))
            with self._days_lock:
                self._days |= missing

    def _write_part(self, i: int, reads: Sequence[Read]) -> WriteResult:
        conn = self._conn(i)
        try:
            if not self._use_copy:
                return write_reads(conn, reads)
            self._ensure_partitions(conn, reads)
            try:
                spans = text_days(
                    (normalise_plate(r.plate) for r in reads), (epoch_micros(r.time) for r in reads)
                )
                fresh = self._texts.uncovered(spans)
                with conn.transaction():
                    copy_reads(conn, reads)
                    note_spans(conn, fresh)  # the plate dictionary, in the same transaction
                self._texts.remember(fresh)  # committed: later batches need not upsert these again
                return WriteResult(len(reads), 0, [])
            except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
                # A replay (unique violation), a day whose partition retention dropped, or a bad row.
                log.debug("COPY of %d reads refused (%s); using INSERT", len(reads), type(exc).__name__)
                with self._days_lock:
                    self._days.clear()
                return write_reads(conn, reads)
        except psycopg.OperationalError:
            conn.close()
            self._conns[i] = None
            raise

    def write(self, reads: Sequence[Read]) -> WriteResult:
        """Store a batch; returns new rows, replays and refused rows. Raises OperationalError when down."""
        if not reads:
            return WriteResult(0, 0, [])
        if self._use_copy is None:
            self._conn(0)
        n = self._n if len(reads) >= MIN_SPLIT * self._n else 1
        size = -(-len(reads) // n)
        parts = [reads[k : k + size] for k in range(0, len(reads), size)]
        futures = [self._pool.submit(self._write_part, i, part) for i, part in enumerate(parts)]
        wait(futures)  # every part finished (stored or failed) before anything is reported or raised
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        results = [f.result() for f in futures]
        return WriteResult(
            sum(r.inserted for r in results),
            sum(r.duplicates for r in results),
            [x for r in results for x in r.rejected],
        )

    def close(self) -> None:
        for conn in self._conns:
            if conn is not None:
                conn.close()
        self._pool.shutdown(wait=True)
