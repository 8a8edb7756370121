"""/api/v1/admin cameras and hotlists: operating the ALPR equipment (policy 462.2(d)).

Adding a camera or a hotlist entry decides what the system watches for, so it is an admin's work
with current training, done as a named person: each request here writes exactly one access-log row
(the change or listing, or its refusal). Camera definitions change in the database inside the
row's own transaction. Hotlists live in Redis, which cannot share that transaction: the change is
made, then its row written (a row that cannot be written still answers 503); the worker also
records every hotlist change it sees, whoever made it, so a redis-cli edit is on record too.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import IO, Annotated, Any

import redis
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as InPath
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.config.settings import format_errors
from platewatch.engine.hotlist.admin import (
    AdminError,
    add_entry,
    check_list_name,
    import_entries,
    list_keys,
    list_names,
    remove_entry,
)
from platewatch.engine.hotlist.entry import clean_text
from platewatch.engine.hotlist.importers import FORMATS, create_importer
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.ingest.camera_store import mark_removed, merge_cameras, put_camera, stored_cameras
from platewatch.engine.ingest.ownership import HEALTH_KEY
from platewatch.engine.policy.roles import Role
from platewatch.engine.redaction import redact_url

from .deps import Caller, clean, require
from .errors import ApiError

router = APIRouter(prefix="/api/v1/admin", tags=["equipment"])

Operator = Annotated[Caller, Depends(require(Role.ADMIN))]
CameraId = Annotated[str, InPath(min_length=1, max_length=64)]
ListName = Annotated[str, InPath(min_length=1, max_length=64)]
EntryText = Annotated[str, InPath(min_length=1, max_length=64, description="Plate, or pattern with ? and *")]

LAYOUT = Layout()
#: The largest feed file an import takes. State and NCIC extracts run to tens of megabytes; a
#: bound keeps one request from filling the API's disk.
MAX_FEED_BYTES = 256 * 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024
_PROBLEMS_SHOWN = 1000  # skipped lines an import answer lists (the count covers them all)
HEALTH_FIELDS = (
    "worker",
    "connected",
    "frames_in_per_s",
    "processed_per_s",
    "last_frame_age_s",
    "reconnects",
    "outages",
    "errors",
    "reads",
    "last_error",
)


# --- Redis -------------------------------------------------------------------------------------


@contextmanager
def redis_store(request: Request, caller: Caller, terms: dict[str, Any]) -> Iterator[redis.Redis]:
    """The API's Redis client; a Redis that is missing or down is a 503 with a refused row."""
    client: redis.Redis | None = request.app.state.redis
    if client is None:
        caller.log(outcome="refused", reason="redis: not configured", terms=terms)
        raise ApiError(
            503, "redis_unavailable", "this API process has no Redis configured (services.redis_url)"
        )
    try:
        yield client
    except redis.RedisError as exc:
        caller.log(outcome="refused", reason=f"redis: {type(exc).__name__}", terms=terms)
        raise ApiError(
            503,
            "redis_unavailable",
            f"Redis (hotlists and camera health) did not answer the API ({type(exc).__name__}); "
            "try again when it is up",
        ) from None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _hash(client: redis.Redis, key: str) -> dict[str, str]:
    raw: dict[object, object] = client.hgetall(key)  # type: ignore[assignment]
    return {_text(k): _text(v) for k, v in raw.items()}


