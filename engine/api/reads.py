"""/api/v1/reads: history search, one read, its images, corrections (investigators and supervisors).

Every request states a purpose and a case number (`deps.Purpose`) and is in the access log (policy
462.4(a), Civil Code § 1798.90.52) before the answer leaves. A search, a read and an image each
read their data while their access row (who, why, what was asked) commits beside them
(`Caller.alongside`, policy/log_alongside.py), and write the result row naming the ids returned:
a search and a read in the query's own statement (`access_log.ResultRow`, no round trip after the
data), an image after the file is read (its id is the image actually returned). If either row
cannot be written the caller gets 503 and nothing else.

A correction (Civil Code 1798.90.51: correct data errors) adds a row to `read_corrections` and
leaves the read as the cameras produced it; the access-log row names the read, the plate given
and the note. The camera catalogue route gives the search page the cameras' positions (no read
data: it needs no purpose, but it is logged like every other route).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.camera_store import merge_cameras, stored_cameras
from platewatch.engine.store.images import CROP, OVERVIEW, ImageStore, image_store_for
from platewatch.engine.store.reads import normalise_plate
from platewatch.engine.store.search import (
    MAX_CAMERAS,
    MAX_INPUT,
    MAX_LIMIT,
    MAX_PLATE,
    MAX_RADIUS_M,
    Area,
    ReadRow,
    SearchError,
    SearchQuery,
    StatementLog,
    build_query,
    cameras_in_area,
    one_round_trip,
    search_reads,
)

from .deps import Caller, Purpose, Reader, clean
from .errors import ApiError

router = APIRouter(prefix="/api/v1/reads", tags=["reads"])

_ONE_READ = (
    "SELECT r.read_id::text AS read_id, r.time, r.camera_id, r.plate, r.plate_norm, r.confidence,"
    " r.region, r.box, r.track_length, r.provisional, r.pass_id, r.image_key,"
    " r.colour, r.colour_confidence, r.vehicle_type, r.direction, r.heading,"
    " coalesce(r.plateless, false) AS plateless,"
    " c.corrected_plate, c.note AS correction_note, c.corrected_by, c.corrected_at"
    " FROM reads r LEFT JOIN LATERAL (SELECT corrected_plate, note, corrected_by, corrected_at"
    " FROM read_corrections k WHERE k.read_id = r.read_id ORDER BY k.correction_id DESC LIMIT 1) c ON true"
    " WHERE r.read_id = %(read_id)s LIMIT 1"
)
_HISTORY = (
    "SELECT corrected_plate, original_plate, note, corrected_by, corrected_at, case_number"
    " FROM read_corrections WHERE read_id = %s ORDER BY correction_id"
)
_MAX_NOTE = 500
ReadId = Annotated[uuid.UUID, Path(description="The read's id (a UUID)")]


class CorrectionOut(BaseModel):
    plate: str
    note: str
    by: str
    at: datetime


class ReadOut(BaseModel):
    read_id: str
    time: datetime
    camera_id: str
    plate: str
    plate_norm: str
    confidence: float
    region: str
    box: list[int]
    track_length: int
    provisional: bool
    pass_id: str
    has_image: bool
    correction: CorrectionOut | None = Field(None, description="The read's current correction, if any")
    matched_correction: bool = Field(
        False, description="Found through its correction only, not the plate the camera read"
    )
    colour: str | None = Field(None, description="The vehicle's colour where sure enough to show")
    colour_confidence: float | None = None
    vehicle_type: str | None = Field(None, description="car, bus, truck or van where shown (withheld today)")
    direction: str | None = Field(None, description="approaching or receding, from the plate's growth")
    heading: float | None = Field(
        None, description="Direction of travel in the picture, degrees (0 right, 90 up)"
    )
    plateless: bool = Field(False, description="A pass whose plate could not be read (never matched)")

    @classmethod
    def of(cls, row: ReadRow) -> ReadOut:
        correction = None
        if row.corrected_plate is not None:
            assert row.corrected_at is not None
            correction = CorrectionOut(
                plate=row.corrected_plate,
                note=row.correction_note or "",
                by=row.corrected_by or "",
                at=row.corrected_at,
            )
        return cls(
            read_id=row.read_id,
            time=row.time,
            camera_id=row.camera_id,
            plate=row.plate,
            plate_norm=row.plate_norm,
            confidence=row.confidence,
            region=row.region,
            box=list(row.box),
            track_length=row.track_length,
            provisional=row.provisional,
            pass_id=row.pass_id,
            has_image=row.image_key is not None,
            correction=correction,
            matched_correction=row.via_correction,
            colour=row.colour,
            colour_confidence=row.colour_confidence,
            vehicle_type=row.vehicle_type,
            direction=row.direction,
            heading=row.heading,
            plateless=row.plateless,
        )


class CorrectionRecord(BaseModel):
    plate: str
    original_plate: str
    note: str
    by: str
    at: datetime
    case_number: str | None


class ReadDetail(ReadOut):
    corrections: list[CorrectionRecord] = Field(default_factory=list, description="Oldest first")


class SearchResult(BaseModel):
    reads: list[ReadOut]
    next_cursor: str | None
    cameras: list[str] | None = Field(None, description="With an area: the cameras standing in it")


class CameraOut(BaseModel):
    id: str
    name: str
    address: str
    latitude: float | None
    longitude: float | None
    heading: float | None
    enabled: bool


class CorrectionIn(BaseModel):
    plate: str = Field(max_length=MAX_INPUT, description="The plate as it really is")
    note: str = Field("", max_length=_MAX_NOTE, description="How you know (e.g. checked against the image)")


def _catalogue(caller: Caller) -> dict[str, CameraSpec]:
    """The cameras an area search picks from: the configuration's and the database's, as workers see them."""
    with caller.conn.transaction():
        return merge_cameras(caller.settings.cameras, *stored_cameras(caller.conn))


def _terms(q: SearchQuery) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "plate": clean(q.plate),
        "pattern": clean(q.pattern),
        "fuzzy": q.fuzzy,
        "from": q.time_from,
        "to": q.time_to,
        "cameras": [clean(c, MAX_INPUT) for c in q.cameras],
        "limit": q.limit,
        "colour": clean(q.colour),
        "vehicle_type": clean(q.vehicle_type),
    }
    if q.area is not None:
        terms["area"] = {"lat": q.area.latitude, "lon": q.area.longitude, "radius_m": q.area.radius_m}
    if q.provisional:
        terms["provisional"] = True
    if q.cursor:
        terms["cursor"] = clean(q.cursor)
    return {k: v for k, v in terms.items() if v is not None}


@router.get("", name="reads.search")
def search(
    caller: Reader,
    stated: Purpose,
    plate: Annotated[str | None, Query(max_length=MAX_INPUT, description="Exact plate")] = None,
    pattern: Annotated[
        str | None, Query(max_length=MAX_INPUT, description="Partial plate: ? one character, * any run")
    ] = None,
    fuzzy: Annotated[bool, Query(description="Treat OCR confusions (0/O, 1/I, 8/B…) as equal")] = False,
    time_from: Annotated[
        datetime | None, Query(alias="from", description="From (ISO 8601 with zone)")
    ] = None,
    time_to: Annotated[datetime | None, Query(alias="to", description="Until (ISO 8601 with zone)")] = None,
    camera: Annotated[list[str] | None, Query(max_length=MAX_CAMERAS, description="Camera ids")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="Area centre: latitude")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="Area centre: longitude")] = None,
    radius_m: Annotated[
        float | None, Query(gt=0, le=MAX_RADIUS_M, description="Area radius in metres")
    ] = None,
    provisional: Annotated[
        bool, Query(description="Also the provisional reads of passes whose final read matches")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the page before")] = None,
    colour: Annotated[
        str | None,
        Query(
            max_length=MAX_INPUT, description="Vehicle colour: white, gray, yellow, red, green, blue, black"
        ),
    ] = None,
    vehicle_type: Annotated[
        str | None, Query(max_length=MAX_INPUT, description="Vehicle type: car, bus, truck, van")
    ] = None,
) -> SearchResult:
    area_given = [v is not None for v in (lat, lon, radius_m)]
    area = Area(lat, lon, radius_m) if lat is not None and lon is not None and radius_m is not None else None
    q = SearchQuery(
        plate=plate,
        pattern=pattern,
        fuzzy=fuzzy,
        time_from=time_from,
        time_to=time_to,
        cameras=tuple(camera or ()),
        area=area,
        provisional=provisional,
        limit=limit,
        cursor=cursor or None,
        colour=colour or None,
        vehicle_type=vehicle_type or None,
    )
    terms = _terms(q)
    catalogue = _catalogue(caller) if area is not None else None
    try:
        if any(area_given) and not all(area_given):
            raise SearchError("an area is lat, lon and radius_m together")
        build_query(q, catalogue.values() if catalogue is not None else None)
    except SearchError as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms, purpose=stated)
        raise ApiError(422, "invalid_search", str(exc)) from None
    with caller.in_statement(terms=terms, purpose=stated) as returned:
        page = search_reads(
            caller.conn, q, catalogue.values() if catalogue is not None else None, log=returned.statement
        )
        returned.ids([r.read_id for r in page.rows])
    inside = None
    if area is not None and catalogue is not None:
        inside = list(cameras_in_area(catalogue.values(), area))
    return SearchResult(
        reads=[ReadOut.of(r) for r in page.rows], next_cursor=page.next_cursor, cameras=inside
    )


@router.get("/cameras", name="reads.cameras")
def cameras(caller: Reader) -> list[CameraOut]:
    """Every camera with its position, for choosing cameras or an area (no read data)."""
    specs = _catalogue(caller)
    rows = [
        CameraOut(
            id=s.id,
            name=s.name,
            address=s.address,
            latitude=s.latitude,
            longitude=s.longitude,
            heading=s.heading,
            enabled=s.enabled,
        )
        for _, s in sorted(specs.items())
    ]
    caller.log(returned_ids=[c.id for c in rows])
    return rows


def _find(caller: Caller, read_id: uuid.UUID) -> ReadRow | None:
    """The read, with its current correction."""
    with caller.conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_ONE_READ, {"read_id": read_id}).fetchall()
    return ReadRow.of(rows[0]) if rows else None


def _read_and_history(
    caller: Caller, read_id: uuid.UUID, log: StatementLog | None
) -> tuple[ReadRow | None, list[CorrectionRecord]]:
    """The read with its current correction, and its corrections, in one transaction and one round
    trip (`one_round_trip`); `log`: the access's row, written by the read's statement and committed
    durably with it before this returns."""
    params: dict[str, Any] = {"read_id": read_id}
    sql = _ONE_READ if log is None else log.statement(_ONE_READ, params, (), "read_id", "read_id", 1)
    with caller.conn.cursor(row_factory=dict_row) as found, caller.conn.cursor(row_factory=dict_row) as past:
        with one_round_trip(caller.conn):
            found.execute(sql.encode(), params)
            past.execute(_HISTORY, (read_id,))
        rows, history = found.fetchall(), past.fetchall()
    if log is not None:
        rows = log.rows(rows)
    return (ReadRow.of(rows[0]) if rows else None), (_corrections(history) if rows else [])


def _history(caller: Caller, read_id: uuid.UUID) -> list[CorrectionRecord]:
    with caller.conn.cursor(row_factory=dict_row) as cur:
        return _corrections(cur.execute(_HISTORY, (read_id,)).fetchall())


def _corrections(rows: list[dict[str, Any]]) -> list[CorrectionRecord]:
    return [
        CorrectionRecord(
            plate=r["corrected_plate"],
            original_plate=r["original_plate"],
            note=r["note"],
            by=r["corrected_by"],
            at=r["corrected_at"],
            case_number=r["case_number"],
        )
        for r in rows
    ]


def _not_found(read_id: uuid.UUID) -> ApiError:
    return ApiError(404, "not_found", f"there is no read {read_id}")


@router.get("/{read_id}", name="reads.get")
def get_read(caller: Reader, stated: Purpose, read_id: ReadId) -> ReadDetail:
    with caller.in_statement(terms={"read_id": str(read_id)}, purpose=stated) as returned:
        row, history = _read_and_history(caller, read_id, returned.statement)
        returned.ids([row.read_id] if row else [])
    if row is None:
        raise _not_found(read_id)
    return ReadDetail(**ReadOut.of(row).model_dump(), corrections=history)


@router.post("/{read_id}/correction", name="reads.correct", status_code=201)
def correct_read(
    caller: Reader,
    stated: Purpose,
    read_id: ReadId,
    body: Annotated[CorrectionIn, Body(description="The true plate and how you know")],
) -> ReadDetail:
    """Annotate a misread with the true plate; the read stays as it was, the correction is kept beside it."""
    plate = normalise_plate(body.plate)
    note = body.note.replace("\x00", "").strip()
    terms = {"read_id": str(read_id), "corrected_plate": clean(plate, MAX_INPUT), "note": clean(note)}
    if not plate or len(plate) > MAX_PLATE:
        message = f"a plate is 1 to {MAX_PLATE} letters and digits"
        caller.log(outcome="refused", reason=message, terms=terms, purpose=stated)
        raise ApiError(422, "invalid_correction", message, field="plate")
    with caller.conn.transaction():
        row = _find(caller, read_id)
        if row is not None:
            caller.conn.execute(
                "INSERT INTO read_corrections (read_id, read_time, original_plate, corrected_plate, note,"
                " corrected_by, case_number) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (read_id, row.time, row.plate_norm, plate, note, caller.user.username, stated.case_number),
            )
            row = _find(caller, read_id)
            history = _history(caller, read_id)
        caller.log(
            outcome="allowed" if row else "refused",
            reason=None if row else "no such read",
            terms=terms,
            purpose=stated,
            returned_ids=[str(read_id)] if row else [],
        )
    if row is None:
        raise _not_found(read_id)
    return ReadDetail(**ReadOut.of(row).model_dump(), corrections=history)


def _images(request: Request) -> ImageStore:
    store: ImageStore | None = request.app.state.images
    if store is None:
        store = request.app.state.images = image_store_for(request.app.state.settings)
    return store


@router.get(
    "/{read_id}/image",
    name="reads.image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The JPEG"}},
)
def get_image(
    caller: Reader,
    stated: Purpose,
    read_id: ReadId,
    request: Request,
    kind: Annotated[
        Literal["crop", "overview"], Query(description="The plate crop or the whole frame")
    ] = "crop",
) -> Response:
    data = None
    with caller.alongside(terms={"read_id": str(read_id), "image": kind}, purpose=stated) as returned:
        row = _find(caller, read_id)
        if row is not None and row.image_key is not None:
            try:
                data = _images(request).get(row.image_key, CROP if kind == "crop" else OVERVIEW)
            except (OSError, ValueError):
                raise ApiError(503, "images_unavailable", "the image store cannot be read just now") from None
        returned.ids([f"{read_id}/{kind}"] if data is not None else [])
    if data is None:
        raise ApiError(404, "not_found", f"read {read_id} has no {kind} image")
    return Response(content=data, media_type="image/jpeg")
