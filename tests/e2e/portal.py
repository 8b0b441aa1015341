"""What the portal's browser tests share: the local stack, Debian's Chromium driven by Playwright,
signing in as a demo account, screenshots, and the accessibility check (axe-core).

A test module uses it with

    from tests.e2e.portal import *  # noqa: F403  (fixtures: browser, demo, page_for)
    pytestmark = browser_marks("portal_<area>")

so each module gets its own stack (tests/e2e/conftest.py's module-scoped `stack`) and its own xdist
group (modules run on different workers).
"""
import json
import shutil
import time
from pathlib import Path

import pytest

from local.run import PROJECT_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by requirements-dev.txt")
SCREENSHOTS = Path(PROJECT_DIR) / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

__all__ = ["CHROMIUM", "DESKTOP", "PHONE", "SCREENSHOTS", "account", "accessible", "browser", "browser_marks",
           "demo", "login", "nav", "page_for", "playwright_api", "reload_until", "shot", "type_code"]


def browser_marks(group: str):
    return [pytest.mark.xdist_group(group),
            pytest.mark.skipif(CHROMIUM is None,
                               reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it")]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def demo(stack):
    return json.loads((stack[1] / "demo-accounts.json").read_text())


def account(demo, email_address):
    return next(a for a in demo["accounts"] if a["email"] == email_address)


@pytest.fixture
def page_for(browser, stack):
    """open_page(width=, height=, path="/") → a page of the portal in a fresh browser context; at the end
    of the test, no script error may have happened on it."""
    api = stack[0]
    pages = []

    def open_page(width=DESKTOP["width"], height=DESKTOP["height"], path="/"):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors
        page.goto(api + path)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        assert page.errors == [], page.errors  # no script error on any screen
        page.context.close()


def login(page, who):
    page.get_by_label("E-mail").fill(who["email"])
    page.get_by_label("Senha").fill(who["password"])
    page.get_by_role("button", name="Entrar").click()
    if who.get("mfa_secret"):  # Masters and operators: the code of their authenticator app
        type_code(page, who["mfa_secret"])


def type_code(page, secret):
    from tests.support import totp_code

    page.get_by_role("heading", name="Verificação em duas etapas").wait_for()
    page.get_by_label("Código de verificação").fill(totp_code(secret))
    page.get_by_role("button", name="Verificar").click()


def nav(page, name):
    return page.get_by_role("navigation", name="Menu principal").get_by_role("link", name=name, exact=True)


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def reload_until(page, condition, seconds=20):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "the condition never held"
        page.wait_for_timeout(500)
        page.reload()
        page.wait_for_load_state("networkidle")


def accessible(page, name):
    """The screen on `page` as it is now, at 1280 px and at 390 px: axe-core finds no violation at
    either width, and a screenshot of each lands in var/screenshots/<name>-desktop.png / -phone.png.
    The screen must have finished loading (no element with aria-busy="true")."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    original = page.viewport_size
    try:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")
            results = axe.run(page)
            assert results.violations_count == 0, f"{name} at {size['width']} px:\n{results.generate_report()}"
            shot(page, f"{name}-{label}")
    finally:
        page.set_viewport_size(original)
