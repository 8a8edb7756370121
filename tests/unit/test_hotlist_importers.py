"""Every importer on its sample file: good lines become entries, bad ones problems with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from platewatch.engine.hotlist.importers import ImportedEntry, ImportProblem, create_importer
from platewatch.engine.hotlist.importers.factory import detect_table

DATA = Path(__file__).resolve().parents[1] / "data" / "hotlist"


def run(fmt: str, name: str, **kw: str) -> tuple[list[ImportedEntry], list[ImportProblem], list[str]]:
    path = DATA / name
    importer = create_importer(fmt, path, source=kw.pop("source", ""), added_by="test", **kw)
    with path.open(encoding="utf-8", newline="") as handle:
        items = list(importer.parse(handle))
    entries = [i for i in items if isinstance(i, ImportedEntry)]
    problems = [i for i in items if isinstance(i, ImportProblem)]
    return entries, problems, importer.notes


def test_ncic_csv() -> None:
    entries, problems, notes = run("ncic-csv", "ncic.csv")
    by_plate = {e.plate: e for e in entries}
    assert set(by_plate) == {"7ABC123", "8XYZ999", "6AMB001", "5SEX000"}
    stolen = by_plate["7ABC123"]
    assert stolen.fields == {
        "reason": "stolen vehicle",
        "state": "CA",
        "case": "24-1187",
        "ref": "NIC V123456789",
        "source": "NCIC CA0194200",
        "vehicle": "BLK 2019 HOND CIV",
        "added_by": "test",
    }
    assert stolen.expires_at is not None
    assert by_plate["8XYZ999"].fields["reason"] == "stolen plate"  # dashes dropped from the plate
    assert by_plate["5SEX000"].fields["reason"] == "NCIC record: verify by NIC"  # no offender status stored
    # names and remarks are never stored, and the admin is told so
    assert all("DOE" not in v and "burglary" not in v for e in entries for v in e.fields.values())
    assert notes == ["columns not stored (entries hold only reason and references): NAM, MIS"]
    assert sorted((p.line, p.message.split(" ")[0]) for p in problems) == [
        (6, "no"),
        (7, "plate"),
        (8, "date"),
        (9, "3"),
    ]


def test_ca_doj_svs() -> None:
    entries, problems, notes = run("ca-doj", "svs.tbl")
    assert [(e.plate, e.fields["state"], e.fields["ref"]) for e in entries] == [
        ("ABC123", "CA", "SVS county 01 date 20260627"),
        ("7ABC123", "CA", "SVS county 19 date 20261101"),
        ("8B4567", "NV", "SVS county 01 date 20261015"),
        ("6TRK901", "CA", "SVS county 07"),
    ]
    assert {e.fields["reason"] for e in entries} == {"stolen vehicle"}
    assert {e.fields["source"] for e in entries} == {"CA DOJ SVS"}
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [(5, "line"), (6, "plate"), (7, "date")]
    assert notes == []


def test_ca_doj_table_from_the_file_name_and_footer_check() -> None:
    assert detect_table(Path("sfr_20261127.tbl")) == "sfr"
    assert detect_table(Path("hotlist.txt")) is None
    entries, problems, notes = run("ca-doj", "sfr_20261127.tbl")
    assert [(e.plate, e.fields["reason"]) for e in entries] == [
        ("4FEL321", "felony vehicle"),
        ("9ZZZ001", "felony vehicle"),
    ]
    assert not problems
    assert notes == ["footer says 3 records, the file has 2: the file may be incomplete"]


def test_unknown_format_or_table_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        create_importer("xml")
    with pytest.raises(ValueError, match="which CA DOJ table"):
        create_importer("ca-doj", Path("feed.txt"))
