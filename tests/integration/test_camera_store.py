"""The durable camera list in PostgreSQL, the configuration's cameras, and the demo camera."""

from __future__ import annotations

from pathlib import Path

from platewatch.engine.bench.demo import ensure_demo_camera
from platewatch.engine.config import load_settings
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.camera_store import add_camera, database_cameras, desired_cameras, remove_camera


def test_database_cameras_override_and_remove_configured_ones(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "gate", "url": "rtsp://cam/gate"}, {"id": "yard", "url": "rtsp://cam/yard"}],
    )
    assert set(desired_cameras(settings.cameras, database_url)) == {"gate", "yard"}
    add_camera(database_url, CameraSpec(id="gate", url="rtsp://cam/gate2", fps=5))
    add_camera(database_url, CameraSpec(id="whep-1", url="whep+https://gw/cam/whep"))
    remove_camera(database_url, "yard")
    desired = desired_cameras(settings.cameras, database_url)
    assert set(desired) == {"gate", "whep-1"}
    assert desired["gate"].url == "rtsp://cam/gate2" and desired["gate"].fps == 5
    add_camera(database_url, CameraSpec(id="yard", url="rtsp://cam/yard"))  # added back
    assert set(desired_cameras(settings.cameras, database_url)) == {"gate", "whep-1", "yard"}


def test_demo_camera_only_on_a_fresh_install(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    spec = ensure_demo_camera(settings, database_url, width=320, height=180, seconds=5)
    assert spec is not None and Path(spec.url).stat().st_size > 0
    assert set(database_cameras(database_url)[0]) == {"demo"}
    assert ensure_demo_camera(settings, database_url) is None  # already there
    remove_camera(database_url, "demo")
    assert ensure_demo_camera(settings, database_url) is None  # removed on purpose: stays away
