"""The investigator's search page in a real browser (Debian's chromium, Playwright) against the real API.

A trained investigator logs in (password, then the TOTP code) and lands on /search: the page will
not search before a purpose and a case number are given; a partial plate finds one row per
vehicle pass (the provisional read of a pass whose final read matches is not shown); an area
drawn on the camera plot narrows it to the cameras inside; the read's detail shows its crop and
overview; the investigator corrects the misread, and the correction shows in the row and the
detail; two reads are selected and exported (the request carries the reads, case, booking number
and purpose; where the export route exists, the answer is shown, otherwise the refusal is). A
partial plate put on the hotlist from the page is hit by a camera's read (the matcher and the alert
store the worker uses), and the hit shows in the investigator's hits panel until marked seen.
Screenshots go to $PLATEWATCH_TEST_ARTEFACTS (default: the test's tmp_path);
PLATEWATCH_UPDATE_DOCS_IMG=1 also copies one to docs/img/search.png.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import psycopg
import pyotp
import pytest
import redis
from api_server import api_settings, enrol_totp, serve_api
from pages import console_errors, keep_for_docs, log_in_through, needs_chromium
from playwright.sync_api import Page, expect
from policy_people import cheap_hashes, found_department

from platewatch.codecs import Read
from platewatch.engine.alerts import records
from platewatch.engine.alerts.build import build_alert
from platewatch.engine.alerts.matching import list_defaults, match_read
from platewatch.engine.config import load_settings
from platewatch.engine.hotlist.case_entries import SOURCE, add_case_entry
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.hotlist.sync import load_index
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import DirectoryImageStore, store_read_images

pytestmark = needs_chromium
CASE, PURPOSE = "24-001873", "criminal investigation"
CENTRE = (37.7793, -122.4193)
CAMERAS = {  # id -> (name, metres north, metres east of CENTRE)
    "cam-main": ("Main St northbound", 0, 0),
    "cam-bridge": ("Bridge Rd eastbound", 350, 420),
    "cam-mill": ("Mill Ln", -600, -250),
    "cam-port": ("Port Ave", 2600, -1900),
}


def _position(north: float, east: float) -> tuple[float, float]:
    return CENTRE[0] + north / 111_195.0, CENTRE[1] + east / (111_195.0 * math.cos(math.radians(CENTRE[0])))


def picture(text: str, size: tuple[int, int]) -> bytes:
    w, h = size
    image = np.full((h, w, 3), 40, np.uint8)
    cv2.rectangle(image, (6, 6), (w - 6, h - 6), (235, 235, 235), -1)
    cv2.putText(image, text, (14, h // 2 + 14), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (30, 30, 120), 3, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


@dataclass
class Site:
    api: str
    conn: psycopg.Connection
    ivy: pyotp.TOTP
    reads: dict[str, Read]  # by a name the test uses


def _reads() -> dict[str, Read]:
    now = time.time() - 3600
    out: dict[str, Read] = {}

    def add(
        name: str, camera: str, t: float, plate: str, *, provisional: bool = False, pass_id: str = ""
    ) -> None:
        out[name] = Read(
            read_id=str(uuid.uuid4()),
            camera_id=camera,
            time=t,
            plate=plate,
            confidence=0.62 if provisional else 0.91,
            provisional=provisional,
            pass_id=pass_id,
            crop_jpeg=picture(plate, (200, 60)),
            overview_jpeg=picture(f"{camera} {plate}", (480, 270)),
        )

    p1, p2 = str(uuid.uuid4()), str(uuid.uuid4())
    add("main-provisional", "cam-main", now, "7ABC128", provisional=True, pass_id=p1)
    add("main-final", "cam-main", now + 4, "7ABC123", pass_id=p1)
    add("bridge", "cam-bridge", now - 900, "7ABC123", pass_id=p2)
    add("mill", "cam-mill", now - 4000, "7ABD123")
    add("port", "cam-port", now - 8000, "7ABC123")
    add("other", "cam-main", now - 100, "4XYZ555")
    return out


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    reads = _reads()
    data_dir = tmp_path / "data"
    store_read_images(DirectoryImageStore(data_dir / "images"), list(reads.values()))
    writer = ReadWriter(database_url)
    try:
        writer.write(list(reads.values()))
    finally:
        writer.close()
    cameras = []
    for cid, (name, north, east) in CAMERAS.items():
        lat, lon = _position(north, east)
        cameras.append(
            {"id": cid, "url": "file:///dev/null", "name": name, "latitude": lat, "longitude": lon}
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("ivy", Role.INVESTIGATOR)
        ivy, _ = enrol_totp(dept, "ivy", datetime.now(UTC) - timedelta(minutes=5))
        with serve_api(api_settings(data_dir, database_url, redis_url, cameras=cameras)) as url:
            yield Site(url, conn, ivy, reads)


def loaded_width(page: Page, image_id: str, timeout_s: float = 10.0) -> int:
    """The image's natural width once it has loaded (0: not yet); polled from here, as the page's
    CSP forbids the eval that wait_for_function's string predicates use."""
    deadline = time.monotonic() + timeout_s
    while True:
        width = int(page.evaluate(f"() => document.getElementById('{image_id}').naturalWidth"))
        if width or time.monotonic() > deadline:
            return width
        time.sleep(0.1)


