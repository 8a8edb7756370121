"""NCIC-style CSV: a header row of NCIC field codes, one vehicle record per row.

Columns used (others are ignored and named once in the import's notes, because the auditor wants
no criminal-history details in entries — names, dates of birth, MIS remarks stay in NCIC):

    LIC  plate (required)                    LIS  issuing state
    MKE  record type: V stolen vehicle, P stolen plate, F felony vehicle, A AMBER alert, ...
    OCA  originating agency case number      NIC  NCIC record number (the reference)
    ORI  originating agency (the source)     VMA VMO VYR VCO  make, model, year, colour
    EXP  expiry date (YYYYMMDD or YYYY-MM-DD; the entry lapses then)
    REASON  free reason, overriding MKE
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import ClassVar

from .base import Importer, ImportProblem, Item

# Vehicle files say what the vehicle is; person files only say "there is a record": the reason an
# officer sees stays neutral and the details are in NCIC under the NIC reference.
RECORD_TYPES = {
    "V": "stolen vehicle",
    "P": "stolen plate",
    "R": "stolen vehicle (Canada)",
    "F": "felony vehicle",
    "A": "AMBER alert",
    "M": "missing person",
    "W": "wanted person",
}
NEUTRAL_REASON = "NCIC record: verify by NIC"
USED = {"LIC", "LIS", "MKE", "OCA", "NIC", "ORI", "VMA", "VMO", "VYR", "VCO", "EXP", "REASON", "LIY", "LIT"}


def parse_date(text: str) -> float | None:
    """End of the given day (UTC) as epoch seconds; None for an empty value. Raises on a bad one."""
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return (day + dt.timedelta(days=1)).timestamp()
    raise ValueError(f"date {text!r} is not YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY")


class NcicCsvImporter(Importer):
    name: ClassVar[str] = "ncic-csv"
    description: ClassVar[str] = "CSV with NCIC field codes as header (LIC, LIS, MKE, OCA, NIC, ORI, EXP …)"

    def parse(self, lines: Iterable[str]) -> Iterator[Item]:
        reader = csv.reader(lines)
        try:
            header = [h.strip().upper() for h in next(reader)]
        except StopIteration:
            return
        if "LIC" not in header:
            yield ImportProblem(1, "header has no LIC column (the plate); is this an NCIC-style CSV?")
            return
        ignored = [h for h in header if h and h not in USED]
        if ignored:
            self.notes.append(
                f"columns not stored (entries hold only reason and references): {', '.join(ignored)}"
            )
        col = {h: i for i, h in enumerate(header)}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield ImportProblem(line, f"{len(row)} columns, header has {len(header)}", ",".join(row))
                continue

            def get(name: str, row: list[str] = row) -> str:
                return row[col[name]].strip() if name in col else ""

            try:
                expires = parse_date(get("EXP"))
            except ValueError as exc:
                yield ImportProblem(line, str(exc), ",".join(row))
                continue
            record = get("MKE")[:1].upper()
            reason = get("REASON") or RECORD_TYPES.get(record, NEUTRAL_REASON)
            vehicle = " ".join(x for x in (get("VCO"), get("VYR"), get("VMA"), get("VMO")) if x)
            fields = {
                "reason": reason,
                "state": get("LIS").upper(),
                "case": get("OCA"),
                "ref": f"NIC {get('NIC')}" if get("NIC") else "",
                "source": get("ORI") and f"NCIC {get('ORI')}",
                "vehicle": vehicle,
            }
            yield self.entry(line, get("LIC"), fields, expires, ",".join(row))
