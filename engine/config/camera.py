"""A camera's definition: one model for the `cameras:` list of the settings, the cameras that
`platewatch camera add` stores in the database, and the messages on pw.cameras.

They are one thing seen from three places, so they are one model with one set of rules: a
definition that the YAML file would refuse cannot come in through the command line or the topic.
It lives in configuration rather than in `platewatch.codecs` because the settings hold a list of
them and its fields take the configuration's choices (region, direction, transport); the
pw.cameras codec (`platewatch.codecs.cameras`) sits above configuration and imports it.
Credentials stay as `${ENV}` references in every one of the three places.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from platewatch.engine.redaction import redact_url

from .base import Section, check_name
from .choices import Direction, Region, RtspTransport


class SourceKind(StrEnum):
    """Which kind of source reads a camera URL, decided by its scheme."""

    RTSP = "rtsp"
    WHEP = "whep"
    MJPEG = "mjpeg"
    FILE = "file"


class CameraUrlError(ValueError):
    """A camera URL that no source can read, or that names a missing environment variable."""


def source_kind(url: str) -> SourceKind:
    scheme = urlsplit(url).scheme.lower()
    if scheme in {"rtsp", "rtsps"}:
        return SourceKind.RTSP
    if scheme in {"whep+http", "whep+https", "whep"}:
        return SourceKind.WHEP
    if scheme in {"http", "https"}:
        return SourceKind.MJPEG
    if scheme in {"file", ""}:
        return SourceKind.FILE
    raise CameraUrlError(
        f"unsupported camera URL scheme {scheme!r}: use rtsp://, whep+http(s)://, http(s)://, file://"
    )


class CameraSpec(Section):
    """One fixed-site camera: everything a worker needs to capture it."""

    id: str = Field(title="Camera id (stable; used as the Kafka key)")
    url: str = Field(title="Stream URL: rtsp://, whep+http(s)://, http(s):// MJPEG, or file path")
    name: str = Field("", title="Human-readable location")
    fps: float = Field(10.0, gt=0, le=60, title="Frames per second sampled for recognition")
    region: Region | None = Field(None, title="Plate region hint (empty: vision.region)")
    enabled: bool = Field(True, title="Whether the camera is captured")
    roi: tuple[tuple[float, float], ...] | None = Field(
        None, title="Region of interest polygon, as fractions of the frame (0..1); empty: the whole frame"
    )
    motion_gate: bool = Field(False, title="Skip frames in which nothing moves")
    rtsp_transport: RtspTransport = Field("tcp", title="RTSP transport")
    stall_timeout_s: float = Field(10.0, gt=0, title="Seconds without a frame before reconnecting")
    direction: Direction = Field("any", title="Direction of travel; passes going the other way are ignored")
    bearer_token: str | None = Field(
        None, title="WHEP bearer token; write ${ENV} to keep it out of the file (never logged)"
    )
    latitude: float | None = Field(None, ge=-90, le=90, title="Where it stands: latitude (WGS 84, degrees)")
    longitude: float | None = Field(
        None, ge=-180, le=180, title="Where it stands: longitude (WGS 84, degrees)"
    )
    address: str = Field("", max_length=200, title="Street address or description of the site")
    heading: float | None = Field(
        None, ge=0, le=360, title="Which way it looks: compass degrees, 0 north, 90 east"
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return check_name(value, "camera id")

    @field_validator("url")
    @classmethod
    def _readable_url(cls, value: str) -> str:
        source_kind(value)
        return value

    @field_validator("roi")
    @classmethod
    def _roi_in_frame(
        cls, value: tuple[tuple[float, float], ...] | None
    ) -> tuple[tuple[float, float], ...] | None:
        if value is not None:
            if len(value) < 3:
                raise ValueError("a region of interest needs at least 3 points")
            if any(not (0.0 <= c <= 1.0) for point in value for c in point):
                raise ValueError("region of interest points are fractions of the frame, 0..1")
        return value

    @model_validator(mode="after")
    def _whole_position(self) -> CameraSpec:
        # Half a position would put the camera on the equator or the prime meridian in an area search.
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self

    def public(self) -> dict[str, Any]:
        """For display: the URL with its password replaced and no token."""
        return {
            **self.model_dump(),
            "url": redact_url(self.url),
            "bearer_token": "***" if self.bearer_token else None,
        }
