"""The one settings model, loaded from configs/*.yaml and PLATEWATCH_* environment variables.

Precedence, highest first: keyword overrides (tests, CLI flags), environment variables
(`PLATEWATCH_RETENTION__DAYS=400`, sections separated by a double underscore), the site file
(`--config FILE` or `PLATEWATCH_CONFIG`), the packaged `configs/default.yaml`, then the defaults
in this module. Errors are reported one line per key, naming the rule, because whoever reads
them is an operator editing YAML, not a Python developer reading a traceback.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .access import AccessConfig, check_log_retention
from .audit import AuditConfig
from .camera import CameraSpec
from .evidence import EvidenceConfig
from .privacy import PrivacyConfig
from .sections import (
    AlertsConfig,
    ApiConfig,
    CaseEntriesConfig,
    HotlistConfig,
    KafkaConfig,
    LoggingConfig,
    RetentionConfig,
    ServicesConfig,
    StoreConfig,
    VisionConfig,
)
from .webhooks import WebhookConfig

CONFIG_ENV = "PLATEWATCH_CONFIG"
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_data", default=None)


class ConfigError(ValueError):
    """A configuration that breaks a rule; `str()` is readable as it is."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def _default_data_dir() -> Path:
    # As root (containers, appliances) the embedded PostgreSQL runs as an unprivileged user that
    # must reach the data directory; /var/lib does not need /root opened up for that.
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "platewatch"
    if os.geteuid() == 0:
        return Path("/var/lib/platewatch")
    return Path.home() / ".local" / "share" / "platewatch"


class _YamlSource(PydanticBaseSettingsSource):
    """Feeds the already merged YAML documents to pydantic-settings."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        data = _yaml_data.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PLATEWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir, title="Where embedded services and images live")
    services: ServicesConfig = Field(default_factory=ServicesConfig)  # type: ignore[arg-type]
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)  # type: ignore[arg-type]
    retention: RetentionConfig = Field(default_factory=RetentionConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    vision: VisionConfig = Field(default_factory=VisionConfig)  # type: ignore[arg-type]
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # type: ignore[arg-type]
    api: ApiConfig = Field(default_factory=ApiConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)  # type: ignore[arg-type]
    access: AccessConfig = Field(default_factory=AccessConfig)  # type: ignore[arg-type]
    audit: AuditConfig = Field(default_factory=AuditConfig)  # type: ignore[arg-type]
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)  # type: ignore[arg-type]
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)  # type: ignore[arg-type]
    cameras: list[CameraSpec] = Field(default_factory=list, title="Cameras defined in configuration")
    hotlists: list[HotlistConfig] = Field(
        default_factory=lambda: [HotlistConfig(name="major-crime", priority=1, partial=True)],
        title="Hotlists and their matching rules",
    )
    case_entries: CaseEntriesConfig = Field(default_factory=CaseEntriesConfig)  # type: ignore[arg-type]
    webhooks: list[WebhookConfig] = Field(
        default_factory=list, title="Systems that receive alerts (CAD, approved public agencies)"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        for what, ids in (
            ("camera id", [c.id for c in self.cameras]),
            ("hotlist name", [h.name for h in self.hotlists]),
            ("webhook name", [w.name for w in self.webhooks]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"each {what} must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _access_log_outlives_reads(self) -> Settings:
        check_log_retention(self.access, self.retention.days)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def embedded_dir(self) -> Path:
        return self.data_dir / "services"


def default_config_path() -> Path:
    return Path(str(resources.files("platewatch.configs").joinpath("default.yaml")))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read configuration file ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}".replace("\n", " ")]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections"])
    return data


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge mappings key by key; lists and scalars from `top` replace those of `base`."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def format_errors(exc: ValidationError) -> list[str]:
    """One line per broken rule, `key: rule (got value)`; URLs and secrets are never echoed."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(settings)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt? see configs/default.yaml for the keys)"
        got = err.get("input")
        shown = "" if err["type"] == "extra_forbidden" or isinstance(got, dict | list) else f" (got {got!r})"
        if any(s in key.lower() for s in ("password", "secret", "token")) or "url" in key.lower():
            shown = ""  # URLs and secrets may hold credentials: never echo them
        lines.append(f"{key}: {msg}{shown}")
    return lines


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings; raise ConfigError with one readable line per broken rule."""
    site = config_file or os.environ.get(CONFIG_ENV)
    data = _read_yaml(default_config_path())
    if site:
        data = deep_merge(data, _read_yaml(Path(site)))
    token = _yaml_data.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None
    finally:
        _yaml_data.reset(token)
