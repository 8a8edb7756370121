"""Roles, and which of them reach read data (policy 462.2(d)(e), 462.4(a))."""

from __future__ import annotations

from enum import StrEnum

from .errors import PolicyError


class Role(StrEnum):
    ADMIN = "admin"  # users, cameras, settings; no read data by this role alone
    SUPERVISOR = "supervisor"  # training, approvals, audit samples; investigator rights
    DISPATCHER = "dispatcher"  # live alerts, their reads and images
    INVESTIGATOR = "investigator"  # history search, reads, images, holds, exports
    AUDITOR = "auditor"  # the access log and reports


#: Roles that see plates, reads or images: granting one takes a supervisor's approval, and holding
#: one needs a second factor (when configured) and current training.
READ_DATA_ROLES = frozenset({Role.SUPERVISOR, Role.DISPATCHER, Role.INVESTIGATOR})


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise PolicyError(f"{value!r} is not a role; the roles are {names}") from None
