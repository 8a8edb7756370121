"""The image store: each read's best crop and overview frame, beside the database.

Images are kept out of PostgreSQL because they are most of the bytes and are never queried; a read
row holds only its `image_key`. Keys are `reads/YYYY/MM/DD/<read_id>` (see reads.image_key), so
retention purges a day of images with one prefix, the same unit it drops a partition or chunk in.
Evidence copies live under `evidence/<hold_id>/<read_id>`, which retention never touches.

Two implementations with one interface: a directory (the default, `<data_dir>/images`) and
S3-compatible object storage (needs the optional `boto3` dependency).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from platewatch.codecs import Read

from .reads import image_key

CROP = "crop.jpg"
OVERVIEW = "overview.jpg"
NAMES = (CROP, OVERVIEW)


class ImageStore(Protocol):
    def put(self, key: str, name: str, data: bytes) -> None: ...
    def get(self, key: str, name: str) -> bytes | None: ...
    def copy(self, src_key: str, dst_key: str) -> int: ...
    def delete(self, key: str) -> int: ...
    def days(self) -> list[date]: ...
    def purge_day(self, day: date) -> int: ...


def evidence_key(hold_id: int, read_id: str) -> str:
    return f"evidence/{hold_id}/{read_id}"


def _day_prefix(day: date) -> str:
    return f"reads/{day:%Y/%m/%d}"


def store_read_images(store: ImageStore, reads: list[Read]) -> int:
    """Write the images of `reads` (before their rows, so a stored row never points at nothing)."""
    written = 0
    for read in reads:
        key = image_key(read)
        if key is None:
            continue
        for name, data in ((CROP, read.crop_jpeg), (OVERVIEW, read.overview_jpeg)):
            if data:
                store.put(key, name, data)
                written += 1
    return written


#: Plate images are personal data: files 0600 and directories 0700, the store's owner's alone.
FILE_MODE = 0o600
DIR_MODE = 0o700


class DirectoryImageStore:
    """Files under a root directory; atomic writes (temp file + rename): a crash leaves no half JPEG.

    Files are 0600 and directories 0700 whatever the process's umask (mkstemp makes 0600 files;
    `mkdir(parents=True)` would make the parents with the umask's mode, so `_mkdirs` makes each).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _mkdirs(self, d: Path) -> None:
        if d.is_dir():
            return
        root = self.root.resolve()
        if not root.is_dir():
            root.parent.mkdir(parents=True, exist_ok=True)
            root.mkdir(mode=DIR_MODE, exist_ok=True)
        for part in reversed([d, *d.parents]):
            if part.is_relative_to(root) and part != root:
                part.mkdir(mode=DIR_MODE, exist_ok=True)

    def _dir(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or ".." in Path(key).parts:
            raise ValueError(f"image key escapes the store: {key!r}")
        return path

    def put(self, key: str, name: str, data: bytes) -> None:
        d = self._dir(key)
        self._mkdirs(d)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str, name: str) -> bytes | None:
        try:
            return (self._dir(key) / name).read_bytes()
        except FileNotFoundError:
            return None

    def copy(self, src_key: str, dst_key: str) -> int:
        src, dst = self._dir(src_key), self._dir(dst_key)
        copied = 0
        for name in NAMES:
            if (src / name).is_file():
                self._mkdirs(dst)
                shutil.copyfile(src / name, dst / name)
                (dst / name).chmod(FILE_MODE)
                copied += 1
        return copied

    def delete(self, key: str) -> int:
        d = self._dir(key)
        n = sum(1 for p in d.rglob("*") if p.is_file()) if d.is_dir() else 0
        shutil.rmtree(d, ignore_errors=True)
        return n

    def days(self) -> list[date]:
        found = []
        for p in (self.root / "reads").glob("[0-9]*/[0-9]*/[0-9]*"):
            try:
                found.append(date(int(p.parent.parent.name), int(p.parent.name), int(p.name)))
            except ValueError:
                continue
        return sorted(found)

    def purge_day(self, day: date) -> int:
        return self.delete(_day_prefix(day))


@contextlib.contextmanager
def _as_os_error() -> Iterator[None]:
    """botocore's errors are not OSError; callers (the persist agent's retry, the upkeep timer) treat
    storage trouble as OSError, so an unreachable bucket is retried rather than crashing the worker."""
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("botocore"):
            raise OSError(f"S3 image store: {exc}") from exc
        raise


class S3ImageStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph…): `s3://bucket/prefix?endpoint=http://host:9000`."""

    def __init__(self, url: str, client: Any = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError("an S3 image store URL looks like s3://bucket/prefix")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if client is None:
            try:
                import boto3  # optional dependency: platewatch[s3]
            except ImportError as exc:
                raise RuntimeError("S3 image storage needs boto3: pip install 'platewatch[s3]'") from exc
            params = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
            client = boto3.client("s3", endpoint_url=params.get("endpoint"))
        self._s3 = client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _list(self, prefix: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/"):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])

    def put(self, key: str, name: str, data: bytes) -> None:
        with _as_os_error():
            self._s3.put_object(
                Bucket=self.bucket, Key=self._key(key, name), Body=data, ContentType="image/jpeg"
            )

    def get(self, key: str, name: str) -> bytes | None:
        with _as_os_error():
            try:
                obj = self._s3.get_object(Bucket=self.bucket, Key=self._key(key, name))
            except self._s3.exceptions.NoSuchKey:
                return None
            return bytes(obj["Body"].read())

    def copy(self, src_key: str, dst_key: str) -> int:
        copied = 0
        with _as_os_error():
            for k in self._list(src_key):
                name = k.rsplit("/", 1)[-1]
                source = {"Bucket": self.bucket, "Key": k}
                self._s3.copy_object(Bucket=self.bucket, Key=self._key(dst_key, name), CopySource=source)
                copied += 1
        return copied

    def delete(self, key: str) -> int:
        with _as_os_error():
            keys = list(self._list(key))
            for i in range(0, len(keys), 1000):
                chunk = [{"Key": k} for k in keys[i : i + 1000]]
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
        return len(keys)

    def _subdirs(self, prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        names = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/", Delimiter="/"):
            names += [str(p["Prefix"]).rstrip("/").rsplit("/", 1)[-1] for p in page.get("CommonPrefixes", [])]
        return names

    def days(self) -> list[date]:
        # Walks YYYY/MM/DD with delimiters: a few listings per month, never one per image.
        found = []
        with _as_os_error():
            years = self._subdirs("reads")
            months = {y: self._subdirs(f"reads/{y}") for y in years}
            days = {(y, m): self._subdirs(f"reads/{y}/{m}") for y in years for m in months[y]}
        for y in years:
            for m in months[y]:
                for d in days[(y, m)]:
                    try:
                        found.append(date(int(y), int(m), int(d)))
                    except ValueError:
                        continue
        return sorted(found)

    def purge_day(self, day: date) -> int:
        return self.delete(_day_prefix(day))


def open_image_store(location: str | Path) -> ImageStore:
    """`s3://…` → S3ImageStore; anything else is a directory path."""
    text = str(location)
    if text.startswith("s3://"):
        return S3ImageStore(text)
    return DirectoryImageStore(Path(text))


def image_store_for(settings: Any) -> ImageStore:
    """The store the settings ask for: `store.images` (URL or path) if set, else `<data_dir>/images`.

    Read with getattr so this works before the `store` settings section exists.
    """
    section = getattr(settings, "store", None)
    location = getattr(section, "images", None) if section is not None else None
    return open_image_store(location or Path(settings.data_dir) / "images")
