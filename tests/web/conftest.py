"""Browser tests: Debian's Chromium, driven by Playwright, against a real `openitsm serve`.

The server is started once per test run on a free loopback port, with demo data in a
throw-away data directory on SQLite (the default database). Browser tests do not take the
`database_url` fixture, so they run once rather than once per database: what they check is
the pages, which do not depend on the database.

Every test using the `browser` fixture (directly or through `page`) is marked `browser`
(`-m "not browser"` leaves them out). Without `/usr/bin/chromium` (or the `playwright`
package) they are dropped with one line in the summary, except under CI (CI=true), where that
is a failure. `scripts/setup` installs Chromium and the CJK fonts with apt where it can.

The helpers are fixtures (tests cannot import from a conftest): `path_of(page)`,
`submit_login_form(page, login, password)`, `sign_in(page, login)`, `sign_out(page)` and
`screenshot(page, name, language)`. The last writes `docs/screenshots/<name>.<language>.png`
only when OPENITSM_SCREENSHOTS=1, so ordinary runs leave the committed images alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Page,
        Playwright,
        Request,
        Response,
        ViewportSize,
    )

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEMO_PASSWORD = "demo-browser-pw"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# The interface language a test asks for, and the browser locale that makes the pages pick it
# (they follow Accept-Language).
BROWSER_LOCALES = {"zh-CN": "zh-CN", "en": "en-US"}
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _openitsm() -> str:
    """The `openitsm` command of the environment running the tests."""
    beside = Path(sys.executable).with_name("openitsm")
    return str(beside) if beside.exists() else (shutil.which("openitsm") or "openitsm")


def _server_env(data_dir: Path) -> dict[str, str]:
    """This machine's environment without its OpenITSM settings, so the server uses SQLite here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENITSM_")}
    env["OPENITSM_DATA_DIR"] = str(data_dir)
    return env


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"openitsm serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"openitsm serve did not answer on {url} within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`openitsm demo` then `openitsm serve` on 127.0.0.1, as a person running it would."""
    data_dir = tmp_path_factory.mktemp("live-server")
    env = _server_env(data_dir)
    demo = subprocess.run(
        [_openitsm(), "demo", "--password", DEMO_PASSWORD],
        cwd=data_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if demo.returncode != 0:
        pytest.fail(f"openitsm demo failed:\n{demo.stdout}{demo.stderr}")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [_openitsm(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=data_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(url, process, log)
        yield LiveServer(url=url, data_dir=data_dir, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chromium_problem() -> str | None:
    """None when a browser can be driven here, else why not."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is missing ({exc})"
    return None


def _uses_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test driving the browser `browser`; drop them with one line if it is missing."""
    browser_tests = [item for item in items if _uses_browser(item)]
    for item in browser_tests:
        item.add_marker(pytest.mark.browser)
    problem = chromium_problem() if browser_tests else None
    if problem is None or IN_CI:
        return  # under CI the `browser` fixture fails each of them instead
    items[:] = [item for item in items if not _uses_browser(item)]
    config.hook.pytest_deselected(items=browser_tests)
    config._openitsm_browser_dropped = (len(browser_tests), problem)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    dropped = getattr(config, "_openitsm_browser_dropped", None)
    if dropped:
        count, problem = dropped
        terminalreporter.write_line(f"SKIPPED {count} browser tests: {problem}", yellow=True)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    problem = chromium_problem()
    if problem:
        message = f"browser tests need Chromium: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium; root cannot use its sandbox, so it runs without it there."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


@pytest.fixture
def language() -> str:
    """The interface language of `page`; tests parametrize it with "zh-CN" or "en"."""
    return "en"


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, language: str) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), speaking `language`, on the live server.

    A test fails when the browser reported an error on the way: a server error, a script
    error, a style or script refused by the content security policy, an asset that did not load.
    """
    context = browser.new_context(
        base_url=live_server.url, locale=BROWSER_LOCALES[language], viewport=VIEWPORT
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    problems: list[str] = []

    def note_response(response: Response) -> None:
        # A page or a script's request answering 4xx (a refused sign-in, a diagram the server
        # refuses) is the test's business; a server error, or an asset that is not there,
        # never is.
        answer = response.request.resource_type in ("document", "fetch", "xhr")
        if response.status >= (500 if answer else 400):
            problems.append(f"{response.url} answered {response.status}")

    def note_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"{opened.url}: {message.text}")

    def note_failure(request: Request) -> None:
        # Leaving a page cancels what it was still loading: that is no fault of the page.
        if request.failure != "net::ERR_ABORTED":
            problems.append(f"{request.url} failed: {request.failure}")

    opened.on("pageerror", lambda error: problems.append(f"{opened.url}: {error}"))
    opened.on("console", note_console)
    opened.on("response", note_response)
    opened.on("requestfailed", note_failure)
    yield opened
    context.close()
    if problems:
        pytest.fail("the browser reported errors:\n" + "\n".join(problems))


def _path_of(page: Page) -> str:
    """The page's path and query, e.g. `/login?next=/`."""
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit_login_form(page: Page, login: str, password: str) -> None:
    """Type into the sign-in form and submit it, opening /login first unless already there."""
    if urlsplit(page.url).path != "/login":
        page.goto("/login")
    form = page.locator('form[action="/login"]')
    form.locator('input[name="login"]').fill(login)
    form.locator('input[name="password"]').fill(password)
    with page.expect_navigation():
        form.locator('[type="submit"]').click()


def _sign_in(page: Page, login: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in as a demo user through the real form, and fail unless that left the sign-in page."""
    _submit_login_form(page, login, password)
    if urlsplit(page.url).path == "/login":
        alert = page.locator('[role="alert"]')
        reason = alert.inner_text() if alert.count() else "no message"
        pytest.fail(f"signing in as {login} failed: {reason}")


def _sign_out(page: Page) -> bool:
    """Press the sign-out button (a form posting to /logout); False when the page has none.

    A button folded into a menu (`<details>`) is reached the way a person would: by opening
    the menu first.
    """
    buttons = page.locator('form[action="/logout"] [type="submit"], form[action="/logout"] button')
    for i in range(buttons.count()):
        button = buttons.nth(i)
        if not button.is_visible():
            menu = button.locator("xpath=ancestor::details[1]/summary")
            if menu.count() and menu.first.is_visible():
                menu.first.click()
        if button.is_visible():
            with page.expect_navigation():
                button.click()
            return True
    return False


def _screenshot(page: Page, name: str, language: str) -> Path | None:
    """Save `docs/screenshots/<name>.<language>.png` at 1280×800, when OPENITSM_SCREENSHOTS=1."""
    if os.environ.get("OPENITSM_SCREENSHOTS") != "1":
        return None
    page.set_viewport_size(VIEWPORT)
    page.evaluate("document.fonts.ready.then(() => true)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.{language}.png"
    page.screenshot(path=str(target), animations="disabled", caret="hide")
    return target


@pytest.fixture(scope="session")
def path_of() -> Callable[[Page], str]:
    return _path_of


@pytest.fixture(scope="session")
def submit_login_form() -> Callable[[Page, str, str], None]:
    return _submit_login_form


@pytest.fixture(scope="session")
def sign_in() -> Callable[..., None]:
    return _sign_in


@pytest.fixture(scope="session")
def sign_out() -> Callable[[Page], bool]:
    return _sign_out


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Page, str, str], Path | None]:
    return _screenshot