def row_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.readId)")


def test_search_read_detail_correct_and_export(page: Page, site: Site, artefacts: Path) -> None:
    # (the login page's own 401s before the login are not this page's errors)
    log_in_through(page, site.api, "/search", "ivy", site.ivy)
    expect(page.locator("#who")).to_contain_text("Ivy")
    errors = console_errors(page)  # script errors, CSP refusals and failed loads on the search page
    expect(page.locator("#plot circle.cam")).to_have_count(len(CAMERAS))  # the plot shows where cameras stand
    expect(page.locator("#cameras option")).to_have_count(len(CAMERAS))

    # no search without a purpose and a case number
    page.get_by_label("Plate or pattern").fill("7AB?12*")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#error")).to_contain_text("purpose and the case number")
    assert not [r for r in access_log.query(site.conn, username="ivy") if r.action == "reads.search"]

    page.get_by_label("Purpose").fill(PURPOSE)
    page.get_by_label("Case number").fill(CASE)
    page.get_by_role("button", name="Search").click()
    r = site.reads
    want = [r["main-final"], r["bridge"], r["mill"], r["port"]]  # newest first, one row per pass
    expect(page.locator("#rows tr")).to_have_count(len(want))
    assert row_ids(page) == [x.read_id for x in want]
    expect(page.locator("#error")).to_be_hidden()

    # the provisional read of the first pass is there on request
    page.get_by_label("Also provisional reads of each pass").check()
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#rows tr")).to_have_count(len(want) + 1)
    page.get_by_label("Also provisional reads of each pass").uncheck()

    # 600 m around Main St: Main St and Bridge Rd (550 m) stand in it, Mill Ln (650 m) and Port Ave do not
    page.get_by_label("Latitude").fill(f"{CENTRE[0]:.5f}")
    page.get_by_label("Longitude").fill(f"{CENTRE[1]:.5f}")
    page.get_by_label("Radius (m)").fill("600")
    expect(page.locator("#plot circle.area")).to_have_count(1)
    expect(page.locator("#plot circle.cam.inside")).to_have_count(2)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#rows tr")).to_have_count(2)
    assert row_ids(page) == [r["main-final"].read_id, r["bridge"].read_id]
    expect(page.locator("#message")).to_contain_text("cam-bridge, cam-main")

    # the read's detail, with its crop and overview through the guarded image route
    page.locator("#rows tr").first.click()
    expect(page.locator("#d-plate")).to_have_text("7ABC123")
    assert loaded_width(page, "d-crop") == 200 and loaded_width(page, "d-overview") == 480

    # it was a misread: correct it; the original stays, the correction shows and is logged
    page.get_by_label("The true plate").fill("7ABC128")
    page.get_by_label("How you know").fill("the crop shows an 8")
    page.get_by_role("button", name="Correct the read").click()
    expect(page.locator("#d-correction")).to_contain_text("7ABC128 by ivy")
    expect(page.locator("#d-plate")).to_have_text("7ABC123")
    expect(page.locator("#rows tr").first.locator(".fix")).to_have_text("corrected → 7ABC128")
    logged = access_log.query(site.conn, username="ivy", action="reads.correct")
    assert [(x.case_number, x.terms["corrected_plate"]) for x in logged] == [(CASE, "7ABC128")]
    page.evaluate("() => { document.querySelector('.query').scrollTop = 0; }")
    page.screenshot(path=artefacts / "search.png")
    keep_for_docs(artefacts / "search.png", "search.png")

    # select both rows and export them as evidence
    for box in page.locator("#rows tr input[type=checkbox]").all():
        box.check()
    expect(page.locator("#selected-count")).to_have_text("2")
    page.get_by_label("Evidence booking no.").fill("EB-2026-0042")
    with page.expect_response(lambda resp: resp.url.endswith("/api/v1/evidence/exports")) as answer:
        page.get_by_role("button", name=re.compile(r"Export selected")).click()
    request = answer.value.request
    assert request.method == "POST"
    sent = json.loads(request.post_data or "{}")
    assert sorted(sent["read_ids"]) == sorted([r["main-final"].read_id, r["bridge"].read_id])
    assert (sent["case"], sent["booking"], sent["purpose"]) == (CASE, "EB-2026-0042", PURPOSE)
    result = page.locator("#export-result")
    if answer.value.status == 404:  # the evidence export is not part of this server
        expect(result).to_contain_text("Export refused")
    else:
        assert answer.value.ok, answer.value.text()
        expect(result).to_contain_text("Export ")
        expect(result).not_to_contain_text("refused")
    page.screenshot(path=artefacts / "search-export.png")
    # the page fits the console: nothing sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not [e for e in errors if "404" not in e], errors


