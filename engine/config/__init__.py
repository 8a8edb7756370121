"""Configuration: one typed settings model (see settings.py for where values come from)."""

from .camera import CameraSpec
from .evidence import EvidenceConfig
from .sections import (
    POLICY_MIN_RETENTION_DAYS,
    AlertsConfig,
    ApiConfig,
    HotlistConfig,
    KafkaConfig,
    RetentionConfig,
    ServicesConfig,
    StoreConfig,
    VisionConfig,
)
from .settings import ConfigError, Settings, load_settings

__all__ = [
    "POLICY_MIN_RETENTION_DAYS",
    "AlertsConfig",
    "ApiConfig",
    "CameraSpec",
    "ConfigError",
    "EvidenceConfig",
    "HotlistConfig",
    "KafkaConfig",
    "RetentionConfig",
    "ServicesConfig",
    "Settings",
    "StoreConfig",
    "VisionConfig",
    "load_settings",
]
