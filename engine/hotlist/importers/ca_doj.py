"""California DOJ fixed-width hotlist tables (`svs`, `sfr`, `slr`), as sent to ALPR systems.

    DATE07/02/2018 09:00            header: when the table was cut
    ABC123  CA0120180627            plate 0-8, state 8-10, county code 10-12, date 12-20 (YYYYMMDD)
    TOTAL RECORD 0000072            footer: number of records, checked

The table says what kind of record it is, so it sets the reason; the county and date form the
reference an officer quotes when verifying through CLETS (policy 462.2(f)).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import ClassVar

from .base import Importer, ImportProblem, Item

TABLES = {
    "svs": "stolen vehicle",
    "sfr": "felony vehicle",
    "slr": "stolen plate",
}
_FOOTER = re.compile(r"^TOTAL RECORD\s+(\d+)\s*$")
_DATE = re.compile(r"^\d{8}$")


class CaDojImporter(Importer):
    name: ClassVar[str] = "ca-doj"
    description: ClassVar[str] = "California DOJ fixed-width tables svs / sfr / slr"

    def __init__(self, table: str, source: str = "", added_by: str = "", added_at: str = "") -> None:
        if table not in TABLES:
            raise ValueError(f"unknown CA DOJ table {table!r}; choose from {', '.join(TABLES)}")
        super().__init__(source or f"CA DOJ {table.upper()}", added_by, added_at)
        self.table = table

    def parse(self, lines: Iterable[str]) -> Iterator[Item]:
        records = 0
        footer: int | None = None
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if number == 1 and line.startswith("DATE"):
                continue
            match = _FOOTER.match(line)
            if match:
                footer = int(match.group(1))
                continue
            if footer is not None:
                yield ImportProblem(number, "data after the TOTAL RECORD footer", line)
                continue
            records += 1
            if len(line) < 12:
                yield ImportProblem(number, f"line of {len(line)} characters; records are at least 12", line)
                continue
            plate, state, county, date = line[0:8], line[8:10].strip(), line[10:12], line[12:20].strip()
            if date and not _DATE.match(date):
                yield ImportProblem(number, f"date {date!r} is not YYYYMMDD", line)
                continue
            if plate.strip() and any(not (c.isalnum() or c in " -") for c in plate.strip()):
                yield ImportProblem(
                    number, f"plate {plate.strip()!r} has characters other than A-Z 0-9", line
                )
                continue
            ref = f"{self.table.upper()} county {county.strip() or '?'}" + (f" date {date}" if date else "")
            fields = {"reason": TABLES[self.table], "state": state.upper(), "ref": ref}
            yield self.entry(number, plate, fields, None, line)
        if footer is None:
            self.notes.append("no TOTAL RECORD footer: the file may be cut short")
        elif footer != records:
            self.notes.append(
                f"footer says {footer} records, the file has {records}: the file may be incomplete"
            )
