"""The settings sections. Every field carries a description so the config documents itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import Section, check_name
from .choices import BrokerKindSetting, Device, Fuzzy, LogLevel, PrecisionSetting, Region, Thorough

POLICY_MIN_RETENTION_DAYS = 365


class ServicesConfig(Section):
    """Where the shared services are. An empty URL means: start an embedded one in the data directory."""

    broker_url: str | None = Field(
        None, title="Kafka-protocol bootstrap servers, e.g. kafka://host:9092 (empty: embedded tansu)"
    )
    redis_url: str | None = Field(
        None, title="Redis URL, e.g. redis://host:6379/0 (empty: embedded redis-server)"
    )
    database_url: str | None = Field(
        None, title="PostgreSQL/TimescaleDB URL, e.g. postgresql://user@host/db (empty: embedded PostgreSQL)"
    )
    broker_kind: BrokerKindSetting = Field(
        "auto", title="Broker implementation; tansu turns on workarounds for its defects (auto: detect)"
    )
    embedded_host: str = Field("127.0.0.1", title="Address embedded services listen on (loopback only)")
    embedded_broker_port: int = Field(19092, ge=0, le=65535, title="Embedded broker port (0: any free port)")
    embedded_redis_port: int = Field(16379, ge=0, le=65535, title="Embedded Redis port (0: any free port)")
    embedded_postgres_port: int = Field(
        15432, ge=0, le=65535, title="Embedded PostgreSQL port (0: any free port)"
    )
    start_timeout_s: float = Field(30.0, gt=0, title="How long to wait for a service to answer")

    @field_validator("embedded_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("embedded services hold unauthenticated data and listen on loopback only")
        return value


class KafkaConfig(Section):
    """Topics and consumer behaviour of the Faust app."""

    app_id: str = Field("platewatch", title="Faust application id (consumer group)")
    partitions: int = Field(
        8, ge=1, le=1024, title="Partitions of pw.* topics: the most workers that share work"
    )
    replication: int = Field(1, ge=1, le=7, title="Replication factor of pw.* topics")
    session_timeout_s: float = Field(10.0, gt=0, title="Consumer session timeout")
    rebalance_timeout_s: float = Field(10.0, gt=0, title="Consumer rebalance timeout")
    static_membership: bool = Field(
        False,
        title="On a Kafka cluster: a restarted worker takes its old place in the consumer group at once "
        "(KIP-345 group.instance.id, one per data directory slot); never on the embedded tansu, whose "
        "group never hands a restarted follower its partitions",
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, title="Largest message produced (reads carry JPEGs)"
    )
    max_frame_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, title="Largest edge frame accepted on pw.frames (bigger: quarantined)"
    )
    web_port: int = Field(6066, ge=0, le=65535, title="Faust worker web port (0: disabled)")
    fetch_max_wait_ms: int = Field(
        20,
        ge=1,
        le=1500,
        title="Longest a worker's consumer waits on the broker for new records (faust's own 1500 ms held "
        "each hop of an alert that long on the embedded broker)",
    )


class RetentionConfig(Section):
    """How long reads are kept (policy 462.3)."""

    days: int = Field(
        POLICY_MIN_RETENTION_DAYS,
        title="Days reads are kept before they are purged (policy 462.3: at least one year)",
    )

    @field_validator("days")
    @classmethod
    def _policy_minimum(cls, value: int) -> int:
        if value < POLICY_MIN_RETENTION_DAYS:
            raise ValueError(
                f"must be at least {POLICY_MIN_RETENTION_DAYS} days: policy 462.3 requires ALPR data "
                "to be kept a minimum of one year (Government Code § 34090.6)"
            )
        return value


class StoreConfig(Section):
    """Where read images go and how reads are written."""

    images: str | None = Field(
        None, title="Image store: a directory or s3://bucket/prefix?endpoint=… (empty: <data_dir>/images)"
    )
    writer_connections: int = Field(2, ge=1, le=4, title="Database connections the persist path writes on")


class VisionConfig(Section):
    """OpenVINO inference settings."""

    device: Device = Field("AUTO", title="OpenVINO device")
    cache_dir: Path | None = Field(None, title="OpenVINO compiled-model cache (empty: <data_dir>/ov-cache)")
    region: Region = Field("auto", title="Default plate region/format rules")
    precision: PrecisionSetting = Field(
        "default",
        title="Inference precision: default (bf16 or f32, whichever this CPU runs faster, timed once "
        "and remembered in the model cache), f32, bf16, or the INT8-quantized models",
    )
    thorough: Thorough = Field(
        "single",
        title="Re-detect each plate zoomed in and read it from three crops: single (for single images; "
        "camera frames only where a plate is unsure, and each pass's best frames as it closes), "
        "always (every camera frame too), or never",
    )
    zoom_search: bool = Field(
        False,
        title="Under thorough: single, a camera frame in which no plate was read gets one more detector "
        "run on a half-size region (every other time around the most plate-like box it did not read, "
        "otherwise the next of nine tiles in turn)",
        description="Off by default: on the US held-out photos played as a camera it changed no exact "
        "or within-one figure (one lost pass of 36 became a misread one) and it costs a worker about a "
        "fifth of its frames (docs/streams.md).",
    )
    models_dir: Path | None = Field(
        None,
        title="Directory of the department's own retrained models (plate_det.xml, plate_ocr.xml, "
        "their _int8 files); a file it lacks is taken from the shipped models",
        description="Made with models/training (models/README.md). `platewatch bench accuracy` "
        "lists the files it used, so a retrained model can be compared with the shipped one.",
    )
    vehicles: bool = Field(
        False,
        title="Describe the vehicle of each camera pass (colour where sure) from a few of its frames, "
        "and follow vehicles whose plate cannot be read (plate-less passes)",
        description="Intel's vehicle detector and attributes network with the project's colour "
        "calibration (docs/streams.md). Off by default: with 4 cameras at 1080p@10 on 2 cores, one "
        "detection a frame shared by the describer and the plate-less tracker, it cost about a tenth "
        "of the frames processed (28.6-29.6 -> 26.5-27.0 frames/s) and ~0.1 s of alert latency.",
    )
    state: bool = Field(
        True,
        title="Name each US camera pass's issuing state from the name printed on its plate",
        description="PP-OCRv4's text-line recognizer on the pass's best frame, once per pass (about "
        "0.1 s on one core); the state then chooses among the read's candidates by its formats "
        "(docs/streams.md). Only for cameras whose region is us or auto.",
    )


class AlertsConfig(Section):
    """How alerts reach dispatchers (the once-per-pass rules: docs/hotlist.md)."""

    repeat_window_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        title="A camera's reads of one hotlist entry this close in time alert once (0: every pass alerts)",
        description="A pass split in two (a camera handed to another worker mid-pass, a car hidden "
        "longer than the tracker waits) is the same vehicle: its second half does not alert again.",
    )
    expire_new_s: float = Field(
        900.0,
        gt=0,
        title="An alert nobody acknowledged this long after it was raised expires (the car has gone)",
    )
    expire_acknowledged_s: float = Field(
        28800.0,
        gt=0,
        title="An acknowledged alert not verified or dismissed this long after it was raised expires",
    )
    ws_queue: int = Field(
        10000,
        ge=10,
        le=200000,
        title="Newest alert events an API process keeps for its websocket clients; one further behind "
        "is disconnected and replays from the database",
    )
    ws_send_timeout_s: float = Field(
        5.0, gt=0, le=120, title="Seconds one websocket send may take before the client counts as stalled"
    )
    ws_heartbeat_s: float = Field(10.0, gt=0, le=300, title="Seconds between heartbeats on an idle websocket")
    ws_log_every_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        title="How often a connection's delivered alert ids are written to the access log",
    )


class ApiConfig(Section):
    """The dispatcher and investigator API."""

    host: str = Field("127.0.0.1", title="Address the API listens on")
    port: int = Field(8462, ge=0, le=65535, title="Port the API listens on")
    cookie_secure: bool = Field(
        False,
        title="Mark the browser session cookie Secure (set true when the API is served over HTTPS; "
        "always true when tls_certfile is set)",
    )
    tls_certfile: Path | None = Field(
        None,
        title="PEM certificate (chain) the API serves HTTPS with (null: plain HTTP, e.g. behind a "
        "TLS-terminating reverse proxy: docs/operations.md)",
    )
    tls_keyfile: Path | None = Field(None, title="PEM private key of tls_certfile (keep it 0600)")
    metrics_token: SecretStr | None = Field(
        None,
        title="Bearer token /metrics asks of scrapers not on the loopback address "
        "(null: /metrics answers loopback clients only)",
    )
    pool_size: int = Field(10, ge=1, le=200, title="Database connections one API process may hold")
    ws_compression: bool = Field(
        False,
        title="Offer permessage-deflate to websocket clients (it compresses every message once per client: "
        "CPU the alert feed needs more than a console's network needs the bytes)",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        le=64 * 1024 * 1024,
        title="Largest request body a route takes (413 above it; feed imports and sharing documents "
        "have their own, larger ceilings)",
    )

    @model_validator(mode="before")
    @classmethod
    def _tls(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cert, key = data.get("tls_certfile"), data.get("tls_keyfile")
        if bool(cert) != bool(key):
            raise ValueError("tls_certfile and tls_keyfile go together: set both, or neither")
        if cert:
            data = {**data, "cookie_secure": True}  # a session cookie over HTTPS must never go over HTTP
        return data


class HotlistConfig(Section):
    """A hotlist's defaults; entries themselves live in Redis (docs/hotlist.md)."""

    name: str = Field(title="List name, used in Redis keys pw:hot:<name>:…")
    priority: int = Field(2, ge=1, le=5, title="Alert priority (1 highest)")
    fuzzy: Fuzzy = Field("strict", title="How far OCR confusions may stretch a match")
    partial: bool = Field(False, title="Whether ? and * patterns are allowed (policy 462.2(c))")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value, "hotlist name")


class CaseEntriesConfig(Section):
    """Hotlist entries investigators add from the search page (policy 462.2(c), docs/hotlist.md)."""

    default_list: str = Field(
        "major-crime", title="The list an entry goes to when the investigator names none (a configured list)"
    )
    max_days: int = Field(
        90, ge=1, le=365, title="The furthest an entry's expiry may be set, in days (every entry lapses)"
    )

    @field_validator("default_list")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value, "hotlist name")


class LoggingConfig(Section):
    level: LogLevel = Field("INFO", title="Log level")
