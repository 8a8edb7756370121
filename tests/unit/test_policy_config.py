"""The access settings section: documented in default.yaml, and its floors refuse readable."""

from __future__ import annotations

import pytest
import yaml

from platewatch.engine.config import ConfigError, load_settings
from platewatch.engine.config.access import AccessConfig, access_log_days
from platewatch.engine.config.settings import default_config_path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PLATEWATCH_"):
            monkeypatch.delenv(key)


def test_default_yaml_lists_every_access_key_with_the_code_default() -> None:
    documented = yaml.safe_load(default_config_path().read_text())["access"]
    assert set(documented) == set(AccessConfig.model_fields)
    assert load_settings().access == AccessConfig()


def test_the_access_log_is_kept_as_long_as_the_reads_by_default() -> None:
    s = load_settings(retention={"days": 800})
    assert access_log_days(s.access, s.retention.days) == 800
    s = load_settings(retention={"days": 400}, access={"log_retention_days": 500})
    assert access_log_days(s.access, s.retention.days) == 500


def test_an_access_log_kept_shorter_than_the_reads_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"access.log_retention_days \(400\) must be at least retention.days"
    ):
        load_settings(retention={"days": 500}, access={"log_retention_days": 400})
    with pytest.raises(ConfigError) as err:
        load_settings(access={"log_retention_days": 100})
    assert err.value.lines[0].startswith("access.log_retention_days: must be at least 365 days")


def test_a_bad_totp_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(access={"totp_secret_key": "hunter2hunter2"})
    assert "Fernet key" in str(err.value) and "hunter2" not in str(err.value)
    good = "x" * 43 + "="
    assert load_settings(access={"totp_secret_key": good}).access.totp_secret_key is not None


def test_the_case_number_example_must_match_the_pattern() -> None:
    with pytest.raises(ConfigError, match="does not match case_number_pattern"):
        load_settings(access={"case_number_pattern": r"^\d+$"})
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        load_settings(access={"case_number_pattern": "(", "case_number_example": "("})


def test_purposes_and_courses_are_distinct_and_named() -> None:
    with pytest.raises(ConfigError, match="each name must be listed once"):
        load_settings(access={"purposes": ["patrol", "Patrol"]})
    with pytest.raises(ConfigError, match="must not be empty"):
        load_settings(access={"training_courses": [" "]})
