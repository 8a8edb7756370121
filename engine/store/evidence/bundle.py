"""Writing one evidence bundle: the reads, their images, checksums, the manifest and its signature.

Layout (every path relative to the bundle's folder, `/`-separated):

    README.txt                 what this is and how to check it
    reads.csv, reads.json      the reads (JSON also has per-character confidences and candidates)
    images/<read_id>-crop.jpg, images/<read_id>-overview.jpg
    SHA256SUMS                 `sha256sum -c` form, for a check with nothing but coreutils
    manifest.json              who, when, why, case, booking, version, read ids, every file's SHA-256
    manifest.sig               Ed25519 signature (64 raw bytes) over manifest.json's exact bytes

The signature covers the manifest's bytes as written, so no canonical JSON form is needed to check
it: `openssl pkeyutl -verify -pubin -inkey dept.pem -rawin -in manifest.json -sigfile manifest.sig`
does it without platewatch. The server's copy is private to its owner (files 0600, folders 0700):
plate images are personal data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from platewatch.engine import __version__

from ..images import CROP, OVERVIEW
from .keys import key_id

FORMAT = "platewatch-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
#: The files that describe the others; every other file is listed in the manifest.
CONTROL_FILES = (MANIFEST, SIGNATURE)
CSV_COLUMNS = (
    "read_id",
    "time_utc",
    "camera_id",
    "plate",
    "plate_norm",
    "confidence",
    "region",
    "box",
    "track_length",
    "provisional",
    "pass_id",
    "plateless",
    "state",
    "colour",
    "colour_confidence",
    "direction",
    "heading",
    "received_at_utc",
    "crop",
    "overview",
)
#: Threads fetching images and writing them into a bundle.
IO_THREADS = 4
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_STORED = (".jpg", ".sig")  # already compressed, or tiny
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

ImageGetter = Callable[[str, str], bytes | None]


@dataclass(frozen=True)
class BundleMeta:
    """Who made the bundle, when and why: copied into the manifest as is."""

    export_id: str
    exported_at: datetime
    username: str
    display_name: str
    organisation: str
    purpose: str
    case_number: str
    booking_number: str
    hold_id: int | None = None


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    manifest_sha256: str
    files: int  # every file, the manifest and its signature included
    bytes: int
    key_id: str
    read_ids: tuple[str, ...]


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (plates are plain, camera ids need not be)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _real(value: float) -> float:
    """A `real` column as the value it was stored as (float32), not its float64 widening's digits."""
    return round(float(value), 6)


