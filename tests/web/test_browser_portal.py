"""The self-service portal in a real browser, on a phone-sized screen: an end user lands on
it, reports an issue with a photo and finds it among their requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

PHONE = {"width": 390, "height": 844}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_an_end_user_reports_and_follows_an_issue_on_a_phone(
    page: Page,
    sign_in: Callable[..., None],
    path_of: Callable[[Page], str],
    screenshot: Callable[[Page, str, str], Path | None],
) -> None:
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    sign_in(page, "enduser")
    assert path_of(page) == "/portal"
    assert page.locator("#nav").count() == 0 and fits_the_screen(page)
    with page.expect_navigation():
        page.click('a.portal-card[href="/portal/incidents/new"]')
    page.fill('input[name="title"]', "Monitor stays black")
    page.set_input_files(
        'input[type="file"][name="files"]',
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": PNG}],
    )
    assert fits_the_screen(page)
    with page.expect_navigation():
        page.click('form.portal-form button[type="submit"]')
    assert path_of(page).startswith("/portal/incidents/") and path_of(page).endswith(
        "?done=created"
    )
    assert page.locator("h1").inner_text() == "Monitor stays black"
    assert page.locator('a:has-text("photo.png")').count() == 1
    assert fits_the_screen(page)
    screenshot(page, "portal-incident", "en")
    with page.expect_navigation():
        page.click('.breadcrumbs a[href="/portal"]')
    assert page.locator('.portal-request:has-text("Monitor stays black")').count() == 1
    screenshot(page, "portal-home", "en")
