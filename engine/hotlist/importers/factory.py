"""Choosing the importer for a feed: by `--format`, and for CA DOJ the table by `--table` or file name."""

from __future__ import annotations

from pathlib import Path

from .base import Importer
from .ca_doj import TABLES, CaDojImporter
from .ncic_csv import NcicCsvImporter

FORMATS: dict[str, str] = {
    NcicCsvImporter.name: NcicCsvImporter.description,
    CaDojImporter.name: CaDojImporter.description,
}


def detect_table(path: Path) -> str | None:
    """`svs.tbl`, `CA_SFR_20260101.txt` → the table named in the file name, if exactly one is."""
    stem = path.name.lower()
    found = [t for t in TABLES if t in stem]
    return found[0] if len(found) == 1 else None


def create_importer(
    fmt: str,
    path: Path | None = None,
    *,
    table: str | None = None,
    source: str = "",
    added_by: str = "",
    added_at: str = "",
) -> Importer:
    if fmt == NcicCsvImporter.name:
        return NcicCsvImporter(source, added_by, added_at)
    if fmt == CaDojImporter.name:
        chosen = table or (detect_table(path) if path else None)
        if not chosen:
            raise ValueError(f"which CA DOJ table is this? pass --table {'|'.join(TABLES)}")
        return CaDojImporter(chosen, source, added_by, added_at)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
