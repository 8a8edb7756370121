"""The directory image store: keys by day, atomic writes, copies, purges, no escaping the root."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from platewatch.codecs import Read
from platewatch.engine.store.images import (
    CROP,
    OVERVIEW,
    DirectoryImageStore,
    image_store_for,
    store_read_images,
)
from platewatch.engine.store.reads import image_key


def _read(t: float, crop: bytes | None = b"c") -> Read:
    return Read(
        read_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        camera_id="c",
        time=t,
        plate="A",
        confidence=1,
        crop_jpeg=crop,
        overview_jpeg=b"o",
    )


def test_keys_start_with_the_reads_utc_day() -> None:
    assert image_key(_read(1764288000.5)) == "reads/2025/11/28/0f8fad5b-d9cb-469f-a165-70867728950e"
    assert image_key(Read(read_id="x", camera_id="c", time=0, plate="A", confidence=1)) is None


def test_store_copy_purge(tmp_path: Path) -> None:
    store = DirectoryImageStore(tmp_path)
    old, new = _read(1764288000.5), _read(1764374400.5)
    assert store_read_images(store, [old]) == 2
    key = image_key(old)
    assert key is not None and store.get(key, CROP) == b"c" and store.get(key, OVERVIEW) == b"o"
    assert store.copy(key, "evidence/1/x") == 2
    store.put(f"reads/2025/11/29/{new.read_id}", CROP, b"n")
    assert store.days() == [date(2025, 11, 28), date(2025, 11, 29)]
    assert store.purge_day(date(2025, 11, 28)) == 2
    assert store.get(key, CROP) is None and store.get("evidence/1/x", CROP) == b"c"
    assert store.days() == [date(2025, 11, 29)]
    assert not list(tmp_path.rglob(".tmp-*"))


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = DirectoryImageStore(tmp_path / "images")
    with pytest.raises(ValueError, match="escapes"):
        store.put("../../etc", CROP, b"x")


def test_default_location_is_under_the_data_dir(tmp_path: Path) -> None:
    class Settings:
        data_dir = tmp_path

    store = image_store_for(Settings())
    assert isinstance(store, DirectoryImageStore) and store.root == tmp_path / "images"
