"""The dispatcher's page in a real browser (Debian's chromium, driven by Playwright) against the real API.

Two dispatchers on 1366x768 consoles. Alerts are stored the way the worker's dispatch agent stores
them (`records.store_alerts` on the API's database), so what is under test is the API's feed and
the page: an alert appears live with UNVERIFIED on it and the priority-1 sound fires; a possible
match shows apart and silent; one dispatcher acknowledges and verifies by keyboard, and the other's
screen changes without a reload; the other's feed is cut while an alert comes in, and after the
reconnect the page replays what it missed. Screenshots go to $PLATEWATCH_TEST_ARTEFACTS (default: the
test's tmp_path); PLATEWATCH_UPDATE_DOCS_IMG=1 also copies one to docs/img/dispatch.png.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import psycopg
import pyotp
import pytest
from api_server import api_settings, enrol_totp, serve_api
from pages import VIEWPORT, console_errors, keep_for_docs, log_in_through, needs_chromium
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocketRoute,
    expect,
)
from policy_people import PASSWORD, cheap_hashes, found_department

from platewatch.codecs import Alert, Read
from platewatch.engine.alerts import records
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

pytestmark = needs_chromium
CAMERAS = {"cam-main": "Main St northbound", "cam-bridge": "Bridge Rd eastbound"}
FEED = re.compile(r"/api/v1/alerts/ws")


@dataclass
class Site:
    api: str
    database_url: str
    dana: pyotp.TOTP  # two trained dispatchers' authenticators
    eve: pyotp.TOTP


@dataclass
class Cut:
    """Sits between one browser context and the alert feed: it can drop the connection and refuse new ones."""

    refusing: bool = False
    opened: int = 0
    live: list[WebSocketRoute] = field(default_factory=list)

    def route(self, ws: WebSocketRoute) -> None:
        if self.refusing:
            ws.close(code=1012, reason="test: the server is restarting")
            return
        ws.connect_to_server()
        self.opened += 1
        self.live.append(ws)

    def drop(self) -> None:
        self.refusing = True
        for ws in self.live:
            ws.close(code=1012, reason="test: the server is restarting")
        self.live.clear()


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("dana", Role.DISPATCHER)
        dept.add("eve", Role.DISPATCHER)
        enrolled = datetime.now(UTC) - timedelta(minutes=5)  # so the current code is a fresh one
        dana, _ = enrol_totp(dept, "dana", enrolled)
        eve, _ = enrol_totp(dept, "eve", enrolled)
    settings = api_settings(tmp_path / "data", database_url, redis_url, alerts={"ws_heartbeat_s": 2})
    with serve_api(settings) as url:
        yield Site(url, database_url, dana, eve)


def crop_jpeg(plate: str) -> bytes:
    """A small plate-like picture: dark text on a light plate, as a real crop would be."""
    image = np.full((60, 200, 3), 40, np.uint8)
    cv2.rectangle(image, (6, 6), (194, 54), (235, 235, 235), -1)
    cv2.putText(image, plate, (14, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (30, 30, 120), 3, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


def store(
    site: Site,
    plate: str,
    *,
    entry: str | None = None,
    camera: str = "cam-main",
    priority: int = 1,
    tier: str = "alert",
    reason: str = "stolen vehicle",
    hotlist: str = "stolen",
    differs: tuple[int, ...] = (),
    list_age_s: float = 3600.0,
) -> str:
    """Store one alert as the worker's dispatch agent does; the API's feed picks it up from there."""
    now = time.time()
    read = Read(
        read_id=str(uuid.uuid4()),
        camera_id=camera,
        time=now - 0.5,
        plate=plate,
        confidence=0.91,
        pass_id=str(uuid.uuid4()),
        crop_jpeg=crop_jpeg(plate),
    )
    alert = Alert(
        alert_id=str(uuid.uuid4()),
        read=read,
        hotlist=hotlist,
        entry=entry or plate,
        match_kind="fuzzy" if differs else "exact",
        score=0.8 if differs else 1.0,
        priority=priority,
        reason=reason,
        case_number="24-01873" if priority == 1 else "",
        time=now,
        extra={
            "entry_key": f"{hotlist}:{entry or plate}",
            "candidate": entry or plate,
            "list_imported_at": str(now - list_age_s),
        },
        tier=tier,
        evidence=0.62 if differs else 0.97,
        differs=differs,
    )
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        stored = records.store_alerts(
            conn, [alert], camera_sites={c: {"camera_name": n} for c, n in CAMERAS.items()}
        )
    assert [s.alert_id for s in stored] == [alert.alert_id]
    return alert.alert_id


def open_desk(browser: Browser, site: Site, username: str, totp: pyotp.TOTP, cut: Cut | None = None) -> Page:
    """A dispatcher's console: /dispatch sends them to log in (password, then the code) and back."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    if cut is not None:
        context.route_web_socket(FEED, cut.route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in_through(page, site.api, "/dispatch", username, totp)
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(page.locator("#conn-text")).to_have_text("Connected")
    return page


def row(page: Page, alert_id: str) -> object:
    return page.locator(f"#alert-{alert_id}")


def sounds(page: Page) -> int:
    return int(page.evaluate("window.platewatchSounds"))


def fits(page: Page) -> None:
    """Readable at 1366x768: no sideways scrolling, the actions and the key help on the first screen."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    for selector in ("#detail-actions", ".keys", "#conn"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)


def test_two_dispatchers_see_alerts_live_verify_and_replay_after_a_cut(
    browser: Browser, site: Site, artefacts: Path
) -> None:
    requested: list[str] = []
    a = open_desk(browser, site, "dana", site.dana)
    a.on("request", lambda request: requested.append(request.url))
    errors = console_errors(a)  # script errors, CSP refusals and failed loads show up here
    a.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    expect(a.locator("#who")).to_contain_text("Dana")
    expect(a.locator("#alerts-empty")).to_be_visible()
    assert sounds(a) == 0

    # a priority-1 alert comes in: it appears live, UNVERIFIED, with its crop, and the sound fires
    stolen = store(site, "7ABC123")
    line = a.locator(f"#alert-{stolen}")
    expect(line).to_be_visible()
    expect(line.locator(".badge")).to_have_text("UNVERIFIED")
    expect(line.locator(".prio")).to_have_text("P1")
    expect(line).to_contain_text("Main St northbound")
    expect(line).to_contain_text("stolen: stolen vehicle")
    a.wait_for_function("window.platewatchSounds === 1")
    expect(a.locator("#d-plate")).to_have_text("7ABC123")  # the new alert is selected
    expect(a.locator("#d-verification")).to_have_text("UNVERIFIED")
    crop = a.locator("#d-crop")
    expect(crop).to_be_visible()
    a.wait_for_function("document.getElementById('d-crop').naturalWidth === 200")  # the JPEG, via the cookie
    a.screenshot(path=artefacts / "dispatch-live.png")

    # a possible match on a stale list: shown apart, quieter, the differing character marked, no sound
    possible = store(
        site, "8XY2999", entry="8XYZ999", priority=2, tier="possible", differs=(3,),
        reason="felony warrant", hotlist="wanted", camera="cam-bridge", list_age_s=3 * 86400,
    )  # fmt: skip
    maybe = a.locator(f"#possible #alert-{possible}")
    expect(maybe).to_be_visible()
    expect(maybe.locator("mark.diff")).to_have_text("2")
    expect(maybe).to_contain_text("list 3 days old")
    expect(a.locator(f"#alerts #alert-{possible}")).to_have_count(0)
    a.wait_for_timeout(500)
    assert sounds(a) == 1

    # a second dispatcher, whose feed the test can cut, loads what is open
    cut = Cut()
    b = open_desk(browser, site, "eve", site.eve, cut)
    expect(b.locator(f"#alert-{stolen} .badge")).to_have_text("UNVERIFIED")
    expect(b.locator(f"#possible #alert-{possible}")).to_be_visible()
    assert b.evaluate("window.platewatchLink.recovered") is False  # a fresh page starts from the list
    assert sounds(b) == 0  # alerts from the list are not news

    # dana, by keyboard: move down to the possible match (its details show), back up, acknowledge, verify
    a.locator("#alerts").focus()
    a.keyboard.press("j")
    expect(a.locator(f"#alert-{possible}")).to_have_attribute("aria-selected", "true")
    expect(a.locator("#d-entry mark.diff")).to_have_text("Z")
    expect(a.locator("#d-stale")).to_contain_text("last imported 3 days ago")
    expect(a.locator("#d-match")).to_contain_text("differs at character 4")
    a.keyboard.press("k")
    expect(line).to_have_attribute("aria-selected", "true")
    a.keyboard.press("v")  # too early: someone must own it first
    expect(a.locator("#error")).to_contain_text("Acknowledge it first")
    a.keyboard.press("a")
    expect(line.locator(".state")).to_have_text("acknowledged")
    expect(b.locator(f"#alert-{stolen} .state")).to_have_text("acknowledged")
    a.keyboard.press("v")
    note = a.get_by_label("CLETS/NCIC response that confirms the vehicle (required)")
    expect(note).to_be_focused()
    note.type("NCIC: stolen 2024-03-02, PAPD case 24-01873")
    note.press("Enter")
    expect(line.locator(".badge")).to_have_text("VERIFIED")
    expect(a.locator("#dispo")).to_be_focused()  # the disposition comes next
    # ... and eve's screen shows it without a reload
    b_line = b.locator(f"#alert-{stolen}")
    expect(b_line.locator(".badge")).to_have_text("VERIFIED")
    expect(b.locator("#d-plate")).to_have_text("7ABC123")
    expect(b.locator("#d-note")).to_have_text("NCIC: stolen 2024-03-02, PAPD case 24-01873")
    expect(b.locator("#d-status")).to_contain_text("verified by dana")
    expect(b.locator("#d-history")).to_contain_text("verified by dana")
    b.screenshot(path=artefacts / "dispatch-second-desk.png")

    a.locator("#dispo").select_option("vehicle_recovered")
    a.get_by_role("button", name="Record").click()
    expect(line.locator(".state")).to_have_text("verified: vehicle recovered")
    expect(b_line.locator(".state")).to_have_text("verified: vehicle recovered")
    a.screenshot(path=artefacts / "dispatch-verified.png")

    # eve's feed is cut (and refused for a while); an alert comes in meanwhile; she gets it on reconnect
    assert b.evaluate("window.platewatchLink.connects") == 1
    cut.drop()
    expect(b.locator("#conn")).not_to_have_attribute("data-state", "connected")
    expect(b.locator("#conn-text")).to_contain_text("Reconnecting")
    b.screenshot(path=artefacts / "dispatch-reconnecting.png")
    amber = store(
        site, "5KLM432", entry="5KIM432", differs=(2,), reason="AMBER alert: suspect vehicle",
        hotlist="amber", camera="cam-bridge",
    )  # fmt: skip
    expect(a.locator(f"#alert-{amber}")).to_be_visible()
    a.wait_for_function("window.platewatchSounds === 2")
    expect(b.locator(f"#alert-{amber}")).to_have_count(0)
    b.wait_for_timeout(1500)  # at least one refused retry
    expect(b.locator(f"#alert-{amber}")).to_have_count(0)
    cut.refusing = False
    expect(b.locator(f"#alert-{amber} .badge")).to_have_text("UNVERIFIED", timeout=20_000)
    expect(b.locator("#conn-text")).to_have_text("Connected")
    assert b.evaluate("window.platewatchLink.recovered") is True  # replayed from its offset, not reloaded
    assert b.evaluate("window.platewatchLink.connects") == 2
    assert sounds(b) == 1  # a fresh priority-1 alert, replayed within the minute, still sounds

    # the docs' picture: dana's console, the new alert selected with its differing character marked
    expect(a.locator("#d-plate")).to_have_text("5KLM432")
    expect(a.locator("#d-plate mark.diff")).to_have_text("L")
    a.locator("#alerts").focus()
    a.keyboard.press("Escape")  # clears the last step's message
    expect(a.locator("#message")).to_be_hidden()
    fits(a)
    a.screenshot(path=artefacts / "dispatch.png")
    keep_for_docs(artefacts / "dispatch.png", "dispatch.png")

    # muting is remembered; a muted desk makes no sound
    a.keyboard.press("m")
    expect(a.get_by_role("button", name="Sound muted")).to_have_attribute("aria-pressed", "true")
    a.reload()
    expect(a.locator("#conn-text")).to_have_text("Connected")
    expect(a.get_by_role("button", name="Sound muted")).to_be_visible()
    expect(a.locator(f"#alert-{amber}")).to_be_visible()  # a reload keeps the session and the list
    quiet = store(site, "6QRS777")
    expect(a.locator(f"#alert-{quiet}")).to_be_visible()
    assert sounds(a) == 0

    outside = [url for url in requested if not url.startswith(site.api)]
    assert outside == [], f"the page fetched from outside: {outside}"
    assert errors == []
    a.context.close()
    b.context.close()


def test_the_page_shell_is_public_but_its_data_is_not(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    shell = page.request.get(site.api + "/dispatch")
    assert shell.ok and shell.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in shell.headers["content-security-policy"]
    assert shell.headers["x-frame-options"] == "DENY"
    assert page.request.get(site.api + "/api/v1/alerts?state=open").status == 401
    # a login page link that points elsewhere is not followed after the login
    page.goto(site.api + "/login?next=//example.org/x")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_label("Code from your authenticator app").fill(site.dana.now())
    page.keyboard.press("Enter")
    expect(page.locator("#who-name")).to_have_text("Dana")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    context.close()
