"""`platewatch bench export`: an evidence export of N reads with their images, timed (issue 22).

Target: 10,000 reads with images in at most 30 s. In a scratch database (made and dropped by the
bench) N synthetic reads are written with a crop and an overview each (random bytes of the sizes
given, as incompressible as JPEG; the overview default is what a 1280-pixel-wide frame at quality
85 weighs), the images into a scratch image store. The timed part is `create_export` whole, as the
API runs it: the hold placed on the N reads (rows copied to `evidence_reads`, images copied to the
evidence area), the bundle written from the hold's copies into the zip the server keeps and hands
out, every file hashed, the manifest signed, and the export and its first custody event recorded.
Checking the bundle (`verify_s`, as `export verify` does it) is timed apart.

Figures: reads, seconds (the export), bytes (the bundle's files), files, reads_per_s, verify_s,
zip_bytes. The bench needs disk for the images three times over (store, hold, bundle).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.evidence.exports import Exporter, ExportRequest, bundle_zip, create_export
from platewatch.engine.store.evidence.verify import verify_bundle
from platewatch.engine.store.images import DirectoryImageStore, store_read_images
from platewatch.engine.store.migrate import migrate

from .store import _scratch_database, plate_pool, synthetic_reads

log = logging.getLogger(__name__)
TARGET_S = 30.0
_WRITE_CHUNK = 2_000


def _fill(url: str, images: DirectoryImageStore, n: int, crop: bytes, overview: bytes) -> list[str]:
    """N reads over the last day, each with its own crop and overview (distinct bytes, same sizes)."""
    plates = plate_pool(n)
    end = time.time() - 60
    ids: list[str] = []
    writer = ReadWriter(url, connections=1)
    try:
        for start in range(0, n, _WRITE_CHUNK):
            chunk = synthetic_reads(start, min(_WRITE_CHUNK, n - start), n, plates, end=end, days=1.0)
            chunk = [
                dataclasses.replace(
                    r, crop_jpeg=r.read_id.encode() + crop, overview_jpeg=r.read_id.encode() + overview
                )
                for r in chunk
            ]
            store_read_images(images, chunk)
            writer.write(chunk)
            ids += [r.read_id for r in chunk]
    finally:
        writer.close()
    return ids


def run_export_bench(
    reads: int,
    *,
    database_url: str,
    crop_kb: int = 8,
    overview_kb: int = 200,
    work_dir: Path | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Fill a scratch database and image store, export every read once, and time it."""
    work = Path(tempfile.mkdtemp(prefix="pw-bench-export-", dir=work_dir))
    try:
        with _scratch_database(database_url, keep) as url:
            migrate(url)
            images = DirectoryImageStore(work / "images")
            ids = _fill(url, images, reads, os.urandom(crop_kb * 1024), os.urandom(overview_kb * 1024))
            key = Ed25519PrivateKey.generate()
            with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
                began = time.perf_counter()
                record = create_export(
                    conn,
                    images,
                    key,
                    root=work / "exports",
                    request=ExportRequest(
                        read_ids=tuple(ids),
                        case_number="24-001234",
                        booking_number="BENCH-1",
                        purpose="criminal investigation",
                    ),
                    by=Exporter(username="bench", display_name="Bench", organisation="bench"),
                    max_reads=max(reads, 1),
                )
                seconds = time.perf_counter() - began
            bundle = bundle_zip(work / "exports", record.export_id)
            began = time.perf_counter()
            result = verify_bundle(bundle, key.public_key())
            verify_s = time.perf_counter() - began
            if not result.ok:
                raise RuntimeError(f"the bench's own bundle does not verify: {result.problems[:3]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "reads": record.reads,
        "seconds": round(seconds, 2),
        "bytes": record.bytes,
        "files": record.files,
        "reads_per_s": round(record.reads / seconds, 1) if seconds else None,
        "target_s": TARGET_S if reads >= 10_000 else None,
        "verify_s": round(verify_s, 2),
        "zip_bytes": record.bundle_bytes,
        "crop_kb": crop_kb,
        "overview_kb": overview_kb,
    }
