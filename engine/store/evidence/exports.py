"""Evidence exports in the database: building one under a hold, listing them, their custody.

An export first places an evidence hold on its reads for the case (engine/store/holds.py), so the
reads and images it carries stay on the server, past retention, as long as the case needs them;
reads already past retention are taken from the holds that kept them. The bundle is written from
the new hold's copies. The hold, the bundle, the export row and its first
custody event ("exported") are one transaction: either all of it is recorded or none of it is (a
bundle folder or evidence images left by a failure are removed). The caller's `on_recorded` runs
inside that transaction, before the export's id is returned: the API writes its access-log row
naming every read there, so the record of who took which reads exists before anything can leave.

Both tables are append-only (migration 0008): custody is recorded by adding events, never edits.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row

from platewatch.engine import __version__

from ..holds import HoldCriteria, capture_held, place_hold
from ..images import ImageStore
from .bundle import BundleMeta, write_bundle

log = logging.getLogger(__name__)

CustodyKind = Literal["copied", "handed_over", "received", "downloaded"]
CUSTODY_KINDS: tuple[str, ...] = get_args(CustodyKind)
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*$")
MAX_PARTY = 200
MAX_NOTE = 2000
_EXPORT_COLUMNS = (
    "export_id::text, exported_at, exported_by, organisation, purpose, case_number, booking_number,"
    " hold_id, read_ids::text[] AS read_ids, reads, files, bytes, manifest_sha256, bundle_sha256,"
    " bundle_bytes, signing_key_id, platewatch_version"
)
_HELD_READS = (
    "SELECT read_id::text, time, camera_id, plate, plate_norm, confidence, region, box, char_confidences,"
    " candidates, track_length, provisional, pass_id, colour, colour_confidence, direction,"
    " heading, plateless, state, image_key, received_at"
    " FROM evidence_reads WHERE hold_id = %s ORDER BY time, read_id"
)


class ExportError(ValueError):
    """An export or custody event that cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class Exporter:
    """The person exporting or recording custody, as the access log names them."""

    username: str
    display_name: str
    organisation: str
    user_id: int | None = None


@dataclass(frozen=True)
class ExportRequest:
    read_ids: tuple[str, ...]
    case_number: str
    booking_number: str
    purpose: str


@dataclass(frozen=True)
class CustodyEvent:
    event_id: int
    event: str
    at: datetime
    actor: str
    organisation: str
    party: str
    note: str


@dataclass(frozen=True)
class ExportRecord:
    export_id: str
    exported_at: datetime
    exported_by: str
    organisation: str
    purpose: str
    case_number: str
    booking_number: str
    hold_id: int
    read_ids: tuple[str, ...]
    reads: int
    files: int
    bytes: int
    manifest_sha256: str
    bundle_sha256: str  # of the zip the server keeps and hands out
    bundle_bytes: int
    signing_key_id: str
    platewatch_version: str
    events: list[CustodyEvent] = field(default_factory=list)


def exports_root(configured: Path | None, data_dir: Path) -> Path:
    return configured.expanduser() if configured is not None else data_dir / "exports"


def bundle_dir(root: Path, export_id: str) -> Path:
    return root / str(uuid.UUID(export_id))  # a UUID, so the name can never leave `root`


def bundle_zip(root: Path, export_id: str) -> Path:
    """The bundle as the server keeps it: one zip (what is downloaded, byte for byte)."""
    return bundle_dir(root, export_id) / f"evidence-{uuid.UUID(export_id)}.zip"


