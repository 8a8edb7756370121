"""What `platewatch doctor` reports about each service: reachable, what it is, and what to watch out for.

Probes never raise for an unreachable service: the doctor lists every problem at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ..redaction import redact_url
from .broker import EMBEDDED_BROKER_WARNING, check_broker, tansu_binary, tansu_version
from .endpoints import Endpoints, Origin
from .errors import ServiceError, ServiceUnavailable
from .postgres import TimescaleState, check_database
from .redis_server import check_redis

CONFIGURED_TANSU_WARNING = (
    "this broker is tansu: Faust runs with producer_max_batch_size=1 against it (its end-offset defect); "
    "if it uses memory storage, a broker restart loses every topic"
)


@dataclass(frozen=True)
class Probe:
    """One service as the doctor sees it; `url` has its password removed."""

    service: str
    url: str
    origin: Origin
    reachable: bool
    version: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    timescaledb: TimescaleState | None = None  # database only: installed here, available, or unavailable


def probe_broker(url: str, origin: Origin = "configured", *, timeout_s: float = 3.0) -> Probe:
    try:
        info = check_broker(url, timeout_s)
    except ServiceUnavailable as exc:
        return Probe("broker", redact_url(url), origin, reachable=False, error=exc.reason)
    version = info.description
    warnings: tuple[str, ...] = ()
    if origin == "embedded":
        warnings = (EMBEDDED_BROKER_WARNING,)
        with contextlib.suppress(ServiceError):
            version = tansu_version(tansu_binary())
    elif info.is_tansu:
        warnings = (CONFIGURED_TANSU_WARNING,)
    return Probe("broker", redact_url(url), origin, reachable=True, version=version, warnings=warnings)


def probe_redis(url: str, origin: Origin = "configured", *, timeout_s: float = 3.0) -> Probe:
    try:
        info = check_redis(url, timeout_s)
    except ServiceUnavailable as exc:
        return Probe("redis", redact_url(url), origin, reachable=False, error=exc.reason)
    return Probe("redis", redact_url(url), origin, reachable=True, version=f"Redis {info.version}")


def probe_database(url: str, origin: Origin = "configured", *, timeout_s: float = 3.0) -> Probe:
    try:
        info = check_database(url, timeout_s)
    except ServiceUnavailable as exc:
        return Probe("database", redact_url(url), origin, reachable=False, error=exc.reason)
    version = info.version
    if info.timescaledb_version:
        version += f", timescaledb {info.timescaledb_version} ({info.timescaledb})"
    return Probe(
        "database", redact_url(url), origin, reachable=True, version=version, timescaledb=info.timescaledb
    )


def probe_all(endpoints: Endpoints, *, timeout_s: float = 3.0) -> list[Probe]:
    """A probe of each service in use (those `Services(need=...)` left out are skipped)."""
    probes = []
    if endpoints.broker_origin is not None:
        probes.append(probe_broker(endpoints.broker_url, endpoints.broker_origin, timeout_s=timeout_s))
    if endpoints.redis_origin is not None:
        probes.append(probe_redis(endpoints.redis_url, endpoints.redis_origin, timeout_s=timeout_s))
    if endpoints.database_origin is not None:
        probes.append(probe_database(endpoints.database_url, endpoints.database_origin, timeout_s=timeout_s))
    return probes
