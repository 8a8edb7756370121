"""What every request for read data must state (policy 462.2(a)(b)(e), 462.4(b)): a purpose and a case.

The purposes and the case/incident number format come from configuration. Work on a live alert
states the purpose "alert verification" and the alert's id instead of a case number. A refusal
names the one field that is missing or wrong (`PurposeError.field`), so the API can answer with a
4xx that tells the person exactly what to add.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from platewatch.engine.config.access import ALERT_VERIFICATION, AccessConfig

from .errors import PolicyError

Field = Literal["purpose", "case_number", "alert_id"]
_ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class PurposeError(PolicyError):
    def __init__(self, field: Field, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class StatedPurpose:
    purpose: str  # as configured (canonical spelling)
    case_number: str | None
    alert_id: str | None


def check_purpose(
    cfg: AccessConfig,
    purpose: str | None,
    case_number: str | None = None,
    alert_id: str | None = None,
) -> StatedPurpose:
    """The stated purpose, checked; raises PurposeError naming the first missing or invalid field."""
    listed = "; ".join(cfg.purposes)
    wanted = (purpose or "").strip()
    if not wanted:
        raise PurposeError("purpose", f"state the purpose of this request, one of: {listed}")
    known = {p.casefold(): p for p in cfg.purposes}
    canonical = known.get(" ".join(wanted.split()).casefold())
    if canonical is None:
        raise PurposeError("purpose", f"{wanted!r} is not a purpose this department allows; one of: {listed}")
    case = (case_number or "").strip() or None
    alert = (alert_id or "").strip() or None
    if canonical == ALERT_VERIFICATION:
        if alert is None:
            raise PurposeError("alert_id", f"'{ALERT_VERIFICATION}' needs the id of the alert being verified")
        if not _ALERT_ID.match(alert):
            raise PurposeError("alert_id", f"{alert!r} is not an alert id")
    elif case is None:
        raise PurposeError(
            "case_number",
            f"'{canonical}' needs a case or incident number (for example {cfg.case_number_example})",
        )
    if case is not None and not re.fullmatch(cfg.case_number_pattern, case):
        raise PurposeError(
            "case_number",
            f"{case!r} is not a case or incident number in this department's format "
            f"(for example {cfg.case_number_example})",
        )
    return StatedPurpose(
        purpose=canonical, case_number=case, alert_id=alert if canonical == ALERT_VERIFICATION else None
    )