def _health(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refuse(caller: Caller, exc: Exception, terms: dict[str, Any]) -> ApiError:
    """A refused row for input that cannot be stored, and the answer that says what to change."""
    caller.log(outcome="refused", reason=clean(str(exc)), terms=terms)
    return ApiError(422, "invalid_request", str(exc))


# --- cameras -----------------------------------------------------------------------------------


def camera_rows(specs: dict[str, CameraSpec], health: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per camera: its definition (URL without password) and its health, if captured.

    Plain values, not a model: health comes from Redis, where anyone with redis-cli may write.
    """
    rows = []
    for cid in sorted(specs):
        spec, h = specs[cid], health.get(cid) or {}
        rows.append(
            {
                "id": cid,
                "name": spec.name,
                "url": redact_url(spec.url),
                "enabled": spec.enabled,
                "fps": spec.fps,
                "latitude": spec.latitude,
                "longitude": spec.longitude,
                "address": spec.address,
                "heading": spec.heading,
                **{k: h.get(k) for k in HEALTH_FIELDS},
            }
        )
    return rows


@router.get("/cameras", name="camera.list")
def list_cameras(caller: Operator, request: Request) -> list[dict[str, Any]]:
    """The cameras (configuration and database), where they are captured, and their health."""
    with caller.conn.transaction():
        specs = merge_cameras(caller.settings.cameras, *stored_cameras(caller.conn))
    with redis_store(request, caller, {}) as client:
        raw = client.mget([HEALTH_KEY.format(cid) for cid in specs]) if specs else []
    health = {cid: _health(v) for cid, v in zip(specs, raw, strict=True) if v}  # type: ignore[arg-type]
    rows = camera_rows(specs, health)
    caller.log(returned_ids=[r["id"] for r in rows])
    return rows


@router.post("/cameras", name="camera.add", status_code=201)
def add_camera(
    caller: Operator,
    body: Annotated[
        dict[str, Any], Body(description="A camera as in the configuration's `cameras:` list (CameraSpec)")
    ],
) -> dict[str, Any]:
    """Add or replace a camera; the worker owning it starts capture within seconds."""
    camera_id = clean(str(body.get("id", "")), 64)
    try:
        spec = CameraSpec.model_validate(body)
    except ValidationError as exc:
        message = "invalid camera: " + "; ".join(format_errors(exc))
        caller.log(outcome="refused", reason=clean(message), terms={"camera": camera_id})
        raise ApiError(422, "invalid_camera", message) from None
    public = spec.public()
    with caller.conn.transaction():
        put_camera(caller.conn, spec)
        caller.log(terms={"camera": spec.id, **public}, returned_ids=[spec.id])
    return public


@router.delete("/cameras/{camera_id}", name="camera.remove")
def remove_camera(caller: Operator, camera_id: CameraId) -> dict[str, str]:
    """Remove a camera (also one defined in the configuration); its capture stops within seconds."""
    with caller.conn.transaction():
        mark_removed(caller.conn, camera_id)
        caller.log(terms={"camera": camera_id}, returned_ids=[camera_id])
    return {"removed": camera_id}


# --- hotlists ----------------------------------------------------------------------------------


class ListOut(BaseModel):
    name: str
    entries: int
    fuzzy: str
    partial: str
    priority: str
    active: str


class NewEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: str = Field(min_length=1, max_length=64, description="Plate, or pattern with ? and *")
    reason: str = Field(max_length=500, description="Why it is listed: one short line")
    case: str = Field("", max_length=64)
    priority: int | None = Field(None, ge=1, le=5, description="1 highest (default: the list's)")
    ref: str = Field("", max_length=200)
    source: str = Field("manual", max_length=200)
    state: str = Field("", max_length=16)
    vehicle: str = Field("", max_length=200)
    expires_at: AwareDatetime | None = Field(None, description="When the entry lapses (none: never)")


class EntryShown(BaseModel):
    entry: str
    reason: str
    priority: str
    case: str
    source: str


class ListShown(BaseModel):
    name: str
    settings: dict[str, str]
    entries: list[EntryShown]


class EntryOut(BaseModel):
    key: str
    fields: dict[str, str]
    expires_in_s: int | None  # None: never


class ProblemOut(BaseModel):
    line: int
    message: str
    text: str


class ImportOut(BaseModel):
    name: str
    written: int
    skipped: int
    lapsed: int
    removed: int
    replace: bool
    problems: list[ProblemOut]  # the first skipped lines; `skipped` counts them all
    notes: list[str]


@router.get("/hotlists", name="hotlist.show")
def show_lists(caller: Operator, request: Request) -> list[ListOut]:
    """Every list in Redis or in the configuration, with its entry count and settings."""
    configured = {h.name: h for h in caller.settings.hotlists}
    with redis_store(request, caller, {}) as client:
        found = []
        for name, count in sorted((dict.fromkeys(configured, 0) | list_names(client, LAYOUT)).items()):
            cfg = configured.get(name)
            stored = _hash(client, LAYOUT.list_key(name))
            found.append(
                ListOut(
                    name=name,
                    entries=count,
                    fuzzy=stored.get("fuzzy", cfg.fuzzy if cfg else "strict"),
                    partial=stored.get("partial", str(cfg.partial if cfg else False).lower()),
                    priority=stored.get("priority", str(cfg.priority if cfg else 2)),
                    active=stored.get("active", "true"),
                )
            )
    caller.log(returned_ids=[x.name for x in found])
    return found


@router.get("/hotlists/errors", name="hotlist.errors")
def show_errors(caller: Operator, request: Request) -> dict[str, str]:
    """Malformed keys the matcher skips, and why (the pw:hot:_errors hash)."""
    with redis_store(request, caller, {}) as client:
        found = _hash(client, LAYOUT.errors_key)
    caller.log(returned_ids=sorted(found))
    return found


@router.delete("/hotlists/errors", name="hotlist.errors.clear")
def clear_errors(caller: Operator, request: Request) -> dict[str, str]:
    """Empty the report (matchers refill it); answers what it held."""
    with redis_store(request, caller, {"clear": True}) as client:
        found = _hash(client, LAYOUT.errors_key)
        client.delete(LAYOUT.errors_key)
    caller.log(terms={"clear": True}, returned_ids=sorted(found))
    return found


@router.get("/hotlists/{list_name}/entries", name="hotlist.show")
def show_list(
    caller: Operator,
    request: Request,
    list_name: ListName,
    limit: Annotated[int, Query(ge=1, le=10000, description="Entries shown at most")] = 50,
) -> ListShown:
    """One list's settings and (up to `limit` of) its entries."""
    terms = {"list": list_name, "limit": limit}
    try:
        check_list_name(list_name)
    except AdminError as exc:
        raise _refuse(caller, exc, terms) from None
    with redis_store(request, caller, terms) as client:
        stored = _hash(client, LAYOUT.list_key(list_name))
        entries: list[EntryShown] = []
        for key in list_keys(client, LAYOUT, list_name):
            if len(entries) >= limit:
                break
            fields = _hash(client, key)
            entries.append(
                EntryShown(
                    entry=LAYOUT.classify(key).text,
                    reason=fields.get("reason", ""),
                    priority=fields.get("priority", ""),
                    case=fields.get("case", ""),
                    source=fields.get("source", ""),
                )
            )
    caller.log(terms=terms, returned_ids=[LAYOUT.entry_key(list_name, e.entry) for e in entries])
    return ListShown(name=list_name, settings=stored, entries=entries)


@router.get("/hotlists/{list_name}/entries/{entry}", name="hotlist.show")
def show_entry(caller: Operator, request: Request, list_name: ListName, entry: EntryText) -> EntryOut:
    """One entry: its fields and when it lapses."""
    terms = {"list": list_name, "entry": clean(entry, 64)}
    try:
        check_list_name(list_name)
    except AdminError as exc:
        raise _refuse(caller, exc, terms) from None
    key = LAYOUT.entry_key(list_name, clean_text(entry))
    with redis_store(request, caller, terms) as client:
        fields = _hash(client, key)
        ttl = int(client.ttl(key))  # type: ignore[arg-type]
    caller.log(terms=terms, returned_ids=[key] if fields else [])
    if not fields:
        raise ApiError(404, "not_found", f"no entry {key}")
    return EntryOut(key=key, fields=fields, expires_in_s=None if ttl < 0 else ttl)


@router.post("/hotlists/{list_name}/entries", name="hotlist.add", status_code=201)
def add_hotlist_entry(caller: Operator, request: Request, list_name: ListName, body: NewEntry) -> EntryOut:
    """Add or replace one entry, recorded as added by the logged-in user."""
    fields = {
        "reason": body.reason,
        "case": body.case,
        "priority": str(body.priority) if body.priority else "",
        "ref": body.ref,
        "source": body.source,
        "state": body.state.upper(),
        "vehicle": body.vehicle,
        "added_by": caller.user.username,
        "added_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    expires_at = body.expires_at.timestamp() if body.expires_at else None
    terms: dict[str, Any] = {
        "list": list_name,
        "entry": clean(body.plate, 64),
        **{k: clean(v) for k, v in fields.items() if v and k not in {"added_by", "added_at"}},
        "expires_at": body.expires_at.isoformat() if body.expires_at else None,
    }
    with redis_store(request, caller, terms) as client:
        try:
            key = add_entry(client, LAYOUT, list_name, body.plate, fields, expires_at)
        except AdminError as exc:
            raise _refuse(caller, exc, terms) from None
        stored = _hash(client, key)
        ttl = int(client.ttl(key))  # type: ignore[arg-type]
    caller.log(terms=terms, returned_ids=[key])
    return EntryOut(key=key, fields=stored, expires_in_s=None if ttl < 0 else ttl)


@router.delete("/hotlists/{list_name}/entries/{entry}", name="hotlist.remove")
def remove_hotlist_entry(
    caller: Operator, request: Request, list_name: ListName, entry: EntryText
) -> dict[str, str]:
    """Remove one entry (404 when there is none)."""
    terms = {"list": list_name, "entry": clean(entry, 64)}
    with redis_store(request, caller, terms) as client:
        try:
            removed = remove_entry(client, LAYOUT, list_name, entry)
        except AdminError as exc:
            raise _refuse(caller, exc, terms) from None
    key = LAYOUT.entry_key(list_name, clean_text(entry))
    caller.log(terms=terms, returned_ids=[key] if removed else [])
    if not removed:
        raise ApiError(404, "not_found", f"no entry {key}")
    return {"removed": key}


def _too_large(caller: Caller, terms: dict[str, Any]) -> ApiError:
    limit_mb = MAX_FEED_BYTES // (1024 * 1024)
    caller.log(outcome="refused", reason=f"feed file larger than {limit_mb} MiB", terms=terms)
    return ApiError(
        413,
        "feed_too_large",
        f"the feed file is larger than the {limit_mb} MiB an import takes; split it and import the parts "
        "(without --replace after the first)",
    )


def _run_import(
    caller: Caller,
    request: Request,
    spool: IO[bytes],
    list_name: str,
    fmt: str,
    terms: dict[str, Any],
    *,
    table: str | None,
    source: str,
    filename: str | None,
    expire_days: float | None,
    replace: bool,
) -> ImportOut:
    try:
        check_list_name(list_name)
        importer = create_importer(
            fmt,
            _feed_name(filename),
            table=table,
            source=source,
            added_by=caller.user.username,
            added_at=dt.date.today().isoformat(),
        )
    except ValueError as exc:  # AdminError is one
        raise _refuse(caller, exc, terms) from None
    spool.seek(0)
    text = io.TextIOWrapper(spool, encoding="utf-8", errors="replace", newline="")
    with redis_store(request, caller, terms) as client:
        try:
            report = import_entries(
                client,
                LAYOUT,
                list_name,
                importer.parse(text),
                expire_s=expire_days * 86400 if expire_days else None,
                replace=replace,
            )
        except AdminError as exc:
            raise _refuse(caller, exc, terms) from None
        finally:
            text.detach()
    caller.log(
        terms={**terms, "skipped": len(report.problems), "removed": report.removed},
        returned_count=report.written,
    )
    return ImportOut(
        name=list_name,
        written=report.written,
        skipped=len(report.problems),
        lapsed=report.lapsed,
        removed=report.removed,
        replace=replace,
        problems=[
            ProblemOut(line=p.line, message=p.message, text=p.text) for p in report.problems[:_PROBLEMS_SHOWN]
        ],
        notes=list(importer.notes),
    )


def _feed_name(filename: str | None) -> Path | None:
    """The feed's file name (CA DOJ names its table in it); only the name, never a directory."""
    return Path(PurePath(filename).name) if filename else None


@router.post(
    "/hotlists/{list_name}/import",
    name="hotlist.import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_feed(
    caller: Operator,
    request: Request,
    list_name: ListName,
    fmt: Annotated[str, Query(alias="format", max_length=32, description=f"One of {', '.join(FORMATS)}")],
    table: Annotated[str | None, Query(max_length=16, description="CA DOJ table svs|sfr|slr")] = None,
    source: Annotated[str, Query(max_length=200, description="Source recorded on each entry")] = "",
    filename: Annotated[
        str | None, Query(max_length=255, description="The feed's file name (CA DOJ: names its table)")
    ] = None,
    expire_days: Annotated[float | None, Query(gt=0, le=36500)] = None,
    replace: Annotated[bool, Query(description="Remove the list's entries not in this feed")] = False,
) -> ImportOut:
    """Import a feed file (the request body) into a hotlist; bad lines are listed and skipped."""
    terms: dict[str, Any] = {
        "list": list_name,
        "format": clean(fmt, 32),
        "table": clean(table, 16),
        "source": clean(source),
        "file": clean(filename, 255),
        "expire_days": expire_days,
        "replace": replace,
    }
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise await run_in_threadpool(_too_large, caller, terms)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                raise await run_in_threadpool(_too_large, caller, terms)
            spool.write(chunk)
        terms["bytes"] = size
        return await run_in_threadpool(
            _run_import,
            caller,
            request,
            spool,  # type: ignore[arg-type]
            list_name,
            fmt,
            terms,
            table=table,
            source=source,
            filename=filename,
            expire_days=expire_days,
            replace=replace,
        )
