"""A hotlisted plate in a camera stream appears live on a dispatcher's page, through the real path.

Nothing here stores an alert: a `platewatch worker` process plays a generated video (two cars, known
plates) as its camera, reads the plates, matches them against a hotlist in Redis (one of the two
plates listed), and its `dispatch` agent stores the alert; the API (in this process, on the test's
database) follows the alerts table and pushes it to the dispatcher's page in Debian's chromium,
logged in with password and second factor. The page is open and connected before the worker
starts, so the alert can only have come live over the websocket. Screenshot:
$PLATEWATCH_TEST_ARTEFACTS/camera-to-dispatcher.png (default: the test's tmp_path).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from api_server import api_settings, enrol_totp, serve_api
from playwright.sync_api import Browser, Page, expect, sync_playwright
from policy_people import PASSWORD, cheap_hashes, found_department

from platewatch.engine.bench.demo import generate
from platewatch.engine.bench.live_stack import Worker, hotlist_plates, worker_env
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.policy.roles import Role
from platewatch.engine.services import Embedded, start_embedded_redis
from platewatch.engine.store import migrate

CHROMIUM = Path(os.environ.get("PLATEWATCH_CHROMIUM", "/usr/bin/chromium"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no chromium at {CHROMIUM}: `apt-get install chromium`, or point PLATEWATCH_CHROMIUM at one",
    ),
]
VIEWPORT = {"width": 1366, "height": 768}
CAMERA = CameraSpec(id="cam-elm", name="Elm St eastbound", url="-", fps=10)
#: The worker starts, compiles the models, joins its group and reads the first car.
ALERT_TIMEOUT_MS = 100_000


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def hot_redis(tmp_path: Path) -> Iterator[Embedded]:
    """A Redis of the test's own: the worker reads the shipped `pw:hot` layout, which other tests'
    keys must not meet."""
    server = start_embedded_redis(tmp_path / "hot", "127.0.0.1", 0, 30.0)
    yield server
    server.stop()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PLATEWATCH_TEST_ARTEFACTS") or tmp_path / "artefacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def open_desk(browser: Browser, api: str, totp_code: str) -> Page:
    """Dana's console: /dispatch sends her to log in (password, then the code) and back."""
    page = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(15_000)
    page.goto(api + "/dispatch")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdispatch$"))
    page.wait_for_load_state("load")  # the login script is running: typing before it would be lost
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    code = page.get_by_label("Code from your authenticator app")
    expect(code).to_be_focused()
    code.fill(totp_code)
    code.press("Enter")
    expect(page).to_have_url(re.compile(r"/dispatch$"))
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    return page


def test_a_hotlisted_plate_in_a_camera_stream_appears_live_on_the_dispatch_page(
    browser: Browser,
    broker_url: str,
    database_url: str,
    hot_redis: Embedded,
    tmp_path: Path,
    artefacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    video = generate(tmp_path / "elm.mp4", width=640, height=360, fps=10, seconds=8.0)
    listed, unlisted = video.passes[0].plate, video.passes[1].plate
    hotlist_plates(hot_redis.url, [listed])
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("dana", Role.DISPATCHER)
        totp, _ = enrol_totp(dept, "dana", datetime.now(UTC) - timedelta(minutes=5))
    camera = CAMERA.model_copy(update={"url": str(video.path)})
    worker = Worker(
        worker_env(
            broker_url=broker_url,
            database_url=database_url,
            redis_url=hot_redis.url,
            data_dir=tmp_path / "worker",
            cameras=[camera],
        ),
        tmp_path / "worker.log",
    )
    settings = api_settings(tmp_path / "data", database_url, hot_redis.url)
    with serve_api(settings) as api:
        page = open_desk(browser, api, totp.now())
        expect(page.locator("#alerts-empty")).to_be_visible()  # nothing yet: what comes, comes live
        worker.start()
        try:
            line = page.locator("#alerts [id^='alert-']").filter(has_text=listed).first
            expect(line).to_be_visible(timeout=ALERT_TIMEOUT_MS)
            assert worker.alive(), worker.tail()
            expect(line.locator(".badge")).to_have_text("UNVERIFIED")
            expect(line).to_contain_text("Elm St eastbound")
            expect(line).to_contain_text("stolen vehicle")
            line.click()
            expect(page.locator("#d-plate")).to_have_text(listed)
            expect(page.locator("#d-verification")).to_have_text("UNVERIFIED")
            expect(page.locator("#d-crop")).to_be_visible()
            # the crop the worker cut from the frame, fetched with the session cookie, decoded
            page.wait_for_function("document.getElementById('d-crop').naturalWidth > 0")
            assert page.evaluate("window.platewatchLink.connects") == 1  # on the socket opened before
            page.screenshot(path=artefacts / "camera-to-dispatcher.png")
            # the video loops: the listed car's next pass is a vehicle of its own, a second alert;
            # by then the other car, whose plate is on no list, has passed too and raised nothing
            rows = page.locator("#alerts [id^='alert-']")
            expect(rows.filter(has_text=listed)).to_have_count(2, timeout=30_000)
            expect(page.locator("[id^='alert-']")).to_have_count(2)
            assert unlisted not in page.locator("#alerts").inner_text()
        finally:
            worker.stop()
            print(worker.tail())
        page.context.close()
