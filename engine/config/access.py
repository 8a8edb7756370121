"""The `access` section: accounts, second factor, sessions, training, purposes and the access log.

Policy 462.2(a)(b)(d)(e), 462.4(a)(b) and Civil Code § 1798.90.52 decide most defaults here; a
site may tighten them, and where the policy sets a floor (how long the access log is kept) the
validator refuses anything below it rather than quietly raising it.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import Section

#: The purpose under which a dispatcher works a live alert; it names an alert instead of a case.
ALERT_VERIFICATION = "alert verification"
POLICY_MIN_ACCESS_LOG_DAYS = 365


class AccessConfig(Section):
    """Who may log in, how, for how long, and what every query must state (policy 462.2, 462.4)."""

    lockout_after: int = Field(
        5, ge=1, le=100, title="Failed logins in a row that lock an account (the lockout is logged)"
    )
    lockout_minutes: float = Field(
        30.0, ge=0, title="How long a lockout lasts (0: until an admin enables the account again)"
    )
    disable_unused_days: int = Field(
        90, ge=0, title="Accounts without a login for this many days are disabled (0: never)"
    )
    mfa_required: bool = Field(
        True,
        title="Whether roles that reach read data (supervisor, dispatcher, investigator) must use a "
        "TOTP second factor (CJIS-style advanced authentication)",
    )
    totp_secret_key: SecretStr | None = Field(
        None,
        title="Fernet key encrypting TOTP secrets at rest (urlsafe base64 of 32 bytes); "
        "null: a key generated once in <data_dir>/secrets/totp.key, mode 0600",
    )
    session_idle_minutes: float = Field(30.0, gt=0, title="A session unused this long ends")
    session_max_hours: float = Field(12.0, gt=0, title="A browser session ends this long after login")
    bearer_max_minutes: float = Field(
        60.0, gt=0, title="An API client's bearer token ends this long after login"
    )
    login_attempts_per_user: int = Field(
        10, ge=1, title="Login attempts one username may make per login_window_s (per API instance)"
    )
    login_attempts_per_address: int = Field(
        30, ge=1, title="Login attempts one client address may make per login_window_s (per API instance)"
    )
    login_window_s: float = Field(60.0, gt=0, title="Sliding window of the login rate limits")
    training_courses: list[str] = Field(
        default_factory=lambda: ["ALPR operation and data access"],
        min_length=1,
        title="Department-approved courses every user must have current (policy 462.2(d), 462.7)",
    )
    training_valid_days: int = Field(
        365, ge=1, title="How long a training record is current when no expiry is given"
    )
    training_warn_days: int = Field(30, ge=0, title="Supervisors are shown training that lapses this soon")
    purposes: list[str] = Field(
        default_factory=lambda: [
            "criminal investigation",
            "routine patrol",
            "crime scene canvass",
            ALERT_VERIFICATION,
            "civil or administrative action",
        ],
        min_length=1,
        title="Purposes a query may state (policy 462.2(a)(b), 462.4(b)); "
        f"'{ALERT_VERIFICATION}' names an alert id instead of a case number",
    )
    case_number_pattern: str = Field(
        r"^(?:[A-Z]{1,4}-?)?\d{2,4}-\d{3,8}$",
        title="Regular expression a case/incident number must match in full",
    )
    case_number_example: str = Field(
        "24-001234", title="A valid case number, shown to users who type an invalid one"
    )
    log_retention_days: int | None = Field(
        None,
        title="Days access-log rows are kept; never shorter than retention.days, the reads they "
        "describe (null: as long as retention.days)",
    )
    anchor_file: Path | None = Field(
        None,
        title="Append-only file the access-log chain head is written to, outside the database "
        "(null: <data_dir>/audit-anchors.jsonl)",
    )
    anchor_interval_minutes: float = Field(
        60.0, gt=0, le=60, title="How often the chain head is anchored (at least hourly)"
    )

    @field_validator("totp_secret_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                raw = base64.urlsafe_b64decode(value.get_secret_value().encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "must be a Fernet key, urlsafe base64 of 32 random bytes: python -c "
                    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
                )
        return value

    @field_validator("training_courses", "purposes")
    @classmethod
    def _distinct_names(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("names must not be empty")
        if len({v.casefold() for v in cleaned}) != len(cleaned):
            raise ValueError("each name must be listed once")
        return cleaned

    @field_validator("log_retention_days")
    @classmethod
    def _log_minimum(cls, value: int | None) -> int | None:
        if value is not None and value < POLICY_MIN_ACCESS_LOG_DAYS:
            raise ValueError(
                f"must be at least {POLICY_MIN_ACCESS_LOG_DAYS} days: the access log is kept at least as "
                "long as the reads it describes (policy 462.3, 462.4(a))"
            )
        return value

    @model_validator(mode="after")
    def _case_number_rule(self) -> AccessConfig:
        try:
            pattern = re.compile(self.case_number_pattern)
        except re.error as exc:
            raise ValueError(f"case_number_pattern is not a valid regular expression: {exc}") from None
        if not pattern.fullmatch(self.case_number_example):
            raise ValueError(
                f"case_number_example {self.case_number_example!r} does not match case_number_pattern"
            )
        return self


def access_log_days(access: AccessConfig, retention_days: int) -> int:
    """Days access-log rows are kept, given retention.days."""
    return retention_days if access.log_retention_days is None else access.log_retention_days


def check_log_retention(access: AccessConfig, retention_days: int) -> None:
    """The access log describes reads, so it may not be purged before them (Civil Code § 1798.90.52)."""
    if access.log_retention_days is not None and access.log_retention_days < retention_days:
        raise ValueError(
            f"access.log_retention_days ({access.log_retention_days}) must be at least retention.days "
            f"({retention_days}): the access log is kept at least as long as the reads it describes"
        )
