"""A bundle as a folder or as a zip: writing the zip, and reading either the same way.

The zip holds the folder under one top-level name (`evidence-<export id>/`), so unpacking it gives
one folder; reading strips that name again. Entries are read as the zip's central directory lists
them, so a name that repeats, escapes the folder (`..`, an absolute path) or is not a plain file is
reported rather than followed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

_CHUNK = 1 << 20
_STORED_SUFFIXES = (".jpg", ".sig")  # already compressed, or tiny


def zip_bundle(folder: Path, out: IO[bytes], top: str) -> int:
    """Write the bundle in `folder` as a zip to `out`, under `top/`; returns the number of files."""
    count = 0
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            method = zipfile.ZIP_STORED if rel.endswith(_STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
            zf.write(path, f"{top}/{rel}", compress_type=method)
            count += 1
    return count


def safe_name(name: str) -> bool:
    """A relative, `/`-separated path that stays inside the bundle."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    return bool(parts) and all(p not in ("", ".", "..") for p in parts) and ":" not in parts[0]


class Source(Protocol):
    odd: list[str]

    def names(self) -> set[str]: ...
    def read(self, name: str) -> bytes: ...
    def sha256(self, name: str) -> tuple[str, int]: ...


@dataclass
class FolderSource:
    root: Path
    odd: list[str] = field(default_factory=list)  # entries that are not plain files

    def names(self) -> set[str]:
        found = set()
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            base = Path(dirpath)
            for d in list(dirnames):
                if (base / d).is_symlink():
                    self.odd.append((base / d).relative_to(self.root).as_posix())
                    dirnames.remove(d)
            for f in filenames:
                path = base / f
                rel = path.relative_to(self.root).as_posix()
                if stat.S_ISREG(path.lstat().st_mode):
                    found.add(rel)
                else:
                    self.odd.append(rel)
        return found

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def sha256(self, name: str) -> tuple[str, int]:
        with (self.root / name).open("rb") as f:
            digest = hashlib.file_digest(f, "sha256")
        return digest.hexdigest(), (self.root / name).stat().st_size


class ZipSource:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.odd: list[str] = []
        infos = [i for i in zf.infolist() if not i.is_dir()]
        tops = {i.filename.split("/", 1)[0] for i in infos}
        # One top folder holding everything (as zip_bundle writes it) is stripped; else none is.
        self.prefix = (
            f"{next(iter(tops))}/" if len(tops) == 1 and all("/" in i.filename for i in infos) else ""
        )
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename[len(self.prefix) :]
            if name in self._infos:
                self.odd.append(f"{name} (the zip holds it twice)")
            elif not safe_name(name) or stat.S_ISLNK(info.external_attr >> 16):
                self.odd.append(info.filename)
            else:
                self._infos[name] = info

    def names(self) -> set[str]:
        return set(self._infos)

    def read(self, name: str) -> bytes:
        return self.zf.read(self._infos[name])

    def open(self, name: str) -> IO[bytes]:
        return self.zf.open(self._infos[name])

    def sha256(self, name: str) -> tuple[str, int]:
        h, size = hashlib.sha256(), 0
        with self.zf.open(self._infos[name]) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size


@contextmanager
def open_source(path: Path) -> Iterator[Source]:
    """A source for a bundle folder or zip file, open for the block."""
    if path.is_dir():
        yield FolderSource(path)
        return
    with zipfile.ZipFile(path) as zf:
        yield ZipSource(zf)


def extract_zip(zip_path: Path, target: Path) -> int:
    """Unpack a bundle zip into the new folder `target` (top folder stripped); refuses unsafe names."""
    with zipfile.ZipFile(zip_path) as zf:
        src = ZipSource(zf)
        if src.odd:
            raise ValueError(f"the zip holds entries that are not safe to unpack: {', '.join(src.odd[:5])}")
        target.mkdir(mode=0o700, parents=True)
        for name in sorted(src.names()):
            dest = target / name
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, src.open(name) as f:
                while chunk := f.read(_CHUNK):
                    out.write(chunk)
        return len(src.names())