def test_an_investigator_puts_a_partial_plate_on_the_hotlist_and_removes_it(
    page: Page, site: Site, redis_url: str, artefacts: Path
) -> None:
    """Policy 462.2(c): from the page, for the stated case, owned by the investigator."""
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    key = "pw:hot:major-crime:7AB?1*"
    store.delete(key)
    try:
        log_in_through(page, site.api, "/search", "ivy", site.ivy)
        expect(page.locator("#who")).to_contain_text("Ivy")
        errors = console_errors(page)
        expect(page.locator("#hits-title")).to_be_visible()
        page.get_by_label("Purpose").fill(PURPOSE)
        page.get_by_label("Case number").fill(CASE)
        page.get_by_label("New entry: plate").fill("7ab?1*")
        page.get_by_label("New entry: why listed").fill("robbery suspect vehicle")
        page.get_by_role("button", name="Add to hotlist").click()
        expect(page.locator("#error")).to_contain_text("expiry")  # required
        assert not store.exists(key)
        expires = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
        page.get_by_label("New entry: lapses on").fill(expires)
        page.get_by_role("button", name="Add to hotlist").click()
        expect(page.locator("#hot-entries li")).to_have_count(1)
        expect(page.locator("#hot-entries li")).to_contain_text("7AB?1*")
        expect(page.locator("#hot-entries li")).to_contain_text(CASE)
        fields = store.hgetall(key)
        assert (fields["owner"], fields["case"], fields["source"]) == ("ivy", CASE, "investigator")
        assert 12 * 86400 < store.ttl(key) <= 15 * 86400
        page.screenshot(path=artefacts / "search-hotlist.png")
        page.locator("#hot-entries li button").click()
        expect(page.locator("#hot-entries li")).to_have_count(0)
        assert not store.exists(key)
        actions = [
            r.action for r in access_log.query(site.conn, username="ivy") if r.action.startswith("case_entry")
        ]
        assert sorted(actions) == [
            "case_entry.add",
            "case_entry.list",
            "case_entry.list",
            "case_entry.remove",
        ]
        assert not [e for e in errors if "404" not in e], errors
    finally:
        store.delete(key)
        store.close()


