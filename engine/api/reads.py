"""/api/v1/reads: history search, one read, its images (investigators and supervisors).

Every request states a purpose and a case number (`deps.Purpose`) and writes one access-log row
(policy 462.4(a), Civil Code § 1798.90.52) inside the transaction that reads the data, before the
answer leaves: the row names the query terms and the ids returned. If the row cannot be written the
transaction rolls back and the caller gets 503 and nothing else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from psycopg.rows import dict_row
from pydantic import BaseModel

from platewatch.engine.store.images import CROP, OVERVIEW, ImageStore, image_store_for
from platewatch.engine.store.search import (
    MAX_CAMERAS,
    MAX_INPUT,
    MAX_LIMIT,
    ReadRow,
    SearchError,
    SearchQuery,
    build_query,
    search_reads,
)

from .deps import Caller, Purpose, Reader, clean
from .errors import ApiError

router = APIRouter(prefix="/api/v1/reads", tags=["reads"])

_ONE_READ = (
    "SELECT read_id::text, time, camera_id, plate, plate_norm, confidence, region, box,"
    " track_length, provisional, pass_id, image_key FROM reads WHERE read_id = %s LIMIT 1"
)
ReadId = Annotated[uuid.UUID, Path(description="The read's id (a UUID)")]


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

    @classmethod
    def of(cls, row: ReadRow) -> ReadOut:
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
        )


class SearchResult(BaseModel):
    reads: list[ReadOut]
    next_cursor: str | None


def _terms(q: SearchQuery) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "plate": clean(q.plate),
        "pattern": clean(q.pattern),
        "fuzzy": q.fuzzy,
        "from": q.time_from,
        "to": q.time_to,
        "cameras": [clean(c, MAX_INPUT) for c in q.cameras],
        "limit": q.limit,
    }
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
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the page before")] = None,
) -> SearchResult:
    q = SearchQuery(
        plate=plate,
        pattern=pattern,
        fuzzy=fuzzy,
        time_from=time_from,
        time_to=time_to,
        cameras=tuple(camera or ()),
        limit=limit,
        cursor=cursor or None,
    )
    terms = _terms(q)
    try:
        build_query(q)
    except SearchError as exc:
        caller.log(outcome="refused", reason=str(exc), terms=terms, purpose=stated)
        raise ApiError(422, "invalid_search", str(exc)) from None
    with caller.conn.transaction():
        page = search_reads(caller.conn, q)
        caller.log(terms=terms, purpose=stated, returned_ids=[r.read_id for r in page.rows])
    return SearchResult(reads=[ReadOut.of(r) for r in page.rows], next_cursor=page.next_cursor)


def _find(caller: Caller, read_id: uuid.UUID) -> ReadRow | None:
    with caller.conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ONE_READ, (read_id,)).fetchone()
    return ReadRow(**{**row, "box": tuple(row["box"])}) if row else None


def _not_found(read_id: uuid.UUID) -> ApiError:
    return ApiError(404, "not_found", f"there is no read {read_id}")


@router.get("/{read_id}", name="reads.get")
def get_read(caller: Reader, stated: Purpose, read_id: ReadId) -> ReadOut:
    with caller.conn.transaction():
        row = _find(caller, read_id)
        caller.log(
            terms={"read_id": str(read_id)},
            purpose=stated,
            returned_ids=[row.read_id] if row else [],
        )
    if row is None:
        raise _not_found(read_id)
    return ReadOut.of(row)


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
    row = _find(caller, read_id)
    data = None
    if row is not None and row.image_key is not None:
        try:
            data = _images(request).get(row.image_key, CROP if kind == "crop" else OVERVIEW)
        except (OSError, ValueError):
            raise ApiError(503, "images_unavailable", "the image store cannot be read just now") from None
    caller.log(
        terms={"read_id": str(read_id), "image": kind},
        purpose=stated,
        returned_ids=[f"{read_id}/{kind}"] if data is not None else [],
    )
    if data is None:
        raise ApiError(404, "not_found", f"read {read_id} has no {kind} image")
    return Response(content=data, media_type="image/jpeg")
