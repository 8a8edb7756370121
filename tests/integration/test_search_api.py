"""Investigator search through the API, against a brute-force reference over generated reads.

The reads are vehicle passes as the tracker makes them (a provisional read and a final read of one
pass_id on one camera, a few seconds apart; sometimes the final reads another plate, sometimes
there is no final yet), plus reads without a pass. Some reads are corrected through the API, one of
them twice. Every query runs through GET /api/v1/reads page by page (keyset cursors), and the rows
must be exactly the reference's: exact, partial with leading and trailing wildcards, fuzzy, time
range, cameras, area (cameras from the configuration and from the database), corrections, and the
pass collapse with and without `provisional`.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from policy_people import KEY, PASSWORD, cheap_hashes, found_department
from typer.testing import CliRunner

from platewatch.codecs import Read
from platewatch.engine.api import create_api
from platewatch.engine.config import load_settings
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.camera_store import put_camera
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 6
ALPHABET = "ABDGIOSZ0125689"  # heavy on OCR confusions, so fuzzy matching has work to do
CASE = {"purpose": "criminal investigation", "case": "24-001234"}
CENTRE = (37.7793, -122.4193)
# camera -> (north, east) from CENTRE in metres; cam-db is defined in the database, cam-x has no position
PLACES = {
    "cam-0": (0, 0),
    "cam-1": (400, 300),
    "cam-2": (-900, 100),
    "cam-3": (2500, -1500),
    "cam-4": (-60, -80),
}
DB_PLACE = ("cam-db", (1200, 1200))


def _position(north: float, east: float) -> tuple[float, float]:
    lat = CENTRE[0] + north / 111_195.0
    return lat, CENTRE[1] + east / (111_195.0 * math.cos(math.radians(CENTRE[0])))


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The reference's own distance (not the code under test's)."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


POSITIONS = {cid: _position(*off) for cid, off in [*PLACES.items(), DB_PLACE]}
CAMERA_IDS = [*POSITIONS, "cam-x"]


def _plate(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.choice((5, 6, 7))))


def _mutate(rng: random.Random, plate: str) -> str:
    i = rng.randrange(len(plate))
    return plate[:i] + rng.choice([c for c in ALPHABET if c != plate[i]]) + plate[i + 1 :]


def _reads(rng: random.Random) -> list[Read]:
    pool = [_plate(rng) for _ in range(120)]
    out: list[Read] = []

    def read(camera: str, t: float, plate: str, *, provisional: bool = False, pass_id: str = "") -> None:
        out.append(
            Read(
                read_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                camera_id=camera,
                time=t,
                plate=plate,
                confidence=round(rng.uniform(0.5, 0.99), 3),
                provisional=provisional,
                pass_id=pass_id,
            )
        )

    for _ in range(900):
        camera = rng.choice(CAMERA_IDS)
        t = (T0 + timedelta(seconds=rng.uniform(0, DAYS * 86400))).timestamp()
        plate = rng.choice(pool)
        kind = rng.random()
        pass_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if kind < 0.35:  # provisional and final, same plate
            read(camera, t, plate, provisional=True, pass_id=pass_id)
            read(camera, t + rng.uniform(-3, 25), plate, pass_id=pass_id)
        elif kind < 0.45:  # the final vote read another plate
            read(camera, t, plate, provisional=True, pass_id=pass_id)
            read(camera, t + rng.uniform(-3, 25), _mutate(rng, plate), pass_id=pass_id)
        elif kind < 0.5:  # still in view: no final yet
            read(camera, t, plate, provisional=True, pass_id=pass_id)
        elif kind < 0.9:
            read(camera, t, plate, pass_id=pass_id)
        else:  # from before passes had ids: each its own pass
            read(camera, t, plate, provisional=rng.random() < 0.3)
    return out


@dataclass
class Site:
    client: TestClient
    headers: dict[str, str]
    conn: psycopg.Connection
    reads: list[Read]
    corrections: dict[str, str] = field(default_factory=dict)  # read_id -> current corrected plate
    database_url: str = ""

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(path, params={**CASE, **params}, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def module_db(shared_services: Any) -> Iterator[str]:
    admin = shared_services.database_owner_url
    name = f"pwt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def site(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with pytest.MonkeyPatch.context() as mp:
        cheap_hashes(mp)
        migrate(module_db)
        rng = random.Random(4622)
        reads = _reads(rng)
        writer = ReadWriter(module_db)
        try:
            writer.write(reads)
        finally:
            writer.close()
        configured = [
            {"id": cid, "url": "file:///dev/null", "latitude": lat, "longitude": lon, "address": f"{cid} St"}
            for cid, (lat, lon) in POSITIONS.items()
            if cid != DB_PLACE[0]
        ] + [{"id": "cam-x", "url": "file:///dev/null"}]
        settings = load_settings(
            data_dir=tmp_path_factory.mktemp("search-api"),
            access={"mfa_required": False, "totp_secret_key": KEY.decode()},
            cameras=configured,
        )
        with psycopg.connect(module_db, autocommit=True) as conn:
            lat, lon = POSITIONS[DB_PLACE[0]]
            put_camera(conn, CameraSpec(id=DB_PLACE[0], url="file:///dev/null", latitude=lat, longitude=lon))
            conn.execute("ANALYZE reads")
            dept = found_department(conn, settings.access)
            dept.add("ivy", Role.INVESTIGATOR)
            dept.add("dan", Role.DISPATCHER)
            with TestClient(create_api(settings, database_url=module_db)) as client:
                r = client.post(
                    "/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD, "client": "cli"}
                )
                assert r.status_code == 200, r.text
                site = Site(client, {"Authorization": f"Bearer {r.json()['token']}"}, conn, reads)
                site.database_url = module_db
                _correct_some(site, random.Random(99))
                yield site


def _correct_some(site: Site, rng: random.Random) -> None:
    pool = sorted({r.plate for r in site.reads})
    picked = rng.sample(site.reads, 40)
    for n, read in enumerate(picked):
        plates = [rng.choice(pool), _mutate(rng, read.plate)] if n < 3 else [rng.choice(pool)]
        for plate in plates:  # the first three are corrected twice: the newest counts
            r = site.client.post(
                f"/api/v1/reads/{read.read_id}/correction",
                params=CASE,
                json={"plate": plate.lower(), "note": "checked against the crop"},
                headers=site.headers,
            )
            assert r.status_code == 201, r.text
            site.corrections[read.read_id] = plate


# --- the reference ----------------------------------------------------------------------------------


def _key(plate: str) -> str:
    return plate.translate(str.maketrans("ODQILTZSGB", "0001112568"))


def _plate_ok(q: dict[str, Any], plate: str) -> bool:
    import re

    if "plate" in q:
        want = q["plate"].upper()
        return _key(plate) == _key(want) if q.get("fuzzy") else plate == want
    body = "".join("." if c == "?" else ".*" if c == "*" else c for c in q["pattern"])
    target, body = (_key(plate), _key(body)) if q.get("fuzzy") else (plate, body)
    return re.fullmatch(body, target) is not None


def _cameras(q: dict[str, Any]) -> set[str] | None:
    chosen = set(q["camera"]) if "camera" in q else None
    if "lat" in q:
        inside = {c for c, p in POSITIONS.items() if _haversine((q["lat"], q["lon"]), p) <= q["radius_m"]}
        chosen = inside if chosen is None else chosen & inside
    return chosen


def _reference(site: Site, q: dict[str, Any]) -> list[tuple[str, bool]]:
    """(read_id, found through the correction only) of every row the search must return, in order."""
    cams = _cameras(q)
    lo = datetime.fromisoformat(q["from"]) if "from" in q else None
    hi = datetime.fromisoformat(q["to"]) if "to" in q else None
    asked = "plate" in q or "pattern" in q

    def own(r: Read) -> bool:
        return not asked or _plate_ok(q, r.plate)

    def matches(r: Read) -> bool:
        when = datetime.fromtimestamp(r.time, UTC)
        if (lo and when < lo) or (hi and when >= hi) or (cams is not None and r.camera_id not in cams):
            return False
        corrected = site.corrections.get(r.read_id)
        return own(r) or (asked and corrected is not None and _plate_ok(q, corrected))

    finals: dict[str, list[Read]] = {}
    for r in site.reads:
        if r.pass_id and not r.provisional:
            finals.setdefault(r.pass_id, []).append(r)

    def hidden(r: Read) -> bool:
        return (
            not q.get("provisional")
            and r.provisional
            and bool(r.pass_id)
            and any(matches(f) for f in finals.get(r.pass_id, []))
        )

    rows = [r for r in site.reads if matches(r) and not hidden(r)]
    rows.sort(key=lambda r: (r.time, uuid.UUID(r.read_id).bytes), reverse=True)
    return [(r.read_id, not own(r)) for r in rows]


def _all_pages(site: Site, q: dict[str, Any]) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []
    cursor = None
    for _ in range(500):
        page = site.get("/api/v1/reads", **q, **({"cursor": cursor} if cursor else {}))
        seen += [(r["read_id"], r["matched_correction"]) for r in page["reads"]]
        for r in page["reads"]:
            want = site.corrections.get(r["read_id"])
            assert (r["correction"] or {}).get("plate") == want, r
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def _queries(site: Site, rng: random.Random) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    corrected = list(site.corrections.values())
    for n in range(70):
        source = rng.choice(corrected) if n % 5 == 0 else rng.choice(site.reads).plate
        q: dict[str, Any] = {"limit": rng.choice((3, 7, 50))}
        kind = n % 4
        if kind == 0:
            q["plate"] = source.lower()
        else:
            chars = list(source)
            chars[rng.randrange(len(chars))] = "?"
            pattern = "".join(chars)
            if kind == 2:
                pattern = pattern[: rng.randrange(3, len(pattern) + 1)] + "*"  # trailing wildcard
            elif kind == 3:
                pattern = "*" + pattern[rng.randrange(1, 3) :]  # leading wildcard
            if sum(c not in "?*" for c in pattern) < 2:
                continue
            q["pattern"] = pattern
        if rng.random() < 0.5:
            q["fuzzy"] = "true"
        if rng.random() < 0.35:
            start = T0 + timedelta(days=rng.uniform(0, DAYS - 1))
            q["from"] = start.isoformat()
            q["to"] = (start + timedelta(days=rng.uniform(0.3, 3))).isoformat()
        if rng.random() < 0.25:
            q["camera"] = rng.sample(CAMERA_IDS, 3)
        if rng.random() < 0.25:
            lat, lon = _position(rng.uniform(-1000, 1000), rng.uniform(-1000, 1000))
            q.update(lat=lat, lon=lon, radius_m=rng.choice((150, 700, 1500, 4000)))
        if rng.random() < 0.2:
            q["provisional"] = "true"
        queries.append(q)
    for _ in range(6):  # canvass: an area and a time range, no plate
        start = T0 + timedelta(days=rng.uniform(0, DAYS - 1))
        lat, lon = _position(rng.uniform(-500, 500), rng.uniform(-500, 500))
        queries.append(
            {
                "from": start.isoformat(),
                "to": (start + timedelta(hours=rng.uniform(2, 12))).isoformat(),
                "lat": lat,
                "lon": lon,
                "radius_m": rng.choice((300, 1000, 2000)),
                "limit": rng.choice((10, 50)),
                **({"provisional": "true"} if rng.random() < 0.3 else {}),
            }
        )
    return queries


def _normal(q: dict[str, Any]) -> dict[str, Any]:
    """The reference reads booleans as Python values."""
    return {
        **q,
        "fuzzy": q.get("fuzzy") == "true",
        "provisional": q.get("provisional") == "true",
        **({"plate": q["plate"]} if "plate" in q else {}),
    }


# --- the tests --------------------------------------------------------------------------------------


def test_search_through_the_api_matches_a_brute_force_reference(site: Site) -> None:
    queries = _queries(site, random.Random(7))
    nonempty = collapsed = via_correction = 0
    for q in queries:
        want = _reference(site, _normal(q))
        got = _all_pages(site, q)
        assert got == want, q
        assert len({rid for rid, _ in got}) == len(got)  # each row once across the pages
        nonempty += bool(want)
        via_correction += any(flag for _, flag in want)
        if not q.get("provisional"):
            collapsed += len(_reference(site, {**_normal(q), "provisional": True})) > len(want)
    # the queries exercised what they are meant to
    assert nonempty > len(queries) // 2
    assert collapsed >= 5 and via_correction >= 3, (collapsed, via_correction)


def test_one_row_per_pass_unless_provisional_is_asked(site: Site) -> None:
    finals = {r.pass_id: r for r in site.reads if r.pass_id and not r.provisional}
    pair = next(
        r
        for r in site.reads
        if r.provisional and r.pass_id in finals and finals[r.pass_id].plate == r.plate
        and r.read_id not in site.corrections and finals[r.pass_id].read_id not in site.corrections
    )  # fmt: skip
    final = finals[pair.pass_id]
    same = {"plate": pair.plate, "camera": [pair.camera_id], "limit": 1000}
    default = {r["read_id"] for r in site.get("/api/v1/reads", **same)["reads"]}
    asked = {r["read_id"] for r in site.get("/api/v1/reads", **same, provisional="true")["reads"]}
    assert final.read_id in default and pair.read_id not in default
    assert {final.read_id, pair.read_id} <= asked
    # a provisional read whose final vote read another plate is that pass's only hit: it stays
    other = next(
        r
        for r in site.reads
        if r.provisional and r.pass_id in finals and finals[r.pass_id].plate != r.plate
        and r.read_id not in site.corrections and finals[r.pass_id].read_id not in site.corrections
    )  # fmt: skip
    rows = site.get("/api/v1/reads", plate=other.plate, camera=[other.camera_id], limit=1000)["reads"]
    assert [r["provisional"] for r in rows if r["read_id"] == other.read_id] == [True]


def test_a_correction_keeps_the_read_is_searchable_and_logged(site: Site) -> None:
    read = next(r for r in site.reads if r.read_id not in site.corrections and not r.provisional)
    true_plate = "ZZ9" + read.plate[:3]
    before = access_log.head(site.conn)
    r = site.client.post(
        f"/api/v1/reads/{read.read_id}/correction",
        params=CASE,
        json={"plate": true_plate, "note": "the crop shows a 9"},
        headers=site.headers,
    )
    assert r.status_code == 201, r.text
    site.corrections[read.read_id] = true_plate
    body = r.json()
    assert body["plate"] == read.plate  # the original is kept
    assert body["correction"]["plate"] == true_plate and body["correction"]["by"] == "ivy"
    assert [c["plate"] for c in body["corrections"]] == [true_plate]
    assert body["corrections"][0]["original_plate"] == read.plate
    rows = access_log.query(site.conn, action="reads.correct", username="ivy", limit=1)
    assert before is not None and rows[0].seq > before.seq
    assert rows[0].terms["corrected_plate"] == true_plate and rows[0].case_number == CASE["case"]
    assert list(rows[0].returned_ids) == [read.read_id]
    found = site.get("/api/v1/reads", plate=true_plate)["reads"]
    assert [(f["read_id"], f["matched_correction"]) for f in found] == [(read.read_id, True)]
    by_own = site.get("/api/v1/reads", plate=read.plate, limit=1000)["reads"]
    assert any(f["read_id"] == read.read_id and not f["matched_correction"] for f in by_own)
    detail = site.get(f"/api/v1/reads/{read.read_id}")
    assert detail["plate"] == read.plate and detail["correction"]["plate"] == true_plate


def test_corrections_refused_without_purpose_for_a_bad_plate_or_a_dispatcher(site: Site) -> None:
    read = site.reads[0]
    url = f"/api/v1/reads/{read.read_id}/correction"
    r = site.client.post(url, json={"plate": "ABC123"}, headers=site.headers)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "purpose_required"
    r = site.client.post(url, params=CASE, json={"plate": "--"}, headers=site.headers)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "plate"
    r = site.client.post(
        f"/api/v1/reads/{uuid.uuid4()}/correction", params=CASE, json={"plate": "A1"}, headers=site.headers
    )
    assert r.status_code == 404
    login = site.client.post(
        "/api/v1/auth/login", json={"username": "dan", "password": PASSWORD, "client": "cli"}
    )
    dan = {"Authorization": f"Bearer {login.json()['token']}"}
    r = site.client.post(url, params=CASE, json={"plate": "ABC123"}, headers=dan)
    assert r.status_code == 403


def test_area_needs_all_three_and_the_camera_catalogue_shows_positions(site: Site) -> None:
    r = site.client.get("/api/v1/reads", params={**CASE, "plate": "ABC", "lat": 37.7}, headers=site.headers)
    assert r.status_code == 422 and "lat, lon and radius_m" in r.json()["detail"]["message"]
    lat, lon = CENTRE
    page = site.get("/api/v1/reads", plate="AB1", lat=lat, lon=lon, radius_m=600)
    assert page["cameras"] == ["cam-0", "cam-1", "cam-4"]
    cams = {c["id"]: c for c in site.get("/api/v1/reads/cameras")}
    assert set(cams) == set(CAMERA_IDS)
    assert cams["cam-db"]["latitude"] == pytest.approx(POSITIONS["cam-db"][0])
    assert cams["cam-x"]["latitude"] is None and cams["cam-1"]["address"] == "cam-1 St"


def test_platewatch_search_shows_the_correction(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api_server import serve_api

    from platewatch.engine.cli import app
    from platewatch.engine.commands.api_client import StoredLogin, save_login

    read_id, plate = next(iter(site.corrections.items()))
    read = next(r for r in site.reads if r.read_id == read_id)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = site.client.app.state.settings  # type: ignore[attr-defined]
    with serve_api(
        settings.model_copy(
            update={"services": settings.services.model_copy(update={"database_url": site.database_url})}
        )
    ) as url:
        token = site.headers["Authorization"].removeprefix("Bearer ")
        save_login(StoredLogin(api=url, token=token, expires_at="2999-01-01T00:00:00+00:00", username="ivy"))
        args = [
            "search",
            "--purpose",
            CASE["purpose"],
            "--case",
            CASE["case"],
            "--plate",
            plate,
            "--limit",
            "1000",
        ]
        done = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert done.exit_code == 0, done.output
    assert read.plate in done.output and f"* → {plate} by ivy" in done.output


def test_search_by_vehicle_colour_returns_the_vehicle(site: Site) -> None:
    """A witness's "a blue car, plate starts 7AB": colour with a partial plate, and the read shows
    its vehicle; a colour the network does not name is refused."""
    t = (T0 - timedelta(days=30)).timestamp()  # a day no other test reads
    base = {"camera_id": "cam-x", "confidence": 0.9, "direction": "approaching", "heading": 91.0}
    blue = Read(
        read_id=str(uuid.uuid4()), time=t, plate="7AB4321", colour="blue", colour_confidence=0.8, **base
    )
    other = [
        Read(
            read_id=str(uuid.uuid4()),
            time=t + 1,
            plate="7AB4322",
            colour="white",
            colour_confidence=0.9,
            **base,
        ),
        Read(
            read_id=str(uuid.uuid4()),
            time=t + 2,
            plate="8XY4321",
            colour="blue",
            colour_confidence=0.9,
            **base,
        ),
        Read(read_id=str(uuid.uuid4()), time=t + 3, plate="7AB9999", **base),  # colour not sure: none
    ]
    writer = ReadWriter(site.database_url)
    try:
        writer.write([blue, *other])
    finally:
        writer.close()
    window = {"from": (T0 - timedelta(days=31)).isoformat(), "to": (T0 - timedelta(days=29)).isoformat()}
    rows = site.get("/api/v1/reads", pattern="7AB*", colour="blue", **window)["reads"]
    assert [r["read_id"] for r in rows] == [blue.read_id]
    assert (rows[0]["colour"], rows[0]["direction"], rows[0]["heading"]) == ("blue", "approaching", 91.0)
    assert rows[0]["plateless"] is False and rows[0]["vehicle_type"] is None
    everything = site.get("/api/v1/reads", pattern="7AB*", **window)["reads"]
    assert len(everything) == 3 and {r["colour"] for r in everything} == {"blue", "white", None}
    refused = site.client.get(
        "/api/v1/reads", params={**CASE, "plate": "7AB4321", "colour": "purple"}, headers=site.headers
    )
    assert refused.status_code == 422 and "colour" in refused.text