def _hit(redis_url: str, conn: psycopg.Connection, plate: str, camera: str) -> str:
    """A camera reads `plate`: matched against the hotlists in Redis and stored as the alert agent
    does (the entry's owner is notified in the same transaction); returns the alert id."""
    read = Read(
        read_id=str(uuid.uuid4()),
        camera_id=camera,
        time=time.time() - 30,
        plate=plate,
        confidence=0.93,
        pass_id=str(uuid.uuid4()),
    )
    settings = load_settings()
    index = load_index(redis_url, Layout(), list_defaults(settings.hotlists)).index
    (match,) = [m for m in match_read(index, read) if m.tier]
    sites = {cid: {"camera_name": name} for cid, (name, _, _) in CAMERAS.items()}
    (stored,) = records.store_alerts(conn, [build_alert(read, match, time.time())], camera_sites=sites)
    return stored.alert_id


def test_a_hit_on_the_investigators_entry_shows_in_their_hits_panel(
    page: Page, site: Site, redis_url: str, artefacts: Path
) -> None:
    """Policy 462.2(c): the owner of an entry is told of each hit, and only the owner."""
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    mine, theirs = "pw:hot:major-crime:7AB?1*", "pw:hot:major-crime:4XY?5*"
    store.delete(mine, theirs)
    try:
        log_in_through(page, site.api, "/search", "ivy", site.ivy)
        errors = console_errors(page)
        expect(page.locator("#hits-title")).to_have_text(re.compile(r"^Your hotlist hits\s*$"))
        expect(page.locator("#hits li")).to_have_count(0)
        page.get_by_label("Purpose").fill(PURPOSE)
        page.get_by_label("Case number").fill(CASE)
        page.get_by_label("New entry: plate").fill("7ab?1*")
        page.get_by_label("New entry: why listed").fill("robbery suspect vehicle")
        page.get_by_label("New entry: lapses on").fill(
            (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
        )
        page.get_by_role("button", name="Add to hotlist").click()
        expect(page.locator("#hot-entries li")).to_have_count(1)
        # another investigator's entry, and its hit, which is not ivy's to see
        fields = {"reason": "hit and run", "case": "24-000999", "owner": "ian", "source": SOURCE}
        add_case_entry(
            store, Layout(), "major-crime", "4XY?5*", fields, time.time() + 86400, may_replace_others=False
        )

        _hit(redis_url, site.conn, "7ABX12", "cam-bridge")
        _hit(redis_url, site.conn, "4XYZ55", "cam-mill")
        page.reload()
        expect(page.locator("#hits li")).to_have_count(1)
        hit = page.locator("#hits li")
        expect(hit).to_have_class(re.compile(r"\bunread\b"))
        expect(hit).to_contain_text("7ABX12 seen at Bridge Rd eastbound")
        expect(hit).to_contain_text(f"case {CASE}")
        expect(page.locator("#hits-count")).to_have_text("(1 new)")
        assert "4XYZ55" not in (page.locator("#hits").text_content() or "")
        page.screenshot(path=artefacts / "search-hits.png")

        hit.get_by_role("button", name="Seen").click()
        expect(page.locator("#hits-count")).to_have_text("(0 new)")
        expect(page.locator("#hits li")).not_to_have_class(re.compile(r"\bunread\b"))
        expect(page.locator("#hits li button")).to_have_count(0)
        seen = site.conn.execute(
            "SELECT username, read_at IS NOT NULL FROM user_notifications ORDER BY notification_id"
        ).fetchall()
        assert seen == [("ivy", True), ("ian", False)]
        actions = [
            r.action for r in access_log.query(site.conn, username="ivy") if r.action.startswith("auth.notif")
        ]
        assert actions.count("auth.notification_read") == 1 and actions.count("auth.notifications") >= 3
        assert not [e for e in errors if "404" not in e], errors
    finally:
        store.delete(mine, theirs)
        store.close()
