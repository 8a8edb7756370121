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
    # decides other agencies' data-sharing requests (policy 462.6: the Administrative Services
    # Division Captain or designee); sees the plates a request names, releases nothing itself
    SHARING_APPROVER = "sharing_approver"


#: Roles that see plates, reads or images: granting one takes a supervisor's approval, and holding
#: one needs a second factor (when configured) and current training. The sharing approver is among
#: them: a request names the plates it wants, and an approval lets read data leave the department.
READ_DATA_ROLES = frozenset({Role.SUPERVISOR, Role.DISPATCHER, Role.INVESTIGATOR, Role.SHARING_APPROVER})


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise PolicyError(f"{value!r} is not a role; the roles are {names}") from None
