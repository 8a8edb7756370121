"""Settings: defaults, precedence, and readable errors naming the key and the rule."""

from pathlib import Path

import pytest
import yaml

from platewatch.engine.config import POLICY_MIN_RETENTION_DAYS, ConfigError, Settings, load_settings
from platewatch.engine.config.settings import default_config_path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PLATEWATCH_"):
            monkeypatch.delenv(key)


def test_default_yaml_lists_the_model_defaults() -> None:
    """configs/default.yaml documents the defaults; it must not drift from the code."""
    from platewatch.engine.config.settings import _yaml_data

    from_yaml = load_settings()
    token = _yaml_data.set({})
    try:
        from_code = Settings()
    finally:
        _yaml_data.reset(token)
    assert from_yaml == from_code
    documented = yaml.safe_load(default_config_path().read_text())
    for section in ("services", "kafka", "retention", "store", "vision", "api", "logging"):
        assert set(documented[section]) == set(type(getattr(from_code, section)).model_fields), section


def test_retention_below_a_year_is_refused_citing_the_policy() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(retention={"days": 30})
    assert len(err.value.lines) == 1
    line = err.value.lines[0]
    assert line.startswith("retention.days:")
    assert "462.3" in line and "365" in line and "30" in line


def test_retention_at_the_minimum_and_above_is_accepted() -> None:
    assert load_settings(retention={"days": POLICY_MIN_RETENTION_DAYS}).retention.days == 365
    assert load_settings(retention={"days": 800}).retention.days == 800


def test_env_overrides_site_file_which_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("retention: {days: 500}\nkafka: {partitions: 3}\n")
    s = load_settings(site)
    assert (s.retention.days, s.kafka.partitions, s.kafka.app_id) == (500, 3, "platewatch")
    monkeypatch.setenv("PLATEWATCH_RETENTION__DAYS", "600")
    monkeypatch.setenv("PLATEWATCH_CONFIG", str(site))
    s = load_settings()
    assert (s.retention.days, s.kafka.partitions) == (600, 3)


def test_unknown_keys_are_errors_not_silently_ignored(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("retention: {dayz: 400}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(site)
    assert err.value.lines == [
        "retention.dayz: unknown key (misspelt? see configs/default.yaml for the keys)"
    ]


def test_each_broken_rule_is_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "kafka: {partitions: 0}\n"
        "vision: {device: TPU}\n"
        "cameras:\n  - {id: Bad Id!, url: rtsp://x}\n  - {id: a, url: rtsp://y, fps: 0}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(site)
    keys = sorted(line.split(":")[0] for line in err.value.lines)
    assert keys == ["cameras.0.id", "cameras.1.fps", "kafka.partitions", "vision.device"]


def test_duplicate_camera_ids_are_refused() -> None:
    cams = [{"id": "a", "url": "rtsp://x"}, {"id": "a", "url": "rtsp://y"}]
    with pytest.raises(ConfigError, match="camera id must be unique, repeated: a"):
        load_settings(cameras=cams)


def test_urls_with_passwords_are_never_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(services={"database_url": "postgresql://u:hunter2@h/db", "embedded_host": "0.0.0.0"})
    assert "hunter2" not in str(err.value)
    assert "loopback" in str(err.value)


def test_broken_yaml_and_missing_file_are_readable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("retention: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(tmp_path / "missing.yaml")


def test_example_site_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "configs" / "example-site.yaml"
    s = load_settings(example)
    assert len(s.cameras) == 3 and len(s.hotlists) == 2
    assert s.retention.days >= POLICY_MIN_RETENTION_DAYS


def test_a_camera_url_no_source_reads_is_refused_with_the_configuration() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(cameras=[{"id": "a", "url": "gopher://u:hunter2@cam/1"}])
    assert [line.split(":")[0] for line in err.value.lines] == ["cameras.0.url"]
    assert "hunter2" not in str(err.value)