def _short_text(value: str, what: str, limit: int, *, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise ExportError(f"{what} is required")
    if len(text) > limit or not _TEXT.match(text):
        raise ExportError(f"{what} must be at most {limit} characters without control characters")
    return text


def check_read_ids(values: Sequence[str], max_reads: int) -> tuple[str, ...]:
    """Read ids as canonical UUID text, each once, in the order given."""
    if not values:
        raise ExportError("an export needs at least one read id")
    out: dict[str, None] = {}
    for v in values:
        try:
            out[str(uuid.UUID(str(v).strip()))] = None
        except ValueError:
            raise ExportError(f"{str(v)[:64]!r} is not a read id (a UUID)") from None
    if len(out) > max_reads:
        raise ExportError(f"at most {max_reads} reads per export (evidence.max_reads); got {len(out)}")
    return tuple(out)


def _check(request: ExportRequest, max_reads: int) -> ExportRequest:
    return ExportRequest(
        read_ids=check_read_ids(request.read_ids, max_reads),
        case_number=_short_text(request.case_number, "the case number", 64, required=True),
        booking_number=_short_text(request.booking_number, "the evidence booking number", 64, required=True),
        purpose=_short_text(request.purpose, "the purpose", 200, required=True),
    )


def _missing(conn: psycopg.Connection, read_ids: tuple[str, ...]) -> list[str]:
    """Ids neither stored nor kept by a hold (a read past retention survives only in a hold)."""
    found = {
        r[0]
        for r in conn.execute(
            "SELECT read_id::text FROM reads WHERE read_id = ANY(%(ids)s::uuid[])"
            " UNION SELECT read_id::text FROM evidence_reads WHERE read_id = ANY(%(ids)s::uuid[])",
            {"ids": list(read_ids)},
        ).fetchall()
    }
    return [r for r in read_ids if r not in found]


def create_export(
    conn: psycopg.Connection,
    images: ImageStore,
    key: Ed25519PrivateKey,
    *,
    root: Path,
    request: ExportRequest,
    by: Exporter,
    max_reads: int,
    on_recorded: Callable[[ExportRecord], None] | None = None,
) -> ExportRecord:
    """Hold the reads for the case, write the signed bundle (one zip) to `root/<export id>/`, record
    it all."""
    req = _check(request, max_reads)
    missing = _missing(conn, req.read_ids)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ExportError(f"no stored read has the id {shown} (purged, or never read)")
    export_id = str(uuid.uuid4())
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = root / f".building-{export_id}"
    final = bundle_dir(root, export_id)
    hold_id: int | None = None
    try:
        with conn.transaction():
            hold = place_hold(
                conn,
                images,
                case_number=req.case_number,
                created_by=by.username,
                criteria=HoldCriteria(read_ids=req.read_ids),
                reason=f"evidence export {export_id} (booking {req.booking_number})",
            )
            hold_id = hold.hold_id
            capture_held(conn, images, hold_id, list(req.read_ids), actor=by.username)
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(_HELD_READS, (hold_id,)).fetchall()
            exported_at = datetime.now(UTC)
            meta = BundleMeta(
                export_id=export_id,
                exported_at=exported_at,
                username=by.username,
                display_name=by.display_name,
                organisation=by.organisation,
                purpose=req.purpose,
                case_number=req.case_number,
                booking_number=req.booking_number,
                hold_id=hold_id,
            )
            staging.mkdir(mode=0o700)
            top = f"evidence-{export_id}"
            built = write_bundle(staging / f"{top}.zip", rows, images.get, meta, key, zip_top=top)
            with built.path.open("rb") as f:
                bundle_sha256 = hashlib.file_digest(f, "sha256").hexdigest()
            bundle_bytes = built.path.stat().st_size
            conn.execute(
                "INSERT INTO evidence_exports (export_id, exported_at, exported_by, exported_by_id,"
                " organisation, purpose, case_number, booking_number, hold_id, read_ids, reads, files,"
                " bytes, manifest_sha256, bundle_sha256, bundle_bytes, signing_key_id, platewatch_version)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::uuid[], %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    export_id,
                    exported_at,
                    by.username,
                    by.user_id,
                    by.organisation,
                    req.purpose,
                    req.case_number,
                    req.booking_number,
                    hold_id,
                    list(built.read_ids),
                    len(built.read_ids),
                    built.files,
                    built.bytes,
                    built.manifest_sha256,
                    bundle_sha256,
                    bundle_bytes,
                    built.key_id,
                    __version__,
                ),
            )
            _insert_event(conn, export_id, "exported", by, party="", note=f"zip sha256 {bundle_sha256}")
            record = get_export(conn, export_id)
            if on_recorded is not None:
                on_recorded(record)
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        if hold_id is not None:  # the hold's rows rolled back; its image copies did not
            images.delete(f"evidence/{hold_id}")
        raise
    log.info("evidence export %s: %d reads, %d files, case recorded", export_id, record.reads, record.files)
    return record


def _insert_event(
    conn: psycopg.Connection, export_id: str, event: str, by: Exporter, *, party: str, note: str
) -> int:
    row = conn.execute(
        "INSERT INTO custody_events (export_id, event, actor, actor_id, organisation, party, note)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING event_id",
        (export_id, event, by.username, by.user_id, by.organisation, party, note),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_custody(
    conn: psycopg.Connection, export_id: str, event: str, by: Exporter, *, party: str, note: str = ""
) -> CustodyEvent:
    """Add a custody event (copied to media, handed over, received, downloaded) to an export."""
    if event not in CUSTODY_KINDS:
        raise ExportError(f"a custody event is one of {', '.join(CUSTODY_KINDS)}; got {event[:40]!r}")
    who = _short_text(party, "to (the media, or whom it went to or came from)", MAX_PARTY, required=True)
    text = note.strip()
    if len(text) > MAX_NOTE or "\x00" in text:
        raise ExportError(f"a note is at most {MAX_NOTE} characters")
    with conn.transaction():
        get_export(conn, export_id)
        event_id = _insert_event(conn, export_id, event, by, party=who, note=text)
    return next(e for e in _events(conn, export_id) if e.event_id == event_id)


def _events(conn: psycopg.Connection, export_id: str) -> list[CustodyEvent]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT event_id, event, at, actor, organisation, party, note FROM custody_events"
            " WHERE export_id = %s ORDER BY event_id",
            (export_id,),
        ).fetchall()
    return [CustodyEvent(**r) for r in rows]


def _record(row: dict[str, Any]) -> ExportRecord:
    return ExportRecord(**{**row, "read_ids": tuple(row["read_ids"])})


def get_export(conn: psycopg.Connection, export_id: str) -> ExportRecord:
    try:
        canonical = str(uuid.UUID(export_id))
    except ValueError:
        raise ExportError(f"{export_id[:64]!r} is not an export id") from None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM evidence_exports WHERE export_id = %s".encode(), (canonical,)
        ).fetchone()
    if row is None:
        raise LookupError(f"there is no export {canonical}")
    record = _record(row)
    record.events.extend(_events(conn, canonical))
    return record


def list_exports(
    conn: psycopg.Connection, *, case_number: str | None = None, limit: int = 100
) -> list[ExportRecord]:
    """Newest first, each with its custody events."""
    where = "WHERE case_number = %(case)s" if case_number else ""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM evidence_exports {where}"
            " ORDER BY exported_at DESC, export_id LIMIT %(limit)s".encode(),
            {"case": case_number, "limit": limit},
        ).fetchall()
    records = [_record(r) for r in rows]
    for rec in records:
        rec.events.extend(_events(conn, rec.export_id))
    return records
