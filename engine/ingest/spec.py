"""A camera's capture settings, as carried on pw.cameras and read from configs/ and the database.

`CameraConfig` (engine/config) holds the fields every deployment sets; the capture options below
(region of interest, motion gate, transport, stall timeout, direction, WHEP token) default sensibly
until they move into the settings. Values on pw.cameras are msgpack maps of these fields; a
tombstone (empty value) removes the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import msgpack

from platewatch.codecs import CodecError

from .urls import display_url, source_kind

DIRECTIONS = ("any", "left", "right", "towards", "away")
Polygon = Sequence[tuple[float, float]]


def check_polygon(points: Polygon) -> tuple[tuple[float, float], ...]:
    pts = tuple((float(x), float(y)) for x, y in points)
    if len(pts) < 3:
        raise ValueError("a region of interest needs at least 3 points")
    if not all(0.0 <= v <= 1.0 for p in pts for v in p):
        raise ValueError("region of interest points are fractions of the frame (0..1)")
    return pts


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """Everything a worker needs to capture one camera. Credentials stay as `${ENV}` references."""

    id: str
    url: str
    name: str = ""
    fps: float = 10.0
    region: str | None = None
    enabled: bool = True
    roi: tuple[tuple[float, float], ...] | None = None
    motion_gate: bool = False
    rtsp_transport: str = "tcp"
    stall_timeout_s: float = 10.0
    direction: str = "any"
    bearer_token: str | None = None

    def __post_init__(self) -> None:
        source_kind(self.url)  # raises for an unreadable scheme
        if not 0 < self.fps <= 60:
            raise ValueError("fps must be within (0, 60]")
        if self.roi is not None:
            object.__setattr__(self, "roi", check_polygon(self.roi))
        if self.rtsp_transport not in ("tcp", "udp"):
            raise ValueError("rtsp_transport must be tcp or udp")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.stall_timeout_s <= 0:
            raise ValueError("stall_timeout_s must be positive")

    @classmethod
    def from_config(cls, config: Any, **extra: Any) -> CameraSpec:
        """From a `CameraConfig` (or anything with its attributes); unknown extras are ignored."""
        known = {f.name for f in fields(cls)}
        values = {name: getattr(config, name) for name in known if hasattr(config, name)}
        values.update({k: v for k, v in extra.items() if k in known})
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """For display: the URL with its password replaced and no token."""
        return {
            **asdict(self),
            "url": display_url(self.url),
            "bearer_token": "***" if self.bearer_token else None,
        }

    def with_(self, **changes: Any) -> CameraSpec:
        return replace(self, **changes)


def encode_spec(spec: CameraSpec) -> bytes:
    data = asdict(spec)
    data["v"] = 1
    return msgpack.packb(data, use_bin_type=True)  # type: ignore[no-any-return]


def decode_spec(data: bytes) -> CameraSpec:
    """Strict decoding: anything malformed is a `CodecError` (quarantined by the agent)."""
    try:
        obj = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise CodecError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise CodecError("camera definition must be a v1 map")
    known = {f.name for f in fields(CameraSpec)}
    values = {k: v for k, v in obj.items() if k in known}
    if values.get("roi") is not None:
        values["roi"] = tuple(tuple(p) for p in values["roi"])
    try:
        return CameraSpec(**values)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"bad camera definition: {exc}") from None
