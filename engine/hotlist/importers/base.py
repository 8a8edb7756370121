"""The importer interface: lines of a feed in, validated entries (or problems, by line) out."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..entry import check_fields, check_text, clean_plate


@dataclass(frozen=True, slots=True)
class ImportedEntry:
    """One entry for the list being imported: a plate, its hash fields, and when it lapses (epoch s)."""

    line: int
    plate: str
    fields: dict[str, str]
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A line that was skipped, and why (shown to the admin; the import goes on)."""

    line: int
    message: str
    text: str = ""


Item = ImportedEntry | ImportProblem


class Importer(abc.ABC):
    """One feed format. Subclasses implement `parse`; `entry` validates what they build."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, source: str = "", added_by: str = "", added_at: str = "") -> None:
        self.source = source
        self.added_by = added_by
        self.added_at = added_at
        self.notes: list[str] = []  # things the admin should know that are not about one line

    @abc.abstractmethod
    def parse(self, lines: Iterable[str]) -> Iterator[Item]:
        """Yield one item per data line (headers and footers yield nothing unless they are wrong)."""

    def entry(
        self,
        line: int,
        raw_plate: str,
        fields: dict[str, str],
        expires_at: float | None = None,
        text: str = "",
    ) -> Item:
        """An ImportedEntry with the common fields, or the problem that makes the line unusable."""
        plate = clean_plate(raw_plate)
        values = {k: v.strip() for k, v in fields.items() if v and v.strip()}
        for name, value in (
            ("source", self.source),
            ("added_by", self.added_by),
            ("added_at", self.added_at),
        ):
            if value and name not in values:
                values[name] = value
        problem = check_text(plate) if plate else "no plate"
        problem = problem or check_fields(values)
        if problem:
            return ImportProblem(line, problem, text[:120])
        return ImportedEntry(line, plate, values, expires_at)
