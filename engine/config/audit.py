"""The `audit` section: how often the access log is audited and what counts as unusual (policy 462.4(c)).

The policy asks for audits "on a regular basis" and leaves the rest to the department; these
defaults are a starting point a site tightens. Working hours and the time zone decide what is out
of hours, so a department on 24-hour shifts narrows `working_days`/`working_hours` to the people it
watches, or widens them to all day and relies on the bulk threshold instead.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
AuditPeriod = Literal["weekly", "monthly", "quarterly"]


def clock_minutes(value: str) -> int:
    """Minutes after midnight of an `HH:MM` clock time."""
    m = _CLOCK.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a clock time HH:MM (00:00-23:59)")
    return int(m[1]) * 60 + int(m[2])


class AuditConfig(Section):
    """Scheduled audits of the access log, the review sample, and what notifies supervisors."""

    period: AuditPeriod = Field(
        "monthly", title="How often an audit is due: weekly, monthly or quarterly (calendar periods)"
    )
    signoff_days: int = Field(
        15, ge=1, le=365, title="Days after a period ends by which its audit is signed off (then overdue)"
    )
    sample_size: int = Field(
        25, ge=0, le=10_000, title="Searches drawn at random from each period for a supervisor to review"
    )
    bulk_results: int = Field(
        500, ge=1, title="A request that returned more rows than this is a bulk result (reported, notified)"
    )
    timezone: str = Field("America/Los_Angeles", title="Time zone of the working hours and audit periods")
    working_days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5],
        title="ISO weekdays (1 Monday .. 7 Sunday) that count as working days",
    )
    working_hours: tuple[str, str] = Field(
        ("07:00", "19:00"),
        title="Start and end (HH:MM, local) of working hours; outside them is out of hours",
    )
    out_of_hours_spike: int = Field(
        20, ge=1, title="Out-of-hours requests by one user within an hour that notify supervisors"
    )
    scan_minutes: float = Field(
        5.0, gt=0, le=60, title="How often the worker scans new access-log rows for unusual access"
    )
    search_actions: list[str] = Field(
        default_factory=lambda: ["reads.search"],
        min_length=1,
        title="Access-log actions that are history searches (sampled, counted per user)",
    )
    share_actions: list[str] = Field(
        default_factory=lambda: ["sharing.release"],
        title="Access-log actions that release data to another agency (counted as shares)",
    )
    report_dir: Path | None = Field(
        None, title="Where scheduled audit reports are written (null: <data_dir>/audits)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Los_Angeles)") from None
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in value) or len(set(value)) != len(value):
            raise ValueError("working days are distinct ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return sorted(value)

    @model_validator(mode="after")
    def _hours(self) -> AuditConfig:
        start, end = (clock_minutes(t) for t in self.working_hours)
        if start >= end:
            raise ValueError("working_hours: the start must be before the end (same day)")
        return self

    @property
    def working_minutes(self) -> tuple[int, int]:
        start, end = self.working_hours
        return clock_minutes(start), clock_minutes(end)

    def reports_in(self, data_dir: Path) -> Path:
        return self.report_dir if self.report_dir is not None else data_dir / "audits"
