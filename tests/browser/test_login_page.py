"""The login page in a real browser (Debian's chromium, driven by Playwright) against the real API.

What a person does: type a username and password, then the code from their authenticator app (or
a recovery code), see who they are and whether their training lets them reach ALPR data (policy
462.2(d)), and log out; all by keyboard, on a 1366x768 screen. Screenshots go to
$PLATEWATCH_TEST_ARTEFACTS (default: the test's tmp_path); PLATEWATCH_UPDATE_DOCS_IMG=1 also copies
the logged-in view to docs/img/login.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyotp
import pytest
from api_server import api_settings, enrol_totp, serve_api
from pages import VIEWPORT, keep_for_docs, needs_chromium
from playwright.sync_api import Page, expect
from policy_people import PASSWORD, cheap_hashes, found_department

from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

pytestmark = needs_chromium


@dataclass
class Site:
    api: str
    ivy: pyotp.TOTP  # a trained investigator's authenticator
    una: pyotp.TOTP  # an untrained dispatcher's
    una_codes: tuple[str, ...]


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("una", Role.DISPATCHER, trained=False)
        enrolled = datetime.now(UTC) - timedelta(minutes=5)  # so the current code is a fresh one
        ivy, _ = enrol_totp(dept, "ivy", enrolled)
        una, una_codes = enrol_totp(dept, "una", enrolled)
        dept.add("nia", Role.INVESTIGATOR)  # trained, no second factor yet
        dept.add("pat", Role.INVESTIGATOR)  # an admin will have set pat's password
        conn.execute("UPDATE users SET must_change_password = true WHERE username = 'pat'")
        with serve_api(api_settings(tmp_path / "data", database_url, redis_url)) as url:
            yield Site(url, ivy, una, una_codes)


def _fits(page: Page, selector: str) -> None:
    """Readable at 1366x768: no sideways scrolling, and the card is whole on the first screen."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator(selector).bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], box


def test_login_with_totp_shows_who_and_training_then_logout(page: Page, site: Site, artefacts: Path) -> None:
    page.goto(site.api + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Username")).to_be_focused()
    page.screenshot(path=artefacts / "login-form.png")
    # keyboard only: type, Tab, type, Enter
    page.keyboard.type("ivy")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.locator("#code-step")).to_be_visible()
    expect(page.get_by_label("Code from your authenticator app")).to_be_focused()
    expect(page.locator("#message")).to_contain_text("code")
    page.screenshot(path=artefacts / "login-code.png")
    page.keyboard.type(site.ivy.now())
    page.keyboard.press("Enter")

    expect(page.locator("#who")).to_be_visible()
    expect(page.locator("#who-name")).to_have_text("Ivy")
    expect(page.locator("#who-username")).to_have_text("ivy")
    expect(page.locator("#who-organisation")).to_have_text("PAPD")
    expect(page.locator("#who-roles")).to_have_text("investigator")
    expect(page.locator("#who-training")).to_contain_text("current until")
    expect(page.locator("#training-refused")).to_be_hidden()
    expect(page.get_by_label("Password", exact=True)).to_be_hidden()
    _fits(page, "#who")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["pw_session"]["httpOnly"] and cookies["pw_session"]["sameSite"] == "Strict"
    page.screenshot(path=artefacts / "login-who.png")
    keep_for_docs(artefacts / "login-who.png", "login.png")

    assert page.request.get(site.api + "/api/v1/auth/me").ok
    expect(page.get_by_role("button", name="Log out")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#login-step")).to_be_visible()
    expect(page.locator("#message")).to_have_text("You are logged out.")
    assert page.request.get(site.api + "/api/v1/auth/me").status == 401
    page.reload()
    expect(page.locator("#login-step")).to_be_visible()


def test_a_wrong_password_shows_the_apis_message(page: Page, site: Site, artefacts: Path) -> None:
    page.goto(site.api + "/login")
    page.get_by_label("Username").fill("ivy")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("wrong password")
    expect(page.locator("#login-step")).to_be_visible()
    expect(page.locator("#code-step")).to_be_hidden()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    page.screenshot(path=artefacts / "login-refused.png")


def test_an_untrained_user_sees_why_data_is_refused(page: Page, site: Site, artefacts: Path) -> None:
    page.goto(site.api + "/login")
    page.get_by_label("Username").fill("una")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Use a recovery code instead").click()
    recovery = page.get_by_label("Recovery code")
    expect(recovery).to_be_focused()
    recovery.fill(site.una_codes[0])
    recovery.press("Enter")

    expect(page.locator("#who-name")).to_have_text("Una")
    expect(page.locator("#who-roles")).to_have_text("dispatcher")
    expect(page.locator("#who-training")).to_have_text("not current")
    refused = page.locator("#training-refused")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("462.2(d)")
    expect(refused).to_contain_text("no current ALPR training")
    _fits(page, "#who")
    page.screenshot(path=artefacts / "login-untrained.png")


def test_a_user_without_a_second_factor_enrols_one(page: Page, site: Site, artefacts: Path) -> None:
    page.goto(site.api + "/login")
    page.get_by_label("Username").fill("nia")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#who-name")).to_have_text("Nia")
    expect(page.locator("#enrol")).to_be_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator("#enrol-secret")
    expect(secret).not_to_be_empty()
    expect(page.locator("#enrol-uri")).to_contain_text("otpauth://totp/")
    code = page.get_by_label("Code the app now shows")
    expect(code).to_be_focused()
    code.fill(pyotp.TOTP(secret.inner_text()).now())
    code.press("Enter")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.locator("#message")).to_contain_text("log in again with a code")
    page.screenshot(path=artefacts / "login-enrolled.png")


def test_the_api_docs_page_needs_a_login_and_loads_nothing_from_outside(
    page: Page, site: Site, artefacts: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    assert page.goto(site.api + "/docs").status == 401  # type: ignore[union-attr]
    login = page.request.post(
        site.api + "/api/v1/auth/login",
        data={"username": "ivy", "password": PASSWORD, "totp": site.ivy.now(), "client": "browser"},
    )
    assert login.ok, login.text()
    page.goto(site.api + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("platewatch")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/reads").first).to_be_visible()
    page.screenshot(path=artefacts / "api-docs.png")
    outside = [url for url in requested if not url.startswith(site.api)]
    assert outside == [], f"the docs page fetched from outside: {outside}"


def test_a_password_an_admin_set_is_changed_on_the_page(page: Page, site: Site, artefacts: Path) -> None:
    page.goto(site.api + "/login")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#change-password")).to_be_visible()
    expect(page.get_by_label("Current password")).to_be_focused()
    page.screenshot(path=artefacts / "login-change-password.png")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#error")).to_contain_text("12")  # the policy's rule, in the API's words
    expect(page.locator("#change-password")).to_be_visible()

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("violet ferry at the north gate")
    page.get_by_label("New password again").fill("violet ferry at the north gate")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#message")).to_have_text("Password changed.")
    expect(page.locator("#change-password")).to_be_hidden()
    assert page.request.get(site.api + "/api/v1/auth/me").json()["must_change_password"] is False