class _Writer:
    """Writes the bundle's files (into a folder, or into one zip under `top/`) and remembers each
    one's SHA-256 and size. `write` may be called from several threads: hashing runs in each, a
    zip entry is appended under a lock, a folder made twice at once is made once."""

    def __init__(self, target: Path, top: str | None, when: datetime) -> None:
        self.root = target
        t = when.astimezone(UTC)
        self._stamp = (t.year, t.month, t.day, t.hour, t.minute, t.second)
        self.entries: dict[str, tuple[str, int]] = {}
        self._dirs: set[Path] = set()
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._top = top
        if top is None:
            target.mkdir(mode=_DIR_MODE)
        else:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            self._zip = zipfile.ZipFile(os.fdopen(fd, "wb"), "w", allowZip64=True)

    def write(self, rel: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self._zip is not None:
            info = zipfile.ZipInfo(f"{self._top}/{rel}", date_time=self._stamp)
            info.external_attr = (0o100000 | _FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_STORED if rel.endswith(_STORED) else zipfile.ZIP_DEFLATED
            with self._lock:
                self._zip.writestr(info, data)
        else:
            self._file(rel, data)
        self.entries[rel] = (digest, len(data))
        return digest

    def _file(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        if path.parent not in self._dirs:
            for d in reversed([path.parent, *path.parent.parents]):
                if d.is_relative_to(self.root) and d not in self._dirs:
                    d.mkdir(mode=_DIR_MODE, exist_ok=True)
                    self._dirs.add(d)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def close(self) -> None:
        if self._zip is not None:
            fp = self._zip.fp
            self._zip.close()
            if fp is not None:
                fp.close()


def _read_record(row: Mapping[str, Any], images: dict[str, str]) -> dict[str, Any]:
    return {
        "read_id": str(row["read_id"]),
        "time_utc": _utc(row["time"]),
        "camera_id": row["camera_id"],
        "plate": row["plate"],
        "plate_norm": row["plate_norm"],
        "confidence": _real(row["confidence"]),
        "region": row["region"],
        "box": list(row["box"]),
        "char_confidences": [_real(c) for c in row.get("char_confidences") or ()],
        "candidates": row.get("candidates") or [],
        "track_length": row["track_length"],
        "provisional": row["provisional"],
        "pass_id": row["pass_id"],
        # What the read said of the vehicle and the plate's state, NULL where it said nothing;
        # the body type is withheld everywhere (it measures unreliable), so it is not exported.
        "plateless": bool(row.get("plateless")),
        "state": row.get("state"),
        "colour": row.get("colour"),
        "colour_confidence": _real(row["colour_confidence"])
        if row.get("colour_confidence") is not None
        else None,
        "direction": row.get("direction"),
        "heading": _real(row["heading"]) if row.get("heading") is not None else None,
        "received_at_utc": _utc(row["received_at"]),
        "images": images,
    }


def _csv(records: Sequence[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")  # RFC 4180
    out.writerow(CSV_COLUMNS)
    for r in records:
        flat = {
            **r,
            "box": " ".join(str(v) for v in r["box"]),
            "provisional": "true" if r["provisional"] else "false",
            "plateless": "true" if r["plateless"] else "false",
            "crop": r["images"].get("crop", ""),
            "overview": r["images"].get("overview", ""),
        }
        out.writerow([_cell(flat[c]) for c in CSV_COLUMNS])
    return buf.getvalue().encode("utf-8")


def _readme(meta: BundleMeta, reads: int, kid: str) -> bytes:
    return (
        f"platewatch evidence bundle {meta.export_id}\n"
        f"case {meta.case_number}, evidence booking {meta.booking_number}\n"
        f"exported {_utc(meta.exported_at)} by {meta.display_name} ({meta.username}, {meta.organisation})\n"
        f"purpose: {meta.purpose}\n"
        f"{reads} licence plate reads: reads.csv and reads.json, images under images/.\n"
        "\n"
        "manifest.json names every file with its SHA-256; manifest.sig is the department's Ed25519\n"
        f"signature over manifest.json (key {kid}).\n"
        "Check it with the department's public key, obtained from the department, never from this\n"
        "bundle:\n"
        "    platewatch export verify <this folder or zip> --public-key department.pem\n"
        "or without platewatch:\n"
        "    openssl pkeyutl -verify -pubin -inkey department.pem -rawin -in manifest.json"
        " -sigfile manifest.sig\n"
        "    sha256sum SHA256SUMS    (must equal its entry in manifest.json)\n"
        "    sha256sum -c SHA256SUMS\n"
    ).encode()


def write_bundle(
    target: Path,
    reads: Sequence[Mapping[str, Any]],
    image_of: ImageGetter,
    meta: BundleMeta,
    key: Ed25519PrivateKey,
    *,
    zip_top: str | None = None,
) -> BuiltBundle:
    """Write the bundle into the new folder `target`, or with `zip_top` as the new zip file `target`
    holding it under `zip_top/`, and sign it. Neither may exist yet.

    `reads` are rows shaped like `evidence_reads`; `image_of(image_key, name)` fetches an image.
    """
    w = _Writer(target, zip_top, meta.exported_at)
    try:
        return _write(w, reads, image_of, meta, key)
    finally:
        w.close()


def _write(
    w: _Writer,
    reads: Sequence[Mapping[str, Any]],
    image_of: ImageGetter,
    meta: BundleMeta,
    key: Ed25519PrivateKey,
) -> BuiltBundle:

    def images_of(row: Mapping[str, Any]) -> dict[str, str]:
        paths: dict[str, str] = {}
        if row.get("image_key"):
            for kind, name in (("crop", CROP), ("overview", OVERVIEW)):
                data = image_of(row["image_key"], name)
                if data is not None:
                    paths[kind] = f"images/{row['read_id']!s}-{kind}.jpg"
                    w.write(paths[kind], data)
        return paths

    # Thousands of small files: the time is in system calls, which threads overlap.
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        found = list(pool.map(images_of, reads))
    records = [_read_record(row, paths) for row, paths in zip(reads, found, strict=True)]
    kid = key_id(key.public_key())
    w.write("reads.csv", _csv(records))
    body = {
        "export_id": meta.export_id,
        "case_number": meta.case_number,
        "booking_number": meta.booking_number,
        "reads": records,
    }
    w.write("reads.json", json.dumps(body, indent=1, ensure_ascii=False).encode() + b"\n")
    w.write("README.txt", _readme(meta, len(records), kid))
    sums = "".join(f"{digest}  {rel}\n" for rel, (digest, _n) in sorted(w.entries.items()))
    w.write(SUMS, sums.encode())
    read_ids = tuple(r["read_id"] for r in records)
    manifest = {
        "format": FORMAT,
        "export_id": meta.export_id,
        "platewatch_version": __version__,
        "exported_at": _utc(meta.exported_at),
        "exported_by": {
            "username": meta.username,
            "name": meta.display_name,
            "organisation": meta.organisation,
        },
        "purpose": meta.purpose,
        "case_number": meta.case_number,
        "booking_number": meta.booking_number,
        "hold_id": meta.hold_id,
        "read_ids": list(read_ids),
        "signature": {"algorithm": "Ed25519", "key_id": kid, "file": SIGNATURE},
        "files": [
            {"path": rel, "sha256": digest, "bytes": size}
            for rel, (digest, size) in sorted(w.entries.items())
        ],
    }
    data = json.dumps(manifest, indent=1, ensure_ascii=False).encode() + b"\n"
    manifest_sha = w.write(MANIFEST, data)
    w.write(SIGNATURE, key.sign(data))
    return BuiltBundle(
        path=w.root,
        manifest_sha256=manifest_sha,
        files=len(w.entries),
        bytes=sum(size for _d, size in w.entries.values()),
        key_id=kid,
        read_ids=read_ids,
    )
