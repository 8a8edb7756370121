"""Webhook destinations: CAD and other systems that receive alerts (docs/dispatch.md).

California Civil Code 1798.90.55(b) lets ALPR data go to public agencies only, and policy 462.6
wants every release approved in writing and kept on file: so each destination says whose it is,
and one that is not the department's own must name the agency and the approval that covers it.
A destination the policy would refuse cannot be configured.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import Section, check_name


class Recipient(StrEnum):
    DEPARTMENT = "department"  # the department's own system (its CAD)
    PUBLIC_AGENCY = "public_agency"  # another public agency, under an approved sharing request


class WebhookEvent(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    VERIFIED = "verified"
    FALSE_HIT = "false_hit"
    EXPIRED = "expired"
    DISPOSITION = "disposition"


class WebhookConfig(Section):
    """One destination; its deliveries are signed per the Standard Webhooks specification."""

    name: str = Field(title="Destination name (in the access log, metrics and the dead-letter list)")
    url: str = Field(title="https:// (or http:// on a private network) address that receives POSTs")
    secret: SecretStr = Field(
        title="Signing secret, whsec_<base64> (Standard Webhooks); write ${ENV} to keep it out of files"
    )
    recipient: Recipient = Field(title="department (its own CAD) or public_agency (Civil Code 1798.90.55(b))")
    agency: str = Field("", title="The receiving agency's name (required for a public agency)")
    approval: str = Field(
        "", title="The approved data-sharing request that covers this feed (required for a public agency)"
    )
    events: list[WebhookEvent] = Field(
        default_factory=lambda: [WebhookEvent.RAISED, WebhookEvent.VERIFIED, WebhookEvent.FALSE_HIT],
        title="Which alert events are sent",
    )
    include_possible: bool = Field(
        False, title="Also send 'possible match' alerts (off: those wait for a dispatcher's look)"
    )
    max_attempts: int = Field(
        12, ge=1, le=50, title="Attempts before a delivery is dead-lettered (12: about 10-20 minutes)"
    )
    timeout_s: float = Field(5.0, gt=0, le=60, title="Seconds one attempt may take")
    backoff_s: float = Field(1.0, gt=0, le=600, title="First retry delay; doubles each attempt, with jitter")
    backoff_max_s: float = Field(300.0, gt=0, le=86400, title="Longest delay between attempts")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value, "webhook name")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("a webhook URL is http:// or https:// with a host")
        return value

    @model_validator(mode="after")
    def _lawful_recipient(self) -> Self:
        if self.recipient is Recipient.PUBLIC_AGENCY and not (self.agency.strip() and self.approval.strip()):
            raise ValueError(
                "a public agency's webhook needs `agency` and `approval` (the approved sharing request "
                "on file, policy 462.6)"
            )
        return self
